#include "health.hpp"

#include <chrono>
#include <spdlog/spdlog.h>

#include "probes.hpp"

namespace anylb::cp {

uint64_t monotonic_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

HealthChecker::HealthChecker(const ControlConfig& config, const std::map<BackendKey, BackendHealth>& carried) {
  std::vector<Target> targets;
  for (const ServiceConfig& s : config.services) {
    const std::size_t n = s.backends.size();
    for (std::size_t i = 0; i < n; ++i) {
      // Spread each service's probes over its interval, not all at once.
      Target t{s.spec.name, s.backends[i].address, s.spec.port, s.check, s.check.interval_ms * i / n};
      auto c = carried.find({t.service, t.address});
      BackendHealth& h = state_[{t.service, t.address}];
      h = c != carried.end() ? c->second : BackendHealth{};
      if (h.next_probe_ms == 0) h.next_probe_ms = monotonic_ms() + t.offset_ms;
      targets.push_back(std::move(t));
    }
  }
  // Only once state_ is whole: the threads read it (under mu_).
  for (Target& t : targets) threads_.emplace_back([this, t = std::move(t)] { run(t); });
}

HealthChecker::~HealthChecker() { stop(); }

std::map<BackendKey, BackendHealth> HealthChecker::stop() {
  stop_ = true;
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  return snapshot();
}

std::map<BackendKey, BackendHealth> HealthChecker::snapshot() const {
  std::lock_guard lock(mu_);
  return state_;
}

void HealthChecker::run(Target t) {
  uint32_t successes = 0, failures = 0;
  uint64_t next = 0;
  {
    std::lock_guard lock(mu_);
    const BackendHealth& h = state_[{t.service, t.address}];
    successes = h.successes;
    failures = h.failures;
    // A carried-over healthy backend counts as `rise` successes already.
    if (h.healthy && successes < t.check.rise) successes = t.check.rise;
    next = h.next_probe_ms;
  }
  auto sleep_until = [&](uint64_t when) {
    while (!stop_ && monotonic_ms() < when) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  };
  while (!stop_) {
    sleep_until(next);
    if (stop_) break;
    next += t.check.interval_ms;
    const ProbeResult r = probe(t.check, t.address, t.port);
    if (r.ok) { ++successes; failures = 0; }
    else { ++failures; successes = 0; }
    if (monotonic_ms() > next) next = monotonic_ms();  // a slow probe does not make a burst of catch-up probes
    std::lock_guard lock(mu_);
    BackendHealth& h = state_[{t.service, t.address}];
    h.checked = true;
    h.failures = failures;
    h.successes = successes;
    h.next_probe_ms = next;
    h.detail = r.detail;
    const bool flip = h.healthy ? failures >= t.check.fall : successes >= t.check.rise;
    if (flip) {
      h.healthy = !h.healthy;
      h.since_ms = monotonic_ms();
      spdlog::info("backend {} of {} is {} ({})", t.address.to_string(), t.service, h.healthy ? "up" : "down", r.detail);
    }
  }
}

}  // namespace anylb::cp
