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
// control plane) any source may be one. Pure logic on the pipeline's
// millisecond clock.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

#include "flow_table.hpp"
#include "packet_parser.hpp"

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

// `from_backend`: the source is one of the backends' addresses;
// `from_peer`: it is one of the node's BGP peers, or no peers are known.
inline ExceptionClass exception_class(const ParsedPacket& p, bool from_backend, bool from_peer) {
  if (p.kind == PacketKind::arp) return ExceptionClass::link;
  if (p.kind == PacketKind::icmp_other && p.family == IpFamily::v6 && p.icmp_type >= 133 && p.icmp_type <= 137)
    return ExceptionClass::link;  // router and neighbour solicitation/advertisement, redirect
  constexpr uint16_t kBgpPort = 179;
  if (from_peer && p.kind == PacketKind::flow && p.key.proto == kProtoTcp &&
      (p.key.src_port == kBgpPort || p.key.dst_port == kBgpPort))
    return ExceptionClass::bgp;
  return from_backend ? ExceptionClass::backend : ExceptionClass::other;
}

class ExceptionPolicer {
 public:
  explicit ExceptionPolicer(uint32_t rate_per_s = 0)
      : buckets_{TokenBucket(rate_per_s), TokenBucket(rate_per_s), TokenBucket(rate_per_s), TokenBucket(rate_per_s)} {}
  // `from_backend`, `from_peer`: as for exception_class.
  bool admit(const ParsedPacket& p, bool from_backend, bool from_peer, FlowClock now) {
    return buckets_[static_cast<std::size_t>(exception_class(p, from_backend, from_peer))].take(now);
  }

 private:
  std::array<TokenBucket, 4> buckets_;
};

}  // namespace anylb
