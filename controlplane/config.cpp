#include "config.hpp"

#include <yaml-cpp/yaml.h>

#include <grp.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <tuple>

namespace anylb::cp {

namespace {

constexpr uint32_t kNoExport = 0xFFFFFF01, kNoAdvertise = 0xFFFFFF02, kNoPeer = 0xFFFFFF04;
constexpr uint32_t kGracefulShutdown = 0xFFFF0000, kBlackhole = 0xFFFF029A;
// Why `name` cannot be asked in a DNS check (labels of 1-63 bytes, at most
// 253 in all; "." is the root), or empty.
std::string dns_name_problem(const std::string& name) {
  if (name == ".") return {};
  std::string n = name;
  if (!n.empty() && n.back() == '.') n.pop_back();
  if (n.empty() || n.size() > 253) return "is not a DNS name (1 to 253 characters, or \".\")";
  for (std::size_t start = 0; start <= n.size();) {
    std::size_t dot = n.find('.', start);
    if (dot == std::string::npos) dot = n.size();
    if (dot == start || dot - start > 63) return "has a label that is empty or longer than 63 characters";
    start = dot + 1;
  }
  return {};
}

// Longest check interval or timeout, and longest hold-down or drain wait.
constexpr uint64_t kHourMs = 3'600'000, kDayMs = 24 * kHourMs;

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const YAML::Node& n, const std::string& key, const std::string& why) const {
    const int line = n.Mark().line >= 0 ? n.Mark().line + 1 : 0;
    throw ConfigError(file_ + " line " + std::to_string(line) + ": key '" + key + "': " + why);
  }

  // Rejects keys we do not know: a typo must not silently mean "default".
  void known(const YAML::Node& map, const std::string& where, std::set<std::string> keys) const {
    if (!map.IsMap()) fail(map, where, "must be a mapping");
    for (const auto& kv : map) {
      if (!kv.first.IsScalar()) fail(kv.first, where.empty() ? "(a key)" : where, "a key must be a single word");
      const std::string k = kv.first.as<std::string>();
      if (!keys.count(k)) fail(kv.first, where.empty() ? k : where + "." + k, "unknown key");
    }
  }

  std::string str(const YAML::Node& n, const std::string& key) const {
    if (!n.IsScalar()) fail(n, key, "must be a single value");
    return n.as<std::string>();
  }

