#include "registration.hpp"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>

namespace anylb::cp {

namespace {

const ServiceConfig* find_service(const ControlConfig& c, const std::string& name) {
  for (const ServiceConfig& s : c.services)
    if (s.spec.name == name) return &s;
  return nullptr;
}

std::string prefix_list(const std::vector<Prefix>& ps) {
  std::string out;
  for (const Prefix& p : ps) out += (out.empty() ? "" : ", ") + p.to_string();
  return out;
}

std::string address_list(const std::vector<IpAddress>& as) {
  std::string out;
  for (const IpAddress& a : as) out += (out.empty() ? "" : ", ") + a.to_string();
  return out.empty() ? "none" : out;
}

bool owns(const Caller& caller, const Registration& r) {
  return caller.role == Role::operator_role || (!caller.owner.empty() && r.owner == caller.owner);
}

bool at(const Registration& r, const BackendId& id) { return r.service == id.first && r.backend.address == id.second; }

// What only a registrar is held to; `id` the backend it asks for.
ChangeError registrar_rules(const Overlay& o, const ServiceConfig& s, const Caller& caller, const BackendId& id,
                            const BackendConfig& b) {
  const std::string& name = s.spec.name;
  const std::string address = id.second.to_string();
  if (!s.registration)
    return {ChangeError::denied, "backend.service: service '" + name + "' takes no registrations (it has no registration)"};
  const RegistrationPolicy& p = *s.registration;
  if (!inside(p.prefixes, host_route(id.second)))
    return {ChangeError::denied, "backend.address: " + address + " is outside service '" + name +
                                     "' registration.prefixes (" + prefix_list(p.prefixes) + ")"};
  if (caller.tls && std::find(caller.cert_addresses.begin(), caller.cert_addresses.end(), id.second) ==
                        caller.cert_addresses.end())
    return {ChangeError::denied, "backend.address: " + address +
                                     " is not an address the client certificate names (SAN IP: " +
                                     address_list(caller.cert_addresses) + ")"};
  if (b.weight != 0 && b.weight != p.weight)
    return {ChangeError::invalid, "backend.weight: " + std::to_string(b.weight) + " is not service '" + name +
                                      "' registration.weight (" + std::to_string(p.weight) + "); leave it 0"};
  // On L2 DSR the MAC is where the flows go: a registrar naming another
  // host's would send it the backend's share of the VIP.
  if (!b.mac.is_zero() && !p.registrar_mac)
    return {ChangeError::denied, "backend.mac: service '" + name +
                                     "' does not let registrars choose their MAC (registration.registrar_mac is "
                                     "false); leave it empty and the node resolves it from its neighbours"};
  // The merged configuration lacks it already, so the check against
  // configured backends below would let it back in.
  if (o.deleted_backends.count(id))
    return {ChangeError::denied, "backend.address: " + address + " was deleted from '" + name +
                                     "' by an operator; only an operator adds it back"};
  for (const auto& [rid, r] : o.registrations)
    if (at(r, id) && !owns(caller, r))
      return {ChangeError::exists, "backend.address: " + address + " is registered in '" + name + "' by someone else"};
  // Every registration held counts, draining out or heartbeats stopped
  // too, until it is removed: letting registrations lapse does not make
  // room for more. The backend's own (replaced below) does not.
  const auto held = std::count_if(o.registrations.begin(), o.registrations.end(),
                                  [&](const auto& r) { return r.second.service == name && !at(r.second, id); });
  if (static_cast<uint64_t>(held) >= p.max_backends)
    return {ChangeError::exhausted, "backend.service: service '" + name + "' holds " + std::to_string(held) +
                                        " registrations, its registration.max_backends"};
  return {};
}

}  // namespace

std::string new_registration_id() {
  unsigned char bytes[16];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = ::getrandom(bytes + got, sizeof bytes - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error("getrandom: no randomness for a registration id");
    got += static_cast<std::size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

std::optional<RegistrationPolicy> registration_policy(const std::vector<std::string>& prefixes, uint32_t max_backends,
                                                      uint32_t weight, const std::string& field, std::string& why) {
  RegistrationPolicy p;
  if (prefixes.empty()) return why = field + ".prefixes: must list at least one prefix", std::nullopt;
  for (std::size_t i = 0; i < prefixes.size(); ++i) {
    std::string bad;
    const auto prefix = parse_prefix(prefixes[i], bad);
    if (!prefix) return why = field + ".prefixes[" + std::to_string(i) + "]: " + bad, std::nullopt;
    p.prefixes.push_back(*prefix);
  }
  if (max_backends < 1 || max_backends > 65534)
    return why = field + ".max_backends: " + std::to_string(max_backends) + " is not a number from 1 to 65534", std::nullopt;
  if (weight > kMaxBackendWeight)
    return why = field + ".weight: " + std::to_string(weight) + " is out of range (1-10000; 0: 100)", std::nullopt;
  p.max_backends = max_backends;
  p.weight = weight == 0 ? 100 : weight;
  return p;
}

ChangeError register_backend(Overlay& o, const ControlConfig& c, const Caller& caller, const RegisterRequest& req,
                             uint64_t now_ms, std::string& id) {
  const ServiceConfig* s = find_service(c, req.service);
  if (!s) return {ChangeError::not_found, "backend.service: no service named '" + req.service + "'"};
  const BackendId bid{req.service, req.backend.address};
  if (caller.role != Role::operator_role)
    if (ChangeError e = registrar_rules(o, *s, caller, bid, req.backend); e.kind != ChangeError::none) return e;
  // The same backend registering again (restarted, its id lost): the new
  // registration replaces its old one. A configured or added backend is
  // not a registration's to take.
  if (o.forget_registrations(bid) == 0)
    for (const BackendConfig& b : s->backends)
      if (b.address == req.backend.address)
        return {ChangeError::exists, "backend.address: " + b.address.to_string() + " is already a backend of '" +
                                         req.service + "'"};
  Registration r{req.service, req.backend, req.ttl_ms, now_ms, std::nullopt, caller.owner};
  if (r.backend.weight == 0) r.backend.weight = s->registration ? s->registration->weight : 100;
  do id = new_registration_id();
  while (o.registrations.count(id));  // 2^-128: never two registrations under one id
  o.registrations[id] = std::move(r);
  return {};
}

ChangeError not_registered(const std::string& id) {
  return {ChangeError::not_found, "registration_id: '" + id + "' is not registered"};
}

Registration* own_registration(Overlay& o, const Caller& caller, const std::string& id) {
  const auto it = o.registrations.find(id);
  if (it == o.registrations.end() || it->second.deregistered_ms || !owns(caller, it->second)) return nullptr;
  return &it->second;
}

ChangeError deregister_backend(Overlay& o, const Caller& caller, const std::string& id, uint64_t now_ms) {
  Registration* r = own_registration(o, caller, id);
  if (!r) return not_registered(id);
  r->deregistered_ms = now_ms;
  return {};
}

std::vector<std::pair<std::string, Registration>> visible_registrations(const Overlay& o, const Caller& caller,
                                                                        const std::string& service) {
  std::vector<std::pair<std::string, Registration>> out;
  for (const auto& [id, r] : o.registrations)
    if (owns(caller, r) && (service.empty() || r.service == service)) out.emplace_back(id, r);
  return out;
}

}  // namespace anylb::cp
