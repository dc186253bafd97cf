// Runs every backend's health check on its own thread, spread over the
// interval, and turns probe results into healthy/unhealthy with rise/fall.
// State changes are logged once.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config.hpp"

namespace anylb::cp {

struct BackendHealth {
  bool healthy = false;     // until `rise` probes succeed
  bool checked = false;     // at least one probe ran
  uint32_t failures = 0;    // consecutive failed probes, up to now
  uint32_t successes = 0;   // consecutive successful probes, up to now
  // When the next probe is due (monotonic_ms; 0: none yet). With the two
  // counts above it carries a backend's checks over a rebuilt checker: an
  // API change or a heartbeat rebuilds it, and must not restart the count
  // to `fall` or push the next probe back by the spreading offset.
  uint64_t next_probe_ms = 0;
  std::string detail = "not checked yet";
  uint64_t since_ms = 0;
};

using BackendKey = std::pair<std::string, IpAddress>;  // (service, address)

class HealthChecker {
 public:
  // `carried` seeds backends whose service and check did not change (a
  // reload must not make healthy backends start over from "not checked",
  // nor a failing one from no failures).
  explicit HealthChecker(const ControlConfig& config, const std::map<BackendKey, BackendHealth>& carried = {});
  ~HealthChecker();
  std::map<BackendKey, BackendHealth> snapshot() const;
  // Stops every probe, letting one in flight finish, and returns what was
  // found, that probe's result included: what a rebuilt checker carries.
  // (A snapshot taken before stopping lost a slow probe's result at every
  // rebuild, so a backend that hangs until the timeout never fell.)
  std::map<BackendKey, BackendHealth> stop();

 private:
  struct Target {
    std::string service;
    IpAddress address;
    uint16_t port;
    CheckConfig check;
    uint64_t offset_ms;
  };
  void run(Target t);

  mutable std::mutex mu_;
  std::map<BackendKey, BackendHealth> state_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

uint64_t monotonic_ms();

}  // namespace anylb::cp
