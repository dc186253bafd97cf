// A one-slot mailbox through which the control thread asks a worker about
// its own flow table (trace, list flows), so no other thread ever reads a
// table its worker is writing. The worker checks it once per loop (one
// acquire load) and answers from its own lcore; the asker waits, bounded.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "flow_key.hpp"
#include "flow_table.hpp"

namespace anylb {

struct FlowRecord {
  FlowKey key;
  uint32_t backend_id = 0;
  uint32_t service_id = 0;
  FlowClock expires = 0;
};

struct WorkerQuery {
  enum class Kind : uint8_t { lookup, list };
  // kIdle -> kAsked (asker) -> kBusy (worker took it) -> kAnswered (worker) -> kIdle (asker).
  // An asker that gives up can withdraw only a question not yet taken.
  static constexpr int kIdle = 0, kAsked = 1, kBusy = 2, kAnswered = 3;
  static constexpr uint32_t kMaxRecords = 10000;

  WorkerQuery() { records.reserve(kMaxRecords); }  // the worker never allocates

  std::atomic<int> state{kIdle};
  Kind kind = Kind::lookup;
  // lookup
  FlowKey key;
  uint64_t hash = 0;
  bool found = false;
  FlowRecord hit;
  // list: live entries from slot `cursor` on, at most `max` matching the filters (0 = any)
  uint64_t cursor = 0;
  uint32_t max = 0;
  uint32_t service_filter = 0;
  uint32_t backend_filter = 0;
  std::vector<FlowRecord> records;
  uint64_t next_cursor = 0;  // slots() when done
  FlowClock now = 0;         // the worker's clock when it answered
};

// Worker side: answers a pending query from its table.
void answer_query(WorkerQuery& q, const FlowTable& flows, FlowClock now);

}  // namespace anylb
