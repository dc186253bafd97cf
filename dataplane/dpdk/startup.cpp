#include "startup.hpp"

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <spdlog/spdlog.h>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "atomic_file.hpp"
#include "state_file.hpp"

namespace anylb {

namespace {

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

std::string exception_name(const DataplaneOptions& opts, std::size_t i) {
  return opts.exception_interface + (i == 0 ? "" : std::to_string(i));
}

}  // namespace

uint64_t monotonic_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

unsigned worker_lcore_count() {
  const unsigned workers = rte_lcore_count() - 1;
  if (workers == 0 || workers > RTE_MAX_LCORE)
    throw std::invalid_argument("option 'eal': give at least two lcores (-l): the main one controls, the others forward");
  return workers;
}

std::vector<uint16_t> data_port_ids(const DataplaneOptions& opts) {
  std::vector<uint16_t> ids = resolve_ports(opts.ports);
  if (ids.size() > kMaxPorts)
    throw std::invalid_argument("option 'port': at most " + std::to_string(kMaxPorts) + " ports");
  return ids;
}

rte_mempool* create_mbuf_pool(const DataplaneOptions& opts, std::size_t data_ports, unsigned workers) {
  // A NIC fills every RX descriptor of every queue with an mbuf at start,
  // and each lcore's mempool cache may hold mbuf-cache more: a smaller
  // pool fails later, as a port's "Cannot allocate memory".
  const uint64_t rx_queues = data_ports * (opts.exception_interface.empty() ? 1 : 2) * workers;
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
  return pool;
}

StartedPorts start_ports(const DataplaneOptions& opts, const std::vector<uint16_t>& ids, unsigned workers,
                         rte_mempool* pool) {
  StartedPorts p;
  const auto queues = static_cast<uint16_t>(workers);
  // Exception TAPs are made after the data ports are chosen, so "every
  // probed port" never includes them; each takes its data port's MAC.
  for (std::size_t i = 0; i < ids.size() && !opts.exception_interface.empty(); ++i) {
    const std::string iface = exception_name(opts, i);
    const uint16_t tap = create_exception_tap(iface, port_mac(ids[i]), i);
    p.exception.push_back(start_port(tap, queues, opts.rx_descriptors, opts.tx_descriptors, opts.mtu,
                                     /*mtu_required=*/false, pool));
    p.exception_names.push_back(iface);
    spdlog::info("exception interface {} for port {}", iface, ids[i]);
  }
  for (uint16_t id : ids)
    p.data.push_back(start_port(id, queues, opts.rx_descriptors, opts.tx_descriptors, opts.mtu,
                                /*mtu_required=*/true, pool));

  p.egress.resize(p.data.size());
  for (std::size_t i = 0; i < p.data.size(); ++i) p.egress[i] = i;
  if (!opts.tx_port.empty()) {
    auto it = std::find_if(p.data.begin(), p.data.end(), [&](const PortInfo& d) { return d.name == opts.tx_port; });
    if (it == p.data.end())
      throw std::invalid_argument("option 'tx-port': '" + opts.tx_port + "' is not one of the served ports");
    std::fill(p.egress.begin(), p.egress.end(), static_cast<std::size_t>(it - p.data.begin()));
  }
  return p;
}

void apply_initial_state(ControlState& control, const DataplaneOptions& opts) {
  DesiredState initial = opts.state;
  uint64_t generation = 1;
  StateSource source = StateSource::options;
  bool restored_from_file = false;
  // What a run killed mid-write left: the file itself is whole (renamed
  // over, or never), the temporary is garbage.
  if (!opts.state_file.empty())
    if (const std::size_t n = remove_leftover_temporaries(opts.state_file); n != 0)
      spdlog::info("removed {} temporary cop{} of {} a killed run left", n, n == 1 ? "y" : "ies", opts.state_file);
  if (!opts.state_file.empty() && std::filesystem::exists(opts.state_file)) {
    std::ifstream f(opts.state_file);
    std::stringstream text;
    text << f.rdbuf();
    std::string error;
    auto restored = desired_state_from_json(text.str(), generation, error, &source);
    if (!restored) throw std::invalid_argument("option 'state-file': '" + opts.state_file + "': " + error);
    initial = *restored;
    restored_from_file = true;
    spdlog::info("restored generation {} from {}", generation, opts.state_file);
  }
  const ApplyResult first = control.apply(initial, generation, monotonic_ms(), source);
  if (first.status != ApplyStatus::ok && restored_from_file)  // what an earlier run stored: say so
    throw std::invalid_argument("option 'state-file': '" + opts.state_file + "': " + first.error);
  if (first.status != ApplyStatus::ok) throw std::invalid_argument(first.error);
  spdlog::info("applied generation {}: {} service(s), {} backend(s)", first.generation, initial.services.size(),
               initial.backends.size());
}

void check_flow_table_memory(const DataplaneOptions& opts, unsigned workers) {
  // Each worker maps and writes its whole flow table at start: refuse what
  // this machine cannot hold, rather than be killed by the kernel halfway.
  const uint64_t tables = FlowTable::bytes_for(opts.flow_capacity) * workers;
  if (const uint64_t available = available_memory(); available != 0 && tables > available)
    throw std::invalid_argument("option 'flow-capacity': " + std::to_string(opts.flow_capacity) + " flows for each of " +
                                std::to_string(workers) + " worker(s) take " + std::to_string(tables >> 20) +
                                " MiB of flow tables; " + std::to_string(available >> 20) + " MiB are available");
}

void Workers::stop_all() {
  stop.store(true);
  rte_eal_mp_wait_lcore();
}

void start_workers(Workers& w, const DataplaneOptions& opts, const StartedPorts& ports, StatePublisher& publisher,
                   ControlState& control) {
  uint32_t worker_id = 0;
  unsigned lcore;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    auto ctx = std::make_unique<WorkerContext>();
    ctx->config = WorkerConfig{worker_id++, ports.data, ports.egress, ports.exception, opts.mtu, opts.timeouts,
                               opts.flow_capacity, rte_lcore_count() - 1, opts.exception_rate,
                               opts.new_flow_rate};
    ctx->shared = WorkerShared{&publisher, &w.stop, &w.flow_tables};
    ctx->counters = std::make_unique<LcoreCounters>(opts.limits.max_services, opts.limits.max_backends);
    if (rte_eal_remote_launch(worker_main, ctx.get(), lcore) != 0)
      throw std::runtime_error("cannot launch a worker on lcore " + std::to_string(lcore));
    spdlog::info("worker {} on lcore {}", ctx->config.worker_id, lcore);
    w.contexts.push_back(std::move(ctx));
  }
  for (const auto& ctx : w.contexts) {  // their tables mapped (or not)
    while (!ctx->flows_ready.load(std::memory_order_acquire) && !ctx->flows_failed.load(std::memory_order_acquire))
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    if (ctx->flows_failed.load(std::memory_order_acquire))
      throw std::runtime_error("option 'flow-capacity': worker " + std::to_string(ctx->config.worker_id) +
                               " could not map its flow table (" +
                               std::to_string(FlowTable::bytes_for(opts.flow_capacity) >> 20) + " MiB)");
  }
  for (const auto& ctx : w.contexts) w.flow_tables.all.push_back(ctx->flows.get());
  w.flow_tables.ready.store(true, std::memory_order_release);
  // An id reused by another service or backend must not carry over what
  // its previous owner counted. During its quarantine no worker counts it.
  control.on_new_ids([&contexts = w.contexts](const NewIds& ids) {
    for (const auto& ctx : contexts) {
      for (uint32_t id : ids.services) ctx->counters->services[id].reset();
      for (uint32_t id : ids.backends) ctx->counters->backends[id].reset();
    }
  });
}

}  // namespace anylb
