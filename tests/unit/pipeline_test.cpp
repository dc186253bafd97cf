// Pipeline::process_burst end to end on built frames: flows are pinned and
// keep their backend across rebuilds (invariant 4), a backend that goes down
// loses exactly its flows, a draining one keeps them but takes no new ones,
// ICMP errors follow their flow (invariant 5), fragments follow the service's
// policy, and everything that is not forwarded has its verdict and counter.
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "pipeline.hpp"
#include "printers.hpp"
#include "state_builder.hpp"
#include "state_fixtures.hpp"

namespace anylb::test {
namespace {

constexpr uint32_t kMaxServices = 8;
constexpr uint32_t kMaxBackends = 64;
constexpr FlowClock kStart = 1'000;

StateLimits limits() {
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
      pipeline_.process_burst(st, port_, now, burst, verdicts.data());
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
std::vector<Bytes> syns(std::size_t n, uint16_t first_port = 10000) {
  std::vector<Bytes> v;
  for (std::size_t i = 0; i < n; ++i) v.push_back(tcp4_frame(static_cast<uint16_t>(first_port + i), 80));
  return v;
}
FlowKey syn_key(std::size_t i, uint16_t first_port = 10000) {
  return flow_key(kClient4, kVip4, static_cast<uint16_t>(first_port + i), 80, kProtoTcp);
}

// --- Flows ---------------------------------------------------------------------

TEST_F(PipelineTest, NewFlowIsInsertedPinnedAndRewritten) {
  const auto st = apply(web_state(3));
  const uint32_t web = service_id(*st, "web");
  const Bytes syn = tcp4_frame(40000, 80);
  const Sent first = send_one(*st, syn);
  ASSERT_EQ(first.verdict.action, Action::forward) << ::testing::PrintToString(first.verdict.drop);
  const uint32_t b = first.verdict.backend_id;
  ASSERT_NE(b, 0u);
  EXPECT_EQ(st->backends[b].service_id, web);
  EXPECT_EQ(b, maglev_choice(*st, "web", flow_key(kClient4, kVip4, 40000, 80, kProtoTcp)));
  EXPECT_EQ(first.verdict.prepended, 0u) << "l2-dsr prepends nothing";
  EXPECT_EQ(slice(first.out, 0, 6), Bytes(st->backends[b].mac.bytes.begin(), st->backends[b].mac.bytes.end()));
  EXPECT_EQ(slice(first.out, 6, 6), Bytes(port_.mac.bytes.begin(), port_.mac.bytes.end()));
  EXPECT_EQ(slice(first.out, 12, syn.size() - 12), slice(syn, 12, syn.size() - 12));
  EXPECT_EQ(flows_.stats().inserts.read(), 1u);
  EXPECT_EQ(counters_.services[web].new_flows.read(), 1u);
  EXPECT_EQ(counters_.backends[b].new_flows.read(), 1u);

  for (int i = 0; i < 10; ++i) {
    const Sent next = send_one(*st, tcp4_frame(40000, 80, kTcpAck), kStart + 10 * i);
    EXPECT_EQ(next.verdict.backend_id, b);
  }
  EXPECT_EQ(flows_.stats().inserts.read(), 1u) << "later packets hit the flow table";
  EXPECT_EQ(counters_.services[web].new_flows.read(), 1u);
  EXPECT_EQ(counters_.backends[b].packets.read(), 11u);
  EXPECT_EQ(counters_.services[web].bytes.read(), 11 * syn.size());
}

// A burst carrying several packets of each of a few new flows: the first
// packet of each inserts, the later ones (whose first-bucket match the burst
// computed before that insert) must find it, not insert again.
TEST_F(PipelineTest, AFlowsPacketsInOneBurstShareOneEntry) {
  const auto st = apply(web_state(5));
  const uint32_t web = service_id(*st, "web");
  std::vector<Bytes> burst;
  for (int round = 0; round < 4; ++round)
    for (std::size_t f = 0; f < 8; ++f) burst.push_back(tcp4_frame(static_cast<uint16_t>(20000 + f), 80));
  for (int pass = 0; pass < 2; ++pass) {  // new flows, then the same flows established
    const std::vector<uint32_t> ids = backends_of(*st, burst, kStart + pass);
    for (std::size_t i = 0; i < ids.size(); ++i)
      EXPECT_EQ(ids[i], maglev_choice(*st, "web", syn_key(i % 8, 20000))) << "pass " << pass << " packet " << i;
    EXPECT_EQ(flows_.stats().inserts.read(), 8u) << "pass " << pass;
    EXPECT_EQ(flows_.stats().occupancy.read(), 8u) << "pass " << pass;
    EXPECT_EQ(counters_.services[web].new_flows.read(), 8u) << "pass " << pass;
  }
}

TEST_F(PipelineTest, FlowsKeepTheirBackendWhenABackendIsAdded) {
  DesiredState s = web_state(3);
  const auto before = apply(s);
  const std::vector<Bytes> flows = syns(300);
  const std::vector<uint32_t> pinned = backends_of(*before, flows);

  s.backends.push_back(backend("web", "198.18.1.99"));
  const auto after = apply(s);
  std::size_t maglev_moved = 0;
  for (std::size_t i = 0; i < flows.size(); ++i)
    maglev_moved += maglev_choice(*after, "web", syn_key(i)) != pinned[i];
  ASSERT_GT(maglev_moved, 30u) << "the new backend takes about a quarter of the table";

  EXPECT_EQ(backends_of(*after, flows, kStart + 100), pinned) << "established flows moved";
  EXPECT_EQ(counters_.flows_repinned.read(), 0u);
  // New flows do reach the new backend.
  const uint32_t newcomer = backend_id(*after, service_id(*after, "web"), "198.18.1.99");
  const std::vector<uint32_t> fresh = backends_of(*after, syns(300, 20000), kStart + 100);
  EXPECT_GT(std::count(fresh.begin(), fresh.end(), newcomer), 30);
}

TEST_F(PipelineTest, DownBackendLosesExactlyItsFlows) {
  DesiredState s = web_state(3);
  const auto before = apply(s);
  const std::vector<Bytes> flows = syns(300);
  const std::vector<uint32_t> pinned = backends_of(*before, flows);
  const uint32_t victim = pinned[0];
  const auto victim_flows = static_cast<uint64_t>(std::count(pinned.begin(), pinned.end(), victim));

  find_backend(s, before->backends[victim].address.to_string())->state = BackendState::down;
  const auto after = apply(s);
  const std::vector<uint32_t> now = backends_of(*after, flows, kStart + 100);
  for (std::size_t i = 0; i < flows.size(); ++i) {
    if (pinned[i] == victim) {
      EXPECT_NE(now[i], victim) << "flow " << i << " still on a down backend";
      EXPECT_EQ(now[i], maglev_choice(*after, "web", syn_key(i))) << "flow " << i << " not re-pinned by Maglev";
    } else {
      EXPECT_EQ(now[i], pinned[i]) << "flow " << i << " moved although its backend is up";
    }
  }
  EXPECT_EQ(counters_.flows_repinned.read(), victim_flows);
  // Re-pinned once: the next packets stay where they went, without moving again.
  EXPECT_EQ(backends_of(*after, flows, kStart + 200), now);
  EXPECT_EQ(counters_.flows_repinned.read(), victim_flows);
}

// A backend removed from the configuration loses its flows like a down one.
TEST_F(PipelineTest, RemovedBackendLosesExactlyItsFlows) {
  DesiredState s = web_state(4);
  const auto before = apply(s);
  const std::vector<Bytes> flows = syns(300);
  const std::vector<uint32_t> pinned = backends_of(*before, flows);
  const uint32_t victim = pinned[0];
  std::erase_if(s.backends, [&](const BackendSpec& b) { return b.address == before->backends[victim].address; });
  const auto after = apply(s);
  ASSERT_FALSE(after->backends[victim].present);

  const std::vector<uint32_t> now = backends_of(*after, flows, kStart + 100);
  for (std::size_t i = 0; i < flows.size(); ++i) {
    if (pinned[i] == victim) {
      EXPECT_EQ(now[i], maglev_choice(*after, "web", syn_key(i))) << "flow " << i;
    } else {
      EXPECT_EQ(now[i], pinned[i]) << "flow " << i << " moved although its backend stayed";
    }
  }
  EXPECT_EQ(counters_.flows_repinned.read(), static_cast<uint64_t>(std::count(pinned.begin(), pinned.end(), victim)));
}

TEST_F(PipelineTest, DrainingBackendKeepsItsFlowsButGetsNoNewOnes) {
  DesiredState s = web_state(3);
  const auto before = apply(s);
  const std::vector<Bytes> flows = syns(300);
  const std::vector<uint32_t> pinned = backends_of(*before, flows);
  const uint32_t victim = pinned[0];

  find_backend(s, before->backends[victim].address.to_string())->state = BackendState::draining;
  const auto after = apply(s);
  EXPECT_EQ(backends_of(*after, flows, kStart + 100), pinned) << "existing flows must stay, even the draining one's";
  EXPECT_EQ(counters_.flows_repinned.read(), 0u);

  const std::vector<Bytes> fresh = syns(300, 20000);
  std::size_t would_have = 0;
  for (std::size_t i = 0; i < fresh.size(); ++i) would_have += maglev_choice(*before, "web", syn_key(i, 20000)) == victim;
  ASSERT_GT(would_have, 30u) << "test needs new flows that the victim would have taken";
  for (uint32_t b : backends_of(*after, fresh, kStart + 100)) EXPECT_NE(b, victim) << "a new flow went to a draining backend";
}

// With every backend draining, established flows carry on and new ones
// find no backend.
TEST_F(PipelineTest, AllDrainingServesOnlyEstablishedFlows) {
  DesiredState s = web_state(3);
  const auto before = apply(s);
  const std::vector<uint32_t> pinned = backends_of(*before, syns(50));
  for (BackendSpec& b : s.backends) b.state = BackendState::draining;
  const auto after = apply(s);
  EXPECT_EQ(backends_of(*after, syns(50), kStart + 100), pinned);
  const Sent fresh = send_one(*after, tcp4_frame(30000, 80), kStart + 100);
  EXPECT_EQ(fresh.verdict.drop, DropReason::no_backend);
}

TEST_F(PipelineTest, FinShortensTheFlowsIdleTimeout) {
  const auto st = apply(web_state(3));
  const FlowTimeouts t;
  send_one(*st, tcp4_frame(40000, 80), kStart);
  send_one(*st, tcp4_frame(40001, 80), kStart);
  send_one(*st, tcp4_frame(40001, 80, kTcpAck), kStart + 1);
  send_one(*st, tcp4_frame(40000, 80, kTcpFin | kTcpAck), kStart + 1);
  ASSERT_EQ(flows_.stats().inserts.read(), 2u);
  const FlowClock later = kStart + 1 + t.tcp_closing_ms + 1;
  send_one(*st, tcp4_frame(40000, 80, kTcpAck), later);  // closed flow: forgotten
  send_one(*st, tcp4_frame(40001, 80, kTcpAck), later);  // open flow: still known
  EXPECT_EQ(flows_.stats().inserts.read(), 3u);
}

TEST_F(PipelineTest, AClosingFlowStaysClosingUntilASynOpensItAgain) {
  // The client closes first: its FIN, then its ACK of the server's FIN (the
  // server's packets go around us). That ACK must not give the flow the
  // established timeout back.
  const auto st = apply(web_state(3));
  const FlowTimeouts t;
  send_one(*st, tcp4_frame(40000, 80), kStart);
  send_one(*st, tcp4_frame(40000, 80, kTcpAck), kStart + 1);
  send_one(*st, tcp4_frame(40000, 80, kTcpFin | kTcpAck), kStart + 2);
  send_one(*st, tcp4_frame(40000, 80, kTcpAck), kStart + 3);  // the last ACK
  ASSERT_EQ(flows_.stats().inserts.read(), 1u);
  send_one(*st, tcp4_frame(40000, 80, kTcpAck), kStart + 3 + t.tcp_closing_ms + 1);
  EXPECT_EQ(flows_.stats().inserts.read(), 2u) << "forgotten after the closing timeout";

  // A RST closes too; a new SYN on the same 5-tuple opens it again, and
  // the ACKs after it are an established flow's.
  send_one(*st, tcp4_frame(40001, 80), kStart);
  send_one(*st, tcp4_frame(40001, 80, kTcpRst), kStart + 1);
  send_one(*st, tcp4_frame(40001, 80), kStart + 2);           // reopened: the SYN timeout
  send_one(*st, tcp4_frame(40001, 80, kTcpAck), kStart + 3);  // established
  ASSERT_EQ(flows_.stats().inserts.read(), 3u);
  send_one(*st, tcp4_frame(40001, 80, kTcpAck), kStart + 3 + t.tcp_closing_ms + 1);
  EXPECT_EQ(flows_.stats().inserts.read(), 3u) << "reopened and established: still known";
}

TEST_F(PipelineTest, HalfOpenFlowsGetTheSynTimeout) {
  const auto st = apply(web_state(3));
  const FlowTimeouts t;
  ASSERT_LT(t.tcp_syn_ms, t.tcp_ms);
  const uint32_t half_open = send_one(*st, tcp4_frame(40000, 80), kStart).verdict.backend_id;
  send_one(*st, tcp4_frame(40001, 80), kStart);
  send_one(*st, tcp4_frame(40001, 80, kTcpAck), kStart + 1);  // the handshake's ACK: established
  send_one(*st, tcp4_frame(40002, 80), kStart);
  send_one(*st, tcp4_frame(40002, 80), kStart + t.tcp_syn_ms - 1);  // a retried SYN restarts the timeout
  ASSERT_EQ(flows_.stats().inserts.read(), 3u);
  const FlowClock later = kStart + t.tcp_syn_ms + 2;
  const Sent late_ack = send_one(*st, tcp4_frame(40000, 80, kTcpAck), later);  // half-open: forgotten
  EXPECT_EQ(flows_.stats().inserts.read(), 4u);
  EXPECT_EQ(late_ack.verdict.backend_id, half_open) << "re-inserted, on the same backend (Maglev)";
  send_one(*st, tcp4_frame(40001, 80, kTcpAck), later);  // established: still known
  send_one(*st, tcp4_frame(40002, 80, kTcpAck), later);  // retried SYN: still known
  EXPECT_EQ(flows_.stats().inserts.read(), 4u);
}

// A spoofed SYN flood on a full table: the half-open flows' short timeout
// makes them the eviction candidates (least time left), so established
// flows stay. With the SYN timeout as long as the established one, the
// flood pushes the established flows out: the check below can fail.
TEST_F(PipelineTest, SynFloodOnAFullTableSparesEstablishedFlows) {
  const auto st = apply(web_state(3));
  constexpr std::size_t kEstablished = 5000, kFlood = 40000;
  auto survivors = [&](FlowTimeouts timeouts) {
    FlowTable table(4096);  // 8192 slots
    LcoreCounters counters(kMaxServices, kMaxBackends);
    Pipeline pipeline(table, counters, timeouts);
    auto run = [&](const std::vector<Bytes>& frames, FlowClock now) {
      for (std::size_t first = 0; first < frames.size(); first += 32) {
        std::vector<HeadroomBuffer> buffers;
        std::vector<FrameBuffer> burst;
        const std::size_t n = std::min<std::size_t>(32, frames.size() - first);
        buffers.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
          buffers.emplace_back(frames[first + i], 128);
          burst.push_back(buffers.back().frame());
        }
        std::vector<Verdict> verdicts(n);
        pipeline.process_burst(*st, port_, now, burst, verdicts.data());
      }
    };
    std::vector<Bytes> syn, ack, flood;
    for (std::size_t i = 0; i < kEstablished; ++i) {
      syn.push_back(tcp4_frame(static_cast<uint16_t>(10000 + i), 80));
      ack.push_back(tcp4_frame(static_cast<uint16_t>(10000 + i), 80, kTcpAck));
    }
    for (std::size_t i = 0; i < kFlood; ++i)
      flood.push_back(tcp4_frame(static_cast<uint16_t>(20000 + i), 80, kTcpSyn, "192.0.2.66"));
    run(syn, kStart);
    run(ack, kStart + 1);
    EXPECT_EQ(table.stats().occupancy.read(), kEstablished);
    run(flood, kStart + 2);
    std::size_t kept = 0;
    for (std::size_t i = 0; i < kEstablished; ++i) {
      const FlowKey k = syn_key(i);
      kept += table.lookup(k, flow_hash(k), kStart + 3) != FlowTable::kMiss;
    }
    return kept;
  };
  FlowTimeouts defaults;
  const std::size_t kept = survivors(defaults);
  EXPECT_GE(kept, kEstablished * 9 / 10) << "established flows evicted by half-open ones";
  FlowTimeouts no_syn_timeout;
  no_syn_timeout.tcp_syn_ms = no_syn_timeout.tcp_ms;
  const std::size_t kept_without = survivors(no_syn_timeout);
  EXPECT_LT(kept_without, kEstablished / 10) << "the flood should have evicted them without the SYN timeout";
  std::cout << "established flows kept: " << kept << " of " << kEstablished << " (without the SYN timeout "
            << kept_without << ")\n";
}

// --- ICMP errors and fragments ------------------------------------------------

TEST_F(PipelineTest, IcmpErrorsReachTheBackendThatOwnsTheFlow) {
  DesiredState s = web_state(3);
  s.services.push_back(service("web6", kVip6, 80));
  for (int i = 1; i <= 3; ++i) s.backends.push_back(backend("web6", "2001:db8:b::" + std::to_string(i)));
  const auto before = apply(s);
  std::vector<Bytes> flows = syns(100);
  for (uint16_t i = 0; i < 100; ++i) flows.push_back(tcp6_frame(static_cast<uint16_t>(10000 + i), 80));
  const std::vector<uint32_t> pinned = backends_of(*before, flows);

  // Two more backends: Maglev now sends some of these flows elsewhere, the
  // flow table does not, and the ICMP errors must follow the flow table.
  s.backends.push_back(backend("web", "198.18.1.98"));
  s.backends.push_back(backend("web", "198.18.1.99"));
  s.backends.push_back(backend("web6", "2001:db8:b::98"));
  s.backends.push_back(backend("web6", "2001:db8:b::99"));
  const auto after = apply(s);
  std::size_t checked4 = 0, checked6 = 0;
  for (uint16_t i = 0; i < 100; ++i) {
    const uint16_t client_port = static_cast<uint16_t>(10000 + i);
    const FlowKey k4 = flow_key(kClient4, kVip4, client_port, 80, kProtoTcp);
    if (maglev_choice(*after, "web", k4) != pinned[i]) {
      const Sent e = send_one(*after, frag_needed4_frame(client_port, 80), kStart + 50);
      EXPECT_EQ(e.verdict.action, Action::forward) << ::testing::PrintToString(e.verdict.drop);
      EXPECT_EQ(e.verdict.backend_id, pinned[i]) << "frag-needed for flow " << i;
      ++checked4;
    }
    const FlowKey k6 = flow_key(kClient6, kVip6, client_port, 80, kProtoTcp);
    if (maglev_choice(*after, "web6", k6) != pinned[100 + i]) {
      const Sent e = send_one(*after, packet_too_big6_frame(client_port, 80), kStart + 50);
      EXPECT_EQ(e.verdict.backend_id, pinned[100 + i]) << "packet-too-big for flow " << i;
      ++checked6;
    }
  }
  ASSERT_GT(checked4, 10u);
  ASSERT_GT(checked6, 10u);
  EXPECT_EQ(counters_.icmp_errors_forwarded.read(), checked4 + checked6);

  // About a flow this lcore never saw: Maglev's choice, as for its SYN.
  const Sent unseen = send_one(*after, frag_needed4_frame(55555, 80), kStart + 50);
  EXPECT_EQ(unseen.verdict.backend_id, maglev_choice(*after, "web", flow_key(kClient4, kVip4, 55555, 80, kProtoTcp)));
  EXPECT_EQ(flows_.stats().inserts.read(), 200u) << "an ICMP error creates no flow";
}

// Fragments of one datagram, and of one client, go to one backend.
TEST_F(PipelineTest, FragmentsWithPolicyHashShareABackend) {
  DesiredState s;
  s.node_addresses = {ip(kNode4)};
  s.services.push_back(service("media", "203.0.113.20", kAnyPort, ForwardingMode::l2_dsr, FragmentPolicy::hash, kProtoUdp));
  for (std::size_t i = 0; i < 5; ++i) s.backends.push_back(backend("media", backend_address(i)));
  const auto st = apply(s);

  std::set<uint32_t> used;
  for (int client = 1; client <= 20; ++client) {
    const std::string src = "198.51.100." + std::to_string(client);
    Ipv4Fields first, middle, last;
    first.flags_fragment = 0x2000;
    middle.flags_fragment = 0x2000 | 3;
    last.flags_fragment = 6;
    const std::vector<Bytes> pieces = {
        ethernet(kEtherTypeIpv4) + ipv4(src, "203.0.113.20", kProtoUdp, udp(5004, 5004, payload(16)), first),
        ethernet(kEtherTypeIpv4) + ipv4(src, "203.0.113.20", kProtoUdp, payload(24), middle),
        ethernet(kEtherTypeIpv4) + ipv4(src, "203.0.113.20", kProtoUdp, payload(8), last)};
    const std::vector<uint32_t> b = backends_of(*st, pieces);
    ASSERT_NE(b[0], 0u);
    EXPECT_EQ(b[1], b[0]) << "client " << client;
    EXPECT_EQ(b[2], b[0]) << "client " << client;
    EXPECT_EQ(b[0], maglev_choice(*st, "media", flow_key(src, "203.0.113.20", 0, 0, kProtoUdp)));
    used.insert(b[0]);
  }
  EXPECT_GT(used.size(), 1u) << "fragments of different clients should spread";
  EXPECT_EQ(counters_.fragments_hashed.read(), 60u);
}

TEST_F(PipelineTest, FragmentsWithPolicyDropAreCounted) {
  DesiredState s = web_state(3);  // fragments=drop
  // Two port services on one VIP and protocol: a fragment cannot choose.
  s.services.push_back(service("a", "203.0.113.30", 80, ForwardingMode::l2_dsr, FragmentPolicy::hash));
  s.services.push_back(service("b", "203.0.113.30", 443, ForwardingMode::l2_dsr, FragmentPolicy::hash));
  s.backends.push_back(backend("a", "198.18.3.1"));
  s.backends.push_back(backend("b", "198.18.3.2"));
  const auto st = apply(s);
  Ipv4Fields frag;
  frag.flags_fragment = 0x2000;
  const Sent dropped = send_one(*st, ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoTcp, tcp(40000, 80), frag));
  EXPECT_EQ(dropped.verdict.action, Action::drop);
  EXPECT_EQ(dropped.verdict.drop, DropReason::fragment_dropped);
  EXPECT_EQ(drops(DropReason::fragment_dropped), 1u);

