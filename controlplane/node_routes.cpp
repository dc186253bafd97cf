// The node's BGP pass: each service's route state updated from its
// backends and the dataplane, the announcement rule applied
// (announcement_rule.hpp), and gobgpd made to hold what it decided
// (announcer.hpp); plus the withdrawals at exit and at a start that fails.
// node.cpp holds the rest of the node.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "bgp_peers.hpp"
#include "node.hpp"
#include "node_helpers.hpp"

namespace anylb::cp {

// The first checks of this run are under way: for as long as every
// service's first checks take to mark its backends up (rise probes, the
// last one taking up to the timeout, and a second for the loop to see it).
bool Node::first_checks_running(uint64_t now) const {
  uint64_t first_verdict_ms = 0;
  for (const ServiceConfig& s : config_.services)
    first_verdict_ms = std::max<uint64_t>(first_verdict_ms, s.check.rise * s.check.interval_ms + s.check.timeout_ms);
  return started_ && now - *started_ < first_verdict_ms + 1000;
}

void Node::update_routes(uint64_t now, const std::map<BackendKey, BackendHealth>& health) {
  const bool first_checks = first_checks_running(now);
  for (const ServiceConfig& s : config_.services) {
    ServiceRoute& r = routes_.at(s.spec.name);
    RouteInputs in;
    in.total = static_cast<uint32_t>(s.backends.size());
    for (const BackendConfig& b : s.backends) {  // draining backends take no new flows: not counted
      in.healthy += backend_up(s.spec.name, b, health, now) && !backend_draining(s.spec.name, b);
      in.not_found_down += backend_may_serve(s, b, health, now);
    }
    in.first_checks_running = first_checks;
    in.dataplane_ok = dataplane_ok_;
    // The dataplane's own backends for it must reach the quorum too; not
    // known before its state has been read once (a route an earlier run
    // left is not withdrawn for that while the first checks run).
    const auto servable_here = dataplane_servable_.find(s.spec.name);
    in.dataplane_holds = (servable_here != dataplane_servable_.end() && servable_here->second >= r.needed(in.total)) ||
                         (first_checks && !dataplane_state_read_ && r.kept_from_earlier_run());
    in.node_draining = draining_;
    in.drain_expired = draining_ && now - drain_started_ >= config_.drain_wait_ms;
    if (!r.update(now, in)) continue;
    spdlog::info("route {} {}: {}", s.spec.vip.to_string(), r.announced() ? "announced" : "withdrawn", r.reason());
    // Remembered in the state file, so a restart keeps the hold-down, and
    // the damping penalty a withdrawal raised.
    state_dirty_ |= r.announced() ? overlay_.withdrawn_routes.erase(s.spec.name) > 0
                                  : overlay_.withdrawn_routes.insert(s.spec.name).second;
    if (const double p = r.penalty(now); !r.announced() && p > 0) {
      overlay_.damping[s.spec.name] = {p, wall_clock_ms()};
      state_dirty_ = true;
    }
  }
}

std::map<std::string, RouteView> Node::route_views() const {
  std::map<std::string, RouteView> views;
  for (const auto& [name, r] : routes_) views[name] = {r.state(), r.reason(), r.kept_from_earlier_run()};
  return views;
}

// One write a pass at most: a durable write each (two fsyncs) held up the
// withdrawals of a dead dataplane's 1024 services by seconds.
void Node::write_state() {
  if (!state_dirty_) return;
  if (persist(overlay_)) state_dirty_ = false;
  log_once(last_state_error_, state_dirty_ ? "cannot write the state file '" + base_.state_file + "'" : "");
}

void Node::sync_routes(uint64_t now, const std::map<BackendKey, BackendHealth>& health) {
  std::string error;
  // A gobgpd that does not answer (stopped, stuck) is asked again only
  // after a pause: each ask waits its deadline, and the pass must go on
  // pushing health changes to the dataplane meanwhile. It still holds what
  // we sent, so that is not forgotten (a gobgpd that refuses connections,
  // or answers, has lost it or says what it holds).
  std::optional<uint32_t> asn;
  GobgpClient::Reach reach = GobgpClient::Reach::slow;
  if (now >= gobgp_quiet_until_) asn = gobgp_.asn(error, &reach);
  else error = last_gobgp_error_;
  if (reach == GobgpClient::Reach::slow && now >= gobgp_quiet_until_) gobgp_quiet_until_ = now + kGobgpQuietMs;
  Announcer::Rib rib;
  std::vector<std::pair<std::string, std::string>> peers;
  if (asn) {
    std::string peers_error;
    std::vector<std::string> gtsm;
    peers = gobgp_.peers(peers_error, &gtsm);
    if (peers_error.empty()) {  // the next sync gives them to the dataplane
      bgp_peers_ = bgp_peer_addresses(peers);
      gtsm_peers_ = gtsm_peer_addresses(gtsm);
    }
    rib = announcer_.read(our_prefixes(config_, overlay_.announced_prefixes), *asn);
    // What an earlier run left announced is this run's to keep or withdraw:
    // taken over at the first read of gobgpd's RIB, while the first checks
    // run. Later, what this run did not send is not a route of this run
    // (after a blip of gobgpd's API everything it holds looks "left").
    if (!rib_read_ && rib.whole && first_checks_running(now))
      for (const ServiceConfig* s : services_left_announced(config_, rib.left, overlay_.withdrawn_routes))
        if (routes_.at(s->spec.name).keep_from_earlier_run())
          spdlog::info("keeping {} (service {}, left by an earlier run) while the first checks run",
                       host_prefix(s->spec.vip), s->spec.name);
    rib_read_ |= rib.whole;
  } else if (reach != GobgpClient::Reach::slow) {
    announcer_.forget();
  }
  update_routes(now, health);
  const std::map<std::string, RouteView> views = route_views();
  const std::vector<PrefixDecision> decisions =
      decide_announcements({config_, views, draining_, asn.value_or(0), rib.left});
  if (!asn) {
    write_state();
    log_once(last_gobgp_error_, error);
    return publish_status(health, now, false, {}, decisions);
  }
  const std::set<std::string> record_before = overlay_.announced_prefixes;
  std::string sync_error;
  const bool synced = announcer_.sync(decisions, rib, overlay_.announced_prefixes, [&] {
    state_dirty_ |= overlay_.announced_prefixes != record_before;
    write_state();
  }, sync_error);
  // What left the record after the write is written by the next pass.
  state_dirty_ |= overlay_.announced_prefixes != record_before;
  publish_status(health, now, true, std::move(peers), decisions);
  log_once(last_gobgp_error_, !rib.whole ? rib.error : !synced ? sync_error : "");
}

bool withdraw_paths_of(const ControlConfig& config) {
  std::set<std::string> announced;  // what an earlier run announced, if its file can be read at all
  try {
    announced = read_state_file(config.state_file).announced_prefixes;
  } catch (const std::exception& e) {
    spdlog::warn("{}: withdrawing only the configuration's prefixes", e.what());
  }
  const std::set<std::string> ours = our_prefixes(config, announced);
  GobgpClient gobgp(config.gobgp_api);
  bool whole = true;
  for (const std::string& p : withdraw_held(gobgp, ours, &whole))
    spdlog::warn("withdrew {}: no health checks run for it", p);
  return whole;
}

// Everything of ours gobgpd holds: what this run sent, and what an earlier
// run left (the state file's record, the configuration's prefixes), even
// if this run has not yet taken it over or could not read the RIB lately.
bool Node::withdraw_all() {
  std::lock_guard lock(mu_);
  const bool whole =
      announcer_.withdraw_all(our_prefixes(config_, overlay_.announced_prefixes), overlay_.announced_prefixes);
  state_dirty_ = true;
  write_state();
  return whole;
}

}  // namespace anylb::cp
