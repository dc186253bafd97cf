// The control plane's YAML configuration: the example parses; errors name
// the file, the line and the key.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "config.hpp"

namespace anylb::cp {
namespace {

std::string write(const std::string& text) {
  static int n = 0;
  const std::string path = ::testing::TempDir() + "/cp_config_" + std::to_string(n++) + ".yaml";
  std::ofstream(path) << text;
  return path;
}

const char* kGood = R"(node:
  name: n1
  node_addresses: [198.18.0.1]
  allowed_prefixes: [203.0.0.0/16]
services:
  - name: web
    vip: 203.0.113.10
    protocol: tcp
    port: 80
    quorum: 50%
    hold_down: 2s
    communities: [no-export, nopeer, "65000:7"]
    check: {type: http, interval: 500ms, timeout: 200ms}
    backends:
      - {address: 198.18.1.10, mac: "02:00:00:00:00:01"}
      - {address: 198.18.1.11, mac: "02:00:00:00:00:02", weight: 7}
covering_prefixes:
  - {prefix: 203.0.113.0/24, policy: all, services: [web]}
)";

TEST(ControlConfig, ExampleFileParses) {
  const ControlConfig c = load_config(ANYLB_SOURCE_ROOT "/configs/controlplane-example.yaml");
  EXPECT_EQ(c.services.size(), 3u);
  EXPECT_EQ(c.covers.size(), 1u);
}

TEST(ControlConfig, ValuesLand) {
  const ControlConfig c = load_config(write(kGood));
  ASSERT_EQ(c.services.size(), 1u);
  const ServiceConfig& s = c.services[0];
  EXPECT_EQ(s.quorum.percent, 50u);
  EXPECT_EQ(s.hold_down_ms, 2000u);
  EXPECT_EQ(s.communities, (std::vector<uint32_t>{0xFFFFFF01, 0xFFFFFF04, (65000u << 16) | 7}));
  EXPECT_EQ(s.check.type, CheckType::http);
  EXPECT_EQ(s.check.interval_ms, 500u);
  EXPECT_EQ(s.backends[1].weight, 7u);
  EXPECT_EQ(c.next_hop_v4->to_string(), "198.18.0.1");
  EXPECT_EQ(c.covers[0].policy, CoverPolicy::all);
  EXPECT_EQ(c.covers[0].length, 24u);
  EXPECT_EQ(c.probe_source_ports, (PortRange{61000, 61999})) << "outside the kernel's ephemeral range";
}

TEST(ControlConfig, HealthSourcePorts) {
  EXPECT_EQ(load_config(write(std::string(kGood) + "health: {source_ports: 40000-40999}\n")).probe_source_ports,
            (PortRange{40000, 40999}));
  EXPECT_TRUE(load_config(write(std::string(kGood) + "health: {source_ports: any}\n")).probe_source_ports.any());
}

void expect_error(const std::string& yaml, const std::string& line, const std::string& key) {
  const std::string path = write(yaml);
  try {
    load_config(path);
    FAIL() << "accepted:\n" << yaml;
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(path + " line " + line), std::string::npos) << m;
    EXPECT_NE(m.find("'" + key + "'"), std::string::npos) << m;
  }
}

// The reproduction in issue 25: a VIP that is not ours is refused, as are
// lists that would allow anything, naming the key.
TEST(ControlConfig, OnlyAllowedPrefixesAreAnnounced) {
  const std::string good = kGood;
  const auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    return s.replace(s.find(from), from.size(), to);
  };
  expect_error(with("  allowed_prefixes: [203.0.0.0/16]\n", ""), "2", "node.allowed_prefixes");
  expect_error(with("[203.0.0.0/16]", "[]"), "4", "node.allowed_prefixes");
  expect_error(with("[203.0.0.0/16]", "[0.0.0.0/0]"), "4", "node.allowed_prefixes[0]");
  expect_error(with("[203.0.0.0/16]", "[198.0.0.0/7]"), "4", "node.allowed_prefixes[0]");
  expect_error(with("[203.0.0.0/16]", "[\"::/8\"]"), "4", "node.allowed_prefixes[0]");
  expect_error(with("[203.0.0.0/16]", "[203.0.113.1/24]"), "4", "node.allowed_prefixes[0]");
  expect_error(with("[203.0.0.0/16]", "[203.0.113.0/24, nonsense]"), "4", "node.allowed_prefixes[1]");
  expect_error(with("vip: 203.0.113.10", "vip: 8.8.8.8"), "7", "services[0].vip");
  // A covering prefix wider than what is allowed (the VIP inside both).
  expect_error(with("[203.0.0.0/16]", "[203.0.113.0/25]"), "18", "covering_prefixes[0].prefix");
  try {
    load_config(write(with("vip: 203.0.113.10", "vip: 8.8.8.8")));
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'8.8.8.8' is outside node.allowed_prefixes (203.0.0.0/16)"),
              std::string::npos) << e.what();
  }
  // Equal or more specific counts as inside; either family.
  const ControlConfig c = load_config(write(with("[203.0.0.0/16]", "[203.0.0.0/16, \"2001:db8::/32\"]")));
  EXPECT_EQ(c.allowed_prefixes.size(), 2u);
  EXPECT_EQ(c.allowed_prefixes[1].to_string(), "2001:db8::/32");
}

