// Polices what a worker hands the kernel (the exception path). Every frame
// for a node address goes to a TAP, a system call each: unpoliced, a flood
// aimed at the node's address would take the worker's time from the VIPs'
// traffic, and the kernel's from BGP. Two token buckets a worker, each
// `rate` frames a second with a tenth of a second of burst: one for the
// traffic that keeps the node reachable and announced (ARP, IPv6 neighbour
// discovery, BGP), one for the rest, so a flood of the rest cannot starve
// them. Pure logic on the pipeline's millisecond clock.
#pragma once

#include <algorithm>
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

// What keeps the node reachable and its routes announced.
inline bool is_control_traffic(const ParsedPacket& p) {
  if (p.kind == PacketKind::arp) return true;
  if (p.kind == PacketKind::icmp_other && p.family == IpFamily::v6)
    return p.icmp_type >= 133 && p.icmp_type <= 137;  // router and neighbour solicitation/advertisement, redirect
  constexpr uint16_t kBgpPort = 179;
  return p.kind == PacketKind::flow && p.key.proto == kProtoTcp &&
         (p.key.src_port == kBgpPort || p.key.dst_port == kBgpPort);
}

class ExceptionPolicer {
 public:
  explicit ExceptionPolicer(uint32_t rate_per_s = 0) : control_(rate_per_s), other_(rate_per_s) {}
  bool admit(const ParsedPacket& p, FlowClock now) {
    return is_control_traffic(p) ? control_.take(now) : other_.take(now);
  }

 private:
  TokenBucket control_, other_;
};

}  // namespace anylb
