#include "metrics.hpp"

#include <httplib.h>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <string>
#include <utility>

#include "api_channel.hpp"
#include "dataplane.grpc.pb.h"
#include "drop_reason.hpp"

namespace anylb::cp {

MetricsServer::MetricsServer(Node& node, const std::string& listen) : http_(std::make_unique<httplib::Server>()) {
  const auto colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  const int port = std::stoi(listen.substr(colon + 1));
  auto stub = std::shared_ptr<anylb::dataplane::v1::Dataplane::Stub>(anylb::dataplane::v1::Dataplane::NewStub(
      api_channel("unix:" + node.dataplane_socket())));
  http_->Get("/metrics", [&node, stub](const httplib::Request&, httplib::Response& res) {
    // The dataplane's counters are read per scrape, so they are never stale.
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    anylb::dataplane::v1::GetCountersResponse counters;
    const bool ok = stub->GetCounters(&ctx, {}, &counters).ok();
    res.set_content(render_metrics(node.status(), ok ? &counters : nullptr), "text/plain; version=0.0.4");
  });
  if (!http_->bind_to_port(host, port)) throw std::runtime_error("metrics.listen: cannot listen on " + listen);
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  spdlog::info("metrics on http://{}/metrics", listen);
}

MetricsServer::~MetricsServer() {
  http_->stop();
  if (thread_.joinable()) thread_.join();
}

namespace {

// A label value as Prometheus' text format escapes it: backslash, quote and
// line feed (a raw line feed would break the whole scrape).
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// The drops' HELP: what each reason means, from the dataplane's own table
// (one line: Prometheus takes one HELP a metric, and no line feed in it).
std::string drops_help() {
  std::string h = "Packets the dataplane dropped, by reason:";
  for (const DropReasonInfo& r : kDropReasons) {
    h += r.reason == DropReason{} ? " " : "; ";
    h += std::string(r.name) + ": " + std::string(r.help);
  }
  return h + ".";
}

}  // namespace

std::string render_metrics(const NodeStatus& st, const anylb::dataplane::v1::GetCountersResponse* c) {
  std::string m;
  auto line = [&](const std::string& name, const std::string& labels, double v) {
    m += name + (labels.empty() ? "" : "{" + labels + "}") + " " + std::to_string(v) + "\n";
  };
  m += "# HELP anylb_node_info The node's identity.\n# TYPE anylb_node_info gauge\n";
  line("anylb_node_info", "node=\"" + label(st.name) + "\"", 1);
  m += "# TYPE anylb_node_draining gauge\n";
  line("anylb_node_draining", "", st.draining);
  m += "# HELP anylb_dataplane_up 1 while the dataplane answers and every worker polls.\n# TYPE anylb_dataplane_up gauge\n";
  line("anylb_dataplane_up", "", st.dataplane_ok);
  m += "# TYPE anylb_gobgp_up gauge\n";
  line("anylb_gobgp_up", "", st.gobgp_ok);
  m += "# HELP anylb_bgp_session_established 1 when the BGP session with the peer is established.\n"
       "# TYPE anylb_bgp_session_established gauge\n";
  for (const auto& [peer, state] : st.peers)
    line("anylb_bgp_session_established", "peer=\"" + label(peer) + "\",state=\"" + label(state) + "\"", state == "established");
  m += "# HELP anylb_route_announced 1 while the prefix is announced.\n# TYPE anylb_route_announced gauge\n";
  for (const RouteStatus& r : st.routes)
    line("anylb_route_announced", "prefix=\"" + label(r.prefix) + "\",service=\"" + label(r.service) + "\"", r.announced);
  m += "# HELP anylb_service_refused 1 while the dataplane refuses the service as pushed (why: anylbctl node); "
       "its routes are withdrawn.\n# TYPE anylb_service_refused gauge\n";
  for (const ServiceSpec& s : st.services)
    line("anylb_service_refused", "service=\"" + label(s.name) + "\"", st.refused.count(s.name) > 0);
  m += "# HELP anylb_health_probe_threads Threads probing backends.\n# TYPE anylb_health_probe_threads gauge\n";
  line("anylb_health_probe_threads", "", static_cast<double>(st.probe_threads));
  m += "# HELP anylb_health_probes_late_total Probes started over an interval after they were due (too few threads).\n"
       "# TYPE anylb_health_probes_late_total counter\n";
  line("anylb_health_probes_late_total", "", static_cast<double>(st.late_probes));
  m += "# TYPE anylb_backend_healthy gauge\n";
  for (const BackendStatus& b : st.backends)
    line("anylb_backend_healthy", "service=\"" + label(b.service) + "\",backend=\"" + label(b.address.to_string()) + "\"",
         b.health.healthy);
  if (c != nullptr) {
    m += "# TYPE anylb_service_packets_total counter\n";
    for (const auto& s : c->services())
      line("anylb_service_packets_total", "service=\"" + label(s.service().name()) + "\"",
           static_cast<double>(s.counters().packets()));
    m += "# TYPE anylb_service_new_flows_total counter\n";
    for (const auto& s : c->services())
      line("anylb_service_new_flows_total", "service=\"" + label(s.service().name()) + "\"",
           static_cast<double>(s.counters().new_flows()));
    m += "# TYPE anylb_backend_packets_total counter\n";
    for (const auto& b : c->backends())
      line("anylb_backend_packets_total",
           "service=\"" + label(b.backend().service()) + "\",backend=\"" + label(b.backend().address()) + "\"",
           static_cast<double>(b.counters().packets()));
    m += "# HELP anylb_flows_not_inserted_total New flows past the dataplane's --new-flow-rate, forwarded by "
         "Maglev without a flow-table entry.\n# TYPE anylb_flows_not_inserted_total counter\n";
    line("anylb_flows_not_inserted_total", "", static_cast<double>(c->flows_not_inserted()));
    m += "# HELP anylb_flow_evictions_total Live flows pushed out of a full flow table, by whether they were "
         "confirmed (more than one packet seen).\n# TYPE anylb_flow_evictions_total counter\n";
    line("anylb_flow_evictions_total", "confirmed=\"false\"",
         static_cast<double>(c->flows().evictions() - c->flows().confirmed_evictions()));
    line("anylb_flow_evictions_total", "confirmed=\"true\"", static_cast<double>(c->flows().confirmed_evictions()));
    m += "# HELP anylb_drops_total " + drops_help() + "\n# TYPE anylb_drops_total counter\n";
    for (const auto& [reason, n] : c->drops()) line("anylb_drops_total", "reason=\"" + label(reason) + "\"", static_cast<double>(n));
    m += "# TYPE anylb_port_packets_total counter\n";
    for (const auto& p : c->ports()) {
      line("anylb_port_packets_total", "port=\"" + label(p.name()) + "\",direction=\"rx\"", static_cast<double>(p.rx_packets()));
      line("anylb_port_packets_total", "port=\"" + label(p.name()) + "\",direction=\"tx\"", static_cast<double>(p.tx_packets()));
    }
    // What a port lost on its own, which no worker saw (ring full, no mbuf, errors).
    m += "# TYPE anylb_port_lost_total counter\n";
    for (const auto& p : c->ports()) {
      const std::pair<const char*, uint64_t> lost[] = {{"rx_missed", p.rx_missed()}, {"rx_no_mbuf", p.rx_no_mbuf()},
                                                       {"rx_errors", p.rx_errors()}, {"tx_errors", p.tx_errors()}};
      for (const auto& [kind, n] : lost)
        line("anylb_port_lost_total", "port=\"" + label(p.name()) + "\",kind=\"" + label(kind) + "\"", static_cast<double>(n));
    }
  }
  return m;
}

}  // namespace anylb::cp
