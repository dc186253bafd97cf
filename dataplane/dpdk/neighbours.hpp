// Backend MACs from the kernel, for backends configured without one. The
// kernel's routing table on the exception interfaces says where a backend
// is reached: itself when on-link, else a gateway (an ipip or GUE backend
// behind a router). Its neighbour table says that next hop's MAC; a next
// hop not in it yet is handed to the kernel to resolve (NTF_USE: the kernel
// sends the ARP/ND through the exception interface). The dataplane never
// builds ARP/ND itself.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ip_address.hpp"

namespace anylb {

// Backend address -> the MAC to send its packets to.
using NeighbourMap = std::map<IpAddress, MacAddress>;

// For each backend routed out of one of `interfaces`: its next hop's MAC,
// where the kernel has it (reachable, stale, delay, probe or permanent);
// the others are asked for. Backends routed elsewhere are left out.
// Nullopt when the round could not ask (no socket, none of the interfaces
// there) or lost part of an answer: it says nothing about any backend.
std::optional<NeighbourMap> resolve_backend_macs(const std::vector<IpAddress>& backends,
                                                 const std::vector<std::string>& interfaces);

}  // namespace anylb
