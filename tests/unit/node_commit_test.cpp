// Node::commit, the one way a configuration change takes effect, seen
// through registration expiry: merged, validated, persisted, then applied,
// so the state file always holds what runs and what the next start takes.
// No gobgpd and no dataplane answer here (their sockets do not exist), and
// the check is an exec that probes nothing.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "node.hpp"
#include "health.hpp"
#include "node_helpers.hpp"

namespace anylb::cp {
namespace {

namespace fs = std::filesystem;

IpAddress ip(const char* text) { return *IpAddress::parse(text); }

class NodeCommit : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("anylb-node-commit-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "state");
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  ControlConfig config() const {
    ControlConfig c;
    c.node_name = "test";
    c.dataplane_socket = (dir_ / "no-dataplane.sock").string();
    c.gobgp_api = "unix://" + (dir_ / "no-gobgpd.sock").string();
    c.node_addresses = {ip("198.18.0.2")};
    c.allowed_prefixes = {{ip("203.0.113.0"), 24}};
    c.next_hop_v4 = ip("198.18.0.2");
    c.drain_wait_ms = 0;
    c.state_file = state_file();
    ServiceConfig s;
    s.spec.name = "web";
    s.spec.vip = ip("203.0.113.10");
    s.spec.port = 80;
    s.spec.proto = 6;
    s.check.type = CheckType::exec;
    s.check.command = "exit 1";
    s.check.interval_ms = 60'000;
    s.backends = {BackendConfig{ip("198.18.1.1"), {}, 100, ""}};
    c.services = {s};
    return c;
  }
  std::string state_file() const { return (dir_ / "state" / "cp-state.json").string(); }

  // A state file with one registration into web, whose TTL is short.
  void write_registration() const {
    Overlay o;
    o.registrations["r1"] = Registration{"web", BackendConfig{ip("198.18.1.9"), {}, 100, ""}, 100, 0, {}, ""};
    o.admin[{"web", ip("198.18.1.9")}] = AdminState::draining;
    std::ofstream(state_file()) << o.to_json();
  }

  static bool registered(const Node& node) {
    for (const BackendStatus& b : node.status().backends)
      if (b.address == ip("198.18.1.9")) return b.registered;
    return false;
  }

  fs::path dir_;
};

uint64_t later(uint64_t ms) { return monotonic_ms() + ms; }

TEST_F(NodeCommit, AnExpiredRegistrationLeavesWhatRunsAndTheStateFileTogether) {
  write_registration();
  Node node(config());
  node.step(monotonic_ms());
  ASSERT_TRUE(registered(node)) << "the state file's registration is not running";
  node.step(later(1000));  // its heartbeats missing for over its TTL (and a drain wait of 0)
  EXPECT_FALSE(registered(node));
  const Overlay saved = read_state_file(state_file());
  EXPECT_TRUE(saved.registrations.empty());
  // What an operator set holds for the backend when it registers again
  // (issue 25: a registration never overrides an operator).
  EXPECT_EQ(saved.admin.size(), 1u) << "the operator's admin state went with the registration";
  EXPECT_NO_THROW(Node again(config())) << "the next start refuses the file expiry wrote";
}

TEST_F(NodeCommit, AnExpiryThatCannotBePersistedIsNotApplied) {
  write_registration();
  Node node(config());
  node.step(monotonic_ms());
  ASSERT_TRUE(registered(node));
  // The state file's directory turned into a file: nothing can be written.
  fs::rename(dir_ / "state", dir_ / "state.away");
  std::ofstream(dir_ / "state") << "not a directory";
  node.step(later(1000));
  EXPECT_TRUE(registered(node)) << "expired in memory while the state file keeps it";
  // Writable again: the next pass removes it, in memory and on disk alike.
  fs::remove(dir_ / "state");
  fs::rename(dir_ / "state.away", dir_ / "state");
  node.step(later(1200));
  EXPECT_FALSE(registered(node));
  EXPECT_TRUE(read_state_file(state_file()).registrations.empty());
}

TEST_F(NodeCommit, AnApiChangeThatFailsValidationWritesNothing) {
  Node node(config());
  const auto before = fs::exists(state_file()) ? fs::last_write_time(state_file()) : fs::file_time_type{};
  const ChangeError e = node.change([](Overlay& o, const ControlConfig&) {
    o.added_backends[{"web", ip("198.18.1.1")}] = BackendConfig{ip("198.18.1.1"), {}, 100, ""};  // the YAML's
    return ChangeError{};
  });
  EXPECT_EQ(e.kind, ChangeError::invalid) << e.message;
  EXPECT_NE(e.message.find("already a backend of service 'web'"), std::string::npos) << e.message;
  EXPECT_EQ(fs::exists(state_file()) ? fs::last_write_time(state_file()) : fs::file_time_type{}, before);
}

// A service outside node.allowed_prefixes, as the API adds it: refused
// naming the field, nothing written (issue 25: 8.8.8.8 was announced).
TEST_F(NodeCommit, AServiceOutsideTheAllowedPrefixesIsRefused) {
  Node node(config());
  const auto before = fs::exists(state_file()) ? fs::last_write_time(state_file()) : fs::file_time_type{};
  const ChangeError e = node.change([](Overlay& o, const ControlConfig&) {
    ServiceConfig s;
    s.spec.name = "notours";
    s.spec.vip = ip("8.8.8.8");
    s.spec.port = 80;
    s.spec.origin = "API";
    o.added_services.push_back(s);
    return ChangeError{};
  });
  EXPECT_EQ(e.kind, ChangeError::invalid) << e.message;
  EXPECT_EQ(e.message.rfind("service.vip: service 'notours': vip '8.8.8.8' is outside node.allowed_prefixes "
                            "(203.0.113.0/24)", 0), 0u) << e.message;
  EXPECT_EQ(fs::exists(state_file()) ? fs::last_write_time(state_file()) : fs::file_time_type{}, before);
}

// A quorum read from the state file is range-checked like the YAML's: a
// restored quorum of 0 would announce a VIP with no healthy backend.
TEST_F(NodeCommit, AStateFileQuorumOutOfRangeIsRefusedNamingIt) {
  Overlay o;
  ServiceConfig api;
  api.spec.name = "api";
  api.spec.vip = ip("203.0.113.11");
  api.spec.port = 443;
  api.spec.proto = 6;
  api.quorum = Quorum{1, 0};
  o.added_services = {api};
  for (const char* bad : {"0", "65535", "-1"}) {
    std::string text = o.to_json();
    const auto at = text.find("\"quorum\": 1");
    ASSERT_NE(at, std::string::npos) << text;
    text.replace(at, 11, std::string("\"quorum\": ") + bad);
    std::ofstream(state_file()) << text;
    try {
      Node node(config());
      ADD_FAILURE() << "a state file with quorum " << bad << " was taken";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("added_services[0]: key 'quorum': " + std::string(bad)), std::string::npos)
          << e.what();
    }
  }
  std::ofstream(state_file()) << o.to_json();
  EXPECT_NO_THROW(Node node(config()));
}

}  // namespace
}  // namespace anylb::cp
