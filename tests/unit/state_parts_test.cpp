// A desired state taken apart by service (state_parts.hpp): what a push
// changes, and a state with one service as another state has it, which is
// how the control plane pushes what a refusing dataplane takes.
#include "state_parts.hpp"

#include <gtest/gtest.h>

#include "desired_state_builders.hpp"

namespace anylb::cp {
namespace {

namespace dp = ::anylb::dataplane::v1;

using testing_states::add_backend;
using testing_states::add_service;

dp::DesiredState two_services() {
  dp::DesiredState s;
  s.add_node_addresses("198.18.0.2");
  add_service(s, "web", "192.0.2.1");
  add_service(s, "dns", "192.0.2.2");
  add_backend(s, "web", "10.0.0.1");
  add_backend(s, "web", "10.0.0.2");
  add_backend(s, "dns", "10.0.0.3");
  return s;
}

using Names = std::vector<std::string>;

TEST(ChangedServices, NoneWhenAlikeWhateverTheBackendsOrder) {
  dp::DesiredState a = two_services(), b = two_services();
  b.mutable_backends()->SwapElements(0, 1);
  EXPECT_EQ(changed_services(a, b), Names{});
}

TEST(ChangedServices, ABackendsStateMacOrAnAddedBackendChangesItsServiceOnly) {
  const dp::DesiredState have = two_services();
  dp::DesiredState want = two_services();
  want.mutable_backends(1)->set_state(dp::BACKEND_STATE_DOWN);
  EXPECT_EQ(changed_services(want, have), Names{"web"});
  want = two_services();
  want.mutable_backends(2)->set_mac("");
  EXPECT_EQ(changed_services(want, have), Names{"dns"});
  want = two_services();
  add_backend(want, "dns", "10.0.0.4");
  EXPECT_EQ(changed_services(want, have), Names{"dns"});
}

TEST(ChangedServices, AddedAndRemovedServices) {
  const dp::DesiredState have = two_services();
  dp::DesiredState want = two_services();
  add_service(want, "api", "192.0.2.3");
  EXPECT_EQ(changed_services(want, have), Names{"api"});
  EXPECT_EQ(changed_services(have, want), Names{"api"});  // the other way: removed
  want.mutable_services(0)->set_port(8080);
  EXPECT_EQ(changed_services(want, have), (Names{"web", "api"}));
}

TEST(WithServiceFrom, TakesOneServiceAndItsBackendsLeavingTheRest) {
  const dp::DesiredState have = two_services();
  dp::DesiredState want = two_services();
  want.mutable_backends(2)->set_mac("");   // dns as the dataplane would refuse it
  want.mutable_backends(0)->set_state(dp::BACKEND_STATE_DOWN);  // web's health changed
  want.add_bgp_peers("198.18.0.1");
  // What the dataplane holds, with web as wanted: dns stays as held.
  const dp::DesiredState take = with_service_from(have, "web", want);
  EXPECT_EQ(changed_services(take, want), Names{"dns"});
  EXPECT_EQ(changed_services(take, have), Names{"web"});
  EXPECT_EQ(take.node_addresses_size(), 1);
  EXPECT_EQ(take.bgp_peers_size(), 0);  // the rest of base, as it is
  // A service `from` lacks is taken out.
  dp::DesiredState none;
  const dp::DesiredState without = with_service_from(have, "dns", none);
  EXPECT_EQ(without.services_size(), 1);
  EXPECT_EQ(without.backends_size(), 2);
  EXPECT_EQ(changed_services(without, have), Names{"dns"});
}

}  // namespace
}  // namespace anylb::cp