  const Sent ambiguous = send_one(*st, ethernet(kEtherTypeIpv4) + ipv4(kClient4, "203.0.113.30", kProtoTcp, tcp(40000, 80), frag));
  EXPECT_EQ(ambiguous.verdict.drop, DropReason::fragment_ambiguous);
  EXPECT_EQ(drops(DropReason::fragment_ambiguous), 1u);
}

// An IPv6 datagram whose Destination Options follow the Fragment header
// (RFC 8200 4.1): every fragment names Destination Options, not UDP. They
// go, alike, to the VIP's one fragment service; with a TCP and a UDP one
// the VIP's fragments are ambiguous; from a martian source, dropped.
TEST_F(PipelineTest, Ipv6FragmentsBehindDestinationOptionsFindTheVipsFragmentService) {
  DesiredState s;
  s.node_addresses = {ip(kNode4)};
  s.services.push_back(service("media6", kVip6, kAnyPort, ForwardingMode::l2_dsr, FragmentPolicy::hash, kProtoUdp));
  s.services.push_back(service("both-udp", "2001:db8:a::20", kAnyPort, ForwardingMode::l2_dsr, FragmentPolicy::hash,
                               kProtoUdp));
  s.services.push_back(service("both-tcp", "2001:db8:a::20", kAnyPort, ForwardingMode::l2_dsr, FragmentPolicy::hash,
                               kProtoTcp));
  for (std::size_t i = 0; i < 5; ++i) s.backends.push_back(backend("media6", "2001:db8:b::" + std::to_string(i + 1)));
  s.backends.push_back(backend("both-udp", "2001:db8:b::a"));
  s.backends.push_back(backend("both-tcp", "2001:db8:b::b"));
  const auto st = apply(s);

  auto pieces = [](std::string_view src, std::string_view dst) {
    return std::vector<Bytes>{
        ethernet(kEtherTypeIpv6) + ipv6(src, dst, kIpv6Fragment,
                                        ipv6_fragment_header(kIpv6DestOpts, 0, true) +
                                            ipv6_options_header(kProtoUdp) + udp(5004, 5004, payload(16))),
        ethernet(kEtherTypeIpv6) + ipv6(src, dst, kIpv6Fragment,
                                        ipv6_fragment_header(kIpv6DestOpts, 4, false) + payload(24))};
  };
  std::set<uint32_t> used;
  for (int client = 1; client <= 20; ++client) {
    const std::string src = "2001:db8:c::" + std::to_string(client);
    const std::vector<uint32_t> b = backends_of(*st, pieces(src, kVip6));
    ASSERT_NE(b[0], 0u) << "client " << client;
    EXPECT_EQ(b[1], b[0]) << "client " << client;
    EXPECT_EQ(b[0], maglev_choice(*st, "media6", flow_key(src, kVip6, 0, 0, kIpv6DestOpts)));
    used.insert(b[0]);
  }
  EXPECT_GT(used.size(), 1u) << "different clients' datagrams should spread";
  EXPECT_EQ(counters_.fragments_hashed.read(), 40u);

  const Sent ambiguous = send_one(*st, pieces(kClient6, "2001:db8:a::20")[1]);
  EXPECT_EQ(ambiguous.verdict.drop, DropReason::fragment_ambiguous);
  const Sent martian = send_one(*st, pieces("::", kVip6)[1]);
  EXPECT_EQ(martian.verdict.drop, DropReason::martian_source);

  // The first fragment says what the options hide: TCP to the UDP-only VIP
  // is not its fragment service's traffic. Options cut short in a first
  // fragment (the whole chain must be there, RFC 7112) are truncated.
  const Sent tcp_inside = send_one(*st, ethernet(kEtherTypeIpv6) +
                                            ipv6(kClient6, kVip6, kIpv6Fragment,
                                                 ipv6_fragment_header(kIpv6DestOpts, 0, true) +
                                                     ipv6_options_header(kProtoTcp) + tcp(40000, 80)));
  EXPECT_EQ(tcp_inside.verdict.drop, DropReason::no_service);
  const Sent cut = send_one(*st, ethernet(kEtherTypeIpv6) + ipv6(kClient6, kVip6, kIpv6Fragment,
                                                                  ipv6_fragment_header(kIpv6DestOpts, 0, true) +
                                                                      payload(4)));
  EXPECT_EQ(cut.verdict.drop, DropReason::ipv6_truncated);
  const Sent no_ports = send_one(*st, ethernet(kEtherTypeIpv6) + ipv6(kClient6, kVip6, kIpv6Fragment,
                                                                       ipv6_fragment_header(kIpv6DestOpts, 0, true) +
                                                                           ipv6_options_header(kProtoUdp) + payload(4)));
  EXPECT_EQ(no_ports.verdict.drop, DropReason::ipv6_truncated);
  EXPECT_EQ(counters_.fragments_hashed.read(), 40u);
}

// --- Not forwarded --------------------------------------------------------------

TEST_F(PipelineTest, TrafficForTheNodeGoesToTheKernel) {
  const auto st = apply(web_state(3));
  const std::vector<Bytes> frames = {
      tcp4_frame(40000, 179, kTcpSyn, kRouter4, kNode4),  // BGP
      ethernet(kEtherTypeIpv4) + ipv4(kRouter4, kNode4, kProtoIcmp, icmp4(kIcmpEchoRequest, 0, payload(8))),
      ethernet(kEtherTypeArp, std::nullopt, "ff:ff:ff:ff:ff:ff") + arp_request(kRouter4, kNode4),
      tcp6_frame(40000, 179, kTcpSyn, kRouter6, kNode6),
      ethernet(kEtherTypeIpv6) + ipv6(kRouter6, "ff02::1:ff00:2", kProtoIcmp6,
                                      icmp6(kIcmp6NeighborSolicitation, 0, address_bytes(kNode6))),
      ethernet(kEtherTypeIpv6, std::nullopt, "33:33:ff:00:00:02") +  // as a neighbour solicitation really comes
          ipv6(kRouter6, "ff02::1:ff00:2", kProtoIcmp6, icmp6(kIcmp6NeighborSolicitation, 0, address_bytes(kNode6))),
  };
  for (const Sent& s : send(*st, frames)) {
    EXPECT_EQ(s.verdict.action, Action::exception);
    EXPECT_EQ(s.verdict.backend_id, 0u);
  }
  EXPECT_EQ(counters_.exception_packets.read(), frames.size());
  EXPECT_EQ(flows_.stats().inserts.read(), 0u);
}

Bytes cut_frame(Bytes f, std::size_t len) {
  f.resize(len);
  return f;
}

struct DropCase {
  std::string name;
  Bytes frame;
  DropReason reason;
};

TEST_F(PipelineTest, EveryDropHasItsReasonAndCounter) {
  DesiredState s = web_state(3);
  s.services.push_back(service("empty", kVip4, 8080));  // no backends at all
  s.services.push_back(service("down", kVip4, 8081));
  s.backends.push_back(backend("down", "198.18.4.1", BackendState::down));
  s.backends.push_back(backend("down", "198.18.4.2", BackendState::down));
  const auto st = apply(s);
  const std::vector<DropCase> cases = {
      {"unknown destination", tcp4_frame(40000, 80, kTcpSyn, kClient4, "192.0.2.1"), DropReason::not_for_node},
      {"no service on that port", tcp4_frame(40000, 443), DropReason::no_service},
      {"no service for udp", udp4_frame(40000, 80), DropReason::no_service},
      {"service without backends", tcp4_frame(40000, 8080), DropReason::no_backend},
      {"every backend down", tcp4_frame(40000, 8081), DropReason::no_backend},
      {"ping to a VIP", ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoIcmp, icmp4(kIcmpEchoRequest, 0, {})),
       DropReason::icmp_unsupported},
      {"GRE to a VIP", ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, 47, payload(8)), DropReason::protocol_unsupported},
      {"malformed", cut_frame(tcp4_frame(), 30), DropReason::ipv4_truncated},
      // A promiscuous port sees what a bridge floods: another host's frames.
      {"for another host's MAC",
       ethernet(kEtherTypeIpv4, std::nullopt, "02:00:00:00:77:77") + ipv4(kClient4, kVip4, kProtoTcp, tcp(40000, 80)),
       DropReason::not_our_mac},
      {"a flow broadcast", ethernet(kEtherTypeIpv4, std::nullopt, "ff:ff:ff:ff:ff:ff") +
                               ipv4(kClient4, kVip4, kProtoTcp, tcp(40000, 80)),
       DropReason::not_our_mac},
      {"a flow multicast", ethernet(kEtherTypeIpv6, std::nullopt, "33:33:00:00:00:10") +
                               ipv6(kClient6, kVip6, kProtoTcp, tcp(40000, 80)),
       DropReason::not_our_mac},
  };
  std::vector<Bytes> frames;
  for (const DropCase& c : cases) frames.push_back(c.frame);
  frames.insert(frames.begin() + 3, tcp4_frame(40000, 80));  // a good one in the middle: order kept
  const std::vector<Sent> out = send(*st, frames);
  EXPECT_EQ(out[3].verdict.action, Action::forward);
  std::map<DropReason, uint64_t> expected;
  for (std::size_t i = 0, c = 0; i < out.size(); ++i) {
    if (i == 3) continue;
    EXPECT_EQ(out[i].verdict.action, Action::drop) << cases[c].name;
    EXPECT_EQ(out[i].verdict.drop, cases[c].reason) << cases[c].name;
    ++expected[cases[c].reason];
    ++c;
  }
  for (std::size_t r = 0; r < kDropReasonCount; ++r) {
    const auto reason = static_cast<DropReason>(r);
    EXPECT_EQ(drops(reason), expected.count(reason) ? expected[reason] : 0) << drop_reason_name(reason);
  }
}