  uint64_t number(const YAML::Node& n, const std::string& key, uint64_t min, uint64_t max) const {
    const std::string s = str(n, key);
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || v < min || v > max)
      fail(n, key, "'" + s + "' is not a number from " + std::to_string(min) + " to " + std::to_string(max));
    return v;
  }

  // true or false, as YAML 1.2 spells them (no yes/no/on/off).
  bool boolean(const YAML::Node& n, const std::string& key) const {
    const std::string s = str(n, key);
    if (s != "true" && s != "false") fail(n, key, "'" + s + "' is not true or false");
    return s == "true";
  }

  // "any" or "all" (of a covering prefix's, or a VIP's, services)
  CoverPolicy policy(const YAML::Node& n, const std::string& key) const {
    const std::string s = str(n, key);
    if (s != "any" && s != "all") fail(n, key, "'" + s + "' is not any or all");
    return s == "any" ? CoverPolicy::any : CoverPolicy::all;
  }

  // "500ms", "2s", "1m", at most `max_ms` (checked before multiplying:
  // a huge number of minutes must not wrap into a small one).
  uint64_t duration_ms(const YAML::Node& n, const std::string& key, uint64_t max_ms) const {
    const std::string s = str(n, key);
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    const std::string unit(p, s.data() + s.size());
    if (ec != std::errc() || (unit != "ms" && unit != "s" && unit != "m"))
      fail(n, key, "'" + s + "' is not a duration like 500ms, 2s or 1m");
    const uint64_t per = unit == "ms" ? 1 : unit == "s" ? 1000 : 60'000;
    if (v > max_ms / per)
      fail(n, key, "'" + s + "' is longer than " + std::to_string(max_ms / 60'000) + "m");
    return v * per;
  }

  IpAddress address(const YAML::Node& n, const std::string& key) const {
    auto a = IpAddress::parse(str(n, key));
    if (!a) fail(n, key, "'" + n.as<std::string>() + "' is not an IPv4 or IPv6 address");
    return *a;
  }

  std::vector<uint32_t> communities(const YAML::Node& n, const std::string& key) const {
    if (!n.IsSequence()) fail(n, key, "must be a list");
    std::vector<uint32_t> out;
    for (std::size_t i = 0; i < n.size(); ++i) {
      auto c = parse_community(str(n[i], key));
      if (!c) fail(n[i], key + "[" + std::to_string(i) + "]",
                   "'" + n[i].as<std::string>() + "' is not a community (no-export, nopeer, ..., or ASN:VALUE)");
      out.push_back(*c);
    }
    return out;
  }

  CheckConfig check(const YAML::Node& n, const std::string& key) const {
    known(n, key, {"type", "port", "path", "expect_status", "body", "dns_name", "command", "interval", "timeout",
                   "rise", "fall"});
    CheckConfig c;
    if (!n["type"]) fail(n, key + ".type", "is missing (tcp, http, udp-dns, icmp or exec)");
    const std::string t = str(n["type"], key + ".type");
    static const std::map<std::string, CheckType> types = {{"tcp", CheckType::tcp}, {"http", CheckType::http},
                                                           {"udp-dns", CheckType::udp_dns}, {"icmp", CheckType::icmp},
                                                           {"exec", CheckType::exec}};
    auto it = types.find(t);
    if (it == types.end()) fail(n["type"], key + ".type", "'" + t + "' is not tcp, http, udp-dns, icmp or exec");
    c.type = it->second;
    // A key another type of check reads would be silently ignored: an
    // operator who wrote `path: /health` on a tcp check believes it is used.
    static constexpr std::pair<const char*, const char*> kOnlyFor[] = {
        {"path", "http"},       {"expect_status", "http"}, {"body", "http"},
        {"dns_name", "udp-dns"}, {"command", "exec"},      {"port", "tcp, http and udp-dns"}};
    for (const auto& [k, types_using] : kOnlyFor)
      if (n[k] && std::string_view(types_using).find(t) == std::string_view::npos)
        fail(n[k], key + "." + k, "applies only to " + std::string(types_using) + " checks, not " + t);
    if (n["port"]) c.port = static_cast<uint16_t>(number(n["port"], key + ".port", 1, 65535));
    if (n["path"]) c.path = str(n["path"], key + ".path");
    if (n["expect_status"]) c.expect_status = static_cast<int>(number(n["expect_status"], key + ".expect_status", 100, 599));
    if (n["body"]) c.body = str(n["body"], key + ".body");
    if (n["dns_name"]) {
      c.dns_name = str(n["dns_name"], key + ".dns_name");
      if (std::string why = dns_name_problem(c.dns_name); !why.empty())
        fail(n["dns_name"], key + ".dns_name", "'" + c.dns_name + "' " + why);
    }
    if (n["command"]) c.command = str(n["command"], key + ".command");
    if (c.type == CheckType::exec && c.command.empty()) fail(n, key + ".command", "is required for an exec check");
    if (n["interval"]) c.interval_ms = duration_ms(n["interval"], key + ".interval", kHourMs);
    if (n["timeout"]) c.timeout_ms = duration_ms(n["timeout"], key + ".timeout", kHourMs);
    if (c.interval_ms < 100) fail(n["interval"], key + ".interval", "must be at least 100ms");
    if (c.timeout_ms == 0 || c.timeout_ms > c.interval_ms)
      fail(n["timeout"] ? n["timeout"] : n, key + ".timeout", "must be above 0 and at most the interval");
    if (n["rise"]) c.rise = static_cast<uint32_t>(number(n["rise"], key + ".rise", 1, 100));
    if (n["fall"]) c.fall = static_cast<uint32_t>(number(n["fall"], key + ".fall", 1, 100));
    return c;
  }

  ServiceConfig service(const YAML::Node& n, const std::string& key) const {
    known(n, key, {"name", "vip", "protocol", "port", "mode", "fragments", "gue_port", "quorum", "hold_down",
                   "communities", "med", "prepend", "vip_policy", "check", "backends", "registration"});
    ServiceConfig s;
    for (const char* required : {"name", "vip", "protocol", "port", "check", "backends"})
      if (!n[required]) fail(n, key + "." + required, "is missing");
    // The dataplane's own field parser checks name/vip/protocol/port/mode, so
    // both processes accept exactly the same services. Its keys, and ours:
    static constexpr std::pair<const char*, const char*> kKeys[] = {
        {"name", "name"}, {"vip", "vip"}, {"proto", "protocol"}, {"port", "port"},
        {"mode", "mode"}, {"fragments", "fragments"}, {"gue-port", "gue_port"}};
    SpecFields fields;
    for (const auto& [spec_key, yaml_key] : kKeys)
      if (n[yaml_key]) fields.emplace_back(spec_key, str(n[yaml_key], key + "." + yaml_key));
    std::string error;
    auto parsed = parse_service_fields(fields, error);
    if (!parsed) {
      // The error reads "key 'K': 'value' why"; name our key instead of K.
      std::string yaml_key = "name";
      for (const auto& [spec_key, ours] : kKeys)
        if (error.rfind("key '" + std::string(spec_key) + "'", 0) == 0) yaml_key = ours;
      const auto colon = error.find("': ");
      fail(n[yaml_key] ? n[yaml_key] : n, key + "." + yaml_key,
           error.rfind("key '", 0) == 0 && colon != std::string::npos ? error.substr(colon + 3) : error);
    }
    s.spec = *parsed;
    s.spec.origin = file_ + " line " + std::to_string(n.Mark().line + 1) + ", " + key;
    if (n["quorum"]) {
      const std::string q = str(n["quorum"], key + ".quorum");
      if (!q.empty() && q.back() == '%') {
        uint32_t p = 0;
        auto [e, ec] = std::from_chars(q.data(), q.data() + q.size() - 1, p);
        if (ec != std::errc() || e != q.data() + q.size() - 1 || p == 0 || p > 100)
          fail(n["quorum"], key + ".quorum", "'" + q + "' is not a percentage from 1% to 100%");
        s.quorum = Quorum{0, p};
      } else {
        s.quorum = Quorum{static_cast<uint32_t>(number(n["quorum"], key + ".quorum", 1, 65534)), 0};
      }
    }
    if (n["hold_down"]) s.hold_down_ms = duration_ms(n["hold_down"], key + ".hold_down", kDayMs);
    if (n["communities"]) s.communities = communities(n["communities"], key + ".communities");
    if (n["med"]) s.med = static_cast<uint32_t>(number(n["med"], key + ".med", 0, 0xffffffff));
    if (n["prepend"]) s.prepend = static_cast<uint32_t>(number(n["prepend"], key + ".prepend", 0, 10));
    if (n["vip_policy"]) s.vip_policy = policy(n["vip_policy"], key + ".vip_policy");
    s.check = check(n["check"], key + ".check");
    const YAML::Node& bs = n["backends"];
    if (!bs.IsSequence()) fail(bs, key + ".backends", "must be a list");
    std::set<IpAddress> seen;
    for (std::size_t i = 0; i < bs.size(); ++i) {
      const std::string bk = key + ".backends[" + std::to_string(i) + "]";
      known(bs[i], bk, {"address", "mac", "weight"});
      BackendConfig b;
      if (!bs[i]["address"]) fail(bs[i], bk + ".address", "is missing");
      b.address = address(bs[i]["address"], bk + ".address");
      if (!seen.insert(b.address).second) fail(bs[i]["address"], bk + ".address", "backend listed twice");
      if (bs[i]["mac"]) {  // absent: the dataplane resolves it from the kernel's neighbour table
        auto mac = MacAddress::parse(str(bs[i]["mac"], bk + ".mac"));
        if (!mac || mac->is_zero()) fail(bs[i]["mac"], bk + ".mac", "'" + bs[i]["mac"].as<std::string>() + "' is not a MAC address");
        b.mac = *mac;
      }
      if (bs[i]["weight"]) b.weight = static_cast<uint32_t>(number(bs[i]["weight"], bk + ".weight", 1, kMaxBackendWeight));
      b.origin = file_ + " line " + std::to_string(bs[i].Mark().line + 1) + ", " + bk;
      s.backends.push_back(b);
    }
    if (n["registration"]) s.registration = registration(n["registration"], key + ".registration");
    return s;
  }

  // registration: {prefixes: [CIDR...], max_backends: N, weight: W, registrar_mac: B}
  RegistrationPolicy registration(const YAML::Node& n, const std::string& key) const {
    known(n, key, {"prefixes", "max_backends", "weight", "registrar_mac"});
    RegistrationPolicy p;
    const YAML::Node& ps = n["prefixes"];
    if (!ps || !ps.IsSequence() || ps.size() == 0)
      fail(ps ? ps : n, key + ".prefixes", "must list the prefixes registered addresses lie in, e.g. [10.0.1.0/24]");
    for (std::size_t i = 0; i < ps.size(); ++i) {
      const std::string pk = key + ".prefixes[" + std::to_string(i) + "]";
      std::string why;
      const auto prefix = parse_prefix(str(ps[i], pk), why);
      if (!prefix) fail(ps[i], pk, why);
      p.prefixes.push_back(*prefix);
    }
    // Required: a registrar flooding registrations must meet a bound the
    // operator chose.
    if (!n["max_backends"]) fail(n, key + ".max_backends", "is missing");
    p.max_backends = static_cast<uint32_t>(number(n["max_backends"], key + ".max_backends", 1, 65534));
    if (n["weight"]) p.weight = static_cast<uint32_t>(number(n["weight"], key + ".weight", 1, kMaxBackendWeight));
    if (n["registrar_mac"]) p.registrar_mac = boolean(n["registrar_mac"], key + ".registrar_mac");
    return p;
  }

 private:
  std::string file_;
};

// 1-65535, digits only: "abc" once got through to a bare "stoi" at start.
bool is_port(const std::string& s) {
  uint32_t v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size() && v >= 1 && v <= 65535;
}

}  // namespace

