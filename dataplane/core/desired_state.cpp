#include "desired_state.hpp"

#include "packet_parser.hpp"  // the martian address checks

#include <charconv>
#include <map>
#include <set>
#include <tuple>

namespace anylb {

std::string_view to_string(ForwardingMode m) {
  switch (m) {
    case ForwardingMode::l2_dsr: return "l2-dsr";
    case ForwardingMode::ipip: return "ipip";
    case ForwardingMode::gue: return "gue";
  }
  return "?";
}

std::string_view to_string(FragmentPolicy f) { return f == FragmentPolicy::drop ? "drop" : "hash"; }

std::string_view to_string(BackendState s) {
  switch (s) {
    case BackendState::up: return "up";
    case BackendState::draining: return "draining";
    case BackendState::down: return "down";
  }
  return "?";
}

std::optional<BackendState> backend_state_named(std::string_view name) {
  for (BackendState s : {BackendState::up, BackendState::draining, BackendState::down})
    if (to_string(s) == name) return s;
  return std::nullopt;
}

std::string name_problem(std::string_view name) {
  if (name.empty()) return "is empty";
  if (name.size() > kMaxNameLength)
    return "is longer than " + std::to_string(kMaxNameLength) + " characters";
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return "has '" + std::string(1, c) + "': a name is letters, digits, '.', '_' and '-'";
  }
  return {};
}

namespace {

using Pairs = SpecFields;

bool split_pairs(std::string_view text, Pairs& out, std::string& error) {
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == ',')) ++i;
    if (i == text.size()) break;
    std::size_t end = i;
    while (end < text.size() && text[end] != ' ' && text[end] != '\t' && text[end] != ',') ++end;
    std::string_view token = text.substr(i, end - i);
    std::size_t eq = token.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      error = "'" + std::string(token) + "' is not key=value";
      return false;
    }
    std::string key(token.substr(0, eq));
    for (const auto& [k, v] : out) {
      if (k == key) {
        error = "key '" + key + "' given twice";
        return false;
      }
    }
    out.emplace_back(key, std::string(token.substr(eq + 1)));
    i = end;
  }
  return true;
}

bool parse_uint(std::string_view s, uint64_t max, uint64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && out <= max;
}

std::string bad(std::string_view key, std::string_view value, std::string_view why) {
  return "key '" + std::string(key) + "': '" + std::string(value) + "' " + std::string(why);
}

}  // namespace

std::optional<ServiceSpec> parse_service_spec(std::string_view text, std::string& error) {
  Pairs pairs;
  if (!split_pairs(text, pairs, error)) return std::nullopt;
  return parse_service_fields(pairs, error);
}

std::optional<ServiceSpec> parse_service_fields(const SpecFields& pairs, std::string& error) {
  ServiceSpec s;
  bool have_vip = false;
  for (const auto& [k, v] : pairs) {
    uint64_t n = 0;
    if (k == "name") {
      if (std::string why = name_problem(v); !why.empty()) { error = bad(k, v, why); return std::nullopt; }
      s.name = v;
    } else if (k == "vip") {
      auto a = IpAddress::parse(v);
      if (!a) { error = bad(k, v, "is not an IPv4 or IPv6 address"); return std::nullopt; }
      s.vip = *a;
      have_vip = true;
    } else if (k == "proto") {
      if (v == "tcp") s.proto = kProtoTcp;
      else if (v == "udp") s.proto = kProtoUdp;
      else { error = bad(k, v, "is not tcp or udp"); return std::nullopt; }
    } else if (k == "port") {
      if (v == "any") s.port = kAnyPort;
      else if (parse_uint(v, 65535, n) && n > 0) s.port = static_cast<uint16_t>(n);
      else { error = bad(k, v, "is not a port (1-65535 or any)"); return std::nullopt; }
    } else if (k == "mode") {
      if (v == "l2-dsr") s.mode = ForwardingMode::l2_dsr;
      else if (v == "ipip") s.mode = ForwardingMode::ipip;
      else if (v == "gue") s.mode = ForwardingMode::gue;
      else { error = bad(k, v, "is not l2-dsr, ipip or gue"); return std::nullopt; }
    } else if (k == "fragments") {
      if (v == "drop") s.fragments = FragmentPolicy::drop;
      else if (v == "hash") s.fragments = FragmentPolicy::hash;
      else { error = bad(k, v, "is not drop or hash"); return std::nullopt; }
    } else if (k == "gue-port") {
      if (parse_uint(v, 65535, n) && n > 0) s.gue_port = static_cast<uint16_t>(n);
      else { error = bad(k, v, "is not a port (1-65535)"); return std::nullopt; }
    } else {
      error = "unknown key '" + k + "' (expected name, vip, proto, port, mode, fragments, gue-port)";
      return std::nullopt;
    }
  }
  if (s.name.empty()) { error = "key 'name' is missing"; return std::nullopt; }
  if (!have_vip) { error = "key 'vip' is missing"; return std::nullopt; }
  return s;
}

