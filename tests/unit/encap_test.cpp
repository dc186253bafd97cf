// Rewrites for the backend: L2 DSR (MACs only) and IP-in-IP / IPv6-in-IPv6 /
// GUE encapsulation into headroom. Every outer header field is checked, the
// checksums are verified independently, and the inner packet must come out
// byte for byte as it went in.
#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "checksum.hpp"
#include "encap.hpp"
#include "fragment.hpp"
#include "frame_builder.hpp"
#include "hash.hpp"
#include "packet_parser.hpp"
#include "printers.hpp"

namespace anylb::test {
namespace {

const MacAddress kBackendMac = mac("02:00:00:00:01:0a");
const MacAddress kOurMac = mac(kPortMac);
const IpAddress kNodeV4 = ip(kNode4);
const IpAddress kNodeV6 = ip(kNode6);
const IpAddress kBackendV4 = ip("198.18.1.10");
const IpAddress kBackendV6 = ip("2001:db8:b::10");
constexpr uint64_t kHash = 0x0123456789abcdefULL;

using Buffer = HeadroomBuffer;

ParsedPacket parsed(const Bytes& frame) {
  const ParseOutcome o = parse_packet(frame);
  EXPECT_TRUE(o.ok()) << "test frame does not parse: " << ::testing::PrintToString(o.drop);
  return o.packet;
}

EncapParams params(const IpAddress& backend, uint16_t gue_port = 0, uint32_t mtu = 1500) {
  return EncapParams{backend.is_v4() ? &kNodeV4 : &kNodeV6, &backend, kBackendMac, kOurMac, gue_port, kHash, mtu};
}

Bytes mac_bytes(const MacAddress& m) { return Bytes(m.bytes.begin(), m.bytes.end()); }

// Checks the Ethernet header of an encapsulated frame and returns where
// the outer IP header starts.
std::size_t check_ethernet(const Bytes& out, uint16_t outer_ethertype, bool vlan) {
  EXPECT_EQ(slice(out, 0, 6), mac_bytes(kBackendMac)) << "destination MAC is the backend's";
  EXPECT_EQ(slice(out, 6, 6), mac_bytes(kOurMac)) << "source MAC is our port's";
  if (vlan) {
    EXPECT_EQ(get16(out, 12), kEtherTypeVlan);
    EXPECT_EQ(get16(out, 14), 100) << "VLAN tag kept";
  }
  const std::size_t l3 = vlan ? 18 : 14;
  EXPECT_EQ(get16(out, l3 - 2), outer_ethertype);
  return l3;
}

void check_outer_ipv4(const Bytes& out, std::size_t l3, uint8_t proto, std::size_t inner_len, std::size_t extra) {
  const Bytes h = slice(out, l3, 20);
  EXPECT_EQ(get8(h, 0), 0x45) << "version 4, no options";
  EXPECT_EQ(get16(h, 2), 20 + extra + inner_len) << "total length";
  EXPECT_EQ(get8(h, 8), kOuterTtl);
  EXPECT_EQ(get8(h, 9), proto);
  EXPECT_EQ(internet_checksum(h), 0) << "outer header checksum";
  EXPECT_EQ(slice(h, 12, 4), address_bytes(kNode4)) << "outer source is the node";
  EXPECT_EQ(slice(h, 16, 4), address_bytes("198.18.1.10")) << "outer destination is the backend";
}

void check_outer_ipv6(const Bytes& out, std::size_t l3, uint8_t next, std::size_t payload_len) {
  const Bytes h = slice(out, l3, 40);
  EXPECT_EQ(get8(h, 0) >> 4, 6);
  EXPECT_EQ(get32(h, 0) & 0xfffff, kHash & 0xfffff) << "flow label from the flow hash";
  EXPECT_EQ(get16(h, 4), payload_len);
  EXPECT_EQ(get8(h, 6), next);
  EXPECT_EQ(get8(h, 7), kOuterTtl);
  EXPECT_EQ(slice(h, 8, 16), address_bytes(kNode6));
  EXPECT_EQ(slice(h, 24, 16), address_bytes("2001:db8:b::10"));
}

// --- L2 DSR ------------------------------------------------------------------

TEST(Encap, L2DsrRewritesOnlyTheMacs) {
  const Bytes in = tcp4_frame() + Bytes(6);  // padded: padding must stay for DSR
  Buffer buf(in, 64);
  const RewriteResult r = rewrite_l2_dsr(buf.frame(), kBackendMac, kOurMac);
  ASSERT_EQ(r.drop, DropReason::none);
  EXPECT_EQ(r.prepended, 0u);
  EXPECT_EQ(r.len, in.size());
  const Bytes out = buf.result(r);
  EXPECT_EQ(slice(out, 0, 6), mac_bytes(kBackendMac));
  EXPECT_EQ(slice(out, 6, 6), mac_bytes(kOurMac));
  EXPECT_EQ(slice(out, 12, out.size() - 12), slice(in, 12, in.size() - 12)) << "only the MACs may change";
  EXPECT_EQ(slice(buf.bytes, 0, 64), Bytes(64, std::byte{0xee})) << "headroom untouched";
}

// --- IP-in-IP --------------------------------------------------------------------

TEST(Encap, Ipv4InIpv4) {
  Ipv4Fields f;
  f.tos = 0x28;
  const Bytes inner = ipv4(kClient4, kVip4, kProtoTcp, tcp(40000, 80), f);
  const Bytes in = ethernet(kEtherTypeIpv4) + inner + Bytes(6);  // 54 bytes + Ethernet padding
  Buffer buf(in, 128);
  const RewriteResult r = encapsulate(buf.frame(), parsed(in), params(kBackendV4));
  ASSERT_EQ(r.drop, DropReason::none);
  EXPECT_EQ(r.prepended, 20u);
  EXPECT_EQ(r.len, 14 + 20 + inner.size()) << "padding dropped";
  const Bytes out = buf.result(r);
  const std::size_t l3 = check_ethernet(out, kEtherTypeIpv4, false);
  check_outer_ipv4(out, l3, kProtoIpip, inner.size(), 0);
  EXPECT_EQ(get8(out, l3 + 1), 0x28) << "TOS copied to the outer header";
  EXPECT_EQ(get16(out, l3 + 6), 0x4000) << "DF copied to the outer header";
  EXPECT_EQ(slice(out, l3 + 20, inner.size()), inner) << "inner packet untouched";

  // The result is itself a valid frame: from the node to the backend.
  const ParseOutcome o = parse_packet(out);
  ASSERT_TRUE(o.ok()) << ::testing::PrintToString(o.drop);
  EXPECT_EQ(o.packet.kind, PacketKind::other_ip);
  EXPECT_EQ(o.packet.key, flow_key(kNode4, "198.18.1.10", 0, 0, kProtoIpip));
}

TEST(Encap, Ipv4InIpv4WithoutDontFragment) {
  Ipv4Fields f;
  f.flags_fragment = 0;
  const Bytes in = ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoUdp, udp(40000, 53, payload(30)), f);
  Buffer buf(in, 128);
  const RewriteResult r = encapsulate(buf.frame(), parsed(in), params(kBackendV4));
  ASSERT_EQ(r.drop, DropReason::none);
  const Bytes out = buf.result(r);
  EXPECT_EQ(get16(out, 14 + 6), 0) << "DF not invented";
  EXPECT_EQ(internet_checksum(slice(out, 14, 20)), 0);
}

TEST(Encap, Ipv6InIpv6) {
  const Bytes inner = ipv6(kClient6, kVip6, kProtoTcp, tcp(40000, 80, kTcpAck, payload(100)), 0x2e, 0x54321);
  const Bytes in = ethernet(kEtherTypeIpv6) + inner;
  Buffer buf(in, 128);
  const RewriteResult r = encapsulate(buf.frame(), parsed(in), params(kBackendV6));
  ASSERT_EQ(r.drop, DropReason::none);
  EXPECT_EQ(r.prepended, 40u);
  EXPECT_EQ(r.len, in.size() + 40);
  const Bytes out = buf.result(r);
  const std::size_t l3 = check_ethernet(out, kEtherTypeIpv6, false);
  check_outer_ipv6(out, l3, kProtoIpv6, inner.size());
  EXPECT_EQ((get32(out, l3) >> 20) & 0xff, 0x2eu) << "traffic class copied";
  EXPECT_EQ(slice(out, l3 + 40, inner.size()), inner);
}

// The outer family is the backend's, whatever the client's.
TEST(Encap, Ipv4InIpv6AndIpv6InIpv4) {
  const Bytes in4 = tcp4_frame();
  Buffer b4(in4, 128);
  const RewriteResult r4 = encapsulate(b4.frame(), parsed(in4), params(kBackendV6));
  ASSERT_EQ(r4.drop, DropReason::none);
  const Bytes out4 = b4.result(r4);
  check_outer_ipv6(out4, check_ethernet(out4, kEtherTypeIpv6, false), kProtoIpip, 40);
  EXPECT_EQ(slice(out4, 54, 40), slice(in4, 14, 40));

  const Bytes in6 = tcp6_frame();
  Buffer b6(in6, 128);
  const RewriteResult r6 = encapsulate(b6.frame(), parsed(in6), params(kBackendV4));
  ASSERT_EQ(r6.drop, DropReason::none);
  const Bytes out6 = b6.result(r6);
  check_outer_ipv4(out6, check_ethernet(out6, kEtherTypeIpv4, false), kProtoIpv6, 60, 0);
  EXPECT_EQ(slice(out6, 34, 60), slice(in6, 14, 60));
}

TEST(Encap, VlanTagIsKept) {
  const Bytes inner = ipv4(kClient4, kVip4, kProtoTcp, tcp(40000, 80));
  const Bytes in = ethernet(kEtherTypeIpv4, 100) + inner;
  Buffer buf(in, 128);
  const RewriteResult r = encapsulate(buf.frame(), parsed(in), params(kBackendV6));
  ASSERT_EQ(r.drop, DropReason::none);
  const Bytes out = buf.result(r);
  const std::size_t l3 = check_ethernet(out, kEtherTypeIpv6, true);
  EXPECT_EQ(l3, 18u);
  check_outer_ipv6(out, l3, kProtoIpip, inner.size());
  EXPECT_EQ(slice(out, l3 + 40, inner.size()), inner);
}

// --- GUE ---------------------------------------------------------------------------

TEST(Encap, GueOverIpv4) {
  const Bytes inner = ipv4(kClient4, kVip4, kProtoTcp, tcp(40000, 80, kTcpAck, payload(33)));
  const Bytes in = ethernet(kEtherTypeIpv4) + inner;
  Buffer buf(in, 128);
  const RewriteResult r = encapsulate(buf.frame(), parsed(in), params(kBackendV4, 6080));
  ASSERT_EQ(r.drop, DropReason::none);
  EXPECT_EQ(r.prepended, 28u);
  const Bytes out = buf.result(r);
  const std::size_t l3 = check_ethernet(out, kEtherTypeIpv4, false);
  check_outer_ipv4(out, l3, kProtoUdp, inner.size(), 8);
  const std::size_t udp_at = l3 + 20;
  EXPECT_EQ(get16(out, udp_at + 2), 6080);
  EXPECT_EQ(get16(out, udp_at), 0xc000 | ((kHash >> 20) & 0x3fff)) << "source port from the flow hash";
  EXPECT_EQ(get16(out, udp_at + 4), 8 + inner.size());
  EXPECT_EQ(slice(out, udp_at + 8, inner.size()), inner) << "GUE variant 1: the bare inner packet";
}

// The GUE source port carries the flow hash so backends can spread flows
// over their queues: it stays in the ephemeral range and varies with it.
TEST(Encap, GueSourcePortFollowsTheFlowHash) {
  const Bytes in = tcp4_frame();
  const ParsedPacket p = parsed(in);
  std::vector<uint16_t> ports;
  for (uint64_t i = 1; i <= 64; ++i) {
    Buffer buf(in, 128);
    EncapParams e = params(kBackendV4, 6080);
    e.flow_hash = mix64(i);
    const RewriteResult r = encapsulate(buf.frame(), p, e);
    ASSERT_EQ(r.drop, DropReason::none);
    const uint16_t port = get16(buf.result(r), 34);
    EXPECT_GE(port, 49152);
    ports.push_back(port);
  }
  std::sort(ports.begin(), ports.end());
  EXPECT_GT(std::unique(ports.begin(), ports.end()) - ports.begin(), 10) << "source port does not follow the hash";
}

TEST(Encap, GueOverIpv6HasAValidUdpChecksum) {
  const Bytes inner = ipv6(kClient6, kVip6, kProtoUdp, udp(40000, 53, payload(41)));  // odd length on purpose
  const Bytes in = ethernet(kEtherTypeIpv6) + inner;
  Buffer buf(in, 128);
  const RewriteResult r = encapsulate(buf.frame(), parsed(in), params(kBackendV6, 6081));
  ASSERT_EQ(r.drop, DropReason::none);
  EXPECT_EQ(r.prepended, 48u);
  const Bytes out = buf.result(r);
  const std::size_t l3 = check_ethernet(out, kEtherTypeIpv6, false);
  check_outer_ipv6(out, l3, kProtoUdp, 8 + inner.size());
  const Bytes udp_seg = slice(out, l3 + 40, 8 + inner.size());
  EXPECT_EQ(get16(udp_seg, 2), 6081);
  EXPECT_EQ(get16(udp_seg, 4), udp_seg.size());
  EXPECT_GE(get16(udp_seg, 0), 49152);
  EXPECT_NE(get16(udp_seg, 6), 0) << "IPv6 forbids a zero UDP checksum";

  // RFC 8200 8.1 pseudo-header: source, destination, upper-layer length
  // (32 bits), three zero bytes, next header; then the UDP segment.
  Bytes pseudo = address_bytes(kNode6) + address_bytes("2001:db8:b::10") + Bytes(4) + Bytes(4);
  store_be32(pseudo.data() + 32, static_cast<uint32_t>(udp_seg.size()));
  put8(pseudo, 39, kProtoUdp);
  EXPECT_EQ(internet_checksum(pseudo + udp_seg), 0) << "UDP checksum over the pseudo-header";
  EXPECT_EQ(slice(udp_seg, 8, inner.size()), inner);
}

// --- Failures ------------------------------------------------------------------------

TEST(Encap, NoHeadroomIsDroppedAndLeavesTheFrame) {
  const Bytes in = tcp4_frame();
  struct Case {
    const IpAddress& backend;
    uint16_t gue_port;
    uint32_t needed;
  };
  for (const Case& c : {Case{kBackendV4, 0, 20}, Case{kBackendV4, 6080, 28}, Case{kBackendV6, 0, 40},
                        Case{kBackendV6, 6080, 48}}) {
    Buffer short_buf(in, c.needed - 1);
    const Bytes before = short_buf.bytes;
    const RewriteResult r = encapsulate(short_buf.frame(), parsed(in), params(c.backend, c.gue_port));
    EXPECT_EQ(r.drop, DropReason::encap_no_headroom) << "needs " << c.needed;
    EXPECT_EQ(short_buf.bytes, before) << "a failed encap must not write";

    Buffer exact(in, c.needed);
    EXPECT_EQ(encapsulate(exact.frame(), parsed(in), params(c.backend, c.gue_port)).drop, DropReason::none)
        << "exactly " << c.needed << " bytes of headroom suffice";
  }
}

TEST(Encap, TooBigForTheMtuIsDropped) {
  // An inner IPv4 packet of 1480 bytes fits a 1500 MTU in IPIP; 1481 does not.
  for (const std::size_t inner_len : {1480u, 1481u}) {
    const Bytes in = ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoUdp, udp(40000, 53, payload(inner_len - 28)));
    Buffer buf(in, 128);
    const Bytes before = buf.bytes;
    const RewriteResult r = encapsulate(buf.frame(), parsed(in), params(kBackendV4, 0, 1500));
    if (inner_len == 1480) {
      EXPECT_EQ(r.drop, DropReason::none);
      EXPECT_EQ(get16(buf.result(r), 16), 1500);
    } else {
      EXPECT_EQ(r.drop, DropReason::encap_too_big);
      EXPECT_EQ(buf.bytes, before);
    }
  }
  // GUE over IPv6 adds 48 bytes: 1452 fits, 1453 does not.
  for (const std::size_t inner_len : {1452u, 1453u}) {
    const Bytes in = ethernet(kEtherTypeIpv6) + ipv6(kClient6, kVip6, kProtoUdp, udp(40000, 53, payload(inner_len - 48)));
    Buffer buf(in, 128);
    const RewriteResult r = encapsulate(buf.frame(), parsed(in), params(kBackendV6, 6080, 1500));
    EXPECT_EQ(r.drop, inner_len == 1452 ? DropReason::none : DropReason::encap_too_big) << inner_len;
  }
}