// --- Encapsulating services ---------------------------------------------------------

TEST_F(PipelineTest, IpipServiceEncapsulatesToTheBackend) {
  const auto st = apply(web_state(3, ForwardingMode::ipip));
  const Bytes syn = tcp4_frame(40000, 80);
  const Sent s = send_one(*st, syn);
  ASSERT_EQ(s.verdict.action, Action::forward) << ::testing::PrintToString(s.verdict.drop);
  EXPECT_EQ(s.verdict.prepended, 20u);
  EXPECT_EQ(s.verdict.len, syn.size() + 20);
  const ParseOutcome o = parse_packet(s.out);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o.packet.key.src_address(), ip(kNode4));
  EXPECT_EQ(o.packet.key.dst_address(), st->backends[s.verdict.backend_id].address);
  EXPECT_EQ(o.packet.key.proto, kProtoIpip);
  EXPECT_EQ(slice(s.out, 34, syn.size() - 14), slice(syn, 14, syn.size() - 14));
}

// Three workers: 65536 is no multiple of 3, and a lane that wrapped at
// 65536 went on in another lane's values. Each lane stays in its own.
TEST_F(PipelineTest, OuterIdentificationLanesStayApartAcrossTheirWrap) {
  const auto st = apply(web_state(3, ForwardingMode::ipip));
  Ipv4Fields no_df;
  no_df.flags_fragment = 0;
  const Bytes f = ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoTcp, tcp(40000, 80, kTcpAck), no_df);
  for (const uint16_t lane : {uint16_t{0}, uint16_t{1}, uint16_t{2}}) {
    pipeline_.set_ipv4_id_lane(lane, 3);
    std::set<uint16_t> ids;
    for (int i = 0; i < 2 * 21846; ++i) {  // each lane holds 21845 values: wraps twice
      const Sent s = send_one(*st, f);
      ASSERT_EQ(s.verdict.action, Action::forward);
      const uint16_t id = get16(s.out, 14 + 4);
      ASSERT_EQ(id % 3, lane) << "lane " << lane << " packet " << i << " took " << id;
      ids.insert(id);
    }
    EXPECT_EQ(ids.size(), 21845u) << "lane " << lane << " uses all of its values";
  }
}

