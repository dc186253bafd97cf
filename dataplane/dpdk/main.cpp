// anylb-dataplane: EAL and ports up, workers launched, then the main lcore
// runs the control loop: reloads (SIGHUP), RCU reclamation, counters.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <cstdio>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <thread>

#include "api_server.hpp"
#include "control_state.hpp"
#include "neighbours.hpp"
#include "options.hpp"
#include "state_file.hpp"
#include "ports.hpp"
#include "state_builder.hpp"
#include "state_publisher.hpp"
#include "stats.hpp"
#include "worker.hpp"

namespace {

volatile std::sig_atomic_t g_reload = 0;
volatile std::sig_atomic_t g_stop = 0;

void on_signal(int sig) {
  if (sig == SIGHUP) g_reload = 1;
  else g_stop = 1;
}

uint64_t monotonic_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

// MemAvailable from /proc/meminfo, in bytes; 0 if unknown.
uint64_t available_memory() {
  std::ifstream f("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  while (f >> key >> kib)
    if (key == "MemAvailable:") return kib * 1024;
    else f.ignore(256, '\n');
  return 0;
}

int usage_error(const std::string& message) {
  std::fprintf(stderr, "anylb-dataplane: %s\n", message.c_str());
  std::fprintf(stderr, "Try 'anylb-dataplane --help'.\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace anylb;
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

  std::vector<std::string> eal_args = {"anylb-dataplane"};
  eal_args.insert(eal_args.end(), opts.eal_args.begin(), opts.eal_args.end());
  std::vector<char*> eal_argv;
  for (std::string& a : eal_args) eal_argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0)
    return usage_error("option 'eal': EAL refused the arguments: " + std::string(rte_strerror(rte_errno)));

  int rc = 0;
  try {
    const unsigned workers = rte_lcore_count() - 1;
    if (workers == 0 || workers > RTE_MAX_LCORE)
      throw std::invalid_argument("option 'eal': give at least two lcores (-l): the main one controls, the others forward");
    const std::vector<uint16_t> port_ids = resolve_ports(opts.ports);
    if (port_ids.size() > kMaxPorts)
      throw std::invalid_argument("option 'port': at most " + std::to_string(kMaxPorts) + " ports");

    // A NIC fills every RX descriptor of every queue with an mbuf at start,
    // and each lcore's mempool cache may hold mbuf-cache more: a smaller
    // pool fails later, as a port's "Cannot allocate memory".
    const uint64_t rx_queues = port_ids.size() * (opts.exception_interface.empty() ? 1 : 2) * workers;
    const uint64_t needed = rx_queues * opts.rx_descriptors + uint64_t{workers + 1} * opts.mbuf_cache;
    if (opts.mbufs < needed)
      throw std::invalid_argument("option 'mbufs': " + std::to_string(opts.mbufs) + " cannot fill " +
                                  std::to_string(rx_queues) + " RX queue(s) of " + std::to_string(opts.rx_descriptors) +
                                  " descriptors and " + std::to_string(workers + 1) + " lcore caches of " +
                                  std::to_string(opts.mbuf_cache) + ": give at least " + std::to_string(needed) +
                                  " (or fewer rx-descriptors)");
    static_assert(kMaxMtu + 18 <= RTE_MBUF_DEFAULT_DATAROOM, "--mtu's bound assumes one mbuf holds a tagged frame");
    rte_mempool* pool = rte_pktmbuf_pool_create("anylb_mbufs", opts.mbufs, opts.mbuf_cache, 0,
                                                RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(rte_socket_id()));
    if (pool == nullptr)
      throw std::runtime_error("option 'mbufs': cannot create a pool of " + std::to_string(opts.mbufs) +
                               " mbufs: " + rte_strerror(rte_errno));
    // Exception TAPs are made after the data ports are chosen, so "every
    // probed port" never includes them; each takes its data port's MAC.
    std::vector<PortInfo> exception;
    for (std::size_t i = 0; i < port_ids.size() && !opts.exception_interface.empty(); ++i) {
      const std::string iface = opts.exception_interface + (i == 0 ? "" : std::to_string(i));
      const uint16_t tap = create_exception_tap(iface, port_mac(port_ids[i]), i);
      exception.push_back(start_port(tap, static_cast<uint16_t>(workers), opts.rx_descriptors, opts.tx_descriptors,
                                     opts.mtu, /*mtu_required=*/false, pool));
      spdlog::info("exception interface {} for port {}", iface, port_ids[i]);
    }
    std::vector<PortInfo> ports;
    for (uint16_t id : port_ids)
      ports.push_back(start_port(id, static_cast<uint16_t>(workers), opts.rx_descriptors, opts.tx_descriptors,
                                 opts.mtu, /*mtu_required=*/true, pool));

    std::vector<std::size_t> egress(ports.size());
    for (std::size_t i = 0; i < ports.size(); ++i) egress[i] = i;
    if (!opts.tx_port.empty()) {
      auto it = std::find_if(ports.begin(), ports.end(), [&](const PortInfo& p) { return p.name == opts.tx_port; });
      if (it == ports.end())
        throw std::invalid_argument("option 'tx-port': '" + opts.tx_port + "' is not one of the served ports");
      std::fill(egress.begin(), egress.end(), static_cast<std::size_t>(it - ports.begin()));
    }
    spdlog::info("TSC {} Hz", rte_get_tsc_hz());
    if (kCeilingBuild)
      spdlog::warn("measuring build (-Dceiling=true): every frame is forwarded with its MACs swapped, nothing is "
                   "decided; not for service");

    StatePublisher publisher(workers);
    ControlState control(opts.limits, publisher, opts.state_file, !opts.exception_interface.empty());
    // What to forward first: the state file if it holds a state, else the options.
    DesiredState initial = opts.state;
    uint64_t initial_generation = 1;
    StateSource initial_source = StateSource::options;
    bool restored_from_file = false;
    if (!opts.state_file.empty() && std::filesystem::exists(opts.state_file)) {
      std::ifstream f(opts.state_file);
      std::stringstream text;
      text << f.rdbuf();
      std::string error;
      auto restored = desired_state_from_json(text.str(), initial_generation, error, &initial_source);
      if (!restored)
        throw std::invalid_argument("option 'state-file': '" + opts.state_file + "': " + error);
      initial = *restored;
      restored_from_file = true;
      spdlog::info("restored generation {} from {}", initial_generation, opts.state_file);
    }
    const ApplyResult first = control.apply(initial, initial_generation, monotonic_ms(), initial_source);
    if (first.status != ApplyStatus::ok && restored_from_file)  // what an earlier run stored: say so
      throw std::invalid_argument("option 'state-file': '" + opts.state_file + "': " + first.error);
    if (first.status != ApplyStatus::ok) throw std::invalid_argument(first.error);
    spdlog::info("applied generation {}: {} service(s), {} backend(s)", first.generation, initial.services.size(),
                 initial.backends.size());

    // Each worker maps and writes its whole flow table at start: refuse what
    // this machine cannot hold, rather than be killed by the kernel halfway.
    const uint64_t tables = FlowTable::bytes_for(opts.flow_capacity) * workers;
    if (const uint64_t available = available_memory(); available != 0 && tables > available)
      throw std::invalid_argument("option 'flow-capacity': " + std::to_string(opts.flow_capacity) + " flows for each of " +
                                  std::to_string(workers) + " worker(s) take " + std::to_string(tables >> 20) +
                                  " MiB of flow tables; " + std::to_string(available >> 20) + " MiB are available");

    std::atomic<bool> stop{false};
    std::vector<std::unique_ptr<WorkerContext>> contexts;
    FlowTables flow_tables;  // outlives the workers, as contexts do
    // However this scope is left (an error after a launch: the API socket,
    // a worker that cannot start), the workers stop before what they use
    // (their contexts and flow tables, the publisher) is destroyed.
    struct StopWorkers {
      std::atomic<bool>& stop;
      ~StopWorkers() {
        stop.store(true);
        rte_eal_mp_wait_lcore();
      }
    } stop_workers{stop};
    uint32_t worker_id = 0;
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore) {
      auto ctx = std::make_unique<WorkerContext>();
      ctx->config = WorkerConfig{worker_id++, ports, egress, exception, opts.mtu, opts.timeouts, opts.flow_capacity,
                                 rte_lcore_count() - 1, opts.exception_rate};
      ctx->shared = WorkerShared{&publisher, &stop, &flow_tables};
      ctx->counters = std::make_unique<LcoreCounters>(opts.limits.max_services, opts.limits.max_backends);
      if (rte_eal_remote_launch(worker_main, ctx.get(), lcore) != 0)
        throw std::runtime_error("cannot launch a worker on lcore " + std::to_string(lcore));
      spdlog::info("worker {} on lcore {}", ctx->config.worker_id, lcore);
      contexts.push_back(std::move(ctx));
    }
    for (const auto& ctx : contexts) {  // their tables mapped (or not)
      while (!ctx->flows_ready.load(std::memory_order_acquire) && !ctx->flows_failed.load(std::memory_order_acquire))
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (ctx->flows_failed.load(std::memory_order_acquire))
        throw std::runtime_error("option 'flow-capacity': worker " + std::to_string(ctx->config.worker_id) +
                                 " could not map its flow table (" +
                                 std::to_string(FlowTable::bytes_for(opts.flow_capacity) >> 20) + " MiB)");
    }
    for (const auto& ctx : contexts) flow_tables.all.push_back(ctx->flows.get());
    flow_tables.ready.store(true, std::memory_order_release);
    // An id reused by another service or backend must not carry over what
    // its previous owner counted. During its quarantine no worker counts it.
    control.on_new_ids([&contexts](const NewIds& ids) {
      for (const auto& w : contexts) {
        for (uint32_t id : ids.services) w->counters->services[id].reset();
        for (uint32_t id : ids.backends) w->counters->backends[id].reset();
      }
    });

    std::unique_ptr<ApiServer> api;
    if (!opts.api_socket.empty())
      api = std::make_unique<ApiServer>(ApiContext{&control, &contexts, &ports, &egress, monotonic_ms()}, opts.api_socket);

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::vector<std::string> exception_names;
    for (std::size_t i = 0; i < exception.size(); ++i)
      exception_names.push_back(opts.exception_interface + (i == 0 ? "" : std::to_string(i)));
    uint64_t next_neighbours = 0;
    const uint64_t stats_every_ms = static_cast<uint64_t>(opts.stats_interval_s * 1000);
    uint64_t next_stats = monotonic_ms() + stats_every_ms;
    auto report = [&] {
      nlohmann::json c = control.with_state([&](const ForwardingState& st) { return collect_counters(contexts, ports, st); });
      c["unresolved_backends"] = control.unresolved();
      c["monotonic_ms"] = monotonic_ms();  // lets readers turn counter deltas into rates
      spdlog::debug("counters: {}", counters_summary(c));
      if (!opts.counters_file.empty() && !write_counters_file(opts.counters_file, c))
        spdlog::warn("cannot write counters to '{}'", opts.counters_file);
    };

    while (!g_stop) {
      if (g_reload && control.source() == StateSource::api) {
        g_reload = 0;
        spdlog::error("reload ignored, generation {} stays: it was applied through the API, which owns the state from "
                      "then on (the options would replace all of it); change it through the API, or restart without "
                      "the state file to return to the options", control.generation());
      } else if (g_reload) {
        g_reload = 0;
        DesiredState next;
        const ParseResult r = reload_desired_state(argc, argv, next);
        if (r.status != ParseResult::Status::run) {
          spdlog::error("reload refused, generation {} stays: {}", control.generation(), r.message);
        } else {
          const ApplyResult a = control.apply(next, 0, monotonic_ms());
          if (a.status != ApplyStatus::ok)
            spdlog::error("reload refused, generation {} stays: {}", a.generation, a.error);
          else
            spdlog::info("applied generation {}: {} service(s), {} backend(s)", a.generation, next.services.size(),
                         next.backends.size());
        }
      }
      if (!exception_names.empty() && monotonic_ms() >= next_neighbours) {
        const std::size_t before = control.unresolved();
        control.refresh_neighbours(resolve_backend_macs(control.backends_without_mac(), exception_names),
                                   monotonic_ms());
        if (control.unresolved() != before)
          spdlog::info("{} backend(s) waiting for their MAC in the neighbour table", control.unresolved());
        next_neighbours = monotonic_ms() + 500;
      }
      control.reclaim();
      if (monotonic_ms() >= next_stats) {
        report();
        next_stats += stats_every_ms;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    spdlog::info("stopping");
    api.reset();  // no API call may reach the workers while they stop
    stop.store(true);
    rte_eal_mp_wait_lcore();
    report();
    for (const PortInfo& p : ports) stop_port(p.port_id);
    for (const PortInfo& p : exception) stop_port(p.port_id);
  } catch (const std::invalid_argument& e) {
    rc = usage_error(e.what());
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    rc = 1;
  }
  rte_eal_cleanup();
  return rc;
}
