// A worker lcore: polls its RX queue on every port, runs the pipeline, and
// sends through a small per-port TX buffer flushed when full or after
// kTxDrainUs (DPDK l3fwd's BURST_TX_DRAIN_US idea).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "counters.hpp"
#include "flow_table.hpp"
#include "pipeline.hpp"
#include "ports.hpp"
#include "state_publisher.hpp"
#include "worker_query.hpp"

namespace anylb {

inline constexpr uint32_t kRxBurst = 32;
// Outer fragments a packet may need beyond the first (a 9000-byte
// frame over a 1280 MTU needs 7 more).
inline constexpr uint32_t kMaxFragments = 8;
inline constexpr uint64_t kTxDrainUs = 100;
inline constexpr uint32_t kSweepBucketsPerLoop = 4;
// Reading a TAP is a system call even when it is empty: poll the exception
// interfaces at most this often (the kernel's ARP, BGP and probe packets
// wait at most this long), and again at once while they have more.
inline constexpr uint64_t kExceptionPollUs = 50;

struct WorkerConfig {
  uint32_t worker_id = 0;  // 0..N-1: also the RX/TX queue index
  std::vector<PortInfo> ports;
  std::vector<std::size_t> egress;  // by RX port index: the port index forwarded packets leave from
  std::vector<PortInfo> exception;  // by data port index: its kernel TAP (empty: no exception path)
  uint32_t mtu = 1500;
  FlowTimeouts timeouts;
  uint64_t flow_capacity = 0;
  uint32_t workers = 1;  // how many there are (each takes its own lane of outer identifications)
  uint32_t exception_rate = 0;  // frames a second to the kernel, per ExceptionPolicer class; 0 = no limit
  uint32_t new_flow_rate = 0;   // new flows a second pinned in the flow table; 0 = no limit
};

// Every worker's flow table, by worker id, filled by main once all are
// mapped: each worker's pipeline looks the others' up for ICMP errors about
// flows RSS gave another worker.
struct FlowTables {
  std::vector<const FlowTable*> all;
  std::atomic<bool> ready{false};
};

struct WorkerShared {
  StatePublisher* publisher = nullptr;
  std::atomic<bool>* stop = nullptr;
  FlowTables* tables = nullptr;
};

// Everything a worker owns; the control thread reads its counters and flow
// statistics (relaxed counters) while it runs.
struct WorkerContext {
  WorkerConfig config;
  WorkerShared shared;
  std::unique_ptr<LcoreCounters> counters;
  std::unique_ptr<FlowTable> flows;  // created on the worker's lcore: first touch on its NUMA node
  std::atomic<bool> flows_ready{false};
  std::atomic<bool> flows_failed{false};  // its table could not be mapped: the worker returned
  std::atomic<uint64_t> loops{0};    // liveness: advances while the worker polls
  WorkerQuery query;                 // the control thread's questions about this worker's flows
};

// rte_eal_remote_launch entry point; arg is a WorkerContext*.
int worker_main(void* arg);

}  // namespace anylb
