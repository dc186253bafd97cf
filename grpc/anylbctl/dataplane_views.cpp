// The dataplane target's views: what its desired state, counters, liveness
// and flow tables hold.
#include <chrono>
#include <string_view>
#include <thread>
#include <unordered_map>

#include <grpcpp/grpcpp.h>

#include "dataplane_target.hpp"
#include "table.hpp"

namespace anylb::ctl {

namespace {

nlohmann::json service_json(const pb::Service& s) {
  return {{"name", s.name()}, {"vip", s.vip()}, {"proto", protocol_name(s.protocol())}, {"port", s.port()},
          {"mode", mode_name(s.mode())}, {"fragments", s.fragments() == pb::FRAGMENT_POLICY_HASH ? "hash" : "drop"}};
}

nlohmann::json backend_json(const pb::Backend& b) {
  return {{"service", b.service()}, {"address", b.address()}, {"mac", b.mac()}, {"weight", b.weight()},
          {"state", state_name(b.state())}};
}

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

// The first read's counters by service, and by service and backend: each
// endpoint of the second read finds its own in one lookup (a scan of the
// others took 155 s for 65534 backends). Views into `a`, which outlives it.
struct CountersBefore {
  explicit CountersBefore(const pb::GetCountersResponse& a) {
    services.reserve(a.services_size());
    for (const auto& o : a.services()) services.emplace(o.service().name(), &o.counters());
    backends.reserve(a.backends_size());
    for (const auto& o : a.backends()) backends.emplace(key(o.backend()), &o.counters());
  }
  static std::string key(const pb::Backend& b) { return b.service() + '/' + b.address(); }
  const pb::EndpointCounters* service(const std::string& name) const {
    const auto it = services.find(name);
    return it == services.end() ? nullptr : it->second;
  }
  const pb::EndpointCounters* backend(const pb::Backend& b) const {
    const auto it = backends.find(key(b));
    return it == backends.end() ? nullptr : it->second;
  }
  std::unordered_map<std::string_view, const pb::EndpointCounters*> services;
  std::unordered_map<std::string, const pb::EndpointCounters*> backends;
};

}  // namespace

Output DataplaneTarget::services() {
  const pb::GetStateResponse st = state();
  nlohmann::json j = nlohmann::json::array();
  Table t({"NAME", "VIP", "PROTO", "PORT", "MODE", "FRAGMENTS", "BACKENDS"});
  std::unordered_map<std::string_view, int> count;  // counted once, not a scan per service
  for (const auto& b : st.state().backends()) ++count[b.service()];
  for (const auto& s : st.state().services()) {
    const int n = count[s.name()];
    nlohmann::json sj = service_json(s);
    sj["backends"] = n;
    j.push_back(sj);
    t.add({s.name(), s.vip(), protocol_name(s.protocol()), s.port() == 0 ? "any" : std::to_string(s.port()),
           mode_name(s.mode()), sj["fragments"], std::to_string(n)});
  }
  return {j, t.str()};
}

Output DataplaneTarget::service(const std::string& name) {
  const pb::GetStateResponse st = state();
  const pb::Service* s = nullptr;
  for (const auto& x : st.state().services())
    if (x.name() == name) s = &x;
  if (s == nullptr) throw OperationFailed("no service named '" + name + "'");
  nlohmann::json j = service_json(*s);
  j["backends"] = nlohmann::json::array();
  Table t({"ADDRESS", "MAC", "WEIGHT", "STATE"});
  for (const auto& b : st.state().backends())
    if (b.service() == name) {
      j["backends"].push_back(backend_json(b));
      t.add({b.address(), b.mac(), std::to_string(b.weight()), state_name(b.state())});
    }
  return {j, "service " + name + ": " + s->vip() + " " + protocol_name(s->protocol()) + " port " +
                 (s->port() == 0 ? std::string("any") : std::to_string(s->port())) + " mode " + mode_name(s->mode()) +
                 "\n" + t.str()};
}

Output DataplaneTarget::stats(double interval) {
  // Totals now, rates over the interval (two reads).
  const pb::GetCountersResponse a = counters();
  std::this_thread::sleep_for(std::chrono::duration<double>(interval));
  const pb::GetCountersResponse b = counters();
  const double dt = static_cast<double>(b.monotonic_ms() - a.monotonic_ms()) / 1000.0;
  auto rate = [&](uint64_t x, uint64_t y) { return dt > 0 && y >= x ? static_cast<double>(y - x) / dt : 0.0; };

  nlohmann::json j = {{"generation", b.generation()}, {"interval_s", dt}};
  const CountersBefore before(a);
  Table services({"SERVICE", "PACKETS", "BYTES", "NEW FLOWS", "PPS", "BPS", "FLOWS/S"});
  j["services"] = nlohmann::json::array();
  for (int i = 0; i < b.services_size(); ++i) {
    const auto& s = b.services(i);
    const pb::EndpointCounters* prev = before.service(s.service().name());
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
    const pb::EndpointCounters* prev = before.backend(be.backend());
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
                {"evictions", b.flows().evictions()}, {"confirmed_evictions", b.flows().confirmed_evictions()},
                {"inserts", b.flows().inserts()}};
  // Packets handled other than by a flow's forwarding, and their totals.
  const std::pair<const char*, uint64_t> events[] = {
      {"exception_packets", b.exception_packets()},         {"from_kernel_packets", b.from_kernel_packets()},
      {"fragments_hashed", b.fragments_hashed()},           {"icmp_errors_forwarded", b.icmp_errors_forwarded()},
      {"icmp_errors_pinned_elsewhere", b.icmp_errors_pinned_elsewhere()},
      {"icmp_too_big_sent", b.icmp_too_big_sent()},         {"outer_fragments_sent", b.outer_fragments_sent()},
      {"flows_repinned", b.flows_repinned()},               {"unresolved_backends", b.unresolved_backends()},
      {"flows_not_inserted", b.flows_not_inserted()}};
  j["events"] = nlohmann::json::object();
  std::string event_text;
  for (const auto& [name, n] : events) {
    j["events"][name] = n;
    if (n) event_text += "  " + std::string(name) + " " + std::to_string(n) + "\n";
  }
  return {j,
        ports.str() + "\n" + services.str() + "\n" + backends.str() + "\nflows " + std::to_string(b.flows().occupancy()) +
            " of " + std::to_string(b.flows().capacity()) + ", evictions " + std::to_string(b.flows().evictions()) +
            " (confirmed " + std::to_string(b.flows().confirmed_evictions()) + ")" +
            "\nevents:" + (event_text.empty() ? std::string(" none\n") : "\n" + event_text) +
            "drops:" + (drops.empty() ? std::string(" none\n") : "\n" + drops)};
}

FlowPage DataplaneTarget::flows(const FlowQuery& query) {
  pb::ListFlowsRequest req;
  req.set_service(query.service);
  req.set_backend(query.backend);
  req.set_page_token(query.page_token);
  req.set_page_size(query.page_size);
  grpc::ClientContext ctx;
  deadline(ctx);
  pb::ListFlowsResponse resp;
  check(stub_->ListFlows(&ctx, req, &resp), "flows");
  FlowPage page{{}, resp.next_page_token()};
  for (const auto& f : resp.flows()) {
    const auto& ft = f.flow();
    page.rows.push_back({endpoint_text(ft.source(), ft.source_port()), endpoint_text(ft.destination(), ft.destination_port()),
                         protocol_name(ft.protocol()), f.service(), f.backend(), f.worker(), f.expires_in_ms()});
  }
  return page;
}

Output DataplaneTarget::trace(const FiveTuple& flow) {
  pb::TraceRequest req;
  pb::FiveTuple& f = *req.mutable_flow();
  f.set_source(flow.source);
  f.set_destination(flow.destination);
  f.set_source_port(flow.source_port);
  f.set_destination_port(flow.destination_port);
  f.set_protocol(flow.tcp ? pb::PROTOCOL_TCP : pb::PROTOCOL_UDP);
  grpc::ClientContext ctx;
  deadline(ctx);
  pb::TraceResponse r;
  check(stub_->Trace(&ctx, req, &r), "trace");
  nlohmann::json j = {{"decision", decision_name(r.decision())}, {"service", r.service()},
                      {"backend", r.backend().address()}, {"maglev_slot", r.maglev_slot()},
                      {"slot_backend", r.slot_backend()}, {"explanation", r.explanation()}};
  if (r.decision() == pb::TraceResponse::DECISION_FLOW_TABLE) j["worker"] = r.worker();
  std::string human = "decision: " + decision_name(r.decision()) + "\n";
  if (!r.service().empty()) human += "service:  " + r.service() + "\n";
  if (!r.backend().address().empty()) human += "backend:  " + r.backend().address() + " (" + r.backend().mac() + ")\n";
  human += "why:      " + r.explanation() + "\n";
  return {j, human};
}

Output DataplaneTarget::health() {
  // Until the control plane runs health checks, the states the dataplane holds.
  const pb::GetStateResponse st = state();
  nlohmann::json j = nlohmann::json::array();
  Table t({"SERVICE", "BACKEND", "STATE", "WEIGHT"});
  for (const auto& b : st.state().backends()) {
    j.push_back({{"service", b.service()}, {"address", b.address()}, {"state", state_name(b.state())},
                 {"weight", b.weight()}});
    t.add({b.service(), b.address(), state_name(b.state()), std::to_string(b.weight())});
  }
  return {j, t.str()};
}

Output DataplaneTarget::node() {
  const pb::GetLivenessResponse l = liveness();
  const pb::GetStateResponse st = state();
  nlohmann::json j = {{"generation", l.generation()}, {"packets_forwarded", l.packets_forwarded()},
                      {"lcores", l.lcores()}, {"lcores_alive", l.lcores_alive()}, {"uptime_ms", l.uptime_ms()},
                      {"flow_pinning_version", l.flow_pinning_version()},
                      {"node_addresses", st.state().node_addresses()}, {"bgp_peers", st.state().bgp_peers()},
                      {"gtsm_peers", st.state().gtsm_peers()}, {"probe_ports", st.state().probe_ports()}};
  const auto joined = [](const auto& list) {
    std::string out;
    for (const auto& a : list) out += (out.empty() ? "" : ", ") + a;
    return out;
  };
  const std::string addrs = joined(st.state().node_addresses());
  const std::string peers = joined(st.state().bgp_peers());
  const std::string gtsm = joined(st.state().gtsm_peers());
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
  return {j,
        "dataplane: generation " + std::to_string(l.generation()) + ", " + std::to_string(l.lcores_alive()) + " of " +
            std::to_string(l.lcores()) + " workers polling, " + std::to_string(l.packets_forwarded()) +
            " packets forwarded, up " + std::to_string(l.uptime_ms() / 1000) + " s, flow pinning version " +
            std::to_string(l.flow_pinning_version()) + "\naddresses: " +
            (addrs.empty() ? "none" : addrs) + "\nBGP peers: " + (peers.empty() ? "any source" : peers) +
            (gtsm.empty() ? "" : " (GTSM, TTL 255 only: " + gtsm + ")") + "\nprobe replies: " +
            (st.state().probe_ports().empty() ? "from a backend, any port"
                                              : "from a backend, to ports " + st.state().probe_ports()) +
            links +
            verdict + "\n"};
}

}  // namespace anylb::ctl
