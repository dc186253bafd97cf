// Parses one frame (Ethernet, one optional 802.1Q tag, IPv4/IPv6, TCP/UDP/ICMP)
// into what the forwarding stages need. Pure: bytes in, a ParsedPacket or a
// DropReason out; never reads past the given length.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "bytes.hpp"
#include "checksum.hpp"
#include "drop_reason.hpp"
#include "flow_key.hpp"

namespace anylb {

enum class PacketKind : uint8_t {
  flow,        // TCP or UDP with ports: key is the 5-tuple
  fragment,    // an IP fragment: key is the 3-tuple (ports 0)
  icmp_error,  // ICMP(v6) error: key is the flow it is about, as its client sent it
  icmp_other,  // any other ICMP(v6) message (echo, neighbour discovery, ...); an echo's id in key.src_port
  other_ip,    // another IP protocol (key has ports 0)
  arp,
};

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;
inline constexpr uint16_t kEtherTypeQinQ = 0x88a8;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr std::size_t kEthernetHeaderLen = 14;
inline constexpr std::size_t kVlanTagLen = 4;
// Extension headers walked before giving up (RFC 8200 expects few; a long
// chain is a known evasion trick).
inline constexpr int kMaxIpv6ExtensionHeaders = 8;

struct ParsedPacket {
  FlowKey key;
  PacketKind kind = PacketKind::flow;
  IpFamily family = IpFamily::v4;
  union {
    uint8_t tcp_flags = 0;
    // A fragment has no TCP flags. A first IPv6 fragment whose Fragment
    // header names Destination Options: the protocol those options name,
    // which the later fragments do not carry (0 otherwise). Shared, so
    // the burst's parsed packets stay 50 bytes.
    uint8_t fragment_l4;
  };
  union {
    uint8_t icmp_type = 0;
    // An IPv4 fragment that is not the first (offset above 0): no ICMP
    // error may answer it (RFC 1122 3.2.2). A fragment has no ICMP type.
    bool later_fragment;
  };
  uint8_t tos = 0;           // IPv4 TOS or IPv6 traffic class, copied to outer headers
  bool dont_fragment = false;
  uint16_t l3_offset = 0;    // where the IP header starts (after Ethernet and VLAN)
  uint16_t l3_length = 0;    // IP total length: bytes past l3_offset + l3_length are padding
};

struct ParseOutcome {
  ParsedPacket packet;
  DropReason drop = DropReason::none;
  bool ok() const { return drop == DropReason::none; }
};

// Source addresses no host sends from, as the kernel's own martian check
// (RFC 1122 3.2.1.3, RFC 4291 2.5.2, 2.5.3, 2.5.5.2, 2.7): IPv4 "this
// network" 0/8, loopback 127/8, multicast 224/4 and the limited broadcast;
// IPv6 unspecified, loopback, multicast and IPv4-mapped. RFC 3704's loose
// check, with no routes to consult: a TCP or UDP packet from one is
// spoofed, and would only fill the flow table with flows no answer reaches.
// (240/4 stays: some networks number hosts from it.)
// By first octet: 1 martian, 2 only 255.255.255.255 is (one load and test
// a packet: the compares cost 9 instructions, callgrind).
inline constexpr auto kMartianFirstOctet = [] {
  std::array<uint8_t, 256> t{};
  t[0] = t[127] = 1;
  for (int i = 224; i < 240; ++i) t[i] = 1;
  t[255] = 2;
  return t;
}();
inline bool is_martian_ipv4_source(const std::byte* a) {
  const uint8_t m = kMartianFirstOctet[load_u8(a)];
  return m != 0 && (m == 1 || load_be32(a) == 0xffffffffu);
}
bool is_martian_ipv6_source(const std::byte* a);
// fe80::/10: reachable only on a named link.
inline bool is_ipv6_link_local(const std::byte* a) { return load_u8(a) == 0xfe && (load_u8(a + 1) & 0xc0) == 0x80; }

// Every frame the one-pass path below does not take: the reference the
// tests hold that path to.
DropReason parse_packet_general(std::span<const std::byte> frame, ParsedPacket& out);

// The common case in one pass: untagged Ethernet, IPv4 without options or
// fragmentation, TCP or UDP. Accepts only what the general parser would
// accept, with the same result (the fuzz test holds it to that);
// anything else, including every malformed frame, goes the general way.
inline bool parse_ipv4_l4_fast(const std::byte* d, std::size_t len, ParsedPacket& p) {
  if (len < kEthernetHeaderLen + 20 + 20 || load_be16(d + 12) != kEtherTypeIpv4) return false;
  const std::byte* ip = d + kEthernetHeaderLen;
  const std::size_t avail = len - kEthernetHeaderLen;
  const std::size_t total = load_be16(ip + 2);
  const uint16_t frag = load_be16(ip + 6);
  const uint8_t proto = load_u8(ip + 9);
  if (load_u8(ip) != 0x45 || total > avail || (frag & 0x3fff) != 0 || (proto != kProtoTcp && proto != kProtoUdp))
    return false;
  const std::byte* l4 = ip + 20;
  const std::size_t l4_avail = total - 20;  // only used once total >= 28 / 40 is known
  uint8_t flags = 0;
  if (proto == kProtoTcp) {
    const std::size_t doff = static_cast<std::size_t>(load_u8(l4 + 12) >> 4) * 4;
    if (total < 40 || doff < 20 || doff > l4_avail) return false;
    flags = load_u8(l4 + 13);
  } else {
    const std::size_t ulen = load_be16(l4 + 4);
    if (total < 28 || ulen < 8 || ulen > l4_avail) return false;
  }
  const uint16_t sport = load_be16(l4), dport = load_be16(l4 + 2);
  if (sport == 0 || dport == 0 || !ipv4_checksum_ok(ip, 20) || is_martian_ipv4_source(ip + 12)) return false;

  p.key = FlowKey{};
  std::memcpy(p.key.src.data(), ip + 12, 4);
  std::memcpy(p.key.dst.data(), ip + 16, 4);
  p.key.src_port = sport;
  p.key.dst_port = dport;
  p.key.proto = proto;
  p.key.family = IpFamily::v4;
  p.kind = PacketKind::flow;
  p.family = IpFamily::v4;
  p.tcp_flags = flags;
  p.icmp_type = 0;
  p.tos = load_u8(ip + 1);
  p.dont_fragment = (frag & 0x4000) != 0;
  p.l3_offset = kEthernetHeaderLen;
  p.l3_length = static_cast<uint16_t>(total);
  return true;
}

// Fills `out` and returns DropReason::none, or returns why the frame is
// dropped. Inline so that the burst loop inlines the one-pass path (the
// call per packet cost 4 instructions: callgrind).
inline DropReason parse_packet(std::span<const std::byte> frame, ParsedPacket& out) {
  if (parse_ipv4_l4_fast(frame.data(), frame.size(), out)) return DropReason::none;
  return parse_packet_general(frame, out);
}

inline ParseOutcome parse_packet(std::span<const std::byte> frame) {
  ParseOutcome o;
  o.drop = parse_packet(frame, o.packet);
  if (!o.ok()) o.packet = ParsedPacket{};
  return o;
}

inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpAck = 0x10;

}  // namespace anylb
