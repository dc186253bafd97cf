// anylb-dataplane's options: one documented struct with defaults, filled by
// Boost.Program_options from the command line and a config file, and
// validated in one place. Errors name the option (and the file line).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "desired_state.hpp"
#include "pipeline.hpp"
#include "state_builder.hpp"

namespace anylb {

// The largest --mtu: a VLAN-tagged frame of it fills one mbuf's 2048-byte
// data room (RTE_MBUF_DEFAULT_BUF_SIZE less its headroom).
inline constexpr uint32_t kMaxMtu = 2048 - 18;

struct DataplaneOptions {
  std::string config_file;
  std::vector<std::string> eal_args;      // passed to rte_eal_init
  std::vector<std::string> ports;         // device names; empty = every probed port
  std::string tx_port;                    // two-armed: forwarded packets leave here; empty = where they came in
  std::string exception_interface;        // kernel interface (net_tap) per data port; empty = none
  uint32_t exception_rate = 100'000;      // frames a second a worker hands the kernel, per class; 0 = no limit
  uint16_t rx_descriptors = 1024;
  uint16_t tx_descriptors = 1024;
  uint32_t mbufs = 32767;                 // per NUMA socket in use
  uint32_t mbuf_cache = 256;
  uint32_t mtu = 1500;
  uint64_t flow_capacity = 1u << 20;      // flows per worker lcore
  // New flows a second a worker pins in its table; past it they are
  // forwarded by Maglev unpinned (flows_not_inserted). 0 = no limit.
  // Katran's per-CPU figure (MAX_CONN_RATE).
  uint32_t new_flow_rate = 125'000;
  FlowTimeouts timeouts;
  StateLimits limits;
  DesiredState state;                     // services, backends, node addresses
  std::string log_level = "info";
  double stats_interval_s = 10.0;
  std::string counters_file;              // JSON counters written every interval and at exit
  std::string api_socket = "/run/anylb/dataplane.sock";  // anylb.dataplane.v1; empty = no API
  std::string state_file;                 // last applied desired state, restored at start
};

struct ParseResult {
  enum class Status { run, exit_ok, usage_error } status = Status::run;
  std::string message;  // help text, or the error naming the option
};

// argv as given to main. On a usage error the message names the option, the
// config file and line where relevant, and what is wrong.
ParseResult parse_options(int argc, const char* const* argv, DataplaneOptions& out);

// Re-reads only the desired state (services, backends, node addresses) from
// the same command line and config file, for a reload.
ParseResult reload_desired_state(int argc, const char* const* argv, DesiredState& out);

}  // namespace anylb