// Path MTU discovery through an encapsulating service: the sender learns,
// from the VIP, how big a packet may be.
// Outer IPv4 identifications: a packet routers may fragment (no DF) takes
// the next of its lcore's lane; a DF packet carries 0 and uses none up, and
// two lanes never meet.
TEST_F(PipelineTest, OuterIdentificationsComeFromTheLcoresLane) {
  const auto st = apply(web_state(3, ForwardingMode::ipip));
  Ipv4Fields no_df;
  no_df.flags_fragment = 0;
  auto frame = [&](uint16_t sport, bool df) {
    return ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoTcp, tcp(sport, 80, kTcpAck), df ? Ipv4Fields{} : no_df);
  };
  std::set<uint16_t> seen[2];
  for (const uint16_t lane : {uint16_t{0}, uint16_t{1}}) {
    pipeline_.set_ipv4_id_lane(lane, 2);
    std::vector<uint16_t> ids;
    for (uint16_t i = 0; i < 6; ++i) {
      const Sent s = send_one(*st, frame(static_cast<uint16_t>(41000 + i), i % 2 == 1));
      ASSERT_EQ(s.verdict.action, Action::forward);
      ids.push_back(get16(s.out, 14 + 4));
    }
    EXPECT_EQ(ids, (std::vector<uint16_t>{lane, 0, static_cast<uint16_t>(lane + 2), 0,
                                          static_cast<uint16_t>(lane + 4), 0}))
        << "lane " << lane;
    for (std::size_t i = 0; i < ids.size(); i += 2) seen[lane].insert(ids[i]);
  }
  for (uint16_t id : seen[0]) EXPECT_FALSE(seen[1].count(id)) << id;
}