// A frame's outer fragments (fragment.hpp), as the worker makes them:
// fragments 1.. into new buffers, then the frame cut to fragment 0 (with
// plan.grows bytes of room before it).
std::vector<Bytes> fragment_frame(const Bytes& whole, uint32_t mtu, uint32_t id, OuterFragments& plan) {
  plan = plan_outer_fragments(whole.data(), static_cast<uint32_t>(whole.size()), mtu);
  std::vector<Bytes> fragments(plan.count);
  if (plan.count == 0) return fragments;
  Bytes frame = Bytes(plan.grows, std::byte{0}) + whole;
  for (uint32_t k = 1; k < plan.count; ++k) {
    fragments[k].resize(plan.frame_len(k));
    write_fragment(frame.data() + plan.grows, plan, k, id, fragments[k].data());
  }
  cut_first_fragment(frame.data(), plan, id);
  frame.resize(plan.frame_len(0));
  fragments[0] = frame;
  return fragments;
}

// Without DF, a packet too big once encapsulated is built whole and marked
// for outer fragmentation; its fragments carry the outer payload in
// 8-byte-aligned slices that fit the MTU, with valid headers.
TEST(Encap, TooBigWithoutDontFragmentLeavesAsOuterFragments) {
  Ipv4Fields no_df;
  no_df.flags_fragment = 0;
  for (const bool vlan : {false, true}) {
    const Bytes inner = ipv4(kClient4, kVip4, kProtoUdp, udp(40000, 53, payload(1500 - 28)), no_df);
    const Bytes in = (vlan ? ethernet(kEtherTypeIpv4, 100) : ethernet(kEtherTypeIpv4)) + inner;
    Buffer buf(in, 128);
    EncapParams e = params(kBackendV4, 0, 1500);
    IdLane ids(0x4242, 65536, 65536);  // gives 0x4242 first
    e.ipv4_ids = &ids;
    const RewriteResult r = encapsulate(buf.frame(), parsed(in), e);
    ASSERT_EQ(r.drop, DropReason::none);
    ASSERT_TRUE(r.fragment);
    const Bytes whole = buf.result(r);
    const std::size_t l3 = vlan ? 18 : 14;
    ASSERT_EQ(whole.size(), l3 + 20 + 1500);
    EXPECT_EQ(get16(whole, l3 + 4), 0x4242) << "identification";

    OuterFragments plan;
    const std::vector<Bytes> fragments = fragment_frame(whole, 1500, 7, plan);
    ASSERT_EQ(plan.count, 2u);
    EXPECT_EQ(plan.grows, 0u);
    Bytes payload_again;
    for (uint32_t k = 0; k < plan.count; ++k) {
      const Bytes& f = fragments[k];
      EXPECT_EQ(slice(f, 0, l3), slice(whole, 0, l3)) << "Ethernet header, fragment " << k;
      const Bytes h = slice(f, l3, 20);
      EXPECT_LE(get16(h, 2), 1500u);
      EXPECT_EQ(get16(h, 2), f.size() - l3);
      EXPECT_EQ(internet_checksum(h), 0) << "fragment " << k;
      EXPECT_EQ(get16(h, 4), 0x4242);
      EXPECT_EQ(get16(h, 6) & 0x1fff, payload_again.size() / 8) << "offset";
      EXPECT_EQ((get16(h, 6) & 0x2000) != 0, k + 1 < plan.count) << "MF on all but the last";
      EXPECT_EQ(slice(h, 12, 8), slice(whole, l3 + 12, 8)) << "addresses";
      const Bytes piece = slice(f, l3 + 20, f.size() - l3 - 20);
      if (k + 1 < plan.count) {
        EXPECT_EQ(piece.size() % 8, 0u);
      }
      payload_again = payload_again + piece;
    }
    EXPECT_EQ(payload_again, inner) << "the outer payload, the inner packet, comes back whole";
  }
  // With DF it is still encap_too_big.
  const Bytes df = ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoUdp, udp(40000, 53, payload(1500)));
  Buffer buf_df(df, 128);
  EXPECT_EQ(encapsulate(buf_df.frame(), parsed(df), params(kBackendV4, 0, 1500)).drop, DropReason::encap_too_big);
  // A frame that fits, or carries DF, is no plan at all.
  const Bytes fits = ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoUdp, udp(40000, 53, payload(100)), no_df);
  EXPECT_EQ(plan_outer_fragments(fits.data(), static_cast<uint32_t>(fits.size()), 1500).count, 0u);
  EXPECT_EQ(plan_outer_fragments(df.data(), static_cast<uint32_t>(df.size()), 1500).count, 0u);
}

