// The pipeline's packets that are not a flow's own: ICMP errors follow the
// flow they are about (invariant 5), fragments follow their service's policy.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "pipeline_fixture.hpp"

namespace anylb::test {
namespace {

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

// RSS hashes an error's outer addresses (a router's, the VIP), so it mostly
// reaches a worker that does not carry the flow: that worker finds the flow
// in the others' tables.
TEST_F(PipelineTest, IcmpErrorsAboutAnotherWorkersFlowsReachTheirBackends) {
  DesiredState s = web_state(3);
  const std::vector<uint32_t> pinned = backends_of(*apply(s), syns(100));  // on this fixture's worker
  s.backends.push_back(backend("web", "198.18.1.98"));
  s.backends.push_back(backend("web", "198.18.1.99"));
  const auto after = apply(s);
  FlowTable its_flows(4096);  // the worker the errors come to: none of the flows
  LcoreCounters its_counters(kMaxServices, kMaxBackends);
  Pipeline errors_worker(its_flows, its_counters, FlowTimeouts{});
  errors_worker.set_other_tables({&flows_});
  std::size_t moved = 0;
  for (uint16_t i = 0; i < 100; ++i) {
    const Sent e = send_via(errors_worker, *after, {frag_needed4_frame(static_cast<uint16_t>(10000 + i), 80)},
                            kStart + 50).at(0);
    EXPECT_EQ(e.verdict.action, Action::forward) << ::testing::PrintToString(e.verdict.drop);
    EXPECT_EQ(e.verdict.backend_id, pinned[i]) << "frag-needed for flow " << i;
    moved += maglev_choice(*after, "web", syn_key(i)) != pinned[i];
  }
  ASSERT_GT(moved, 10u) << "too few flows whose Maglev pick moved: the case proves little";
  EXPECT_EQ(its_counters.icmp_errors_pinned_elsewhere.read(), 100u);
  EXPECT_EQ(its_counters.icmp_errors_forwarded.read(), 100u);
  EXPECT_EQ(its_flows.stats().inserts.read(), 0u) << "an ICMP error creates no flow";

  // A flow nobody carries: the Maglev pick.
  EXPECT_EQ(send_via(errors_worker, *after, {frag_needed4_frame(55555, 80)}, kStart + 50).at(0).verdict.backend_id,
            maglev_choice(*after, "web", flow_key(kClient4, kVip4, 55555, 80, kProtoTcp)));
  // Its pinned backend down: the flow's own worker would move it, so the
  // error goes by Maglev too.
  const std::size_t i = static_cast<std::size_t>(
      std::find_if(pinned.begin(), pinned.end(), [&](uint32_t b) { return b != pinned[0]; }) - pinned.begin());
  DesiredState down = s;
  for (BackendSpec& b : down.backends)
    if (b.address == after->backends[pinned[0]].address) b.state = BackendState::down;
  const auto without = apply(down);
  EXPECT_EQ(send_via(errors_worker, *without, {frag_needed4_frame(10000, 80)}, kStart + 60).at(0).verdict.backend_id,
            maglev_choice(*without, "web", syn_key(0)));
  EXPECT_EQ(send_via(errors_worker, *without, {frag_needed4_frame(static_cast<uint16_t>(10000 + i), 80)},
                     kStart + 60).at(0).verdict.backend_id,
            pinned[i]) << "another flow's backend is still up";

  // A flood of errors looks in the other tables at most
  // kOtherLookupsPerS a second (a tenth of a second of burst); past it,
  // the Maglev pick.
  const uint64_t looked = its_counters.icmp_errors_pinned_elsewhere.read();
  const std::vector<Bytes> flood(Pipeline::kOtherLookupsPerS / 10, frag_needed4_frame(static_cast<uint16_t>(10000 + i), 80));
  send_via(errors_worker, *without, flood, kStart + 60);
  EXPECT_LT(its_counters.icmp_errors_pinned_elsewhere.read() - looked, flood.size());
  EXPECT_GT(its_counters.icmp_errors_pinned_elsewhere.read() - looked, flood.size() - 200);
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

// Protocol 60 names Destination Options only in IPv6: an IPv4 fragment of
// it is no traffic of a VIP's TCP fragment service.
TEST_F(PipelineTest, AnIpv4FragmentOfProtocol60IsNoFragmentServicesTraffic) {
  DesiredState s = web_state(3);
  s.services.push_back(service("media", "203.0.113.40", kAnyPort, ForwardingMode::l2_dsr, FragmentPolicy::hash));
  s.backends.push_back(backend("media", "198.18.3.1"));
  const auto st = apply(s);
  Ipv4Fields frag;
  frag.flags_fragment = 0x2000;
  const Sent sent = send_one(*st, ethernet(kEtherTypeIpv4) + ipv4(kClient4, "203.0.113.40", 60, payload(16), frag));
  EXPECT_EQ(sent.verdict.drop, DropReason::no_service);
  EXPECT_EQ(counters_.fragments_hashed.read(), 0u);
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

}  // namespace
}  // namespace anylb::test
