#include "api_server.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <spdlog/spdlog.h>
#include <stdexcept>

#include "api.grpc.pb.h"  // anylb/v1/anylb.proto

namespace anylb::cp {

namespace v1 = ::anylb::v1;

class ApiServer::Service final : public v1::Anylb::Service {
 public:
  explicit Service(Node& node) : node_(node) {}

  grpc::Status ListRoutes(grpc::ServerContext*, const v1::ListRoutesRequest*, v1::ListRoutesResponse* resp) override {
    const NodeStatus st = node_.status();
    for (const RouteStatus& r : st.routes) {
      v1::Route* o = resp->add_routes();
      o->set_prefix(r.prefix);
      o->set_announced(r.announced);
      std::string reason = r.reason;
      if (!st.gobgp_ok) reason += "; gobgpd unreachable";
      o->set_reason(reason);
      o->set_healthy(r.healthy);
      o->set_quorum(r.quorum);
      o->set_hold_down_remaining_ms(r.hold_down_remaining_ms);
      for (const auto& c : r.communities) o->add_communities(c);
    }
    return grpc::Status::OK;
  }

  grpc::Status GetHealth(grpc::ServerContext*, const v1::GetHealthRequest*, v1::GetHealthResponse* resp) override {
    const NodeStatus st = node_.status();
    for (const BackendStatus& b : st.backends) {
      v1::BackendHealth* o = resp->add_backends();
      o->set_service(b.service);
      o->set_address(b.address.to_string());
      o->set_health(!b.health.checked ? v1::HEALTH_UNKNOWN : b.health.healthy ? v1::HEALTH_UP : v1::HEALTH_DOWN);
      o->set_detail(b.health.detail);
      o->set_since_ms(b.health.since_ms);
    }
    return grpc::Status::OK;
  }

  grpc::Status GetNode(grpc::ServerContext*, const v1::GetNodeRequest*, v1::Node* resp) override {
    fill_node(node_.status(), resp);
    return grpc::Status::OK;
  }

  grpc::Status DrainNode(grpc::ServerContext*, const v1::DrainNodeRequest* req, v1::Node* resp) override {
    node_.drain(!req->undrain());
    NodeStatus st = node_.status();
    st.draining = !req->undrain();  // takes effect on the next pass
    fill_node(st, resp);
    return grpc::Status::OK;
  }

 private:
  static void fill_node(const NodeStatus& st, v1::Node* o) {
    o->set_name(st.name);
    o->set_draining(st.draining);
    o->set_dataplane_alive(st.dataplane_ok);
    o->set_dataplane_generation(st.dataplane_generation);
    for (const IpAddress& a : st.addresses) o->add_addresses(a.to_string());
  }
  Node& node_;
};

ApiServer::ApiServer(Node& node, const std::string& socket_path, const std::string& tcp)
    : service_(std::make_unique<Service>(node)), path_(socket_path) {
  grpc::ServerBuilder builder;
  if (!socket_path.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(socket_path).parent_path(), ec);
    ::unlink(socket_path.c_str());
    builder.AddListeningPort("unix:" + socket_path, grpc::InsecureServerCredentials());
  }
  if (!tcp.empty()) builder.AddListeningPort(tcp, grpc::InsecureServerCredentials());
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (!server_) throw std::runtime_error("api: cannot listen on '" + socket_path + "' / '" + tcp + "'");
  if (!socket_path.empty()) ::chmod(socket_path.c_str(), 0660);
  spdlog::info("API (anylb.v1) on unix:{}{}", socket_path, tcp.empty() ? "" : " and " + tcp);
}

ApiServer::~ApiServer() {
  server_->Shutdown();
  if (!path_.empty()) ::unlink(path_.c_str());
}

namespace {

std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
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
    line("anylb_bgp_session_established", "peer=\"" + label(peer) + "\",state=\"" + state + "\"", state == "established");
  m += "# HELP anylb_route_announced 1 while the prefix is announced.\n# TYPE anylb_route_announced gauge\n";
  for (const RouteStatus& r : st.routes)
    line("anylb_route_announced", "prefix=\"" + r.prefix + "\",service=\"" + label(r.service) + "\"", r.announced);
  m += "# TYPE anylb_backend_healthy gauge\n";
  for (const BackendStatus& b : st.backends)
    line("anylb_backend_healthy", "service=\"" + label(b.service) + "\",backend=\"" + b.address.to_string() + "\"",
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
           "service=\"" + label(b.backend().service()) + "\",backend=\"" + b.backend().address() + "\"",
           static_cast<double>(b.counters().packets()));
    m += "# TYPE anylb_drops_total counter\n";
    for (const auto& [reason, n] : c->drops()) line("anylb_drops_total", "reason=\"" + reason + "\"", static_cast<double>(n));
  }
  return m;
}

}  // namespace anylb::cp
