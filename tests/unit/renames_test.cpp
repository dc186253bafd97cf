// A service renamed by a configuration change (renamed_services), and what
// the API's changes kept for it follow it to its new name
// (Overlay::rename_services).
#include <gtest/gtest.h>

#include "config.hpp"
#include "overlay.hpp"

namespace anylb::cp {
namespace {

ServiceConfig svc(const std::string& name, const std::string& vip, uint16_t port, uint8_t proto = kProtoTcp) {
  ServiceConfig s;
  s.spec.name = name;
  s.spec.vip = *IpAddress::parse(vip);
  s.spec.port = port;
  s.spec.proto = proto;
  return s;
}

using Renames = std::map<std::string, std::string>;

TEST(RenamedServices, ANewNameForTheSameVipProtocolAndPort) {
  const std::vector<ServiceConfig> before = {svc("web", "192.0.2.1", 80), svc("dns", "192.0.2.2", 53, 17)};
  EXPECT_EQ(renamed_services(before, {svc("www", "192.0.2.1", 80), svc("dns", "192.0.2.2", 53, 17)}),
            (Renames{{"www", "web"}}));
  EXPECT_EQ(renamed_services(before, {svc("www", "192.0.2.1", 80), svc("resolver", "192.0.2.2", 53, 17)}),
            (Renames{{"www", "web"}, {"resolver", "dns"}}));
  EXPECT_EQ(renamed_services(before, before), Renames{});
}

TEST(RenamedServices, AnotherVipPortOrProtocolIsANewService) {
  const std::vector<ServiceConfig> before = {svc("web", "192.0.2.1", 80)};
  EXPECT_EQ(renamed_services(before, {svc("www", "192.0.2.9", 80)}), Renames{});
  EXPECT_EQ(renamed_services(before, {svc("www", "192.0.2.1", 8080)}), Renames{});
  EXPECT_EQ(renamed_services(before, {svc("www", "192.0.2.1", 80, 17)}), Renames{});
}

TEST(RenamedServices, ANameStillThereIsNotRenamed) {
  // web moves to another port and www takes its old one: two services, no rename.
  EXPECT_EQ(renamed_services({svc("web", "192.0.2.1", 80)}, {svc("web", "192.0.2.1", 81), svc("www", "192.0.2.1", 80)}),
            Renames{});
}

TEST(OverlayRename, WhatTheApiSetFollowsTheNewName) {
  const IpAddress a = *IpAddress::parse("10.0.0.1"), b = *IpAddress::parse("10.0.0.2");
  Overlay o;
  o.admin[{"web", a}] = AdminState::disabled;
  o.admin[{"dns", a}] = AdminState::draining;
  o.weights[{"web", b}] = 7;
  o.added_backends[{"web", b}] = BackendConfig{b, {}, 7, ""};
  o.deleted_backends.insert({"web", a});
  o.deleted_services.insert("web");
  o.withdrawn_routes = {"web", "dns"};
  o.damping["web"] = {1500, 42};
  o.registrations["r1"] = Registration{"web", BackendConfig{b, {}, 7, ""}, 1000, 0, {}, ""};
  o.rename_services({{"www", "web"}});
  EXPECT_EQ(o.admin, (std::map<BackendId, AdminState>{{{"www", a}, AdminState::disabled},
                                                      {{"dns", a}, AdminState::draining}}));
  EXPECT_EQ(o.weights, (std::map<BackendId, uint32_t>{{{"www", b}, 7}}));
  ASSERT_EQ(o.added_backends.size(), 1u);
  EXPECT_EQ(o.added_backends.begin()->first, (BackendId{"www", b}));
  EXPECT_EQ(o.deleted_backends, (std::set<BackendId>{{"www", a}}));
  EXPECT_EQ(o.deleted_services, (std::set<std::string>{"www"}));
  EXPECT_EQ(o.withdrawn_routes, (std::set<std::string>{"www", "dns"}));
  ASSERT_EQ(o.damping.count("www"), 1u);
  EXPECT_EQ(o.damping.at("www").penalty, 1500);
  EXPECT_EQ(o.damping.count("web"), 0u);
  EXPECT_EQ(o.registrations.at("r1").service, "www");
}

}  // namespace
}  // namespace anylb::cp
