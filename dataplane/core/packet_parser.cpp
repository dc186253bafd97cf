#include "packet_parser.hpp"

#include <cstring>

#include "bytes.hpp"
#include "checksum.hpp"

namespace anylb {
namespace {

constexpr uint8_t kIpv6HopByHop = 0;
constexpr uint8_t kIpv6Routing = 43;
constexpr uint8_t kIpv6Fragment = 44;
constexpr uint8_t kIpv6Auth = 51;
constexpr uint8_t kIpv6DestOpts = 60;
constexpr uint8_t kIpv6Mobility = 135;

constexpr DropReason kOk = DropReason::none;

DropReason drop(DropReason r) { return r; }

// Where an IPv6 header chain ends: the upper-layer protocol and its offset.
struct Ipv6Chain {
  uint8_t proto = 0;
  std::size_t l4_offset = 0;  // relative to the IPv6 header
  bool fragment = false;      // a fragment header with offset != 0 or M set
  bool first_fragment = false;  // ... with offset 0: the transport header follows it
  uint8_t fragment_l4 = 0;    // a first fragment's protocol behind Destination Options
  DropReason drop = DropReason::none;
};

// Walks extension headers in [ip, ip + len), bounded in count.
Ipv6Chain walk_ipv6_chain(const std::byte* ip, std::size_t len, DropReason truncated) {
  Ipv6Chain c;
  uint8_t next = load_u8(ip + 6);
  std::size_t off = 40;
  for (int n = 0;; ++n) {
    if (next != kIpv6HopByHop && next != kIpv6Routing && next != kIpv6Fragment &&
        next != kIpv6Auth && next != kIpv6DestOpts && next != kIpv6Mobility) {
      c.proto = next;
      c.l4_offset = off;
      return c;
    }
    if (n == kMaxIpv6ExtensionHeaders) {
      c.drop = DropReason::ipv6_ext_chain_too_long;
      return c;
    }
    if (off + 8 > len) {
      c.drop = truncated;
      return c;
    }
    const std::byte* h = ip + off;
    std::size_t hlen;
    if (next == kIpv6Fragment) {
      hlen = 8;
      uint16_t offset_flags = load_be16(h + 2);
      if ((offset_flags & 0xfff9) != 0) {  // fragment offset or M flag
        c.fragment = true;
        c.first_fragment = (offset_flags & 0xfff8) == 0;
        c.proto = load_u8(h);
        c.l4_offset = off + 8;
        // The first fragment holds the whole header chain (RFC 7112): the
        // protocol the options name is there, and the datagram's service
        // must serve it.
        if ((offset_flags & 0xfff8) == 0 && c.proto == kIpv6DestOpts) {
          // The options whole, and the ports after them.
          const std::size_t opts = c.l4_offset + 8 > len ? 0 : (static_cast<std::size_t>(load_u8(ip + c.l4_offset + 1)) + 1) * 8;
          if (opts == 0 || c.l4_offset + opts + 8 > len) c.drop = truncated;
          else c.fragment_l4 = load_u8(ip + c.l4_offset);
        }
        return c;
      }
    } else if (next == kIpv6Auth) {
      hlen = (static_cast<std::size_t>(load_u8(h + 1)) + 2) * 4;
    } else {
      hlen = (static_cast<std::size_t>(load_u8(h + 1)) + 1) * 8;
    }
    if (off + hlen > len) {
      c.drop = truncated;
      return c;
    }
    next = load_u8(h);
    off += hlen;
  }
}

// A TCP or UDP packet (or fragment, or IPv6 fragment whose Destination
// Options hide which: it may go to a TCP or UDP service) from a martian
// source: dropped.
bool martian_flow(const ParsedPacket& p, uint8_t proto) {
  if (proto != kProtoTcp && proto != kProtoUdp && !(proto == kProtoIpv6DestOpts && p.family == IpFamily::v6))
    return false;  // ICMP passes: DAD sends from ::
  return p.family == IpFamily::v4 ? is_martian_ipv4_source(p.key.src.data()) : is_martian_ipv6_source(p.key.src.data());
}

bool is_icmp4_error(uint8_t type) { return type == 3 || type == 11 || type == 12; }
bool is_icmp6_error(uint8_t type) { return type >= 1 && type <= 4; }

// The flow an ICMP error is about. The quoted packet went from the VIP to the
// client, so its tuple is reversed to get the client's flow key.
DropReason parse_icmp_inner(const std::byte* inner, std::size_t len, IpFamily family,
                            FlowKey& key) {
  std::size_t l4;
  uint8_t proto;
  if (family == IpFamily::v4) {
    if (len < 20) return DropReason::icmp_inner_truncated;
    if ((load_u8(inner) >> 4) != 4) return DropReason::icmp_inner_unsupported;
    std::size_t ihl = static_cast<std::size_t>(load_u8(inner) & 0x0f) * 4;
    if (ihl < 20) return DropReason::icmp_inner_unsupported;
    if ((load_be16(inner + 6) & 0x1fff) != 0) return DropReason::icmp_inner_unsupported;
    l4 = ihl;
    proto = load_u8(inner + 9);
    std::memcpy(key.src.data(), inner + 16, 4);  // reversed: inner dst is the client
    std::memcpy(key.dst.data(), inner + 12, 4);
  } else {
    if (len < 40) return DropReason::icmp_inner_truncated;
    if ((load_u8(inner) >> 4) != 6) return DropReason::icmp_inner_unsupported;
    Ipv6Chain c = walk_ipv6_chain(inner, len, DropReason::icmp_inner_truncated);
    if (c.drop != DropReason::none) return c.drop;
    // A quoted first fragment has its ports (a large DNS answer's Packet Too
    // Big quotes one, RFC 8201): as the IPv4 branch, only later ones have none.
    if (c.fragment && !c.first_fragment) return DropReason::icmp_inner_unsupported;
    l4 = c.l4_offset;
    proto = c.proto;
    std::memcpy(key.src.data(), inner + 24, 16);
    std::memcpy(key.dst.data(), inner + 8, 16);
  }
  if (proto != kProtoTcp && proto != kProtoUdp) return DropReason::icmp_inner_unsupported;
  if (l4 + 8 > len) return DropReason::icmp_inner_truncated;  // RFC 792: 8 bytes quoted
  key.src_port = load_be16(inner + l4 + 2);
  key.dst_port = load_be16(inner + l4);
  if (key.src_port == 0 || key.dst_port == 0) return DropReason::l4_bad_port;  // no flow uses port 0
  key.proto = proto;
  key.family = family;
  return DropReason::none;
}

// TCP, UDP or ICMP at `l4` within an IP packet of `ip_len` bytes.
DropReason parse_l4(ParsedPacket& p, const std::byte* ip, std::size_t l4, std::size_t ip_len, uint8_t proto) {
  const std::byte* h = ip + l4;
  std::size_t avail = ip_len - l4;
  p.key.proto = proto;
  if (proto == kProtoTcp || proto == kProtoUdp) {
    if (avail < (proto == kProtoTcp ? 20u : 8u)) return drop(DropReason::l4_truncated);
    if (proto == kProtoTcp) {
      std::size_t doff = static_cast<std::size_t>(load_u8(h + 12) >> 4) * 4;
      if (doff < 20 || doff > avail) return drop(DropReason::tcp_bad_header);
      p.tcp_flags = load_u8(h + 13);
    } else {
      std::size_t ulen = load_be16(h + 4);
      if (ulen < 8 || ulen > avail) return drop(DropReason::udp_bad_length);
    }
    p.key.src_port = load_be16(h);
    p.key.dst_port = load_be16(h + 2);
    if (p.key.src_port == 0 || p.key.dst_port == 0) return drop(DropReason::l4_bad_port);
    if (martian_flow(p, proto)) return drop(DropReason::martian_source);
    p.kind = PacketKind::flow;
    return kOk;
  }
  const bool icmp4 = proto == kProtoIcmp && p.family == IpFamily::v4;
  const bool icmp6 = proto == kProtoIcmp6 && p.family == IpFamily::v6;
  if (icmp4 || icmp6) {
    if (avail < 8) return drop(DropReason::l4_truncated);
    p.icmp_type = load_u8(h);
    if (icmp4 ? !is_icmp4_error(p.icmp_type) : !is_icmp6_error(p.icmp_type)) {
      p.kind = PacketKind::icmp_other;
      // An echo's id (request or reply): the exception path knows the
      // health probes' replies by it.
      if (icmp4 ? p.icmp_type == 0 || p.icmp_type == 8 : p.icmp_type == 128 || p.icmp_type == 129)
        p.key.src_port = load_be16(h + 4);
      return kOk;
    }
    // On a quote we cannot use, the key stays the outer packet's: the error
    // may be the node's own (pipeline: node_icmp_error).
    const FlowKey outer = p.key;
    p.kind = PacketKind::icmp_error;  // also when the quote is refused: the pipeline may still pass it on
    DropReason r = parse_icmp_inner(h + 8, avail - 8, p.family, p.key);
    if (r != kOk) {
      p.key = outer;
      return r;
    }
    if (p.key.dst != outer.dst) {
      p.key = outer;
      return drop(DropReason::icmp_inner_mismatch);
    }
    return kOk;
  }
  p.kind = PacketKind::other_ip;
  return kOk;
}

DropReason parse_ipv4(ParsedPacket& p, const std::byte* ip, std::size_t avail) {
  if (avail < 20) return drop(DropReason::ipv4_truncated);
  uint8_t vihl = load_u8(ip);
  std::size_t ihl = static_cast<std::size_t>(vihl & 0x0f) * 4;
  if ((vihl >> 4) != 4 || ihl < 20) return drop(DropReason::ipv4_bad_header);
  if (ihl > avail) return drop(DropReason::ipv4_truncated);
  std::size_t total = load_be16(ip + 2);
  if (total < ihl || total > avail) return drop(DropReason::ipv4_bad_length);
  if (!ipv4_checksum_ok(ip, ihl)) return drop(DropReason::ipv4_bad_checksum);

  p.family = IpFamily::v4;
  p.l3_length = static_cast<uint16_t>(total);
  p.tos = load_u8(ip + 1);
  uint16_t frag = load_be16(ip + 6);
  p.dont_fragment = (frag & 0x4000) != 0;
  p.key.family = IpFamily::v4;
  std::memcpy(p.key.src.data(), ip + 12, 4);
  std::memcpy(p.key.dst.data(), ip + 16, 4);
  uint8_t proto = load_u8(ip + 9);
  if ((frag & 0x3fff) != 0) {  // MF set or offset non-zero
    if (martian_flow(p, proto)) return drop(DropReason::martian_source);
    p.key.proto = proto;
    p.later_fragment = (frag & 0x1fff) != 0;
    p.kind = PacketKind::fragment;
    return kOk;
  }
  return parse_l4(p, ip, ihl, total, proto);
}

DropReason parse_ipv6(ParsedPacket& p, const std::byte* ip, std::size_t avail) {
  if (avail < 40) return drop(DropReason::ipv6_truncated);
  uint32_t vtcfl = load_be32(ip);
  if ((vtcfl >> 28) != 6) return drop(DropReason::ipv6_bad_header);
  std::size_t payload = load_be16(ip + 4);
  if (payload == 0 || 40 + payload > avail) return drop(DropReason::ipv6_bad_length);
  std::size_t total = 40 + payload;

  p.family = IpFamily::v6;
  p.l3_length = static_cast<uint16_t>(total);
  p.tos = static_cast<uint8_t>((vtcfl >> 20) & 0xff);
  p.dont_fragment = true;  // IPv6 routers never fragment
  p.key.family = IpFamily::v6;
  std::memcpy(p.key.src.data(), ip + 8, 16);
  std::memcpy(p.key.dst.data(), ip + 24, 16);
  Ipv6Chain c = walk_ipv6_chain(ip, total, DropReason::ipv6_truncated);
  if (c.drop != DropReason::none) return drop(c.drop);
  if (c.fragment) {
    if (martian_flow(p, c.proto)) return drop(DropReason::martian_source);
    p.key.proto = c.proto;
    p.fragment_l4 = c.fragment_l4;
    p.kind = PacketKind::fragment;
    return kOk;
  }
  return parse_l4(p, ip, c.l4_offset, total, c.proto);
}

}  // namespace

bool is_martian_ipv6_source(const std::byte* a) {
  static constexpr std::byte kMapped[12] = {std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0},
                                            std::byte{0}, std::byte{0}, std::byte{0}, std::byte{0},
                                            std::byte{0}, std::byte{0}, std::byte{0xff}, std::byte{0xff}};
  if (load_u8(a) == 0xff) return true;                  // multicast
  if (std::memcmp(a, kMapped, 12) == 0) return true;    // ::ffff:a.b.c.d
  if (std::memcmp(a, kMapped, 10) != 0 || load_be16(a + 10) != 0 || load_be16(a + 12) != 0) return false;
  return load_be16(a + 14) <= 1;                         // :: or ::1
}

