// Parses one frame (Ethernet, one optional 802.1Q tag, IPv4/IPv6, TCP/UDP/ICMP)
// into what the forwarding stages need. Pure: bytes in, a ParsedPacket or a
// DropReason out; never reads past the given length.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "drop_reason.hpp"
#include "flow_key.hpp"

namespace anylb {

enum class PacketKind : uint8_t {
  flow,        // TCP or UDP with ports: key is the 5-tuple
  fragment,    // an IP fragment: key is the 3-tuple (ports 0)
  icmp_error,  // ICMP(v6) error: key is the flow it is about, as its client sent it
  icmp_other,  // any other ICMP(v6) message (echo, neighbour discovery, ...)
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
  uint8_t tcp_flags = 0;
  uint8_t icmp_type = 0;
  uint8_t tos = 0;           // IPv4 TOS or IPv6 traffic class, copied to outer headers
  bool dont_fragment = false;
  uint16_t l3_offset = 0;    // where the IP header starts (after Ethernet and VLAN)
  uint16_t l3_length = 0;    // IP total length: bytes past l3_offset + l3_length are padding
};

struct ParseOutcome {
  ParsedPacket packet;
  DropReason drop = DropReason::count_;  // count_ = no drop
  bool ok() const { return drop == DropReason::count_; }
};

// Fills `out` and returns DropReason::count_, or returns why the frame is dropped.
DropReason parse_packet(std::span<const std::byte> frame, ParsedPacket& out);

// The same without the one-pass path for untagged IPv4 TCP/UDP: the
// reference the tests hold that path to.
DropReason parse_packet_general(std::span<const std::byte> frame, ParsedPacket& out);

inline ParseOutcome parse_packet(std::span<const std::byte> frame) {
  ParseOutcome o;
  o.drop = parse_packet(frame, o.packet);
  if (!o.ok()) o.packet = ParsedPacket{};
  return o;
}

inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;

}  // namespace anylb
