// The fixture the pipeline tests share: a state builder, a flow table, a
// lcore's counters and a Pipeline, and frames run through process_burst as a
// worker runs them. Header-only, for pipeline_*_test.cpp (one test binary).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "pipeline.hpp"
#include "printers.hpp"
#include "state_builder.hpp"
#include "state_fixtures.hpp"

namespace anylb::test {

constexpr uint32_t kMaxServices = 8;
constexpr uint32_t kMaxBackends = 64;
constexpr FlowClock kStart = 1'000;

inline StateLimits limits() {
  StateLimits l;
  l.max_services = kMaxServices;
  l.max_backends = kMaxBackends;
  l.id_quarantine_ms = 1'000'000;
  return l;
}

struct Sent {
  Verdict verdict;
  Bytes out;  // the frame as it leaves (rewritten or encapsulated)
};

class PipelineTest : public ::testing::Test {
 protected:
  PipelineTest()
      : builder_(limits()), flows_(4096), counters_(kMaxServices, kMaxBackends),
        pipeline_(flows_, counters_, FlowTimeouts{}) {
    port_.mac = mac(kPortMac);
    port_.rx_mac = mac(kPortMac);
  }

  std::shared_ptr<const ForwardingState> apply(const DesiredState& s) {
    std::string error;
    std::shared_ptr<const ForwardingState> st = builder_.build(s, ++generation_, 0, error);
    EXPECT_TRUE(st) << error;
    return st;
  }

  // Runs frames through process_burst, 32 at a time, as a worker would.
  std::vector<Sent> send(const ForwardingState& st, const std::vector<Bytes>& frames, FlowClock now = kStart) {
    return send_via(pipeline_, st, frames, now);
  }
  // The same through another pipeline (another worker's).
  std::vector<Sent> send_via(Pipeline& pipeline, const ForwardingState& st, const std::vector<Bytes>& frames,
                             FlowClock now = kStart) {
    std::vector<Sent> out;
    for (std::size_t first = 0; first < frames.size(); first += 32) {
      const std::size_t n = std::min<std::size_t>(32, frames.size() - first);
      std::vector<HeadroomBuffer> buffers;
      buffers.reserve(n);
      std::vector<FrameBuffer> burst;
      for (std::size_t i = 0; i < n; ++i) {
        buffers.emplace_back(frames[first + i], 128);
        burst.push_back(buffers.back().frame());
      }
      std::vector<Verdict> verdicts(n);
      pipeline.process_burst(st, port_, now, burst, verdicts.data());
      for (std::size_t i = 0; i < n; ++i) {
        const Verdict& v = verdicts[i];
        const bool sent =
            v.action == Action::forward || v.action == Action::reply || v.action == Action::forward_fragments;
        out.push_back({v, sent ? buffers[i].result(v.prepended, v.len) : Bytes{}});
      }
    }
    return out;
  }
  Sent send_one(const ForwardingState& st, const Bytes& frame, FlowClock now = kStart) {
    return send(st, {frame}, now).at(0);
  }

  // Backend id per frame; 0 where the frame was not forwarded.
  std::vector<uint32_t> backends_of(const ForwardingState& st, const std::vector<Bytes>& frames,
                                    FlowClock now = kStart) {
    std::vector<uint32_t> ids;
    for (const Sent& s : send(st, frames, now)) {
      EXPECT_EQ(s.verdict.action, Action::forward) << ::testing::PrintToString(s.verdict.drop);
      ids.push_back(s.verdict.action == Action::forward ? s.verdict.backend_id : 0);
    }
    return ids;
  }

  uint32_t maglev_choice(const ForwardingState& st, const std::string& service, const FlowKey& k) const {
    return pipeline_.pick_backend(st, service_id(st, service), flow_hash(k));
  }

  uint64_t drops(DropReason r) const { return counters_.drops[static_cast<std::size_t>(r)].read(); }

  StateBuilder builder_;
  FlowTable flows_;
  LcoreCounters counters_;
  Pipeline pipeline_;
  PortContext port_;
  uint64_t generation_ = 0;
};

// `n` client flows to web (kVip4:80), client ports 10000.., as SYNs.
inline std::vector<Bytes> syns(std::size_t n, uint16_t first_port = 10000) {
  std::vector<Bytes> v;
  for (std::size_t i = 0; i < n; ++i) v.push_back(tcp4_frame(static_cast<uint16_t>(first_port + i), 80));
  return v;
}
inline FlowKey syn_key(std::size_t i, uint16_t first_port = 10000) {
  return flow_key(kClient4, kVip4, static_cast<uint16_t>(first_port + i), 80, kProtoTcp);
}

}  // namespace anylb::test
