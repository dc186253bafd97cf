// The node's BGP peers as the dataplane's exception path wants them: the
// addresses gobgpd lists its neighbours by, sorted. Only TCP port-179
// traffic from these is policed as BGP, so that spoofed BGP-port packets
// cannot use up the sessions' share of what reaches the kernel.
#pragma once

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "ip_address.hpp"

namespace anylb::cp {

// `peers`: (neighbour address, session state) as GobgpClient::peers gives
// them. A neighbour named by an interface (BGP unnumbered) has no address
// to match: then none is returned, which lets BGP in from any source,
// rather than police a real session as the rest.
inline std::vector<IpAddress> bgp_peer_addresses(const std::vector<std::pair<std::string, std::string>>& peers) {
  std::vector<IpAddress> out;
  for (const auto& [neighbour, state] : peers) {
    auto a = IpAddress::parse(neighbour);
    if (!a) return {};
    out.push_back(*a);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// Whether gobgpd's ttl-security config for a neighbour is GTSM as the
// dataplane's policer takes it: enabled with ttl-min 255 (RFC 5082, one
// hop). A lower ttl-min (a multi-hop session) admits packets from farther
// away: that peer is policed by its address alone.
inline bool gtsm_peer(bool ttl_security_enabled, uint32_t ttl_min) {
  return ttl_security_enabled && ttl_min == 255;
}

// The GTSM peers' addresses, sorted once each (those that are addresses).
inline std::vector<IpAddress> gtsm_peer_addresses(const std::vector<std::string>& neighbours) {
  std::vector<IpAddress> out;
  for (const std::string& n : neighbours)
    if (auto a = IpAddress::parse(n)) out.push_back(*a);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace anylb::cp
