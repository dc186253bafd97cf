// anylb-controlplane's configuration: one YAML file (format in
// configs/controlplane-example.yaml), parsed and validated in one place.
// Errors name the file, the line and the key.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "allowed_prefixes.hpp"
#include "desired_state.hpp"
#include "exec_user.hpp"
#include "route_state.hpp"

namespace anylb::cp {

enum class CheckType { tcp, http, udp_dns, icmp, exec };

struct CheckConfig {
  CheckType type = CheckType::tcp;
  uint16_t port = 0;              // 0: the service's port
  std::string path = "/";         // http
  int expect_status = 200;        // http
  std::string body;               // http: the body must contain this (optional)
  std::string dns_name = ".";     // udp-dns: the name asked (any answer means alive)
  std::string command;            // exec: run by /bin/sh with ANYLB_BACKEND, ANYLB_PORT, ANYLB_SERVICE set
  uint64_t interval_ms = 1000;
  uint64_t timeout_ms = 500;
  uint32_t rise = 2;              // consecutive successes to become healthy
  uint32_t fall = 2;              // consecutive failures to become unhealthy
  bool operator==(const CheckConfig&) const = default;
};

struct BackendConfig {
  IpAddress address;
  MacAddress mac;
  uint32_t weight = 100;
  std::string origin;  // file, line and key, for errors found once the whole state is put together
};

// A service's opt-in to self-registration by registrars (Role::registrar,
// registration.hpp): which addresses may join it, how many at once, and
// at what weight. A service without one refuses registrars.
struct RegistrationPolicy {
  std::vector<Prefix> prefixes;   // a registered address lies inside one
  uint32_t max_backends = 0;      // registrations held at once (1-65534)
  uint32_t weight = 100;          // every registrar's backend gets this weight
  // A registrar may name its backend's MAC. Off by default: on L2 DSR the
  // MAC is where the VIP's flows go, so a registrar choosing it could send
  // its share to any host on the segment; without it the node resolves the
  // MAC from its neighbour table, as for any backend given none.
  bool registrar_mac = false;
  bool operator==(const RegistrationPolicy&) const = default;
};

struct ServiceConfig {
  ServiceSpec spec;
  Quorum quorum;
  uint64_t hold_down_ms = 10'000;
  std::vector<uint32_t> communities;
  std::optional<uint32_t> med;
  uint32_t prepend = 0;           // extra copies of our AS (backup nodes)
  // Services on one VIP share its host route: announced while all of them
  // are (a node does not attract traffic it cannot serve, RFC 4786 4.8.2)
  // or while any is (4.8.3: the node then keeps taking the others' traffic,
  // for what is left of their backends, or dropped and counted when none
  // is). Every service on a VIP says the same; the VIP's first decides for
  // one added through the API.
  CoverPolicy vip_policy = CoverPolicy::all;
  CheckConfig check;
  std::vector<BackendConfig> backends;
  std::optional<RegistrationPolicy> registration;
};

struct CoverConfig {
  std::string prefix;             // e.g. 203.0.113.0/24
  IpAddress address;
  uint32_t length = 0;
  CoverPolicy policy = CoverPolicy::any;
  std::vector<std::string> services;
  std::vector<uint32_t> communities;
  std::optional<uint32_t> med;
  uint32_t prepend = 0;
};

// anylb.v1 over TCP: PEM files of the CA that signs client certificates,
// and the server's certificate and key. All three, or none.
struct ApiTls {
  std::string ca, cert, key;
  bool empty() const { return ca.empty(); }
};

struct ControlConfig {
  std::string file;
  std::string node_name = "anylb";
  std::string dataplane_socket = "/run/anylb/dataplane.sock";
  std::vector<IpAddress> node_addresses;
  // What the node may announce: every VIP and covering prefix lies inside
  // one of these (allowed_prefixes.hpp). Required.
  std::vector<Prefix> allowed_prefixes;
  std::optional<IpAddress> next_hop_v4, next_hop_v6;  // BGP next hops (default: the first node address per family)
  std::string gobgp_api = "127.0.0.1:50051";
  uint64_t drain_wait_ms = 30'000;  // graceful-shutdown announcements before the withdrawal
  // Paths no control plane has confirmed for this long are withdrawn
  // (orphan_guard.hpp); 0: never.
  uint64_t orphan_timeout_ms = 10'000;
  std::string api_socket = "/run/anylb/controlplane.sock";  // anylb.v1 for anylbctl; empty: none
  // The socket's group (mode 0660): its members are operators; none: root's.
  std::optional<gid_t> api_group;
  // A second socket whose callers are registrars (api_auth.hpp); empty: none.
  std::string api_registrar_socket;
  std::optional<gid_t> api_registrar_group;
  std::string api_tcp;              // optional explicit "ADDRESS:PORT" for anylb.v1 over TCP (needs api_tls)
  ApiTls api_tls;                   // required with api_tcp: mutual TLS
  std::string metrics_listen;       // optional "ADDRESS:PORT" for Prometheus /metrics
  std::string state_file;           // where API changes and withdrawn routes persist (JSON); empty: they do not
  ExecUser exec_user;               // who exec checks run as (health.exec_user)
  std::vector<ServiceConfig> services;
  std::vector<CoverConfig> covers;
  // health.source_ports: the TCP, HTTP and DNS probes' source ports and the
  // ICMP probes' echo ids. The dataplane polices only a backend's packets
  // to these as probe replies (a flood spoofed from a backend's address
  // must also hit them). Outside the kernel's ephemeral range
  // (ip_local_port_range, 32768-60999 by default), so no other socket
  // holds them. Any: the kernel picks, and a backend's packets to any port
  // count.
  PortRange probe_source_ports{61000, 61999};
};

// Throws ConfigError: "FILE line N: key 'services[0].quorum': ..."
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

ControlConfig load_config(const std::string& path);

// Well-known names (no-export, no-advertise, nopeer, graceful-shutdown,
// blackhole) or "ASN:VALUE".
std::optional<uint32_t> parse_community(const std::string& text);
std::string community_name(uint32_t c);

// The services a new configuration renames, new name -> old name: a name
// gone from `before` and one new in `after` for the same VIP, protocol and
// port (which one service at most has). A rename is a new label on the
// same service: its backends' health, its route and the API's changes to it
// carry over (Node::reload).
std::map<std::string, std::string> renamed_services(const std::vector<ServiceConfig>& before,
                                                    const std::vector<ServiceConfig>& after);

}  // namespace anylb::cp