std::optional<uint32_t> parse_community(const std::string& t) {
  static const std::map<std::string, uint32_t> names = {{"no-export", kNoExport}, {"no-advertise", kNoAdvertise},
                                                        {"nopeer", kNoPeer}, {"graceful-shutdown", kGracefulShutdown},
                                                        {"blackhole", kBlackhole}};
  if (auto it = names.find(t); it != names.end()) return it->second;
  const auto colon = t.find(':');
  if (colon == std::string::npos) return std::nullopt;
  uint32_t hi = 0, lo = 0;
  auto [p1, e1] = std::from_chars(t.data(), t.data() + colon, hi);
  auto [p2, e2] = std::from_chars(t.data() + colon + 1, t.data() + t.size(), lo);
  if (e1 != std::errc() || e2 != std::errc() || p1 != t.data() + colon || p2 != t.data() + t.size() || hi > 0xffff ||
      lo > 0xffff)
    return std::nullopt;
  return (hi << 16) | lo;
}

std::string community_name(uint32_t c) {
  switch (c) {
    case kNoExport: return "no-export";
    case kNoAdvertise: return "no-advertise";
    case kNoPeer: return "nopeer";
    case kGracefulShutdown: return "graceful-shutdown";
    case kBlackhole: return "blackhole";
  }
  return std::to_string(c >> 16) + ":" + std::to_string(c & 0xffff);
}

