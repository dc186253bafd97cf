// Frame building for the unit tests, byte by byte.
//
// Each function returns one header followed by its payload, filling the
// length and checksum fields, so a test composes a frame as
//   ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoTcp, tcp(40000, 80))
// and then breaks one field on purpose with put8/put16. TCP, UDP and ICMPv6
// checksums are left zero: the dataplane never verifies them (the backends
// do), and leaving them out keeps each builder independent of the layer
// around it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bytes.hpp"
#include "checksum.hpp"
#include "encap.hpp"
#include "flow_key.hpp"
#include "ip_address.hpp"
#include "packet_parser.hpp"

namespace anylb::test {

using Bytes = std::vector<std::byte>;

// Addresses from the ranges the project reserves for tests.
inline constexpr std::string_view kClient4 = "198.51.100.7";
inline constexpr std::string_view kClient4b = "198.51.100.8";
inline constexpr std::string_view kVip4 = "203.0.113.10";
inline constexpr std::string_view kRouter4 = "198.18.0.1";
inline constexpr std::string_view kNode4 = "198.18.0.2";
inline constexpr std::string_view kClient6 = "2001:db8:c::7";
inline constexpr std::string_view kVip6 = "2001:db8:a::10";
inline constexpr std::string_view kRouter6 = "2001:db8:f::1";
inline constexpr std::string_view kNode6 = "2001:db8:f::2";
inline constexpr std::string_view kPortMac = "02:00:00:00:00:01";    // the dataplane's port
inline constexpr std::string_view kRouterMac = "02:00:00:00:00:fe";  // the next hop that sent the frame

inline IpAddress ip(std::string_view text) {
  auto a = IpAddress::parse(text);
  if (!a) throw std::invalid_argument("bad address in test: " + std::string(text));
  return *a;
}

inline MacAddress mac(std::string_view text) {
  auto m = MacAddress::parse(text);
  if (!m) throw std::invalid_argument("bad MAC in test: " + std::string(text));
  return *m;
}

inline Bytes operator+(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// `n` bytes of a recognisable, non-zero pattern (payload).
inline Bytes payload(std::size_t n, uint8_t seed = 0x30) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::byte>(seed + i * 7);
  return b;
}

inline void put8(Bytes& b, std::size_t off, uint8_t v) { b.at(off) = static_cast<std::byte>(v); }
inline void put16(Bytes& b, std::size_t off, uint16_t v) {
  b.at(off + 1);  // bounds check before the raw store
  store_be16(b.data() + off, v);
}
inline uint8_t get8(const Bytes& b, std::size_t off) { return std::to_integer<uint8_t>(b.at(off)); }
inline uint16_t get16(const Bytes& b, std::size_t off) {
  b.at(off + 1);
  return load_be16(b.data() + off);
}
inline uint32_t get32(const Bytes& b, std::size_t off) {
  b.at(off + 3);
  return load_be32(b.data() + off);
}
inline Bytes slice(const Bytes& b, std::size_t off, std::size_t len) {
  return Bytes(b.begin() + static_cast<std::ptrdiff_t>(off), b.begin() + static_cast<std::ptrdiff_t>(off + len));
}
inline Bytes address_bytes(std::string_view text) {
  const IpAddress a = ip(text);
  return Bytes(a.bytes.begin(), a.bytes.begin() + static_cast<std::ptrdiff_t>(a.size()));
}

// --- L2 -------------------------------------------------------------------

inline Bytes ethernet(uint16_t ethertype, std::optional<uint16_t> vlan = std::nullopt,
                      std::string_view dst = kPortMac, std::string_view src = kRouterMac) {
  const MacAddress d = mac(dst), s = mac(src);
  Bytes b(vlan ? 18 : 14);
  std::memcpy(b.data(), d.bytes.data(), 6);
  std::memcpy(b.data() + 6, s.bytes.data(), 6);
  if (vlan) {
    store_be16(b.data() + 12, kEtherTypeVlan);
    store_be16(b.data() + 14, *vlan);  // PCP 0, DEI 0, VID
  }
  store_be16(b.data() + b.size() - 2, ethertype);
  return b;
}

// An ARP request (Ethernet/IPv4), 28 bytes.
inline Bytes arp_request(std::string_view sender, std::string_view target) {
  Bytes b(8);
  store_be16(b.data(), 1);       // hardware type Ethernet
  store_be16(b.data() + 2, kEtherTypeIpv4);
  b[4] = std::byte{6};
  b[5] = std::byte{4};
  store_be16(b.data() + 6, 1);   // request
  const MacAddress m = mac(kRouterMac);
  return b + Bytes(m.bytes.begin(), m.bytes.end()) + address_bytes(sender) + Bytes(6) + address_bytes(target);
}

// --- IPv4 -----------------------------------------------------------------

struct Ipv4Fields {
  uint8_t tos = 0;
  uint16_t id = 0x1234;
  uint16_t flags_fragment = 0x4000;  // DF, offset 0
  uint8_t ttl = 64;
  Bytes options;                     // a multiple of 4 bytes
};

inline void ipv4_fix_checksum(Bytes& frame, std::size_t l3) {
  const std::size_t ihl = static_cast<std::size_t>(get8(frame, l3) & 0x0f) * 4;
  put16(frame, l3 + 10, 0);
  put16(frame, l3 + 10, internet_checksum({frame.data() + l3, ihl}));
}

inline Bytes ipv4(std::string_view src, std::string_view dst, uint8_t proto, const Bytes& body,
                  const Ipv4Fields& f = {}) {
  const std::size_t hlen = 20 + f.options.size();
  if (f.options.size() % 4 != 0 || hlen > 60) throw std::invalid_argument("bad IPv4 options in test");
  Bytes h(12);  // up to the addresses
  h[0] = static_cast<std::byte>(0x40 | (hlen / 4));
  h[1] = static_cast<std::byte>(f.tos);
  store_be16(h.data() + 2, static_cast<uint16_t>(hlen + body.size()));
  store_be16(h.data() + 4, f.id);
  store_be16(h.data() + 6, f.flags_fragment);
  h[8] = static_cast<std::byte>(f.ttl);
  h[9] = static_cast<std::byte>(proto);
  h = h + address_bytes(src) + address_bytes(dst) + f.options;
  ipv4_fix_checksum(h, 0);
  return h + body;
}

// --- IPv6 -----------------------------------------------------------------

inline Bytes ipv6(std::string_view src, std::string_view dst, uint8_t next, const Bytes& body,
                  uint8_t traffic_class = 0, uint32_t flow_label = 0) {
  Bytes h(8);
  store_be32(h.data(), (6u << 28) | (static_cast<uint32_t>(traffic_class) << 20) | (flow_label & 0xfffff));
  store_be16(h.data() + 4, static_cast<uint16_t>(body.size()));
  h[6] = static_cast<std::byte>(next);
  h[7] = std::byte{64};
  return h + address_bytes(src) + address_bytes(dst) + body;
}

inline constexpr uint8_t kIpv6HopByHop = 0;
inline constexpr uint8_t kIpv6Routing = 43;
inline constexpr uint8_t kIpv6Fragment = 44;
inline constexpr uint8_t kIpv6DestOpts = 60;
inline constexpr uint8_t kIpv6NoNext = 59;

// Hop-by-hop or destination options header of `len` bytes (a multiple of 8),
// filled with one PadN option.
inline Bytes ipv6_options_header(uint8_t next, std::size_t len = 8) {
  Bytes h(len);
  h[0] = static_cast<std::byte>(next);
  h[1] = static_cast<std::byte>(len / 8 - 1);
  h[2] = std::byte{1};  // PadN
  h[3] = static_cast<std::byte>(len - 4);
  return h;
}

// A routing header of an experimental type (RFC 4727) with segments left 0,
// which every node processes by skipping it.
inline Bytes ipv6_routing_header(uint8_t next) {
  Bytes h(8);
  h[0] = static_cast<std::byte>(next);
  h[2] = std::byte{253};
  return h;
}

// `offset` in 8-byte units.
inline Bytes ipv6_fragment_header(uint8_t next, uint16_t offset, bool more, uint32_t id = 0xabcd) {
  Bytes h(8);
  h[0] = static_cast<std::byte>(next);
  store_be16(h.data() + 2, static_cast<uint16_t>((offset << 3) | (more ? 1 : 0)));
  store_be32(h.data() + 4, id);
  return h;
}

// --- L4 -------------------------------------------------------------------

// `data_offset` in 32-bit words; options beyond 20 bytes are NOPs.
inline Bytes tcp(uint16_t sport, uint16_t dport, uint8_t flags = kTcpSyn, const Bytes& data = {},
                 uint8_t data_offset = 5) {
  Bytes h(data_offset >= 5 ? data_offset * 4u : 20u, std::byte{1});
  store_be16(h.data(), sport);
  store_be16(h.data() + 2, dport);
  store_be32(h.data() + 4, 0x01020304);  // sequence
  store_be32(h.data() + 8, flags & kTcpAck ? 0x0a0b0c0d : 0);
  h[12] = static_cast<std::byte>(data_offset << 4);
  h[13] = static_cast<std::byte>(flags);
  store_be16(h.data() + 14, 65535);      // window
  store_be16(h.data() + 16, 0);          // checksum: see the file comment
  store_be16(h.data() + 18, 0);
  return h + data;
}

inline Bytes udp(uint16_t sport, uint16_t dport, const Bytes& data = {}) {
  Bytes h(8);
  store_be16(h.data(), sport);
  store_be16(h.data() + 2, dport);
  store_be16(h.data() + 4, static_cast<uint16_t>(8 + data.size()));
  return h + data;
}

// ICMP with its checksum; `rest` is the second word (e.g. the next-hop MTU).
inline Bytes icmp4(uint8_t type, uint8_t code, const Bytes& body, uint32_t rest = 0) {
  Bytes h(8);
  h[0] = static_cast<std::byte>(type);
  h[1] = static_cast<std::byte>(code);
  store_be32(h.data() + 4, rest);
  h = h + body;
  store_be16(h.data() + 2, internet_checksum(h));
  return h;
}

inline Bytes icmp6(uint8_t type, uint8_t code, const Bytes& body, uint32_t rest = 0) {
  Bytes h(8);
  h[0] = static_cast<std::byte>(type);
  h[1] = static_cast<std::byte>(code);
  store_be32(h.data() + 4, rest);
  return h + body;
}

inline constexpr uint8_t kIcmpEchoRequest = 8;
inline constexpr uint8_t kIcmpDestUnreachable = 3;
inline constexpr uint8_t kIcmpFragNeeded = 4;  // code of type 3
inline constexpr uint8_t kIcmpTimeExceeded = 11;
inline constexpr uint8_t kIcmp6PacketTooBig = 2;
inline constexpr uint8_t kIcmp6EchoRequest = 128;
inline constexpr uint8_t kIcmp6NeighborSolicitation = 135;

// --- Whole frames used by several tests -------------------------------------

inline Bytes tcp4_frame(uint16_t sport = 40000, uint16_t dport = 80, uint8_t flags = kTcpSyn,
                        std::string_view src = kClient4, std::string_view dst = kVip4) {
  return ethernet(kEtherTypeIpv4) + ipv4(src, dst, kProtoTcp, tcp(sport, dport, flags));
}

inline Bytes udp4_frame(uint16_t sport = 40000, uint16_t dport = 53, std::string_view src = kClient4,
                        std::string_view dst = kVip4) {
  return ethernet(kEtherTypeIpv4) + ipv4(src, dst, kProtoUdp, udp(sport, dport, payload(16)));
}

inline Bytes tcp6_frame(uint16_t sport = 40000, uint16_t dport = 80, uint8_t flags = kTcpSyn,
                        std::string_view src = kClient6, std::string_view dst = kVip6) {
  return ethernet(kEtherTypeIpv6) + ipv6(src, dst, kProtoTcp, tcp(sport, dport, flags));
}

// The packet a backend sent back (VIP -> client) as an ICMP error quotes it:
// the IP header and the first `quoted_l4` bytes of TCP.
inline Bytes quoted_tcp4(std::string_view vip, std::string_view client, uint16_t vip_port, uint16_t client_port,
                         std::size_t quoted_l4 = 8) {
  Bytes full = ipv4(vip, client, kProtoTcp, tcp(vip_port, client_port, kTcpAck, payload(100)));
  full.resize(20 + quoted_l4);
  return full;
}

inline Bytes quoted_tcp6(std::string_view vip, std::string_view client, uint16_t vip_port, uint16_t client_port,
                         std::size_t quoted_l4 = 8) {
  Bytes full = ipv6(vip, client, kProtoTcp, tcp(vip_port, client_port, kTcpAck, payload(100)));
  full.resize(40 + quoted_l4);
  return full;
}

// "Fragmentation needed" from a router on the path to the client, about
// the flow (client:client_port -> vip:vip_port).
inline Bytes frag_needed4_frame(uint16_t client_port = 40000, uint16_t vip_port = 80,
                                std::string_view client = kClient4, std::string_view vip = kVip4) {
  return ethernet(kEtherTypeIpv4) +
         ipv4(kRouter4, vip, kProtoIcmp,
              icmp4(kIcmpDestUnreachable, kIcmpFragNeeded, quoted_tcp4(vip, client, vip_port, client_port), 1400));
}

inline Bytes packet_too_big6_frame(uint16_t client_port = 40000, uint16_t vip_port = 80,
                                   std::string_view client = kClient6, std::string_view vip = kVip6) {
  return ethernet(kEtherTypeIpv6) +
         ipv6(kRouter6, vip, kProtoIcmp6,
              icmp6(kIcmp6PacketTooBig, 0, quoted_tcp6(vip, client, vip_port, client_port, 48), 1280));
}

// A frame with `headroom` bytes in front of it, as an mbuf holds it, for
// code that rewrites in place or prepends headers.
struct HeadroomBuffer {
  HeadroomBuffer(const Bytes& frame, uint32_t headroom)
      : bytes(Bytes(headroom, std::byte{0xee}) + frame), room(headroom) {}
  FrameBuffer frame() { return FrameBuffer{bytes.data() + room, static_cast<uint32_t>(bytes.size() - room), room}; }
  // The frame after a rewrite that moved its start back by `prepended`.
  Bytes result(uint32_t prepended, uint32_t len) const { return slice(bytes, room - prepended, len); }
  Bytes result(const RewriteResult& r) const { return result(r.prepended, r.len); }

  Bytes bytes;
  uint32_t room;
};

inline FlowKey flow_key(std::string_view src, std::string_view dst, uint16_t sport, uint16_t dport, uint8_t proto) {
  const IpAddress s = ip(src), d = ip(dst);
  FlowKey k;
  k.src = s.bytes;
  k.dst = d.bytes;
  k.src_port = sport;
  k.dst_port = dport;
  k.proto = proto;
  k.family = s.family;
  return k;
}

}  // namespace anylb::test