std::optional<BackendSpec> parse_backend_spec(std::string_view text, std::string& error) {
  Pairs pairs;
  if (!split_pairs(text, pairs, error)) return std::nullopt;
  return parse_backend_fields(pairs, error);
}

std::optional<BackendSpec> parse_backend_fields(const SpecFields& pairs, std::string& error) {
  BackendSpec b;
  bool have_address = false;
  for (const auto& [k, v] : pairs) {
    uint64_t n = 0;
    if (k == "service") {
      if (std::string why = name_problem(v); !why.empty()) { error = bad(k, v, why); return std::nullopt; }
      b.service = v;
    } else if (k == "address") {
      auto a = IpAddress::parse(v);
      if (!a) { error = bad(k, v, "is not an IPv4 or IPv6 address"); return std::nullopt; }
      b.address = *a;
      have_address = true;
    } else if (k == "mac") {
      auto m = MacAddress::parse(v);
      if (!m || m->is_zero()) { error = bad(k, v, "is not a MAC address like 02:00:00:00:00:01"); return std::nullopt; }
      b.mac = *m;
    } else if (k == "weight") {
      if (parse_uint(v, kMaxBackendWeight, n) && n > 0) b.weight = static_cast<uint32_t>(n);
      else { error = bad(k, v, "is not a weight (1-" + std::to_string(kMaxBackendWeight) + ")"); return std::nullopt; }
    } else if (k == "state") {
      const auto state = backend_state_named(v);
      if (!state) { error = bad(k, v, "is not up, draining or down"); return std::nullopt; }
      b.state = *state;
    } else {
      error = "unknown key '" + k + "' (expected service, address, mac, weight, state)";
      return std::nullopt;
    }
  }
  if (b.service.empty()) { error = "key 'service' is missing"; return std::nullopt; }
  if (!have_address) { error = "key 'address' is missing"; return std::nullopt; }
  return b;
}

namespace {

// Why `a` cannot be a host's address on a routed network, or empty: one of
// the martian sources (unspecified, loopback, multicast, broadcast,
// IPv4-mapped: on this node itself, or nowhere), or IPv6 link-local (no
// interface to name). Backends, VIPs and node addresses all must be one.
std::string unicast_problem(const IpAddress& a) {
  const bool martian = a.is_v4() ? is_martian_ipv4_source(a.bytes.data()) : is_martian_ipv6_source(a.bytes.data());
  if (martian) return "is not a host's unicast address";
  if (!a.is_v4() && is_ipv6_link_local(a.bytes.data()))
    return "is link-local: nothing says which interface reaches it";
  return {};
}

// Why `a` cannot be a backend, or empty: not unicast, or one of this node's own.
std::string backend_address_problem(const IpAddress& a, const std::set<IpAddress>& node_addresses,
                                    const std::set<IpAddress>& vips) {
  if (std::string why = unicast_problem(a); !why.empty()) return why;
  if (node_addresses.count(a)) return "is one of this node's addresses";
  if (vips.count(a)) return "is a VIP";
  return {};
}

}  // namespace

