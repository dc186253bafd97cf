#include "fragment.hpp"

#include <cstring>

#include "bytes.hpp"
#include "checksum.hpp"
#include "packet_parser.hpp"

namespace anylb {

namespace {

constexpr uint8_t kNextHeaderFragment = 44;
constexpr uint32_t kFragmentHeaderLen = 8;

bool is_v6(const OuterFragments& plan) { return plan.grows != 0; }

// Fragment k's headers at `ip`, its payload following them: IPv4 length,
// offset and MF, checksum; or IPv6 payload length, next header and the
// Fragment header (offset, M, identification) after the fixed header.
// `next`: the protocol the IPv6 header named before (IPv4: unused).
void fragment_headers(std::byte* ip, const OuterFragments& plan, uint32_t k, uint8_t next, uint32_t id) {
  const bool more = k + 1 < plan.count;
  const uint32_t offset_units = k * plan.chunk / 8;
  const uint32_t ip_len = plan.frame_len(k) - plan.l3_offset;
  if (!is_v6(plan)) {
    store_be16(ip + 2, static_cast<uint16_t>(ip_len));
    store_be16(ip + 6, static_cast<uint16_t>((more ? 0x2000 : 0) | offset_units));
    store_be16(ip + 10, 0);
    store_be16(ip + 10, internet_checksum({ip, 20}));
    return;
  }
  store_be16(ip + 4, static_cast<uint16_t>(ip_len - 40));
  ip[6] = static_cast<std::byte>(kNextHeaderFragment);
  std::byte* fh = ip + 40;
  fh[0] = static_cast<std::byte>(next);
  fh[1] = std::byte{0};
  store_be16(fh + 2, static_cast<uint16_t>((offset_units << 3) | (more ? 1u : 0u)));
  store_be32(fh + 4, id);
}

}  // namespace

OuterFragments plan_outer_fragments(const std::byte* frame, uint32_t len, uint32_t mtu) {
  OuterFragments plan;
  uint32_t l3 = kEthernetHeaderLen;
  if (len < l3) return plan;
  uint16_t type = load_be16(frame + 12);
  if (type == kEtherTypeVlan && len >= l3 + kVlanTagLen) {
    type = load_be16(frame + l3 + 2);
    l3 += kVlanTagLen;
  }
  const std::byte* ip = frame + l3;
  uint32_t total = 0, room = 0;
  if (type == kEtherTypeIpv4) {
    if (len < l3 + 20 || mtu < 28 || load_u8(ip) != 0x45 || load_be16(ip + 6) != 0) return plan;
    total = load_be16(ip + 2);
    plan.header_len = 20;
    room = mtu - 20;
  } else if (type == kEtherTypeIpv6) {
    // Our own outer header: IP-in-IP or GUE's UDP right after it.
    if (len < l3 + 40 || mtu < 1280 || (load_u8(ip) >> 4) != 6) return plan;
    const uint8_t next = load_u8(ip + 6);
    if (next != kProtoIpip && next != kProtoIpv6 && next != kProtoUdp) return plan;
    total = 40 + load_be16(ip + 4);
    plan.header_len = 40 + kFragmentHeaderLen;
    plan.grows = kFragmentHeaderLen;
    room = mtu - 40 - kFragmentHeaderLen;
  } else {
    return plan;
  }
  if (total <= mtu || l3 + total > len) return plan;
  plan.l3_offset = l3;
  plan.payload_len = total - (plan.header_len - plan.grows);
  plan.chunk = room / 8 * 8;
  plan.count = (plan.payload_len + plan.chunk - 1) / plan.chunk;
  return plan;
}

void write_fragment(const std::byte* frame, const OuterFragments& plan, uint32_t k, uint32_t id, std::byte* out) {
  const uint32_t head = plan.l3_offset + plan.header_len - plan.grows;  // as in the frame
  std::memcpy(out, frame, head);
  const uint32_t piece = plan.frame_len(k) - plan.l3_offset - plan.header_len;
  std::memcpy(out + plan.l3_offset + plan.header_len, frame + head + k * plan.chunk, piece);
  fragment_headers(out + plan.l3_offset, plan, k, is_v6(plan) ? load_u8(frame + plan.l3_offset + 6) : 0, id);
}

void cut_first_fragment(std::byte* start, const OuterFragments& plan, uint32_t id) {
  const uint32_t head = plan.l3_offset + plan.header_len - plan.grows;
  // IPv6: the headers move forward over the room made, leaving the
  // Fragment header's place between them and the payload, which stays.
  const uint8_t next = is_v6(plan) ? load_u8(start + plan.grows + plan.l3_offset + 6) : 0;
  if (plan.grows != 0) std::memmove(start, start + plan.grows, head);
  fragment_headers(start + plan.l3_offset, plan, 0, next, id);
}

}  // namespace anylb
