// parse_packet on 200,000 random frames (fixed seed): plausible frames cut or
// extended to a random length 0..200 and with a few bytes flipped, lengths
// and checksums repaired half of the time so the mutations reach the deeper
// headers. Each frame ends at an inaccessible page, so any read past its end
// crashes. Outcomes must be self-consistent; the histogram is printed and
// must show that the fuzzing reached every packet kind and most drop
// reasons. (For a stronger check, build with -Db_sanitize=address.)
#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "frame_builder.hpp"
#include "guarded_buffer.hpp"
#include "packet_parser.hpp"
#include "printers.hpp"

namespace anylb::test {
namespace {

std::vector<Bytes> templates() {
  Ipv4Fields options;
  options.options = Bytes(8, std::byte{1});
  Ipv4Fields fragment;
  fragment.flags_fragment = 0x2000 | 10;
  return {
      tcp4_frame(),
      udp4_frame(),
      tcp6_frame(),
      ethernet(kEtherTypeIpv4, 7) + ipv4(kClient4, kVip4, kProtoTcp, tcp(1, 2), options),
      ethernet(kEtherTypeIpv6, 7) + ipv6(kClient6, kVip6, kProtoUdp, udp(1, 2, payload(4))),
      ethernet(kEtherTypeIpv6) + ipv6(kClient6, kVip6, kIpv6HopByHop,
                                      ipv6_options_header(kIpv6Routing) + ipv6_routing_header(kProtoTcp) + tcp(1, 2)),
      ethernet(kEtherTypeIpv6) + ipv6(kClient6, kVip6, kIpv6Fragment, ipv6_fragment_header(kProtoUdp, 2, true) + payload(16)),
      ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoUdp, payload(16), fragment),
      frag_needed4_frame(),
      packet_too_big6_frame(),
      ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, kProtoIcmp, icmp4(kIcmpEchoRequest, 0, payload(8))),
      ethernet(kEtherTypeIpv4) + ipv4(kClient4, kVip4, 47, payload(8)),
      ethernet(kEtherTypeArp) + arp_request(kRouter4, kNode4),
  };
}

// Where an IP header would start, or 0 if the frame does not look like IP.
std::size_t ip_offset(const Bytes& f, uint16_t& ethertype) {
  if (f.size() < 14) return 0;
  ethertype = get16(f, 12);
  std::size_t off = 14;
  if (ethertype == kEtherTypeVlan) {
    if (f.size() < 18) return 0;
    ethertype = get16(f, 16);
    off = 18;
  }
  return ethertype == kEtherTypeIpv4 || ethertype == kEtherTypeIpv6 ? off : 0;
}

// Makes the IP length fields tell the truth (and the IPv4 checksum match),
// so that the mutations are judged by the layers behind them.
void repair(Bytes& f) {
  uint16_t type = 0;
  const std::size_t l3 = ip_offset(f, type);
  if (l3 == 0) return;
  if (type == kEtherTypeIpv4 && f.size() >= l3 + 20) {
    put16(f, l3 + 2, static_cast<uint16_t>(std::min<std::size_t>(f.size() - l3, 0xffff)));
    const std::size_t ihl = static_cast<std::size_t>(get8(f, l3) & 0x0f) * 4;
    if (ihl >= 20 && l3 + ihl <= f.size()) ipv4_fix_checksum(f, l3);
  } else if (type == kEtherTypeIpv6 && f.size() >= l3 + 40) {
    put16(f, l3 + 4, static_cast<uint16_t>(f.size() - l3 - 40));
  }
}

bool same_parse(const ParsedPacket& a, const ParsedPacket& b) {
  return a.key == b.key && a.kind == b.kind && a.family == b.family && a.tcp_flags == b.tcp_flags &&
         a.icmp_type == b.icmp_type && a.tos == b.tos && a.dont_fragment == b.dont_fragment &&
         a.l3_offset == b.l3_offset && a.l3_length == b.l3_length;
}

