#include "overlay.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <stdexcept>

namespace anylb::cp {

namespace {

std::string admin_name(AdminState a) {
  return a == AdminState::enabled ? "enabled" : a == AdminState::draining ? "draining" : "disabled";
}

AdminState admin_from(const std::string& s) {
  if (s == "enabled") return AdminState::enabled;
  if (s == "draining") return AdminState::draining;
  if (s == "disabled") return AdminState::disabled;
  throw std::runtime_error("unknown admin state '" + s + "'");
}

nlohmann::json backend_json(const BackendConfig& b) {
  return {{"address", b.address.to_string()}, {"mac", b.mac.to_string()}, {"weight", b.weight}};
}

BackendConfig backend_from(const nlohmann::json& j) {
  BackendConfig b;
  auto a = IpAddress::parse(j.at("address").get<std::string>());
  auto m = MacAddress::parse(j.at("mac").get<std::string>());
  if (!a || !m) throw std::runtime_error("bad backend " + j.dump());
  b.address = *a;
  b.mac = *m;
  b.weight = j.at("weight").get<uint32_t>();
  return b;
}

// As the configuration file's and the API's registration, checked alike.
std::optional<RegistrationPolicy> registration_policy(const nlohmann::json& j, const std::string& where, std::string& why) {
  RegistrationPolicy p;
  for (const auto& text : j.at("prefixes")) {
    std::string bad;
    const auto prefix = parse_prefix(text.get<std::string>(), bad);
    if (!prefix) return why = where + ".prefixes: " + bad, std::nullopt;
    p.prefixes.push_back(*prefix);
  }
  p.max_backends = j.at("max_backends").get<uint32_t>();
  p.weight = j.at("weight").get<uint32_t>();
  p.registrar_mac = j.value("registrar_mac", false);  // absent in a state file written before it
  if (p.prefixes.empty() || p.max_backends < 1 || p.max_backends > 65534 || p.weight < 1 || p.weight > kMaxBackendWeight)
    return why = where + ": no prefixes, or max_backends not 1-65534, or weight not 1-10000", std::nullopt;
  return p;
}

}  // namespace

std::string Overlay::to_json() const {
  using nlohmann::json;
  json j;
  j["admin"] = json::array();
  for (const auto& [id, a] : admin) j["admin"].push_back({{"service", id.first}, {"address", id.second.to_string()}, {"state", admin_name(a)}});
  j["weights"] = json::array();
  for (const auto& [id, w] : weights) j["weights"].push_back({{"service", id.first}, {"address", id.second.to_string()}, {"weight", w}});
  j["added_services"] = json::array();
  for (const ServiceConfig& s : added_services)
    j["added_services"].push_back({{"name", s.spec.name}, {"vip", s.spec.vip.to_string()}, {"proto", s.spec.proto == kProtoTcp ? "tcp" : "udp"},
                                   {"port", s.spec.port}, {"mode", std::string(to_string(s.spec.mode))},
                                   {"fragments", std::string(to_string(s.spec.fragments))}, {"quorum", s.quorum.count},
                                   {"gue_port", s.spec.gue_port}});
  for (std::size_t i = 0; i < added_services.size(); ++i)
    if (const auto& p = added_services[i].registration) {
      json prefixes = json::array();
      for (const Prefix& x : p->prefixes) prefixes.push_back(x.to_string());
      j["added_services"][i]["registration"] = {{"prefixes", prefixes}, {"max_backends", p->max_backends}, {"weight", p->weight},
                                                     {"registrar_mac", p->registrar_mac}};
    }
  j["deleted_services"] = deleted_services;
  j["added_backends"] = json::array();
  for (const auto& [id, b] : added_backends) {
    json e = backend_json(b);
    e["service"] = id.first;
    j["added_backends"].push_back(e);
  }
  j["deleted_backends"] = json::array();
  for (const auto& id : deleted_backends) j["deleted_backends"].push_back({{"service", id.first}, {"address", id.second.to_string()}});
  j["registrations"] = json::array();
  for (const auto& [rid, r] : registrations) {
    json e = backend_json(r.backend);
    e["id"] = rid;
    e["service"] = r.service;
    e["ttl_ms"] = r.ttl_ms;
    e["deregistered"] = r.deregistered_ms.has_value();
    e["owner"] = r.owner;
    j["registrations"].push_back(e);
  }
  j["withdrawn_routes"] = withdrawn_routes;
  j["damping"] = json::object();
  for (const auto& [name, d] : damping) j["damping"][name] = {{"penalty", d.penalty}, {"at_unix_ms", d.at_unix_ms}};
  j["announced_prefixes"] = announced_prefixes;
  j["node_draining"] = node_draining;
  return j.dump(1);
}

Overlay Overlay::from_json(const std::string& text) {
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    Overlay o;
    auto id_of = [](const nlohmann::json& e) {
      auto a = IpAddress::parse(e.at("address").get<std::string>());
      if (!a) throw std::runtime_error("bad address in " + e.dump());
      return BackendId{e.at("service").get<std::string>(), *a};
    };
    for (const auto& e : j.at("admin")) o.admin[id_of(e)] = admin_from(e.at("state").get<std::string>());
    for (const auto& e : j.at("weights")) o.weights[id_of(e)] = e.at("weight").get<uint32_t>();
    std::size_t index = 0;
    for (const auto& e : j.at("added_services")) {
      const std::string where = "added_services[" + std::to_string(index++) + "]";
      std::string err;
      const int port = e.at("port").get<int>();
      SpecFields fields = {{"name", e.at("name").get<std::string>()},
                           {"vip", e.at("vip").get<std::string>()},
                           {"proto", e.at("proto").get<std::string>()},
                           {"port", port == 0 ? std::string("any") : std::to_string(port)},
                           {"mode", e.at("mode").get<std::string>()},
                           {"fragments", e.at("fragments").get<std::string>()}};
      if (e.contains("gue_port")) fields.emplace_back("gue-port", std::to_string(e.at("gue_port").get<int>()));
      auto s = parse_service_fields(fields, err);
      if (!s) throw std::runtime_error(where + ": " + err);
      ServiceConfig sc;
      sc.spec = *s;
      sc.spec.origin = "API";
      // As the configuration file's and the API's: a quorum of 0 would
      // announce the VIP with no healthy backend.
      const auto quorum = e.at("quorum").get<int64_t>();
      if (quorum < 1 || quorum > 65534)
        throw std::runtime_error(where + ": key 'quorum': " + std::to_string(quorum) + " is not a number from 1 to 65534");
      sc.quorum = Quorum{static_cast<uint32_t>(quorum), 0};
      sc.check.type = CheckType::tcp;
      if (e.contains("registration")) {  // absent: refuses registrars (and in files of earlier versions)
        std::string why;
        sc.registration = registration_policy(e.at("registration"), where + ".registration", why);
        if (!sc.registration) throw std::runtime_error(why);
      }
      o.added_services.push_back(sc);
    }
    for (const auto& n : j.at("deleted_services")) o.deleted_services.insert(n.get<std::string>());
    for (const auto& e : j.at("added_backends")) o.added_backends[id_of(e)] = backend_from(e);
    for (const auto& e : j.at("deleted_backends")) o.deleted_backends.insert(id_of(e));
    for (const auto& e : j.at("registrations")) {
      Registration r;
      r.service = e.at("service").get<std::string>();
      r.backend = backend_from(e);
      r.ttl_ms = e.at("ttl_ms").get<uint64_t>();
      if (e.at("deregistered").get<bool>()) r.deregistered_ms = 0;  // finish draining out
      if (e.contains("owner")) r.owner = e.at("owner").get<std::string>();  // absent from earlier versions
      o.registrations[e.at("id").get<std::string>()] = r;
    }
    // next_registration, from files of earlier versions (sequential ids),
    // is ignored: ids are random now and the old ones stay as they are.
    if (j.contains("withdrawn_routes"))  // absent from files of earlier versions
      for (const auto& n : j.at("withdrawn_routes")) o.withdrawn_routes.insert(n.get<std::string>());
    if (j.contains("node_draining")) o.node_draining = j.at("node_draining").get<bool>();
    if (j.contains("damping") && j.at("damping").is_object())  // absent from files of earlier versions
      for (const auto& [name, d] : j.at("damping").items()) {
        // Advisory: a value that is not a penalty is dropped, with a word,
        // rather than refusing to start over it.
        const bool ok = d.is_object() && d.contains("penalty") && d.at("penalty").is_number() &&
                        d.contains("at_unix_ms") && d.at("at_unix_ms").is_number_unsigned() &&
                        d.at("penalty").get<double>() >= 0 && d.at("penalty").get<double>() <= 64;
        if (ok) o.damping[name] = {d.at("penalty").get<double>(), d.at("at_unix_ms").get<uint64_t>()};
        else spdlog::warn("state file: damping.{}: not a penalty (0 to 64) and a time (Unix ms); ignored", name);
      }
    if (j.contains("announced_prefixes"))  // absent from files of earlier versions
      for (const auto& n : j.at("announced_prefixes")) o.announced_prefixes.insert(n.get<std::string>());
    return o;
  } catch (const nlohmann::json::exception& e) {
    throw std::runtime_error(std::string("not an anylb state file: ") + e.what());
  }
}

