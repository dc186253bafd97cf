#include "too_big.hpp"

#include <algorithm>
#include <cstring>

#include "bytes.hpp"
#include "checksum.hpp"

namespace anylb {

namespace {

constexpr uint8_t kIcmpDestUnreachable = 3, kIcmpFragNeeded = 4;
constexpr uint8_t kIcmp6PacketTooBig = 2;
constexpr uint32_t kIpv4ErrorMax = 576, kIpv6ErrorMax = 1280;

RewriteResult fail() {
  RewriteResult r;
  r.drop = DropReason::encap_too_big;
  return r;
}

}  // namespace

RewriteResult make_too_big_reply(FrameBuffer f, const ParsedPacket& p, const MacAddress& port_mac, uint32_t mtu) {
  // Never an error about an error (RFC 1122 3.2.2, RFC 4443 2.4 (e)); and
  // p.key of one is the flow it quotes, so ours would go to that flow's
  // client, not to the router that sent it.
  if (p.kind == PacketKind::icmp_error) return fail();
  // Nor about an IPv4 fragment other than the first (RFC 1122 3.2.2).
  if (p.kind == PacketKind::fragment && p.family == IpFamily::v4 && p.later_fragment) return fail();
  const bool v4 = p.family == IpFamily::v4;
  if (v4 && !p.dont_fragment) return fail();  // the sender lets routers fragment: nothing to tell it
  const uint32_t extra = v4 ? 20 + 8 : 40 + 8;  // our IP header and the ICMP header
  if (extra > f.headroom) return fail();
  const uint32_t quote = std::min<uint32_t>(p.l3_length, (v4 ? kIpv4ErrorMax : kIpv6ErrorMax) - extra);

  // Ethernet (and VLAN tag) to the front, back to where the packet came from.
  std::byte* start = f.data - extra;
  std::memmove(start, f.data, p.l3_offset);
  std::memcpy(start, f.data + 6, 6);  // the sender's MAC becomes the destination
  std::memcpy(start + 6, port_mac.bytes.data(), 6);

  std::byte* ip = start + p.l3_offset;
  std::byte* icmp = ip + (v4 ? 20 : 40);
  if (v4) {
    const uint16_t next_hop_mtu = static_cast<uint16_t>(std::min<uint32_t>(mtu, 0xffff));
    std::memset(ip, 0, 28);
    ip[0] = std::byte{0x45};
    store_be16(ip + 2, static_cast<uint16_t>(extra + quote));
    ip[8] = static_cast<std::byte>(kOuterTtl);
    ip[9] = static_cast<std::byte>(kProtoIcmp);
    std::memcpy(ip + 12, p.key.dst.data(), 4);  // from the VIP
    std::memcpy(ip + 16, p.key.src.data(), 4);  // to the sender
    store_be16(ip + 10, internet_checksum({ip, 20}));
    icmp[0] = static_cast<std::byte>(kIcmpDestUnreachable);
    icmp[1] = static_cast<std::byte>(kIcmpFragNeeded);
    store_be16(icmp + 6, next_hop_mtu);
    store_be16(icmp + 2, internet_checksum({icmp, 8 + quote}));
  } else {
    const uint32_t payload = 8 + quote;
    std::memset(ip, 0, 48);
    store_be32(ip, 6u << 28);
    store_be16(ip + 4, static_cast<uint16_t>(payload));
    ip[6] = static_cast<std::byte>(kProtoIcmp6);
    ip[7] = static_cast<std::byte>(kOuterTtl);
    std::memcpy(ip + 8, p.key.dst.data(), 16);
    std::memcpy(ip + 24, p.key.src.data(), 16);
    icmp[0] = static_cast<std::byte>(kIcmp6PacketTooBig);
    store_be32(icmp + 4, std::max<uint32_t>(mtu, 1280));  // IPv6 links carry 1280 at least
    store_be16(icmp + 2, ipv6_upper_checksum(ip, icmp, payload, kProtoIcmp6));
  }
  return RewriteResult{extra, p.l3_offset + extra + quote, DropReason::none};
}

}  // namespace anylb
