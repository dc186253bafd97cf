// Rewrites a frame in place for its backend: L2 direct server return, or
// IP-in-IP / GUE encapsulation into headroom in front of the frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "drop_reason.hpp"
#include "id_lane.hpp"
#include "ip_address.hpp"
#include "packet_parser.hpp"

namespace anylb {

inline constexpr uint8_t kOuterTtl = 64;

// A frame with `headroom` writable bytes before `data`.
struct FrameBuffer {
  std::byte* data;
  uint32_t len;
  uint32_t headroom;
};

struct RewriteResult {
  uint32_t prepended = 0;  // data moved back by this many bytes
  uint32_t len = 0;        // new frame length
  DropReason drop = DropReason::none;
  bool fragment = false;   // longer than the MTU: to be sent as outer fragments (fragment.hpp)
};

// Destination and source MAC of a frame.
inline void write_macs(std::byte* frame, const MacAddress& dst, const MacAddress& src) {
  std::memcpy(frame, dst.bytes.data(), 6);
  std::memcpy(frame + 6, src.bytes.data(), 6);
}

// l2-dsr: destination MAC <- backend, source MAC <- our port. Nothing else
// changes (the backend holds the VIP on a loopback). Inline: it is the whole
// per-packet rewrite of the common mode.
inline RewriteResult rewrite_l2_dsr(FrameBuffer f, const MacAddress& backend, const MacAddress& port) {
  write_macs(f.data, backend, port);
  return RewriteResult{0, f.len, DropReason::none};
}

// Bytes encapsulation puts in front of the IP packet: the outer IP header
// of the backend's family, and the UDP header for GUE.
inline uint32_t encap_overhead(bool outer_v4, bool gue) { return (outer_v4 ? 20u : 40u) + (gue ? 8u : 0u); }

inline constexpr uint32_t kIpv6MinMtu = 1280;

// Whether a packet too long once encapsulated is sent as outer fragments
// rather than answered with an ICMP error: an IPv4 packet without DF, and
// (RFC 2473 7.1) an IPv6 packet no longer than the IPv6 minimum MTU, which
// every link must carry whatever the tunnel's MTU. Otherwise no packet-too-
// big could help: it may not ask for less than 1280.
inline bool outer_may_fragment(const ParsedPacket& p) {
  return !p.dont_fragment || (p.family == IpFamily::v6 && p.l3_length <= kIpv6MinMtu);
}

struct EncapParams {
  const IpAddress* outer_source;  // node address of the backend's family
  const IpAddress* backend;
  MacAddress backend_mac;
  MacAddress port_mac;
  uint16_t gue_port = 0;          // 0: plain IP-in-IP; else GUE (variant 1) to this UDP port
  uint64_t flow_hash = 0;         // picks the GUE source port and IPv6 flow label
  uint32_t mtu = 1500;            // largest IP packet the port may send
  // The outer IPv4 identification's lane, drawn from only for an outer
  // packet without DF, since an atomic packet's means nothing (RFC 6864
  // 4.1), so a lane repeats only after 65536 / lanes of them. Null: 0.
  IdLane* ipv4_ids = nullptr;
};

// Wraps the IP packet (l3_offset .. l3_offset + l3_length) in an outer IPv4 or
// IPv6 header of the backend's family, keeping the Ethernet header and any
// VLAN tag. Trailing Ethernet padding is dropped. Longer than the MTU: an
// outer packet whose inner one may be fragmented (outer_may_fragment) is
// built whole, without DF, and marked to be fragmented; anything else is
// encap_too_big.
RewriteResult encapsulate(FrameBuffer f, const ParsedPacket& p, const EncapParams& e);

}  // namespace anylb
