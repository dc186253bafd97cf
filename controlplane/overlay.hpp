// Changes made through the operator API (anylb.v1) on top of the YAML
// configuration: admin states, weights, added or deleted services and
// backends, and RSerPool-style registrations. Persisted as JSON in the
// node's state file, so they survive a restart; merged with the YAML into
// the configuration the node runs. Pure: no threads, time passed in.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "config.hpp"

namespace anylb::cp {

enum class AdminState { enabled, draining, disabled };

using BackendId = std::pair<std::string, IpAddress>;  // (service, address)

struct Registration {
  std::string service;
  BackendConfig backend;
  uint64_t ttl_ms = 0;
  uint64_t last_heartbeat_ms = 0;             // monotonic; not persisted (a restart grants a fresh TTL)
  std::optional<uint64_t> deregistered_ms;    // draining out since then
  // Caller::owner of who registered it: a registrar reads, heartbeats and
  // deregisters only its own. Empty in state files of earlier versions
  // (then only an operator can).
  std::string owner;
};

struct Overlay {
  std::map<BackendId, AdminState> admin;
  std::map<BackendId, uint32_t> weights;
  std::vector<ServiceConfig> added_services;   // checked by TCP connect to the service port
  std::set<std::string> deleted_services;
  std::map<BackendId, BackendConfig> added_backends;
  std::set<BackendId> deleted_backends;
  // By registration id: 32 hex digits (new_registration_id), or "rN"
  // from state files of earlier versions.
  std::map<std::string, Registration> registrations;
  // Not an API change, but what a restart must remember as well: the
  // services whose route has been withdrawn, so that their hold-down holds
  // after a restart too (ServiceRoute::remember_withdrawal).
  std::set<std::string> withdrawn_routes;
  // And each service's damping penalty as of a wall-clock time (Unix ms),
  // so that a restart decays it rather than forgetting it.
  struct Damping {
    double penalty = 0;
    uint64_t at_unix_ms = 0;
  };
  std::map<std::string, Damping> damping;
  // The prefixes this node has put in gobgpd ("203.0.113.10/32", as gobgpd
  // names them), so that a restart after a service, VIP or cover left the
  // configuration withdraws what the earlier run announced for it, and
  // still leaves alone paths an operator added by hand.
  std::set<std::string> announced_prefixes;
  // `anylbctl node drain` holds across a restart (an upgrade is when it is
  // used): a drained node must not come back announcing by itself.
  bool node_draining = false;

  // Drops every registration of `id`; returns how many went. What an
  // operator set for it (admin state, weight) stays: a registration never
  // overrides it, and the same backend registering again finds it.
  std::size_t forget_registrations(const BackendId& id);
  // Drops the admin state and weight an operator set for `id`; true if
  // there was any.
  bool forget_operator_state(const BackendId& id);

  // Moves what is kept for each renamed service (new name -> old name,
  // renamed_services) to its new name: admin states, weights, added and
  // deleted backends, registrations, a deletion, the route's withdrawal and
  // damping.
  void rename_services(const std::map<std::string, std::string>& renamed);

  std::string to_json() const;
  static Overlay from_json(const std::string& text);  // throws std::runtime_error
};

// The configuration the node runs: YAML + overlay. Registered backends are
// included while registered (their liveness is judged by the node). An
// overlay is first rid of what the YAML has itself (drop_overlay_duplicates).
ControlConfig merge(const ControlConfig& base, const Overlay& overlay);

// Drops from `o` what the YAML (`base`) now has itself: services it adds
// under the same name, backends it adds to the same service at the same
// address (an operator wrote the API's change into the file). The file's
// then stands alone: deleting it through the API deletes it. True if
// anything was dropped.
bool drop_overlay_duplicates(const ControlConfig& base, Overlay& o);

// Whole-configuration checks the dataplane would make; empty when valid.
std::string validate_merged(const ControlConfig& merged);

// Milliseconds from `since` to `now`; 0 if `since` is later (a heartbeat
// stamped by an API thread after the control loop read its clock).
inline uint64_t elapsed_ms(uint64_t since, uint64_t now) { return now > since ? now - since : 0; }

// A registration whose heartbeat is older than its TTL is down.
inline bool registration_alive(const Registration& r, uint64_t now_ms) {
  return elapsed_ms(r.last_heartbeat_ms, now_ms) <= r.ttl_ms;
}

}  // namespace anylb::cp
