// Probes every backend on its interval from a pool of threads sized for the
// probes that can be in flight at once, and turns probe results into
// healthy/unhealthy with rise/fall. State changes are logged once.
//
// One checker lives as long as the node: a configuration change updates its
// targets in place and never waits for a probe in flight (the node's lock is
// held meanwhile, and a probe can take its whole timeout).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "config.hpp"

namespace anylb::cp {

struct BackendHealth {
  bool healthy = false;     // until `rise` probes succeed
  bool checked = false;     // at least one probe ran
  uint32_t failures = 0;    // consecutive failed probes, up to now
  uint32_t successes = 0;   // consecutive successful probes, up to now
  uint64_t next_probe_ms = 0;  // when the next probe is due (monotonic_ms)
  std::string detail = "not checked yet";
  uint64_t since_ms = 0;
};

using BackendKey = std::pair<std::string, IpAddress>;  // (service, address)

// Threads for probes that may all hang until their timeout at once: the sum
// over backends of timeout / interval, rounded up, plus one; at most `cap`.
std::size_t probe_threads_wanted(const ControlConfig& config, std::size_t cap);

class HealthChecker {
 public:
  static constexpr std::size_t kMaxThreads = 256;

  explicit HealthChecker(const ControlConfig& config, std::size_t max_threads = kMaxThreads);
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  // Backends whose service probes them as before keep their counts, their
  // next due time and the result of a probe in flight; the others start
  // over from "not checked"; backends no longer configured are dropped.
  // A renamed service's backends (new name -> old name, renamed_services)
  // keep their old name's health if probed as before.
  void update(const ControlConfig& config, const std::map<std::string, std::string>& renamed = {});
  std::map<BackendKey, BackendHealth> snapshot() const;
  std::size_t threads() const;
  // Probes started later than one interval after they were due: the pool
  // (at its cap) cannot keep up.
  uint64_t late_probes() const { return late_probes_.load(std::memory_order_relaxed); }

 private:
  struct Target {
    CheckConfig check;
    uint16_t service_port = 0;
    uint64_t generation = 0;  // a probe's result counts only for its own generation
    bool in_flight = false;   // being probed: not in due_
    uint64_t taken_due_ms = 0;  // when the probe in flight was due
    BackendHealth health;
  };
  using Due = std::pair<uint64_t, BackendKey>;  // (when, which)

  void run();
  void schedule(const BackendKey& key, Target& t, uint64_t when);
  void unschedule(const BackendKey& key, const Target& t);
  void record(const BackendKey& key, uint64_t generation, bool ok, const std::string& detail);
  void grow(std::size_t wanted);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<BackendKey, Target> targets_;
  ExecUser exec_user_;         // who exec checks run as (health.exec_user)
  std::set<Due> due_;          // every target not being probed, by due time
  uint64_t generations_ = 0;
  bool timer_taken_ = false;   // one idle thread waits for the earliest due time; the others for a notify
  bool stop_ = false;
  std::atomic<uint64_t> late_probes_{0};
  PortRange source_ports_;  // health.source_ports, as of the last update
  std::size_t max_threads_;
  std::vector<std::thread> threads_;
};

uint64_t monotonic_ms();

}  // namespace anylb::cp
