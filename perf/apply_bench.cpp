// Apply time and liveness during it: applies a state of N backends with
// skewed weights (one at 10000, the rest at 1) to a running dataplane over
// its API (ApplyState), while a second thread asks GetLiveness every 5 ms
// and keeps the slowest answer. Run by perf/apply_bench.py, which starts
// the dataplane; alone:
//
//   apply_bench SOCKET ROUNDS N...
//
// Sizes in the order given, each ROUNDS times; each round moves the heavy
// weight to another backend, so every apply rebuilds the service's Maglev
// tables. Prints one line per apply.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "api_convert.hpp"
#include "dataplane.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace pb = ::anylb::dataplane::v1;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

anylb::DesiredState skewed_state(std::size_t n, std::size_t heavy) {
  anylb::DesiredState s;
  s.node_addresses = {*anylb::IpAddress::parse("198.18.0.1")};
  anylb::ServiceSpec web;
  web.name = "web";
  web.vip = *anylb::IpAddress::parse("203.0.113.10");
  web.proto = 6;
  web.port = 80;
  s.services.push_back(web);
  for (std::size_t i = 0; i < n; ++i) {
    const auto v = static_cast<uint32_t>(i + 1);  // 10.0.0.1 ...
    std::array<std::byte, 4> a{std::byte{10}, static_cast<std::byte>(v >> 16), static_cast<std::byte>(v >> 8),
                               static_cast<std::byte>(v)};
    anylb::BackendSpec b;
    b.service = "web";
    b.address = anylb::IpAddress::v4(a.data());
    b.mac.bytes[0] = std::byte{0x02};
    std::copy(a.begin(), a.end(), b.mac.bytes.begin() + 2);
    b.weight = i == heavy ? 10000 : 1;
    s.backends.push_back(b);
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s SOCKET ROUNDS N...\n", argv[0]);
    return 2;
  }
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  args.SetMaxReceiveMessageSize(-1);
  auto channel = grpc::CreateCustomChannel(std::string("unix:") + argv[1], grpc::InsecureChannelCredentials(), args);
  auto stub = pb::Dataplane::NewStub(channel);
  const int rounds = std::atoi(argv[2]);

  auto liveness = [&](uint64_t& generation) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    pb::GetLivenessResponse resp;
    const grpc::Status st = stub->GetLiveness(&ctx, pb::GetLivenessRequest{}, &resp);
    generation = resp.generation();
    return st.ok();
  };
  uint64_t generation = 0;
  if (!liveness(generation)) {
    std::fprintf(stderr, "apply_bench: no liveness answer from %s\n", argv[1]);
    return 1;
  }
  std::printf("backends\tround\tapply_ms\tstatus\trequest_bytes\tliveness_polls\tliveness_worst_ms\tliveness_median_ms\n");
  int failed = 0;
  // Sizes in the order given (growing: a state that shrinks quarantines
  // the removed backends' ids), each ROUNDS times.
  for (int k = 3; k < argc; ++k) {
    for (int round = 0; round < rounds; ++round) {
      const auto n = static_cast<std::size_t>(std::atoll(argv[k]));
      pb::ApplyStateRequest req;
      req.set_generation(++generation);
      anylb::to_proto(skewed_state(n, static_cast<std::size_t>(round) % n), *req.mutable_state());

      std::atomic<bool> applying{true};
      std::vector<double> latencies;
      bool live_ok = true;
      std::thread poller([&] {
        while (applying.load()) {
          const auto t = Clock::now();
          uint64_t g = 0;
          live_ok &= liveness(g);
          latencies.push_back(ms_since(t));
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      });
      std::this_thread::sleep_for(std::chrono::milliseconds(30));  // the poller is asking before the apply starts
      const auto t = Clock::now();
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
      pb::ApplyStateResponse resp;
      const grpc::Status st = stub->ApplyState(&ctx, req, &resp);
      const double apply_ms = ms_since(t);
      applying = false;
      poller.join();
      std::sort(latencies.begin(), latencies.end());
      const double worst = latencies.empty() ? 0 : latencies.back();
      const double median = latencies.empty() ? 0 : latencies[latencies.size() / 2];
      std::printf("%zu\t%d\t%.1f\t%s\t%zu\t%zu\t%.1f\t%.1f\n", n, round, apply_ms,
                  st.ok() ? "ok" : ("error " + std::to_string(st.error_code()) + ": " + st.error_message()).c_str(),
                  req.ByteSizeLong(), latencies.size(), worst, median);
      std::fflush(stdout);
      failed += !st.ok() || !live_ok;
      if (!st.ok()) liveness(generation);  // carry on from what the dataplane holds
    }
  }
  return failed == 0 ? 0 : 1;
}