DropReason parse_packet_general(std::span<const std::byte> frame, ParsedPacket& p) {
  p.key = FlowKey{};
  p.tcp_flags = 0;  // and fragment_l4
  p.icmp_type = 0;
  const std::byte* d = frame.data();
  const std::size_t len = frame.size();
  if (len < kEthernetHeaderLen) return drop(DropReason::l2_truncated);
  std::size_t off = kEthernetHeaderLen;
  uint16_t type = load_be16(d + 12);
  if (type == kEtherTypeVlan) {
    if (len < off + kVlanTagLen) return drop(DropReason::l2_truncated);
    type = load_be16(d + off + 2);
    off += kVlanTagLen;
    if (type == kEtherTypeVlan || type == kEtherTypeQinQ) return drop(DropReason::vlan_unsupported);
  } else if (type == kEtherTypeQinQ) {
    return drop(DropReason::vlan_unsupported);
  }
  p.l3_offset = static_cast<uint16_t>(off);
  switch (type) {
    case kEtherTypeIpv4:
      return parse_ipv4(p, d + off, len - off);
    case kEtherTypeIpv6:
      return parse_ipv6(p, d + off, len - off);
    case kEtherTypeArp:
      p.kind = PacketKind::arp;
      return kOk;
    default:
      return drop(DropReason::ethertype_unsupported);
  }
}

}  // namespace anylb
