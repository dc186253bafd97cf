// The dataplane's start, one step a function, in the order main runs them.
// A step that refuses throws std::invalid_argument naming the option at
// fault (a usage error: exit 2) or std::runtime_error (exit 1).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "control_state.hpp"
#include "options.hpp"
#include "ports.hpp"
#include "state_publisher.hpp"
#include "worker.hpp"

struct rte_mempool;

namespace anylb {

uint64_t monotonic_ms();

// Every lcore but the main one forwards.
unsigned worker_lcore_count();

// The data ports the options name (every probed one if none).
std::vector<uint16_t> data_port_ids(const DataplaneOptions& opts);

// A pool that can fill every RX queue and every lcore's cache.
rte_mempool* create_mbuf_pool(const DataplaneOptions& opts, std::size_t data_ports, unsigned workers);

struct StartedPorts {
  std::vector<PortInfo> data;
  std::vector<PortInfo> exception;     // by data port index; empty: no exception path
  std::vector<std::string> exception_names;
  std::vector<std::size_t> egress;     // by data port index: where its forwarded packets leave
};
StartedPorts start_ports(const DataplaneOptions& opts, const std::vector<uint16_t>& ids, unsigned workers,
                         rte_mempool* pool);

// The state file's state if it holds one, else the options'.
void apply_initial_state(ControlState& control, const DataplaneOptions& opts);

// Refuses flow tables this machine cannot hold.
void check_flow_table_memory(const DataplaneOptions& opts, unsigned workers);

// The workers and what they share. However its scope is left (an error
// after a launch), the workers stop before what they use is destroyed.
struct Workers {
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<WorkerContext>> contexts;
  FlowTables flow_tables;  // outlives the workers, as contexts do
  Workers() = default;
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;
  ~Workers() { stop_all(); }
  void stop_all();
};

// Launches a worker on every worker lcore, waits until each has mapped its
// flow table, then shares the tables and has reused ids' counters reset.
void start_workers(Workers& w, const DataplaneOptions& opts, const StartedPorts& ports, StatePublisher& publisher,
                   ControlState& control);

}  // namespace anylb
