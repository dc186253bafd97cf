// What node.cpp and node_routes.cpp both use: prefixes named as gobgpd
// names them, which prefixes are the node's own, the state file read, and
// a log that reports a failure once.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <set>
#include <string>

#include "config.hpp"
#include "overlay.hpp"

namespace anylb::cp {

// A VIP's host route as gobgpd and the status name it: "203.0.113.10/32".
inline std::string host_prefix(const IpAddress& vip) { return vip.to_string() + (vip.is_v4() ? "/32" : "/128"); }

// A covering prefix as gobgpd names it: "203.0.113.0/24".
inline std::string cover_prefix(const CoverConfig& c) { return c.address.to_string() + "/" + std::to_string(c.length); }

// Ours to add or withdraw: what the configuration names, and what an earlier
// run announced (the state file's record; its service may be gone).
inline std::set<std::string> our_prefixes(const ControlConfig& c, const std::set<std::string>& announced) {
  std::set<std::string> ours = announced;
  for (const ServiceConfig& s : c.services) ours.insert(host_prefix(s.spec.vip));
  for (const CoverConfig& cv : c.covers) ours.insert(cover_prefix(cv));
  return ours;
}

// The overlay a state file holds (none if `path` is empty or absent); an
// error names the file.
Overlay read_state_file(const std::string& path);

// Unix time in ms: what outlives a restart (the damping penalty's date).
inline uint64_t wall_clock_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

// Logs a failure once, not on every pass while it lasts.
inline void log_once(std::string& last, const std::string& now) {
  if (now != last && !now.empty()) spdlog::warn("{}", now);
  if (now.empty() && !last.empty()) spdlog::info("recovered: {}", last);
  last = now;
}

}  // namespace anylb::cp
