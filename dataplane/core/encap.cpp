#include "encap.hpp"

#include <cstring>

#include "bytes.hpp"
#include "checksum.hpp"
#include "flow_key.hpp"

namespace anylb {

namespace {

RewriteResult fail(DropReason r) {
  RewriteResult res;
  res.drop = r;
  return res;
}

}  // namespace

RewriteResult encapsulate(FrameBuffer f, const ParsedPacket& p, const EncapParams& e) {
  const bool outer_v4 = e.backend->is_v4();
  const uint32_t ip_len = outer_v4 ? 20 : 40;
  const uint32_t extra = encap_overhead(outer_v4, e.gue_port != 0);
  if (extra > f.headroom) return fail(DropReason::encap_no_headroom);
  const uint32_t outer_total = extra + p.l3_length;
  const bool fragment = outer_total > e.mtu;
  if (fragment && !outer_may_fragment(p)) return fail(DropReason::encap_too_big);

  std::byte* start = f.data - extra;
  std::memmove(start, f.data, p.l3_offset);  // Ethernet header and VLAN tag
  write_macs(start, e.backend_mac, e.port_mac);
  store_be16(start + p.l3_offset - 2, outer_v4 ? 0x0800 : 0x86dd);

  std::byte* ip = start + p.l3_offset;
  const uint8_t inner_proto = p.family == IpFamily::v4 ? kProtoIpip : kProtoIpv6;
  const uint8_t outer_proto = e.gue_port != 0 ? kProtoUdp : inner_proto;
  if (outer_v4) {
    ip[0] = std::byte{0x45};
    ip[1] = static_cast<std::byte>(p.tos);
    store_be16(ip + 2, static_cast<uint16_t>(outer_total));
    const bool dont_fragment = p.dont_fragment && !fragment;
    store_be16(ip + 4, dont_fragment || e.ipv4_ids == nullptr ? 0 : static_cast<uint16_t>(e.ipv4_ids->next()));
    store_be16(ip + 6, dont_fragment ? 0x4000 : 0);
    ip[8] = static_cast<std::byte>(kOuterTtl);
    ip[9] = static_cast<std::byte>(outer_proto);
    store_be16(ip + 10, 0);
    std::memcpy(ip + 12, e.outer_source->bytes.data(), 4);
    std::memcpy(ip + 16, e.backend->bytes.data(), 4);
    store_be16(ip + 10, internet_checksum({ip, 20}));
  } else {
    // Flow label from the flow hash, so the path to the backend can spread flows.
    store_be32(ip, (6u << 28) | (static_cast<uint32_t>(p.tos) << 20) |
                       static_cast<uint32_t>(e.flow_hash & 0xfffff));
    store_be16(ip + 4, static_cast<uint16_t>(outer_total - 40));
    ip[6] = static_cast<std::byte>(outer_proto);
    ip[7] = static_cast<std::byte>(kOuterTtl);
    std::memcpy(ip + 8, e.outer_source->bytes.data(), 16);
    std::memcpy(ip + 24, e.backend->bytes.data(), 16);
  }

  if (e.gue_port != 0) {
    // GUE variant 1: the UDP payload is the bare inner IP packet. The source
    // port comes from the flow hash (ephemeral range) so backends can RSS.
    std::byte* udp = ip + ip_len;
    const uint16_t udp_len = static_cast<uint16_t>(8 + p.l3_length);
    store_be16(udp, static_cast<uint16_t>(0xc000 | ((e.flow_hash >> 20) & 0x3fff)));
    store_be16(udp + 2, e.gue_port);
    store_be16(udp + 4, udp_len);
    store_be16(udp + 6, 0);
    if (!outer_v4) {  // IPv6 requires a UDP checksum (RFC 8200 8.1)
      const uint16_t c = ipv6_upper_checksum(ip, udp, udp_len, kProtoUdp);
      store_be16(udp + 6, c == 0 ? 0xffff : c);
    }
  }
  return RewriteResult{extra, p.l3_offset + outer_total, DropReason::none, fragment};
}

}  // namespace anylb
