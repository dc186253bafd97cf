// What a start does before it runs and when it fails (start_guard.hpp),
// and the orphan guard's side of its pipe (orphan_guard.hpp). No gobgpd
// runs here: the guard's gobgpd address is a unix socket nothing listens
// on, so a guard that counts down finds it gone and leaves.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "orphan_guard.hpp"
#include "start_guard.hpp"

namespace anylb::cp {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class StartGuard : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("anylb-start-guard-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  fs::path dir_;
};

std::set<std::string> prefixes(const ControlConfig& c) {
  std::set<std::string> out;
  for (const ServiceConfig& s : c.services) out.insert(s.spec.vip.to_string());
  for (const CoverConfig& cv : c.covers) out.insert(cv.address.to_string() + "/" + std::to_string(cv.length));
  return out;
}

TEST_F(StartGuard, ABadValueLeavesTheRestReadable) {
  const ControlConfig c = salvage_config(write("bad.yaml", R"(node:
  state_file: /var/lib/anylb/cp.json
gobgp:
  api: 127.0.0.1:50099
services:
  - name: web
    vip: 203.0.113.10
    check: {type: tcp, interval: fast}
  - name: broken
    vip: not-an-address
covering_prefixes:
  - prefix: 203.0.113.0/24
)"));
  EXPECT_EQ(c.state_file, "/var/lib/anylb/cp.json");
  EXPECT_EQ(c.gobgp_api, "127.0.0.1:50099");
  EXPECT_EQ(prefixes(c), (std::set<std::string>{"203.0.113.10", "203.0.113.0/24"}));
}

TEST_F(StartGuard, AFileThatIsNotYamlIsReadLineByLine) {
  const ControlConfig c = salvage_config(write("broken.yaml", R"(node:
  name: n1
  state_file: "/var/lib/anylb/cp.json"   # the record
api:
  socket: /run/anylb/cp.sock
gobgp:
  api: '127.0.0.1:50098'
services: [ {unclosed
)"));
  EXPECT_EQ(c.state_file, "/var/lib/anylb/cp.json");
  EXPECT_EQ(c.gobgp_api, "127.0.0.1:50098");  // gobgp's api, not api.socket's neighbour
  EXPECT_TRUE(c.services.empty());
}

TEST_F(StartGuard, AMissingFileGivesTheDefaults) {
  const ControlConfig c = salvage_config((dir_ / "none.yaml").string());
  EXPECT_EQ(c.gobgp_api, ControlConfig{}.gobgp_api);
  EXPECT_TRUE(c.state_file.empty());
}

TEST_F(StartGuard, TheLockIsNamedAfterTheNodesGobgpd) {
  ControlConfig a, b;
  a.gobgp_api = "127.0.0.1:50051";
  b.gobgp_api = "127.0.0.1:50052";
  a.state_file = "/one";
  EXPECT_NE(instance_lock_path(a), instance_lock_path(b));
  b.gobgp_api = a.gobgp_api;
  EXPECT_EQ(instance_lock_path(a), instance_lock_path(b)) << "other files, same gobgpd: the same node";
}

// A lock held by another process: refused, naming its PID, and busy.
TEST_F(StartGuard, ASecondInstanceIsRefusedNamingTheFirst) {
  ControlConfig c;
  c.gobgp_api = "unix://" + (dir_ / ("gobgpd-" + std::to_string(::getpid()))).string();
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t first = ::fork();
  if (first == 0) {
    InstanceLock lock;
    const bool ok = lock.take(c).empty();
    (void)!::write(ready[1], ok ? "y" : "n", 1);
    ::pause();
    ::_exit(0);
  }
  char answer = 0;
  ASSERT_EQ(::read(ready[0], &answer, 1), 1);
  ASSERT_EQ(answer, 'y');
  InstanceLock second;
  const std::string why = second.take(c);
  EXPECT_TRUE(second.busy());
  EXPECT_NE(why.find("pid " + std::to_string(first)), std::string::npos) << why;
  EXPECT_EQ(lock_holder(second.path()), first);
  ::kill(first, SIGKILL);
  ::waitpid(first, nullptr, 0);
  InstanceLock third;  // the first is gone: the kernel released its lock
  EXPECT_EQ(third.take(c), "");
  EXPECT_EQ(lock_holder(third.path()), ::getpid());
  ::close(ready[0]);
  ::close(ready[1]);
}

// How long the guard takes to leave after `end` (waitpid on it).
template <class End>
std::chrono::milliseconds guard_leaves_after(OrphanGuard& guard, End end) {
  const auto t0 = std::chrono::steady_clock::now();
  end();
  for (int i = 0; i < 100; ++i) {
    if (::waitpid(static_cast<pid_t>(guard.pid()), nullptr, WNOHANG) == guard.pid())
      return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    std::this_thread::sleep_for(100ms);
  }
  ::kill(static_cast<pid_t>(guard.pid()), SIGKILL);
  ::waitpid(static_cast<pid_t>(guard.pid()), nullptr, 0);
  return std::chrono::milliseconds::max();
}

ControlConfig guarded(const fs::path& dir, uint64_t timeout_ms) {
  ControlConfig c;
  c.gobgp_api = "unix://" + (dir / "no-gobgpd.sock").string();
  c.orphan_timeout_ms = timeout_ms;
  return c;
}

TEST_F(StartGuard, ADismissedGuardLeavesAtOnce) {
  auto guard = std::make_unique<OrphanGuard>(guarded(dir_, 60'000), (dir_ / "lock").string(), -1);
  guard->update({"203.0.113.10/32"});
  EXPECT_LT(guard_leaves_after(*guard, [&] { guard->dismiss(); }), 2000ms);
}

TEST_F(StartGuard, AGuardWaitsWhileTheControlPlaneLives) {
  auto guard = std::make_unique<OrphanGuard>(guarded(dir_, 100), (dir_ / "lock").string(), -1);
  std::this_thread::sleep_for(500ms);  // well past its timeout: it has not started counting
  EXPECT_EQ(::waitpid(static_cast<pid_t>(guard->pid()), nullptr, WNOHANG), 0) << "the guard left while we live";
  // Ended (the pipe closes): it counts down, finds no gobgpd, and leaves.
  OrphanGuard* g = guard.get();
  const pid_t pid = static_cast<pid_t>(g->pid());
  const auto t0 = std::chrono::steady_clock::now();
  guard.reset();
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
}

TEST_F(StartGuard, AnotherControlPlaneTakingTheLockSendsTheGuardAway) {
  const std::string lock = (dir_ / "lock").string();
  // A control plane that will start meanwhile (forked first: a child forked
  // after the guard would hold the pipe's write end open).
  const pid_t other = ::fork();
  if (other == 0) {
    ::pause();
    ::_exit(0);
  }
  auto guard = std::make_unique<OrphanGuard>(guarded(dir_, 60'000), lock, -1);
  std::ofstream(lock) << other << "\n";
  const pid_t pid = static_cast<pid_t>(guard->pid());
  guard.reset();
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(::waitpid(pid, nullptr, 0), pid);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s) << "it waited for its timeout instead";
  ::kill(other, SIGKILL);
  ::waitpid(other, nullptr, 0);
}

}  // namespace
}  // namespace anylb::cp
