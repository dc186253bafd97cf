// parse_packet on hand-built frames: a table of valid packets (with the key
// and offsets each must give), every one of them truncated at every byte, and
// a table of malformed packets with the drop reason each must get. Every
// frame is parsed from a GuardedBuffer, so a read past its end crashes.
// Random frames are in packet_parser_fuzz_test.cpp.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "frame_builder.hpp"
#include "checksum.hpp"
#include "guarded_buffer.hpp"
#include "packet_parser.hpp"
#include "printers.hpp"

namespace anylb::test {
namespace {

ParseOutcome parse(const Bytes& frame, std::size_t len) {
  static GuardedBuffer buffer;
  return parse_packet(buffer.place(frame, len));
}
ParseOutcome parse(const Bytes& frame) { return parse(frame, frame.size()); }

// --- Valid packets ----------------------------------------------------------

struct ValidCase {
  std::string name;
  Bytes frame;
  PacketKind kind;
  FlowKey key;
  uint16_t l3_offset;
  uint16_t l3_length;
};
void PrintTo(const ValidCase& c, std::ostream* os) { *os << c.name; }

constexpr uint16_t kVlan = 100;
const FlowKey kTcp4Key = flow_key(kClient4, kVip4, 40000, 80, kProtoTcp);
const FlowKey kTcp6Key = flow_key(kClient6, kVip6, 40000, 80, kProtoTcp);

// `headers` destination-options headers in a chain, the last one followed
// by `last` (the parser walks at most kMaxIpv6ExtensionHeaders).
Bytes ext_chain(int headers, uint8_t last, const Bytes& tail) {
  Bytes chain;
  for (int i = 0; i < headers; ++i)
    chain = chain + ipv6_options_header(i + 1 == headers ? last : kIpv6DestOpts);
  return chain + tail;
}

std::vector<ValidCase> valid_cases() {
  const Bytes tcp_seg = tcp(40000, 80);
  const Bytes udp_seg = udp(40000, 53, payload(16));
  Ipv4Fields router_alert;
  router_alert.options = {std::byte{0x94}, std::byte{0x04}, std::byte{0}, std::byte{0},
                          std::byte{1}, std::byte{1}, std::byte{1}, std::byte{0}};
  Ipv4Fields max_options;
  max_options.options = Bytes(40, std::byte{1});
  Ipv4Fields first_fragment, middle_fragment, last_fragment;
  first_fragment.flags_fragment = 0x2000;         // MF, offset 0
  middle_fragment.flags_fragment = 0x2000 | 185;  // MF, offset 1480
  last_fragment.flags_fragment = 370;             // offset 2960, last

  const Bytes hbh_do_rt_tcp = ipv6_options_header(kIpv6DestOpts, 16) + ipv6_options_header(kIpv6Routing) +
                              ipv6_routing_header(kProtoTcp) + tcp_seg;
  const Bytes udp_inner = [] {  // a DNS answer from the VIP, as quoted by "time exceeded"
    Bytes q = ipv4(kVip4, kClient4, kProtoUdp, udp(53, 40000, payload(40)));
    q.resize(28);
    return q;
  }();

  const FlowKey frag4 = flow_key(kClient4, kVip4, 0, 0, kProtoTcp);
  const FlowKey frag6 = flow_key(kClient6, kVip6, 0, 0, kProtoTcp);
  return {
      {"ipv4_tcp", tcp4_frame(), PacketKind::flow, kTcp4Key, 14, 40},
      {"ipv4_udp", udp4_frame(), PacketKind::flow, flow_key(kClient4, kVip4, 40000, 53, kProtoUdp), 14, 44},
      {"ipv4_tcp_vlan", ethernet(kEtherTypeIpv4, kVlan) + ipv4(kClient4, kVip4, kProtoTcp, tcp_seg),
       PacketKind::flow, kTcp4Key, 18, 40},
      {"ipv4_udp_vlan", ethernet(kEtherTypeIpv4, kVlan) + ipv4(kClient4, kVip4, kProtoUdp, udp_seg),
       PacketKind::flow, flow_key(kClient4, kVip4, 40000, 53, kProtoUdp), 18, 44},
      {"ipv4_options", ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoTcp, tcp_seg, router_alert),
       PacketKind::flow, kTcp4Key, 14, 48},
      {"ipv4_max_options", ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoTcp, tcp_seg, max_options),
       PacketKind::flow, kTcp4Key, 14, 80},
      {"ipv4_tcp_options", ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoTcp, tcp(40000, 80, kTcpSyn, {}, 15)),
       PacketKind::flow, kTcp4Key, 14, 80},
      // A 54-byte SYN padded to Ethernet's 60-byte minimum.
      {"ipv4_tcp_padded", tcp4_frame() + Bytes(6), PacketKind::flow, kTcp4Key, 14, 40},
      {"ipv6_tcp", tcp6_frame(), PacketKind::flow, kTcp6Key, 14, 60},
      {"ipv6_udp", ethernet(kEtherTypeIpv6) + ipv6(kClient6, kVip6, kProtoUdp, udp_seg), PacketKind::flow,
       flow_key(kClient6, kVip6, 40000, 53, kProtoUdp), 14, 64},
      {"ipv6_tcp_vlan", ethernet(kEtherTypeIpv6, kVlan) + ipv6(kClient6, kVip6, kProtoTcp, tcp_seg),
       PacketKind::flow, kTcp6Key, 18, 60},
      {"ipv6_hbh_dest_routing_tcp", ethernet(kEtherTypeIpv6) + ipv6(kClient6, kVip6, kIpv6HopByHop, hbh_do_rt_tcp),
       PacketKind::flow, kTcp6Key, 14, static_cast<uint16_t>(40 + hbh_do_rt_tcp.size())},
      {"ipv6_eight_ext_headers", ethernet(kEtherTypeIpv6) + ipv6(kClient6, kVip6, kIpv6DestOpts, ext_chain(8, kProtoTcp, tcp_seg)),
       PacketKind::flow, kTcp6Key, 14, 40 + 64 + 20},
      {"ipv6_atomic_fragment",  // offset 0 and M clear: not really a fragment (RFC 6946)
       ethernet(kEtherTypeIpv6) + ipv6(kClient6, kVip6, kIpv6Fragment, ipv6_fragment_header(kProtoTcp, 0, false) + tcp_seg),
       PacketKind::flow, kTcp6Key, 14, 68},
      {"ipv4_fragment_first", ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoTcp, tcp_seg + payload(40), first_fragment),
       PacketKind::fragment, frag4, 14, 80},
      {"ipv4_fragment_middle", ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoTcp, payload(64), middle_fragment),
       PacketKind::fragment, frag4, 14, 84},
      {"ipv4_fragment_last", ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoTcp, payload(8), last_fragment),
       PacketKind::fragment, frag4, 14, 28},
      {"ipv6_fragment_first",
       ethernet(kEtherTypeIpv6) + ipv6(kClient6, kVip6, kIpv6Fragment, ipv6_fragment_header(kProtoTcp, 0, true) + tcp_seg),
       PacketKind::fragment, frag6, 14, 68},
      {"ipv6_fragment_last",
       ethernet(kEtherTypeIpv6) + ipv6(kClient6, kVip6, kIpv6Fragment, ipv6_fragment_header(kProtoTcp, 185, false) + payload(24)),
       PacketKind::fragment, frag6, 14, 72},
      {"ipv6_fragment_after_hbh",
       ethernet(kEtherTypeIpv6) + ipv6(kClient6, kVip6, kIpv6HopByHop,
                                       ipv6_options_header(kIpv6Fragment) + ipv6_fragment_header(kProtoUdp, 3, true) + payload(24)),
       PacketKind::fragment, flow_key(kClient6, kVip6, 0, 0, kProtoUdp), 14, 80},
      // ICMP errors: the key is the client's flow, reversed from the quote.
      {"icmp4_frag_needed", frag_needed4_frame(), PacketKind::icmp_error, kTcp4Key, 14, 56},
      {"icmp4_frag_needed_vlan",
       ethernet(kEtherTypeIpv4, kVlan) +
           ipv4(kRouter4, kVip4, kProtoIcmp, icmp4(kIcmpDestUnreachable, kIcmpFragNeeded, quoted_tcp4(kVip4, kClient4, 80, 40000, 20))),
       PacketKind::icmp_error, kTcp4Key, 18, 68},
      {"icmp4_time_exceeded_udp",
       ethernet(kEtherTypeIpv4) + ipv4(kRouter4, kVip4, kProtoIcmp, icmp4(kIcmpTimeExceeded, 0, udp_inner)),
       PacketKind::icmp_error, flow_key(kClient4, kVip4, 40000, 53, kProtoUdp), 14, 56},
      {"icmp6_packet_too_big", packet_too_big6_frame(), PacketKind::icmp_error, kTcp6Key, 14, 136},
      {"icmp6_packet_too_big_inner_ext",
       ethernet(kEtherTypeIpv6) +
           ipv6(kRouter6, kVip6, kProtoIcmp6,
                icmp6(kIcmp6PacketTooBig, 0,
                      ipv6(kVip6, kClient6, kIpv6DestOpts, ipv6_options_header(kProtoTcp) + tcp(80, 40000)), 1280)),
       PacketKind::icmp_error, kTcp6Key, 14, 40 + 8 + 40 + 8 + 20},
      // A large DNS answer, fragmented by the backend, too big for a link on
      // the way: the quoted first fragment carries the ports (RFC 8201).
      {"icmp6_packet_too_big_quoting_a_first_fragment",
       ethernet(kEtherTypeIpv6) +
           ipv6(kRouter6, kVip6, kProtoIcmp6,
                icmp6(kIcmp6PacketTooBig, 0,
                      ipv6(kVip6, kClient6, kIpv6Fragment, ipv6_fragment_header(kProtoUdp, 0, true) + udp(53, 40000, payload(32))),
                      1280)),
       PacketKind::icmp_error, flow_key(kClient6, kVip6, 40000, 53, kProtoUdp), 14, 40 + 8 + 40 + 8 + 8 + 32},
      {"icmp4_echo", ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoIcmp, icmp4(kIcmpEchoRequest, 0, payload(32), 0x00010001)),
       PacketKind::icmp_other, flow_key(kClient4, kVip4, 1, 0, kProtoIcmp), 14, 60},  // the echo's id
      {"icmp6_echo", ethernet(kEtherTypeIpv6) + ipv6(kClient6, kVip6, kProtoIcmp6, icmp6(kIcmp6EchoRequest, 0, payload(32), 0x00070001)),
       PacketKind::icmp_other, flow_key(kClient6, kVip6, 7, 0, kProtoIcmp6), 14, 80},
      {"icmp6_neighbor_solicitation",
       ethernet(kEtherTypeIpv6) + ipv6(kRouter6, "ff02::1:ff00:2", kProtoIcmp6,
                                       icmp6(kIcmp6NeighborSolicitation, 0, address_bytes(kNode6))),
       PacketKind::icmp_other, flow_key(kRouter6, "ff02::1:ff00:2", 0, 0, kProtoIcmp6), 14, 64},
      {"ipv4_gre", ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, 47, payload(24)), PacketKind::other_ip,
       flow_key(kClient4, kVip4, 0, 0, 47), 14, 44},
      {"ipv6_no_next_header", ethernet(kEtherTypeIpv6) + ipv6(kClient6, kVip6, kIpv6NoNext, payload(8)),
       PacketKind::other_ip, flow_key(kClient6, kVip6, 0, 0, kIpv6NoNext), 14, 48},
      {"arp", ethernet(kEtherTypeArp, std::nullopt, "ff:ff:ff:ff:ff:ff") + arp_request(kRouter4, kNode4),
       PacketKind::arp, FlowKey{}, 14, 0},
  };
}

