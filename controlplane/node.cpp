#include "node.hpp"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "api_channel.hpp"
#include "node_helpers.hpp"
#include "atomic_file.hpp"
#include "registration.hpp"
#include "state_file.hpp"

namespace anylb::cp {

namespace dp = ::anylb::dataplane::v1;

Overlay read_state_file(const std::string& path) {
  if (path.empty() || !std::filesystem::exists(path)) return {};
  std::ifstream f(path);
  std::stringstream text;
  text << f.rdbuf();
  try {
    return Overlay::from_json(text.str());
  } catch (const std::exception& e) {
    throw std::runtime_error("state file '" + path + "' (state_file): " + e.what());
  }
}

namespace {

// The state file at start: its directory made now (e.g. /var/lib/anylb on
// a fresh node), or the first API change would be refused for want of it.
Overlay read_overlay(const std::string& path) {
  if (path.empty()) return {};
  std::error_code ec;
  if (const auto dir = std::filesystem::path(path).parent_path(); !dir.empty())
    std::filesystem::create_directories(dir, ec);
  // What a run killed mid-write left (we hold the node's instance lock: no
  // other control plane writes here).
  if (const std::size_t n = remove_leftover_temporaries(path); n != 0)
    spdlog::info("removed {} temporary cop{} of {} a killed run left", n, n == 1 ? "y" : "ies", path);
  Overlay o = read_state_file(path);
  const uint64_t now = monotonic_ms();
  for (auto& [id, r] : o.registrations) {
    r.last_heartbeat_ms = now;  // a restart grants each registration a fresh TTL
    if (r.deregistered_ms) r.deregistered_ms = now;
  }
  spdlog::info("restored {} API change(s) from {}", o.admin.size() + o.weights.size() + o.added_services.size() +
                   o.deleted_services.size() + o.added_backends.size() + o.deleted_backends.size() + o.registrations.size(),
               path);
  return o;
}

}  // namespace

Node::Node(ControlConfig config)
    : health_(std::make_unique<HealthChecker>(ControlConfig{})),  // its targets come with the commit below
      dataplane_(dp::Dataplane::NewStub(
          api_channel("unix:" + config.dataplane_socket))),
      gobgp_(config.gobgp_api) {
  const std::string state_file = config.state_file;
  Overlay overlay = read_overlay(state_file);
  // Without what the YAML now has itself: the file's copy stands, and the
  // state file is written back without the API's.
  const bool dropped = drop_overlay_duplicates(config, overlay);
  if (dropped) spdlog::info("API changes now in the configuration file dropped from {}", state_file);
  // The YAML was checked alone; with the API changes it must hold too, or
  // the dataplane would refuse what we push and VIPs go out unserved.
  if (ChangeError e = commit(std::move(config), std::move(overlay), {}, dropped); e.kind != ChangeError::none)
    throw std::runtime_error("with the API changes kept in '" + state_file + "' (state_file): " + e.message);
  // Drained before the restart: still drained, its wait over (step() dates it).
  draining_ = overlay_.node_draining;
  if (draining_) spdlog::info("node drained (state file): VIPs stay withdrawn until `anylbctl node undrain`");
}

// A service's route state from scratch: withdrawn before (the state file
// says so) means a hold-down first, as after a withdrawal of this run, and
// the damping penalty it had, decayed over the time since (wall clock: the
// monotonic one starts again; a clock set back decays nothing).
ServiceRoute Node::new_route(const ServiceConfig& s) const {
  ServiceRoute r(s.quorum, s.hold_down_ms);
  if (overlay_.withdrawn_routes.count(s.spec.name)) r.remember_withdrawal();
  if (const auto d = overlay_.damping.find(s.spec.name); d != overlay_.damping.end()) {
    const uint64_t wall = wall_clock_ms();
    r.restore_penalty(decayed_penalty(d->second.penalty, wall > d->second.at_unix_ms ? wall - d->second.at_unix_ms : 0),
                      monotonic_ms());
  }
  return r;
}

Node::~Node() = default;

void Node::reload(ControlConfig next) {
  std::lock_guard lock(mu_);
  // Connections and listeners made once at start: a new value takes effect
  // at the next restart. Keep the one in use, and say so (the logs named
  // the new value while the old one was used).
  const auto keep = [](const char* key, std::string& wanted, const std::string& running) {
    if (wanted == running) return;
    spdlog::warn("reload: {} changed to '{}': takes effect at the next restart; still using '{}'", key, wanted,
                 running);
    wanted = running;
  };
  keep("node.dataplane_socket", next.dataplane_socket, base_.dataplane_socket);
  keep("gobgp.api", next.gobgp_api, base_.gobgp_api);
  keep("api.socket", next.api_socket, base_.api_socket);
  keep("api.tcp", next.api_tcp, base_.api_tcp);
  keep("metrics.listen", next.metrics_listen, base_.metrics_listen);
  keep("node.state_file", next.state_file, base_.state_file);
  if (next.orphan_timeout_ms != base_.orphan_timeout_ms) {  // the guard was forked with the old one
    spdlog::warn("reload: node.orphan_timeout changed: takes effect at the next restart");
    next.orphan_timeout_ms = base_.orphan_timeout_ms;
  }
  // Checked with the API changes before anything is taken: a refused file
  // must leave the running YAML in place, or every later change would be
  // merged with the refused one (and refused too).
  Overlay overlay = overlay_;
  const std::map<std::string, std::string> renamed = renamed_services(base_.services, next.services);
  overlay.rename_services(renamed);
  const bool dropped = drop_overlay_duplicates(next, overlay);
  if (ChangeError e = commit(std::move(next), std::move(overlay), renamed, dropped || !renamed.empty(), true);
      e.kind != ChangeError::none)
    return spdlog::error("reload refused: with the API changes kept in {}, {}", base_.state_file, e.message);
  for (const auto& [to, from] : renamed)
    spdlog::info("reload: service {} renamed {}: its backends' health, its route and its API changes carry over",
                 from, to);
  if (dropped) spdlog::info("reload: API changes now in the configuration file dropped from {}", base_.state_file);
  spdlog::info("configuration reloaded: {} service(s)", config_.services.size());
}

ChangeError Node::change(const std::function<ChangeError(Overlay&, const ControlConfig& merged)>& fn) {
  std::lock_guard lock(mu_);
  Overlay next = overlay_;
  ChangeError e = fn(next, config_);
  if (e.kind != ChangeError::none) return e;
  return commit(base_, std::move(next), {}, true, true);
}

ChangeError Node::commit(ControlConfig base, Overlay overlay, const std::map<std::string, std::string>& renamed,
                         bool overlay_changed, bool ask_dataplane) {
  ControlConfig merged = merge(base, overlay);
  if (std::string err = validate_merged(merged); !err.empty()) return {ChangeError::invalid, err};
  if (ask_dataplane)
    if (std::string err = dataplane_refuses(merged); !err.empty()) return {ChangeError::invalid, err};
  // Persisted before it runs: what runs is always what a restart restores.
  if (overlay_changed) {
    if (!persist(overlay)) return {ChangeError::internal, "cannot write the state file '" + base.state_file + "'"};
    state_dirty_ = false;  // the file now holds the route records too
  }
  overlay_ = std::move(overlay);
  base_ = std::move(base);
  apply(std::move(merged), renamed);
  return {};
}

ChangeError Node::heartbeat(const std::string& registration_id, const Caller& caller) {
  std::lock_guard lock(mu_);
  Registration* r = own_registration(overlay_, caller, registration_id);
  if (!r) return not_registered(registration_id);
  r->last_heartbeat_ms = monotonic_ms();
  return {};
}

std::vector<Node::RegistrationView> Node::registrations(const Caller& caller, const std::string& service) {
  std::lock_guard lock(mu_);
  const uint64_t now = monotonic_ms();
  std::vector<RegistrationView> out;
  for (auto& [id, r] : visible_registrations(overlay_, caller, service))
    out.push_back({id, r, registration_alive(r, now), elapsed_ms(r.last_heartbeat_ms, now)});
  return out;
}

// Writes the overlay whole (temp file + rename): a crash never leaves half a file.
bool Node::persist(const Overlay& overlay) const {
  // Durable (fsync of file and directory): after a power cut, an empty file
  // would keep the node from starting.
  return base_.state_file.empty() || write_file_atomically(base_.state_file, overlay.to_json(), true);
}

void Node::apply(ControlConfig next, const std::map<std::string, std::string>& renamed) {
  // Unchanged services keep their health and their route state: a change
  // flaps nothing it does not touch. A renamed one keeps its old name's.
  std::map<std::string, ServiceRoute> routes;
  for (const ServiceConfig& s : next.services) {
    const auto r = renamed.find(s.spec.name);
    const std::string& was = r == renamed.end() ? s.spec.name : r->second;
    const ServiceConfig* old = nullptr;
    for (const ServiceConfig& o : config_.services)
      if (o.spec.name == was) old = &o;
    // The same VIP keeps its route state, whatever its quorum or hold-down
    // became: a withdrawal it causes is logged and held down as any other.
    if (old && old->spec.vip == s.spec.vip) {
      routes.emplace(s.spec.name, routes_.at(was)).first->second.retune(s.quorum, s.hold_down_ms);
      continue;
    }
    if (old) state_dirty_ |= overlay_.damping.erase(s.spec.name) > 0;  // another VIP: the old one's flapping is not its own
    routes.emplace(s.spec.name, new_route(s));
  }
  health_->update(next, renamed);  // backends probed as before keep their health; it never waits for a probe
  config_ = std::move(next);
  routes_ = std::move(routes);
  // Gone services: what the state file kept for their routes goes too
  // (written by the next pass: commit persisted the overlay before this).
  state_dirty_ |= std::erase_if(overlay_.withdrawn_routes, [&](const std::string& n) { return !routes_.count(n); }) > 0;
  state_dirty_ |= std::erase_if(overlay_.damping, [&](const auto& d) { return !routes_.count(d.first); }) > 0;
  index_registrations();
}

void Node::index_registrations() {
  registration_index_.clear();
  for (const auto& [id, r] : overlay_.registrations) registration_index_[{r.service, r.backend.address}].push_back(id);
}

bool Node::backend_draining(const std::string& service, const BackendConfig& b) const {
  if (auto a = overlay_.admin.find({service, b.address}); a != overlay_.admin.end() && a->second == AdminState::draining)
    return true;
  return any_registration(service, b.address, [](const Registration& r) { return r.deregistered_ms.has_value(); });
}

// Not disabled, and (if it registered itself) heartbeating.
bool Node::backend_allowed(const std::string& service, const BackendConfig& b, uint64_t now) const {
  if (auto a = overlay_.admin.find({service, b.address}); a != overlay_.admin.end() && a->second == AdminState::disabled)
    return false;
  return !any_registration(service, b.address, [&](const Registration& r) { return !registration_alive(r, now); });
}

// Healthy and allowed.
bool Node::backend_up(const std::string& service, const BackendConfig& b,
                      const std::map<BackendKey, BackendHealth>& health, uint64_t now) const {
  const auto h = health.find({service, b.address});
  return h != health.end() && h->second.healthy && backend_allowed(service, b, now);
}

// Up, or allowed and not yet found down by its checks (`fall` failures in
// a row before it ever came up): what may take new flows once the first
// checks are done.
bool Node::backend_may_serve(const ServiceConfig& s, const BackendConfig& b,
                             const std::map<BackendKey, BackendHealth>& health, uint64_t now) const {
  if (backend_draining(s.spec.name, b) || !backend_allowed(s.spec.name, b, now)) return false;
  const auto h = health.find({s.spec.name, b.address});
  return h == health.end() || h->second.healthy || h->second.failures < s.check.fall;
}

// Allowed, and its checks in this run have not yet decided it: never
// flipped, fewer than `fall` failures. Such a backend keeps what the
// dataplane has for it, so a restart (or upgrade) of the control plane,
// whose checks start from "not checked", does not take the backends the
// dataplane serves from down while the restart grace keeps the VIP
// announced: that would black-hole the VIP for `rise` probes.
bool Node::inherits_up(const ServiceConfig& s, const BackendConfig& b,
                       const std::map<BackendKey, BackendHealth>& health, uint64_t now) const {
  if (!backend_allowed(s.spec.name, b, now)) return false;
  const auto h = health.find({s.spec.name, b.address});
  return h == health.end() || (!h->second.healthy && h->second.since_ms == 0 && h->second.failures < s.check.fall);
}

// RSerPool: a deregistered backend is drained for the node's drain wait,
// then removed; one whose heartbeats stopped is down, and removed once they
// have been missing for its TTL and the drain wait again (it may register
// anew, e.g. restarted with its id lost, and replace its registration).
void Node::expire_registrations(uint64_t now) {
  Overlay next = overlay_;
  std::vector<std::string> removed;
  for (auto it = next.registrations.begin(); it != next.registrations.end();) {
    const Registration& r = it->second;
    const char* why = nullptr;
    if (r.deregistered_ms && elapsed_ms(*r.deregistered_ms, now) >= config_.drain_wait_ms)
      why = "after draining";
    else if (!r.deregistered_ms && elapsed_ms(r.last_heartbeat_ms, now) > r.ttl_ms + config_.drain_wait_ms)
      why = "its heartbeats missing";
    if (why) {
      removed.push_back("registration " + it->first + " (" + r.backend.address.to_string() + " in " + r.service +
                        ") removed, " + why);
      // What an operator set for it (admin state, weight) stays: it holds
      // for the backend when it registers again (a registration never
      // overrides an operator); `backend del` forgets it.
      it = next.registrations.erase(it);
    } else {
      ++it;
    }
  }
  if (removed.empty()) return;
  // Refused (the state file unwritable, say): the registrations stay, in
  // what runs and in the file alike, and the next pass tries again.
  if (ChangeError e = commit(base_, std::move(next), {}, true); e.kind != ChangeError::none)
    return log_once(last_expiry_error_, "registrations expired, but kept: " + e.message);
  log_once(last_expiry_error_, "");
  for (const std::string& line : removed) spdlog::info("{}", line);
}

void Node::drain(bool on) { drain_request_ = on ? 1 : 0; }

std::set<std::string> Node::owned_prefixes() {
  std::lock_guard lock(mu_);
  return our_prefixes(config_, overlay_.announced_prefixes);
}

NodeStatus Node::status() const {
  std::lock_guard lock(status_mu_);
  return status_;
}

void Node::step(uint64_t now) {
  std::lock_guard lock(mu_);
  if (!started_) {
    started_ = now;
    if (draining_) drain_started_ = now - config_.drain_wait_ms;  // drained before the restart: wait over
  }
  expire_registrations(now);
  const auto health = health_->snapshot();
  if (const int req = drain_request_.exchange(-1); req != -1 && (req == 1) != draining_) {
    draining_ = req == 1;
    drain_started_ = now;
    overlay_.node_draining = draining_;
    state_dirty_ = true;  // written by this pass's sync_routes
    spdlog::info("node {}", draining_ ? "draining: graceful-shutdown announcements, then withdrawal"
                                      : "undrained: announcements restored");
  }
  if (now >= next_dataplane_check_) {
    // Down after kDataplaneFall failed checks in a row or kDataplaneGraceMs
    // of failing, whichever comes first; up after one good check: one slow
    // answer or a worker stalled for a moment (the check watches 20 ms) must
    // not withdraw every VIP and hold them down.
    const bool was = dataplane_ok_;
    const bool alive = dataplane_alive();
    const uint64_t checked = monotonic_ms();  // a check that timed out took its deadline
    if (alive) dataplane_failures_ = 0;
    else if (dataplane_failures_++ == 0) dataplane_failing_since_ = checked;
    dataplane_ok_ = alive || (was && dataplane_failures_ < kDataplaneFall &&
                              checked - dataplane_failing_since_ < kDataplaneGraceMs);
    if (was != dataplane_ok_) spdlog::info("dataplane {}", dataplane_ok_ ? "forwarding" : "NOT forwarding: withdrawing every VIP");
    next_dataplane_check_ = now + kDataplaneCheckMs;
  }
  // Not while a check has failed: its calls would wait their deadlines too
  // (seconds a pass), and delay the withdrawal the failures lead to.
  if (dataplane_ok_ && dataplane_failures_ == 0) sync_dataplane(health, now);
  sync_routes(now, health);
}

void Node::publish_status(const std::map<BackendKey, BackendHealth>& health, uint64_t now, bool gobgp_ok,
                          std::vector<std::pair<std::string, std::string>> peers,
                          const std::vector<PrefixDecision>& decisions) {
  NodeStatus st;
  st.name = config_.node_name;
  st.draining = draining_;
  st.dataplane_ok = dataplane_ok_;
  st.dataplane_problem = last_dataplane_error_;
  st.refused = refused_;
  st.dataplane_generation = dataplane_generation_;
  st.gobgp_ok = gobgp_ok;
  st.gobgp_problem = gobgp_ok ? "" : last_gobgp_error_;
  st.probe_threads = health_->threads();
  st.late_probes = health_->late_probes();
  st.peers = std::move(peers);
  st.addresses = config_.node_addresses;
  // A route's line shows what gobgpd holds from us, and the rule's reason;
  // where the two differ (gobgpd down, a refused add or withdrawal), why.
  std::map<std::string, const PrefixDecision*> by_prefix;
  for (const PrefixDecision& d : decisions) by_prefix[d.prefix] = &d;
  const auto route_line = [&](RouteStatus& rs, const PrefixDecision& d, const std::string& reason) {
    const PathSpec* held = announcer_.holds(d.prefix);
    rs.announced = held != nullptr;
    rs.draining = held && d.graceful;
    rs.reason = reason;
    if (d.announce && !held && gobgp_ok) rs.reason += "; not in gobgpd yet (see the log)";
    if (!d.announce && held) rs.reason += "; gobgpd still holds it (withdrawal refused, see the log)";
  };
  for (const ServiceConfig& s : config_.services) {
    const ServiceRoute& r = routes_.at(s.spec.name);
    RouteStatus rs;
    rs.prefix = host_prefix(s.spec.vip);
    rs.service = s.spec.name;
    const PrefixDecision& d = *by_prefix.at(rs.prefix);
    route_line(rs, d, d.service_reasons.at(s.spec.name));
    if (const auto refused = refused_.find(s.spec.name); refused != refused_.end())
      rs.reason += "; " + refused->second;
    rs.total = static_cast<uint32_t>(s.backends.size());
    rs.quorum = r.needed(rs.total);
    rs.hold_down_remaining_ms = r.hold_down_remaining(now);
    for (uint32_t c : s.communities) rs.communities.push_back(community_name(c));
    for (const BackendConfig& b : s.backends) {
      const auto h = health.find({s.spec.name, b.address});
      BackendStatus bs;
      bs.service = s.spec.name;
      bs.address = b.address;
      bs.health = h != health.end() ? h->second : BackendHealth{};
      bs.up = backend_up(s.spec.name, b, health, now) || inherited_.count({s.spec.name, b.address});
      rs.healthy += bs.up && !backend_draining(s.spec.name, b);
      const auto a = overlay_.admin.find({s.spec.name, b.address});
      bs.admin = backend_draining(s.spec.name, b) ? AdminState::draining
                 : a != overlay_.admin.end()      ? a->second
                                                  : AdminState::enabled;
      bs.weight = b.weight;
      bs.mac = b.mac;
      bs.registered = any_registration(s.spec.name, b.address, [](const Registration&) { return true; });
      st.backends.push_back(bs);
    }
    st.services.push_back(s.spec);
    if (s.registration) st.registration_rules[s.spec.name] = *s.registration;
    st.routes.push_back(rs);
  }
  for (const CoverConfig& c : config_.covers) {
    RouteStatus rs;
    rs.prefix = cover_prefix(c);  // as gobgpd names it
    const PrefixDecision& d = *by_prefix.at(rs.prefix);
    route_line(rs, d, d.reason);
    for (uint32_t cm : c.communities) rs.communities.push_back(community_name(cm));
    st.routes.push_back(rs);
  }
  std::lock_guard lock(status_mu_);
  status_ = std::move(st);
}

}  // namespace anylb::cp
