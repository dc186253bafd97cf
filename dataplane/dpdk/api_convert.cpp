#include "api_convert.hpp"

#include <cstring>

namespace anylb {

namespace {

std::string at(const std::string& list, int i) { return list + "[" + std::to_string(i) + "]"; }

// A repeated address field into `out`; false, with `error` naming the
// entry, at the first that is not an address.
bool addresses(const google::protobuf::RepeatedPtrField<std::string>& in, const std::string& field,
               std::vector<IpAddress>& out, std::string& error) {
  for (int i = 0; i < in.size(); ++i) {
    auto a = IpAddress::parse(in[i]);
    if (!a) {
      error = at(field, i) + ": '" + in[i] + "' is not an IPv4 or IPv6 address";
      return false;
    }
    out.push_back(*a);
  }
  return true;
}

}  // namespace

std::optional<DesiredState> from_proto(const pb::DesiredState& in, std::string& error) {
  DesiredState st;
  if (!addresses(in.node_addresses(), "state.node_addresses", st.node_addresses, error) ||
      !addresses(in.bgp_peers(), "state.bgp_peers", st.bgp_peers, error) ||
      !addresses(in.gtsm_peers(), "state.gtsm_peers", st.gtsm_peers, error))
    return std::nullopt;
  if (auto r = parse_port_range(in.probe_ports(), error)) {
    st.probe_ports = *r;
  } else {
    error = "state.probe_ports: " + error;
    return std::nullopt;
  }
  for (int i = 0; i < in.services_size(); ++i) {
    const pb::Service& s = in.services(i);
    const std::string f = at("state.services", i);
    ServiceSpec out;
    out.origin = f;
    if (std::string why = name_problem(s.name()); !why.empty()) {
      error = f + ".name: '" + s.name() + "' " + why;
      return std::nullopt;
    }
    out.name = s.name();
    auto vip = IpAddress::parse(s.vip());
    if (!vip) { error = f + ".vip: '" + s.vip() + "' is not an IPv4 or IPv6 address"; return std::nullopt; }
    out.vip = *vip;
    if (s.protocol() != pb::PROTOCOL_TCP && s.protocol() != pb::PROTOCOL_UDP) {
      error = f + ".protocol: must be PROTOCOL_TCP or PROTOCOL_UDP";
      return std::nullopt;
    }
    out.proto = static_cast<uint8_t>(s.protocol());
    if (s.port() > 65535) { error = f + ".port: " + std::to_string(s.port()) + " is not a port (0-65535, 0 = any)"; return std::nullopt; }
    out.port = static_cast<uint16_t>(s.port());
    switch (s.mode()) {
      case pb::FORWARDING_MODE_L2_DSR: out.mode = ForwardingMode::l2_dsr; break;
      case pb::FORWARDING_MODE_IPIP: out.mode = ForwardingMode::ipip; break;
      case pb::FORWARDING_MODE_GUE: out.mode = ForwardingMode::gue; break;
      default: error = f + ".mode: must be L2_DSR, IPIP or GUE"; return std::nullopt;
    }
    switch (s.fragments()) {
      case pb::FRAGMENT_POLICY_UNSPECIFIED:
      case pb::FRAGMENT_POLICY_DROP: out.fragments = FragmentPolicy::drop; break;
      case pb::FRAGMENT_POLICY_HASH: out.fragments = FragmentPolicy::hash; break;
      default: error = f + ".fragments: must be DROP or HASH"; return std::nullopt;  // a newer client's policy
    }
    if (s.gue_port() > 65535) { error = f + ".gue_port: " + std::to_string(s.gue_port()) + " is not a port"; return std::nullopt; }
    out.gue_port = s.gue_port() == 0 ? kDefaultGuePort : static_cast<uint16_t>(s.gue_port());
    st.services.push_back(out);
  }
  for (int i = 0; i < in.backends_size(); ++i) {
    const pb::Backend& b = in.backends(i);
    const std::string f = at("state.backends", i);
    BackendSpec out;
    out.origin = f;
    out.service = b.service();
    if (std::string why = name_problem(out.service); !why.empty()) {
      error = f + ".service: '" + out.service + "' " + why;
      return std::nullopt;
    }
    auto a = IpAddress::parse(b.address());
    if (!a) { error = f + ".address: '" + b.address() + "' is not an IPv4 or IPv6 address"; return std::nullopt; }
    out.address = *a;
    if (!b.mac().empty()) {  // empty: resolve it from the kernel's neighbour table
      auto mac = MacAddress::parse(b.mac());
      if (!mac || mac->is_zero()) { error = f + ".mac: '" + b.mac() + "' is not a MAC address"; return std::nullopt; }
      out.mac = *mac;
    }
    if (b.weight() > kMaxBackendWeight) {
      error = f + ".weight: " + std::to_string(b.weight()) + " is out of range (1-" + std::to_string(kMaxBackendWeight) + ")";
      return std::nullopt;
    }
    out.weight = b.weight() == 0 ? 100 : b.weight();
    switch (b.state()) {
      case pb::BACKEND_STATE_UNSPECIFIED:
      case pb::BACKEND_STATE_UP: out.state = BackendState::up; break;
      case pb::BACKEND_STATE_DRAINING: out.state = BackendState::draining; break;
      case pb::BACKEND_STATE_DOWN: out.state = BackendState::down; break;
      default: error = f + ".state: unknown state"; return std::nullopt;
    }
    st.backends.push_back(out);
  }
  return st;
}

void to_proto(const ServiceSpec& s, pb::Service& out) {
  out.set_name(s.name);
  out.set_vip(s.vip.to_string());
  out.set_protocol(static_cast<pb::Protocol>(s.proto));
  out.set_port(s.port);
  out.set_mode(s.mode == ForwardingMode::l2_dsr ? pb::FORWARDING_MODE_L2_DSR
               : s.mode == ForwardingMode::ipip ? pb::FORWARDING_MODE_IPIP
                                                : pb::FORWARDING_MODE_GUE);
  out.set_fragments(s.fragments == FragmentPolicy::hash ? pb::FRAGMENT_POLICY_HASH : pb::FRAGMENT_POLICY_DROP);
  out.set_gue_port(s.gue_port);
}

void to_proto(const BackendSpec& b, pb::Backend& out) {
  out.set_service(b.service);
  out.set_address(b.address.to_string());
  if (!b.mac.is_zero()) out.set_mac(b.mac.to_string());
  out.set_weight(b.weight);
  out.set_state(b.state == BackendState::up ? pb::BACKEND_STATE_UP
                : b.state == BackendState::draining ? pb::BACKEND_STATE_DRAINING
                                                     : pb::BACKEND_STATE_DOWN);
}

void to_proto(const DesiredState& in, pb::DesiredState& out) {
  for (const IpAddress& a : in.node_addresses) out.add_node_addresses(a.to_string());
  for (const ServiceSpec& s : in.services) to_proto(s, *out.add_services());
  for (const BackendSpec& b : in.backends) to_proto(b, *out.add_backends());
  for (const IpAddress& a : in.bgp_peers) out.add_bgp_peers(a.to_string());
  for (const IpAddress& a : in.gtsm_peers) out.add_gtsm_peers(a.to_string());
  out.set_probe_ports(in.probe_ports.to_string());
}

std::optional<FlowKey> from_proto(const pb::FiveTuple& in, const std::string& field, std::string& error) {
  auto src = IpAddress::parse(in.source());
  if (!src) { error = field + ".source: '" + in.source() + "' is not an IPv4 or IPv6 address"; return std::nullopt; }
  auto dst = IpAddress::parse(in.destination());
  if (!dst) { error = field + ".destination: '" + in.destination() + "' is not an IPv4 or IPv6 address"; return std::nullopt; }
  if (src->family != dst->family) { error = field + ".destination: not the source's address family"; return std::nullopt; }
  if (in.protocol() != pb::PROTOCOL_TCP && in.protocol() != pb::PROTOCOL_UDP) {
    error = field + ".protocol: must be PROTOCOL_TCP or PROTOCOL_UDP";
    return std::nullopt;
  }
  if (in.source_port() == 0 || in.source_port() > 65535) { error = field + ".source_port: must be 1-65535"; return std::nullopt; }
  if (in.destination_port() == 0 || in.destination_port() > 65535) {
    error = field + ".destination_port: must be 1-65535";
    return std::nullopt;
  }
  FlowKey k;
  k.family = src->family;
  std::memcpy(k.src.data(), src->bytes.data(), 16);
  std::memcpy(k.dst.data(), dst->bytes.data(), 16);
  k.proto = static_cast<uint8_t>(in.protocol());
  k.src_port = static_cast<uint16_t>(in.source_port());
  k.dst_port = static_cast<uint16_t>(in.destination_port());
  return k;
}

void to_proto(const FlowKey& k, pb::FiveTuple& out) {
  out.set_source(k.src_address().to_string());
  out.set_destination(k.dst_address().to_string());
  out.set_protocol(static_cast<pb::Protocol>(k.proto));
  out.set_source_port(k.src_port);
  out.set_destination_port(k.dst_port);
}

}  // namespace anylb