ControlConfig merge(const ControlConfig& base, const Overlay& o) {
  ControlConfig c = base;
  std::erase_if(c.services, [&](const ServiceConfig& s) { return o.deleted_services.count(s.spec.name) > 0; });
  for (const ServiceConfig& s : o.added_services) c.services.push_back(s);
  // Added and registered backends by service, found once: scanned for each
  // service, and each registration checked against every backend, a merge
  // (every register call) of 65534 registered backends took 10^9 steps.
  std::map<std::string, std::vector<const BackendConfig*>> added, registered;
  for (const auto& [id, b] : o.added_backends) added[id.first].push_back(&b);
  for (const auto& [rid, r] : o.registrations) registered[r.service].push_back(&r.backend);
  for (ServiceConfig& s : c.services) {
    std::erase_if(s.backends, [&](const BackendConfig& b) { return o.deleted_backends.count({s.spec.name, b.address}) > 0; });
    if (auto a = added.find(s.spec.name); a != added.end())
      for (const BackendConfig* b : a->second) s.backends.push_back(*b);
    if (auto r = registered.find(s.spec.name); r != registered.end()) {
      std::set<IpAddress> present;
      for (const BackendConfig& b : s.backends) present.insert(b.address);
      for (const BackendConfig* b : r->second)
        if (present.insert(b->address).second) s.backends.push_back(*b);
    }
    for (BackendConfig& b : s.backends)
      if (auto w = o.weights.find({s.spec.name, b.address}); w != o.weights.end()) b.weight = w->second;
  }
  return c;
}