// Names parameterised tests after their case.
struct CaseName {
  template <typename Info>
  std::string operator()(const Info& i) const { return i.param.name; }
};

class ValidPacket : public ::testing::TestWithParam<ValidCase> {};

TEST_P(ValidPacket, ParsesToItsKeyAndOffsets) {
  const ValidCase& c = GetParam();
  const ParseOutcome o = parse(c.frame);
  ASSERT_TRUE(o.ok()) << "dropped as " << drop_reason_name(o.drop);
  EXPECT_EQ(o.packet.kind, c.kind);
  EXPECT_EQ(o.packet.key, c.key);
  EXPECT_EQ(o.packet.l3_offset, c.l3_offset);
  EXPECT_EQ(o.packet.l3_length, c.l3_length);
  if (c.kind != PacketKind::arp) {
    EXPECT_EQ(o.packet.family, c.key.family);
  }
}

// Cutting bytes off the end makes the IP length fields lie: every cut inside
// the IP packet must be a length drop, never a parse of half a header; cuts
// into trailing padding only must still parse the same.
TEST_P(ValidPacket, EveryTruncationIsALengthDrop) {
  const ValidCase& c = GetParam();
  if (c.kind == PacketKind::arp) GTEST_SKIP() << "ARP goes to the kernel unparsed";
  const std::set<DropReason> length_drops = {DropReason::l2_truncated, DropReason::ipv4_truncated,
                                             DropReason::ipv4_bad_length, DropReason::ipv6_truncated,
                                             DropReason::ipv6_bad_length};
  const std::size_t ip_end = std::size_t{c.l3_offset} + c.l3_length;
  for (std::size_t cut = 0; cut < c.frame.size(); ++cut) {
    const ParseOutcome o = parse(c.frame, cut);
    if (cut < ip_end) {
      EXPECT_TRUE(length_drops.count(o.drop)) << "cut at " << cut << " gave " << ::testing::PrintToString(o.drop);
    } else {
      EXPECT_TRUE(o.ok()) << "cut at " << cut << " (padding only) gave " << ::testing::PrintToString(o.drop);
      EXPECT_EQ(o.packet.key, c.key);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Parser, ValidPacket, ::testing::ValuesIn(valid_cases()),
                         CaseName());

// --- Header fields beyond the key -------------------------------------------

TEST(ParserFields, CopiesTosDontFragmentAndTcpFlags) {
  Ipv4Fields f;
  f.tos = 0xb8;  // EF
  f.flags_fragment = 0x4000;
  const ParseOutcome o = parse(ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoTcp, tcp(40000, 80, kTcpFin | kTcpAck), f));
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o.packet.tos, 0xb8);
  EXPECT_TRUE(o.packet.dont_fragment);
  EXPECT_EQ(o.packet.tcp_flags, kTcpFin | kTcpAck);

  f.flags_fragment = 0;
  const ParseOutcome o2 = parse(ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoTcp, tcp(40000, 80), f));
  ASSERT_TRUE(o2.ok());
  EXPECT_FALSE(o2.packet.dont_fragment);
  EXPECT_EQ(o2.packet.kind, PacketKind::flow) << "DF alone is not a fragment";
}

