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
#include <cstdio>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <thread>

#include "options.hpp"
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

int usage_error(const std::string& message) {
  std::fprintf(stderr, "anylb-dataplane: %s\n", message.c_str());
  std::fprintf(stderr, "Try 'anylb-dataplane --help'.\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace anylb;
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

    rte_mempool* pool = rte_pktmbuf_pool_create("anylb_mbufs", opts.mbufs, opts.mbuf_cache, 0,
                                                RTE_MBUF_DEFAULT_BUF_SIZE, static_cast<int>(rte_socket_id()));
    if (pool == nullptr)
      throw std::runtime_error("option 'mbufs': cannot create a pool of " + std::to_string(opts.mbufs) +
                               " mbufs: " + rte_strerror(rte_errno));
    std::vector<PortInfo> ports;
    for (uint16_t id : port_ids)
      ports.push_back(start_port(id, static_cast<uint16_t>(workers), opts.rx_descriptors, opts.tx_descriptors,
                                 opts.mtu, pool));

    std::vector<std::size_t> egress(ports.size());
    for (std::size_t i = 0; i < ports.size(); ++i) egress[i] = i;
    if (!opts.tx_port.empty()) {
      auto it = std::find_if(ports.begin(), ports.end(), [&](const PortInfo& p) { return p.name == opts.tx_port; });
      if (it == ports.end())
        throw std::invalid_argument("option 'tx-port': '" + opts.tx_port + "' is not one of the served ports");
      std::fill(egress.begin(), egress.end(), static_cast<std::size_t>(it - ports.begin()));
    }
    spdlog::info("TSC {} Hz", rte_get_tsc_hz());

    StatePublisher publisher(workers);
    StateBuilder builder(opts.limits);
    uint64_t generation = 1;
    std::string error;
    auto first = builder.build(opts.state, generation, monotonic_ms(), error);
    if (!first) throw std::invalid_argument(error);
    publisher.publish(std::move(first));
    spdlog::info("applied generation {}: {} service(s), {} backend(s)", generation, opts.state.services.size(),
                 opts.state.backends.size());

    std::atomic<bool> stop{false};
    std::vector<std::unique_ptr<WorkerContext>> contexts;
    uint32_t worker_id = 0;
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore) {
      auto ctx = std::make_unique<WorkerContext>();
      ctx->config = WorkerConfig{worker_id++, ports, egress, opts.mtu, opts.timeouts, opts.flow_capacity};
      ctx->shared = WorkerShared{&publisher, &stop};
      ctx->counters = std::make_unique<LcoreCounters>(opts.limits.max_services, opts.limits.max_backends);
      if (rte_eal_remote_launch(worker_main, ctx.get(), lcore) != 0)
        throw std::runtime_error("cannot launch a worker on lcore " + std::to_string(lcore));
      spdlog::info("worker {} on lcore {}", ctx->config.worker_id, lcore);
      contexts.push_back(std::move(ctx));
    }

    std::signal(SIGHUP, on_signal);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    const uint64_t stats_every_ms = static_cast<uint64_t>(opts.stats_interval_s * 1000);
    uint64_t next_stats = monotonic_ms() + stats_every_ms;
    auto report = [&] {
      nlohmann::json c = collect_counters(contexts, ports, *publisher.current());
      c["monotonic_ms"] = monotonic_ms();  // lets readers turn counter deltas into rates
      spdlog::debug("counters: {}", counters_summary(c));
      if (!opts.counters_file.empty() && !write_counters_file(opts.counters_file, c))
        spdlog::warn("cannot write counters to '{}'", opts.counters_file);
    };

    while (!g_stop) {
      if (g_reload) {
        g_reload = 0;
        DesiredState next;
        const ParseResult r = reload_desired_state(argc, argv, next);
        auto built = r.status == ParseResult::Status::run ? builder.build(next, generation + 1, monotonic_ms(), error)
                                                          : nullptr;
        if (!built) {
          spdlog::error("reload refused, generation {} stays: {}", generation,
                        r.status == ParseResult::Status::run ? error : r.message);
        } else {
          publisher.publish(std::move(built));
          ++generation;
          spdlog::info("applied generation {}: {} service(s), {} backend(s)", generation, next.services.size(),
                       next.backends.size());
        }
      }
      publisher.reclaim();
      if (monotonic_ms() >= next_stats) {
        report();
        next_stats += stats_every_ms;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    spdlog::info("stopping");
    stop.store(true);
    rte_eal_mp_wait_lcore();
    report();
    for (const PortInfo& p : ports) stop_port(p.port_id);
  } catch (const std::invalid_argument& e) {
    rc = usage_error(e.what());
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    rc = 1;
  }
  rte_eal_cleanup();
  return rc;
}
