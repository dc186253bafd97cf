#include "api_messages.hpp"

#include <algorithm>
#include <chrono>
#include <string_view>
#include <utility>

namespace anylb::cp {

grpc::Status to_status(const ChangeError& e) {
  switch (e.kind) {
    case ChangeError::none: return grpc::Status::OK;
    case ChangeError::invalid: return {grpc::StatusCode::INVALID_ARGUMENT, e.message};
    case ChangeError::not_found: return {grpc::StatusCode::NOT_FOUND, e.message};
    case ChangeError::exists: return {grpc::StatusCode::ALREADY_EXISTS, e.message};
    case ChangeError::internal: return {grpc::StatusCode::INTERNAL, e.message};
    case ChangeError::denied: return {grpc::StatusCode::PERMISSION_DENIED, e.message};
    case ChangeError::exhausted: return {grpc::StatusCode::RESOURCE_EXHAUSTED, e.message};
  }
  return {grpc::StatusCode::INTERNAL, e.message};
}

std::string api_field(const std::string& error) {
  static constexpr std::pair<std::string_view, std::string_view> kFields[] = {
      {"name", "name"}, {"vip", "vip"}, {"proto", "protocol"}, {"port", "port"},
      {"mode", "mode"}, {"fragments", "hash_fragments"}, {"gue-port", "gue_port"}};
  for (const auto& [key, field] : kFields) {
    const std::string prefix = "key '" + std::string(key) + "': ";
    if (error.rfind(prefix, 0) == 0) return std::string(field) + ": " + error.substr(prefix.size());
  }
  return error;
}

const ServiceConfig* find_service(const ControlConfig& c, const std::string& name) {
  for (const ServiceConfig& s : c.services)
    if (s.spec.name == name) return &s;
  return nullptr;
}

const BackendConfig* find_backend(const ControlConfig& c, const BackendId& id) {
  const ServiceConfig* s = find_service(c, id.first);
  if (!s) return nullptr;
  for (const BackendConfig& b : s->backends)
    if (b.address == id.second) return &b;
  return nullptr;
}

ChangeError backend_id(const ControlConfig& c, const std::string& service, const std::string& address, BackendId& out,
                       bool must_exist, const std::string& fields) {
  const ServiceConfig* s = find_service(c, service);
  if (!s) return {ChangeError::not_found, fields + "service: no service named '" + service + "'"};
  auto a = IpAddress::parse(address);
  if (!a) return {ChangeError::invalid, fields + "address: '" + address + "' is not an IPv4 or IPv6 address"};
  out = {service, *a};
  const bool present = find_backend(c, out) != nullptr;
  if (must_exist && !present)
    return {ChangeError::not_found, fields + "address: " + address + " is not a backend of '" + service + "'"};
  if (!must_exist && present)
    return {ChangeError::exists, fields + "address: " + address + " is already a backend of '" + service + "'"};
  return {};
}

ChangeError backend_config(const v1::Backend& in, BackendConfig& out) {
  auto a = IpAddress::parse(in.address());
  if (!a) return {ChangeError::invalid, "backend.address: '" + in.address() + "' is not an IPv4 or IPv6 address"};
  std::optional<MacAddress> m = MacAddress{};  // empty: resolved from the neighbour table
  if (!in.mac().empty()) m = MacAddress::parse(in.mac());
  if (!m || (!in.mac().empty() && m->is_zero()))
    return {ChangeError::invalid, "backend.mac: '" + in.mac() + "' is not a MAC address"};
  if (in.weight() > kMaxBackendWeight)
    return {ChangeError::invalid, "backend.weight: " + std::to_string(in.weight()) + " is out of range (1-10000)"};
  out = BackendConfig{*a, *m, in.weight() == 0 ? 100 : in.weight(), "API"};
  return {};
}

v1::BackendAdminState to_v1(AdminState a) {
  return a == AdminState::enabled    ? v1::BACKEND_ADMIN_STATE_ENABLED
         : a == AdminState::draining ? v1::BACKEND_ADMIN_STATE_DRAINING
                                     : v1::BACKEND_ADMIN_STATE_DISABLED;
}

void fill_backend(const BackendStatus& b, v1::Backend* o) {
  o->set_service(b.service);
  o->set_address(b.address.to_string());
  o->set_mac(b.mac.is_zero() ? std::string() : b.mac.to_string());  // none: resolved from the neighbour table
  o->set_weight(b.weight);
  o->set_admin_state(to_v1(b.admin));
  o->set_health(!b.health.checked ? v1::HEALTH_UNKNOWN : b.health.healthy ? v1::HEALTH_UP : v1::HEALTH_DOWN);
  o->set_registered(b.registered);
  o->set_health_detail(b.health.detail);
  o->set_serving(b.up);
}

void fill_service(const ServiceSpec& s, v1::Service* o) {
  o->set_name(s.name);
  o->set_vip(s.vip.to_string());
  o->set_protocol(s.proto == kProtoTcp ? v1::PROTOCOL_TCP : v1::PROTOCOL_UDP);
  o->set_port(s.port);
  o->set_mode(s.mode == ForwardingMode::l2_dsr ? v1::FORWARDING_MODE_L2_DSR
              : s.mode == ForwardingMode::ipip ? v1::FORWARDING_MODE_IPIP
                                               : v1::FORWARDING_MODE_GUE);
  o->set_hash_fragments(s.fragments == FragmentPolicy::hash);
  if (s.mode == ForwardingMode::gue) o->set_gue_port(s.gue_port);
}

void on_behalf_of(const grpc::ServerContext& caller, grpc::ClientContext& ctx) {
  ctx.set_deadline(std::min(caller.deadline(), std::chrono::system_clock::now() + std::chrono::seconds(60)));
}

}  // namespace anylb::cp
