// The one rule for what the node announces: from the configuration, each
// service's route state (route_state.hpp), the node's drain and the
// prefixes gobgpd holds that this run did not send, it says per prefix
// whether it is announced, why, and with which path. Pure: no gobgpd, no
// clock; the Announcer (announcer.hpp) makes gobgpd hold what it decides,
// and the status shows it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config.hpp"
#include "gobgp_client.hpp"
#include "route_state.hpp"

namespace anylb::cp {

// A service's route as the rule reads it (ServiceRoute's state and reason).
struct RouteView {
  Announcement state = Announcement::withdrawn;
  std::string reason;
  bool kept_from_earlier_run = false;  // ServiceRoute::kept_from_earlier_run
  bool announced() const { return state != Announcement::withdrawn; }
};

struct AnnouncementInputs {
  const ControlConfig& config;
  const std::map<std::string, RouteView>& routes;  // by service name; a service missing counts as withdrawn
  bool node_draining = false;
  uint32_t asn = 0;                                // ours, for the prepend
  // Our prefixes gobgpd holds that this run did not send (an earlier run's):
  // those no longer configured are withdrawn, and say so.
  const std::set<std::string>& left;
};

struct PrefixDecision {
  std::string prefix;  // as gobgpd names it ("203.0.113.10/32")
  enum class Kind { host, cover, left } kind = Kind::host;
  std::vector<std::string> services;  // on the VIP (host route), or the cover's; none for a left prefix
  bool announce = false;
  bool graceful = false;          // announced with GRACEFUL_SHUTDOWN (node drain)
  std::string reason;             // why, for the status
  std::optional<PathSpec> path;   // set exactly when announced
  // Host route: each of its services' line in the status (the service's
  // own reason, and what its VIP's other services decided for it).
  std::map<std::string, std::string> service_reasons;
};

// Per prefix: host routes in the order of their VIP's first service, then
// covering prefixes, then left prefixes no longer configured.
//
// Services sharing a VIP share its host route: announced while all, or any,
// of them are (the VIP's first service's vip_policy), with the announced
// ones' communities together and the first announced one's MED and prepend.
// A covering prefix is announced while any or all of its services are (its
// policy, RFC 4786 4.8). A draining node announces with GRACEFUL_SHUTDOWN
// (RFC 8326) and one prepend more.
std::vector<PrefixDecision> decide_announcements(const AnnouncementInputs& in);

// The services whose route an earlier run left announced: their host
// prefix is among `left`, and the state file does not say they were
// withdrawn (a VIP shared under vip_policy any stays in BGP for the others).
// Their route is taken over as announced (ServiceRoute::keep_from_earlier_run),
// so that a withdrawal the first checks call for is one like any other.
std::vector<const ServiceConfig*> services_left_announced(const ControlConfig& config,
                                                          const std::set<std::string>& left,
                                                          const std::set<std::string>& withdrawn_routes);

}  // namespace anylb::cp
