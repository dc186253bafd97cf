// The announcement state machine: quorum, hold-down, flap suppression under
// an oscillating backend, covering-prefix policies, drain.
#include <gtest/gtest.h>

#include <vector>

#include "route_state.hpp"

namespace anylb::cp {
namespace {

RouteInputs healthy(uint32_t up, uint32_t total, bool dataplane = true) {
  RouteInputs in;
  in.healthy = up;
  in.total = total;
  in.dataplane_ok = dataplane;
  return in;
}

TEST(Quorum, CountAndPercentage) {
  EXPECT_EQ((Quorum{2, 0}).needed(10), 2u);
  EXPECT_EQ((Quorum{0, 50}).needed(3), 2u);   // rounded up: half of 3 is not 1
  EXPECT_EQ((Quorum{0, 100}).needed(4), 4u);
  EXPECT_EQ((Quorum{0, 1}).needed(1), 1u);
}

TEST(ServiceRoute, AnnouncedOnlyWithQuorum) {
  ServiceRoute r({2, 0}, 5000);
  EXPECT_FALSE(r.update(0, healthy(1, 3)));
  EXPECT_FALSE(r.announced());
  EXPECT_NE(r.reason().find("below quorum"), std::string::npos) << r.reason();
  EXPECT_TRUE(r.update(100, healthy(2, 3)));  // first announcement: no hold-down
  EXPECT_TRUE(r.announced());
  EXPECT_TRUE(r.update(200, healthy(1, 3)));
  EXPECT_FALSE(r.announced());
}

// A withdrawal an earlier run made (the state file) holds as one of this run.
TEST(ServiceRoute, RememberedWithdrawalHoldsDown) {
  ServiceRoute r({1, 0}, 5000);
  r.remember_withdrawal();
  EXPECT_FALSE(r.update(1000, healthy(1, 1)));
  EXPECT_EQ(r.hold_down_remaining(1000), 5000u);
  EXPECT_FALSE(r.update(5999, healthy(1, 1)));
  EXPECT_TRUE(r.update(6000, healthy(1, 1)));
  ServiceRoute fresh({1, 0}, 5000);
  EXPECT_TRUE(fresh.update(1000, healthy(1, 1)));  // nothing remembered: at once
}

TEST(ServiceRoute, NoBackendsNeverAnnounces) {
  ServiceRoute r({0, 50}, 0);
  r.update(0, healthy(0, 0));
  EXPECT_FALSE(r.announced());
}

TEST(ServiceRoute, DataplaneDownWithdraws) {
  ServiceRoute r({1, 0}, 0);
  r.update(0, healthy(3, 3));
  ASSERT_TRUE(r.announced());
  r.update(10, healthy(3, 3, false));
  EXPECT_FALSE(r.announced());
  EXPECT_EQ(r.reason(), "dataplane not forwarding");
}

TEST(ServiceRoute, RefusedByTheDataplaneWithdraws) {
  ServiceRoute r({1, 0}, 0);
  r.update(0, healthy(3, 3));
  ASSERT_TRUE(r.announced());
  RouteInputs in = healthy(3, 3);
  in.dataplane_holds = false;
  EXPECT_TRUE(r.update(10, in));
  EXPECT_FALSE(r.announced());
  EXPECT_NE(r.reason().find("does not serve it as pushed"), std::string::npos) << r.reason();
}

// A service failing more slowly than the hold-down: each withdrawal soon
// after the last doubles the hold-down (RFC 4786 4.4.4), up to 16 times.
TEST(ServiceRoute, SlowFlapsAreDamped) {
  const uint64_t hold = 10'000;
  ServiceRoute r({1, 0}, hold);
  uint64_t t = 0;
  r.update(t, healthy(1, 1));
  std::vector<uint64_t> waits;  // from eligible again to announced, per cycle
  for (int cycle = 0; cycle < 8; ++cycle) {
    t += 60'000;  // up for a minute, then down for 5 s
    ASSERT_TRUE(r.update(t, healthy(0, 1)));
    t += 5000;
    const uint64_t eligible = t;
    for (int step = 0; !r.update(t, healthy(1, 1)); ++step) {
      ASSERT_LT(step, 100'000) << "never announced again";  // bounded: a broken hold-down fails, not hangs
      t += 1000;
    }
    waits.push_back(t - eligible);
  }
  EXPECT_EQ(waits[0], hold) << "a first withdrawal waits the configured hold-down";
  for (std::size_t i = 1; i < waits.size(); ++i) EXPECT_GT(waits[i], waits[i - 1] - 1000) << i;
  EXPECT_GT(waits[3], 4 * hold) << "not damped";
  EXPECT_LE(waits.back(), 16 * hold + 1000) << "damped past the cap";
  // Quiet for hours: the penalty has decayed, the hold-down is as configured.
  t += 4 * 3600 * 1000ull;
  ASSERT_TRUE(r.update(t, healthy(0, 1)));
  const uint64_t eligible = t;
  for (int step = 0; !r.update(t, healthy(1, 1)); ++step) {
    ASSERT_LT(step, 100'000) << "never announced again";
    t += 1000;
  }
  EXPECT_EQ(t - eligible, hold);
}

// A restart restores the penalty (decayed by the caller): the withdrawal it
// remembers is held down as damped, not for the plain hold-down.
TEST(ServiceRoute, ARestoredPenaltyDampsTheRememberedWithdrawal) {
  const uint64_t hold = 10'000;
  for (const auto& [penalty, factor] : {std::pair{0.0, 1u}, {1.0, 1u}, {3.0, 4u}, {9.0, 16u}}) {
    ServiceRoute r(Quorum{1, 0}, hold);
    r.remember_withdrawal();
    r.restore_penalty(penalty, 0);
    uint64_t t = 0;
    for (int step = 0; !r.update(t, healthy(1, 1)); ++step) {
      ASSERT_LT(step, 1000) << "never announced";
      t += 1000;
    }
    EXPECT_EQ(t, factor * hold) << "penalty " << penalty;
    EXPECT_DOUBLE_EQ(r.penalty(0), penalty);
  }
}

// A drain is the operator's, not a flap: no penalty.
TEST(ServiceRoute, DrainsAreNotDamped) {
  ServiceRoute r({1, 0}, 1000);
  uint64_t t = 0;
  int withdrawals = 0;
  for (int i = 0; i < 5; ++i) {
    for (int k = 0; k < 10 && !r.announced(); ++k) r.update(t += 500, healthy(1, 1));  // undrained: back after the hold-down
    RouteInputs in = healthy(1, 1);
    in.node_draining = in.drain_expired = true;
    withdrawals += r.update(t += 100, in) && !r.announced();
  }
  EXPECT_EQ(withdrawals, 5);
  EXPECT_EQ(r.penalty(t), 0.0);
  EXPECT_EQ(r.hold_down_remaining(t), 1000u);
}

// A reload changing the quorum keeps the route's state: the withdrawal it
// causes starts a hold-down (it used to start from "never withdrawn").
TEST(ServiceRoute, RetunedKeepsItsState) {
  ServiceRoute r({1, 0}, 5000);
  r.update(0, healthy(2, 3));
  ASSERT_TRUE(r.announced());
  r.retune({3, 0}, 5000);
  EXPECT_TRUE(r.update(100, healthy(2, 3)));
  EXPECT_FALSE(r.announced());
  EXPECT_FALSE(r.update(200, healthy(3, 3)));
  EXPECT_EQ(r.hold_down_remaining(200), 5000u);
  EXPECT_TRUE(r.update(5200, healthy(3, 3)));
}

TEST(ServiceRoute, HoldDownBeforeReannouncing) {
  ServiceRoute r({1, 0}, 5000);
  r.update(0, healthy(1, 1));
  r.update(1000, healthy(0, 1));  // withdrawn at 1 s
  r.update(1500, healthy(1, 1));  // eligible again from 1.5 s
  EXPECT_FALSE(r.announced());
  EXPECT_EQ(r.hold_down_remaining(1500), 5000u);
  r.update(6400, healthy(1, 1));
  EXPECT_FALSE(r.announced()) << "re-announced before the hold-down";
  EXPECT_NE(r.reason().find("hold-down"), std::string::npos);
  EXPECT_TRUE(r.update(6500, healthy(1, 1)));
  EXPECT_TRUE(r.announced());
}

TEST(ServiceRoute, OscillatingBackendDoesNotFlap) {
  // A backend flapping every second under a 5 s hold-down: one withdrawal,
  // then the route stays down until the backend is stable for 5 s.
  ServiceRoute r({1, 0}, 5000);
  r.update(0, healthy(1, 1));
  int changes = 0;
  for (uint64_t t = 1000; t <= 30000; t += 1000) changes += r.update(t, healthy((t / 1000) % 2, 1));
  EXPECT_EQ(changes, 1) << "the route flapped";
  EXPECT_FALSE(r.announced());
  for (uint64_t t = 31000; t < 36000; t += 500) r.update(t, healthy(1, 1));
  EXPECT_FALSE(r.announced());
  r.update(36000, healthy(1, 1));
  EXPECT_TRUE(r.announced());
}

TEST(ServiceRoute, DrainAnnouncesGracefullyThenWithdraws) {
  ServiceRoute r({1, 0}, 0);
  r.update(0, healthy(2, 2));
  RouteInputs in = healthy(2, 2);
  in.node_draining = true;
  EXPECT_TRUE(r.update(10, in));
  EXPECT_EQ(r.state(), Announcement::draining);
  in.drain_expired = true;
  EXPECT_TRUE(r.update(20, in));
  EXPECT_EQ(r.state(), Announcement::withdrawn);
  EXPECT_EQ(r.reason(), "node drained");
}

// A route an earlier run left announced: kept while the first checks have
// not found too many backends down, and its withdrawal is one like any
// other: hold-down and damping penalty (before, it was only forgotten, and
// came back at once).
RouteInputs first_checks(uint32_t healthy_now, uint32_t not_found_down, uint32_t total) {
  RouteInputs in = healthy(healthy_now, total);
  in.first_checks_running = true;
  in.not_found_down = not_found_down;
  return in;
}

TEST(ServiceRoute, KeptFromAnEarlierRunWhileTheFirstChecksRun) {
  ServiceRoute r({2, 0}, 8000);
  ASSERT_TRUE(r.keep_from_earlier_run());
  EXPECT_TRUE(r.announced() && r.kept_from_earlier_run());
  EXPECT_FALSE(r.update(0, first_checks(0, 3, 3)));  // nothing checked yet: kept
  EXPECT_TRUE(r.announced());
  EXPECT_NE(r.reason().find("kept from an earlier run"), std::string::npos) << r.reason();
  EXPECT_FALSE(r.update(500, first_checks(2, 3, 3)));
  EXPECT_FALSE(r.update(1000, healthy(3, 3)));  // first checks over: no longer kept, still announced
  EXPECT_TRUE(r.announced());
  EXPECT_FALSE(r.kept_from_earlier_run());
  EXPECT_EQ(r.penalty(1000), 0.0);
}

TEST(ServiceRoute, AKeptRouteTheFirstChecksFindDownIsHeldDownAndDamped) {
  ServiceRoute r({1, 0}, 8000);
  ASSERT_TRUE(r.keep_from_earlier_run());
  EXPECT_TRUE(r.update(700, first_checks(0, 0, 1)));  // its only backend failed `fall` probes
  EXPECT_FALSE(r.announced());
  EXPECT_FALSE(r.kept_from_earlier_run());
  EXPECT_DOUBLE_EQ(r.penalty(700), 1.0);
  EXPECT_FALSE(r.update(1000, healthy(1, 1)));  // back at once: held down, as any withdrawal
  EXPECT_EQ(r.hold_down_remaining(1000), 8000u);
  EXPECT_FALSE(r.update(8999, healthy(1, 1)));
  EXPECT_TRUE(r.update(9000, healthy(1, 1)));
  // Its next withdrawal counts the first: damped (twice the hold-down, less
  // the first penalty's decay over the 9.3 s since).
  EXPECT_TRUE(r.update(10000, healthy(0, 1)));
  EXPECT_GT(r.hold_down_remaining(10000), 15800u);
  EXPECT_LE(r.hold_down_remaining(10000), 16000u);
}

TEST(ServiceRoute, AKeptRouteIsWithdrawnWithTheDataplane) {
  ServiceRoute r({1, 0}, 8000);
  ASSERT_TRUE(r.keep_from_earlier_run());
  RouteInputs in = first_checks(0, 1, 1);
  in.dataplane_ok = false;
  EXPECT_TRUE(r.update(0, in));
  EXPECT_EQ(r.reason(), "dataplane not forwarding");
}

TEST(ServiceRoute, OnlyARouteThisRunHasNotDecidedIsTakenOver) {
  ServiceRoute announced({1, 0}, 0);
  announced.update(0, healthy(1, 1));
  EXPECT_FALSE(announced.keep_from_earlier_run());
  ServiceRoute withdrawn({1, 0}, 0);
  withdrawn.update(0, healthy(1, 1));
  withdrawn.update(10, healthy(0, 1));
  EXPECT_FALSE(withdrawn.keep_from_earlier_run());
  ServiceRoute remembered({1, 0}, 5000);
  remembered.remember_withdrawal();  // the state file says withdrawn
  EXPECT_FALSE(remembered.keep_from_earlier_run());
  ServiceRoute fresh({1, 0}, 0);
  fresh.update(0, healthy(0, 1));  // below quorum, never announced: not decided yet
  EXPECT_TRUE(fresh.keep_from_earlier_run());
}

// A route this run announced does not count backends not found down.
TEST(ServiceRoute, FirstChecksCountOnlyForAKeptRoute) {
  ServiceRoute r({1, 0}, 0);
  EXPECT_FALSE(r.update(0, first_checks(0, 1, 1)));
  EXPECT_FALSE(r.announced());
}

TEST(CoveringPrefix, AnyAndAllPolicies) {
  EXPECT_TRUE(covering_announced(CoverPolicy::any, {false, true}));
  EXPECT_FALSE(covering_announced(CoverPolicy::any, {false, false}));
  EXPECT_FALSE(covering_announced(CoverPolicy::all, {true, false}));
  EXPECT_TRUE(covering_announced(CoverPolicy::all, {true, true}));
  EXPECT_FALSE(covering_announced(CoverPolicy::any, {}));
}

}  // namespace
}  // namespace anylb::cp