// Over IPv6 (IP-in-IP or GUE to an IPv6 backend) the outer packet, whose
// source we are, is fragmented with a Fragment header (RFC 8200 4.5, RFC
// 2473 7.1): every fragment has the fixed header with next header 44, then
// the Fragment header naming what the payload is, its offset, M and the
// one identification; put together, the payloads are the outer packet's.
TEST(Encap, Ipv4WithoutDontFragmentOverIpv6LeavesAsFragments) {
  Ipv4Fields no_df;
  no_df.flags_fragment = 0;
  for (const uint16_t gue : {uint16_t{0}, uint16_t{6080}}) {
    for (const bool vlan : {false, true}) {
      const Bytes inner = ipv4(kClient4, kVip4, kProtoUdp, udp(40000, 53, payload(2900)), no_df);
      const Bytes in = (vlan ? ethernet(kEtherTypeIpv4, 100) : ethernet(kEtherTypeIpv4)) + inner;
      Buffer buf(in, 128);
      const RewriteResult r = encapsulate(buf.frame(), parsed(in), params(kBackendV6, gue, 1500));
      ASSERT_EQ(r.drop, DropReason::none);
      ASSERT_TRUE(r.fragment);
      const Bytes whole = buf.result(r);
      const std::size_t l3 = vlan ? 18 : 14;
      const uint8_t next = gue ? kProtoUdp : kProtoIpip;
      check_outer_ipv6(whole, l3, next, whole.size() - l3 - 40);

      OuterFragments plan;
      const uint32_t id = 0x01000007;
      const std::vector<Bytes> fragments = fragment_frame(whole, 1500, id, plan);
      ASSERT_EQ(plan.count, 3u) << "2928 or 2936 bytes of payload, 1448 a fragment";
      EXPECT_EQ(plan.grows, 8u);
      Bytes payload_again;
      for (uint32_t k = 0; k < plan.count; ++k) {
        const Bytes& f = fragments[k];
        SCOPED_TRACE("gue " + std::to_string(gue) + " vlan " + std::to_string(vlan) + " fragment " + std::to_string(k));
        EXPECT_EQ(slice(f, 0, l3), slice(whole, 0, l3)) << "Ethernet header";
        EXPECT_LE(f.size() - l3, 1500u);
        EXPECT_EQ(get32(f, l3), get32(whole, l3)) << "version, class, flow label";
        EXPECT_EQ(get16(f, l3 + 4), f.size() - l3 - 40) << "payload length";
        EXPECT_EQ(get8(f, l3 + 6), 44) << "next header: Fragment";
        EXPECT_EQ(get8(f, l3 + 7), kOuterTtl);
        EXPECT_EQ(slice(f, l3 + 8, 32), slice(whole, l3 + 8, 32)) << "addresses";
        const Bytes fh = slice(f, l3 + 40, 8);
        EXPECT_EQ(get8(fh, 0), next) << "the Fragment header names the payload";
        EXPECT_EQ(get8(fh, 1), 0);
        EXPECT_EQ(get16(fh, 2) >> 3, payload_again.size() / 8) << "offset";
        EXPECT_EQ(get16(fh, 2) & 7, k + 1 < plan.count ? 1 : 0) << "M on all but the last";
        EXPECT_EQ(get32(fh, 4), id);
        const Bytes piece = slice(f, l3 + 48, f.size() - l3 - 48);
        if (k + 1 < plan.count) {
          EXPECT_EQ(piece.size() % 8, 0u);
        }
        payload_again = payload_again + piece;
      }
      EXPECT_EQ(payload_again, slice(whole, l3 + 40, whole.size() - l3 - 40)) << "the outer payload comes back whole";
      EXPECT_EQ(slice(payload_again, gue ? 8 : 0, inner.size()), inner);
    }
  }
  // An IPv6 inner packet never is: it gets a packet-too-big (too_big.hpp).
  const Bytes v6 = ethernet(kEtherTypeIpv6) + ipv6(kClient6, kVip6, kProtoUdp, udp(40000, 53, payload(1500)));
  Buffer buf6(v6, 128);
  EXPECT_EQ(encapsulate(buf6.frame(), parsed(v6), params(kBackendV6, 0, 1500)).drop, DropReason::encap_too_big);
}

TEST(Checksum, Rfc1071Example) {
  // RFC 1071 section 3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (checksum 220d).
  const Bytes data = {std::byte{0x00}, std::byte{0x01}, std::byte{0xf2}, std::byte{0x03},
                      std::byte{0xf4}, std::byte{0xf5}, std::byte{0xf6}, std::byte{0xf7}};
  EXPECT_EQ(internet_checksum(data), 0x220d);
  EXPECT_EQ(internet_checksum(Bytes{std::byte{0x01}}), static_cast<uint16_t>(~0x0100 & 0xffff)) << "odd byte is the high half";
}

}  // namespace
}  // namespace anylb::test