TEST(ParserFields, Ipv6TrafficClassAndIcmpType) {
  const ParseOutcome o = parse(ethernet(kEtherTypeIpv6) + ipv6(kClient6, kVip6, kProtoTcp, tcp(40000, 80), 0x2e, 0x12345));
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o.packet.tos, 0x2e);
  EXPECT_TRUE(o.packet.dont_fragment) << "IPv6 is never fragmented on the path";

  const ParseOutcome e = parse(packet_too_big6_frame());
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e.packet.icmp_type, kIcmp6PacketTooBig);
}

// --- Malformed packets --------------------------------------------------------

struct DropCase {
  std::string name;
  Bytes frame;
  DropReason reason;
};
void PrintTo(const DropCase& c, std::ostream* os) { *os << c.name; }

// Helpers that take a good frame and break one thing.
Bytes with8(Bytes f, std::size_t off, uint8_t v) { put8(f, off, v); return f; }
Bytes with16(Bytes f, std::size_t off, uint16_t v) { put16(f, off, v); return f; }
// Same, then re-checksum the IPv4 header at 14, so only the broken field counts.
Bytes with8_v4(Bytes f, std::size_t off, uint8_t v) { put8(f, off, v); ipv4_fix_checksum(f, 14); return f; }
Bytes with16_v4(Bytes f, std::size_t off, uint16_t v) { put16(f, off, v); ipv4_fix_checksum(f, 14); return f; }
Bytes cut(Bytes f, std::size_t len) { f.resize(len); return f; }