TEST_F(PipelineTest, TooBigToEncapsulateGetsAnIcmpErrorFromTheVip) {
  const auto st = apply(web_state(3, ForwardingMode::gue));  // IPv4 backends: 20 + 8 bytes of outer headers
  const Bytes big = ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoTcp, tcp(40000, 80, kTcpAck, payload(1460)));
  const Sent s = send_one(*st, big);
  ASSERT_EQ(s.verdict.action, Action::reply) << ::testing::PrintToString(s.verdict.drop);
  const Bytes& out = s.out;
  ASSERT_EQ(out.size(), 14u + 576u) << "an IPv4 error carries 576 bytes at most (RFC 1812)";
  EXPECT_EQ(slice(out, 0, 6), slice(big, 6, 6)) << "back to the MAC it came from";
  EXPECT_EQ(slice(out, 6, 6), Bytes(port_.rx_mac.bytes.begin(), port_.rx_mac.bytes.end()));
  const std::byte* ip = out.data() + 14;
  EXPECT_EQ(internet_checksum({ip, 20}), 0) << "IPv4 header checksum";
  EXPECT_EQ(slice(out, 14 + 12, 4), address_bytes(kVip4)) << "from the VIP";
  EXPECT_EQ(slice(out, 14 + 16, 4), address_bytes(kClient4)) << "to the sender";
  EXPECT_EQ(std::to_integer<uint8_t>(ip[9]), kProtoIcmp);
  const std::byte* icmp = ip + 20;
  EXPECT_EQ(std::to_integer<uint8_t>(icmp[0]), 3);
  EXPECT_EQ(std::to_integer<uint8_t>(icmp[1]), 4) << "fragmentation needed";
  EXPECT_EQ(load_be16(icmp + 6), 1500 - 28) << "the largest packet that fits once encapsulated";
  EXPECT_EQ(internet_checksum({icmp, 576 - 20}), 0) << "ICMP checksum";
  EXPECT_EQ(slice(out, 14 + 28, 548), slice(big, 14, 548)) << "quotes the packet from its IP header";
  EXPECT_EQ(counters_.icmp_too_big_sent.read(), 1u);
  EXPECT_EQ(drops(DropReason::encap_too_big), 0u);

  // Without DF the sender lets routers fragment: no error is due; the
  // encapsulated packet leaves as outer fragments (the worker cuts them).
  Ipv4Fields no_df;
  no_df.flags_fragment = 0;
  const Bytes may_fragment =
      ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoTcp, tcp(40001, 80, kTcpAck, payload(1460)), no_df);
  const Sent fragmented = send_one(*st, may_fragment);
  EXPECT_EQ(fragmented.verdict.action, Action::forward_fragments);
  EXPECT_EQ(fragmented.verdict.len, may_fragment.size() + 28) << "built whole: GUE over IPv4 adds 28 bytes";
  EXPECT_EQ(drops(DropReason::encap_too_big), 0u);
}

