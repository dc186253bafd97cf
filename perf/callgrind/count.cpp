// Instructions per packet of Pipeline::process_burst in a steady state,
// counted by callgrind between CALLGRIND_START/STOP (count.sh runs it):
//   established: 4k flows inserted first, then 1000 bursts of 32 hitting them;
//   new: 1000 bursts of flows never seen, into a full 4096-flow table (every
//   insert evicts);
//   syn: the same with every frame a SYN (a SYN flood: half-open flows,
//   evicting each other). Reuses stages_bench.cpp's frames and state.
#include <benchmark/benchmark.h>
#include <valgrind/callgrind.h>

#include <cstring>
#include <memory>
#include <string_view>

// stages_bench.cpp ends in BENCHMARK_MAIN(): rename its main.
#undef BENCHMARK_MAIN
#define BENCHMARK_MAIN() int stages_bench_main(int, char**)
#include "stages_bench.cpp"

int main(int argc, char** argv) {
  using namespace anylb;
  const bool syn = argc > 1 && std::string_view(argv[1]) == "syn";
  const bool new_flows = syn || (argc > 1 && std::string_view(argv[1]) == "new");
  const uint32_t flows = new_flows ? 65536 : 4096;
  Fixture fx(flows);
  if (syn)  // a SYN flood: every frame a SYN (the parser does not check the TCP checksum)
    for (auto* frames : {&fx.frames, &fx.pristine})
      for (auto& f : *frames) f[kHeadroom + 14 + 20 + 13] = std::byte{0x02};
  FlowTable small(4096);
  auto small_pipeline = std::make_unique<Pipeline>(small, fx.counters, FlowTimeouts{});
  Pipeline& pipeline = new_flows ? *small_pipeline : fx.pipeline;
  std::vector<FrameBuffer> fb(32);
  Verdict v[kMaxBurst];
  auto burst = [&](std::size_t at) {
    for (std::size_t i = 0; i < 32; ++i) {
      auto& f = fx.frames[(at + i) % flows];
      // The rewrite changed the MACs: restore them, as a fresh frame would be.
      std::memcpy(f.data() + kHeadroom, fx.pristine[(at + i) % flows].data() + kHeadroom, 14);
      fb[i] = FrameBuffer{f.data() + kHeadroom, 54, kHeadroom};
    }
    pipeline.process_burst(*fx.state, bench_port(), 1000, {fb.data(), 32}, v);
  };
  if (new_flows)
    for (std::size_t at = 40000; at < 65536; at += 32) burst(at);  // fill the table with other flows
  else
    for (std::size_t at = 0; at < flows; at += 32) burst(at);  // every flow in the table
  CALLGRIND_START_INSTRUMENTATION;
  for (int r = 0; r < 1000; ++r) burst((r * 32) % flows);
  CALLGRIND_STOP_INSTRUMENTATION;
  return v[0].action == Action::forward ? 0 : 1;
}