namespace {

// A group by name or number, as `chown` takes it.
gid_t group_id(const Reader& r, const YAML::Node& n, const std::string& key) {
  const std::string g = r.str(n, key);
  gid_t gid = 0;
  if (auto [p, ec] = std::from_chars(g.data(), g.data() + g.size(), gid); ec == std::errc() && p == g.data() + g.size())
    return gid;
  std::vector<char> buf(16384);
  group gr{};
  group* found = nullptr;
  if (::getgrnam_r(g.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr)
    r.fail(n, key, "'" + g + "' is not a group of this system (a name or a number)");
  return found->gr_gid;
}

// A PEM file the API reads at start: checked now, so that --check and a
// reload name the key rather than the start failing later.
std::string readable_file(const Reader& r, const YAML::Node& n, const std::string& key) {
  const std::string path = r.str(n, key);
  std::ifstream f(path);
  if (!f) r.fail(n, key, "'" + path + "' cannot be read: " + std::strerror(errno));
  return path;
}

void read_api(const Reader& r, const YAML::Node& api, ControlConfig& c) {
  r.known(api, "api", {"socket", "group", "registrar_socket", "registrar_group", "tcp", "tls"});
  if (api["socket"]) c.api_socket = r.str(api["socket"], "api.socket");
  if (api["group"]) c.api_group = group_id(r, api["group"], "api.group");
  if (api["registrar_socket"]) c.api_registrar_socket = r.str(api["registrar_socket"], "api.registrar_socket");
  if (api["registrar_group"]) {
    if (c.api_registrar_socket.empty()) r.fail(api["registrar_group"], "api.registrar_group", "needs api.registrar_socket");
    c.api_registrar_group = group_id(r, api["registrar_group"], "api.registrar_group");
  }
  if (!c.api_registrar_socket.empty() && c.api_registrar_socket == c.api_socket)
    r.fail(api["registrar_socket"], "api.registrar_socket", "'" + c.api_registrar_socket + "' is api.socket's path too");
  if (api["tls"]) {
    const YAML::Node& tls = api["tls"];
    r.known(tls, "api.tls", {"ca", "cert", "key"});
    for (const char* k : {"ca", "cert", "key"})
      if (!tls[k]) r.fail(tls, std::string("api.tls.") + k, "is missing (api.tls needs ca, cert and key)");
    c.api_tls = {readable_file(r, tls["ca"], "api.tls.ca"), readable_file(r, tls["cert"], "api.tls.cert"),
                 readable_file(r, tls["key"], "api.tls.key")};
  }
  if (api["tcp"]) {
    c.api_tcp = r.str(api["tcp"], "api.tcp");
    // The host part, brackets and all; every interface (0.0.0.0, [::],
    // none) would put the API on every network.
    const auto colon = c.api_tcp.rfind(':');
    const std::string host = colon == std::string::npos ? "" : c.api_tcp.substr(0, colon);
    const auto bare = host.size() >= 2 && host.front() == '[' && host.back() == ']' ? host.substr(1, host.size() - 2) : host;
    const auto a = IpAddress::parse(bare);
    if (colon == std::string::npos || !a || prefix_network(*a, 0) == *a ||  // 0.0.0.0 or ::
        !is_port(c.api_tcp.substr(colon + 1)))
      r.fail(api["tcp"], "api.tcp", "'" + c.api_tcp + "' must be an explicit ADDRESS:PORT (not every interface)");
    // Whoever reaches the port would control the node: TCP is served only
    // to callers with a client certificate our CA signed.
    if (c.api_tls.empty())
      r.fail(api["tcp"], "api.tcp", "is served only with TLS and client certificates: add api.tls (ca, cert, key)");
  } else if (api["tls"]) {
    r.fail(api["tls"], "api.tls", "is used only with api.tcp");
  }
}

}  // namespace

ControlConfig load_config(const std::string& path) {
  Reader r(path);
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw ConfigError(path + ": cannot read the file");
  } catch (const YAML::ParserException& e) {
    throw ConfigError(path + " line " + std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg);
  }
  ControlConfig c;
  c.file = path;
  r.known(root, "", {"node", "gobgp", "api", "metrics", "health", "services", "covering_prefixes"});
  // Exec checks run as this user (root would hand every check's command
  // the node); resolved now, so that an unknown one is refused with the rest.
  if (root["health"]) {
    r.known(root["health"], "health", {"exec_user", "source_ports"});
    if (root["health"]["exec_user"]) c.exec_user.name = r.str(root["health"]["exec_user"], "health.exec_user");
  }
  if (auto u = find_exec_user(c.exec_user.name))
    c.exec_user = *u;
  else if (root["health"] && root["health"]["exec_user"])
    r.fail(root["health"]["exec_user"], "health.exec_user", "'" + c.exec_user.name + "' is not a user on this system");
  else
    r.fail(root, "health.exec_user", "the default '" + c.exec_user.name + "' is not a user on this system: name one");
  if (root["api"]) read_api(r, root["api"], c);
  if (root["metrics"]) {
    r.known(root["metrics"], "metrics", {"listen"});
    if (root["metrics"]["listen"]) c.metrics_listen = r.str(root["metrics"]["listen"], "metrics.listen");
    const auto colon = c.metrics_listen.rfind(':');
    if (colon == std::string::npos || !is_port(c.metrics_listen.substr(colon + 1)))
      r.fail(root["metrics"]["listen"], "metrics.listen", "'" + c.metrics_listen + "' is not ADDRESS:PORT");
  }
  if (!root["node"]) r.fail(root, "node", "is missing");
  const YAML::Node& node = root["node"];
  r.known(node, "node", {"name", "dataplane_socket", "node_addresses", "allowed_prefixes", "next_hop", "next_hop_v6",
                         "drain_wait", "state_file", "orphan_timeout"});
  // Required: a node with no list would announce whatever it is told.
  const YAML::Node& allowed = node["allowed_prefixes"];
  if (!allowed || !allowed.IsSequence() || allowed.size() == 0)
    r.fail(allowed ? allowed : node, "node.allowed_prefixes",
           "must list the prefixes this node may announce (its VIPs and covering prefixes lie inside them), "
           "e.g. [203.0.113.0/24, 2001:db8:10::/48]");
  for (std::size_t i = 0; i < allowed.size(); ++i) {
    const std::string key = "node.allowed_prefixes[" + std::to_string(i) + "]";
    std::string why;
    const auto p = parse_prefix(r.str(allowed[i], key), why);
    if (!p) r.fail(allowed[i], key, why);
    if (std::string wide = too_wide(*p); !wide.empty()) r.fail(allowed[i], key, wide);
    c.allowed_prefixes.push_back(*p);
  }
  if (node["state_file"]) c.state_file = r.str(node["state_file"], "node.state_file");
  if (node["name"]) {
    c.node_name = r.str(node["name"], "node.name");
    if (std::string why = name_problem(c.node_name); !why.empty())  // as a service's: a word in logs and labels
      r.fail(node["name"], "node.name", "'" + c.node_name + "' " + why);
  }
  if (node["dataplane_socket"]) c.dataplane_socket = r.str(node["dataplane_socket"], "node.dataplane_socket");
  if (node["node_addresses"]) {
    if (!node["node_addresses"].IsSequence()) r.fail(node["node_addresses"], "node.node_addresses", "must be a list");
    for (std::size_t i = 0; i < node["node_addresses"].size(); ++i)
      c.node_addresses.push_back(r.address(node["node_addresses"][i], "node.node_addresses[" + std::to_string(i) + "]"));
  }
  if (node["next_hop"]) {
    c.next_hop_v4 = r.address(node["next_hop"], "node.next_hop");
    if (!c.next_hop_v4->is_v4()) r.fail(node["next_hop"], "node.next_hop", "must be an IPv4 address");
  }
  if (node["next_hop_v6"]) {
    c.next_hop_v6 = r.address(node["next_hop_v6"], "node.next_hop_v6");
    if (c.next_hop_v6->is_v4()) r.fail(node["next_hop_v6"], "node.next_hop_v6", "must be an IPv6 address");
  }
  for (const IpAddress& a : c.node_addresses) {
    if (a.is_v4() && !c.next_hop_v4) c.next_hop_v4 = a;
    if (!a.is_v4() && !c.next_hop_v6) c.next_hop_v6 = a;
  }
  if (node["drain_wait"]) c.drain_wait_ms = r.duration_ms(node["drain_wait"], "node.drain_wait", kDayMs);
  if (node["orphan_timeout"]) c.orphan_timeout_ms = r.duration_ms(node["orphan_timeout"], "node.orphan_timeout", kDayMs);
  if (root["gobgp"]) {
    r.known(root["gobgp"], "gobgp", {"api"});
    if (root["gobgp"]["api"]) c.gobgp_api = r.str(root["gobgp"]["api"], "gobgp.api");
  }
  if (root["health"]) {
    if (const YAML::Node& sp = root["health"]["source_ports"]) {
      std::string why;
      const auto range = parse_port_range(r.str(sp, "health.source_ports"), why);
      if (!range) r.fail(sp, "health.source_ports", why);
      // Ports others may hold (a well-known service's) or too few for
      // the probes in flight and the TCP ones lingering (TIME_WAIT).
      if (!range->any() && (range->first < 1024 || range->size() < 64))
        r.fail(sp, "health.source_ports", "'" + range->to_string() +
                                              "' must lie above 1023 and hold at least 64 ports (or be 'any')");
      c.probe_source_ports = *range;
    }
  }
  if (!root["services"] || !root["services"].IsSequence()) r.fail(root, "services", "must be a list of services");
  std::set<std::string> names;
  std::set<IpAddress> vips;
  for (std::size_t i = 0; i < root["services"].size(); ++i) {
    const std::string key = "services[" + std::to_string(i) + "]";
    const YAML::Node& n = root["services"][i];
    ServiceConfig s = r.service(n, key);
    if (!names.insert(s.spec.name).second) r.fail(n["name"], key + ".name", "name already used");
    if (!vips.insert(s.spec.vip).second) {
      const ServiceConfig& other = *std::find_if(c.services.begin(), c.services.end(),
                                                 [&](const ServiceConfig& o) { return o.spec.vip == s.spec.vip; });
      if (other.vip_policy != s.vip_policy)
        r.fail(n["vip_policy"] ? n["vip_policy"] : n, key + ".vip_policy",
               std::string("is ") + (s.vip_policy == CoverPolicy::any ? "any" : "all") + " but service '" +
                   other.spec.name + "' on the same VIP has " + (other.vip_policy == CoverPolicy::any ? "any" : "all") +
                   ": set it alike on every service of " + s.spec.vip.to_string());
    }
    // A check that probes the service's port needs one: "any" is none.
    const bool probes_port = s.check.type == CheckType::tcp || s.check.type == CheckType::http ||
                             s.check.type == CheckType::udp_dns;
    if (s.spec.port == kAnyPort && s.check.port == 0 && probes_port)
      r.fail(n["check"] ? n["check"] : n, key + ".check.port",
             "is required: the service has port any, and its check probes a port");
    if (!inside(c.allowed_prefixes, host_route(s.spec.vip)))
      r.fail(n["vip"] ? n["vip"] : n, key + ".vip", outside_text(s.spec.vip.to_string(), c.allowed_prefixes));
    const bool v4 = s.spec.vip.is_v4();
    if (v4 ? !c.next_hop_v4 : !c.next_hop_v6)
      r.fail(root["services"][i]["vip"], key + ".vip",
             std::string("no ") + (v4 ? "IPv4" : "IPv6") + " next hop to announce it with (node.next_hop" +
                 (v4 ? "" : "_v6") + " or a node address of that family)");
    c.services.push_back(std::move(s));
  }
  // The dataplane's own whole-state checks (duplicate keys, families, ...).
  DesiredState ds;
  ds.node_addresses = c.node_addresses;
  for (const ServiceConfig& s : c.services) {
    ds.services.push_back(s.spec);
    for (const BackendConfig& b : s.backends)
      ds.backends.push_back(BackendSpec{s.spec.name, b.address, b.mac, b.weight, BackendState::up, b.origin});
  }
  if (std::string err = validate_desired_state(ds); !err.empty()) throw ConfigError(path + ": " + err);

