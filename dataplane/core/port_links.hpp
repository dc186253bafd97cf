// Whether the node's data ports can carry what the routers send it: a VIP
// must not be announced while forwarded packets would leave by a port
// without link (invariant 6: "announced only while the dataplane is
// forwarding"; RFC 4786 section 4.4.1, Signalling Service Availability).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace anylb {

struct PortLink {
  std::string name;
  bool up = false;
  std::size_t egress = 0;  // index of the port its forwarded packets leave by
};

// Why the ports cannot forward, or "" when they can: at least one port has
// link and every port with link forwards out of a port with link. A port
// without link receives nothing (its router sees the carrier go and drops
// the session on it), so it does not count against the node; but a port
// that receives and forwards out of a dead port (a two-armed node's
// backend side, --tx-port) would black-hole everything it is sent.
std::string ports_not_forwarding(const std::vector<PortLink>& ports);

}  // namespace anylb
