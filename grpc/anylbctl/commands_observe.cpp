// stats, flows, trace, health, node: read-only views of the dataplane.
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "cli.hpp"
#include "ip_address.hpp"
#include "table.hpp"

namespace anylb::ctl {

// "198.51.100.1:1234" or "[2001:db8::1]:1234" -> address, port.
std::pair<std::string, uint32_t> endpoint(const std::string& s, const char* what) {
  std::string addr, port;
  if (!s.empty() && s[0] == '[') {
    const auto close = s.find("]:");
    if (close == std::string::npos) throw UsageError(std::string(what) + ": '" + s + "' is not [ADDRESS]:PORT");
    addr = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string::npos || s.find(':') != colon)
      throw UsageError(std::string(what) + ": '" + s + "' is not ADDRESS:PORT (IPv6: [ADDRESS]:PORT)");
    addr = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  uint32_t p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535)
    throw UsageError(std::string(what) + ": port '" + port + "' is not 1-65535");
  if (!IpAddress::parse(addr)) throw UsageError(std::string(what) + ": '" + addr + "' is not an IP address");
  return {addr, p};
}

namespace {

std::string decision_name(pb::TraceResponse::Decision d) {
  switch (d) {
    case pb::TraceResponse::DECISION_FLOW_TABLE: return "flow-table";
    case pb::TraceResponse::DECISION_MAGLEV: return "maglev";
    case pb::TraceResponse::DECISION_MAGLEV_FALLBACK: return "maglev-fallback";
    case pb::TraceResponse::DECISION_NO_SERVICE: return "no-service";
    case pb::TraceResponse::DECISION_NO_BACKEND: return "no-backend";
    case pb::TraceResponse::DECISION_NODE_ADDRESS: return "node-address";
    case pb::TraceResponse::DECISION_NOT_FOR_NODE: return "not-for-node";
    default: return "?";
  }
}

}  // namespace