// A service's opt-in to registrars (issue 25): its values land, and each
// mistake is refused naming its line and key.
TEST(ControlConfig, RegistrationOptIn) {
  const std::string with = std::string(kGood).replace(std::string(kGood).find("    backends:"), 0,
                                                       "    registration: {prefixes: [198.18.2.0/24, \"2001:db8::/64\"], "
                                                       "max_backends: 8, weight: 50}\n");
  const ControlConfig c = load_config(write(with));
  ASSERT_TRUE(c.services[0].registration);
  const RegistrationPolicy& p = *c.services[0].registration;
  ASSERT_EQ(p.prefixes.size(), 2u);
  EXPECT_EQ(p.prefixes[0].to_string(), "198.18.2.0/24");
  EXPECT_EQ(p.prefixes[1].to_string(), "2001:db8::/64");
  EXPECT_EQ(p.max_backends, 8u);
  EXPECT_EQ(p.weight, 50u);
  EXPECT_FALSE(p.registrar_mac) << "a registrar's MAC is opt-in";
  EXPECT_FALSE(load_config(write(kGood)).services[0].registration) << "no registration: registrars refused";
  const std::string mac = std::string(kGood).replace(std::string(kGood).find("    backends:"), 0,
                                                      "    registration: {prefixes: [198.18.2.0/24], max_backends: 8, "
                                                      "registrar_mac: true}\n");
  EXPECT_TRUE(load_config(write(mac)).services[0].registration->registrar_mac);
  const auto bad = [&](const std::string& reg, const std::string& key) {
    const std::string text = std::string(kGood).replace(std::string(kGood).find("    backends:"), 0,
                                                         "    registration: " + reg + "\n");
    expect_error(text, "14", key);
  };
  bad("{max_backends: 8}", "services[0].registration.prefixes");
  bad("{prefixes: [], max_backends: 8}", "services[0].registration.prefixes");
  bad("{prefixes: [198.18.2.1/24], max_backends: 8}", "services[0].registration.prefixes[0]");
  bad("{prefixes: [198.18.2.0/24, nonsense], max_backends: 8}", "services[0].registration.prefixes[1]");
  bad("{prefixes: [198.18.2.0/24]}", "services[0].registration.max_backends");
  bad("{prefixes: [198.18.2.0/24], max_backends: 0}", "services[0].registration.max_backends");
  bad("{prefixes: [198.18.2.0/24], max_backends: 65535}", "services[0].registration.max_backends");
  bad("{prefixes: [198.18.2.0/24], max_backends: 8, weight: 0}", "services[0].registration.weight");
  bad("{prefixes: [198.18.2.0/24], max_backends: 8, weight: 10001}", "services[0].registration.weight");
  bad("{prefixes: [198.18.2.0/24], max_backends: 8, ttl: 5}", "services[0].registration.ttl");
  bad("{prefixes: [198.18.2.0/24], max_backends: 8, registrar_mac: yes}", "services[0].registration.registrar_mac");
  bad("yes", "services[0].registration");
}