bool Overlay::forget_operator_state(const BackendId& id) {
  const bool had = admin.erase(id) + weights.erase(id) > 0;
  return had;
}

std::size_t Overlay::forget_registrations(const BackendId& id) {
  return std::erase_if(registrations, [&](const auto& r) {
    return r.second.service == id.first && r.second.backend.address == id.second;
  });
}

namespace {

// Re-keys the entries of `m` whose key `name_of` names a service in
// `old_to_new`.
template <typename Map, typename NameOf, typename Renamed>
void rekey(Map& m, NameOf name_of, const std::map<std::string, std::string>& old_to_new, Renamed renamed) {
  Map out;
  for (auto& entry : m) {
    const auto r = old_to_new.find(name_of(entry));
    if (r == old_to_new.end()) out.insert(std::move(entry));
    else out.insert(renamed(std::move(entry), r->second));
  }
  m = std::move(out);
}

}  // namespace

void Overlay::rename_services(const std::map<std::string, std::string>& renamed) {
  std::map<std::string, std::string> old_to_new;
  for (const auto& [to, from] : renamed) old_to_new.emplace(from, to);
  const auto backend_entry = [](auto entry, const std::string& to) {
    return std::pair{BackendId{to, entry.first.second}, std::move(entry.second)};
  };
  const auto first_name = [](const auto& entry) { return entry.first.first; };
  rekey(admin, first_name, old_to_new, backend_entry);
  rekey(weights, first_name, old_to_new, backend_entry);
  rekey(added_backends, first_name, old_to_new, backend_entry);
  rekey(deleted_backends, [](const BackendId& id) { return id.first; }, old_to_new,
        [](BackendId id, const std::string& to) { return BackendId{to, id.second}; });
  const auto by_name = [](const std::string& n) { return n; };
  const auto to_name = [](std::string, const std::string& to) { return to; };
  rekey(deleted_services, by_name, old_to_new, to_name);
  rekey(withdrawn_routes, by_name, old_to_new, to_name);
  rekey(damping, [](const auto& entry) { return entry.first; }, old_to_new,
        [](auto entry, const std::string& to) { return std::pair{to, entry.second}; });
  for (auto& [id, r] : registrations)
    if (const auto n = old_to_new.find(r.service); n != old_to_new.end()) r.service = n->second;
}