Bytes icmp4_error_quoting(const Bytes& quote) {
  return ethernet(kEtherTypeIpv4) + ipv4(kRouter4, kVip4, kProtoIcmp, icmp4(kIcmpDestUnreachable, kIcmpFragNeeded, quote, 1400));
}
Bytes icmp6_error_quoting(const Bytes& quote) {
  return ethernet(kEtherTypeIpv6) + ipv6(kRouter6, kVip6, kProtoIcmp6, icmp6(kIcmp6PacketTooBig, 0, quote, 1280));
}
Bytes v4(uint8_t proto, const Bytes& body) { return ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, proto, body); }
Bytes v6(uint8_t next, const Bytes& body) { return ethernet(kEtherTypeIpv6) + ipv6(kClient6, kVip6, next, body); }
Bytes from4(std::string_view src, uint8_t proto, const Bytes& body, Ipv4Fields f = {}) {
  return ethernet(kEtherTypeIpv4) + ipv4(src, kVip4, proto, body, f);
}
Bytes from6(std::string_view src, uint8_t next, const Bytes& body) {
  return ethernet(kEtherTypeIpv6) + ipv6(src, kVip6, next, body);
}

std::vector<DropCase> drop_cases() {
  using R = DropReason;
  const Bytes t4 = tcp4_frame();      // IPv4 header at 14, TCP at 34
  const Bytes u4 = udp4_frame();      // UDP at 34, length 24
  const Bytes t6 = tcp6_frame();      // IPv6 header at 14, TCP at 54
  const Bytes stacked = ethernet(kEtherTypeVlan, kVlan) + with16(Bytes(4), 2, kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoTcp, tcp(40000, 80));
  Bytes hbh_claims_16 = ipv6_options_header(kProtoTcp);
  put8(hbh_claims_16, 1, 1);  // says 16 bytes; only 8 follow
  Ipv4Fields inner_fragment;
  inner_fragment.flags_fragment = 0x2000 | 10;
  return {
      {"empty", {}, R::l2_truncated},
      {"shorter_than_ethernet", cut(t4, 13), R::l2_truncated},
      {"vlan_tag_cut", cut(ethernet(kEtherTypeIpv4, kVlan), 16), R::l2_truncated},
      {"stacked_vlan", stacked, R::vlan_unsupported},
      {"qinq_outer_tag", with16(t4, 12, kEtherTypeQinQ), R::vlan_unsupported},
      {"qinq_inside_vlan", ethernet(kEtherTypeQinQ, kVlan) + Bytes(40), R::vlan_unsupported},
      {"unknown_ethertype_lldp", with16(t4, 12, 0x88cc), R::ethertype_unsupported},
      {"ipv4_header_cut", cut(t4, 14 + 19), R::ipv4_truncated},
      {"ipv4_version_6", with8_v4(t4, 14, 0x65), R::ipv4_bad_header},
      {"ipv4_version_5", with8_v4(t4, 14, 0x55), R::ipv4_bad_header},
      {"ipv4_ihl_4", with8_v4(t4, 14, 0x44), R::ipv4_bad_header},
      {"ipv4_ihl_0", with8_v4(t4, 14, 0x40), R::ipv4_bad_header},
      {"ipv4_ihl_past_frame", with8(t4, 14, 0x4f), R::ipv4_truncated},
      {"ipv4_total_longer_than_frame", with16_v4(t4, 16, 41), R::ipv4_bad_length},
      {"ipv4_total_shorter_than_header", with16_v4(t4, 16, 19), R::ipv4_bad_length},
      {"ipv4_total_zero", with16_v4(t4, 16, 0), R::ipv4_bad_length},
      {"ipv4_total_cuts_tcp", with16_v4(t4, 16, 30), R::l4_truncated},
      {"ipv4_bad_checksum", with16(t4, 24, static_cast<uint16_t>(get16(t4, 24) ^ 0x0100)), R::ipv4_bad_checksum},
      {"ipv6_header_cut", cut(t6, 14 + 39), R::ipv6_truncated},
      {"ipv6_version_4", with8(t6, 14, 0x40), R::ipv6_bad_header},
      {"ipv6_payload_longer_than_frame", with16(t6, 18, 21), R::ipv6_bad_length},
      {"ipv6_payload_zero", with16(t6, 18, 0), R::ipv6_bad_length},
      {"ipv6_payload_cuts_tcp", with16(t6, 18, 10), R::l4_truncated},
      {"ipv6_nine_ext_headers", v6(kIpv6DestOpts, ext_chain(9, kProtoTcp, tcp(40000, 80))), R::ipv6_ext_chain_too_long},
      {"ipv6_ext_header_longer_than_packet", v6(kIpv6HopByHop, hbh_claims_16), R::ipv6_truncated},
      {"ipv6_ext_header_cut", v6(kIpv6HopByHop, Bytes(4)), R::ipv6_truncated},
      {"ipv6_fragment_header_cut", v6(kIpv6Fragment, Bytes(4)), R::ipv6_truncated},
      {"tcp_dst_port_0", v4(kProtoTcp, tcp(40000, 0)), R::l4_bad_port},
      {"tcp_src_port_0", v4(kProtoTcp, tcp(0, 80)), R::l4_bad_port},
      {"udp_dst_port_0", v4(kProtoUdp, udp(40000, 0)), R::l4_bad_port},
      {"ipv6_tcp_port_0", v6(kProtoTcp, tcp(40000, 0)), R::l4_bad_port},
      {"tcp_from_this_network", from4("0.1.2.3", kProtoTcp, tcp(40000, 80)), R::martian_source},
      {"tcp_from_loopback", from4("127.0.0.1", kProtoTcp, tcp(40000, 80)), R::martian_source},
      {"udp_from_multicast", from4("224.0.0.251", kProtoUdp, udp(5353, 53)), R::martian_source},
      {"tcp_from_multicast_top", from4("239.255.255.255", kProtoTcp, tcp(40000, 80)), R::martian_source},
      {"tcp_from_limited_broadcast", from4("255.255.255.255", kProtoTcp, tcp(40000, 80)), R::martian_source},
      {"tcp_fragment_from_loopback", from4("127.0.0.2", kProtoTcp, payload(16), inner_fragment), R::martian_source},
      {"ipv6_tcp_from_unspecified", from6("::", kProtoTcp, tcp(40000, 80)), R::martian_source},
      {"ipv6_tcp_from_loopback", from6("::1", kProtoTcp, tcp(40000, 80)), R::martian_source},
      {"ipv6_udp_from_multicast", from6("ff02::fb", kProtoUdp, udp(5353, 53)), R::martian_source},
      {"ipv6_tcp_from_ipv4_mapped", from6("::ffff:198.51.100.7", kProtoTcp, tcp(40000, 80)), R::martian_source},
      {"tcp_cut", v4(kProtoTcp, cut(tcp(40000, 80), 19)), R::l4_truncated},
      {"tcp_data_offset_4", with8(t4, 34 + 12, 0x40), R::tcp_bad_header},
      {"tcp_data_offset_0", with8(t4, 34 + 12, 0x00), R::tcp_bad_header},
      {"tcp_data_offset_past_packet", with8(t4, 34 + 12, 0xf0), R::tcp_bad_header},
      {"udp_cut", v4(kProtoUdp, Bytes(7)), R::l4_truncated},
      {"udp_length_longer_than_ip", with16(u4, 34 + 4, 25), R::udp_bad_length},
      {"udp_length_below_header", with16(u4, 34 + 4, 7), R::udp_bad_length},
      {"ipv6_udp_length_lies", with16(v6(kProtoUdp, udp(40000, 53, payload(4))), 54 + 4, 100), R::udp_bad_length},
      {"icmp_header_cut", v4(kProtoIcmp, Bytes(7)), R::l4_truncated},
      {"icmp4_inner_ip_cut", icmp4_error_quoting(cut(quoted_tcp4(kVip4, kClient4, 80, 40000), 19)), R::icmp_inner_truncated},
      {"icmp4_inner_ports_cut", icmp4_error_quoting(quoted_tcp4(kVip4, kClient4, 80, 40000, 7)), R::icmp_inner_truncated},
      {"icmp4_inner_options_past_quote", icmp4_error_quoting(with8(quoted_tcp4(kVip4, kClient4, 80, 40000), 0, 0x46)), R::icmp_inner_truncated},
      {"icmp6_inner_ip_cut", icmp6_error_quoting(cut(quoted_tcp6(kVip6, kClient6, 80, 40000), 39)), R::icmp_inner_truncated},
      {"icmp6_inner_ports_cut", icmp6_error_quoting(quoted_tcp6(kVip6, kClient6, 80, 40000, 7)), R::icmp_inner_truncated},
      {"icmp6_inner_ext_header_cut", icmp6_error_quoting(cut(ipv6(kVip6, kClient6, kIpv6HopByHop, ipv6_options_header(kProtoTcp) + tcp(80, 40000)), 44)),
       R::icmp_inner_truncated},
      {"icmp4_inner_from_other_address", icmp4_error_quoting(quoted_tcp4("203.0.113.11", kClient4, 80, 40000)), R::icmp_inner_mismatch},
      {"icmp6_inner_from_other_address", icmp6_error_quoting(quoted_tcp6("2001:db8:a::11", kClient6, 80, 40000)), R::icmp_inner_mismatch},
      {"icmp4_inner_is_icmp", icmp4_error_quoting(ipv4(kVip4, kClient4, kProtoIcmp, icmp4(0, 0, {}))), R::icmp_inner_unsupported},
      {"icmp4_inner_is_ipv6", icmp4_error_quoting(quoted_tcp6(kVip6, kClient6, 80, 40000)), R::icmp_inner_unsupported},
      {"icmp6_inner_is_ipv4", icmp6_error_quoting(quoted_tcp4(kVip4, kClient4, 80, 40000) + Bytes(20)), R::icmp_inner_unsupported},
      // Found by the fuzz test: no flow uses port 0 (such packets are
      // dropped as l4_bad_port), so neither may an ICMP error about one.
      {"icmp4_inner_port_0", icmp4_error_quoting(quoted_tcp4(kVip4, kClient4, 0, 40000)), R::l4_bad_port},
      {"icmp6_inner_port_0", icmp6_error_quoting(quoted_tcp6(kVip6, kClient6, 80, 0)), R::l4_bad_port},
      {"icmp4_inner_is_fragment", icmp4_error_quoting(ipv4(kVip4, kClient4, kProtoTcp, payload(8), inner_fragment)), R::icmp_inner_unsupported},
      {"icmp6_inner_is_a_later_fragment",
       icmp6_error_quoting(ipv6(kVip6, kClient6, kIpv6Fragment, ipv6_fragment_header(kProtoUdp, 185, false) + payload(16))),
       R::icmp_inner_unsupported},
  };
}

