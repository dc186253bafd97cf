// The dataplane API's messages to the core's types: round trips, and a bad
// field named by its path (invariant 8).
#include <gtest/gtest.h>

#include "api_convert.hpp"

namespace anylb {
namespace {

pb::DesiredState a_state() {
  pb::DesiredState in;
  in.add_node_addresses("198.18.0.2");
  in.add_bgp_peers("198.18.0.1");
  in.add_bgp_peers("2001:db8:f::1");
  in.add_gtsm_peers("198.18.0.1");
  in.set_probe_ports("61000-61999");
  pb::Service* s = in.add_services();
  s->set_name("web");
  s->set_vip("203.0.113.10");
  s->set_protocol(pb::PROTOCOL_TCP);
  s->set_port(80);
  s->set_mode(pb::FORWARDING_MODE_L2_DSR);
  return in;
}

TEST(ApiConvert, AStateRoundTrips) {
  std::string error;
  const auto st = from_proto(a_state(), error);
  ASSERT_TRUE(st) << error;
  EXPECT_EQ(st->bgp_peers, (std::vector<IpAddress>{*IpAddress::parse("198.18.0.1"), *IpAddress::parse("2001:db8:f::1")}));
  pb::DesiredState out;
  to_proto(*st, out);
  EXPECT_EQ(out.node_addresses(0), "198.18.0.2");
  ASSERT_EQ(out.bgp_peers_size(), 2);
  EXPECT_EQ(out.bgp_peers(1), "2001:db8:f::1");
  EXPECT_EQ(st->gtsm_peers, (std::vector<IpAddress>{*IpAddress::parse("198.18.0.1")}));
  EXPECT_EQ(st->probe_ports, (PortRange{61000, 61999}));
  ASSERT_EQ(out.gtsm_peers_size(), 1);
  EXPECT_EQ(out.probe_ports(), "61000-61999");
}

TEST(ApiConvert, ABadProbePortRangeIsNamed) {
  std::string error;
  pb::DesiredState in = a_state();
  in.set_probe_ports("62000-61000");
  EXPECT_FALSE(from_proto(in, error));
  EXPECT_EQ(error.rfind("state.probe_ports: '62000-61000' is not FIRST-LAST", 0), 0u) << error;
  in = a_state();
  in.add_gtsm_peers("router1");
  EXPECT_FALSE(from_proto(in, error));
  EXPECT_EQ(error, "state.gtsm_peers[1]: 'router1' is not an IPv4 or IPv6 address");
}

TEST(ApiConvert, ABadAddressIsNamedByItsPath) {
  std::string error;
  pb::DesiredState in = a_state();
  in.add_bgp_peers("router1");
  EXPECT_FALSE(from_proto(in, error));
  EXPECT_EQ(error, "state.bgp_peers[2]: 'router1' is not an IPv4 or IPv6 address");
  in = a_state();
  in.set_node_addresses(0, "198.18.0.300");
  EXPECT_FALSE(from_proto(in, error));
  EXPECT_EQ(error, "state.node_addresses[0]: '198.18.0.300' is not an IPv4 or IPv6 address");
}

}  // namespace
}  // namespace anylb
