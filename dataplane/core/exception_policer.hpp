// Polices what a worker hands the kernel (the exception path). Every frame
// for a node address goes to a TAP, a system call each: unpoliced, a flood
// aimed at the node's address would take the worker's time from the VIPs'
// traffic, and the kernel's from what keeps the node announced. Token
// buckets a worker, each `rate` frames a second with a tenth of a second of
// burst, one for each class of what the node needs, so that a flood in one
// class cannot starve another: the link (ARP, IPv6 neighbour discovery),
// BGP, the backends (health-check replies: they come from a backend's
// address), and the rest. BGP is TCP to or from port 179 sent by one of
// the node's peers (the control plane passes gobgpd's): a flood of
// spoofed BGP-port packets from elsewhere falls in the rest and leaves the
// sessions their bucket. With no peers known (a dataplane without a
// control plane) any source may be one. Addresses can be spoofed, so two
// more keys an off-link flood cannot forge as easily: from a peer
// configured for GTSM (RFC 5082) only TTL / hop limit 255 is BGP (a
// packet from farther away arrives lower: the "other" class); and a
// backend's packet is a health-check reply only to one of the probes'
// source ports (an ICMP echo reply: to one of their ids), once the control
// plane says which. Pure logic on the pipeline's millisecond clock.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

#include "flow_table.hpp"
#include "packet_parser.hpp"
#include "port_range.hpp"

namespace anylb {

class TokenBucket {
 public:
  // rate 0: no limit.
  explicit TokenBucket(uint32_t rate_per_s = 0)
      : rate_(rate_per_s), burst_milli_(uint64_t{std::max<uint32_t>(rate_per_s / 10, 32)} * 1000),
        milli_(burst_milli_) {}

  // Takes one token if there is one; tokens come at `rate` a second.
  bool take(FlowClock now) {
    if (rate_ == 0) return true;
    const uint32_t elapsed = now - last_;  // the clock wraps: unsigned difference
    last_ = now;
    milli_ = std::min(burst_milli_, milli_ + uint64_t{elapsed} * rate_);  // rate a second = rate milli-tokens a ms
    if (milli_ < 1000) return false;
    milli_ -= 1000;
    return true;
  }

 private:
  uint32_t rate_;
  uint64_t burst_milli_;
  uint64_t milli_;  // thousandths of a token
  FlowClock last_ = 0;
};

enum class ExceptionClass : uint8_t { link, bgp, backend, other };

// What the exception path knows of a packet's source.
struct ExceptionSource {
  bool backend = false;  // one of the backends' addresses
  bool peer = false;     // one of the node's BGP peers, or no peers are known
  bool gtsm = false;     // a peer configured for GTSM: its BGP arrives with TTL 255
  uint8_t ttl = 0;       // the packet's TTL / hop limit (read only for a GTSM peer)
};

inline constexpr uint8_t kGtsmTtl = 255;

// Whether a backend's packet is what a health probe waits for: to one of
// the probes' source ports, or an echo reply to one of their ids. Probes'
// ports not known (`probes` any): whatever a backend sends.
inline bool is_probe_reply(const ParsedPacket& p, PortRange probes) {
  if (probes.any()) return true;
  if (p.kind == PacketKind::flow) return probes.contains(p.key.dst_port);
  constexpr uint8_t kEchoReply4 = 0, kEchoReply6 = 129;
  if (p.kind == PacketKind::icmp_other && p.icmp_type == (p.family == IpFamily::v4 ? kEchoReply4 : kEchoReply6))
    return probes.contains(p.key.src_port);  // the parser keeps an echo's id there
  return false;
}

inline ExceptionClass exception_class(const ParsedPacket& p, const ExceptionSource& s, PortRange probes) {
  if (p.kind == PacketKind::arp) return ExceptionClass::link;
  if (p.kind == PacketKind::icmp_other && p.family == IpFamily::v6 && p.icmp_type >= 133 && p.icmp_type <= 137)
    return ExceptionClass::link;  // router and neighbour solicitation/advertisement, redirect
  constexpr uint16_t kBgpPort = 179;
  if (s.peer && (!s.gtsm || s.ttl == kGtsmTtl) && p.kind == PacketKind::flow && p.key.proto == kProtoTcp &&
      (p.key.src_port == kBgpPort || p.key.dst_port == kBgpPort))
    return ExceptionClass::bgp;
  return s.backend && is_probe_reply(p, probes) ? ExceptionClass::backend : ExceptionClass::other;
}

// No GTSM, the probes' ports not known: by address alone.
inline ExceptionClass exception_class(const ParsedPacket& p, bool from_backend, bool from_peer) {
  return exception_class(p, ExceptionSource{from_backend, from_peer, false, 0}, PortRange{});
}

class ExceptionPolicer {
 public:
  explicit ExceptionPolicer(uint32_t rate_per_s = 0)
      : buckets_{TokenBucket(rate_per_s), TokenBucket(rate_per_s), TokenBucket(rate_per_s), TokenBucket(rate_per_s)} {}
  bool admit(const ParsedPacket& p, const ExceptionSource& s, PortRange probes, FlowClock now) {
    return buckets_[static_cast<std::size_t>(exception_class(p, s, probes))].take(now);
  }
  bool admit(const ParsedPacket& p, bool from_backend, bool from_peer, FlowClock now) {
    return admit(p, ExceptionSource{from_backend, from_peer, false, 0}, PortRange{}, now);
  }

 private:
  std::array<TokenBucket, 4> buckets_;
};

}  // namespace anylb
