#include "port_links.hpp"

namespace anylb {

std::string ports_not_forwarding(const std::vector<PortLink>& ports) {
  bool any_up = false;
  for (const PortLink& p : ports) {
    if (!p.up) continue;
    any_up = true;
    if (p.egress >= ports.size()) return "port " + p.name + " forwards out of an unknown port";
    const PortLink& out = ports[p.egress];
    if (!out.up) return "port " + p.name + " forwards out of port " + out.name + ", whose link is down";
  }
  if (!any_up) return ports.empty() ? "no data port" : "no data port has link";
  return "";
}

}  // namespace anylb
