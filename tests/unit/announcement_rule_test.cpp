// The announcement rule (announcement_rule.hpp), table by table: routes of
// the services in, per prefix announced or not, why, and the path out.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "announcement_rule.hpp"

namespace anylb::cp {
namespace {

constexpr uint32_t kAsn = 65001;
constexpr uint32_t kGracefulShutdown = 0xFFFF0000;

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

ServiceConfig svc(const std::string& name, const char* vip, uint16_t port, CoverPolicy vip_policy = CoverPolicy::all,
                  std::vector<uint32_t> communities = {}, std::optional<uint32_t> med = {}, uint32_t prepend = 0) {
  ServiceConfig s;
  s.spec.name = name;
  s.spec.vip = ip(vip);
  s.spec.port = port;
  s.spec.proto = 6;
  s.vip_policy = vip_policy;
  s.communities = std::move(communities);
  s.med = med;
  s.prepend = prepend;
  return s;
}

CoverConfig cover(const char* address, uint32_t length, CoverPolicy policy, std::vector<std::string> services) {
  CoverConfig c;
  c.address = ip(address);
  c.length = length;
  c.prefix = std::string(address) + "/" + std::to_string(length);
  c.policy = policy;
  c.services = std::move(services);
  return c;
}

ControlConfig node(std::vector<ServiceConfig> services, std::vector<CoverConfig> covers = {}) {
  ControlConfig c;
  c.allowed_prefixes = {{ip("203.0.113.0"), 24}, {ip("2001:db8:10::"), 48}};
  c.next_hop_v4 = ip("198.18.0.2");
  c.next_hop_v6 = ip("2001:db8:ffff::2");
  c.services = std::move(services);
  c.covers = std::move(covers);
  return c;
}

RouteView up() { return {Announcement::announced, "3/3 healthy, quorum 2", false}; }
RouteView down() { return {Announcement::withdrawn, "1/3 healthy, quorum 2: below quorum", false}; }
RouteView draining() { return {Announcement::draining, "3/3 healthy: node draining (graceful shutdown)", false}; }
RouteView kept() { return {Announcement::announced, "kept from an earlier run while the first checks run", true}; }

struct Decided {
  std::vector<PrefixDecision> all;
  const PrefixDecision& at(const std::string& prefix) const {
    for (const PrefixDecision& d : all)
      if (d.prefix == prefix) return d;
    throw std::runtime_error("no decision for " + prefix);
  }
  std::set<std::string> announced() const {
    std::set<std::string> out;
    for (const PrefixDecision& d : all)
      if (d.announce) out.insert(d.prefix);
    return out;
  }
};

Decided decide(const ControlConfig& config, const std::map<std::string, RouteView>& routes, bool draining = false,
               const std::set<std::string>& left = {}) {
  return {decide_announcements({config, routes, draining, kAsn, left})};
}

// ---- shared VIPs: one host route, decided by the VIP's first service's policy

struct SharedVipRow {
  const char* name;
  CoverPolicy policy;
  RouteView web, alt;
  bool announced;
  const char* web_reason_has;  // what web's line says of the VIP's other service ("" nothing)
};

class SharedVip : public testing::TestWithParam<SharedVipRow> {};

TEST_P(SharedVip, FollowsTheFirstServicesPolicy) {
  const SharedVipRow& row = GetParam();
  const ControlConfig c = node({svc("web", "203.0.113.10", 80, row.policy, {100}),
                                svc("alt", "203.0.113.10", 8080, row.policy, {200})});
  const Decided d = decide(c, {{"web", row.web}, {"alt", row.alt}});
  const PrefixDecision& vip = d.at("203.0.113.10/32");
  EXPECT_EQ(vip.announce, row.announced);
  EXPECT_EQ(vip.path.has_value(), row.announced);
  EXPECT_EQ(vip.services, (std::vector<std::string>{"web", "alt"}));
  const std::string& web = vip.service_reasons.at("web");
  EXPECT_EQ(web.rfind(row.web.reason, 0), 0u) << web;  // its own reason first
  if (*row.web_reason_has) EXPECT_NE(web.find(row.web_reason_has), std::string::npos) << web;
  else EXPECT_EQ(web, row.web.reason);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, SharedVip,
    testing::Values(SharedVipRow{"all_both_up", CoverPolicy::all, up(), up(), true, ""},
                    SharedVipRow{"all_alt_down", CoverPolicy::all, up(), down(), false,
                                 "withdrawn: service 'alt' on the same VIP is not (vip_policy all)"},
                    SharedVipRow{"all_both_down", CoverPolicy::all, down(), down(), false, ""},
                    SharedVipRow{"any_web_down", CoverPolicy::any, down(), up(), true,
                                 "announced: service 'alt' on the same VIP is (vip_policy any)"},
                    SharedVipRow{"any_alt_down", CoverPolicy::any, up(), down(), true, ""},
                    SharedVipRow{"any_both_down", CoverPolicy::any, down(), down(), false, ""}),
    [](const testing::TestParamInfo<SharedVipRow>& i) { return std::string(i.param.name); });

// Whatever gets past the configuration's checks, a prefix outside
// node.allowed_prefixes is never announced.
TEST(AnnouncementRule, NothingOutsideTheAllowedPrefixes) {
  ControlConfig c = node({svc("web", "203.0.113.10", 80), svc("theirs", "8.8.8.8", 80)},
                         {cover("203.0.113.0", 24, CoverPolicy::any, {"web"})});
  c.allowed_prefixes = {{ip("203.0.113.0"), 25}};  // the VIP, not the cover
  const Decided d = decide(c, {{"web", up()}, {"theirs", up()}});
  EXPECT_TRUE(d.at("203.0.113.10/32").announce);
  for (const char* p : {"8.8.8.8/32", "203.0.113.0/24"}) {
    EXPECT_FALSE(d.at(p).announce) << p;
    EXPECT_FALSE(d.at(p).path.has_value()) << p;
    EXPECT_EQ(d.at(p).reason, "outside node.allowed_prefixes") << p;
  }
}

TEST(SharedVipPath, AnnouncedServicesCommunitiesTogetherFirstAnnouncedsMedAndPrepend) {
  const ControlConfig c = node({svc("web", "203.0.113.10", 80, CoverPolicy::any, {100, 300}, 10, 1),
                                svc("alt", "203.0.113.10", 8080, CoverPolicy::any, {200, 300}, 20, 2),
                                svc("off", "203.0.113.10", 9090, CoverPolicy::any, {400}, 30, 3)});
  const PathSpec both = *decide(c, {{"web", up()}, {"alt", up()}, {"off", down()}}).at("203.0.113.10/32").path;
  EXPECT_EQ(both.communities, (std::vector<uint32_t>{100, 300, 200}));
  EXPECT_EQ(both.med, 10u);
  EXPECT_EQ(both.prepend, 1u);
  EXPECT_EQ(both.next_hop, ip("198.18.0.2"));
  EXPECT_EQ(both.asn, kAsn);
  EXPECT_EQ(both.length, 32u);
  const PathSpec alt_only = *decide(c, {{"web", down()}, {"alt", up()}, {"off", down()}}).at("203.0.113.10/32").path;
  EXPECT_EQ(alt_only.communities, (std::vector<uint32_t>{200, 300}));
  EXPECT_EQ(alt_only.med, 20u);
  EXPECT_EQ(alt_only.prepend, 2u);
}

TEST(HostRoute, Ipv6TakesItsFamilysNextHop) {
  const ControlConfig c = node({svc("web6", "2001:db8:10::10", 80)});
  const PathSpec p = *decide(c, {{"web6", up()}}).at("2001:db8:10::10/128").path;
  EXPECT_EQ(p.length, 128u);
  EXPECT_EQ(p.next_hop, ip("2001:db8:ffff::2"));
}

TEST(HostRoute, AServiceWithoutRouteStateIsWithdrawn) {
  const ControlConfig c = node({svc("web", "203.0.113.10", 80)});
  EXPECT_FALSE(decide(c, {}).at("203.0.113.10/32").announce);
}

// ---- covering prefixes (RFC 4786 4.8)

struct CoverRow {
  const char* name;
  CoverPolicy policy;
  bool web, api;  // their host routes announced
  bool announced;
  const char* reason;
};

class Covers : public testing::TestWithParam<CoverRow> {};

TEST_P(Covers, FollowTheirPolicy) {
  const CoverRow& row = GetParam();
  const ControlConfig c = node({svc("web", "203.0.113.10", 80), svc("api", "203.0.113.11", 80)},
                               {cover("203.0.113.0", 24, row.policy, {"web", "api"})});
  const Decided d = decide(c, {{"web", row.web ? up() : down()}, {"api", row.api ? up() : down()}});
  const PrefixDecision& cv = d.at("203.0.113.0/24");
  EXPECT_EQ(cv.kind, PrefixDecision::Kind::cover);
  EXPECT_EQ(cv.announce, row.announced);
  EXPECT_EQ(cv.reason, row.reason);
  if (row.announced) {
    EXPECT_EQ(cv.path->length, 24u);
    EXPECT_EQ(cv.path->next_hop, ip("198.18.0.2"));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rows, Covers,
    testing::Values(CoverRow{"any_one_up", CoverPolicy::any, true, false, true, "covering (any): web up, api down"},
                    CoverRow{"any_none_up", CoverPolicy::any, false, false, false, "covering (any): web down, api down"},
                    CoverRow{"all_both_up", CoverPolicy::all, true, true, true, "covering (all): web up, api up"},
                    CoverRow{"all_one_down", CoverPolicy::all, true, false, false, "covering (all): web up, api down"}),
    [](const testing::TestParamInfo<CoverRow>& i) { return std::string(i.param.name); });

TEST(Covers, AServiceNamedButUnknownCountsAsDown) {
  const ControlConfig c = node({svc("web", "203.0.113.10", 80)},
                               {cover("203.0.113.0", 24, CoverPolicy::all, {"web", "gone"})});
  EXPECT_FALSE(decide(c, {{"web", up()}}).at("203.0.113.0/24").announce);
}

// ---- node drain: GRACEFUL_SHUTDOWN (RFC 8326) and one prepend more

TEST(Drain, HostRoutesAndCoversAnnounceGracefulShutdown) {
  ServiceConfig web = svc("web", "203.0.113.10", 80, CoverPolicy::all, {100}, {}, 1);
  CoverConfig cv = cover("203.0.113.0", 24, CoverPolicy::any, {"web"});
  cv.communities = {500};
  const ControlConfig c = node({web}, {cv});
  const Decided d = decide(c, {{"web", draining()}}, true);
  const PrefixDecision& host = d.at("203.0.113.10/32");
  EXPECT_TRUE(host.announce && host.graceful);
  EXPECT_EQ(host.path->communities, (std::vector<uint32_t>{100, kGracefulShutdown}));
  EXPECT_EQ(host.path->prepend, 2u);
  const PrefixDecision& covering = d.at("203.0.113.0/24");
  EXPECT_TRUE(covering.announce && covering.graceful);
  EXPECT_EQ(covering.path->communities, (std::vector<uint32_t>{500, kGracefulShutdown}));
  EXPECT_EQ(covering.path->prepend, 1u);
  EXPECT_NE(covering.reason.find("node draining"), std::string::npos) << covering.reason;
}

TEST(Drain, AWithdrawnRouteStaysWithdrawn) {
  const ControlConfig c = node({svc("web", "203.0.113.10", 80)}, {cover("203.0.113.0", 24, CoverPolicy::any, {"web"})});
  EXPECT_EQ(decide(c, {{"web", down()}}, true).announced(), std::set<std::string>{});
}

TEST(Drain, NotDrainingNoGracefulShutdown) {
  const ControlConfig c = node({svc("web", "203.0.113.10", 80, CoverPolicy::all, {100})});
  const PrefixDecision d = decide(c, {{"web", up()}}).at("203.0.113.10/32");
  EXPECT_FALSE(d.graceful);
  EXPECT_EQ(d.path->communities, std::vector<uint32_t>{100});
}

// ---- paths an earlier run left in gobgpd

struct LeftRow {
  const char* name;
  std::set<std::string> left;
  std::set<std::string> withdrawn_routes;  // the state file's
  std::vector<std::string> taken_over;     // services_left_announced
  std::set<std::string> left_decisions;    // prefixes decided as left (no longer configured), withdrawn
};

class LeftPaths : public testing::TestWithParam<LeftRow> {};

TEST_P(LeftPaths, AreTakenOverOrWithdrawn) {
  const LeftRow& row = GetParam();
  const ControlConfig c = node({svc("web", "203.0.113.10", 80), svc("alt", "203.0.113.10", 8080),
                                svc("api", "203.0.113.11", 80)},
                               {cover("203.0.113.0", 24, CoverPolicy::any, {"api"})});
  std::vector<std::string> taken;
  for (const ServiceConfig* s : services_left_announced(c, row.left, row.withdrawn_routes)) taken.push_back(s->spec.name);
  EXPECT_EQ(taken, row.taken_over);
  std::set<std::string> gone;
  for (const PrefixDecision& d : decide(c, {}, false, row.left).all) {
    if (d.kind != PrefixDecision::Kind::left) continue;
    EXPECT_FALSE(d.announce);
    EXPECT_EQ(d.reason, "left by an earlier run; no longer configured");
    gone.insert(d.prefix);
  }
  EXPECT_EQ(gone, row.left_decisions);
}

INSTANTIATE_TEST_SUITE_P(
    Rows, LeftPaths,
    testing::Values(LeftRow{"none", {}, {}, {}, {}},
                    LeftRow{"a_vip_still_configured", {"203.0.113.11/32"}, {}, {"api"}, {}},
                    LeftRow{"a_shared_vip_takes_over_every_service_on_it", {"203.0.113.10/32"}, {}, {"web", "alt"}, {}},
                    LeftRow{"not_a_service_the_state_file_says_withdrawn", {"203.0.113.10/32"}, {"alt"}, {"web"}, {}},
                    LeftRow{"a_cover_takes_over_nothing_itself", {"203.0.113.0/24"}, {}, {}, {}},
                    LeftRow{"no_longer_configured", {"198.51.100.7/32", "203.0.113.11/32"}, {}, {"api"},
                            {"198.51.100.7/32"}}),
    [](const testing::TestParamInfo<LeftRow>& i) { return std::string(i.param.name); });

TEST(LeftPaths, AKeptServiceSaysSoOnItsCover) {
  const ControlConfig c = node({svc("api", "203.0.113.11", 80)}, {cover("203.0.113.0", 24, CoverPolicy::any, {"api"})});
  const PrefixDecision cv = decide(c, {{"api", kept()}}).at("203.0.113.0/24");
  EXPECT_TRUE(cv.announce);
  EXPECT_NE(cv.reason.find("kept from an earlier run"), std::string::npos) << cv.reason;
}

TEST(Order, HostRoutesByFirstServiceThenCoversThenLeft) {
  const ControlConfig c = node({svc("b", "203.0.113.20", 80), svc("a", "203.0.113.10", 80), svc("b2", "203.0.113.20", 81)},
                               {cover("203.0.113.0", 24, CoverPolicy::any, {"a"})});
  std::vector<std::string> order;
  for (const PrefixDecision& d : decide(c, {}, false, {"192.0.2.1/32"}).all) order.push_back(d.prefix);
  EXPECT_EQ(order, (std::vector<std::string>{"203.0.113.20/32", "203.0.113.10/32", "203.0.113.0/24", "192.0.2.1/32"}));
}

}  // namespace
}  // namespace anylb::cp