// Only those: the neighbours of each martian range parse, and so does ICMP
// from a martian source (a neighbour solicitation from :: is how IPv6
// duplicate address detection works; it goes to the kernel).
TEST(MartianSource, OnlyTheListedRangesAndOnlyTcpUdp) {
  for (std::string_view ok : {"1.0.0.0", "126.255.255.255", "128.0.0.0", "223.255.255.255", "240.0.0.1",
                              "255.255.255.254", "10.0.0.1", "198.51.100.7"})
    EXPECT_EQ(parse(from4(ok, kProtoTcp, tcp(40000, 80))).drop, DropReason::none) << ok;
  for (std::string_view ok : {"::2", "::fffe:c633:6407", "fe80::1", "fe00::1", "2001:db8::1", "::198.51.100.7"})
    EXPECT_EQ(parse(from6(ok, kProtoTcp, tcp(40000, 80))).drop, DropReason::none) << ok;
  const ParseOutcome icmp = parse(from4("0.0.0.0", kProtoIcmp, icmp4(8, 0, {})));
  EXPECT_EQ(icmp.drop, DropReason::none);
  EXPECT_EQ(icmp.packet.kind, PacketKind::icmp_other);
  EXPECT_EQ(parse(from6("::", kProtoIcmp6, icmp6(135, 0, Bytes(20)))).drop, DropReason::none);
}

