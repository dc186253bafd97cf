#include "fragment.hpp"

#include <cstring>

#include "bytes.hpp"
#include "checksum.hpp"
#include "packet_parser.hpp"

namespace anylb {

namespace {

// Fragment k's IPv4 header at `ip`: length, offset and MF, checksum.
void fragment_header(std::byte* ip, const Ipv4Fragments& plan, uint32_t k) {
  const bool last = k + 1 == plan.count;
  store_be16(ip + 2, static_cast<uint16_t>(plan.frame_len(k) - plan.l3_offset));
  store_be16(ip + 6, static_cast<uint16_t>((last ? 0 : 0x2000) | (k * plan.chunk / 8)));
  store_be16(ip + 10, 0);
  store_be16(ip + 10, internet_checksum({ip, 20}));
}

}  // namespace

Ipv4Fragments plan_ipv4_fragments(const std::byte* frame, uint32_t len, uint32_t mtu) {
  Ipv4Fragments plan;
  uint32_t l3 = kEthernetHeaderLen;
  if (len < l3) return plan;
  uint16_t type = load_be16(frame + 12);
  if (type == kEtherTypeVlan && len >= l3 + kVlanTagLen) {
    type = load_be16(frame + l3 + 2);
    l3 += kVlanTagLen;
  }
  if (type != kEtherTypeIpv4 || len < l3 + 20 || mtu < 28) return plan;
  const std::byte* ip = frame + l3;
  const uint32_t total = load_be16(ip + 2);
  if (load_u8(ip) != 0x45 || load_be16(ip + 6) != 0 || total <= mtu || l3 + total > len) return plan;
  plan.l3_offset = l3;
  plan.payload_len = total - 20;
  plan.chunk = (mtu - 20) / 8 * 8;
  plan.count = (plan.payload_len + plan.chunk - 1) / plan.chunk;
  return plan;
}

void write_ipv4_fragment(const std::byte* frame, const Ipv4Fragments& plan, uint32_t k, std::byte* out) {
  const uint32_t head = plan.l3_offset + 20;
  std::memcpy(out, frame, head);
  std::memcpy(out + head, frame + head + k * plan.chunk, plan.frame_len(k) - head);
  fragment_header(out + plan.l3_offset, plan, k);
}

void cut_first_ipv4_fragment(std::byte* frame, const Ipv4Fragments& plan) {
  fragment_header(frame + plan.l3_offset, plan, 0);
}

}  // namespace anylb
