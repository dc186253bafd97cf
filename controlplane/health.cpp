#include "health.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <spdlog/spdlog.h>
#include <system_error>

#include "probes.hpp"

namespace anylb::cp {

uint64_t monotonic_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

namespace {

// Whether two versions of a backend's check probe it the same way: then its
// health carries over, however the timing (interval, timeout, rise, fall)
// changed; tuning a check must not flap the VIP.
bool same_probe(const CheckConfig& x, uint16_t x_port, const CheckConfig& y, uint16_t y_port) {
  return x.type == y.type && probe_port(x, x_port) == probe_port(y, y_port) && x.path == y.path &&
         x.expect_status == y.expect_status && x.body == y.body && x.dns_name == y.dns_name && x.command == y.command;
}

std::chrono::steady_clock::time_point at_ms(uint64_t ms) {
  return std::chrono::steady_clock::time_point(std::chrono::milliseconds(ms));
}

}  // namespace

std::size_t probe_threads_wanted(const ControlConfig& config, std::size_t cap) {
  // In millionths of a probe, in integers: a sum of doubles rounds 40 x 0.8 up past 32.
  constexpr uint64_t kUnit = 1'000'000;
  uint64_t in_flight = 0;
  for (const ServiceConfig& s : config.services)
    if (s.check.interval_ms != 0) in_flight += s.backends.size() * (s.check.timeout_ms * kUnit / s.check.interval_ms);
  const uint64_t wanted = (in_flight + kUnit - 1) / kUnit + 1;
  return wanted >= cap ? cap : static_cast<std::size_t>(wanted);
}

HealthChecker::HealthChecker(const ControlConfig& config, std::size_t max_threads)
    : max_threads_(max_threads < 1 ? 1 : max_threads) {
  update(config);
  // Without one thread nothing is ever probed: every VIP would stay down
  // with "not checked yet" and nothing in the logs. Refuse to start instead.
  if (threads() == 0) throw std::runtime_error("health checks: cannot start a single probe thread");
}

HealthChecker::~HealthChecker() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();  // a probe in flight ends by its timeout
}

std::size_t HealthChecker::threads() const {
  std::lock_guard lock(mu_);
  return threads_.size();
}

void HealthChecker::schedule(const BackendKey& key, Target& t, uint64_t when) {
  t.health.next_probe_ms = when;
  const bool earliest = due_.empty() || when < due_.begin()->first;
  due_.emplace(when, key);
  // The thread timing the old earliest entry sleeps past this one: wake all
  // (the idle ones go back to waiting) rather than risk waking another.
  if (earliest) cv_.notify_all();
}

void HealthChecker::unschedule(const BackendKey& key, const Target& t) {
  if (!t.in_flight) due_.erase({t.health.next_probe_ms, key});
}

void HealthChecker::update(const ControlConfig& config, const std::map<std::string, std::string>& renamed) {
  std::size_t wanted = 0;
  {
    std::lock_guard lock(mu_);
    exec_user_ = config.exec_user;  // for the next probes; one in flight runs as it started
    source_ports_ = config.probe_source_ports;
    const uint64_t now = monotonic_ms();
    std::map<BackendKey, Target> next;
    for (const ServiceConfig& s : config.services) {
      const std::size_t n = s.backends.size();
      for (std::size_t i = 0; i < n; ++i) {
        const BackendKey key{s.spec.name, s.backends[i].address};
        Target& t = next[key];
        auto old = targets_.find(key);
        if (const auto r = renamed.find(s.spec.name); old == targets_.end() && r != renamed.end())
          old = targets_.find({r->second, s.backends[i].address});
        if (old != targets_.end() && same_probe(old->second.check, old->second.service_port, s.check, s.spec.port)) {
          const BackendKey was = old->first;
          t = std::move(old->second);  // keeps its generation: a probe in flight still counts
          targets_.erase(old);
          if (was != key) {  // renamed: due under its new name
            if (t.in_flight) {  // its result comes back under the old name, and is dropped
              t.in_flight = false;
              t.generation = ++generations_;
              schedule(key, t, now + s.check.interval_ms);
            } else {
              due_.erase({t.health.next_probe_ms, was});
              schedule(key, t, t.health.next_probe_ms);
            }
          }
          t.check = s.check;  // new timing, same probe
          t.service_port = s.spec.port;
          // A shorter interval takes effect now, not after the old one ran out.
          if (!t.in_flight && t.health.next_probe_ms > now + s.check.interval_ms) {
            due_.erase({t.health.next_probe_ms, key});
            schedule(key, t, now + s.check.interval_ms);
          }
          continue;
        }
        if (old != targets_.end() && old->first == key) {  // (a renamed one probed otherwise: dropped below)
          unschedule(key, old->second);
          targets_.erase(old);  // a probe in flight for it no longer counts (its generation is gone)
        }
        t.check = s.check;
        t.service_port = s.spec.port;
        t.generation = ++generations_;
        // Spread each service's probes over its interval, not all at once.
        schedule(key, t, now + s.check.interval_ms * i / n);
      }
    }
    for (const auto& [key, t] : targets_) unschedule(key, t);  // backends gone
    targets_ = std::move(next);
    wanted = probe_threads_wanted(config, max_threads_);
    if (wanted == max_threads_ && probe_threads_wanted(config, SIZE_MAX) > max_threads_)
      spdlog::warn("health checks: {} probe threads (the most) may not keep up if most backends hang until "
                   "their timeout; lengthen intervals or shorten timeouts",
                   max_threads_);
  }
  grow(wanted);
}