TEST(ControlConfig, ErrorsNameLineAndKey) {
  std::string bad = kGood;
  expect_error(std::string(kGood).replace(bad.find("port: 80"), 8, "port: 99999"), "9", "services[0].port");
  expect_error(std::string(kGood).replace(bad.find("quorum: 50%"), 11, "quorum: 150%"), "10", "services[0].quorum");
  expect_error(std::string(kGood).replace(bad.find("hold_down: 2s"), 13, "hold_down: 2x"), "11", "services[0].hold_down");
  // A number of minutes that would wrap when turned into milliseconds.
  expect_error(std::string(kGood).replace(bad.find("hold_down: 2s"), 13, "hold_down: 307445734561825861m"), "11",
               "services[0].hold_down");
  expect_error(std::string(kGood).replace(bad.find("interval: 500ms"), 15, "interval: 61m"), "13",
               "services[0].check.interval");
  expect_error(std::string(kGood).replace(bad.find("  name: n1"), 10, "  ? [a]\n  : 1"), "2", "node");
  expect_error(std::string(kGood).replace(bad.find("  name: n1"), 10, "  name: \"n 1\""), "2", "node.name");
  expect_error(std::string(kGood).replace(bad.find("type: http,"), 11, "type: udp-dns, dns_name: a..b,"), "13",
               "services[0].check.dns_name");
  expect_error(std::string(kGood).replace(bad.find("\"65000:7\""), 9, "\"70000:7\""), "12", "services[0].communities[2]");
  expect_error(std::string(kGood).replace(bad.find("type: http"), 10, "type: smtp"), "13", "services[0].check.type");
  // Keys another type of check reads: refused, not silently ignored.
  expect_error(std::string(kGood).replace(bad.find("type: http"), 10, "type: tcp, path: /h"), "13",
               "services[0].check.path");
  expect_error(std::string(kGood).replace(bad.find("type: http"), 10, "type: http, dns_name: a.b"), "13",
               "services[0].check.dns_name");
  expect_error(std::string(kGood).replace(bad.find("type: http"), 10, "type: icmp, port: 80"), "13",
               "services[0].check.port");
  expect_error(std::string(kGood).replace(bad.find("type: http"), 10, "type: exec, command: x, expect_status: 200"),
               "13", "services[0].check.expect_status");
  expect_error(std::string(kGood).replace(bad.find("198.18.1.11"), 11, "198.18.1.10"), "16",
               "services[0].backends[1].address");
  expect_error(std::string(kGood).replace(bad.find("policy: all"), 11, "policy: most"), "18",
               "covering_prefixes[0].policy");
  expect_error(std::string(kGood).replace(bad.find("services: [web]"), 15, "services: [www]"), "18",
               "covering_prefixes[0].services[0]");
  expect_error(std::string(kGood).replace(bad.find("  name: n1"), 10, "  nmae: n1"), "2", "node.nmae");
  expect_error(std::string(kGood).replace(bad.find("name: web"), 9, "name: \"web prod\""), "6", "services[0].name");
  expect_error(std::string(kGood).replace(bad.find("vip: 203.0.113.10"), 17, "vip: \"203.0.113.10 x\""), "7",
               "services[0].vip");
  expect_error(std::string(kGood).replace(bad.find("203.0.113.0/24"), 14, "203.0.113.5/24"), "18",
               "covering_prefixes[0].prefix");
  expect_error(std::string(kGood).replace(bad.find("203.0.113.0/24"), 14, "203.0.113.0/24x"), "18",
               "covering_prefixes[0].prefix");
  expect_error(std::string(kGood).replace(bad.find("203.0.113.0/24"), 14, "203.0.114.0/24"), "18",
               "covering_prefixes[0].services[0]");  // web's VIP is not inside it
  expect_error(std::string(kGood).replace(bad.find("203.0.113.0/24"), 14, "2001:db8::/32"), "18",
               "covering_prefixes[0].prefix");  // no IPv6 next hop
  expect_error(std::string(kGood).replace(bad.find("203.0.113.0/24"), 14, "203.0.113.10/32"), "18",
               "covering_prefixes[0].prefix");  // web's own host route
  expect_error(std::string(kGood) + "  - {prefix: 203.0.113.0/24, services: [web]}\n", "19",
               "covering_prefixes[1].prefix");  // twice
  expect_error(std::string(kGood).replace(bad.find("port: 80"), 8, "port: any"), "13", "services[0].check.port");
  expect_error(std::string(kGood) + "api: {tcp: \"[::]:9000\"}\n", "19", "api.tcp");
  expect_error(std::string(kGood) + "api: {tcp: \"0.0.0.0:9000\"}\n", "19", "api.tcp");
  expect_error(std::string(kGood) + "api: {tcp: \":9000\"}\n", "19", "api.tcp");
  expect_error(std::string(kGood) + "api: {tcp: \"127.0.0.1:http\"}\n", "19", "api.tcp");
  expect_error(std::string(kGood) + "metrics: {listen: \"127.0.0.1:abc\"}\n", "19", "metrics.listen");
  expect_error(std::string(kGood) + "metrics: {listen: \"127.0.0.1:70000\"}\n", "19", "metrics.listen");
  expect_error(std::string(kGood) + "health: {source_ports: 61999-61000}\n", "19", "health.source_ports");
  expect_error(std::string(kGood) + "health: {source_ports: 100-999}\n", "19", "health.source_ports");  // well-known
  expect_error(std::string(kGood) + "health: {source_ports: 61000-61010}\n", "19", "health.source_ports");  // too few
  expect_error(std::string(kGood) + "health: {ports: 61000-61999}\n", "19", "health.ports");
}