void cmd_stats(const Cli& cli, Dataplane& dp) {
  // Totals now, rates over --interval seconds (two reads).
  const double interval = interval_seconds(cli);
  const pb::GetCountersResponse a = dp.counters();
  std::this_thread::sleep_for(std::chrono::duration<double>(interval));
  const pb::GetCountersResponse b = dp.counters();
  const double dt = static_cast<double>(b.monotonic_ms() - a.monotonic_ms()) / 1000.0;
  auto rate = [&](uint64_t x, uint64_t y) { return dt > 0 && y >= x ? static_cast<double>(y - x) / dt : 0.0; };

  nlohmann::json j = {{"generation", b.generation()}, {"interval_s", dt}};
  Table services({"SERVICE", "PACKETS", "BYTES", "NEW FLOWS", "PPS", "BPS", "FLOWS/S"});
  j["services"] = nlohmann::json::array();
  for (int i = 0; i < b.services_size(); ++i) {
    const auto& s = b.services(i);
    const pb::EndpointCounters* prev = nullptr;
    for (const auto& o : a.services()) if (o.service().name() == s.service().name()) prev = &o.counters();
    const auto& c = s.counters();
    const double pps = prev ? rate(prev->packets(), c.packets()) : 0, bps = prev ? 8 * rate(prev->bytes(), c.bytes()) : 0,
                 fps = prev ? rate(prev->new_flows(), c.new_flows()) : 0;
    j["services"].push_back({{"service", s.service().name()}, {"packets", c.packets()}, {"bytes", c.bytes()},
                             {"new_flows", c.new_flows()}, {"packets_per_second", pps}, {"bits_per_second", bps},
                             {"new_flows_per_second", fps}});
    services.add({s.service().name(), std::to_string(c.packets()), std::to_string(c.bytes()), std::to_string(c.new_flows()),
                  human_count(pps), human_count(bps), human_count(fps)});
  }
  Table backends({"SERVICE", "BACKEND", "STATE", "PACKETS", "BYTES", "NEW FLOWS", "PPS", "FLOWS/S"});
  j["backends"] = nlohmann::json::array();
  for (const auto& be : b.backends()) {
    const pb::EndpointCounters* prev = nullptr;
    for (const auto& o : a.backends())
      if (o.backend().service() == be.backend().service() && o.backend().address() == be.backend().address())
        prev = &o.counters();
    const auto& c = be.counters();
    const double pps = prev ? rate(prev->packets(), c.packets()) : 0, fps = prev ? rate(prev->new_flows(), c.new_flows()) : 0;
    j["backends"].push_back({{"service", be.backend().service()}, {"address", be.backend().address()},
                             {"state", state_name(be.backend().state())}, {"packets", c.packets()},
                             {"bytes", c.bytes()}, {"new_flows", c.new_flows()}, {"packets_per_second", pps},
                             {"new_flows_per_second", fps}});
    backends.add({be.backend().service(), be.backend().address(), state_name(be.backend().state()),
                  std::to_string(c.packets()), std::to_string(c.bytes()), std::to_string(c.new_flows()), human_count(pps),
                  human_count(fps)});
  }
  j["drops"] = nlohmann::json::object();
  std::string drops;
  for (const auto& [reason, n] : b.drops()) {
    j["drops"][reason] = n;
    if (n) drops += "  " + reason + " " + std::to_string(n) + "\n";
  }
  j["ports"] = nlohmann::json::array();
  Table ports({"PORT", "RX PACKETS", "TX PACKETS", "RX PPS", "TX PPS", "PORT LOST"});
  for (int i = 0; i < b.ports_size(); ++i) {
    const auto& p = b.ports(i);
    const double rx = i < a.ports_size() ? rate(a.ports(i).rx_packets(), p.rx_packets()) : 0;
    const double tx = i < a.ports_size() ? rate(a.ports(i).tx_packets(), p.tx_packets()) : 0;
    const uint64_t lost = p.rx_missed() + p.rx_no_mbuf() + p.rx_errors() + p.tx_errors();
    j["ports"].push_back({{"name", p.name()}, {"rx_packets", p.rx_packets()}, {"tx_packets", p.tx_packets()},
                          {"rx_packets_per_second", rx}, {"tx_packets_per_second", tx}, {"rx_missed", p.rx_missed()},
                          {"rx_no_mbuf", p.rx_no_mbuf()}, {"rx_errors", p.rx_errors()}, {"tx_errors", p.tx_errors()}});
    ports.add({p.name(), std::to_string(p.rx_packets()), std::to_string(p.tx_packets()), human_count(rx), human_count(tx),
               std::to_string(lost)});
  }
  j["flows"] = {{"occupancy", b.flows().occupancy()}, {"capacity", b.flows().capacity()},
                {"evictions", b.flows().evictions()}, {"inserts", b.flows().inserts()}};
  // Packets handled other than by a flow's forwarding, and their totals.
  const std::pair<const char*, uint64_t> events[] = {
      {"exception_packets", b.exception_packets()},         {"from_kernel_packets", b.from_kernel_packets()},
      {"fragments_hashed", b.fragments_hashed()},           {"icmp_errors_forwarded", b.icmp_errors_forwarded()},
      {"icmp_errors_pinned_elsewhere", b.icmp_errors_pinned_elsewhere()},
      {"icmp_too_big_sent", b.icmp_too_big_sent()},         {"outer_fragments_sent", b.outer_fragments_sent()},
      {"flows_repinned", b.flows_repinned()},               {"unresolved_backends", b.unresolved_backends()}};
  j["events"] = nlohmann::json::object();
  std::string event_text;
  for (const auto& [name, n] : events) {
    j["events"][name] = n;
    if (n) event_text += "  " + std::string(name) + " " + std::to_string(n) + "\n";
  }
  print(cli, j,
        ports.str() + "\n" + services.str() + "\n" + backends.str() + "\nflows " + std::to_string(b.flows().occupancy()) +
            " of " + std::to_string(b.flows().capacity()) + ", evictions " + std::to_string(b.flows().evictions()) +
            "\nevents:" + (event_text.empty() ? std::string(" none\n") : "\n" + event_text) +
            "drops:" + (drops.empty() ? std::string(" none\n") : "\n" + drops));
}

void cmd_flows(const Cli& cli, Dataplane& dp) {
  pb::ListFlowsRequest req;
  req.set_service(cli.flag("service"));
  req.set_backend(cli.flag("backend"));
  const uint32_t limit = number(cli.flag("limit", "100"), "--limit", 1, 0xffffffffu);
  nlohmann::json j = nlohmann::json::array();
  Table t = flow_table();
  do {
    req.set_page_size(std::min<uint32_t>(limit - static_cast<uint32_t>(j.size()), 1000));
    const pb::ListFlowsResponse resp = dp.flows(req);
    for (const auto& f : resp.flows()) {
      const auto& ft = f.flow();
      add_flow({endpoint_text(ft.source(), ft.source_port()), endpoint_text(ft.destination(), ft.destination_port()),
                protocol_name(ft.protocol()), f.service(), f.backend(), f.worker(), f.expires_in_ms()},
               j, t);
    }
    req.set_page_token(resp.next_page_token());
  } while (!req.page_token().empty() && j.size() < limit);
  print(cli, j, t.str());
}