std::string validate_desired_state(const DesiredState& state) {
  auto where = [](const std::string& origin) { return origin.empty() ? std::string() : " (" + origin + ")"; };
  bool node_v4 = false, node_v6 = false;
  for (const IpAddress& a : state.node_addresses) {
    // The first of each family is the tunnels' outer source.
    if (std::string why = unicast_problem(a); !why.empty())
      return "node address '" + a.to_string() + "' (node_addresses, --node-address): " + why;
    (a.is_v4() ? node_v4 : node_v6) = true;
  }

  std::map<std::string, const ServiceSpec*> by_name;
  std::set<std::tuple<IpAddress, uint8_t, uint16_t>> keys;
  for (const ServiceSpec& s : state.services) {
    // Every path's parser checks names; this holds for specs built in code.
    if (std::string why = name_problem(s.name); !why.empty())
      return "service '" + s.name + "'" + where(s.origin) + ": name " + why;
    if (std::string why = unicast_problem(s.vip); !why.empty())
      return "service '" + s.name + "'" + where(s.origin) + ": key 'vip': " + s.vip.to_string() + " " + why;
    if (!by_name.emplace(s.name, &s).second)
      return "service '" + s.name + "'" + where(s.origin) + ": name already used by another service";
    if (!keys.emplace(s.vip, s.proto, s.port).second)
      return "service '" + s.name + "'" + where(s.origin) + ": another service already has vip " +
             s.vip.to_string() + " " + (s.proto == kProtoTcp ? "tcp" : "udp") + " port " +
             (s.port == kAnyPort ? std::string("any") : std::to_string(s.port));
    for (const IpAddress& a : state.node_addresses)
      if (a == s.vip)
        return "service '" + s.name + "'" + where(s.origin) + ": vip " + s.vip.to_string() +
               " is also a node address";
  }
  // Looked up once a backend, not scanned: up to 65534 backends a service.
  const std::set<IpAddress> node_addresses(state.node_addresses.begin(), state.node_addresses.end());
  std::set<IpAddress> vips;
  for (const ServiceSpec& s : state.services) vips.insert(s.vip);
  std::map<std::string, std::set<IpAddress>> members;
  for (const BackendSpec& b : state.backends) {
    if (std::string why = backend_address_problem(b.address, node_addresses, vips); !why.empty())
      return "backend " + b.address.to_string() + where(b.origin) + ": key 'address': " + why;
    auto it = by_name.find(b.service);
    if (it == by_name.end())
      return "backend " + b.address.to_string() + where(b.origin) + ": key 'service': no service named '" +
             b.service + "'";
    if (!members[b.service].insert(b.address).second)
      return "backend " + b.address.to_string() + where(b.origin) + ": key 'address': already a backend of service '" +
             b.service + "'";
    if (members[b.service].size() > 65534)
      return "backend " + b.address.to_string() + where(b.origin) + ": key 'service': service '" + b.service +
             "' has more than 65534 backends";
    // A group address would send each packet to every host on the segment.
    if ((std::to_integer<uint8_t>(b.mac.bytes[0]) & 1) != 0)
      return "backend " + b.address.to_string() + where(b.origin) + ": key 'mac': " + b.mac.to_string() +
             " is a group (multicast or broadcast) address";
    const ForwardingMode mode = it->second->mode;
    if (mode != ForwardingMode::l2_dsr && !(b.address.is_v4() ? node_v4 : node_v6))
      return "backend " + b.address.to_string() + where(b.origin) + ": service '" + b.service + "' uses " +
             std::string(to_string(mode)) + ", which needs a node address of the backend's family as the outer source";
  }
  return {};
}

}  // namespace anylb