void HealthChecker::grow(std::size_t wanted) {
  std::lock_guard lock(mu_);
  while (threads_.size() < wanted) {
    try {
      threads_.emplace_back([this] { run(); });
    } catch (const std::system_error& e) {
      spdlog::error("health checks: cannot start probe thread {} of {}: {}", threads_.size() + 1, wanted, e.what());
      return;
    }
  }
}

std::map<BackendKey, BackendHealth> HealthChecker::snapshot() const {
  std::lock_guard lock(mu_);
  std::map<BackendKey, BackendHealth> out;
  for (const auto& [key, t] : targets_) out.emplace_hint(out.end(), key, t.health);
  return out;
}

void HealthChecker::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    const uint64_t now = monotonic_ms();
    if (!due_.empty() && due_.begin()->first <= now) {
      const auto [when, key] = *due_.begin();
      due_.erase(due_.begin());
      Target& t = targets_.at(key);
      t.in_flight = true;
      t.taken_due_ms = when;
      if (now - when > t.check.interval_ms) late_probes_.fetch_add(1, std::memory_order_relaxed);
      const CheckConfig check = t.check;
      const uint16_t port = t.service_port;
      const ExecUser as = check.type == CheckType::exec ? exec_user_ : ExecUser{};
      const uint64_t generation = t.generation;
      const PortRange ports = source_ports_;
      lock.unlock();
      cv_.notify_one();  // someone else times the next entry
      ProbeResult r;
      try {
        r = probe(check, key.second, port, key.first, &as, ports);
      } catch (const std::exception& e) {  // out of memory, a thread or a process: the probe failed, not the node
        r = {false, std::string("probe failed to run: ") + e.what()};
      }
      record(key, generation, r.ok, r.detail);
      lock.lock();
      continue;
    }
    if (timer_taken_) {
      cv_.wait(lock);
      continue;
    }
    timer_taken_ = true;
    if (due_.empty())
      cv_.wait(lock);
    else
      cv_.wait_until(lock, at_ms(due_.begin()->first));
    timer_taken_ = false;
  }
}

void HealthChecker::record(const BackendKey& key, uint64_t generation, bool ok, const std::string& detail) {
  std::lock_guard lock(mu_);
  auto it = targets_.find(key);
  if (it == targets_.end() || it->second.generation != generation) return;  // removed or re-made meanwhile
  Target& t = it->second;
  BackendHealth& h = t.health;
  if (ok) {
    ++h.successes;
    h.failures = 0;
  } else {
    ++h.failures;
    h.successes = 0;
  }
  h.checked = true;
  h.detail = detail;
  const bool flip = h.healthy ? h.failures >= t.check.fall : h.successes >= t.check.rise;
  const uint64_t now = monotonic_ms();
  if (flip) {
    h.healthy = !h.healthy;
    h.since_ms = now;
    spdlog::info("backend {} of {} is {} ({})", key.second.to_string(), key.first, h.healthy ? "up" : "down", detail);
  }
  t.in_flight = false;
  // Due one interval after the last was due; a slow probe does not make a
  // burst of catch-up probes.
  schedule(key, t, std::max(now, t.taken_due_ms + t.check.interval_ms));
}

}  // namespace anylb::cp
