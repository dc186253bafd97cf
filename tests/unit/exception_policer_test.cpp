// The exception path's policer: token buckets on the pipeline's millisecond
// clock, and which frames count as the node's control traffic.
#include <gtest/gtest.h>

#include "exception_policer.hpp"
#include "frame_builder.hpp"

namespace anylb::test {
namespace {

TEST(TokenBucket, ABurstThenTheRate) {
  TokenBucket b(1000);  // 1000 a second: a burst of 100, then one a millisecond
  int taken = 0;
  for (int i = 0; i < 500; ++i) taken += b.take(5000);
  EXPECT_EQ(taken, 100) << "a tenth of a second of burst";
  EXPECT_FALSE(b.take(5000));
  EXPECT_TRUE(b.take(5001)) << "one token a millisecond at 1000 a second";
  EXPECT_FALSE(b.take(5001));
  taken = 0;
  for (int i = 0; i < 50; ++i) taken += b.take(5011);
  EXPECT_EQ(taken, 10);
}

TEST(TokenBucket, SlowRatesKeepTheirFractions) {
  TokenBucket b(100);  // one token every 10 ms; a burst of at least 32
  int taken = 0;
  for (int i = 0; i < 100; ++i) taken += b.take(0);
  EXPECT_EQ(taken, 32);
  for (FlowClock t = 1; t < 10; ++t) EXPECT_FALSE(b.take(t)) << t;  // 0.1 token a ms, not rounded to 0 or 1
  EXPECT_TRUE(b.take(10));
}

TEST(TokenBucket, ZeroIsNoLimitAndTheClockMayWrap) {
  TokenBucket none(0);
  for (int i = 0; i < 100000; ++i) ASSERT_TRUE(none.take(0));
  TokenBucket b(1000);
  for (int i = 0; i < 100; ++i) b.take(0xfffffff0u);
  EXPECT_FALSE(b.take(0xfffffff0u));
  EXPECT_TRUE(b.take(0x00000005u)) << "21 ms later across the wrap";
}

ParsedPacket parsed(const Bytes& frame) {
  ParsedPacket p;
  EXPECT_EQ(parse_packet({frame.data(), frame.size()}, p), DropReason::none);
  return p;
}

TEST(ExceptionPolicer, ClassesAreTheLinkBgpTheBackendsAndTheRest) {
  using C = ExceptionClass;
  EXPECT_EQ(exception_class(parsed(ethernet(kEtherTypeArp, std::nullopt, "ff:ff:ff:ff:ff:ff") +
                                   arp_request(kRouter4, kNode4)), false, true), C::link);
  EXPECT_EQ(exception_class(parsed(ethernet(kEtherTypeIpv6) +
                                   ipv6(kRouter6, kNode6, kProtoIcmp6,
                                        icmp6(kIcmp6NeighborSolicitation, 0, address_bytes(kNode6)))), true, true),
            C::link);
  EXPECT_EQ(exception_class(parsed(tcp4_frame(40000, 179, kTcpSyn, kRouter4, kNode4)), false, true), C::bgp);
  EXPECT_EQ(exception_class(parsed(tcp4_frame(179, 40000, kTcpAck, kRouter4, kNode4)), false, true), C::bgp);
  EXPECT_EQ(exception_class(parsed(tcp4_frame(80, 40000, kTcpAck, "198.18.1.10", kNode4)), true, true), C::backend);
  EXPECT_EQ(exception_class(parsed(tcp4_frame(40000, 22, kTcpSyn, kRouter4, kNode4)), false, true), C::other);
  EXPECT_EQ(exception_class(parsed(udp4_frame(40000, 179, kRouter4, kNode4)), false, true), C::other);
  EXPECT_EQ(exception_class(parsed(ethernet(kEtherTypeIpv4) +
                                   ipv4(kRouter4, kNode4, kProtoIcmp, icmp4(kIcmpEchoRequest, 0, payload(8)))), false, true),
            C::other);
  EXPECT_EQ(exception_class(parsed(ethernet(kEtherTypeIpv6) +
                                   ipv6(kRouter6, kNode6, kProtoIcmp6, icmp6(kIcmp6EchoRequest, 0, payload(8)))), false, true),
            C::other);
}

TEST(ExceptionPolicer, BgpIsWhatAPeerSends) {
  using C = ExceptionClass;
  const ParsedPacket bgp = parsed(tcp4_frame(179, 40000, kTcpAck, kRouter4, kNode4));
  EXPECT_EQ(exception_class(bgp, false, true), C::bgp);
  EXPECT_EQ(exception_class(bgp, false, false), C::other) << "port 179 from a source that is not a peer";
  EXPECT_EQ(exception_class(bgp, true, false), C::backend);
  // A spoofed flood at port 179 empties the rest's bucket, not the peers'.
  ExceptionPolicer policer(1000);
  int admitted = 0;
  for (int i = 0; i < 1000; ++i) admitted += policer.admit(bgp, false, false, 7);
  EXPECT_EQ(admitted, 100);
  EXPECT_TRUE(policer.admit(bgp, false, true, 7)) << "the peer's session starved by a spoofed flood";
  EXPECT_FALSE(policer.admit(parsed(tcp4_frame(40000, 22, kTcpSyn, kRouter4, kNode4)), false, false, 7));
}

TEST(ExceptionPolicer, AFloodInOneClassLeavesTheOthersTheirShare) {
  ExceptionPolicer policer(1000);  // a burst of 100 a class
  const ParsedPacket flood = parsed(tcp4_frame(40000, 22, kTcpSyn, kRouter4, kNode4));
  const ParsedPacket bgp = parsed(tcp4_frame(40000, 179, kTcpSyn, kRouter4, kNode4));
  int admitted = 0;
  for (int i = 0; i < 1000; ++i) admitted += policer.admit(flood, false, true, 7);
  for (int i = 0; i < 1000; ++i) admitted += policer.admit(bgp, false, true, 7);
  EXPECT_EQ(admitted, 200);
  EXPECT_TRUE(policer.admit(flood, true, true, 7)) << "a backend's reply has a bucket of its own";
  EXPECT_TRUE(policer.admit(parsed(ethernet(kEtherTypeArp, std::nullopt, "ff:ff:ff:ff:ff:ff") +
                                   arp_request(kRouter4, kNode4)), false, false, 7));
}

TEST(ExceptionPolicer, AGtsmPeersBgpNeedsTtl255) {
  using C = ExceptionClass;
  const ParsedPacket bgp = parsed(tcp4_frame(179, 40000, kTcpAck, kRouter4, kNode4));
  const PortRange any;
  EXPECT_EQ(exception_class(bgp, ExceptionSource{false, true, true, 255}, any), C::bgp);
  EXPECT_EQ(exception_class(bgp, ExceptionSource{false, true, true, 254}, any), C::other) << "from off the link";
  EXPECT_EQ(exception_class(bgp, ExceptionSource{false, true, true, 0}, any), C::other);
  EXPECT_EQ(exception_class(bgp, ExceptionSource{false, true, false, 64}, any), C::bgp) << "no GTSM: any TTL";
  EXPECT_EQ(exception_class(bgp, ExceptionSource{false, false, true, 255}, any), C::other) << "not a peer";
}

TEST(ExceptionPolicer, ProbeRepliesAreToTheProbesPortsAndIds) {
  using C = ExceptionClass;
  const PortRange probes{61000, 61999};
  const ExceptionSource backend{true, false, false, 0};
  const auto cls = [&](const Bytes& f, const ExceptionSource& s = {true, false, false, 0}) {
    return exception_class(parsed(f), s, probes);
  };
  EXPECT_EQ(cls(tcp4_frame(80, 61000, kTcpSyn | kTcpAck, "198.18.1.10", kNode4)), C::backend);
  EXPECT_EQ(cls(tcp4_frame(80, 61999, kTcpRst, "198.18.1.10", kNode4)), C::backend);
  EXPECT_EQ(cls(tcp4_frame(80, 60999, kTcpSyn | kTcpAck, "198.18.1.10", kNode4)), C::other) << "below the range";
  EXPECT_EQ(cls(tcp4_frame(80, 62000, kTcpAck, "198.18.1.10", kNode4)), C::other) << "above it";
  EXPECT_EQ(cls(udp4_frame(53, 61500, "198.18.1.10", kNode4)), C::backend);
  EXPECT_EQ(cls(tcp4_frame(80, 61500, kTcpAck, "198.18.1.10", kNode4), ExceptionSource{}), C::other)
      << "the right port, but not from a backend";
  const auto echo4 = [](uint8_t type, uint16_t id) {
    return ethernet(kEtherTypeIpv4) + ipv4("198.18.1.10", kNode4, kProtoIcmp, icmp4(type, 0, payload(8), uint32_t{id} << 16 | 1));
  };
  const auto echo6 = [](uint8_t type, uint16_t id) {
    return ethernet(kEtherTypeIpv6) + ipv6(kRouter6, kNode6, kProtoIcmp6, icmp6(type, 0, payload(8), uint32_t{id} << 16 | 1));
  };
  EXPECT_EQ(parsed(echo4(0, 61234)).key.src_port, 61234) << "the parser keeps an echo's id";
  EXPECT_EQ(cls(echo4(0, 61234)), C::backend);
  EXPECT_EQ(cls(echo4(0, 1234)), C::other);
  EXPECT_EQ(cls(echo4(kIcmpEchoRequest, 61234)), C::other) << "a request is no probe's reply";
  EXPECT_EQ(cls(echo6(129, 61000)), C::backend);
  EXPECT_EQ(cls(echo6(129, 60000)), C::other);
  EXPECT_EQ(cls(echo6(kIcmp6EchoRequest, 61000)), C::other);
  // Probes' ports not known: whatever a backend sends, as before.
  EXPECT_EQ(exception_class(parsed(tcp4_frame(80, 40000, kTcpAck, "198.18.1.10", kNode4)), backend, PortRange{}),
            C::backend);
}

TEST(PortRange, ParsesFirstDashLastOrAny) {
  std::string why;
  EXPECT_EQ(parse_port_range("61000-61999", why), (PortRange{61000, 61999}));
  EXPECT_EQ(parse_port_range("7-7", why), (PortRange{7, 7}));
  EXPECT_TRUE(parse_port_range("any", why)->any());
  EXPECT_TRUE(parse_port_range("", why)->any());
  for (const char* bad : {"61999-61000", "0-10", "1-65536", "61000", "61000-", "-61999", "a-b", "1 - 2", "1-2x"}) {
    why.clear();
    EXPECT_FALSE(parse_port_range(bad, why)) << bad;
    EXPECT_NE(why.find("FIRST-LAST"), std::string::npos) << bad;
  }
  EXPECT_TRUE((PortRange{61000, 61999}).contains(61500));
  EXPECT_EQ((PortRange{61000, 61999}).size(), 1000u);
  EXPECT_EQ((PortRange{61000, 61999}).to_string(), "61000-61999");
}

}  // namespace
}  // namespace anylb::test
