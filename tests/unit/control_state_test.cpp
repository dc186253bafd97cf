// ControlState's locking: an apply builds (Maglev) and persists (fsync)
// holding only its own lock, so readers (GetLiveness, GetState,
// GetCounters) answer from the published state while it runs; applies stay
// serialised (generation order, stale refusal); what forwards is what the
// state file holds. Driven without EAL (fake_state_publisher.cpp), an apply
// paused by its on_built hook.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "control_state.hpp"
#include "state_file.hpp"
#include "state_fixtures.hpp"

namespace anylb::test {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

uint64_t file_generation(const std::string& path) {
  uint64_t generation = 0;
  std::string error;
  EXPECT_TRUE(desired_state_from_json(read_file(path), generation, error)) << error;
  return generation;
}

// Deadlock detection, not a speed limit: a read that waited for the paused
// apply would wait for ever.
constexpr auto kForEver = std::chrono::seconds(60);

class ControlStateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("control_state_test." + std::to_string(::getpid()) + "." +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    limits_.max_services = 4;
    limits_.max_backends = 2048;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::filesystem::path dir_;
  StateLimits limits_;
  StatePublisher publisher_{1};
};

// An apply paused after its build and fsync, before its swap.
struct PausedApply {
  std::promise<void> reached, release;
  std::future<ApplyResult> result;

  PausedApply(ControlState& control, const DesiredState& state, uint64_t generation) {
    control.on_built([this] {
      reached.set_value();
      release.get_future().wait();
    });
    result = std::async(std::launch::async, [&control, state, generation] {
      return control.apply(state, generation, 0, StateSource::api);
    });
    reached.get_future().wait();
  }
};

TEST_F(ControlStateTest, ReadersDoNotWaitForAnApplyInProgress) {
  const std::string file = (dir_ / "state.json").string();
  ControlState control(limits_, publisher_, file, false);
  ASSERT_EQ(control.apply(web_state(3), 1, 0, StateSource::api).status, ApplyStatus::ok);

  PausedApply paused(control, web_state(1000), 2);
  // The state file already holds generation 2 (written before the swap);
  // every reader still sees generation 1, and answers.
  EXPECT_EQ(file_generation(file), 2u);
  auto reads = std::async(std::launch::async, [&] {
    EXPECT_EQ(control.generation(), 1u);
    const ControlState::Snapshot snap = control.snapshot();
    EXPECT_EQ(snap.generation, 1u);
    EXPECT_EQ(snap.desired.backends.size(), 3u);
    EXPECT_EQ(control.desired().backends.size(), 3u);
    EXPECT_EQ(control.source(), StateSource::api);
    EXPECT_EQ(control.unresolved(), 0u);
    EXPECT_TRUE(control.backends_without_mac().empty());
    EXPECT_EQ(control.with_state([](const ForwardingState& st) { return st.generation; }), 1u);
    control.reclaim();
  });
  const bool answered = reads.wait_for(kForEver) == std::future_status::ready;
  paused.release.set_value();
  EXPECT_TRUE(answered) << "a reader waited for the apply in progress";
  EXPECT_EQ(paused.result.get().status, ApplyStatus::ok);
  EXPECT_EQ(control.generation(), 2u);
  EXPECT_EQ(control.snapshot().desired.backends.size(), 1000u);
  EXPECT_EQ(control.with_state([](const ForwardingState& st) { return st.generation; }), 2u);
}

TEST_F(ControlStateTest, AppliesStaySerialisedAndAStaleOneIsRefused) {
  ControlState control(limits_, publisher_, (dir_ / "state.json").string(), false);
  ASSERT_EQ(control.apply(web_state(3), 1, 0, StateSource::api).status, ApplyStatus::ok);

  PausedApply paused(control, web_state(10), 5);
  // The same generation, asked meanwhile: it waits for the first, then is
  // stale against it (not applied over it).
  auto second = std::async(std::launch::async, [&] { return control.apply(web_state(20), 5, 0, StateSource::api); });
  EXPECT_EQ(second.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  paused.release.set_value();
  EXPECT_EQ(paused.result.get().status, ApplyStatus::ok);
  const ApplyResult r = second.get();
  EXPECT_EQ(r.status, ApplyStatus::stale) << r.error;
  EXPECT_EQ(r.generation, 5u);
  EXPECT_EQ(control.generation(), 5u);
  EXPECT_EQ(control.desired().backends.size(), 10u);
}

// A state that cannot be persisted is not forwarded, and the previous one
// stays: what forwards is always what a restart restores.
TEST_F(ControlStateTest, AnApplyThatCannotPersistLeavesThePreviousState) {
  const std::string file = (dir_ / "state.json").string();
  ControlState control(limits_, publisher_, file, false);
  ASSERT_EQ(control.apply(web_state(3), 1, 0, StateSource::api).status, ApplyStatus::ok);
  std::filesystem::remove(file);
  std::filesystem::create_directory(file);  // rename over a directory fails
  bool built = false;
  control.on_built([&] { built = true; });
  const ApplyResult r = control.apply(web_state(10), 2, 0, StateSource::api);
  EXPECT_EQ(r.status, ApplyStatus::persist_failed);
  EXPECT_EQ(r.generation, 1u);
  EXPECT_FALSE(built);
  EXPECT_EQ(control.generation(), 1u);
  EXPECT_EQ(control.desired().backends.size(), 3u);
  EXPECT_EQ(control.with_state([](const ForwardingState& st) { return st.generation; }), 1u);
}

// A backend without a MAC is forwarded as down until the kernel resolves
// it; readers see the resolution that forwards.
TEST_F(ControlStateTest, NeighbourRoundsRebuildWhatReadersSee) {
  ControlState control(limits_, publisher_, "", true);
  DesiredState state = web_state(2);
  state.backends[1].mac = MacAddress{};
  ASSERT_EQ(control.apply(state, 1, 0, StateSource::api).status, ApplyStatus::ok);
  EXPECT_EQ(control.unresolved(), 1u);
  ASSERT_EQ(control.snapshot().unresolved.size(), 1u);
  EXPECT_EQ(control.snapshot().unresolved[0].state, BackendState::up);  // as given
  EXPECT_EQ(control.backends_without_mac(), std::vector<IpAddress>{state.backends[1].address});
  control.refresh_neighbours(NeighbourMap{{state.backends[1].address, backend_mac(state.backends[1].address)}}, 0);
  EXPECT_EQ(control.unresolved(), 0u);
  EXPECT_TRUE(control.snapshot().unresolved.empty());
  EXPECT_EQ(control.generation(), 1u);
}

}  // namespace
}  // namespace anylb::test