// What a successful parse promises, whatever the input: empty if kept,
// else the promise broken.
std::string inconsistency(const ParseOutcome& o, std::size_t len) {
  const ParsedPacket& p = o.packet;
  if (p.l3_offset != 14 && p.l3_offset != 18) return "l3_offset not after Ethernet";
  if (p.kind == PacketKind::arp) return {};
  if (std::size_t{p.l3_offset} + p.l3_length > len) return "IP packet longer than the frame";
  if (p.l3_length < (p.family == IpFamily::v4 ? 20 : 41)) return "IP packet shorter than its header";
  if (p.key.family != p.family) return "key family differs";
  const bool ports = p.key.src_port != 0 && p.key.dst_port != 0;
  switch (p.kind) {
    case PacketKind::flow:
    case PacketKind::icmp_error:
      if (p.key.proto != kProtoTcp && p.key.proto != kProtoUdp) return "flow not TCP/UDP";
      if (!ports) return "port 0 in a flow key";
      break;
    case PacketKind::icmp_other: {
      // An echo's id in src_port (the exception path's probe replies).
      const bool echo = p.family == IpFamily::v4 ? p.icmp_type == 0 || p.icmp_type == 8
                                                 : p.icmp_type == 128 || p.icmp_type == 129;
      if ((!echo && p.key.src_port != 0) || p.key.dst_port != 0) return "ports in an ICMP key";
      break;
    }
    case PacketKind::fragment:
    case PacketKind::other_ip:
      if (p.key.src_port != 0 || p.key.dst_port != 0) return "ports in a 3-tuple key";
      break;
    case PacketKind::arp:
      break;
  }
  return {};
}

TEST(ParserFuzz, RandomFramesNeverCrashAndStayConsistent) {
  constexpr int kFrames = 200'000;
  constexpr std::size_t kMaxLen = 200;
  const std::vector<Bytes> bases = templates();
  std::mt19937_64 rng(0x616e796c62);  // fixed: a failure must reproduce
  GuardedBuffer buffer;
  std::map<std::string, int> histogram;
  int broken_promises = 0;
  int fast_path_differs = 0, fast_path_frames = 0;

  for (int i = 0; i < kFrames; ++i) {
    Bytes f = bases[rng() % bases.size()];
    const std::size_t len = rng() % (kMaxLen + 1);
    const std::size_t old = f.size();
    f.resize(len);
    for (std::size_t j = old; j < len; ++j) f[j] = static_cast<std::byte>(rng());
    if (rng() % 2 == 0) repair(f);
    // Flip up to four bytes, mostly in the headers.
    const int flips = static_cast<int>(rng() % 5);
    for (int m = 0; m < flips && len > 0; ++m)
      f[rng() % std::min<std::size_t>(len, 96)] ^= static_cast<std::byte>(1 + rng() % 255);
    if (rng() % 4 == 0) repair(f);

    const ParseOutcome o = parse_packet(buffer.place(f));
    // The one-pass IPv4 path must decide exactly as the general parser.
    ParsedPacket general;
    const DropReason g = parse_packet_general(buffer.place(f), general);
    if (g != o.drop || (o.ok() && !same_parse(o.packet, general))) {
      if (++fast_path_differs <= 5)
        ADD_FAILURE() << "frame " << i << ": fast path " << drop_reason_name(o.drop) << ", general "
                      << drop_reason_name(g);
    }
    fast_path_frames += o.ok() && o.packet.kind == PacketKind::flow && o.packet.family == IpFamily::v4 &&
                        o.packet.l3_offset == 14;
    std::string outcome;
    if (o.ok()) {
      outcome = ::testing::PrintToString(o.packet.kind);
      const std::string broken = inconsistency(o, len);
      if (!broken.empty() && ++broken_promises <= 5)
        ADD_FAILURE() << "frame " << i << ": " << broken << ": " << outcome << " "
                      << ::testing::PrintToString(o.packet.key);
    } else {
      outcome = std::string(drop_reason_name(o.drop));
    }
    ++histogram[outcome];
  }

  EXPECT_EQ(broken_promises, 0) << "parses that broke a promise (first 5 shown above)";
  EXPECT_EQ(fast_path_differs, 0) << "frames the IPv4 fast path parsed differently (first 5 above)";
  EXPECT_GT(fast_path_frames, kFrames / 50) << "too few IPv4 TCP/UDP flows to compare the fast path on";
  std::cout << "parser fuzz outcomes over " << kFrames << " frames:\n";
  for (const auto& [name, n] : histogram) std::cout << "  " << name << " " << n << "\n";
  // The fuzzer must get past the outer headers, or it tests little.
  for (const char* kind : {"flow", "fragment", "icmp_error", "icmp_other", "other_ip", "arp"})
    EXPECT_GT(histogram[kind], 0) << "no random frame parsed as " << kind;
  for (const char* deep : {"tcp_bad_header", "udp_bad_length", "l4_bad_port", "icmp_inner_truncated",
                           "icmp_inner_mismatch", "icmp_inner_unsupported"})
    EXPECT_GT(histogram[deep], 0) << "no random frame reached " << deep;
  ::testing::Test::RecordProperty("distinct_outcomes", static_cast<int>(histogram.size()));
}

}  // namespace
}  // namespace anylb::test