// An ICMP error whose quote is unusable keeps the outer packet's key: the
// pipeline sends it to the kernel when that is a node address.
TEST(IcmpErrors, AnUnusableQuoteLeavesTheOuterKey) {
  ParsedPacket p;
  const Bytes ping_quoted = icmp4_error_quoting(ipv4(kVip4, kClient4, kProtoIcmp, icmp4(0, 0, {})));
  EXPECT_EQ(parse_packet({ping_quoted.data(), ping_quoted.size()}, p), DropReason::icmp_inner_unsupported);
  EXPECT_EQ(p.key, flow_key(kRouter4, kVip4, 0, 0, kProtoIcmp));
  const Bytes other_source = icmp6_error_quoting(quoted_tcp6("2001:db8:a::11", kClient6, 80, 40000));
  EXPECT_EQ(parse_packet({other_source.data(), other_source.size()}, p), DropReason::icmp_inner_mismatch);
  EXPECT_EQ(p.key, flow_key(kRouter6, kVip6, 0, 0, kProtoIcmp6));
}

class MalformedPacket : public ::testing::TestWithParam<DropCase> {};

TEST_P(MalformedPacket, IsDroppedWithItsReason) {
  const DropCase& c = GetParam();
  const ParseOutcome o = parse(c.frame);
  EXPECT_EQ(o.drop, c.reason);
}