bool drop_overlay_duplicates(const ControlConfig& base, Overlay& o) {
  const auto base_service = [&](const std::string& name) -> const ServiceConfig* {
    if (o.deleted_services.count(name)) return nullptr;  // deleted here: the API's copy is the one
    for (const ServiceConfig& s : base.services)
      if (s.spec.name == name) return &s;
    return nullptr;
  };
  const auto services = std::erase_if(o.added_services, [&](const ServiceConfig& s) { return base_service(s.spec.name); });
  const auto backends = std::erase_if(o.added_backends, [&](const auto& entry) {
    const BackendId& id = entry.first;
    const ServiceConfig* s = base_service(id.first);
    return s && !o.deleted_backends.count(id) &&
           std::any_of(s->backends.begin(), s->backends.end(), [&](const BackendConfig& b) { return b.address == id.second; });
  });
  return services + backends > 0;
}

std::string validate_merged(const ControlConfig& c) {
  DesiredState ds;
  ds.node_addresses = c.node_addresses;
  for (const ServiceConfig& s : c.services) {
    ds.services.push_back(s.spec);
    // One added through the API, or kept from it across a reload that
    // narrowed the list: the YAML's own services were checked on load.
    if (!inside(c.allowed_prefixes, host_route(s.spec.vip)))
      return std::string(s.spec.origin == "API" ? "service.vip: " : "") + "service '" + s.spec.name + "': vip " +
             outside_text(s.spec.vip.to_string(), c.allowed_prefixes);
    if (s.spec.vip.is_v4() ? !c.next_hop_v4 : !c.next_hop_v6)
      return "service '" + s.spec.name + "': no next hop of the VIP's family to announce it with";
    for (const BackendConfig& b : s.backends)
      ds.backends.push_back(BackendSpec{s.spec.name, b.address, b.mac, b.weight, BackendState::up,
                                        b.origin.empty() ? s.spec.origin : b.origin});
  }
  // A covering prefix names its services: none may be gone (deleted
  // through the API, which the YAML's check could not see).
  std::set<std::string> names;
  for (const ServiceConfig& s : c.services) names.insert(s.spec.name);
  for (std::size_t i = 0; i < c.covers.size(); ++i)
    for (const std::string& n : c.covers[i].services)
      if (!names.count(n))
        return "service '" + n + "' is listed in covering_prefixes[" + std::to_string(i) + "] (" + c.covers[i].prefix +
               "): take it out there first";
  return validate_desired_state(ds);
}

}  // namespace anylb::cp