TEST_F(PipelineTest, AnIcmpErrorTooBigToEncapsulateGetsNoErrorBack) {
  // A router's "fragmentation needed" (DF set, as routers send them) about
  // a GUE service's flow, quoting enough to be too big once encapsulated:
  // dropped and counted, never answered with an error of our own.
  const auto st = apply(web_state(3, ForwardingMode::gue));
  const Bytes big_error =
      ethernet(kEtherTypeIpv4) +
      ipv4(kRouter4, kVip4, kProtoIcmp,
           icmp4(kIcmpDestUnreachable, kIcmpFragNeeded,
                 ipv4(kVip4, kClient4, kProtoTcp, tcp(80, 40000, kTcpAck, payload(1420))), 1400));
  ASSERT_GT(big_error.size() + 28, 14u + 1500u);
  const Sent s = send_one(*st, big_error);
  EXPECT_EQ(s.verdict.action, Action::drop);
  EXPECT_EQ(s.verdict.drop, DropReason::encap_too_big);
  EXPECT_EQ(counters_.icmp_too_big_sent.read(), 0u);
  EXPECT_EQ(counters_.icmp_errors_forwarded.read(), 0u) << "counted as forwarded only when it is";
  EXPECT_EQ(drops(DropReason::encap_too_big), 1u);
  // The same error quoting little is forwarded, and counted.
  EXPECT_EQ(send_one(*st, frag_needed4_frame(40000, 80)).verdict.action, Action::forward);
  EXPECT_EQ(counters_.icmp_errors_forwarded.read(), 1u);
}

