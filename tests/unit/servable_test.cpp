// What the control plane counts as servable from the dataplane's state
// (servable.hpp): a service's count of backends taking new flows is what its
// quorum is checked against before its VIP is announced.
#include "servable.hpp"

#include <gtest/gtest.h>

#include "desired_state_builders.hpp"

namespace anylb::cp {
namespace {

namespace dp = ::anylb::dataplane::v1;

using testing_states::add_backend;
using testing_states::add_service;

// web: three backends, one of them down; dns: one, draining.
dp::DesiredState wanted() {
  dp::DesiredState s;
  add_service(s, "web", "192.0.2.1");
  add_service(s, "dns", "192.0.2.2");
  add_backend(s, "web", "10.0.0.1", dp::BACKEND_STATE_UP);
  add_backend(s, "web", "10.0.0.2", dp::BACKEND_STATE_UP);
  add_backend(s, "web", "10.0.0.3", dp::BACKEND_STATE_DOWN);
  add_backend(s, "dns", "10.0.0.4", dp::BACKEND_STATE_DRAINING);
  return s;
}

using Counts = std::map<std::string, uint32_t>;

TEST(Servable, APushTakenCountsTheBackendsUp) {
  EXPECT_EQ(servable(wanted(), {}), (Counts{{"web", 2}, {"dns", 0}}));
  EXPECT_EQ(servable(wanted(), {{"web", "10.0.0.1"}}), (Counts{{"web", 1}, {"dns", 0}}));
}

TEST(Servable, HoldingWhatWeWantCountsAsThePush) {
  EXPECT_EQ(servable(wanted(), wanted(), {}), servable(wanted(), {}));
}

TEST(Servable, AServiceHeldDifferentlyOrNotAtAllIsNotServable) {
  dp::DesiredState have = wanted();
  have.mutable_services(0)->set_port(8080);  // web on another port
  EXPECT_EQ(servable(wanted(), have, {}), (Counts{{"dns", 0}}));
  have.mutable_services()->DeleteSubrange(0, 1);
  EXPECT_EQ(servable(wanted(), have, {}), (Counts{{"dns", 0}}));
}

TEST(Servable, FlowsToABackendWeHoldDownOrDoNotHaveMakeTheServiceUnservable) {
  dp::DesiredState have = wanted();
  have.mutable_backends(2)->set_state(dp::BACKEND_STATE_UP);  // 10.0.0.3: we hold it down
  EXPECT_EQ(servable(wanted(), have, {}), (Counts{{"dns", 0}}));
  have = wanted();
  add_backend(have, "dns", "10.0.0.9", dp::BACKEND_STATE_DRAINING);  // pinned flows to one we removed
  EXPECT_EQ(servable(wanted(), have, {}), (Counts{{"web", 2}}));
  have = wanted();
  add_backend(have, "dns", "10.0.0.9", dp::BACKEND_STATE_DOWN);  // held down: no flows go there
  EXPECT_EQ(servable(wanted(), have, {}), (Counts{{"web", 2}, {"dns", 0}}));
}

TEST(Servable, ABackendWithAnotherMacMisdirects) {
  dp::DesiredState have = wanted();
  have.mutable_backends(0)->set_mac("02:00:00:00:00:99");
  EXPECT_EQ(servable(wanted(), have, {}), (Counts{{"dns", 0}}));
}

TEST(Servable, AStaleWeightOrAnUpBackendHeldDrainingOnlyCountsLess) {
  dp::DesiredState have = wanted();
  have.mutable_backends(0)->set_weight(7);  // skews the spread, misdirects nothing
  have.mutable_backends(1)->set_state(dp::BACKEND_STATE_DRAINING);  // takes no new flows yet
  EXPECT_EQ(servable(wanted(), have, {}), (Counts{{"web", 1}, {"dns", 0}}));
}

TEST(Servable, ABackendWithoutAMacTakesNoNewFlowsAndCountsNothing) {
  EXPECT_EQ(servable(wanted(), wanted(), {{"web", "10.0.0.2"}}), (Counts{{"web", 1}, {"dns", 0}}));
}

TEST(Unresolved, OnlyBackendsGivenNoMacThatTheDataplaneHasNotResolved) {
  dp::DesiredState want = wanted();
  want.mutable_backends(0)->clear_mac();  // 10.0.0.1: the dataplane resolves it
  want.mutable_backends(1)->clear_mac();  // 10.0.0.2: it lists it unresolved
  want.mutable_backends(3)->clear_mac();  // 10.0.0.4: not pushed yet
  dp::GetStateResponse have;
  *have.mutable_state() = want;
  have.mutable_state()->mutable_backends()->DeleteSubrange(3, 1);
  *have.add_unresolved() = want.backends(1);
  EXPECT_EQ(unresolved(want, have), (std::set<BackendRef>{{"web", "10.0.0.2"}, {"dns", "10.0.0.4"}}));
}

TEST(Unresolved, ABackendHeldWithAMacIsNotResolvedFromTheKernelYet) {
  // Given a MAC until this push: the dataplane holds it with that MAC, and
  // has not looked the address up.
  dp::DesiredState want = wanted();
  want.mutable_backends(0)->clear_mac();
  dp::GetStateResponse have;
  *have.mutable_state() = wanted();
  EXPECT_EQ(unresolved(want, have), (std::set<BackendRef>{{"web", "10.0.0.1"}}));
}

}  // namespace
}  // namespace anylb::cp
