// The node's BGP side: which paths it wants in gobgpd (host routes by
// their services' announcement state, covering prefixes by policy), the
// pass that adds, keeps and withdraws them, and the withdrawals at exit
// and at a start that fails closed. node.cpp holds the rest of the node.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "bgp_peers.hpp"
#include "node.hpp"
#include "node_helpers.hpp"

namespace anylb::cp {

namespace {

// RFC 8326: peers lower our preference, so traffic moves before the withdrawal.
void graceful(PathSpec& p) {
  constexpr uint32_t kGracefulShutdown = 0xFFFF0000;
  p.communities.push_back(kGracefulShutdown);
  p.prepend += 1;
}

}  // namespace

std::vector<PathSpec> Node::wanted_paths(uint32_t asn) const {
  std::vector<PathSpec> out;
  auto path = [&](const IpAddress& prefix, uint32_t len, const std::vector<uint32_t>& communities,
                  std::optional<uint32_t> med, uint32_t prepend) {
    const std::optional<IpAddress>& nh = prefix.is_v4() ? config_.next_hop_v4 : config_.next_hop_v6;
    return PathSpec{prefix, len, *nh, communities, med, prepend, asn};
  };
  std::map<std::string, bool> announced;
  // Services sharing a VIP share its host route: announced while all, or
  // any, of them are (ServiceConfig::vip_policy, the VIP's first service's),
  // with the announced ones' communities together and the first announced
  // one's MED and prepend.
  struct SharedVip {
    CoverPolicy policy;
    std::vector<bool> states;
    std::optional<PathSpec> path;
  };
  std::map<IpAddress, SharedVip> by_vip;
  for (const ServiceConfig& s : config_.services) {
    const ServiceRoute& r = routes_.at(s.spec.name);
    announced[s.spec.name] = r.announced();
    SharedVip& v = by_vip.try_emplace(s.spec.vip, SharedVip{s.vip_policy, {}, std::nullopt}).first->second;
    v.states.push_back(r.announced());
    if (!r.announced()) continue;
    if (!v.path) {
      v.path = path(s.spec.vip, s.spec.vip.is_v4() ? 32 : 128, s.communities, s.med, s.prepend);
      if (r.state() == Announcement::draining) graceful(*v.path);
      continue;
    }
    for (uint32_t c : s.communities)
      if (std::find(v.path->communities.begin(), v.path->communities.end(), c) == v.path->communities.end())
        v.path->communities.push_back(c);
  }
  for (const auto& [vip, v] : by_vip)
    if (v.path && covering_announced(v.policy, v.states)) out.push_back(*v.path);
  for (const CoverConfig& c : config_.covers) {
    std::vector<bool> states;
    for (const std::string& n : c.services) states.push_back(announced[n]);
    if (!covering_announced(c.policy, states)) continue;
    PathSpec p = path(c.address, c.length, c.communities, c.med, c.prepend);
    if (draining_) graceful(p);
    out.push_back(p);
  }
  return out;
}

// A path left by an earlier run is kept while its services may still be
// found fine: for as long as every service's first checks take to mark its
// backends up (rise probes, the last one taking up to the timeout, and a
// second for the loop to see it), and only while the dataplane forwards
// (checked before the first sync) and the checks have not ruled out enough
// backends for the prefix (may_serve_, by its VIP's or cover's policy).
bool Node::keeps_left_path(uint64_t now, const std::string& prefix) const {
  const auto may_serve = [&](const std::string& service) {
    const auto it = may_serve_.find(service);  // none yet for a service added since the last pass
    return it != may_serve_.end() && it->second;
  };
  if (!dataplane_ok_) return false;  // nothing would carry the traffic the path draws
  uint64_t first_verdict_ms = 0;
  for (const ServiceConfig& s : config_.services)
    first_verdict_ms = std::max<uint64_t>(first_verdict_ms, s.check.rise * s.check.interval_ms + s.check.timeout_ms);
  if (!started_ || now - *started_ >= first_verdict_ms + 1000) return false;
  std::vector<bool> states;
  CoverPolicy policy = CoverPolicy::all;
  for (const ServiceConfig& s : config_.services) {
    if (host_prefix(s.spec.vip) != prefix) continue;
    if (states.empty()) policy = s.vip_policy;  // the VIP's first service's, as wanted_paths
    states.push_back(may_serve(s.spec.name));
  }
  for (const CoverConfig& c : config_.covers) {
    if (!states.empty() || cover_prefix(c) != prefix) continue;
    policy = c.policy;
    for (const std::string& n : c.services) states.push_back(may_serve(n));
  }
  if (states.empty()) return false;  // no longer configured: nothing to keep it for
  return covering_announced(policy, states);
}

void Node::sync_routes(uint64_t now, const std::map<BackendKey, BackendHealth>& health) {
  // The state file is written once a pass, after the routes' changes: a
  // durable write each (two fsyncs) held up the withdrawals of a dead
  // dataplane's 1024 services by seconds.
  bool routes_changed = false;
  for (const ServiceConfig& s : config_.services) {
    RouteInputs in;
    in.total = static_cast<uint32_t>(s.backends.size());
    for (const BackendConfig& b : s.backends)  // draining backends take no new flows: not counted
      in.healthy += backend_up(s.spec.name, b, health, now) && !backend_draining(s.spec.name, b);
    in.dataplane_ok = dataplane_ok_;
    // The dataplane's own backends for it must reach the quorum too.
    const auto servable_here = dataplane_servable_.find(s.spec.name);
    in.dataplane_holds = servable_here != dataplane_servable_.end() &&
                         servable_here->second >= routes_.at(s.spec.name).needed(in.total);
    in.node_draining = draining_;
    in.drain_expired = draining_ && now - drain_started_ >= config_.drain_wait_ms;
    ServiceRoute& r = routes_.at(s.spec.name);
    uint32_t possible = 0;
    for (const BackendConfig& b : s.backends) possible += backend_may_serve(s, b, health, now);
    may_serve_[s.spec.name] = possible >= r.needed(in.total);
    if (!r.update(now, in)) continue;
    spdlog::info("route {} {}: {}", s.spec.vip.to_string(), r.announced() ? "announced" : "withdrawn", r.reason());
    // Remembered in the state file, so a restart keeps the hold-down, and
    // the damping penalty a withdrawal raised.
    routes_changed |= r.announced() ? overlay_.withdrawn_routes.erase(s.spec.name) > 0
                                    : overlay_.withdrawn_routes.insert(s.spec.name).second;
    if (const double p = r.penalty(now); !r.announced() && p > 0) overlay_.damping[s.spec.name] = {p, wall_clock_ms()};
  }
  if (routes_changed && !persist(overlay_)) spdlog::warn("cannot write the state file '{}'", base_.state_file);

  std::string error;
  const auto asn = gobgp_.asn(error);
  if (!asn) {
    sent_.clear();  // gobgpd down or restarting: it will need everything again
    publish_status(health, now, false, {});
    return log_once(last_gobgp_error_, error);
  }
  std::string peers_error;
  const auto peers = gobgp_.peers(peers_error);
  if (peers_error.empty()) bgp_peers_ = bgp_peer_addresses(peers);  // the next sync gives them to the dataplane
  const std::vector<PathSpec> wanted = wanted_paths(*asn);
  std::set<std::string> wanted_texts;  // looked up, not scanned: 1024 services, every pass
  for (const PathSpec& w : wanted) wanted_texts.insert(w.text());
  // What gobgpd holds now: a path we sent but it lost (restart) is sent again;
  // one of our prefixes it holds but we do not want (left by an earlier run)
  // is withdrawn.
  const std::set<std::string> ours = our_prefixes(config_, overlay_.announced_prefixes);
  const std::set<std::string> announced_before = overlay_.announced_prefixes;
  std::set<std::string> kept;
  std::set<std::string> in_rib;  // both families, as this pass found them
  bool rib_read = true;
  std::string rib_error;
  for (bool v6 : {false, true}) {
    const auto rib = gobgp_.local_prefixes(v6, ours, rib_error);
    if (!rib) {  // the adds and withdrawals below go on regardless
      rib_read = false;
      continue;
    }
    in_rib.insert(rib->begin(), rib->end());
    for (auto it = sent_.begin(); it != sent_.end();) {
      if (it->second.prefix.is_v4() != v6 && !rib->count(it->first)) it = sent_.erase(it);
      else ++it;
    }
    for (const std::string& p : *rib) {
      if (!ours.count(p) || sent_.count(p) || wanted_texts.count(p)) continue;
      if (keeps_left_path(now, p)) {
        if (!kept_.count(p)) spdlog::info("keeping {} (left by an earlier run) while the first checks run", p);
        kept.insert(p);
        continue;
      }
      if (gobgp_.withdraw(withdrawal_of(p, v6, *asn), error)) {
        spdlog::info("withdrew {} left by an earlier run", p);
        overlay_.announced_prefixes.erase(p);
      }
    }
  }
  if (rib_read) kept_ = std::move(kept);
  publish_status(health, now, true, peers);  // after kept_: its routes say what BGP has
  bool failed = false;
  std::vector<const PathSpec*> to_send;
  for (const PathSpec& w : wanted)
    if (auto it = sent_.find(w.text()); it == sent_.end() || !(it->second == w)) to_send.push_back(&w);
  // Recorded before they are sent (one write for all): a crash in between
  // leaves a record of a path gobgpd may not hold, which costs nothing; the
  // other way round could leave a path no run knows as its own.
  bool recorded = false;
  for (const PathSpec* w : to_send) recorded |= overlay_.announced_prefixes.insert(w->text()).second;
  if (recorded && !persist(overlay_)) spdlog::warn("cannot write the state file '{}'", base_.state_file);
  const std::set<std::string> persisted = recorded ? overlay_.announced_prefixes : announced_before;
  for (const PathSpec* w : to_send) {
    if (gobgp_.add(*w, error)) sent_[w->text()] = *w;
    else failed = true;
  }
  for (auto it = sent_.begin(); it != sent_.end();) {
    if (wanted_texts.count(it->first)) { ++it; continue; }
    if (gobgp_.withdraw(it->second, error)) {
      overlay_.announced_prefixes.erase(it->first);
      it = sent_.erase(it);
    } else {
      failed = true;
      ++it;
    }
  }
  // Withdrawn, or left by an earlier run and found gone from gobgpd: no
  // longer ours to withdraw (known only when the RIB was read whole).
  if (rib_read)
    std::erase_if(overlay_.announced_prefixes,
                  [&](const std::string& p) { return !in_rib.count(p) && !sent_.count(p); });
  if (overlay_.announced_prefixes != persisted && !persist(overlay_))
    spdlog::warn("cannot write the state file '{}'", base_.state_file);
  log_once(last_gobgp_error_, !rib_read ? rib_error : failed ? error : "");
}

void withdraw_paths_of(const ControlConfig& config) {
  std::set<std::string> announced;  // what an earlier run announced, if its file can be read at all
  try {
    announced = read_state_file(config.state_file).announced_prefixes;
  } catch (const std::exception& e) {
    spdlog::warn("{}: withdrawing only the configuration's prefixes", e.what());
  }
  const std::set<std::string> ours = our_prefixes(config, announced);
  GobgpClient gobgp(config.gobgp_api);
  for (const std::string& p : withdraw_held(gobgp, ours)) spdlog::warn("withdrew {}: no health checks run for it", p);
}

namespace {

// A path that withdraws `prefix` (as gobgpd names it, found in its RIB so
// well-formed): the prefix is what counts; the next hop only fills the path
// (its family may have none configured any more).
PathSpec withdrawal_path(const std::string& prefix, bool v6, const std::optional<IpAddress>& next_hop, uint32_t asn) {
  const auto slash = prefix.find('/');
  const IpAddress unspecified = *IpAddress::parse(v6 ? "::" : "0.0.0.0");
  return PathSpec{*IpAddress::parse(prefix.substr(0, slash)),
                  static_cast<uint32_t>(std::stoul(prefix.substr(slash + 1))), next_hop.value_or(unspecified), {}, {},
                  0, asn};
}

}  // namespace

std::set<std::string> withdraw_held(GobgpClient& gobgp, const std::set<std::string>& ours) {
  std::set<std::string> withdrawn;
  std::string error;
  for (bool v6 : {false, true}) {
    const auto rib = gobgp.local_prefixes(v6, ours, error);
    if (!rib) {
      spdlog::warn("{}", error);
      continue;
    }
    for (const std::string& p : *rib) {
      if (gobgp.withdraw(withdrawal_path(p, v6, std::nullopt, 0), error)) withdrawn.insert(p);
      else spdlog::warn("{}", error);
    }
  }
  return withdrawn;
}

PathSpec Node::withdrawal_of(const std::string& prefix, bool v6, uint32_t asn) const {
  return withdrawal_path(prefix, v6, v6 ? config_.next_hop_v6 : config_.next_hop_v4, asn);
}

// Everything of ours gobgpd holds: what this run sent, and what an earlier
// run left (the state file's record, the configuration's prefixes), even
// if this run has not yet taken it over or could not read the RIB lately.
void Node::withdraw_all() {
  std::lock_guard lock(mu_);
  std::string error;
  for (auto& [prefix, p] : sent_)
    if (!gobgp_.withdraw(p, error)) spdlog::warn("{}", error);
  sent_.clear();
  for (const std::string& p : withdraw_held(gobgp_, our_prefixes(config_, overlay_.announced_prefixes))) overlay_.announced_prefixes.erase(p);
  if (!persist(overlay_)) spdlog::warn("cannot write the state file '{}'", base_.state_file);
}

}  // namespace anylb::cp
