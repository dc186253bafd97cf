// anylb-dataplane: EAL and ports up, workers launched (startup.hpp), then
// the main lcore runs the control loop: reloads (SIGHUP), neighbours, RCU
// reclamation, counters.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <thread>

#include "api_server.hpp"
#include "atomic_file.hpp"
#include "control_state.hpp"
#include "neighbours.hpp"
#include "options.hpp"
#include "startup.hpp"
#include "unix_socket_path.hpp"
#include "stats.hpp"

namespace {

using namespace anylb;

volatile std::sig_atomic_t g_reload = 0;
volatile std::sig_atomic_t g_stop = 0;

void on_signal(int sig) {
  if (sig == SIGHUP) g_reload = 1;
  else g_stop = 1;
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "anylb-dataplane: %s\n", message.c_str());
  std::fprintf(stderr, "Try 'anylb-dataplane --help'.\n");
  return 2;
}

// What the control loop works on, once everything has started.
struct Running {
  const DataplaneOptions& opts;
  int argc;
  char** argv;
  ControlState& control;
  Workers& workers;
  const StartedPorts& ports;
};

// SIGHUP: the options again (they are re-read, config file included),
// unless the state came through the API, which then owns it.
void reload(const Running& r) {
  g_reload = 0;
  if (r.control.source() == StateSource::api) {
    spdlog::error("reload ignored, generation {} stays: it was applied through the API, which owns the state from "
                  "then on (the options would replace all of it); change it through the API, or restart without "
                  "the state file to return to the options", r.control.generation());
    return;
  }
  DesiredState next;
  const ParseResult parsed = reload_desired_state(r.argc, r.argv, next);
  if (parsed.status != ParseResult::Status::run) {
    spdlog::error("reload refused, generation {} stays: {}", r.control.generation(), parsed.message);
    return;
  }
  const ApplyResult a = r.control.apply(next, 0, monotonic_ms());
  if (a.status != ApplyStatus::ok)
    spdlog::error("reload refused, generation {} stays: {}", a.generation, a.error);
  else
    spdlog::info("applied generation {}: {} service(s), {} backend(s)", a.generation, next.services.size(),
                 next.backends.size());
}

// Backends given without a MAC: the kernel's neighbour table, through the
// exception interfaces.
void refresh_neighbours(const Running& r) {
  const std::size_t before = r.control.unresolved();
  r.control.refresh_neighbours(resolve_backend_macs(r.control.backends_without_mac(), r.ports.exception_names),
                               monotonic_ms());
  if (r.control.unresolved() != before)
    spdlog::info("{} backend(s) waiting for their MAC in the neighbour table", r.control.unresolved());
}

void report(const Running& r) {
  nlohmann::json c =
      r.control.with_state([&](const ForwardingState& st) { return collect_counters(r.workers.contexts, r.ports.data, st); });
  c["unresolved_backends"] = r.control.unresolved();
  c["monotonic_ms"] = monotonic_ms();  // lets readers turn counter deltas into rates
  spdlog::debug("counters: {}", counters_summary(c));
  if (!r.opts.counters_file.empty() && !write_counters_file(r.opts.counters_file, c))
    spdlog::warn("cannot write counters to '{}'", r.opts.counters_file);
}

// Until SIGINT or SIGTERM.
void control_loop(const Running& r) {
  uint64_t next_neighbours = 0;
  const uint64_t stats_every_ms = static_cast<uint64_t>(r.opts.stats_interval_s * 1000);
  uint64_t next_stats = monotonic_ms() + stats_every_ms;
  while (!g_stop) {
    if (g_reload) reload(r);
    if (!r.ports.exception_names.empty() && monotonic_ms() >= next_neighbours) {
      refresh_neighbours(r);
      next_neighbours = monotonic_ms() + 500;
    }
    r.control.reclaim();
    if (monotonic_ms() >= next_stats) {
      report(r);
      next_stats += stats_every_ms;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// Everything after the EAL, up to the ports' stop.
void run(const DataplaneOptions& opts, int argc, char** argv) {
  const unsigned workers = worker_lcore_count();
  const std::vector<uint16_t> port_ids = data_port_ids(opts);
  rte_mempool* pool = create_mbuf_pool(opts, port_ids.size(), workers);
  const StartedPorts ports = start_ports(opts, port_ids, workers, pool);
  spdlog::info("TSC {} Hz", rte_get_tsc_hz());
  if (kCeilingBuild)
    spdlog::warn("measuring build (-Dceiling=true): every frame is forwarded with its MACs swapped, nothing is "
                 "decided; not for service");

  StatePublisher publisher(workers);
  ControlState control(opts.limits, publisher, opts.state_file, !opts.exception_interface.empty());
  apply_initial_state(control, opts);
  if (!opts.counters_file.empty()) remove_leftover_temporaries(opts.counters_file);  // a killed run's
  check_flow_table_memory(opts, workers);
  Workers w;
  start_workers(w, opts, ports, publisher, control);
  std::unique_ptr<ApiServer> api;
  if (!opts.api_socket.empty())
    api = std::make_unique<ApiServer>(ApiContext{&control, &w.contexts, &ports.data, &ports.egress, monotonic_ms()},
                                      opts.api_socket);

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  const Running running{opts, argc, argv, control, w, ports};
  control_loop(running);
  spdlog::info("stopping");
  api.reset();  // no API call may reach the workers while they stop
  w.stop_all();
  report(running);
  for (const PortInfo& p : ports.data) stop_port(p.port_id);
  for (const PortInfo& p : ports.exception) stop_port(p.port_id);
}

}  // namespace

int main(int argc, char** argv) {
  // First: a SIGHUP's default action kills the process, and a start (EAL,
  // ports, a large flow table mapped) takes seconds in which logrotate or
  // `systemctl reload` may send one. Taken, it reloads once running.
  std::signal(SIGHUP, on_signal);
  DataplaneOptions opts;
  const ParseResult parsed = parse_options(argc, argv, opts);
  if (parsed.status == ParseResult::Status::exit_ok) {
    std::printf("%s", parsed.message.c_str());
    return 0;
  }
  if (parsed.status == ParseResult::Status::usage_error) return usage_error(parsed.message);
  spdlog::set_level(spdlog::level::from_str(opts.log_level));
  // Before the EAL, the ports and the state file: a second dataplane on a
  // live instance's socket must touch nothing of it (ApiServer checks
  // again when it binds, for a socket that appeared meanwhile).
  if (!opts.api_socket.empty()) {
    try {
      clear_socket_path(opts.api_socket, "option 'api-socket'");
    } catch (const std::exception& e) {
      spdlog::critical("{}", e.what());
      return 1;
    }
  }

  std::vector<std::string> eal_args = {"anylb-dataplane"};
  eal_args.insert(eal_args.end(), opts.eal_args.begin(), opts.eal_args.end());
  std::vector<char*> eal_argv;
  for (std::string& a : eal_args) eal_argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0)
    return usage_error("option 'eal': EAL refused the arguments: " + std::string(rte_strerror(rte_errno)));

  int rc = 0;
  try {
    run(opts, argc, argv);
  } catch (const std::invalid_argument& e) {
    rc = usage_error(e.what());
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    rc = 1;
  }
  rte_eal_cleanup();
  return rc;
}
