#include "worker_query.hpp"

namespace anylb {

void answer_query(WorkerQuery& q, const FlowTable& flows, FlowClock now) {
  q.now = now;
  if (q.kind == WorkerQuery::Kind::lookup) {
    const int32_t slot = flows.lookup(q.key, q.hash, now);
    q.found = slot != FlowTable::kMiss;
    if (q.found) {
      const FlowTable::Entry& e = flows.entry(slot);
      q.hit = FlowRecord{e.key, e.backend_id(), e.service_id(), flows.expires(slot)};
    }
  } else {
    q.records.clear();
    uint64_t s = q.cursor;
    const uint64_t end = flows.slots();
    // Bounded work per answer: at most 64k slots scanned, then a cursor.
    const uint64_t scan_end = s + 65536 < end ? s + 65536 : end;
    for (; s < scan_end && q.records.size() < q.max; ++s) {
      const int32_t slot = static_cast<int32_t>(s);
      if (!flows.live(slot, now)) continue;
      const FlowTable::Entry& e = flows.entry(slot);
      if (q.service_filter != 0 && e.service_id() != q.service_filter) continue;
      if (q.backend_filter != 0 && e.backend_id() != q.backend_filter) continue;
      q.records.push_back(FlowRecord{e.key, e.backend_id(), e.service_id(), flows.expires(slot)});
    }
    q.next_cursor = s;
  }
  q.state.store(WorkerQuery::kAnswered, std::memory_order_release);
}

}  // namespace anylb