TEST_F(PipelineTest, TooBigOverIpv6GetsAPacketTooBig) {
  DesiredState ds = web_state(3, ForwardingMode::ipip);
  ds.services.push_back(service("web6", kVip6, 80, ForwardingMode::ipip));
  ds.backends.push_back(backend("web6", "2001:db8:b::1"));  // IPv6 backend: 40 bytes of outer header
  const auto st = apply(ds);
  const Bytes big = ethernet(kEtherTypeIpv6) + ipv6(kClient6, kVip6, kProtoTcp, tcp(40000, 80, kTcpAck, payload(1440)));
  const Sent s = send_one(*st, big);
  ASSERT_EQ(s.verdict.action, Action::reply) << ::testing::PrintToString(s.verdict.drop);
  ASSERT_EQ(s.out.size(), 14u + 1280u) << "an ICMPv6 error fills the minimum MTU at most";
  const std::byte* ip = s.out.data() + 14;
  EXPECT_EQ(slice(s.out, 14 + 8, 16), address_bytes(kVip6));
  EXPECT_EQ(slice(s.out, 14 + 24, 16), address_bytes(kClient6));
  EXPECT_EQ(std::to_integer<uint8_t>(ip[6]), kProtoIcmp6);
  const std::byte* icmp = ip + 40;
  EXPECT_EQ(std::to_integer<uint8_t>(icmp[0]), 2) << "packet too big";
  EXPECT_EQ(load_be32(icmp + 4), 1500u - 40u);
  uint32_t sum = checksum_partial({ip + 8, 32});
  sum += 1240;
  sum += kProtoIcmp6;
  EXPECT_EQ(checksum_fold(checksum_partial({icmp, 1240}, sum)), 0) << "ICMPv6 checksum with its pseudo-header";
}