// Errors found once the whole state is put together (the dataplane's own
// checks) name the backend's line and key too, not only its service's.
// Exec checks run as health.exec_user, nobody unless said: resolved when
// read, an unknown user refused with its line and key.
TEST(ControlConfig, ExecUserIsNobodyUnlessSaidAndMustExist) {
  const ControlConfig dflt = load_config(write(kGood));
  EXPECT_EQ(dflt.exec_user.name, "nobody");
  const auto nobody = find_exec_user("nobody");
  ASSERT_TRUE(nobody.has_value());
  EXPECT_EQ(dflt.exec_user, *nobody);
  EXPECT_NE(nobody->uid, 0u);
  const ControlConfig root = load_config(write(std::string(kGood) + "health:\n  exec_user: root\n"));
  EXPECT_EQ(root.exec_user.uid, 0u);
  EXPECT_EQ(root.exec_user.name, "root");
  expect_error(std::string(kGood) + "health:\n  exec_user: no-such-user-anylb\n", "20", "health.exec_user");
  expect_error(std::string(kGood) + "health:\n  exec_user: \"\"\n", "20", "health.exec_user");
  expect_error(std::string(kGood) + "health:\n  exec_as: nobody\n", "20", "health.exec_as");
  EXPECT_FALSE(find_exec_user("no-such-user-anylb").has_value());
}

TEST(ControlConfig, WholeStateErrorsNameTheBackendsLineAndKey) {
  std::string bad = kGood;
  bad.replace(bad.find("198.18.1.11"), 11, "198.18.0.1");  // the node's own address
  const std::string path = write(bad);
  try {
    load_config(path);
    FAIL() << "accepted:\n" << bad;
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(path + " line 16, services[0].backends[1]"), std::string::npos) << m;
    EXPECT_NE(m.find("'address'"), std::string::npos) << m;
  }
}

// Three readable files for api.tls (their contents are the API's to read).
std::string tls_files() {
  const std::string pem = write("-----BEGIN CERTIFICATE-----\n");
  return ", tls: {ca: " + pem + ", cert: " + pem + ", key: " + pem + "}";
}

TEST(ControlConfig, ExplicitApiAddressesAndAnyPortWithACheckPortAreAccepted) {
  EXPECT_EQ(load_config(write(std::string(kGood) + "api: {tcp: \"[::1]:9000\"" + tls_files() + "}\n")).api_tcp, "[::1]:9000");
  EXPECT_EQ(load_config(write(std::string(kGood) + "api: {tcp: \"127.0.0.1:9000\"" + tls_files() + "}\n")).api_tcp,
            "127.0.0.1:9000");
  std::string any = kGood;
  any.replace(any.find("port: 80"), 8, "port: any");
  any.replace(any.find("type: http,"), 11, "type: http, port: 8080,");
  EXPECT_EQ(load_config(write(any)).services[0].check.port, 8080);
}

// Whoever reaches a TCP port would control the node: without TLS and
// client certificates the listener is refused, naming the key and its line.
TEST(ControlConfig, ApiTcpWithoutTlsIsRefused) {
  const std::string plain = std::string(kGood) + "api:\n  socket: /run/x.sock\n  tcp: \"127.0.0.1:9000\"\n";
  const std::string path = write(plain);
  try {
    load_config(path);
    FAIL() << "accepted:\n" << plain;
  } catch (const ConfigError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find(path + " line 21: key 'api.tcp'"), std::string::npos) << m;
    EXPECT_NE(m.find("TLS and client certificates"), std::string::npos) << m;
  }
}

