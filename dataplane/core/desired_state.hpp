// What the dataplane is asked to serve: services, their backends, and the
// node's own addresses. Filled from options today, from the control plane's
// API later; validated in one place, with errors that name the field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "flow_key.hpp"
#include "ip_address.hpp"
#include "port_range.hpp"

namespace anylb {

enum class ForwardingMode : uint8_t { l2_dsr, ipip, gue };
enum class FragmentPolicy : uint8_t { drop, hash };
enum class BackendState : uint8_t { up, draining, down };

inline constexpr uint16_t kAnyPort = 0;
inline constexpr uint16_t kDefaultGuePort = 6080;
inline constexpr uint32_t kMaxBackendWeight = 10000;

std::string_view to_string(ForwardingMode m);
std::string_view to_string(FragmentPolicy f);
std::string_view to_string(BackendState s);
// The state to_string names; none for any other word.
std::optional<BackendState> backend_state_named(std::string_view name);

// A service's name: 1 to 63 letters, digits, '.', '_' or '-'. Names are
// command-line words, table columns and metric labels, so nothing that
// would need quoting there. Empty when `name` is one, else why not.
inline constexpr std::size_t kMaxNameLength = 63;
std::string name_problem(std::string_view name);

struct ServiceSpec {
  std::string name;
  IpAddress vip;
  uint8_t proto = kProtoTcp;     // or kProtoUdp
  uint16_t port = kAnyPort;      // 0 = every port
  ForwardingMode mode = ForwardingMode::l2_dsr;
  FragmentPolicy fragments = FragmentPolicy::drop;
  uint16_t gue_port = kDefaultGuePort;  // outer UDP destination port in gue mode
  std::string origin;            // where it was written, for error messages
};

struct BackendSpec {
  std::string service;
  IpAddress address;
  MacAddress mac;                // zero: resolved from the kernel's neighbour table (exception interface)
  uint32_t weight = 100;
  BackendState state = BackendState::up;
  std::string origin;
};

struct DesiredState {
  std::vector<IpAddress> node_addresses;
  std::vector<ServiceSpec> services;
  std::vector<BackendSpec> backends;
  // The node's BGP peers (the control plane's gobgpd's): the exception
  // path polices BGP from these apart. Empty: any source may be one.
  std::vector<IpAddress> bgp_peers;
  // Of those, the ones configured for GTSM (RFC 5082, gobgpd's
  // ttl-security with ttl-min 255): their BGP must arrive with TTL 255.
  std::vector<IpAddress> gtsm_peers;
  // The control plane's health probes' source ports (and ICMP echo ids):
  // only a backend's packets to these are policed as probe replies. Any:
  // whatever a backend sends.
  PortRange probe_ports;
};

// A spec is whitespace- or comma-separated key=value pairs, e.g.
//   "name=web vip=203.0.113.10 proto=tcp port=80 mode=l2-dsr fragments=hash"
//   "service=web address=198.18.1.10 mac=02:00:00:00:01:0a weight=100 state=up" (mac optional)
// On error, `error` names the key and what is wrong with its value.
std::optional<ServiceSpec> parse_service_spec(std::string_view text, std::string& error);
std::optional<BackendSpec> parse_backend_spec(std::string_view text, std::string& error);

// The same from fields already apart (a state file's, a YAML file's, an API
// call's): no splitting, so a value with a space or a comma is reported as
// a bad value of its key, not as a malformed pair.
using SpecFields = std::vector<std::pair<std::string, std::string>>;
std::optional<ServiceSpec> parse_service_fields(const SpecFields& fields, std::string& error);
std::optional<BackendSpec> parse_backend_fields(const SpecFields& fields, std::string& error);

// Whole-state checks (references, duplicates, families). Empty when valid,
// otherwise one line naming the entry (with its origin) and the problem.
std::string validate_desired_state(const DesiredState& state);

}  // namespace anylb
