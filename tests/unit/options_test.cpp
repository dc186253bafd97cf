// anylb::parse_options on argv arrays and temporary config files: help, the
// defaults, and for every kind of bad input an error that names the option
// (and the file and line, for a config file), as invariant 8 asks.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "options.hpp"
#include "printers.hpp"

namespace anylb {
namespace {

using Status = ParseResult::Status;

ParseResult parse(const std::vector<std::string>& args, DataplaneOptions& out) {
  std::vector<const char*> argv = {"anylb-dataplane"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  return parse_options(static_cast<int>(argv.size()), argv.data(), out);
}

ParseResult parse(const std::vector<std::string>& args) {
  DataplaneOptions out;
  return parse(args, out);
}

// A config file in a fresh temporary directory, removed with it.
class ConfigFile {
 public:
  explicit ConfigFile(const std::string& text) {
    std::string templ = ::testing::TempDir() + "anylb-options-XXXXXX";
    if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = templ;
    path_ = dir_ + "/dataplane.conf";
    write(text);
  }
  ~ConfigFile() {
    std::remove(path_.c_str());
    rmdir(dir_.c_str());
  }
  ConfigFile(const ConfigFile&) = delete;
  ConfigFile& operator=(const ConfigFile&) = delete;

  void write(const std::string& text) const { std::ofstream(path_) << text; }
  const std::string& path() const { return path_; }

 private:
  std::string dir_, path_;
};

::testing::AssertionResult mentions(const std::string& message, const std::vector<std::string>& words) {
  for (const std::string& w : words)
    if (message.find(w) == std::string::npos)
      return ::testing::AssertionFailure() << "message does not mention '" << w << "': " << message;
  return ::testing::AssertionSuccess();
}

const std::string kEal = "--eal=-l 0-1 --no-huge";

// --- Help and defaults ---------------------------------------------------------

TEST(Options, HelpMentionsEveryOption) {
  for (const char* flag : {"--help", "-h"}) {
    const ParseResult r = parse({flag});
    ASSERT_EQ(r.status, Status::exit_ok) << flag;
    EXPECT_TRUE(mentions(r.message, {"--help", "--config", "--log-level", "--stats-interval", "--counters-file",
                                     "--eal", "--port", "--rx-descriptors", "--tx-descriptors", "--mbufs",
                                     "--mbuf-cache", "--mtu", "--flow-capacity", "--tcp-timeout",
                                     "--tcp-closing-timeout", "--tcp-syn-timeout", "--udp-timeout",
                                     "--maglev-size", "--max-services", "--max-backends", "--node-address",
                                     "--service", "--backend"}));
  }
}

TEST(Options, DefaultsNeedOnlyTheEalArguments) {
  DataplaneOptions o;
  const ParseResult r = parse({kEal}, o);
  ASSERT_EQ(r.status, Status::run) << r.message;
  EXPECT_EQ(o.eal_args, (std::vector<std::string>{"-l", "0-1", "--no-huge"}));
  EXPECT_EQ(o.mtu, 1500u);
  EXPECT_EQ(o.limits.maglev_size, kMaglevDefaultSize);
  EXPECT_EQ(o.timeouts.tcp_ms, 300'000u);
  EXPECT_EQ(o.timeouts.tcp_closing_ms, 10'000u);
  EXPECT_EQ(o.timeouts.tcp_syn_ms, 10'000u);
  EXPECT_EQ(o.timeouts.udp_ms, 60'000u);
  EXPECT_EQ(o.limits.id_quarantine_ms, 600'000u) << "twice the longest flow timeout";
  EXPECT_EQ(o.log_level, "info");
  EXPECT_TRUE(o.state.services.empty());
}

// The usage line promises "anylb-dataplane [OPTIONS] [-- EAL ARGS]". Boost
// hands the tokens after "--" over as positional options that are not
// "unregistered", so they were once silently dropped.
TEST(Options, EalArgumentsAfterDoubleDashAreAppended) {
  DataplaneOptions o;
  const ParseResult r = parse({"--eal", "-l 0-2", "--mtu", "2030", "--", "--vdev=net_null0", "--no-pci"}, o);
  ASSERT_EQ(r.status, Status::run) << r.message;
  EXPECT_EQ(o.eal_args, (std::vector<std::string>{"-l", "0-2", "--vdev=net_null0", "--no-pci"}));
  EXPECT_EQ(o.mtu, 2030u);
}

// --- Bad values on the command line ---------------------------------------------

struct BadValue {
  std::vector<std::string> args;
  std::vector<std::string> named;  // words the error must contain
};

TEST(Options, BadValuesAreUsageErrorsNamingTheOption) {
  const std::vector<BadValue> cases = {
      {{"--mtu", "abc"}, {"mtu"}},
      {{"--mtu", "100"}, {"mtu"}},
      {{"--mtu", "2031"}, {"mtu", "2030"}},  // a jumbo frame would not fit one mbuf
      {{"--mtu", "9000"}, {"mtu"}},
      {{"--maglev-size", "65536"}, {"maglev-size", "65536", "prime"}},
      {{"--maglev-size", "5"}, {"maglev-size"}},
      {{"--maglev-size", "16777259"}, {"maglev-size"}},  // prime, but above 2^24
      {{"--log-level", "loud"}, {"log-level", "loud"}},
      {{"--bgp-peer", "router1"}, {"bgp-peer", "router1", "not an IPv4 or IPv6 address"}},
      {{"--gtsm-peer", "router1"}, {"gtsm-peer", "router1", "not an IPv4 or IPv6 address"}},
      {{"--probe-ports", "61000"}, {"probe-ports", "61000", "FIRST-LAST"}},
      {{"--flow-capacity", "0"}, {"flow-capacity"}},
      {{"--flow-capacity", "lots"}, {"flow-capacity"}},
      {{"--tcp-timeout", "0"}, {"tcp-timeout"}},
      {{"--tcp-syn-timeout", "0"}, {"tcp-syn-timeout"}},
      {{"--tcp-syn-timeout", "604801"}, {"tcp-syn-timeout"}},
      {{"--tcp-closing-timeout", "x"}, {"tcp-closing-timeout"}},
      {{"--udp-timeout", "700000"}, {"udp-timeout"}},
      {{"--stats-interval", "0"}, {"stats-interval"}},
      {{"--mbufs", "10"}, {"mbufs"}},
      {{"--mbuf-cache", "513"}, {"mbuf-cache"}},
      {{"--rx-descriptors", "8"}, {"rx-descriptors"}},
      // Negative: the unsigned parse wraps them to their largest value.
      {{"--rx-descriptors", "-1"}, {"rx-descriptors"}},
      {{"--tx-descriptors", "-1"}, {"tx-descriptors"}},
      {{"--mbufs", "-2"}, {"mbufs"}},
      {{"--exception-rate", "-1"}, {"exception-rate"}},
      {{"--exception-rate", "20000000"}, {"exception-rate"}},
      {{"--service", "name=web vip=224.0.0.5"}, {"service", "vip", "224.0.0.5", "unicast"}},
      {{"--service", "name=web vip=fe80::10"}, {"service", "vip", "link-local"}},
      {{"--node-address", "127.0.0.1"}, {"node-address", "127.0.0.1", "unicast"}},
      {{"--service", "name=web vip=203.0.113.10", "--backend",
        "service=web address=198.18.1.10 mac=ff:ff:ff:ff:ff:ff"},
       {"backend", "mac", "group"}},
      {{"--max-services", "0"}, {"max-services"}},
      {{"--max-backends", "0"}, {"max-backends"}},
      // Past what one API message carries (api_limits.hpp).
      {{"--max-backends", "1000001"}, {"max-backends", "1000000"}},
      {{"--max-services", "1000001"}, {"max-services", "1000000"}},
      {{"--bogus", "1"}, {"bogus"}},
      // A value holding Boost's own placeholder: its message loops for ever
      // unless the '%' is escaped (po_error_text.hpp; tests/fuzz found it).
      {{"--mtu", "1%value%"}, {"mtu", "1%25value%25"}},
      {{"--flow-capacity", "%original_token%"}, {"flow-capacity", "%25original_token%25"}},
      {{"--config", "/nonexistent/anylb.conf"}, {"config", "/nonexistent/anylb.conf"}},
      {{"--node-address", "nowhere"}, {"node-address", "nowhere", "command line"}},
      {{"--service", "name=web vip=203.0.113.10 port=http"}, {"service", "port", "http", "command line"}},
      {{"--service", "name=web vip=203.0.113.10 colour=red"}, {"service", "colour"}},
      {{"--service", "name=web vip=203.0.113.10", "--backend", "service=web address=198.18.1.10 mac=zz"},
       {"backend", "mac", "zz"}},
      // Backends no probe or packet could reach as hosts of their own.
      {{"--service", "name=web vip=203.0.113.10", "--backend", "service=web address=0.0.0.0"},
       {"backend", "0.0.0.0", "address", "unicast"}},
      {{"--service", "name=web vip=203.0.113.10", "--backend", "service=web address=127.0.0.1"},
       {"backend", "127.0.0.1", "address", "unicast"}},
      {{"--service", "name=web vip=203.0.113.10", "--backend", "service=web address=224.0.0.5"},
       {"backend", "224.0.0.5", "address", "unicast"}},
      {{"--service", "name=web vip=2001:db8::10", "--backend", "service=web address=::ffff:198.18.1.10"},
       {"backend", "address", "unicast"}},
      {{"--service", "name=web vip=2001:db8::10", "--backend", "service=web address=fe80::1"},
       {"backend", "fe80::1", "link-local"}},
      {{"--service", "name=web vip=203.0.113.10", "--backend", "service=web address=203.0.113.10"},
       {"backend", "203.0.113.10", "VIP"}},
      {{"--node-address", "198.18.0.2", "--service", "name=web vip=203.0.113.10", "--backend",
        "service=web address=198.18.0.2"},
       {"backend", "198.18.0.2", "node's addresses"}},
  };
  for (const BadValue& c : cases) {
    std::vector<std::string> args = {kEal};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const ParseResult r = parse(args);
    EXPECT_EQ(r.status, Status::usage_error) << c.args[0] << " " << (c.args.size() > 1 ? c.args[1] : "");
    EXPECT_TRUE(mentions(r.message, c.named)) << "for " << c.args[0];
  }
}

TEST(Options, MissingEalIsAnError) {
  const ParseResult r = parse({"--mtu", "1500"});
  EXPECT_EQ(r.status, Status::usage_error);
  EXPECT_TRUE(mentions(r.message, {"eal"}));
}

// --- Errors in a config file ------------------------------------------------------

struct BadFile {
  std::string name;
  std::string text;
  std::vector<std::string> named;  // besides the file's path
};

TEST(Options, ConfigFileErrorsNameTheFileAndLine) {
  const std::string eal = "eal = -l 0-1\n";
  const std::string web = "service = name=web vip=203.0.113.10 proto=tcp port=80\n";
  const std::vector<BadFile> cases = {
      {"bad service value", "# a comment\n" + eal + "service = name=web vip=203.0.113.10 proto=tcp port=http\n",
       {"line 3", "port", "http"}},
      {"unknown service key", eal + "\n" + "service = name=web vip=203.0.113.10 speed=fast\n", {"line 3", "speed"}},
      {"unknown option", eal + "bogus = 1\n", {"line 2", "bogus"}},
      {"bad option value", eal + "\n\n" + "mtu = abc\n", {"line 4", "mtu"}},
      {"value out of range", eal + "maglev-size = 65536\n", {"maglev-size"}},
      {"line without a value", eal + "mtu 1500\n", {"line 2"}},
      {"nested config", eal + "config = /etc/other.conf\n", {"line 2", "config"}},
      {"backend of an unknown service", eal + web + "# backends\n\n" +
                                            "backend = service=nosuch address=198.18.1.10 mac=02:00:00:00:01:0a\n",
       {"line 5", "nosuch"}},
      {"duplicate backend", eal + web + "backend = service=web address=198.18.1.10 mac=02:00:00:00:01:0a\n" +
                                "backend = service=web address=198.18.1.10 mac=02:00:00:00:01:0b\n",
       {"line 4", "198.18.1.10", "already"}},
      {"bad backend mac", eal + web + "backend = service=web address=198.18.1.10 mac=02:00:00:00:01\n",
       {"line 3", "mac"}},
      {"duplicate service name", eal + web + "service = name=web vip=203.0.113.11 proto=tcp port=80\n",
       {"line 3", "web"}},
      {"bad node address", eal + "node-address = 198.18.0.300\n", {"line 2", "node-address", "198.18.0.300"}},
  };
  for (const BadFile& c : cases) {
    ConfigFile file(c.text);
    const ParseResult r = parse({"--config", file.path()});
    EXPECT_EQ(r.status, Status::usage_error) << c.name;
    std::vector<std::string> named = c.named;
    if (c.name != "value out of range") named.push_back(file.path());
    EXPECT_TRUE(mentions(r.message, named)) << c.name;
  }
}

// Values of repeatable options come from the command line first, then the
// file: each error must still name where its own value was written.
TEST(Options, ErrorsNameTheRightOriginWhenBothSourcesGiveValues) {
  ConfigFile file("eal = -l 0-1\nservice = name=web vip=203.0.113.10 proto=tcp port=80\n"
                  "service = name=bad vip=203.0.113.11 proto=sctp\n");
  const ParseResult r = parse({"--config", file.path(), "--service", "name=ok vip=203.0.113.12 port=443"});
  EXPECT_EQ(r.status, Status::usage_error);
  EXPECT_TRUE(mentions(r.message, {file.path(), "line 3", "proto", "sctp"}));

  file.write("eal = -l 0-1\nservice = name=web vip=203.0.113.10 proto=tcp port=80\n");
  const ParseResult r2 = parse({"--config", file.path(), "--service", "name=bad vip=203.0.113.12 port=0"});
  EXPECT_EQ(r2.status, Status::usage_error);
  EXPECT_TRUE(mentions(r2.message, {"command line", "port"}));
  EXPECT_EQ(r2.message.find(file.path()), std::string::npos) << r2.message;
}

// --- A valid configuration ---------------------------------------------------------

// A backend may leave its MAC out: the dataplane then takes it from the
// kernel's neighbour table on the exception interface.
TEST(Options, BackendWithoutMacIsAccepted) {
  DataplaneOptions o;
  const ParseResult r = parse({"--eal", "-l 0-1", "--service", "name=web vip=203.0.113.10",
                               "--backend", "service=web address=198.18.1.10"}, o);
  ASSERT_EQ(r.status, Status::run) << r.message;
  ASSERT_EQ(o.state.backends.size(), 1u);
  EXPECT_TRUE(o.state.backends[0].mac.is_zero());
}

TEST(Options, ValidConfigFillsTheOptions) {
  ConfigFile file(
      "# lab node\n"
      "eal = -l 0-2 --no-huge\n"
      "port = net_tap0\n"
      "port = net_tap1\n"
      "mtu = 1500\n"
      "flow-capacity = 4096\n"
      "tcp-timeout = 120\n"
      "tcp-closing-timeout = 5\n"
      "tcp-syn-timeout = 3\n"
      "udp-timeout = 30\n"
      "maglev-size = 655373\n"
      "log-level = debug\n"
      "node-address = 198.18.0.2\n"
      "node-address = 2001:db8:f::2\n"
      "service = name=web vip=203.0.113.10 proto=tcp port=80 mode=l2-dsr\n"
      "service = name=dns vip=2001:db8:a::53 proto=udp port=any mode=gue gue-port=6081 fragments=hash\n"
      "backend = service=web address=198.18.1.10 mac=02:00:00:00:01:0a\n"
      "backend = service=web address=198.18.1.11 mac=02:00:00:00:01:0b weight=50 state=draining\n"
      "backend = service=dns address=2001:db8:b::1 mac=02:00:00:00:02:01 state=down\n"
      "bgp-peer = 198.18.0.1\n"
      "gtsm-peer = 198.18.0.1\n"
      "probe-ports = 61000-61999\n");
  DataplaneOptions o;
  const ParseResult r = parse({"--config", file.path(), "--mtu", "2000", "--backend",
                               "service=web address=198.18.1.12 mac=02:00:00:00:01:0c"},
                              o);
  ASSERT_EQ(r.status, Status::run) << r.message;

  EXPECT_EQ(o.config_file, file.path());
  EXPECT_EQ(o.eal_args, (std::vector<std::string>{"-l", "0-2", "--no-huge"}));
  EXPECT_EQ(o.ports, (std::vector<std::string>{"net_tap0", "net_tap1"}));
  EXPECT_EQ(o.mtu, 2000u) << "the command line wins over the file";
  EXPECT_EQ(o.flow_capacity, 4096u);
  EXPECT_EQ(o.timeouts.tcp_ms, 120'000u);
  EXPECT_EQ(o.timeouts.tcp_closing_ms, 5'000u);
  EXPECT_EQ(o.timeouts.tcp_syn_ms, 3'000u);
  EXPECT_EQ(o.timeouts.udp_ms, 30'000u);
  EXPECT_EQ(o.limits.id_quarantine_ms, 240'000u);
  EXPECT_EQ(o.limits.maglev_size, 655373u);
  EXPECT_EQ(o.log_level, "debug");

  const DesiredState& s = o.state;
  ASSERT_EQ(s.node_addresses.size(), 2u);
  EXPECT_EQ(s.node_addresses[1], *IpAddress::parse("2001:db8:f::2"));
  ASSERT_EQ(s.services.size(), 2u);
  EXPECT_EQ(s.services[0].name, "web");
  EXPECT_EQ(s.services[0].port, 80);
  EXPECT_EQ(s.services[0].proto, kProtoTcp);
  EXPECT_EQ(s.services[0].mode, ForwardingMode::l2_dsr);
  EXPECT_EQ(s.services[0].fragments, FragmentPolicy::drop);
  EXPECT_EQ(s.services[1].vip, *IpAddress::parse("2001:db8:a::53"));
  EXPECT_EQ(s.services[1].port, kAnyPort);
  EXPECT_EQ(s.services[1].proto, kProtoUdp);
  EXPECT_EQ(s.services[1].mode, ForwardingMode::gue);
  EXPECT_EQ(s.services[1].gue_port, 6081);
  EXPECT_EQ(s.services[1].fragments, FragmentPolicy::hash);
  EXPECT_TRUE(mentions(s.services[1].origin, {file.path(), "line 16"}));

  ASSERT_EQ(s.backends.size(), 4u) << "repeatable options add up across command line and file";
  EXPECT_EQ(s.backends[0].address, *IpAddress::parse("198.18.1.12")) << "command-line values come first";
  EXPECT_EQ(s.backends[0].origin, "command line");
  EXPECT_EQ(s.backends[1].weight, 100u);
  EXPECT_EQ(s.backends[1].state, BackendState::up);
  EXPECT_EQ(s.backends[1].mac, *MacAddress::parse("02:00:00:00:01:0a"));
  EXPECT_EQ(s.backends[2].weight, 50u);
  EXPECT_EQ(s.backends[2].state, BackendState::draining);
  EXPECT_TRUE(mentions(s.backends[2].origin, {file.path(), "line 18"}));
  EXPECT_EQ(s.backends[3].service, "dns");
  EXPECT_EQ(s.backends[3].state, BackendState::down);
  EXPECT_EQ(s.bgp_peers, (std::vector<IpAddress>{*IpAddress::parse("198.18.0.1")}));
  EXPECT_EQ(s.gtsm_peers, (std::vector<IpAddress>{*IpAddress::parse("198.18.0.1")}));
  EXPECT_EQ(s.probe_ports, (PortRange{61000, 61999}));
}

TEST(Options, ReloadRereadsTheDesiredState) {
  ConfigFile file("eal = -l 0-1\nservice = name=web vip=203.0.113.10 port=80\n"
                  "backend = service=web address=198.18.1.10 mac=02:00:00:00:01:0a\n");
  const std::vector<const char*> argv = {"anylb-dataplane", "--config", file.path().c_str()};
  const int argc = static_cast<int>(argv.size());
  DesiredState s;
  ASSERT_EQ(reload_desired_state(argc, argv.data(), s).status, Status::run);
  ASSERT_EQ(s.backends.size(), 1u);

  file.write("eal = -l 0-1\nservice = name=web vip=203.0.113.10 port=80\n"
             "backend = service=web address=198.18.1.10 mac=02:00:00:00:01:0a\n"
             "backend = service=web address=198.18.1.11 mac=02:00:00:00:01:0b state=down\n");
  ASSERT_EQ(reload_desired_state(argc, argv.data(), s).status, Status::run);
  ASSERT_EQ(s.backends.size(), 2u);
  EXPECT_EQ(s.backends[1].state, BackendState::down);

  file.write("eal = -l 0-1\nservice = name=web vip=203.0.113.10 port=80\n"
             "backend = service=web address=198.18.1.10 mac=02:00:00:00:01:0a weight=0\n");
  const ParseResult bad = reload_desired_state(argc, argv.data(), s);
  EXPECT_EQ(bad.status, Status::usage_error);
  EXPECT_TRUE(mentions(bad.message, {"line 3", "weight"}));
}

}  // namespace
}  // namespace anylb
