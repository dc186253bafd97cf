// libFuzzer, differential: the one-pass IPv4 parser (parse_ipv4_l4_fast)
// against the general one on the same frame. The fast path may decline a
// frame, but what it accepts the general parser must accept with the same
// fields; the general parser's own result must stay within the frame.
// The input is one Ethernet frame, in a buffer of exactly its size, so
// ASan sees any read past its end.
#include <cstddef>
#include <cstdint>
#include <span>

#include "packet_parser.hpp"

#include "fuzz_check.hpp"

namespace {

bool same_parse(const anylb::ParsedPacket& a, const anylb::ParsedPacket& b) {
  return a.key == b.key && a.kind == b.kind && a.family == b.family && a.tcp_flags == b.tcp_flags &&
         a.icmp_type == b.icmp_type && a.tos == b.tos && a.dont_fragment == b.dont_fragment &&
         a.l3_offset == b.l3_offset && a.l3_length == b.l3_length;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace anylb;
  const std::span<const std::byte> frame(reinterpret_cast<const std::byte*>(data), size);
  ParsedPacket general;
  const DropReason why = parse_packet_general(frame, general);
  FUZZ_CHECK(why <= DropReason::none);
  if (why == DropReason::none) {
    FUZZ_CHECK(general.l3_offset == 14 || general.l3_offset == 18 || general.kind == PacketKind::arp);
    FUZZ_CHECK(std::size_t{general.l3_offset} + general.l3_length <= size);
  }
  ParsedPacket fast;
  if (parse_ipv4_l4_fast(frame.data(), size, fast)) {
    FUZZ_CHECK(why == DropReason::none);
    FUZZ_CHECK(same_parse(fast, general));
  }
  // What the burst loop calls: the same verdict as the general parser.
  ParsedPacket either;
  FUZZ_CHECK(parse_packet(frame, either) == why);
  if (why == DropReason::none) FUZZ_CHECK(same_parse(either, general));
  return 0;
}