INSTANTIATE_TEST_SUITE_P(Parser, MalformedPacket, ::testing::ValuesIn(drop_cases()),
                         CaseName());

// The table above must cover every reason the parser can give, so that a
// new reason comes with a case.
TEST(ParserCoverage, EveryParserDropReasonHasACase) {
  std::set<DropReason> seen;
  for (const DropCase& c : drop_cases()) seen.insert(c.reason);
  for (DropReason r = DropReason::l2_truncated; r <= DropReason::icmp_inner_mismatch;
       r = static_cast<DropReason>(static_cast<int>(r) + 1))
    EXPECT_TRUE(seen.count(r)) << "no malformed case for " << drop_reason_name(r);
}

// The parser's checksum test against RFC 1071's fold: random headers of every
// IPv4 length, half of them given a correct checksum, and the edge cases of
// a sum that is a multiple of 0xffff (0x0000 and 0xffff both stored).
TEST(Ipv4Checksum, AgreesWithTheRfc1071Fold) {
  std::mt19937 rng(1071);
  int ok = 0;
  for (int n = 0; n < 200000; ++n) {
    Bytes h(20 + 4 * (n % 11));
    for (auto& b : h) b = static_cast<std::byte>(rng());
    if (n % 2 == 0) {
      put16(h, 10, 0);
      put16(h, 10, internet_checksum(h));
    }
    const bool expected = checksum_fold(checksum_partial(h)) == 0;
    ASSERT_EQ(ipv4_checksum_ok(h.data(), h.size()), expected) << "header " << n;
    ok += expected;
  }
  EXPECT_GE(ok, 100000);  // the fixed half, at least
  Bytes zeros(20);
  EXPECT_FALSE(ipv4_checksum_ok(zeros.data(), zeros.size())) << "all zero sums to 0, not 0xffff";
  Bytes ones(20, std::byte{0xff});
  EXPECT_TRUE(ipv4_checksum_ok(ones.data(), ones.size())) << "all 0xffff words: a correct one's-complement sum";
}

}  // namespace
}  // namespace anylb::test
