#include "worker.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include <memory>

#include "fragment.hpp"
#include "id_lane.hpp"

namespace anylb {
namespace {

struct TxBuffer {
  rte_mbuf* pkts[kRxBurst];
  uint16_t count = 0;
  uint64_t bytes = 0;  // of pkts, summed as they are pushed (their mbufs are in cache then)
};

void flush(uint16_t port, uint16_t queue, TxBuffer& tx, PortCounters& pc, LcoreCounters& c) {
  if (tx.count == 0) return;
  const uint16_t sent = rte_eth_tx_burst(port, queue, tx.pkts, tx.count);
  for (uint16_t i = sent; i < tx.count; ++i) {  // unsent: ours to free, and counted
    tx.bytes -= tx.pkts[i]->pkt_len;
    c.drop(DropReason::tx_full);
    rte_pktmbuf_free(tx.pkts[i]);
  }
  pc.tx_packets.add(sent);
  pc.tx_bytes.add(tx.bytes);
  tx.count = 0;
  tx.bytes = 0;
}

// Buffers one packet for `port`, sending the burst once it is full.
void push(rte_mbuf* m, uint16_t port, uint16_t queue, TxBuffer& tx, PortCounters& pc, LcoreCounters& c) {
  tx.pkts[tx.count++] = m;
  tx.bytes += m->pkt_len;
  if (tx.count == kRxBurst) flush(port, queue, tx, pc, c);
}

// Applies a verdict to its mbuf: move the data start back over prepended
// headers and cut trailing padding.
void apply_rewrite(rte_mbuf* m, const Verdict& v) {
  if (v.prepended != 0) rte_pktmbuf_prepend(m, static_cast<uint16_t>(v.prepended));  // room checked by encap
  if (v.len < m->pkt_len) {
    rte_pktmbuf_trim(m, static_cast<uint16_t>(m->pkt_len - v.len));
  }
}

// A frame longer than the MTU, whose outer packet may be fragmented
// (Action::forward_fragments): the others first, into new mbufs from the
// frame's pool, then the frame itself cut to the first; all buffered for
// `port`. `id`: the identification of an IPv6 outer packet's fragments.
// What cannot be cut (a frame in several segments, a plan past what fits),
// headroom or mbufs short: a counted drop of the whole packet, by cause.
// (The service and backend counters have counted it: they count what the
// decision forwarded, as with a full TX queue.)
void push_fragments(rte_mbuf* m, uint32_t mtu, uint32_t id, uint16_t port, uint16_t queue, TxBuffer& tx,
                    PortCounters& pc, LcoreCounters& c) {
  std::byte* frame = rte_pktmbuf_mtod(m, std::byte*);
  const OuterFragments plan = plan_outer_fragments(frame, m->data_len, mtu);
  // Fragment 1 is the longest of the new ones: it must fit a fresh mbuf's
  // room (the frame itself may use part of its headroom).
  const uint32_t fresh_room = rte_pktmbuf_data_room_size(m->pool) - RTE_PKTMBUF_HEADROOM;
  rte_mbuf* rest[kMaxFragments];
  DropReason refused = DropReason::none;
  if (plan.count < 2 || plan.count > kMaxFragments + 1 || m->nb_segs != 1 || plan.frame_len(1) > fresh_room)
    refused = DropReason::encap_too_big;
  else if (rte_pktmbuf_headroom(m) < plan.grows)
    refused = DropReason::encap_no_headroom;
  else if (rte_pktmbuf_alloc_bulk(m->pool, rest, plan.count - 1) != 0)
    refused = DropReason::no_mbuf;
  if (refused != DropReason::none) {
    c.drop(refused);
    rte_pktmbuf_free(m);
    return;
  }
  for (uint32_t k = 1; k < plan.count; ++k) {
    auto* out = reinterpret_cast<std::byte*>(rte_pktmbuf_append(rest[k - 1], static_cast<uint16_t>(plan.frame_len(k))));
    write_fragment(frame, plan, k, id, out);
  }
  auto* start = reinterpret_cast<std::byte*>(rte_pktmbuf_prepend(m, static_cast<uint16_t>(plan.grows)));
  cut_first_fragment(start, plan, id);
  rte_pktmbuf_trim(m, static_cast<uint16_t>(m->data_len - plan.frame_len(0)));
  c.outer_fragments_sent.add(plan.count);
  push(m, port, queue, tx, pc, c);
  for (uint32_t k = 1; k < plan.count; ++k) push(rest[k - 1], port, queue, tx, pc, c);
}

}  // namespace

int worker_main(void* arg) {
  WorkerContext& ctx = *static_cast<WorkerContext*>(arg);
  const WorkerConfig& cfg = ctx.config;
  const uint16_t queue = static_cast<uint16_t>(cfg.worker_id);
  try {
    ctx.flows = std::make_unique<FlowTable>(cfg.flow_capacity);
  } catch (const std::bad_alloc&) {  // main reports it, naming the option
    ctx.flows_failed.store(true, std::memory_order_release);
    return -1;
  }
  ctx.flows_ready.store(true, std::memory_order_release);
  // The other workers' tables (pinned_elsewhere): main lists them once
  // every one is mapped, or stops us if one could not be.
  while (!ctx.shared.tables->ready.load(std::memory_order_acquire)) {
    if (ctx.shared.stop->load(std::memory_order_relaxed)) return 0;
    rte_pause();
  }
  LcoreCounters& counters = *ctx.counters;
  // On the heap: on the stack its size placed the loop's own arrays, and how
  // they then shared cache sets with its burst arrays cost 12% of est-1m and
  // SYN-flood throughput when it grew by 100 bytes (alternating bench.py
  // runs, 2026-12-01, f9883d0; perf/RESULTS.md, "Code layout").
  auto owned_pipeline = std::make_unique<Pipeline>(*ctx.flows, counters, cfg.timeouts);
  Pipeline& pipeline = *owned_pipeline;
  pipeline.set_ipv4_id_lane(static_cast<uint16_t>(cfg.worker_id), static_cast<uint16_t>(cfg.workers));
  pipeline.exception_path(!cfg.exception.empty(), cfg.exception_rate);
  pipeline.new_flow_rate(cfg.new_flow_rate);
  std::vector<const FlowTable*> others;
  for (const FlowTable* t : ctx.shared.tables->all)
    if (t != ctx.flows.get()) others.push_back(t);
  pipeline.set_other_tables(std::move(others));
  StatePublisher& publisher = *ctx.shared.publisher;
  publisher.register_worker(cfg.worker_id);

  std::vector<PortContext> port_ctx;
  // Rewrites take the source MAC of the port the packet will leave from;
  // frames must be addressed to the port they came in on.
  for (std::size_t pi = 0; pi < cfg.ports.size(); ++pi) {
    const PortInfo& out = cfg.ports[cfg.egress[pi]];
    port_ctx.push_back(PortContext{out.port_id, out.mac, cfg.ports[pi].mac, cfg.mtu});
  }
  std::vector<TxBuffer> tx(cfg.ports.size());
  std::vector<TxBuffer> to_kernel(cfg.exception.size());
  PortCounters unused;  // TAP ports keep no per-port counters of their own

  const uint64_t tsc_per_ms = rte_get_tsc_hz() / 1000;
  const uint64_t drain_tsc = rte_get_tsc_hz() / 1'000'000 * kTxDrainUs;
  uint64_t last_drain = rte_rdtsc();
  const uint64_t exception_poll_tsc = rte_get_tsc_hz() / 1'000'000 * kExceptionPollUs;
  uint64_t last_exception_poll = 0;
  rte_mbuf* rx[kRxBurst];
  // IPv6 outer fragments' identifications: this worker's lane, as for IPv4
  // (Pipeline::set_ipv4_id_lane), so two workers' fragments are not mixed up.
  IdLane fragment_ids(cfg.worker_id, cfg.workers, uint64_t{1} << 32);
  FrameBuffer frames[kRxBurst];
  Verdict verdicts[kRxBurst];

  while (!ctx.shared.stop->load(std::memory_order_relaxed)) {
    const uint64_t tsc = rte_rdtsc();
    const FlowClock now = static_cast<FlowClock>(tsc / tsc_per_ms);

    for (std::size_t pi = 0; pi < cfg.ports.size(); ++pi) {
      const uint16_t port = cfg.ports[pi].port_id;
      const uint16_t n = rte_eth_rx_burst(port, queue, rx, kRxBurst);
      if (n == 0) continue;
      // Loaded after RX so a burst always meets the newest published state.
      const ForwardingState* st = publisher.current();
      PortCounters& pc = counters.ports[pi];
      uint64_t rx_bytes = 0;
      for (uint16_t i = 0; i < n; ++i) {
        std::byte* data = rte_pktmbuf_mtod(rx[i], std::byte*);
        rte_prefetch0(data);  // a NIC's frame is not in cache yet; the pipeline parses it next
        rx_bytes += rx[i]->pkt_len;
        frames[i] = FrameBuffer{data, rx[i]->data_len, rte_pktmbuf_headroom(rx[i])};
      }
      pc.rx_packets.add(n);
      pc.rx_bytes.add(rx_bytes);

      pipeline.process_burst(*st, port_ctx[pi], now, {frames, n}, verdicts);

      const std::size_t out = cfg.egress[pi];
      for (uint16_t i = 0; i < n; ++i) {
        switch (verdicts[i].action) {
          case Action::forward:
            apply_rewrite(rx[i], verdicts[i]);
            push(rx[i], cfg.ports[out].port_id, queue, tx[out], counters.ports[out], counters);
            break;
          case Action::exception:
            if (cfg.exception.empty() ||
                (cfg.exception[pi].max_frame != 0 && rx[i]->pkt_len > cfg.exception[pi].max_frame)) {
              counters.drop(cfg.exception.empty() ? DropReason::exception_no_interface : DropReason::exception_too_big);
              rte_pktmbuf_free(rx[i]);
              break;
            }
            push(rx[i], cfg.exception[pi].port_id, queue, to_kernel[pi], unused, counters);
            break;
          case Action::forward_fragments:
            apply_rewrite(rx[i], verdicts[i]);
            push_fragments(rx[i], cfg.mtu, static_cast<uint32_t>(fragment_ids.next()), cfg.ports[out].port_id, queue,
                           tx[out], counters.ports[out], counters);
            break;
          case Action::reply:  // our ICMP error: back where the packet came from
            apply_rewrite(rx[i], verdicts[i]);
            push(rx[i], cfg.ports[pi].port_id, queue, tx[pi], counters.ports[pi], counters);
            break;
          case Action::drop:
            rte_pktmbuf_free(rx[i]);
            break;
        }
      }
    }

    // What the kernel sends on a port's TAP leaves through that port as is.
    const bool poll_kernel = tsc - last_exception_poll > exception_poll_tsc;
    if (poll_kernel) last_exception_poll = tsc;
    for (std::size_t pi = 0; pi < cfg.exception.size() && poll_kernel; ++pi) {
      const uint16_t n = rte_eth_rx_burst(cfg.exception[pi].port_id, queue, rx, kRxBurst);
      if (n == 0) continue;
      if (n == kRxBurst) last_exception_poll = 0;  // more waiting: read again next loop
      counters.from_kernel_packets.add(n);
      for (uint16_t i = 0; i < n; ++i) push(rx[i], cfg.ports[pi].port_id, queue, tx[pi], counters.ports[pi], counters);
    }

    if (tsc - last_drain > drain_tsc) {
      for (std::size_t pi = 0; pi < cfg.ports.size(); ++pi)
        flush(cfg.ports[pi].port_id, queue, tx[pi], counters.ports[pi], counters);
      for (std::size_t pi = 0; pi < cfg.exception.size(); ++pi)
        flush(cfg.exception[pi].port_id, queue, to_kernel[pi], unused, counters);
      last_drain = tsc;
    }
    ctx.flows->sweep(now, kSweepBucketsPerLoop);
    if (ctx.query.state.load(std::memory_order_relaxed) == WorkerQuery::kAsked) {
      int asked = WorkerQuery::kAsked;
      if (ctx.query.state.compare_exchange_strong(asked, WorkerQuery::kBusy, std::memory_order_acquire))
        answer_query(ctx.query, *ctx.flows, now);
    }
    ctx.loops.store(ctx.loops.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    publisher.quiescent(cfg.worker_id);  // `st` is not used past this point
  }

  for (std::size_t pi = 0; pi < cfg.ports.size(); ++pi)
    flush(cfg.ports[pi].port_id, queue, tx[pi], counters.ports[pi], counters);
  for (std::size_t pi = 0; pi < cfg.exception.size(); ++pi)
    flush(cfg.exception[pi].port_id, queue, to_kernel[pi], unused, counters);
  publisher.unregister_worker(cfg.worker_id);
  return 0;
}

}  // namespace anylb
