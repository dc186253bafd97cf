// The command table: every command anylbctl has, in the order --help lists
// them. A handler taking Target runs against either side; one taking
// DataplaneTarget or ControlPlaneTarget only there.
#include <vector>

#include "commands.hpp"
#include "verbs.hpp"

namespace anylb::ctl {

namespace {

const Arg kName{"NAME", "service name"};
const Arg kService{"SERVICE", "service name"};
const Arg kAddress{"ADDRESS", "backend address"};
const Arg kId{"ID", "registration id"};
const Arg kProtocol{"tcp|udp", "protocol (tcp or udp)"};

const Flag kMac{"mac", "MAC", "the backend's MAC address (default: from the kernel's neighbour table)"};
const Flag kWeight{"weight", "1-10000", "its share of new flows (default 100)"};

}  // namespace

std::span<const Command> commands() {
  using namespace verbs;
  static const std::vector<Command> kTable = {
      {"service", "list", {}, {}, "services and how many backends each has", service_list},
      {"service", "show", {kName}, {}, "one service and its backends", service_show},
      {"service", "add", {kName, {"VIP", "VIP"}, kProtocol, {"PORT|any", "port (or any)"}},
       {{"mode", "l2-dsr|ipip|gue", "how packets reach the backends (default l2-dsr)"},
        {"fragments", "drop|hash", "non-first fragments: dropped, or hashed on addresses only (default drop)"},
        {"gue-port", "N", "GUE's outer UDP port (with --mode gue)"},
        {"quorum", "N", "backends serving before the VIP is announced", "a dataplane alone announces nothing"},
        {"registration", "CIDR[,CIDR]", "take registrars' backends from inside these prefixes (with --max-backends)",
         "a dataplane alone takes no registrations"},
        {"max-backends", "N", "at most N registrations at once (with --registration)", "a dataplane alone takes no registrations"},
        {"registration-weight", "1-10000", "registrars' backends' weight (default 100)",
         "a dataplane alone takes no registrations"},
        {"registrar-mac", "yes|no", "registrars may name their backend's MAC (default no: resolved)",
         "a dataplane alone takes no registrations"}},
       "add a service", service_add},
      {"service", "del", {kName}, {}, "delete a service and its backends", service_del},
      {"backend", "add", {kService, kAddress}, {kMac, kWeight}, "add a backend, up", backend_add},
      {"backend", "del", {kService, kAddress}, {}, "delete a backend", backend_del},
      {"backend", "drain", {kService, kAddress}, {}, "keep its flows, no new ones", backend_state},
      {"backend", "undrain", {kService, kAddress}, {}, "back to up", backend_state},
      {"backend", "enable", {kService, kAddress}, {}, "back to up (as undrain)", backend_state},
      {"backend", "disable", {kService, kAddress}, {}, "down: its flows move", backend_state},
      {"backend", "weight", {kService, kAddress, {"WEIGHT", "weight"}}, {}, "its share of new flows, 1-10000",
       backend_weight},
      {"backend", "register", {kService, kAddress},
       {kMac, kWeight, {"ttl", "SEC", "seconds without a heartbeat before it goes down (default 10)"}},
       "join a pool; prints a registration id", backend_register},
      {"backend", "heartbeat", {kId}, {}, "keep a registration in", backend_heartbeat},
      {"backend", "deregister", {kId}, {}, "drain a registration out, then remove it", backend_deregister},
      {"backend", "registrations", {}, {{"service", "NAME", "only this service's"}},
       "registrations (a registrar sees its own)", backend_registrations},
      {"stats", "", {}, {{"interval", "SEC", "rates over SEC seconds, above 0, at most 60 (default 1)"}},
       "totals and rates per port, service and backend; drops", stats},
      {"flows", "", {},
       {{"service", "NAME", "only this service's flows"}, {"backend", "ADDRESS", "only this backend's flows"},
        {"limit", "N", "at most N flows (default 100)"}},
       "flows pinned in the workers' tables", flows},
      {"trace", "", {{"SRC:PORT", "source"}, {"DST:PORT", "destination"}, kProtocol}, {},
       "which backend this flow gets, and why (IPv6: [ADDR]:PORT)", trace},
      {"health", "", {}, {}, "backend health (with only --dataplane: the states it holds)", health},
      {"node", "", {}, {}, "node status (with only --dataplane: the dataplane's liveness)", node},
      {"node", "drain|undrain", {}, {},
       "graceful shutdown of every announcement, then withdrawal / restore", node_drain},
      {"routes", "", {}, {}, "each route: announced or not, and why", routes},
      {"state", "", {}, {}, "the desired state and its generation as JSON", state},
      {"apply", "", {{"FILE", "state file (JSON, as 'anylbctl state' prints)"}},
       {{"generation", "N", "apply exactly generation N; a stale one is refused (default: the next)"}},
       "apply a whole desired state (JSON, as 'state' prints)", apply},
  };
  return kTable;
}

}  // namespace anylb::ctl
