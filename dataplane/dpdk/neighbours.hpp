// Backend MACs from the kernel's neighbour table (netlink), for backends
// configured without one. The kernel resolves them on the exception
// interfaces like any neighbour (the control plane's health checks go that
// way); the dataplane reads the table and never sends ARP/ND itself.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ip_address.hpp"

namespace anylb {

using NeighbourMap = std::map<IpAddress, MacAddress>;

// Usable (reachable, stale, delay, probe, permanent) IPv4/IPv6 neighbours on
// the named interfaces. Empty on error.
NeighbourMap read_neighbours(const std::vector<std::string>& interfaces);

}  // namespace anylb
