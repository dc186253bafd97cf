// libFuzzer: Pipeline::process_burst on arbitrary bursts against a live
// forwarding state, in every mode, and the invariants every burst keeps
// (docs/ARCHITECTURE.md invariant 7): each frame forwarded, replied to,
// handed to the kernel or dropped with its reason counted; nothing written
// outside the frame's buffer; what leaves fits the port's MTU.
//
// Input (tests/fuzz/make_seeds.py writes it):
//   byte 0  which state: mode (l2-dsr, ipip, gue) x MTU (1500, 1280), and
//           bits: 0x08 no exception interface, 0x10 fix IPv4 header
//           checksums, 0x20 address frames to the port's MAC, 0x40 run the
//           burst a second time later, 0x80 a tight exception rate
//   byte 1  how far the clock moves before the second run (x 256 ms); odd:
//           flow tables of two buckets (16 flows), so a burst evicts
//   then    frames, each a 2-byte big-endian length and that many bytes
//           (the last one takes what is left), at most 32 a burst.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "fragment.hpp"
#include "pipeline.hpp"
#include "state_builder.hpp"

#include "fuzz_check.hpp"

namespace anylb {
namespace {

constexpr uint32_t kMaxServices = 16;
constexpr uint32_t kMaxBackends = 64;
constexpr uint32_t kHeadroom = 128;  // RTE_PKTMBUF_HEADROOM
constexpr std::size_t kFramesPerBurst = 32;
constexpr const char* kPortMac = "02:70:63:61:70:00";  // the packet tests' port (tests/packet/harness.py)

// The same VIPs in every mode, so a seed frame reaches a service whatever
// state byte 0 picks; the packet tests' addresses (test_forwarding_modes.py).
DesiredState state_for(ForwardingMode mode) {
  const char* m = mode == ForwardingMode::l2_dsr ? "l2-dsr" : mode == ForwardingMode::ipip ? "ipip" : "gue";
  const bool encap = mode != ForwardingMode::l2_dsr;
  DesiredState s;
  s.node_addresses = {*IpAddress::parse("198.18.0.1"), *IpAddress::parse("2001:db8:ff::1")};
  s.bgp_peers = {*IpAddress::parse("198.18.0.254")};
  const std::vector<std::string> services = {
      "name=web4 vip=203.0.113.10 proto=tcp port=80 fragments=hash",
      "name=dns4 vip=203.0.113.10 proto=udp port=any",
      "name=web6 vip=2001:db8::10 proto=tcp port=80 fragments=hash",
      "name=udp4 vip=203.0.113.12 proto=udp port=53 fragments=hash",
      "name=udp6 vip=2001:db8::12 proto=udp port=any fragments=hash",
      "name=dead vip=203.0.113.20 proto=tcp port=80",
  };
  std::vector<std::string> backends = {
      "service=web4 address=198.18.1.10 mac=02:00:00:00:01:0a",
      "service=web4 address=198.18.1.11 mac=02:00:00:00:01:0b",
      "service=web4 address=198.18.1.12 mac=02:00:00:00:01:0c state=draining",
      "service=dns4 address=198.18.1.20 mac=02:00:00:00:01:14 weight=3",
      "service=web6 address=2001:db8:be::10 mac=02:00:00:00:02:10",
      "service=web6 address=2001:db8:be::11 mac=02:00:00:00:02:11 state=down",
      "service=dead address=198.18.1.30 mac=02:00:00:00:01:1e state=down",
  };
  // Encapsulation may cross families (an IPv4 VIP over IPv6 tunnels).
  backends.push_back(encap ? "service=udp4 address=2001:db8:be::20 mac=02:00:00:00:02:20"
                           : "service=udp4 address=198.18.1.40 mac=02:00:00:00:01:28");
  backends.push_back(encap ? "service=udp6 address=198.18.1.50 mac=02:00:00:00:01:32"
                           : "service=udp6 address=2001:db8:be::30 mac=02:00:00:00:02:30");
  std::string error;
  for (const std::string& t : services) {
    auto spec = parse_service_spec(t + " mode=" + m, error);
    FUZZ_CHECK(spec.has_value());
    s.services.push_back(*spec);
  }
  for (const std::string& t : backends) {
    auto spec = parse_backend_spec(t, error);
    FUZZ_CHECK(spec.has_value());
    s.backends.push_back(*spec);
  }
  FUZZ_CHECK(validate_desired_state(s).empty());
  return s;
}

struct States {
  std::unique_ptr<const ForwardingState> by_mode[3];
};

const States& states() {
  static const States* built = [] {
    auto* st = new States;
    StateLimits limits;
    limits.max_services = kMaxServices;
    limits.max_backends = kMaxBackends;
    const ForwardingMode modes[] = {ForwardingMode::l2_dsr, ForwardingMode::ipip, ForwardingMode::gue};
    for (int i = 0; i < 3; ++i) {
      StateBuilder builder(limits);  // one builder a state: each its own ids
      std::string error;
      st->by_mode[i] = builder.build(state_for(modes[i]), 1, 0, error);
      FUZZ_CHECK(st->by_mode[i] != nullptr);
    }
    return st;
  }();
  return *built;
}

// With ANYLB_FUZZ_STATS set, the verdicts of the whole run by action and
// drop reason, printed at exit: what the corpus reaches (README.md).
struct Stats {
  std::size_t actions[5] = {};
  std::size_t drops[kDropReasonCount] = {};
  ~Stats() {
    if (std::getenv("ANYLB_FUZZ_STATS") == nullptr) return;
    const char* names[] = {"forward", "exception", "drop", "reply", "forward_fragments"};
    for (int a = 0; a < 5; ++a) std::fprintf(stderr, "action %s: %zu\n", names[a], actions[a]);
    for (std::size_t r = 0; r < kDropReasonCount; ++r)
      if (drops[r] != 0)
        std::fprintf(stderr, "drop %s: %zu\n", std::string(kDropReasons[r].name).c_str(), drops[r]);
  }
};
Stats stats;

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// Where the IP header starts: after Ethernet and one 802.1Q tag.
std::size_t l3_offset(const std::vector<std::byte>& f) {
  if (f.size() >= 18 && std::to_integer<uint8_t>(f[12]) == 0x81 && std::to_integer<uint8_t>(f[13]) == 0x00) return 18;
  return 14;
}

// Gives a fuzzed IPv4 header a valid checksum, so mutations reach past it.
void fix_ipv4_checksum(std::vector<std::byte>& f) {
  const std::size_t l3 = l3_offset(f);
  if (f.size() < l3 + 20 || std::to_integer<uint8_t>(f[l3 - 2]) != 0x08 || std::to_integer<uint8_t>(f[l3 - 1]) != 0)
    return;
  const std::size_t ihl = (std::to_integer<uint8_t>(f[l3]) & 0x0f) * 4u;
  if (ihl < 20 || f.size() < l3 + ihl) return;
  f[l3 + 10] = f[l3 + 11] = std::byte{0};
  const uint16_t sum = internet_checksum({f.data() + l3, ihl});  // big-endian words
  f[l3 + 10] = std::byte(sum >> 8);
  f[l3 + 11] = std::byte(sum & 0xff);
}

struct Frame {
  std::vector<std::byte> buf;  // headroom, then the frame: exactly, so ASan sees a write past it
  uint32_t len = 0;
};

std::size_t endpoint_packets(const std::vector<EndpointCounters>& v) {
  std::size_t n = 0;
  for (const EndpointCounters& e : v) n += e.packets.read();
  return n;
}

// One burst through `pipeline`, every invariant checked.
void run_burst(Pipeline& pipeline, const LcoreCounters& counters, const ForwardingState& st,
               const PortContext& port, FlowClock now, const std::vector<std::vector<std::byte>>& input) {
  std::vector<Frame> frames(input.size());
  std::vector<FrameBuffer> burst;
  for (std::size_t i = 0; i < input.size(); ++i) {
    frames[i].len = static_cast<uint32_t>(input[i].size());
    frames[i].buf.assign(kHeadroom, std::byte{0xee});
    frames[i].buf.insert(frames[i].buf.end(), input[i].begin(), input[i].end());
    burst.push_back(FrameBuffer{frames[i].buf.data() + kHeadroom, frames[i].len, kHeadroom});
  }
  std::vector<std::size_t> drops_before(kDropReasonCount);
  for (std::size_t r = 0; r < kDropReasonCount; ++r) drops_before[r] = counters.drops[r].read();
  const std::size_t exceptions_before = counters.exception_packets.read();
  const std::size_t service_packets_before = endpoint_packets(counters.services);
  const std::size_t backend_packets_before = endpoint_packets(counters.backends);

  std::vector<Verdict> verdicts(burst.size());
  pipeline.process_burst(st, port, now, burst, verdicts.data());

  std::vector<std::size_t> dropped(kDropReasonCount);
  std::size_t exceptions = 0, forwarded = 0;
  for (std::size_t i = 0; i < burst.size(); ++i) {
    const Verdict& v = verdicts[i];
    const uint32_t in_len = frames[i].len;
    if (static_cast<std::size_t>(v.action) < 5) ++stats.actions[static_cast<std::size_t>(v.action)];
    if (v.drop < DropReason::none) ++stats.drops[static_cast<std::size_t>(v.drop)];
    switch (v.action) {
      case Action::drop:
        FUZZ_CHECK(v.drop < DropReason::none);
        ++dropped[static_cast<std::size_t>(v.drop)];
        continue;
      case Action::exception:  // to the kernel as it came
        FUZZ_CHECK(v.drop == DropReason::none && v.prepended == 0 && v.len == in_len);
        ++exceptions;
        continue;
      case Action::forward:
      case Action::forward_fragments:
      case Action::reply:
        break;
      default:
        FUZZ_CHECK(false && "a verdict with no action");
    }
    FUZZ_CHECK(v.drop == DropReason::none);
    // The frame leaves from within its buffer: headroom, then the frame.
    FUZZ_CHECK(v.prepended <= kHeadroom);
    FUZZ_CHECK(v.len >= 14 && v.len <= v.prepended + in_len);
    const std::byte* out = frames[i].buf.data() + kHeadroom - v.prepended;
    std::vector<std::byte> sent(out, out + v.len);
    const std::size_t l2 = l3_offset(sent);
    if (v.action == Action::reply) {  // our packet-too-big error, to the client
      FUZZ_CHECK(v.backend_id == 0 && v.len <= port.mtu + l2);
      continue;
    }
    ++forwarded;
    FUZZ_CHECK(v.backend_id != 0 && v.backend_id < st.backends.size() && st.backends[v.backend_id].present);
    const ServiceEntry& svc = st.services[st.backends[v.backend_id].service_id];
    if (svc.spec.mode == ForwardingMode::l2_dsr) {
      FUZZ_CHECK(v.action == Action::forward && v.prepended == 0 && v.len == in_len);
      FUZZ_CHECK(std::memcmp(out, st.backends[v.backend_id].mac.bytes.data(), 6) == 0);
      continue;
    }
    if (v.action == Action::forward) {
      FUZZ_CHECK(v.len <= port.mtu + l2);
      // An outer packet we built is itself a well-formed one.
      ParsedPacket p;
      FUZZ_CHECK(parse_packet_general(sent, p) == DropReason::none);
      continue;
    }
    // Outer fragments: each within the MTU; write them as the worker does.
    const OuterFragments plan = plan_outer_fragments(sent.data(), v.len, port.mtu);
    FUZZ_CHECK(plan.count >= 2);
    for (uint32_t k = 0; k < plan.count; ++k) {
      FUZZ_CHECK(plan.frame_len(k) - plan.l3_offset <= port.mtu);
      if (k == 0) continue;
      std::vector<std::byte> piece(plan.frame_len(k));
      write_fragment(sent.data(), plan, k, 7, piece.data());
      ParsedPacket p;
      FUZZ_CHECK(parse_packet_general(piece, p) == DropReason::none);
    }
    std::vector<std::byte> first(plan.grows + v.len);
    std::memcpy(first.data() + plan.grows, sent.data(), v.len);
    cut_first_fragment(first.data(), plan, 7);
  }
  // Every drop counted once, under its reason; every hand-over and every
  // forwarded packet counted.
  for (std::size_t r = 0; r < kDropReasonCount; ++r) FUZZ_CHECK(counters.drops[r].read() - drops_before[r] == dropped[r]);
  FUZZ_CHECK(counters.exception_packets.read() - exceptions_before == exceptions);
  FUZZ_CHECK(endpoint_packets(counters.services) - service_packets_before == forwarded);
  FUZZ_CHECK(endpoint_packets(counters.backends) - backend_packets_before == forwarded);
}

}  // namespace
}  // namespace anylb

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace anylb;
  if (size < 2) return 0;
  const uint8_t select = data[0], later = data[1];
  const int mode = (select & 7) % 3;
  PortContext port;
  port.mac = port.rx_mac = *MacAddress::parse(kPortMac);
  port.mtu = (select & 7) < 3 ? 1500 : 1280;

  // A frame is at most what the port receives: its MTU and an 802.1Q tag.
  std::vector<std::vector<std::byte>> input;
  for (std::size_t at = 2; at < size && input.size() < kFramesPerBurst;) {
    std::size_t len = size - at - std::min<std::size_t>(2, size - at);
    if (size - at >= 2) {
      len = std::min<std::size_t>(be16(data + at), size - at - 2);
      at += 2;
    } else {
      at = size;
    }
    std::vector<std::byte> f(reinterpret_cast<const std::byte*>(data + at),
                             reinterpret_cast<const std::byte*>(data + at + len));
    at += len;
    if ((select & 0x20) && f.size() >= 6) std::memcpy(f.data(), port.rx_mac.bytes.data(), 6);
    if (select & 0x10) fix_ipv4_checksum(f);
    f.resize(std::min<std::size_t>(f.size(), port.mtu + l3_offset(f)));
    input.push_back(std::move(f));
  }

  const ForwardingState& st = *states().by_mode[mode];
  // This worker, and another whose table an ICMP error may find its flow in.
  // An odd byte 1: a table of two buckets, which a burst fills (eviction).
  const uint64_t capacity = (later & 1) ? 8 : 1024;
  FlowTable flows(capacity), other_flows(capacity);
  LcoreCounters counters(kMaxServices, kMaxBackends), other_counters(kMaxServices, kMaxBackends);
  Pipeline pipeline(flows, counters, FlowTimeouts{}), other(other_flows, other_counters, FlowTimeouts{});
  const uint32_t rate = (select & 0x80) ? 2 : 0;
  pipeline.exception_path(!(select & 0x08), rate);
  other.exception_path(!(select & 0x08), rate);
  pipeline.set_other_tables({&other_flows});
  pipeline.set_ipv4_id_lane(0, 2);
  other.set_ipv4_id_lane(1, 2);

  const FlowClock start = 1'000;
  run_burst(other, other_counters, st, port, start, input);
  run_burst(pipeline, counters, st, port, start + 1, input);
  if (select & 0x40) run_burst(pipeline, counters, st, port, start + 1 + FlowClock{later} * 256, input);
  return 0;
}
