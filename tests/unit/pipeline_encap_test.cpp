// The pipeline's encapsulating services (IP-in-IP, GUE): the outer headers,
// outer identifications per lcore lane, and the too-big answers and outer
// fragments when a packet no longer fits the port's MTU.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "pipeline_fixture.hpp"

namespace anylb::test {
namespace {

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

TEST_F(PipelineTest, OnlyAFirstIpv4FragmentTooBigToEncapsulateIsAnswered) {
  // No ICMP error about a fragment other than the first (RFC 1122 3.2.2);
  // and an answered fragment is not counted as hashed to a backend.
  DesiredState s = web_state(0, ForwardingMode::gue);
  s.services.push_back(service("frag", "203.0.113.40", kAnyPort, ForwardingMode::gue, FragmentPolicy::hash));
  s.backends.push_back(backend("frag", "198.18.3.1"));
  const auto st = apply(s);
  Ipv4Fields first, later;
  first.flags_fragment = 0x6000;       // DF and MF, offset 0
  later.flags_fragment = 0x4000 | 185;  // DF, offset 1480
  const Sent answered =
      send_one(*st, ethernet(kEtherTypeIpv4) + ipv4(kClient4, "203.0.113.40", kProtoTcp, payload(1480), first));
  EXPECT_EQ(answered.verdict.action, Action::reply) << ::testing::PrintToString(answered.verdict.drop);
  const Sent later_one =
      send_one(*st, ethernet(kEtherTypeIpv4) + ipv4(kClient4, "203.0.113.40", kProtoTcp, payload(1480), later));
  EXPECT_EQ(later_one.verdict.action, Action::drop);
  EXPECT_EQ(later_one.verdict.drop, DropReason::encap_too_big);
  EXPECT_EQ(counters_.icmp_too_big_sent.read(), 1u);
  EXPECT_EQ(counters_.fragments_hashed.read(), 0u);
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