void cmd_trace(const Cli& cli, Dataplane& dp) {
  if (cli.args.size() != 4) throw UsageError("trace SRC:PORT DST:PORT PROTO");
  const auto [src, sport] = endpoint(cli.args[1], "source");
  const auto [dst, dport] = endpoint(cli.args[2], "destination");
  if (cli.args[3] != "tcp" && cli.args[3] != "udp") throw UsageError("protocol: '" + cli.args[3] + "' is not tcp or udp");
  if (cli.to_control) return cmd_control_trace(cli, src, sport, dst, dport, cli.args[3] == "tcp");
  pb::FiveTuple f;
  f.set_source(src);
  f.set_destination(dst);
  f.set_source_port(sport);
  f.set_destination_port(dport);
  f.set_protocol(cli.args[3] == "tcp" ? pb::PROTOCOL_TCP : pb::PROTOCOL_UDP);
  const pb::TraceResponse r = dp.trace(f);
  nlohmann::json j = {{"decision", decision_name(r.decision())}, {"service", r.service()},
                      {"backend", r.backend().address()}, {"maglev_slot", r.maglev_slot()},
                      {"slot_backend", r.slot_backend()}, {"explanation", r.explanation()}};
  if (r.decision() == pb::TraceResponse::DECISION_FLOW_TABLE) j["worker"] = r.worker();
  std::string human = "decision: " + decision_name(r.decision()) + "\n";
  if (!r.service().empty()) human += "service:  " + r.service() + "\n";
  if (!r.backend().address().empty()) human += "backend:  " + r.backend().address() + " (" + r.backend().mac() + ")\n";
  human += "why:      " + r.explanation() + "\n";
  print(cli, j, human);
}

void cmd_health(const Cli& cli, Dataplane& dp) {
  // Until the control plane runs health checks, the states the dataplane holds.
  const pb::GetStateResponse st = dp.state();
  nlohmann::json j = nlohmann::json::array();
  Table t({"SERVICE", "BACKEND", "STATE", "WEIGHT"});
  for (const auto& b : st.state().backends()) {
    j.push_back({{"service", b.service()}, {"address", b.address()}, {"state", state_name(b.state())},
                 {"weight", b.weight()}});
    t.add({b.service(), b.address(), state_name(b.state()), std::to_string(b.weight())});
  }
  print(cli, j, t.str());
}

void cmd_node(const Cli& cli, Dataplane& dp) {
  const pb::GetLivenessResponse l = dp.liveness();
  const pb::GetStateResponse st = dp.state();
  nlohmann::json j = {{"generation", l.generation()}, {"packets_forwarded", l.packets_forwarded()},
                      {"lcores", l.lcores()}, {"lcores_alive", l.lcores_alive()}, {"uptime_ms", l.uptime_ms()},
                      {"flow_pinning_version", l.flow_pinning_version()},
                      {"node_addresses", st.state().node_addresses()}, {"bgp_peers", st.state().bgp_peers()}};
  const auto joined = [](const auto& list) {
    std::string out;
    for (const auto& a : list) out += (out.empty() ? "" : ", ") + a;
    return out;
  };
  const std::string addrs = joined(st.state().node_addresses());
  const std::string peers = joined(st.state().bgp_peers());
  nlohmann::json ports = nlohmann::json::array();
  std::string links;
  for (const auto& p : l.ports()) {
    ports.push_back({{"name", p.name()}, {"link_up", p.link_up()}, {"speed_mbps", p.speed_mbps()},
                     {"egress", p.egress()}});
    links += "\nport " + p.name() + ": link " + (p.link_up() ? "up" : "DOWN") +
             (p.speed_mbps() != 0 ? ", " + std::to_string(p.speed_mbps()) + " Mb/s" : "") + ", forwards out of " +
             p.egress();
  }
  j["ports"] = ports;
  j["ports_not_forwarding"] = l.ports_not_forwarding();
  const std::string verdict =
      l.ports_not_forwarding().empty() ? "" : "\nNOT FORWARDING: " + l.ports_not_forwarding();
  print(cli, j,
        "dataplane: generation " + std::to_string(l.generation()) + ", " + std::to_string(l.lcores_alive()) + " of " +
            std::to_string(l.lcores()) + " workers polling, " + std::to_string(l.packets_forwarded()) +
            " packets forwarded, up " + std::to_string(l.uptime_ms() / 1000) + " s, flow pinning version " +
            std::to_string(l.flow_pinning_version()) + "\naddresses: " +
            (addrs.empty() ? "none" : addrs) + "\nBGP peers: " + (peers.empty() ? "any source" : peers) + links +
            verdict + "\n");
}

}  // namespace anylb::ctl
