#include "announcer.hpp"

#include <spdlog/spdlog.h>

namespace anylb::cp {

namespace {

// A path that withdraws `prefix` (as gobgpd names it, found in its RIB so
// well-formed): the prefix is what gobgpd matches; the next hop only fills
// the path (its family may have none configured any more).
PathSpec withdrawal_path(const std::string& prefix, bool v6) {
  const auto slash = prefix.find('/');
  return PathSpec{*IpAddress::parse(prefix.substr(0, slash)),
                  static_cast<uint32_t>(std::stoul(prefix.substr(slash + 1))),
                  *IpAddress::parse(v6 ? "::" : "0.0.0.0"),
                  {},
                  {},
                  0,
                  0};
}

bool is_v6(const std::string& prefix) { return prefix.find(':') != std::string::npos; }

}  // namespace

Announcer::Rib Announcer::read(const std::set<std::string>& ours, uint32_t asn) {
  Rib rib;
  for (bool v6 : {false, true}) {
    const auto held = gobgp_.local_paths(v6, ours, asn, rib.error);
    if (!held) {  // the adds and withdrawals go on regardless
      rib.whole = false;
      continue;
    }
    rib.held.insert(held->begin(), held->end());
    std::erase_if(sent_, [&](const auto& s) { return s.second.prefix.is_v4() != v6 && !held->count(s.first); });
    for (const auto& [p, path] : *held)
      if (!sent_.count(p)) rib.left.insert(p);
  }
  return rib;
}

bool Announcer::sync(const std::vector<PrefixDecision>& decisions, const Rib& rib, std::set<std::string>& record,
                     const std::function<void()>& write_state, std::string& error) {
  std::map<std::string, const PathSpec*> wanted;  // looked up, not scanned: 1024 services, every pass
  std::vector<const PathSpec*> to_send;
  for (const PrefixDecision& d : decisions) {
    if (!d.announce) continue;
    wanted[d.prefix] = &*d.path;
    if (const auto left = rib.held.find(d.prefix); rib.left.count(d.prefix) && left->second == *d.path) {
      sent_[d.prefix] = *d.path;  // the earlier run's path, as wanted: ours now
      record.insert(d.prefix);
      continue;
    }
    if (const PathSpec* have = holds(d.prefix); !have || !(*have == *d.path)) {
      to_send.push_back(&*d.path);
      record.insert(d.prefix);
    }
  }
  write_state();
  bool ok = true;
  std::string e;
  for (const PathSpec* p : to_send) {
    if (gobgp_.add(*p, e)) sent_[p->text()] = *p;
    else ok = false, error = e;
  }
  for (auto it = sent_.begin(); it != sent_.end();) {
    if (wanted.count(it->first)) {
      ++it;
    } else if (gobgp_.withdraw(it->second, e)) {
      record.erase(it->first);
      it = sent_.erase(it);
    } else {
      ok = false, error = e;
      ++it;
    }
  }
  // Left by an earlier run and not wanted now (the rule has decided each).
  for (const std::string& p : rib.left) {
    if (wanted.count(p) || sent_.count(p)) continue;
    if (gobgp_.withdraw(withdrawal_path(p, is_v6(p)), e)) {
      spdlog::info("withdrew {} left by an earlier run", p);
      record.erase(p);
    } else {
      ok = false, error = e;
    }
  }
  // Found gone from gobgpd: no longer ours to withdraw (known only when the
  // RIB was read whole).
  if (rib.whole) std::erase_if(record, [&](const std::string& p) { return !rib.held.count(p) && !sent_.count(p); });
  return ok;
}

bool Announcer::withdraw_all(const std::set<std::string>& ours, std::set<std::string>& record) {
  std::string error;
  bool whole = true;
  for (auto& [prefix, p] : sent_) {
    if (gobgp_.withdraw(p, error)) record.erase(prefix);
    else spdlog::warn("{}", error), whole = false;
  }
  sent_.clear();
  bool held_whole = true;
  for (const std::string& p : withdraw_held(gobgp_, ours, &held_whole)) record.erase(p);
  return whole && held_whole;
}

std::set<std::string> withdraw_held(GobgpClient& gobgp, const std::set<std::string>& ours, bool* whole) {
  std::set<std::string> withdrawn;
  std::string error;
  bool all = true;
  for (bool v6 : {false, true}) {
    const auto rib = gobgp.local_paths(v6, ours, 0, error);
    if (!rib) {
      spdlog::warn("{}", error);
      all = false;
      continue;
    }
    for (const auto& [p, path] : *rib) {
      if (gobgp.withdraw(withdrawal_path(p, v6), error)) withdrawn.insert(p);
      else spdlog::warn("{}", error), all = false;
    }
  }
  if (whole) *whole = all;
  return withdrawn;
}

}  // namespace anylb::cp
