// StateBuilder: ids stable across rebuilds (flow-table entries store backend
// ids), Maglev tables reused only while a service's backends are unchanged,
// all-or-nothing on id exhaustion, and released ids quarantined.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "state_builder.hpp"
#include "state_fixtures.hpp"

namespace anylb::test {
namespace {

StateLimits small_limits(uint32_t max_services = 8, uint32_t max_backends = 64, uint64_t quarantine_ms = 1000) {
  StateLimits l;
  l.maglev_size = 251;
  l.max_services = max_services;
  l.max_backends = max_backends;
  l.id_quarantine_ms = quarantine_ms;
  return l;
}

// Builds or fails the test; the snapshot is shared so tests can keep several.
std::shared_ptr<ForwardingState> build(StateBuilder& b, const DesiredState& s, uint64_t now_ms = 0) {
  std::string error;
  std::shared_ptr<ForwardingState> st = b.build(s, 1, now_ms, error);
  EXPECT_TRUE(st) << error;
  return st;
}

// Backend id of every (service name, address) in a snapshot.
std::map<std::string, uint32_t> backend_ids(const ForwardingState& st) {
  std::map<std::string, uint32_t> ids;
  for (uint32_t id = 1; id < st.backends.size(); ++id) {
    const BackendEntry& b = st.backends[id];
    if (b.present) ids[st.services[b.service_id].spec.name + "/" + b.address.to_string()] = id;
  }
  return ids;
}

DesiredState two_services() {
  DesiredState s = web_state(3);
  s.services.push_back(service("dns", kVip4, 53, ForwardingMode::l2_dsr, FragmentPolicy::drop, kProtoUdp));
  s.backends.push_back(backend("dns", "198.18.2.1"));
  s.backends.push_back(backend("dns", "198.18.2.2"));
  return s;
}

TEST(StateBuilder, SnapshotHoldsServicesBackendsAndSources) {
  StateBuilder b(small_limits());
  const auto st = build(b, two_services());
  ASSERT_TRUE(st);
  const uint32_t web = service_id(*st, "web"), dns = service_id(*st, "dns");
  ASSERT_NE(web, 0u);
  ASSERT_NE(dns, 0u);
  EXPECT_NE(web, dns);
  EXPECT_EQ(st->services[dns].spec.proto, kProtoUdp);
  EXPECT_EQ(backend_ids(*st).size(), 5u);
  const uint32_t id = backend_id(*st, web, "198.18.1.11");
  ASSERT_NE(id, 0u);
  EXPECT_EQ(st->backends[id].state, BackendState::up);
  EXPECT_EQ(st->backends[id].mac, backend_mac(ip("198.18.1.11")));
  EXPECT_TRUE(st->has_source_v4 && st->has_source_v6);
  EXPECT_EQ(st->encap_source_v4, ip(kNode4));
  EXPECT_EQ(st->encap_source_v6, ip(kNode6));
  ASSERT_TRUE(st->services[web].maglev);
  EXPECT_EQ(st->services[web].maglev->primary.size(), 251u);
  EXPECT_EQ(st->services[web].maglev->backend_ids.size(), 3u);
  EXPECT_FALSE(st->backends[0].present) << "id 0 means none";
  EXPECT_FALSE(st->services[0].present);
}

TEST(StateBuilder, BackendKeepsItsIdWhenOthersChange) {
  StateBuilder b(small_limits());
  DesiredState s = two_services();
  const auto first = backend_ids(*build(b, s));

  // Remove one web backend, add another, reorder everything.
  s.backends.erase(s.backends.begin() + 1);  // web/198.18.1.11
  s.backends.push_back(backend("web", "198.18.1.99"));
  std::reverse(s.backends.begin(), s.backends.end());
  std::reverse(s.services.begin(), s.services.end());
  const auto second = backend_ids(*build(b, s, 10));

  for (const auto& [name, id] : first) {
    if (name == "web/198.18.1.11") {
      EXPECT_FALSE(second.count(name));
      continue;
    }
    ASSERT_TRUE(second.count(name)) << name;
    EXPECT_EQ(second.at(name), id) << name << " changed id";
  }
  EXPECT_NE(second.at("web/198.18.1.99"), first.at("web/198.18.1.11")) << "a released id was reused at once";
}

TEST(StateBuilder, ServiceKeepsItsIdWhenOthersComeAndGo) {
  StateBuilder b(small_limits());
  DesiredState s = two_services();
  const auto st1 = build(b, s);
  const uint32_t dns = service_id(*st1, "dns");
  s.services.erase(s.services.begin());  // web goes, with its backends
  s.backends.erase(s.backends.begin(), s.backends.begin() + 3);
  s.services.push_back(service("mail", kVip4, 25));
  EXPECT_EQ(service_id(*build(b, s, 5), "dns"), dns);
}

TEST(StateBuilder, MaglevTablesReusedOnlyWhileBackendsAreUnchanged) {
  StateBuilder b(small_limits());
  DesiredState s = two_services();
  const auto st1 = build(b, s);
  const uint32_t web = service_id(*st1, "web"), dns = service_id(*st1, "dns");

  // Identical state: both tables shared.
  const auto st2 = build(b, s);
  EXPECT_EQ(st2->services[web].maglev, st1->services[web].maglev);
  EXPECT_EQ(st2->services[dns].maglev, st1->services[dns].maglev);

  // A dns backend added: dns rebuilt, web shared.
  s.backends.push_back(backend("dns", "198.18.2.3"));
  const auto st3 = build(b, s);
  EXPECT_EQ(st3->services[web].maglev, st1->services[web].maglev);
  EXPECT_NE(st3->services[dns].maglev, st2->services[dns].maglev);
  EXPECT_EQ(st3->services[dns].maglev->backend_ids.size(), 3u);

  // A web backend's state changes, then its weight: web rebuilt each time.
  find_backend(s, "198.18.1.10")->state = BackendState::draining;
  const auto st4 = build(b, s);
  EXPECT_NE(st4->services[web].maglev, st3->services[web].maglev);
  EXPECT_EQ(st4->services[dns].maglev, st3->services[dns].maglev);
  find_backend(s, "198.18.1.10")->weight = 50;
  const auto st5 = build(b, s);
  EXPECT_NE(st5->services[web].maglev, st4->services[web].maglev);

  // A service-level change that does not touch backends (mode) keeps the table.
  s.services[0].mode = ForwardingMode::ipip;
  const auto st6 = build(b, s);
  EXPECT_EQ(st6->services[web].maglev, st5->services[web].maglev);
  EXPECT_EQ(st6->services[web].spec.mode, ForwardingMode::ipip);
}

// The fallback table is the up backends' own table; a draining or down
// backend appears in the primary table only.
TEST(StateBuilder, FallbackTableHoldsOnlyUpBackends) {
  StateBuilder b(small_limits());
  DesiredState s = web_state(4);
  find_backend(s, backend_address(1))->state = BackendState::down;
  find_backend(s, backend_address(2))->state = BackendState::draining;
  const auto st = build(b, s);
  const MaglevPair& m = *st->services[service_id(*st, "web")].maglev;
  std::set<IpAddress> primary, fallback;
  for (uint16_t i : m.primary) primary.insert(st->backends[m.backend_ids.at(i)].address);
  for (uint16_t i : m.fallback) fallback.insert(st->backends[m.backend_ids.at(i)].address);
  EXPECT_EQ(primary.size(), 4u);
  EXPECT_EQ(fallback, (std::set<IpAddress>{ip(backend_address(0)), ip(backend_address(3))}));
}

// Exhaustion fails the whole build and leaves every assignment as it was:
// a later build still gets the old ids, and no id leaked into the failure.
TEST(StateBuilder, BackendIdExhaustionIsAllOrNothing) {
  StateBuilder b(small_limits(8, 4));
  DesiredState s = web_state(3);
  const auto before = backend_ids(*build(b, s));

  DesiredState too_many = s;
  too_many.backends.erase(too_many.backends.begin());  // releases one id (quarantined) ...
  for (int i = 0; i < 3; ++i) too_many.backends.push_back(backend("web", "198.18.5." + std::to_string(i + 1)));
  std::string error;
  EXPECT_EQ(b.build(too_many, 2, 10, error), nullptr) << "3 new backends cannot fit 1 free id";
  EXPECT_NE(error.find("backend"), std::string::npos) << error;
  EXPECT_NE(error.find("id"), std::string::npos) << error;

  // ... but the failed build released nothing and took nothing:
  const auto again = backend_ids(*build(b, s, 20));
  EXPECT_EQ(again, before);
  s.backends.push_back(backend("web", "198.18.5.1"));
  const auto plus_one = backend_ids(*build(b, s, 30));
  EXPECT_EQ(plus_one.at("web/198.18.5.1"), 4u) << "the one free id was not consumed by the failed build";
}

TEST(StateBuilder, APreparedStateNotCommittedChangesNoId) {
  // The dataplane prepares, then persists, then commits: a state it could
  // not persist must leave the ids as the published snapshot has them.
  StateBuilder b(small_limits(8, 4));
  DesiredState s = web_state(3);
  const auto before = backend_ids(*build(b, s));
  DesiredState other = s;
  other.backends.erase(other.backends.begin());  // would release an id ...
  other.backends.push_back(backend("web", "198.18.5.1"));  // ... and take one
  std::string error;
  auto prepared = b.prepare(other, 2, 10, error);
  ASSERT_TRUE(prepared) << error;
  EXPECT_EQ(backend_ids(*b.commit(std::move(*prepared))), backend_ids(*b.build(other, 3, 11, error)))
      << "commit hands over what prepare built";
  StateBuilder fresh(small_limits(8, 4));
  build(fresh, s);
  ASSERT_TRUE(fresh.prepare(other, 2, 10, error));  // dropped, never committed
  s.backends.push_back(backend("web", "198.18.5.2"));
  const auto after = backend_ids(*build(fresh, s, 20));
  for (const auto& [name, id] : before) EXPECT_EQ(after.at(name), id) << name;
  EXPECT_EQ(after.at("web/198.18.5.2"), 4u) << "the uncommitted state took no id";
}

TEST(StateBuilder, ServiceIdExhaustionIsAllOrNothing) {
  StateBuilder b(small_limits(1, 64));
  DesiredState s = web_state(2);
  const auto st = build(b, s);
  const uint32_t web = service_id(*st, "web");
  s.services.push_back(service("other", "203.0.113.20", 80));
  std::string error;
  EXPECT_EQ(b.build(s, 2, 0, error), nullptr);
  EXPECT_NE(error.find("other"), std::string::npos) << "the error names the service: " << error;
  s.services.pop_back();
  const auto st2 = build(b, s);
  EXPECT_EQ(service_id(*st2, "web"), web);
  EXPECT_EQ(backend_ids(*st2), backend_ids(*st));
}

// A released id names a flow-table entry until that entry times out, so it
// is not handed out again before the quarantine; after it, it may be.
TEST(StateBuilder, ReleasedIdsQuarantined) {
  constexpr uint64_t kQuarantine = 1000;
  StateBuilder b(small_limits(8, 3, kQuarantine));
  DesiredState s = web_state(3);  // takes all three ids
  const auto first = backend_ids(*build(b, s, 0));
  const uint32_t gone_id = first.at("web/" + backend_address(2));

  s.backends.pop_back();  // released at t=100
  build(b, s, 100);
  s.backends.push_back(backend("web", "198.18.7.7"));
  std::string error;
  EXPECT_EQ(b.build(s, 3, 100 + kQuarantine - 1, error), nullptr) << "the only free id is still quarantined";

  const auto later = backend_ids(*build(b, s, 100 + kQuarantine));
  EXPECT_EQ(later.at("web/198.18.7.7"), gone_id) << "after the quarantine the id is free again";
  EXPECT_EQ(later.at("web/" + backend_address(0)), first.at("web/" + backend_address(0)));
}

TEST(StateBuilder, FreshIdsAreNotReleasedOnes) {
  StateBuilder b(small_limits(8, 64, 1000));
  DesiredState s = web_state(5);
  const auto first = backend_ids(*build(b, s, 0));
  std::set<uint32_t> released;
  for (int i = 0; i < 3; ++i) {
    released.insert(first.at("web/" + s.backends.back().address.to_string()));
    s.backends.pop_back();
  }
  build(b, s, 10);
  for (int i = 0; i < 10; ++i) s.backends.push_back(backend("web", "198.18.8." + std::to_string(i + 1)));
  for (const auto& [name, id] : backend_ids(*build(b, s, 20)))
    if (name.find("198.18.8.") != std::string::npos) {
      EXPECT_FALSE(released.count(id)) << name << " got released id " << id;
    }
}

// ids_new_in names what a snapshot adds: everything at first, nothing when
// only states change, and a released id once another backend or service
// takes it after the quarantine (whose counters the dataplane then zeroes).
TEST(StateBuilder, NewIdsAreThoseASnapshotAdds) {
  constexpr uint64_t kQuarantine = 1000;
  StateBuilder b(small_limits(8, 3, kQuarantine));
  DesiredState s = two_services();
  s.backends.resize(3);  // web's three backends: every backend id in use
  const auto first = build(b, s, 0);
  const NewIds all = ids_new_in(nullptr, *first);
  EXPECT_EQ(all.services, (std::vector<uint32_t>{service_id(*first, "web"), service_id(*first, "dns")}));
  EXPECT_EQ(all.backends.size(), 3u);

  s.backends[0].state = BackendState::draining;
  const auto drained = build(b, s, 10);
  EXPECT_TRUE(ids_new_in(first.get(), *drained).services.empty());
  EXPECT_TRUE(ids_new_in(first.get(), *drained).backends.empty()) << "a state change keeps the id";

  const uint32_t gone = backend_ids(*first).at("web/" + backend_address(2));
  const uint32_t dns = service_id(*first, "dns");
  s.backends.pop_back();
  s.services.pop_back();  // dns
  const auto removed = build(b, s, 100);
  s.backends.push_back(backend("web", "198.18.7.7"));
  s.services.push_back(service("dns2", kVip4, 54, ForwardingMode::l2_dsr, FragmentPolicy::drop, kProtoUdp));
  const auto reused = build(b, s, 100 + kQuarantine);
  ASSERT_EQ(backend_ids(*reused).at("web/198.18.7.7"), gone) << "the test needs the id reused";
  const NewIds added = ids_new_in(removed.get(), *reused);
  EXPECT_EQ(added.backends, std::vector<uint32_t>{gone});
  EXPECT_EQ(added.services, std::vector<uint32_t>{service_id(*reused, "dns2")});
  EXPECT_EQ(service_id(*reused, "dns2"), dns) << "the test needs the service id reused too";
}

}  // namespace
}  // namespace anylb::test
