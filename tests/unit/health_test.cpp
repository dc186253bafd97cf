// The health checker carries a backend's checks over a rebuild (the control
// plane rebuilds it on every configuration change through the API or a
// reload): real TCP and HTTP probes against loopback ports.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <memory>
#include <thread>

#include "health.hpp"
#include "loopback_socket.hpp"

namespace anylb::cp {
namespace {

const IpAddress kLoopback = *IpAddress::parse("127.0.0.1");

// A TCP port on 127.0.0.1 bound but not listening: a connect is refused at once.
class RefusingPort {
 public:
  RefusingPort() { fd_ = test::bound_on_loopback(SOCK_STREAM, port_); }
  ~RefusingPort() { ::close(fd_); }
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// One TCP service on `port` with `backends` loopback backends (the same
// address cannot repeat: 127.0.0.1, .2, ...), every `interval_ms`, fall 2.
ControlConfig config(uint16_t port, int backends, uint64_t interval_ms) {
  ControlConfig c;
  ServiceConfig s;
  s.spec.name = "web";
  s.spec.vip = *IpAddress::parse("203.0.113.10");
  s.spec.port = port;
  s.check.type = CheckType::tcp;
  s.check.interval_ms = interval_ms;
  s.check.timeout_ms = 100;
  s.check.rise = 2;
  s.check.fall = 2;
  for (int i = 0; i < backends; ++i)
    s.backends.push_back(BackendConfig{*IpAddress::parse("127.0.0." + std::to_string(i + 1)), {}, 100});
  c.services.push_back(s);
  return c;
}

BackendHealth healthy_with_failures(uint32_t failures) {
  BackendHealth h;
  h.healthy = true;
  h.checked = true;
  h.failures = failures;
  h.detail = "carried";
  return h;
}

TEST(HealthChecker, FailuresCarryOverARebuild) {
  RefusingPort dead;
  const ControlConfig c = config(dead.port(), 1, 100);
  // One failure already counted before the rebuild: the next one is the
  // second in a row, and fall is 2.
  HealthChecker checker(c, {{{"web", kLoopback}, healthy_with_failures(1)}});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  BackendHealth h;
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    h = checker.snapshot().at({"web", kLoopback});
  } while (h.detail == "carried" && std::chrono::steady_clock::now() < deadline);
  ASSERT_NE(h.detail, "carried") << "no probe ran";
  EXPECT_EQ(h.failures, 2u);
  EXPECT_FALSE(h.healthy) << "the first probe after the rebuild is the second failure in a row";
}

TEST(HealthChecker, RebuiltFasterThanItsIntervalItStillFindsBackendsDown) {
  // Three backends spread over a 300 ms interval (offsets 0, 100, 200 ms),
  // the checker rebuilt every 50 ms with what it found carried, as
  // Node::apply does: each must still be probed on time, and fall.
  RefusingPort dead;
  const ControlConfig c = config(dead.port(), 3, 300);
  std::map<BackendKey, BackendHealth> carried;
  for (const BackendConfig& b : c.services[0].backends) carried[{"web", b.address}] = healthy_with_failures(0);
  auto checker = std::make_unique<HealthChecker>(c, carried);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  int down = 0;
  while (down < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    carried = checker->snapshot();
    checker.reset();
    checker = std::make_unique<HealthChecker>(c, carried);
    down = 0;
    for (const auto& [key, h] : carried) down += h.healthy ? 0 : 1;
  }
  EXPECT_EQ(down, 3) << "backends left healthy after 4 s of refused probes";
}

TEST(HealthChecker, ProbesThatHangUntilTheirTimeoutStillCountAcrossRebuilds) {
  // An HTTP check against a port that accepts and never answers: each probe
  // fails only at its 100 ms timeout. Rebuilt every 50 ms with what stop()
  // returns carried, as Node::apply does, the failures still add up: the
  // probe in flight at each rebuild is finished and counted, not lost.
  uint16_t port = 0;
  const int fd = test::bound_on_loopback(SOCK_STREAM, port);
  ASSERT_EQ(::listen(fd, 64), 0);
  ControlConfig c = config(port, 1, 200);
  c.services[0].check.type = CheckType::http;
  std::map<BackendKey, BackendHealth> carried{{{"web", kLoopback}, healthy_with_failures(0)}};
  auto checker = std::make_unique<HealthChecker>(c, carried);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(4);
  while (carried.at({"web", kLoopback}).healthy && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    carried = checker->stop();
    checker = std::make_unique<HealthChecker>(c, carried);
  }
  checker.reset();
  ::close(fd);
  const BackendHealth& h = carried.at({"web", kLoopback});
  EXPECT_FALSE(h.healthy) << "a backend that hangs stayed healthy through 4 s of rebuilds: " << h.detail;
  EXPECT_GE(h.failures, 2u);
}

TEST(HealthChecker, ABackendComesUpAfterRiseProbes) {
  // The other way: a listening port, a backend not carried, up after rise (2).
  uint16_t port = 0;
  const int fd = test::bound_on_loopback(SOCK_STREAM, port);
  ASSERT_EQ(::listen(fd, 16), 0);
  HealthChecker checker(config(port, 1, 100), {});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  BackendHealth h;
  while (!(h = checker.snapshot().at({"web", kLoopback})).healthy && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ::close(fd);
  EXPECT_TRUE(h.healthy);
  EXPECT_GE(h.successes, 2u);
  EXPECT_EQ(h.failures, 0u);
}

}  // namespace
}  // namespace anylb::cp
