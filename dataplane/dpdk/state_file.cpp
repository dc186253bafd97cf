#include "state_file.hpp"

#include <nlohmann/json.hpp>

namespace anylb {

std::string desired_state_to_json(const DesiredState& state, uint64_t generation, StateSource source) {
  using nlohmann::json;
  json j;
  j["generation"] = generation;
  j["source"] = source == StateSource::api ? "api" : "options";
  j["node_addresses"] = json::array();
  for (const IpAddress& a : state.node_addresses) j["node_addresses"].push_back(a.to_string());
  j["services"] = json::array();
  for (const ServiceSpec& s : state.services)
    j["services"].push_back({{"name", s.name}, {"vip", s.vip.to_string()}, {"proto", s.proto == kProtoTcp ? "tcp" : "udp"},
                             {"port", s.port}, {"mode", std::string(to_string(s.mode))},
                             {"fragments", std::string(to_string(s.fragments))}, {"gue_port", s.gue_port}});
  j["backends"] = json::array();
  for (const BackendSpec& b : state.backends) {
    json backend = {{"service", b.service}, {"address", b.address.to_string()}, {"weight", b.weight},
                    {"state", std::string(to_string(b.state))}};
    if (!b.mac.is_zero()) backend["mac"] = b.mac.to_string();  // none: the neighbour table gives it
    j["backends"].push_back(backend);
  }
  j["bgp_peers"] = json::array();
  for (const IpAddress& a : state.bgp_peers) j["bgp_peers"].push_back(a.to_string());
  j["gtsm_peers"] = json::array();
  for (const IpAddress& a : state.gtsm_peers) j["gtsm_peers"].push_back(a.to_string());
  j["probe_ports"] = state.probe_ports.to_string();
  return j.dump(1);
}

std::optional<DesiredState> desired_state_from_json(const std::string& text, uint64_t& generation,
                                                    std::string& error, StateSource* source) {
  // Reuses the option spec parsers, so the file and the options agree, on
  // fields taken apart here (no splitting on spaces or commas).
  const auto text_of = [](const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
  try {
    const nlohmann::json j = nlohmann::json::parse(text);
    DesiredState st;
    if (!j.at("generation").is_number_unsigned()) {  // get<uint64_t> would wrap -1 to the largest generation
      error = "generation: '" + j.at("generation").dump() + "' is not a generation (0 or more)";
      return std::nullopt;
    }
    generation = j.at("generation").get<uint64_t>();
    if (source != nullptr && j.contains("source")) {
      const std::string from = j.at("source").get<std::string>();
      if (from != "api" && from != "options") {
        error = "source: '" + from + "' is not api or options";
        return std::nullopt;
      }
      *source = from == "api" ? StateSource::api : StateSource::options;
    } else if (source != nullptr) {
      *source = StateSource::options;
    }
    // A list of addresses; false, with `error` naming the entry, at the
    // first that is not one.
    const auto addresses = [&](const char* name, std::vector<IpAddress>& out) {
      std::size_t k = 0;
      for (const auto& a : j.at(name)) {
        auto ip = IpAddress::parse(a.get<std::string>());
        if (!ip) {
          error = std::string(name) + "[" + std::to_string(k) + "]: '" + a.get<std::string>() + "' is not an address";
          return false;
        }
        out.push_back(*ip);
        ++k;
      }
      return true;
    };
    if (!addresses("node_addresses", st.node_addresses)) return std::nullopt;
    std::size_t i = 0;
    for (const auto& s : j.at("services")) {
      const SpecFields fields = {
          {"name", s.at("name").get<std::string>()},
          {"vip", s.at("vip").get<std::string>()},
          {"proto", s.at("proto").get<std::string>()},
          {"port", text_of(s.at("port")) == "0" ? std::string("any") : text_of(s.at("port"))},
          {"mode", s.at("mode").get<std::string>()},
          {"fragments", s.at("fragments").get<std::string>()},
          {"gue-port", text_of(s.at("gue_port"))}};
      auto parsed = parse_service_fields(fields, error);
      if (!parsed) { error = "services[" + std::to_string(i) + "]: " + error; return std::nullopt; }
      parsed->origin = "services[" + std::to_string(i++) + "]";
      st.services.push_back(*parsed);
    }
    i = 0;
    for (const auto& b : j.at("backends")) {
      SpecFields fields = {{"service", b.at("service").get<std::string>()},
                           {"address", b.at("address").get<std::string>()},
                           {"weight", text_of(b.at("weight"))},
                           {"state", b.at("state").get<std::string>()}};
      // No MAC, or (as files written before 2026-12-01 put it) a zero one:
      // the neighbour table gives it.
      if (b.contains("mac") && b.at("mac").get<std::string>() != MacAddress{}.to_string())
        fields.emplace_back("mac", b.at("mac").get<std::string>());
      auto parsed = parse_backend_fields(fields, error);
      if (!parsed) { error = "backends[" + std::to_string(i) + "]: " + error; return std::nullopt; }
      parsed->origin = "backends[" + std::to_string(i++) + "]";
      st.backends.push_back(*parsed);
    }
    // Files written before 2026-12-02 have no bgp_peers.
    if (j.contains("bgp_peers") && !addresses("bgp_peers", st.bgp_peers)) return std::nullopt;
    // Nor, before 2026-12-08, gtsm_peers and probe_ports.
    if (j.contains("gtsm_peers") && !addresses("gtsm_peers", st.gtsm_peers)) return std::nullopt;
    if (j.contains("probe_ports")) {
      const auto r = parse_port_range(j.at("probe_ports").get<std::string>(), error);
      if (!r) { error = "probe_ports: " + error; return std::nullopt; }
      st.probe_ports = *r;
    }
    error = validate_desired_state(st);
    if (!error.empty()) return std::nullopt;
    return st;
  } catch (const nlohmann::json::exception& e) {
    error = std::string("not a state file: ") + e.what();
    return std::nullopt;
  }
}

}  // namespace anylb
