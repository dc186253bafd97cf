// gobgpd's neighbour list as the dataplane's policer takes it.
#include <gtest/gtest.h>

#include "bgp_peers.hpp"

namespace anylb::cp {
namespace {

IpAddress ip(const char* text) { return IpAddress::parse(text).value(); }

TEST(BgpPeers, AddressesSortedOnceEach) {
  // Sorted as IpAddress orders them (by bytes): a stable list, so the
  // control plane pushes no new state when gobgpd lists them in another order.
  const auto a = bgp_peer_addresses({{"2001:db8::1", "established"}, {"198.18.0.9", "active"},
                                     {"198.18.0.1", "established"}, {"198.18.0.9", "idle"}});
  EXPECT_EQ(a, (std::vector<IpAddress>{ip("2001:db8::1"), ip("198.18.0.1"), ip("198.18.0.9")}));
  EXPECT_EQ(a, bgp_peer_addresses({{"198.18.0.1", "idle"}, {"198.18.0.9", "idle"}, {"2001:db8::1", "idle"}}));
  EXPECT_TRUE(bgp_peer_addresses({}).empty());
}

TEST(BgpPeers, AnInterfaceNamedNeighbourLetsAnySourceIn) {
  // An unnumbered session's packets come from an address gobgpd does not
  // list: none at all (any source) rather than policing it as the rest.
  EXPECT_TRUE(bgp_peer_addresses({{"198.18.0.1", "established"}, {"eth1", "established"}}).empty());
}

TEST(BgpPeers, GtsmIsTtlSecurityWithTtlMin255) {
  EXPECT_TRUE(gtsm_peer(true, 255));
  EXPECT_FALSE(gtsm_peer(true, 254)) << "multi-hop: packets from farther away are the session's too";
  EXPECT_FALSE(gtsm_peer(true, 0));
  EXPECT_FALSE(gtsm_peer(false, 255));
  EXPECT_EQ(gtsm_peer_addresses({"198.18.0.9", "eth1", "198.18.0.1", "198.18.0.9"}),
            (std::vector<IpAddress>{ip("198.18.0.1"), ip("198.18.0.9")}));
}

}  // namespace
}  // namespace anylb::cp