  if (root["covering_prefixes"]) {
    const YAML::Node& cps = root["covering_prefixes"];
    if (!cps.IsSequence()) r.fail(cps, "covering_prefixes", "must be a list");
    for (std::size_t i = 0; i < cps.size(); ++i) {
      const std::string key = "covering_prefixes[" + std::to_string(i) + "]";
      const YAML::Node& n = cps[i];
      r.known(n, key, {"prefix", "policy", "services", "communities", "med", "prepend"});
      CoverConfig cv;
      if (!n["prefix"]) r.fail(n, key + ".prefix", "is missing");
      cv.prefix = r.str(n["prefix"], key + ".prefix");
      std::string why;
      const auto parsed = parse_prefix(cv.prefix, why);
      if (!parsed) r.fail(n["prefix"], key + ".prefix", why);
      if (std::string wide = too_wide(*parsed); !wide.empty()) r.fail(n["prefix"], key + ".prefix", wide);
      if (!inside(c.allowed_prefixes, *parsed))
        r.fail(n["prefix"], key + ".prefix", outside_text(cv.prefix, c.allowed_prefixes));
      cv.address = parsed->network;
      cv.length = parsed->length;
      if (cv.address.is_v4() ? !c.next_hop_v4 : !c.next_hop_v6)
        r.fail(n["prefix"], key + ".prefix",
               std::string("no ") + (cv.address.is_v4() ? "IPv4" : "IPv6") + " next hop to announce it with (node.next_hop" +
                   (cv.address.is_v4() ? "" : "_v6") + " or a node address of that family)");
      // One path per prefix: a second cover of it, or a cover that is a
      // VIP's own host route, would make two that overwrite each other.
      for (const CoverConfig& o : c.covers)
        if (o.address == cv.address && o.length == cv.length)
          r.fail(n["prefix"], key + ".prefix", "'" + cv.prefix + "' is already covering prefix " + o.prefix);
      if (cv.length == (cv.address.is_v4() ? 32u : 128u) && vips.count(cv.address))
        r.fail(n["prefix"], key + ".prefix", "'" + cv.prefix + "' is a VIP's own host route");
      if (n["policy"]) cv.policy = r.policy(n["policy"], key + ".policy");
      if (!n["services"] || !n["services"].IsSequence() || n["services"].size() == 0)
        r.fail(n, key + ".services", "must list at least one service");
      for (std::size_t j = 0; j < n["services"].size(); ++j) {
        const std::string sn = r.str(n["services"][j], key + ".services[" + std::to_string(j) + "]");
        if (!names.count(sn)) r.fail(n["services"][j], key + ".services[" + std::to_string(j) + "]", "no service named '" + sn + "'");
        // A cover stands for the VIPs inside it (RFC 4786 4.4).
        const ServiceConfig& svc = *std::find_if(c.services.begin(), c.services.end(),
                                                 [&](const ServiceConfig& o) { return o.spec.name == sn; });
        if (svc.spec.vip.is_v4() != cv.address.is_v4() || prefix_network(svc.spec.vip, cv.length) != cv.address)
          r.fail(n["services"][j], key + ".services[" + std::to_string(j) + "]",
                 "service '" + sn + "' has VIP " + svc.spec.vip.to_string() + ", not inside " + cv.prefix);
        cv.services.push_back(sn);
      }
      if (n["communities"]) cv.communities = r.communities(n["communities"], key + ".communities");
      if (n["med"]) cv.med = static_cast<uint32_t>(r.number(n["med"], key + ".med", 0, 0xffffffff));
      if (n["prepend"]) cv.prepend = static_cast<uint32_t>(r.number(n["prepend"], key + ".prepend", 0, 10));
      c.covers.push_back(cv);
    }
  }
  return c;
}

std::map<std::string, std::string> renamed_services(const std::vector<ServiceConfig>& before,
                                                    const std::vector<ServiceConfig>& after) {
  using Where = std::tuple<IpAddress, uint8_t, uint16_t>;
  const auto where = [](const ServiceConfig& s) { return Where{s.spec.vip, s.spec.proto, s.spec.port}; };
  std::set<std::string> before_names, after_names;
  for (const ServiceConfig& s : before) before_names.insert(s.spec.name);
  for (const ServiceConfig& s : after) after_names.insert(s.spec.name);
  std::map<Where, std::string> gone;
  for (const ServiceConfig& s : before)
    if (!after_names.count(s.spec.name)) gone.emplace(where(s), s.spec.name);
  std::map<std::string, std::string> out;
  for (const ServiceConfig& s : after) {
    if (before_names.count(s.spec.name)) continue;
    if (const auto g = gone.find(where(s)); g != gone.end()) {
      out.emplace(s.spec.name, g->second);
      gone.erase(g);
    }
  }
  return out;
}

}  // namespace anylb::cp
