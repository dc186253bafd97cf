// Google Benchmark microbenchmarks of the per-packet stages, on the pure
// core (no EAL): parse, flow hash, service lookup, flow lookup, Maglev
// pick, rewrite, and the whole burst pipeline.
#include <benchmark/benchmark.h>

#include <array>
#include <cstring>
#include <vector>

#include "checksum.hpp"
#include "pipeline.hpp"
#include "state_builder.hpp"

namespace anylb {
namespace {

constexpr uint32_t kHeadroom = 128;

// The port the frames below are addressed to (their destination MAC).
PortContext bench_port() {
  PortContext p;
  p.rx_mac = *MacAddress::parse("02:70:63:61:70:00");
  return p;
}

// A TCP/IPv4 frame from client i to the VIP, with headroom in front.
std::vector<std::byte> make_frame(uint32_t i) {
  std::vector<std::byte> buf(kHeadroom + 64, std::byte{0});
  std::byte* f = buf.data() + kHeadroom;
  const uint8_t eth[14] = {2, 0x70, 0x63, 0x61, 0x70, 0, 2, 0, 0, 0, 0, 0x99, 0x08, 0x00};
  std::memcpy(f, eth, 14);
  uint8_t ip[20] = {0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 51, 100, 1, 203, 0, 113, 10};
  ip[14] = static_cast<uint8_t>(i >> 8);
  ip[15] = static_cast<uint8_t>(i);
  std::memcpy(f + 14, ip, 20);
  const uint16_t c = internet_checksum({f + 14, 20});
  f[24] = static_cast<std::byte>(c >> 8);
  f[25] = static_cast<std::byte>(c & 0xff);
  uint8_t tcp[20] = {0, 0, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0};
  tcp[0] = static_cast<uint8_t>((1024 + i % 60000) >> 8);
  tcp[1] = static_cast<uint8_t>(1024 + (i % 60000));
  std::memcpy(f + 34, tcp, 20);
  return buf;
}

struct Fixture {
  explicit Fixture(uint32_t flows, ForwardingMode mode = ForwardingMode::l2_dsr)
      : table(1 << 20), counters(64, 4096), pipeline(table, counters, FlowTimeouts{}) {
    DesiredState ds;
    ds.node_addresses.push_back(*IpAddress::parse("198.18.0.1"));
    ServiceSpec s;
    s.name = "web";
    s.vip = *IpAddress::parse("203.0.113.10");
    s.port = 80;
    s.mode = mode;
    ds.services.push_back(s);
    for (int b = 0; b < 10; ++b) {
      BackendSpec be;
      be.service = "web";
      be.address = *IpAddress::parse("198.18.1." + std::to_string(10 + b));
      be.mac = *MacAddress::parse("02:00:00:00:01:0a");
      ds.backends.push_back(be);
    }
    StateLimits limits;
    limits.max_services = 64;
    limits.max_backends = 4096;
    StateBuilder builder(limits);
    std::string err;
    state = builder.build(ds, 1, 0, err);
    for (uint32_t i = 0; i < flows; ++i) frames.push_back(make_frame(i));
    pristine = frames;
  }
  FlowTable table;
  LcoreCounters counters;
  Pipeline pipeline;
  std::unique_ptr<ForwardingState> state;
  std::vector<std::vector<std::byte>> frames, pristine;
};

void BM_Parse(benchmark::State& st) {
  Fixture fx(1024);
  std::size_t i = 0;
  ParsedPacket p;
  for (auto _ : st) {
    auto& f = fx.frames[i++ & 1023];
    benchmark::DoNotOptimize(parse_packet({f.data() + kHeadroom, 54}, p));
    benchmark::DoNotOptimize(p);
  }
}
BENCHMARK(BM_Parse);

void BM_FlowHash(benchmark::State& st) {
  Fixture fx(1024);
  std::vector<FlowKey> keys;
  for (auto& f : fx.frames) keys.push_back(parse_packet({f.data() + kHeadroom, 54}).packet.key);
  std::size_t i = 0;
  for (auto _ : st) benchmark::DoNotOptimize(flow_hash(keys[i++ & 1023]));
}
BENCHMARK(BM_FlowHash);

void BM_ServiceLookup(benchmark::State& st) {
  Fixture fx(1);
  FlowKey k = parse_packet({fx.frames[0].data() + kHeadroom, 54}).packet.key;
  for (auto _ : st) {
    const AddressEntry* e = fx.state->addresses.find(k.dst, k.family);
    benchmark::DoNotOptimize(fx.state->addresses.service(*e, k.proto, k.dst_port));
  }
}
BENCHMARK(BM_ServiceLookup);

void BM_MaglevPick(benchmark::State& st) {
  Fixture fx(1);
  uint64_t h = 1;
  for (auto _ : st) benchmark::DoNotOptimize(fx.pipeline.pick_backend(*fx.state, 1, h = mix64(h)));
}
BENCHMARK(BM_MaglevPick);

void BM_Pipeline(benchmark::State& st) {
  const auto flows = static_cast<uint32_t>(st.range(0));
  Fixture fx(flows, static_cast<ForwardingMode>(st.range(1)));
  std::vector<FrameBuffer> fb(flows);
  Verdict v[kMaxBurst];
  std::size_t at = 0;
  for (auto _ : st) {
    // Restore each frame's header (encapsulation writes over it in place).
    for (std::size_t i = 0; i < 32; ++i) {
      auto& f = fx.frames[(at + i) % flows];
      std::memcpy(f.data() + kHeadroom, fx.pristine[(at + i) % flows].data() + kHeadroom, 14);
      fb[i] = FrameBuffer{f.data() + kHeadroom, 54, kHeadroom};
    }
    fx.pipeline.process_burst(*fx.state, bench_port(), 1000, {fb.data(), 32}, v);
    at = (at + 32) % flows;
    if (v[0].action != Action::forward) st.SkipWithError(std::string(drop_reason_name(v[0].drop)).c_str());
  }
  st.SetItemsProcessed(st.iterations() * 32);
}
BENCHMARK(BM_Pipeline)->Args({4096, 0})->Args({4096, 1})->Args({4096, 2})->Args({65536, 0});

// Maglev build time for M slots and N backends (the target: M=65537,
// N=1000 within 5 ms).
void BM_MaglevBuild(benchmark::State& st) {
  const auto size = static_cast<uint32_t>(st.range(0));
  std::vector<MaglevBackend> backends;
  for (int64_t i = 0; i < st.range(1); ++i) {
    std::array<std::byte, 4> a{std::byte{198}, std::byte{18}, static_cast<std::byte>(i >> 8),
                               static_cast<std::byte>(i & 0xff)};
    backends.push_back({IpAddress::v4(a.data()), 100});
  }
  for (auto _ : st) benchmark::DoNotOptimize(build_maglev_table(backends, size));
}
BENCHMARK(BM_MaglevBuild)->Args({65537, 10})->Args({65537, 100})->Args({65537, 1000})
    ->Args({655373, 10})->Args({655373, 100})->Args({655373, 1000})->Unit(benchmark::kMillisecond);

// Skewed weights (the first backend at 10000, the rest at 1): a build that
// walked every backend every round cost rounds x N here, seconds at N=60000.
void BM_MaglevBuildSkewed(benchmark::State& st) {
  const auto size = static_cast<uint32_t>(st.range(0));
  std::vector<MaglevBackend> backends;
  for (int64_t i = 0; i < st.range(1); ++i) {
    std::array<std::byte, 4> a{std::byte{10}, static_cast<std::byte>(i >> 16), static_cast<std::byte>(i >> 8),
                               static_cast<std::byte>(i & 0xff)};
    backends.push_back({IpAddress::v4(a.data()), i == 0 ? 10000u : 1u});
  }
  for (auto _ : st) benchmark::DoNotOptimize(build_maglev_table(backends, size));
}
BENCHMARK(BM_MaglevBuildSkewed)->Args({65537, 1000})->Args({65537, 10000})->Args({65537, 65534})
    ->Unit(benchmark::kMillisecond);

// Flow lookups when the lcore's table holds `filled` flows: the packets hit
// 65536 of them spread over the whole table (10M: the full table).
void BM_PipelineFilledTable(benchmark::State& st) {
  const auto filled = static_cast<uint32_t>(st.range(0));
  Fixture fx(65536);
  FlowTable big(filled);
  Pipeline pipeline(big, fx.counters, FlowTimeouts{});
  // Fill with synthetic keys, then with the 65536 real flows at random spots.
  FlowKey k{};
  k.proto = kProtoTcp;
  for (uint32_t i = 0; i < filled - 65536; ++i) {
    std::memcpy(k.src.data(), &i, 4);
    k.src_port = 7;
    k.dst_port = 80;
    big.insert(k, flow_hash(k), 1, 1, 0, 1u << 30);
  }
  // The packets' 54 bytes side by side, read in order, into 32 frame
  // buffers reused every burst: as with a PMD, the frame a burst parses is
  // in cache, so what this measures is the table's misses.
  std::vector<std::array<std::byte, 64>> headers(65536);
  for (uint32_t i = 0; i < 65536; ++i) std::memcpy(headers[i].data(), fx.pristine[i].data() + kHeadroom, 54);
  std::vector<std::vector<std::byte>> frames(32, std::vector<std::byte>(kHeadroom + 64));
  std::vector<FrameBuffer> fb(32);
  Verdict v[kMaxBurst];
  std::size_t at = 0;
  for (auto _ : st) {
    for (std::size_t i = 0; i < 32; ++i) {
      std::memcpy(frames[i].data() + kHeadroom, headers[at + i].data(), 54);
      fb[i] = FrameBuffer{frames[i].data() + kHeadroom, 54, kHeadroom};
    }
    pipeline.process_burst(*fx.state, bench_port(), 1000, {fb.data(), 32}, v);
    at = (at + 32) % 65536;
  }
  st.SetItemsProcessed(st.iterations() * 32);
  st.counters["occupancy"] = static_cast<double>(big.stats().occupancy.read());
}
BENCHMARK(BM_PipelineFilledTable)->Arg(1 << 17)->Arg(1 << 20)->Arg(10'000'000)->Unit(benchmark::kNanosecond);

}  // namespace
}  // namespace anylb

BENCHMARK_MAIN();
