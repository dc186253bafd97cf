#include "options.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "api_limits.hpp"
#include "flow_table.hpp"
#include "maglev.hpp"
#include "po_error_text.hpp"

namespace po = boost::program_options;

namespace anylb {
namespace {

// Raw option values, before validation.
struct RawOptions {
  std::string eal;
  std::vector<std::string> services, backends, node_addresses, bgp_peers, gtsm_peers;
  std::string probe_ports;
  uint32_t tcp_timeout = 300, tcp_closing_timeout = 10, tcp_syn_timeout = 10, udp_timeout = 60;
};

po::options_description describe(DataplaneOptions& o, RawOptions& raw) {
  po::options_description general("General");
  general.add_options()
      ("help,h", "print this help and exit")
      ("config,c", po::value(&o.config_file)->value_name("FILE"),
       "read options from FILE (one 'option = value' per line, '#' comments); "
       "the command line takes precedence")
      ("log-level", po::value(&o.log_level)->default_value(o.log_level)->value_name("LEVEL"),
       "trace, debug, info, warn, error, critical or off")
      ("stats-interval", po::value(&o.stats_interval_s)->default_value(o.stats_interval_s)->value_name("SEC"),
       "how often counters are summed, logged (at debug) and written to --counters-file")
      ("counters-file", po::value(&o.counters_file)->value_name("FILE"),
       "write all counters as JSON to FILE every --stats-interval and at exit")
      ("api-socket", po::value(&o.api_socket)->default_value(o.api_socket)->value_name("PATH"),
       "serve the anylb.dataplane.v1 gRPC API on this unix socket (mode 0660); empty: no API")
      ("state-file", po::value(&o.state_file)->value_name("FILE"),
       "persist every applied desired state here (JSON) and restore it at start, "
       "so API changes survive a restart; it then wins over the services in the options");

  po::options_description dpdk("DPDK");
  dpdk.add_options()
      ("eal", po::value(&raw.eal)->value_name("ARGS"),
       "EAL arguments, space-separated (e.g. \"-l 0-2 --no-huge -m 1024 --vdev=net_pcap0,...\"); "
       "every EAL lcore but the main one becomes a worker")
      ("port", po::value(&o.ports)->composing()->value_name("NAME"),
       "a port to serve, by device name (PCI address or vdev name); repeat for more; default: every probed port")
      ("tx-port", po::value(&o.tx_port)->value_name("NAME"),
       "two-armed: forwarded packets leave through this port (one of the served ports); "
       "default: through the port they came in on")
      ("exception-interface", po::value(&o.exception_interface)->value_name("NAME"),
       "create a kernel interface (net_tap) per data port carrying the node's own traffic: ARP/ND, ICMP, "
       "BGP, health-check replies go to it, and what the kernel sends on it leaves through the port. "
       "NAME for the first port, NAME1, NAME2, ... for the others; it takes the port's MAC")
      ("exception-rate", po::value(&o.exception_rate)->default_value(o.exception_rate)->value_name("PPS"),
       "frames a second each worker hands the kernel, in each of four classes (ARP and neighbour discovery; "
       "BGP; from a backend's address; the rest), with a tenth of a second of burst: beyond it they are "
       "dropped (exception_policed), so a flood at the node's addresses cannot take the VIPs' time nor "
       "another class's share; 0: no limit")
      ("rx-descriptors", po::value(&o.rx_descriptors)->default_value(o.rx_descriptors)->value_name("N"),
       "RX ring size per queue")
      ("tx-descriptors", po::value(&o.tx_descriptors)->default_value(o.tx_descriptors)->value_name("N"),
       "TX ring size per queue")
      ("mbufs", po::value(&o.mbufs)->default_value(o.mbufs)->value_name("N"), "mbufs in the packet pool")
      ("mbuf-cache", po::value(&o.mbuf_cache)->default_value(o.mbuf_cache)->value_name("N"),
       "per-lcore mbuf cache size")
      ("mtu", po::value(&o.mtu)->default_value(o.mtu)->value_name("BYTES"),
       "port MTU: largest IP packet sent, encapsulation included");

  po::options_description lb("Load balancing");
  lb.add_options()
      ("flow-capacity", po::value(&o.flow_capacity)->default_value(o.flow_capacity)->value_name("N"),
       "flows tracked per worker lcore, at least (the table has headroom: up to twice as many); "
       "when a flow's buckets are full, an unconfirmed flow (one packet seen) is evicted first, "
       "else the flow closest to expiry")
      ("new-flow-rate", po::value(&o.new_flow_rate)->default_value(o.new_flow_rate)->value_name("N"),
       "new flows a second each worker pins in its flow table, with a tenth of a second of burst; past it a new "
       "flow's packets are forwarded by Maglev alone, unpinned (counted: flows_not_inserted), so that a flood "
       "of new flows cannot churn the table; 0: no limit")
      ("tcp-timeout", po::value(&raw.tcp_timeout)->default_value(raw.tcp_timeout)->value_name("SEC"),
       "idle timeout of a TCP flow")
      ("tcp-closing-timeout", po::value(&raw.tcp_closing_timeout)->default_value(raw.tcp_closing_timeout)->value_name("SEC"),
       "idle timeout of a TCP flow after a FIN or RST")
      ("tcp-syn-timeout", po::value(&raw.tcp_syn_timeout)->default_value(raw.tcp_syn_timeout)->value_name("SEC"),
       "idle timeout of a half-open TCP flow (last packet a SYN without ACK), and the most any "
       "unconfirmed flow gets (its first packet; TCP or UDP) until a second packet of it comes")
      ("udp-timeout", po::value(&raw.udp_timeout)->default_value(raw.udp_timeout)->value_name("SEC"),
       "idle timeout of a UDP flow")
      ("maglev-size", po::value(&o.limits.maglev_size)->default_value(o.limits.maglev_size)->value_name("M"),
       "Maglev lookup table size, a prime (65537, 655373, ...)")
      ("max-services", po::value(&o.limits.max_services)->default_value(o.limits.max_services)->value_name("N"),
       "most services at once")
      ("max-backends", po::value(&o.limits.max_backends)->default_value(o.limits.max_backends)->value_name("N"),
       "most (service, backend) pairs at once");

  po::options_description services("Services (a dataplane's own, when no control plane drives it; reloaded on SIGHUP)");
  services.add_options()
      ("node-address", po::value(&raw.node_addresses)->composing()->value_name("ADDR"),
       "an address of this node: traffic to it goes to the exception path, and the first of each "
       "family is the outer source of ipip/gue; repeat for more")
      ("bgp-peer", po::value(&raw.bgp_peers)->composing()->value_name("ADDR"),
       "a BGP peer's address: the exception path polices BGP from the peers apart from the rest "
       "(none: from any source); repeat for more")
      ("gtsm-peer", po::value(&raw.gtsm_peers)->composing()->value_name("ADDR"),
       "a BGP peer configured for GTSM (RFC 5082): its BGP is policed as such only with TTL / hop "
       "limit 255; repeat for more")
      ("probe-ports", po::value(&raw.probe_ports)->value_name("FIRST-LAST"),
       "the health probes' source ports (and ICMP echo ids): a backend's packet is policed as a probe's "
       "reply only to one of these (none: whatever a backend sends)")
      ("service", po::value(&raw.services)->composing()->value_name("SPEC"),
       "a service: \"name=NAME vip=ADDR proto=tcp|udp port=N|any mode=l2-dsr|ipip|gue "
       "[fragments=drop|hash] [gue-port=N]\"; repeat for more")
      ("backend", po::value(&raw.backends)->composing()->value_name("SPEC"),
       "a backend: \"service=NAME address=ADDR [mac=MAC] [weight=1-10000] [state=up|draining|down]\"; "
       "without mac, its MAC comes from the kernel's neighbour table on --exception-interface "
       "(no new flows until resolved); repeat for more");

  po::options_description all("anylb-dataplane: DPDK anycast L4 load balancer dataplane\n\n"
                              "Usage: anylb-dataplane [OPTIONS] [-- EAL ARGS]\n\nOptions");
  all.add(general).add(dpdk).add(lb).add(services);
  return all;
}

std::vector<std::string> split_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// A config file line as key and value, or nothing for blanks and comments.
bool config_line(const std::string& line, std::string& key) {
  std::size_t b = line.find_first_not_of(" \t");
  if (b == std::string::npos || line[b] == '#') return false;
  std::size_t eq = line.find('=');
  std::string k = line.substr(b, eq == std::string::npos ? std::string::npos : eq - b);
  k.erase(k.find_last_not_of(" \t\r") + 1);
  key = k;
  return true;
}

struct Origins {
  std::map<std::string, std::vector<std::string>> by_key;  // option -> origin of each value, in order
  std::set<std::string> on_command_line;                   // options given there (they win over the file)
  std::map<std::string, std::string> file_line;            // option -> "FILE line N" where the file set it
  // "FILE line N: " for an option whose value came from the config file.
  std::string where(const std::string& key) const {
    auto it = file_line.find(key);
    return it == file_line.end() || on_command_line.count(key) ? std::string() : it->second + ": ";
  }
};

// Reads the command line and config file into `o`; fills origins of
// repeated service/backend values for later messages.
ParseResult read(int argc, const char* const* argv, DataplaneOptions& o, RawOptions& raw, Origins& origins) {
  po::options_description desc = describe(o, raw);
  po::variables_map vm;
  std::vector<std::string> trailing;
  try {
    po::parsed_options cmd = po::command_line_parser(argc, argv).options(desc).allow_unregistered().run();
    for (const po::option& opt : cmd.options) {
      if (opt.string_key.empty() || opt.position_key >= 0) {  // positional: after "--" or stray
        trailing.insert(trailing.end(), opt.original_tokens.begin(), opt.original_tokens.end());
        continue;
      }
      if (opt.unregistered)
        return {ParseResult::Status::usage_error, "unknown option '" + opt.original_tokens.front() + "'"};
      origins.on_command_line.insert(opt.string_key);
      if (opt.string_key == "service" || opt.string_key == "backend" || opt.string_key == "node-address")
        for (std::size_t i = 0; i < opt.value.size(); ++i) origins.by_key[opt.string_key].push_back("command line");
    }
    po::store(cmd, vm);
    if (vm.count("help")) {
      std::ostringstream out;
      out << desc;
      return {ParseResult::Status::exit_ok, out.str()};
    }
    if (vm.count("config")) {
      const std::string path = vm["config"].as<std::string>();
      std::ifstream file(path);
      if (!file) return {ParseResult::Status::usage_error, "option 'config': cannot read '" + path + "'"};
      // Check line by line first, so an error can name its line.
      std::string line;
      for (int n = 1; std::getline(file, line); ++n) {
        std::string key;
        if (!config_line(line, key)) continue;
        std::string where = path + " line " + std::to_string(n);
        try {
          DataplaneOptions scratch_o;
          RawOptions scratch_raw;
          po::options_description scratch = describe(scratch_o, scratch_raw);
          std::istringstream one(line);
          po::variables_map scratch_vm;
          po::store(po::parse_config_file(one, scratch), scratch_vm);
          po::notify(scratch_vm);
        } catch (const po::error& e) {
          return {ParseResult::Status::usage_error, where + ": " + po_error_text(e)};
        }
        if (key == "config") return {ParseResult::Status::usage_error, where + ": option 'config' cannot be nested"};
        if (key == "service" || key == "backend" || key == "node-address")  // composed after the command line
          origins.by_key[key].push_back(where);
        else
          origins.file_line[key] = where;
      }
      std::ifstream again(path);
      po::store(po::parse_config_file(again, desc), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    return {ParseResult::Status::usage_error, po_error_text(e)};
  }
  std::vector<std::string> eal = split_words(raw.eal);
  eal.insert(eal.end(), trailing.begin(), trailing.end());
  o.eal_args = eal;
  return {};
}

std::string origin_of(const Origins& origins, const std::string& key, std::size_t i) {
  auto it = origins.by_key.find(key);
  return it != origins.by_key.end() && i < it->second.size() ? it->second[i] : "command line";
}

ParseResult build_state(const RawOptions& raw, const Origins& origins, DesiredState& state) {
  auto fail = [](std::string m) { return ParseResult{ParseResult::Status::usage_error, std::move(m)}; };
  state = DesiredState{};
  std::string error;
  const auto addresses = [&](const std::vector<std::string>& texts, const std::string& key,
                             std::vector<IpAddress>& out) {
    for (std::size_t i = 0; i < texts.size(); ++i) {
      auto a = IpAddress::parse(texts[i]);
      if (!a) {
        error = origin_of(origins, key, i) + ": option '" + key + "': '" + texts[i] + "' is not an IPv4 or IPv6 address";
        return false;
      }
      out.push_back(*a);
    }
    return true;
  };
  if (!addresses(raw.node_addresses, "node-address", state.node_addresses) ||
      !addresses(raw.bgp_peers, "bgp-peer", state.bgp_peers) ||
      !addresses(raw.gtsm_peers, "gtsm-peer", state.gtsm_peers))
    return fail(error);
  if (auto r = parse_port_range(raw.probe_ports, error)) state.probe_ports = *r;
  else return fail(origin_of(origins, "probe-ports", 0) + ": option 'probe-ports': " + error);
  for (std::size_t i = 0; i < raw.services.size(); ++i) {
    auto s = parse_service_spec(raw.services[i], error);
    if (!s) return fail(origin_of(origins, "service", i) + ": option 'service': " + error);
    s->origin = origin_of(origins, "service", i);
    state.services.push_back(*s);
  }
  for (std::size_t i = 0; i < raw.backends.size(); ++i) {
    auto b = parse_backend_spec(raw.backends[i], error);
    if (!b) return fail(origin_of(origins, "backend", i) + ": option 'backend': " + error);
    b->origin = origin_of(origins, "backend", i);
    state.backends.push_back(*b);
  }
  error = validate_desired_state(state);
  if (!error.empty()) return fail(error);
  return {};
}

std::string check_ranges(const DataplaneOptions& o, const RawOptions& raw, const Origins& origins) {
  auto bad = [&origins](const char* opt, const std::string& why) {
    return origins.where(opt) + "option '" + std::string(opt) + "': " + why;
  };
  static const char* levels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  bool level_ok = false;
  for (const char* l : levels) level_ok |= o.log_level == l;
  if (!level_ok) return bad("log-level", "'" + o.log_level + "' is not trace, debug, info, warn, error, critical or off");
  if (!(o.stats_interval_s >= 0.01 && o.stats_interval_s <= 3600))
    return bad("stats-interval", "must be between 0.01 and 3600 seconds");
  // Upper bounds also catch a negative number, which the unsigned parse wraps (-1: the largest value).
  if (o.rx_descriptors < 32 || o.rx_descriptors > 32768) return bad("rx-descriptors", "must be 32 to 32768");
  if (o.tx_descriptors < 32 || o.tx_descriptors > 32768) return bad("tx-descriptors", "must be 32 to 32768");
  if (o.mbufs < 1024 || o.mbufs > 16'777'216) return bad("mbufs", "must be 1024 to 16777216");
  if (o.exception_rate > 10'000'000) return bad("exception-rate", "must be 0 (no limit) to 10000000 frames a second");
  if (o.new_flow_rate > 100'000'000) return bad("new-flow-rate", "must be 0 (no limit) to 100000000 flows a second");
  if (o.mbuf_cache > 512) return bad("mbuf-cache", "must be at most 512 (RTE_MEMPOOL_CACHE_MAX_SIZE)");
  // A frame must fit one mbuf's 2048-byte data room (RTE_MBUF_DEFAULT_BUF_SIZE,
  // less a VLAN-tagged Ethernet header): the ports run without scatter or
  // multi-segment TX, so a jumbo frame would be cut or refused.
  if (o.mtu < 1280 || o.mtu > kMaxMtu)
    return bad("mtu", "must be between 1280 and " + std::to_string(kMaxMtu) + " (no jumbo frames: one mbuf a frame)");
  if (o.flow_capacity < 1024 || o.flow_capacity > FlowTable::kMaxCapacity)
    return bad("flow-capacity", "must be between 1024 and " + std::to_string(FlowTable::kMaxCapacity) + " (a worker)");
  const uint32_t max_timeout = 7 * 24 * 3600;  // the flow clock wraps after 24 days
  if (raw.tcp_timeout == 0 || raw.tcp_timeout > max_timeout) return bad("tcp-timeout", "must be 1 to 604800 seconds");
  if (raw.tcp_closing_timeout == 0 || raw.tcp_closing_timeout > max_timeout)
    return bad("tcp-closing-timeout", "must be 1 to 604800 seconds");
  if (raw.tcp_syn_timeout == 0 || raw.tcp_syn_timeout > max_timeout)
    return bad("tcp-syn-timeout", "must be 1 to 604800 seconds");
  if (raw.udp_timeout == 0 || raw.udp_timeout > max_timeout) return bad("udp-timeout", "must be 1 to 604800 seconds");
  if (!is_prime(o.limits.maglev_size) || o.limits.maglev_size < 7 || o.limits.maglev_size > kMaglevMaxSize)
    return bad("maglev-size", std::to_string(o.limits.maglev_size) + " is not a prime between 7 and " +
                                  std::to_string(kMaglevMaxSize));
  // At most what one API message carries (api_limits.hpp).
  if (o.limits.max_services == 0 || o.limits.max_services > kApiMaxServices)
    return bad("max-services", "must be 1 to " + std::to_string(kApiMaxServices));
  if (o.limits.max_backends == 0 || o.limits.max_backends > kApiMaxBackends)
    return bad("max-backends", "must be 1 to " + std::to_string(kApiMaxBackends));
  if (o.eal_args.empty()) return bad("eal", "no EAL arguments (give at least the lcores, e.g. --eal \"-l 0-1\")");
  for (std::size_t i = 0; i < o.ports.size(); ++i)  // else the second setup of one port fails, naming no option
    for (std::size_t j = 0; j < i; ++j)
      if (o.ports[i] == o.ports[j]) return bad("port", "'" + o.ports[i] + "' is given twice");
  return {};
}

}  // namespace

ParseResult parse_options(int argc, const char* const* argv, DataplaneOptions& out) {
  RawOptions raw;
  Origins origins;
  ParseResult r = read(argc, argv, out, raw, origins);
  if (r.status != ParseResult::Status::run) return r;
  std::string err = check_ranges(out, raw, origins);
  if (!err.empty()) return {ParseResult::Status::usage_error, err};
  out.timeouts.tcp_ms = raw.tcp_timeout * 1000;
  out.timeouts.tcp_closing_ms = raw.tcp_closing_timeout * 1000;
  out.timeouts.tcp_syn_ms = raw.tcp_syn_timeout * 1000;
  out.timeouts.udp_ms = raw.udp_timeout * 1000;
  // Ids are reused only after every flow that could name them has expired.
  out.limits.id_quarantine_ms = uint64_t{std::max({raw.tcp_timeout, raw.tcp_closing_timeout, raw.tcp_syn_timeout, raw.udp_timeout})} * 1000 * 2;
  return build_state(raw, origins, out.state);
}

ParseResult reload_desired_state(int argc, const char* const* argv, DesiredState& out) {
  DataplaneOptions scratch;
  RawOptions raw;
  Origins origins;
  ParseResult r = read(argc, argv, scratch, raw, origins);
  if (r.status != ParseResult::Status::run) return r;
  return build_state(raw, origins, out);
}

}  // namespace anylb