// RFC 2473 7.1: an IPv6 packet of at most 1280 bytes must cross the tunnel
// whatever its MTU (no packet-too-big may ask for less), so the outer packet
// is fragmented; a larger one is told 1280, which then fits.
TEST_F(PipelineTest, AnIpv6PacketOfTheMinimumMtuCrossesTheTunnelInOuterFragments) {
  DesiredState ds = web_state(3, ForwardingMode::ipip);
  ds.services.push_back(service("web6", kVip6, 80, ForwardingMode::ipip));
  ds.backends.push_back(backend("web6", "198.18.1.60"));  // IPv4 backend: 20 bytes of outer header
  const auto st = apply(ds);
  port_.mtu = 1290;  // 1280 + 20 does not fit
  pipeline_.set_ipv4_id_lane(1, 2);
  const auto frame = [](std::size_t ip_len) {
    return ethernet(kEtherTypeIpv6) + ipv6(kClient6, kVip6, kProtoTcp, tcp(40000, 80, kTcpAck, payload(ip_len - 60)));
  };
  const Bytes min = frame(1280);
  const Sent s = send_one(*st, min);
  ASSERT_EQ(s.verdict.action, Action::forward_fragments) << ::testing::PrintToString(s.verdict.drop);
  EXPECT_EQ(s.verdict.len, min.size() + 20) << "built whole; the worker cuts it";
  EXPECT_EQ(get16(s.out, 14 + 6) & 0x4000, 0) << "no DF on an outer packet to be fragmented";
  EXPECT_EQ(get16(s.out, 14 + 4), 1) << "an identification from the lcore's lane";
  EXPECT_EQ(counters_.icmp_too_big_sent.read(), 0u);

  const Sent e = send_one(*st, frame(1281));
  ASSERT_EQ(e.verdict.action, Action::reply);
  EXPECT_EQ(load_be32(e.out.data() + 14 + 40 + 4), 1280u) << "asks for 1280, which crosses";

  port_.mtu = 1500;  // fits: sent whole, DF set, no identification used
  const Sent whole = send_one(*st, min);
  EXPECT_EQ(whole.verdict.action, Action::forward);
  EXPECT_EQ(get16(whole.out, 14 + 6), 0x4000);
  EXPECT_EQ(get16(whole.out, 14 + 4), 0);
}

TEST_F(PipelineTest, TooBigErrorsAreRateLimited) {
  const auto st = apply(web_state(3, ForwardingMode::gue));
  std::vector<Bytes> bigs;
  for (uint16_t i = 0; i < 20; ++i)
    bigs.push_back(ethernet(kEtherTypeIpv4) +
                   ipv4(kClient4, kVip4, kProtoTcp, tcp(static_cast<uint16_t>(41000 + i), 80, kTcpAck, payload(1460))));
  const std::vector<Sent> first = send(*st, bigs, kStart);  // one millisecond
  const auto replies =
      std::count_if(first.begin(), first.end(), [](const Sent& x) { return x.verdict.action == Action::reply; });
  EXPECT_EQ(replies, 8) << "at most 8 a millisecond per lcore";
  EXPECT_EQ(drops(DropReason::encap_too_big), 12u);
  EXPECT_EQ(send_one(*st, bigs[0], kStart + 1).verdict.action, Action::reply) << "the next millisecond has room again";
}

}  // namespace
}  // namespace anylb::test