TEST(ControlConfig, ApiTlsFilesGroupsAndRegistrarSocket) {
  const std::string tcp = std::string(kGood) + "api: {tcp: \"127.0.0.1:9000\", ";
  // A file that cannot be read, and a missing file, name their key.
  try {
    load_config(write(tcp + "tls: {ca: /nonexistent/ca.pem, cert: /etc/hostname, key: /etc/hostname}}\n"));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("key 'api.tls.ca': '/nonexistent/ca.pem' cannot be read"), std::string::npos)
        << e.what();
  }
  try {
    load_config(write(tcp + "tls: {ca: /etc/hostname, cert: /etc/hostname}}\n"));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("key 'api.tls.key': is missing"), std::string::npos) << e.what();
  }
  try {
    load_config(write(std::string(kGood) + "api: {group: no-such-group-here}\n"));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("key 'api.group': 'no-such-group-here' is not a group"), std::string::npos)
        << e.what();
  }
  const ControlConfig c = load_config(write(std::string(kGood) +
      "api: {socket: /run/a.sock, group: root, registrar_socket: /run/r.sock, registrar_group: 4242}\n"));
  EXPECT_EQ(c.api_group, gid_t{0});
  EXPECT_EQ(c.api_registrar_socket, "/run/r.sock");
  EXPECT_EQ(c.api_registrar_group, gid_t{4242});
  try {
    load_config(write(std::string(kGood) + "api: {socket: /run/a.sock, registrar_socket: /run/a.sock}\n"));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("key 'api.registrar_socket'"), std::string::npos) << e.what();
  }
}

TEST(ControlConfig, PrefixNetwork) {
  EXPECT_EQ(prefix_network(*IpAddress::parse("203.0.113.77"), 24), *IpAddress::parse("203.0.113.0"));
  EXPECT_EQ(prefix_network(*IpAddress::parse("203.0.113.77"), 26), *IpAddress::parse("203.0.113.64"));
  EXPECT_EQ(prefix_network(*IpAddress::parse("203.0.113.77"), 32), *IpAddress::parse("203.0.113.77"));
  EXPECT_EQ(prefix_network(*IpAddress::parse("203.0.113.77"), 0), *IpAddress::parse("0.0.0.0"));
  EXPECT_EQ(prefix_network(*IpAddress::parse("2001:db8:ffff::1"), 33), *IpAddress::parse("2001:db8:8000::"));
  EXPECT_EQ(prefix_network(*IpAddress::parse("2001:db8::1"), 128), *IpAddress::parse("2001:db8::1"));
}

// kGood with a second service on web's VIP; each vip_policy given unless empty.
std::string shared_vip(const std::string& first_policy, const std::string& second_policy) {
  std::string yaml = kGood;
  if (!first_policy.empty()) yaml.insert(yaml.find("    check: {type: http"), "    vip_policy: " + first_policy + "\n");
  yaml.insert(yaml.find("covering_prefixes:"), R"(  - name: web-alt
    vip: 203.0.113.10
    protocol: tcp
    port: 8080
)" + (second_policy.empty() ? "" : "    vip_policy: " + second_policy + "\n") +
                                                       R"(    check: {type: tcp}
    backends: [{address: 198.18.1.20, mac: "02:00:00:00:00:03"}]
)");
  return yaml;
}

TEST(ControlConfig, VipPolicyIsAllUnlessSetAlikeOnEveryServiceOfTheVip) {
  EXPECT_EQ(load_config(write(kGood)).services[0].vip_policy, CoverPolicy::all);
  const ControlConfig any = load_config(write(shared_vip("any", "any")));
  ASSERT_EQ(any.services.size(), 2u);
  EXPECT_EQ(any.services[0].vip_policy, CoverPolicy::any);
  EXPECT_EQ(any.services[1].vip_policy, CoverPolicy::any);
  EXPECT_EQ(load_config(write(shared_vip("all", ""))).services[1].vip_policy, CoverPolicy::all);
  // The second service disagrees with the first, set or left out: the error
  // names its vip_policy line, or the service's first line when it has none.
  expect_error(shared_vip("any", "all"), "22", "services[1].vip_policy");
  expect_error(shared_vip("any", ""), "18", "services[1].vip_policy");
  expect_error(shared_vip("", "any"), "21", "services[1].vip_policy");
  expect_error(shared_vip("some", ""), "13", "services[0].vip_policy");
}

TEST(ControlConfig, UnreadableOrInvalidYaml) {
  EXPECT_THROW(load_config("/nonexistent/anylb.yaml"), ConfigError);
  try {
    load_config(write("node: [unclosed\n"));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("not valid YAML"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace anylb::cp
