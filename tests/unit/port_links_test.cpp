// When the data ports' links let the node forward (port_links.hpp).
#include "port_links.hpp"

#include <gtest/gtest.h>

namespace anylb {
namespace {

TEST(PortLinks, OneArmedPortWithLinkForwards) {
  EXPECT_EQ(ports_not_forwarding({{"uplink", true, 0}}), "");
}

TEST(PortLinks, OneArmedPortWithoutLinkDoesNot) {
  EXPECT_EQ(ports_not_forwarding({{"uplink", false, 0}}), "no data port has link");
}

TEST(PortLinks, NoPortsDoNot) { EXPECT_EQ(ports_not_forwarding({}), "no data port"); }

TEST(PortLinks, TwoArmedWithTheBackendSideDownDoesNotAndNamesBothPorts) {
  // --tx-port: both ports forward out of port 1.
  EXPECT_EQ(ports_not_forwarding({{"uplink", true, 1}, {"backends", false, 1}}),
            "port uplink forwards out of port backends, whose link is down");
}

TEST(PortLinks, TwoArmedWithTheUplinkDownIsLeftToItsRouter) {
  // Nothing arrives on a dead uplink (its router sees the carrier go); the
  // backend side, with link, forwards what it receives out of itself.
  EXPECT_EQ(ports_not_forwarding({{"uplink", false, 1}, {"backends", true, 1}}), "");
}

TEST(PortLinks, OneOfTwoUplinksDownLeavesTheOtherForwarding) {
  // Its router loses the carrier and the session on it; the other router
  // still reaches a port that forwards out of itself.
  EXPECT_EQ(ports_not_forwarding({{"a", false, 0}, {"b", true, 1}}), "");
  EXPECT_EQ(ports_not_forwarding({{"a", false, 0}, {"b", false, 1}}), "no data port has link");
}

TEST(PortLinks, AnUnknownEgressIsNamed) {
  EXPECT_EQ(ports_not_forwarding({{"a", true, 3}}), "port a forwards out of an unknown port");
}

}  // namespace
}  // namespace anylb
