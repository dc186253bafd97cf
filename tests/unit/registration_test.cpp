// Self-registration's rules by caller (registration.hpp, issue 25): what a
// registrar may register, heartbeat, deregister and see, that an operator
// keeps its freedom, that what an operator set survives re-registration,
// expiry and deregistration, and the registration ids. The rules are pure
// (an overlay and the merged configuration); expiry runs through a Node
// against a state file, as node_commit_test's do.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <array>
#include <set>

#include "health.hpp"
#include "node.hpp"
#include "node_helpers.hpp"
#include "registration.hpp"

namespace anylb::cp {
namespace {

namespace fs = std::filesystem;

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

Caller registrar(const std::string& owner) {
  Caller c;
  c.role = Role::registrar;
  c.owner = owner;
  c.who = owner;
  return c;
}

Caller tls_registrar(const std::string& owner, std::vector<IpAddress> san) {
  Caller c = registrar(owner);
  c.tls = true;
  c.cert_addresses = std::move(san);
  return c;
}

const Caller kOperator{};

// "web" opts in (198.18.2.0/24, 2 at once, weight 50); "db" does not.
ControlConfig base() {
  ControlConfig c;
  c.node_name = "test";
  c.node_addresses = {ip("198.18.0.2")};
  c.allowed_prefixes = {{ip("203.0.113.0"), 24}};
  c.next_hop_v4 = ip("198.18.0.2");
  c.drain_wait_ms = 0;
  ServiceConfig web;
  web.spec.name = "web";
  web.spec.vip = ip("203.0.113.10");
  web.spec.port = 80;
  web.spec.proto = 6;
  web.check.type = CheckType::exec;
  web.check.command = "exit 1";
  web.check.interval_ms = 60'000;
  web.backends = {BackendConfig{ip("198.18.2.1"), {}, 100, ""}};  // configured, inside the prefixes
  web.registration = RegistrationPolicy{{{ip("198.18.2.0"), 24}}, 2, 50};
  ServiceConfig db = web;
  db.spec.name = "db";
  db.spec.vip = ip("203.0.113.11");
  db.spec.port = 5432;
  db.backends.clear();
  db.registration.reset();
  c.services = {web, db};
  return c;
}

class Rules : public testing::Test {
 protected:
  // Registers through the rules against the overlay as it is, as
  // Node::change would (the merged configuration, and the overlay kept
  // only when taken).
  ChangeError reg(const Caller& who, const std::string& service, const char* address, uint32_t weight = 0,
                  std::string* id = nullptr) {
    return reg_backend(who, service, BackendConfig{ip(address), {}, weight, "API"}, id);
  }
  // With the MAC the caller names.
  ChangeError reg_mac(const Caller& who, const std::string& service, const char* address, const char* mac,
                      std::string* id = nullptr) {
    return reg_backend(who, service, BackendConfig{ip(address), *MacAddress::parse(mac), 0, "API"}, id);
  }
  ChangeError reg_backend(const Caller& who, const std::string& service, const BackendConfig& b, std::string* id) {
    Overlay next = o_;
    std::string rid;
    ChangeError e = register_backend(next, merge(config_, o_), who, {service, b, 10'000}, 1000, rid);
    if (e.kind == ChangeError::none) o_ = std::move(next);
    if (id) *id = rid;
    return e;
  }
  static void refused(const ChangeError& e, ChangeError::Kind kind, const std::string& message) {
    EXPECT_EQ(e.kind, kind) << e.message;
    EXPECT_EQ(e.message, message);
  }
  Overlay o_;
  ControlConfig config_ = base();
};

TEST_F(Rules, ARegistrarRegistersInsideAnOptedInServiceAtItsWeight) {
  std::string id;
  ASSERT_EQ(reg(registrar("uid:1000"), "web", "198.18.2.7", 0, &id).kind, ChangeError::none);
  const Registration& r = o_.registrations.at(id);
  EXPECT_EQ(r.service, "web");
  EXPECT_EQ(r.owner, "uid:1000");
  EXPECT_EQ(r.backend.weight, 50u) << "registration.weight, not the default";
  EXPECT_EQ(reg(registrar("uid:1000"), "web", "198.18.2.8", 50).kind, ChangeError::none) << "its own weight asked";
}

TEST_F(Rules, ARegistrarIsRefusedAServiceThatDoesNotOptIn) {
  refused(reg(registrar("uid:1000"), "db", "198.18.2.7"), ChangeError::denied,
          "backend.service: service 'db' takes no registrations (it has no registration)");
  refused(reg(registrar("uid:1000"), "nope", "198.18.2.7"), ChangeError::not_found,
          "backend.service: no service named 'nope'");
  EXPECT_TRUE(o_.registrations.empty());
}

TEST_F(Rules, ARegistrarIsRefusedAnAddressOutsideThePrefixes) {
  refused(reg(registrar("uid:1000"), "web", "10.9.9.9"), ChangeError::denied,
          "backend.address: 10.9.9.9 is outside service 'web' registration.prefixes (198.18.2.0/24)");
  refused(reg(registrar("uid:1000"), "web", "2001:db8::1"), ChangeError::denied,
          "backend.address: 2001:db8::1 is outside service 'web' registration.prefixes (198.18.2.0/24)");
}

TEST_F(Rules, ARegistrarOverTlsRegistersOnlyItsCertificatesAddresses) {
  const Caller cert = tls_registrar("cert:CN=web7", {ip("198.18.2.7"), ip("2001:db8::7")});
  refused(reg(cert, "web", "198.18.2.8"), ChangeError::denied,
          "backend.address: 198.18.2.8 is not an address the client certificate names (SAN IP: 198.18.2.7, "
          "2001:db8::7)");
  refused(reg(tls_registrar("cert:CN=none", {}), "web", "198.18.2.8"), ChangeError::denied,
          "backend.address: 198.18.2.8 is not an address the client certificate names (SAN IP: none)");
  EXPECT_EQ(reg(cert, "web", "198.18.2.7").kind, ChangeError::none);
  // Outside the prefixes, though its certificate names it: still refused.
  EXPECT_EQ(reg(tls_registrar("cert:CN=x", {ip("10.9.9.9")}), "web", "10.9.9.9").kind, ChangeError::denied);
}

TEST_F(Rules, ARegistrarAskingAnotherWeightIsRefused) {
  refused(reg(registrar("uid:1000"), "web", "198.18.2.7", 70), ChangeError::invalid,
          "backend.weight: 70 is not service 'web' registration.weight (50); leave it 0");
}

// On L2 DSR a backend's MAC is where its share of the VIP's flows goes:
// a registrar names one only where the service lets it.
TEST_F(Rules, ARegistrarNamesItsMacOnlyWhereTheServiceLetsIt) {
  refused(reg_mac(registrar("uid:1000"), "web", "198.18.2.7", "02:00:00:00:02:07"), ChangeError::denied,
          "backend.mac: service 'web' does not let registrars choose their MAC (registration.registrar_mac is "
          "false); leave it empty and the node resolves it from its neighbours");
  EXPECT_TRUE(o_.registrations.empty());
  std::string id;
  ASSERT_EQ(reg(registrar("uid:1000"), "web", "198.18.2.7", 0, &id).kind, ChangeError::none) << "without a MAC";
  EXPECT_TRUE(o_.registrations.at(id).backend.mac.is_zero()) << "left to the neighbour table";
  // An operator names any MAC, registrar_mac or not.
  ASSERT_EQ(reg_mac(kOperator, "web", "198.18.2.8", "02:00:00:00:02:08", &id).kind, ChangeError::none);
  EXPECT_EQ(o_.registrations.at(id).backend.mac.to_string(), "02:00:00:00:02:08");
  // Opted in: the registrar's MAC is taken as sent.
  config_.services[0].registration->registrar_mac = true;
  ASSERT_EQ(reg_mac(registrar("uid:1000"), "web", "198.18.2.7", "02:00:00:00:02:07", &id).kind, ChangeError::none);
  EXPECT_EQ(o_.registrations.at(id).backend.mac.to_string(), "02:00:00:00:02:07");
}

// The merged configuration lacks a configured backend an operator deleted:
// the "already a backend" check alone would let a registrar bring it back.
TEST_F(Rules, ARegistrarCannotBringBackABackendAnOperatorDeleted) {
  o_.deleted_backends.insert({"web", ip("198.18.2.1")});
  refused(reg(registrar("uid:1000"), "web", "198.18.2.1"), ChangeError::denied,
          "backend.address: 198.18.2.1 was deleted from 'web' by an operator; only an operator adds it back");
  EXPECT_TRUE(o_.registrations.empty());
  refused(reg(tls_registrar("cert:CN=web1 sha256:00", {ip("198.18.2.1")}), "web", "198.18.2.1"), ChangeError::denied,
          "backend.address: 198.18.2.1 was deleted from 'web' by an operator; only an operator adds it back");
  // Only that service's: another address, and an operator, are not held to it.
  EXPECT_EQ(reg(registrar("uid:1000"), "web", "198.18.2.7").kind, ChangeError::none);
  EXPECT_EQ(reg(kOperator, "web", "198.18.2.1").kind, ChangeError::none);
}

TEST_F(Rules, NoMoreThanMaxBackendsRegistrations) {
  ASSERT_EQ(reg(registrar("uid:1"), "web", "198.18.2.7").kind, ChangeError::none);
  std::string second;
  ASSERT_EQ(reg(registrar("uid:2"), "web", "198.18.2.8", 0, &second).kind, ChangeError::none);
  refused(reg(registrar("uid:3"), "web", "198.18.2.9"), ChangeError::exhausted,
          "backend.service: service 'web' holds 2 registrations, its registration.max_backends");
  // Re-registering one held replaces it: no room needed.
  EXPECT_EQ(reg(registrar("uid:1"), "web", "198.18.2.7").kind, ChangeError::none);
  // One deregistered still holds its place until it is removed.
  ASSERT_EQ(deregister_backend(o_, registrar("uid:2"), second, 2000).kind, ChangeError::none);
  EXPECT_EQ(reg(registrar("uid:3"), "web", "198.18.2.9").kind, ChangeError::exhausted);
  o_.registrations.erase(second);  // removed (Node::expire_registrations)
  EXPECT_EQ(reg(registrar("uid:3"), "web", "198.18.2.9").kind, ChangeError::none);
  EXPECT_EQ(o_.registrations.size(), 2u);
}

TEST_F(Rules, AnotherOwnersAddressIsRefusedItsOwnReRegisters) {
  std::string first, again;
  ASSERT_EQ(reg(registrar("uid:1"), "web", "198.18.2.7", 0, &first).kind, ChangeError::none);
  refused(reg(registrar("uid:2"), "web", "198.18.2.7"), ChangeError::exists,
          "backend.address: 198.18.2.7 is registered in 'web' by someone else");
  ASSERT_EQ(reg(registrar("uid:1"), "web", "198.18.2.7", 0, &again).kind, ChangeError::none);
  EXPECT_NE(again, first);
  EXPECT_EQ(o_.registrations.size(), 1u) << "the new registration replaces the old";
  EXPECT_FALSE(o_.registrations.count(first));
  // A configured backend is no registrar's to take (nor an operator's).
  refused(reg(registrar("uid:1"), "web", "198.18.2.1"), ChangeError::exists,
          "backend.address: 198.18.2.1 is already a backend of 'web'");
  EXPECT_EQ(reg(kOperator, "web", "198.18.2.1").kind, ChangeError::exists);
}

TEST_F(Rules, AnOperatorKeepsItsFreedom) {
  // Any service, any address, any weight, over another owner's address.
  EXPECT_EQ(reg(kOperator, "db", "10.9.9.9", 70).kind, ChangeError::none);
  ASSERT_EQ(reg(registrar("uid:1"), "web", "198.18.2.7").kind, ChangeError::none);
  ASSERT_EQ(reg(registrar("uid:2"), "web", "198.18.2.8").kind, ChangeError::none);
  EXPECT_EQ(reg(kOperator, "web", "198.18.2.7").kind, ChangeError::none);
  EXPECT_EQ(reg(kOperator, "web", "198.18.2.9").kind, ChangeError::none) << "max_backends binds registrars";
  for (const auto& [id, r] : o_.registrations)
    if (r.service == "db") {
      EXPECT_EQ(r.backend.weight, 70u);
    }
}

TEST_F(Rules, OnlyTheOwnerHeartbeatsDeregistersAndSeesARegistration) {
  std::string mine, theirs;
  ASSERT_EQ(reg(registrar("uid:1"), "web", "198.18.2.7", 0, &mine).kind, ChangeError::none);
  ASSERT_EQ(reg(registrar("uid:2"), "web", "198.18.2.8", 0, &theirs).kind, ChangeError::none);
  // Someone else's id answers as an unknown one.
  EXPECT_EQ(own_registration(o_, registrar("uid:1"), theirs), nullptr);
  refused(deregister_backend(o_, registrar("uid:1"), theirs, 2000), ChangeError::not_found,
          "registration_id: '" + theirs + "' is not registered");
  refused(deregister_backend(o_, registrar("uid:1"), "0123", 2000), ChangeError::not_found,
          "registration_id: '0123' is not registered");
  EXPECT_FALSE(o_.registrations.at(theirs).deregistered_ms);
  // No owner is no one's: an empty owner never matches a registration of
  // an earlier version (owner "").
  o_.registrations["r1"] = Registration{"web", BackendConfig{ip("198.18.2.9"), {}, 50, ""}, 1000, 0, {}, ""};
  EXPECT_EQ(own_registration(o_, registrar(""), "r1"), nullptr);
  EXPECT_NE(own_registration(o_, kOperator, "r1"), nullptr) << "an operator heartbeats any";
  EXPECT_NE(own_registration(o_, registrar("uid:1"), mine), nullptr);
  // What each sees.
  const auto ids = [](const auto& list) {
    std::set<std::string> out;
    for (const auto& [id, r] : list) out.insert(id);
    return out;
  };
  EXPECT_EQ(ids(visible_registrations(o_, registrar("uid:1"), "")), std::set<std::string>{mine});
  EXPECT_EQ(ids(visible_registrations(o_, kOperator, "")), (std::set<std::string>{mine, theirs, "r1"}));
  EXPECT_TRUE(visible_registrations(o_, kOperator, "db").empty());
  // Its own: deregistered, then gone for heartbeats.
  EXPECT_EQ(deregister_backend(o_, registrar("uid:1"), mine, 2000).kind, ChangeError::none);
  EXPECT_EQ(own_registration(o_, registrar("uid:1"), mine), nullptr);
}

TEST_F(Rules, AnOperatorsStateStaysAcrossReRegistration) {
  ASSERT_EQ(reg(registrar("uid:1"), "web", "198.18.2.7").kind, ChangeError::none);
  const BackendId id{"web", ip("198.18.2.7")};
  o_.admin[id] = AdminState::disabled;
  o_.weights[id] = 5;
  ASSERT_EQ(reg(registrar("uid:1"), "web", "198.18.2.7").kind, ChangeError::none);
  EXPECT_EQ(o_.admin.at(id), AdminState::disabled);
  EXPECT_EQ(o_.weights.at(id), 5u);
  const ControlConfig merged = merge(base(), o_);
  for (const BackendConfig& b : merged.services[0].backends)
    if (b.address == id.second) {
      EXPECT_EQ(b.weight, 5u) << "the operator's weight over the registration's";
    }
}

TEST(RegistrationIds, Are128RandomBitsIn32HexDigits) {
  std::set<std::string> seen;
  // (No std::regex: GCC 12's warns maybe-uninitialized under ASan.)
  const auto hex32 = [](const std::string& id) {
    return id.size() == 32 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
  };
  std::array<int, 16> digits{};
  for (int i = 0; i < 1000; ++i) {
    const std::string id = new_registration_id();
    ASSERT_TRUE(hex32(id)) << id;
    for (char ch : id) ++digits[static_cast<std::size_t>(ch <= '9' ? ch - '0' : ch - 'a' + 10)];
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
  // 32000 digits: each of the 16 about 2000 times; a stuck bit would
  // leave some at 0.
  for (int n : digits) EXPECT_GT(n, 1500);
}

// The overlay's JSON: the owner kept, a file of an earlier version (no
// owner, "rN" ids, next_registration) still read, an API service's
// registration kept (registrar_mac too).
TEST(RegistrationState, RoundTripsAndReadsEarlierFiles) {
  Overlay o;
  o.registrations["0123456789abcdef0123456789abcdef"] =
      Registration{"web", BackendConfig{ip("198.18.2.7"), {}, 50, ""}, 10'000, 0, {}, "cert:CN=web7"};
  ServiceConfig api;
  api.spec.name = "api";
  api.spec.vip = ip("203.0.113.12");
  api.spec.port = 443;
  api.spec.proto = 6;
  api.quorum = Quorum{1, 0};
  api.registration = RegistrationPolicy{{{ip("198.18.3.0"), 24}, {ip("2001:db8::"), 64}}, 9, 30, true};
  o.added_services = {api};
  const Overlay back = Overlay::from_json(o.to_json());
  EXPECT_EQ(back.registrations.at("0123456789abcdef0123456789abcdef").owner, "cert:CN=web7");
  ASSERT_EQ(back.added_services.size(), 1u);
  EXPECT_EQ(back.added_services[0].registration, api.registration);
  EXPECT_EQ(o.to_json().find("next_registration"), std::string::npos);

  const std::string earlier = R"({"admin": [], "weights": [], "added_services": [], "deleted_services": [],
    "added_backends": [], "deleted_backends": [], "next_registration": 4,
    "registrations": [{"id": "r3", "service": "web", "address": "198.18.2.7", "mac": "00:00:00:00:00:00",
                       "weight": 100, "ttl_ms": 5000, "deregistered": false}]})";
  const Overlay old = Overlay::from_json(earlier);
  ASSERT_TRUE(old.registrations.count("r3"));
  EXPECT_EQ(old.registrations.at("r3").owner, "");
}

// Through a Node: an operator's admin state and weight hold across a
// registration's expiry and its deregistration, and the backend that
// registers again finds them.
class NodeRegistrations : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("anylb-registration-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  ControlConfig config() const {
    ControlConfig c = base();
    c.dataplane_socket = (dir_ / "no-dataplane.sock").string();
    c.gobgp_api = "unix://" + (dir_ / "no-gobgpd.sock").string();
    c.state_file = (dir_ / "state.json").string();
    return c;
  }
  static std::string register_into(Node& node, const Caller& who, uint64_t ttl_ms) {
    std::string id;
    const ChangeError e = node.change([&](Overlay& o, const ControlConfig& c) {
      return register_backend(o, c, who, {"web", BackendConfig{ip("198.18.2.7"), {}, 0, "API"}, ttl_ms}, monotonic_ms(),
                              id);
    });
    EXPECT_EQ(e.kind, ChangeError::none) << e.message;
    return id;
  }
  static const BackendStatus* backend(const Node& node) {
    static BackendStatus found;
    for (const BackendStatus& b : node.status().backends)
      if (b.address == ip("198.18.2.7")) return &(found = b);
    return nullptr;
  }
  fs::path dir_;
};

TEST_F(NodeRegistrations, AnOperatorsStateHoldsAcrossExpiryAndDeregistration) {
  Node node(config());
  const Caller pod = registrar("uid:1000");
  register_into(node, pod, 100);
  const BackendId id{"web", ip("198.18.2.7")};
  ASSERT_EQ(node.change([&](Overlay& o, const ControlConfig&) {
    o.admin[id] = AdminState::disabled;
    o.weights[id] = 5;
    return ChangeError{};
  }).kind, ChangeError::none);
  node.step(monotonic_ms());
  ASSERT_NE(backend(node), nullptr);
  EXPECT_EQ(backend(node)->admin, AdminState::disabled);

  node.step(monotonic_ms() + 1000);  // heartbeats missing past its TTL (drain wait 0): removed
  EXPECT_EQ(backend(node), nullptr) << "the registration did not expire";
  register_into(node, pod, 10'000);  // the pod, restarted
  node.step(monotonic_ms());
  ASSERT_NE(backend(node), nullptr);
  EXPECT_EQ(backend(node)->admin, AdminState::disabled) << "expiry and re-registration enabled it";
  EXPECT_EQ(backend(node)->weight, 5u);

  const std::string rid = node.registrations(pod, "").at(0).id;
  ASSERT_EQ(node.change([&](Overlay& o, const ControlConfig&) { return deregister_backend(o, pod, rid, monotonic_ms()); })
                .kind,
            ChangeError::none);
  node.step(monotonic_ms() + 10);  // drained out (drain wait 0): removed
  EXPECT_EQ(backend(node), nullptr);
  register_into(node, pod, 10'000);
  node.step(monotonic_ms());
  ASSERT_NE(backend(node), nullptr);
  EXPECT_EQ(backend(node)->admin, AdminState::disabled) << "deregistration and re-registration enabled it";
  EXPECT_EQ(backend(node)->weight, 5u);
  // And on disk, for the next start.
  const Overlay saved = read_state_file(config().state_file);
  EXPECT_EQ(saved.admin.at(id), AdminState::disabled);
  EXPECT_EQ(saved.registrations.begin()->second.owner, "uid:1000");
}

TEST_F(NodeRegistrations, HeartbeatsOnlyTheOwners) {
  Node node(config());
  const std::string id = register_into(node, registrar("uid:1000"), 10'000);
  EXPECT_EQ(node.heartbeat(id, registrar("uid:1000")).kind, ChangeError::none);
  EXPECT_EQ(node.heartbeat(id, kOperator).kind, ChangeError::none);
  const ChangeError e = node.heartbeat(id, registrar("uid:1001"));
  EXPECT_EQ(e.kind, ChangeError::not_found);
  EXPECT_EQ(e.message, "registration_id: '" + id + "' is not registered");
  EXPECT_TRUE(node.registrations(registrar("uid:1001"), "").empty());
  ASSERT_EQ(node.registrations(registrar("uid:1000"), "web").size(), 1u);
  EXPECT_TRUE(node.registrations(registrar("uid:1000"), "web")[0].alive);
}

}  // namespace
}  // namespace anylb::cp
