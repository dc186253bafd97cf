// The control plane target: its views (what it checks, announces and
// counts) and its changes, one anylb.v1 request each.
#include "controlplane_target.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include <grpcpp/grpcpp.h>

#include "api_channel.hpp"
#include "table.hpp"

namespace anylb::ctl {

namespace {

// "10 s", "0.5 s": a --timeout as given.
std::string seconds_text(std::chrono::milliseconds t) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", static_cast<double>(t.count()) / 1000.0);
  return buf;
}

std::string health_name(v1::Health h) {
  return h == v1::HEALTH_UP ? "up" : h == v1::HEALTH_DOWN ? "down" : "unknown";
}

std::string admin_name(v1::BackendAdminState a) {
  return a == v1::BACKEND_ADMIN_STATE_DRAINING ? "draining" : a == v1::BACKEND_ADMIN_STATE_DISABLED ? "disabled" : "enabled";
}

v1::BackendAdminState admin_state(AdminState s) {
  return s == AdminState::draining ? v1::BACKEND_ADMIN_STATE_DRAINING
         : s == AdminState::down   ? v1::BACKEND_ADMIN_STATE_DISABLED
                                   : v1::BACKEND_ADMIN_STATE_ENABLED;
}

Output node_output(const v1::Node& n) {
  std::string addrs;
  for (const auto& a : n.addresses()) addrs += (addrs.empty() ? "" : ", ") + a;
  nlohmann::json refused = nlohmann::json::array();
  std::string refused_text;
  for (const auto& r : n.refused()) {
    refused.push_back({{"service", r.service()}, {"reason", r.reason()}});
    refused_text += "refused by the dataplane: service " + r.service() + ": " + r.reason() + "\n";
  }
  nlohmann::json j = {{"name", n.name()}, {"draining", n.draining()}, {"dataplane_alive", n.dataplane_alive()},
                      {"dataplane_problem", n.dataplane_problem()},
                      {"dataplane_generation", n.dataplane_generation()}, {"addresses", n.addresses()},
                      {"refused", refused}, {"gobgp_problem", n.gobgp_problem()}};
  return {j, "node " + n.name() + (n.draining() ? " (draining)" : "") + "\ndataplane: " +
                 (n.dataplane_alive() ? "forwarding" : "NOT forwarding") +
                 (n.dataplane_problem().empty() ? "" : " (" + n.dataplane_problem() + ")") + ", generation " +
                 std::to_string(n.dataplane_generation()) + "\ngobgpd: " +
                 (n.gobgp_problem().empty() ? "answering" : "NOT answering (" + n.gobgp_problem() + ")") +
                 "\naddresses: " + (addrs.empty() ? "none" : addrs) + "\n" + refused_text};
}

nlohmann::json detail_json(const v1::ServiceDetail& d) {
  const v1::Service& s = d.service();
  nlohmann::json j = {{"name", s.name()}, {"vip", s.vip()}, {"proto", s.protocol() == v1::PROTOCOL_UDP ? "udp" : "tcp"},
                      {"port", s.port()}, {"quorum", s.quorum()}, {"announced", d.announced()},
                      {"backends", nlohmann::json::array()}};
  if (s.has_registration())
    j["registration"] = {{"prefixes", s.registration().prefixes()}, {"max_backends", s.registration().max_backends()},
                         {"weight", s.registration().weight()}, {"registrar_mac", s.registration().registrar_mac()}};
  for (const auto& b : d.backends())
    j["backends"].push_back({{"address", b.address()}, {"mac", b.mac()}, {"weight", b.weight()},
                             {"admin_state", admin_name(b.admin_state())}, {"health", health_name(b.health())},
                             {"serving", b.serving()}, {"registered", b.registered()}, {"detail", b.health_detail()}});
  return j;
}

// "registration: 10.0.1.0/24, at most 16, weight 100, MAC resolved" for a
// service that opts in to registrars; else nothing.
std::string registration_line(const v1::Service& s) {
  if (!s.has_registration()) return "";
  std::string prefixes;
  for (const auto& p : s.registration().prefixes()) prefixes += (prefixes.empty() ? "" : ", ") + p;
  return "registration: " + prefixes + ", at most " + std::to_string(s.registration().max_backends()) + ", weight " +
         std::to_string(s.registration().weight()) +
         (s.registration().registrar_mac() ? ", MAC the registrar's" : ", MAC resolved") + "\n";
}

// The answer to a backend change: the backend as it now runs, as the control plane answered.
Applied backend_applied(const v1::Backend& b) {
  return {{{"backend", {{"service", b.service()}, {"address", b.address()}, {"mac", b.mac()}, {"weight", b.weight()},
                        {"admin_state", admin_name(b.admin_state())}}}}, ""};
}

v1::Backend backend_message(const BackendSpec& spec) {
  v1::Backend b;
  b.set_service(spec.service);
  b.set_address(spec.address);
  b.set_mac(spec.mac);  // none: the dataplane resolves it from the neighbour table
  if (spec.weight) b.set_weight(*spec.weight);
  return b;
}

}  // namespace

namespace {

std::string pem_file(const std::string& path, const char* flag) {
  std::ifstream f(path);
  std::stringstream text;
  if (f) text << f.rdbuf();
  if (!f || text.str().empty()) throw OperationFailed(std::string(flag) + ": '" + path + "' cannot be read");
  return text.str();
}

}  // namespace

ControlPlaneTarget::ControlPlaneTarget(const std::string& address, double timeout_s, const TlsFlags& tls)
    : address_(address), tls_(is_tcp_address(address)),
      timeout_(std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000))) {
  if (!tls_) {
    stub_ = v1::Anylb::NewStub(api_channel("unix:" + address));
    return;
  }
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = pem_file(tls.ca, "--tls-ca");
  o.pem_cert_chain = pem_file(tls.cert, "--tls-cert");
  o.pem_private_key = pem_file(tls.key, "--tls-key");
  stub_ = v1::Anylb::NewStub(api_channel(address, grpc::SslCredentials(o), tls.server_name));
}

// UNAVAILABLE is the control plane's only when the connection failed: it
// passes on the dataplane's own (a stopped dataplane is not a stopped
// control plane).
void ControlPlaneTarget::deadline(grpc::ClientContext& ctx, std::chrono::milliseconds waits) const {
  ctx.set_deadline(std::chrono::system_clock::now() + timeout_ + waits);
}

void ControlPlaneTarget::check(const grpc::Status& s, const char* what) const {
  if (s.ok()) return;
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE && s.error_message().find("connect") != std::string::npos)
    throw OperationFailed(std::string(what) + ": cannot reach the control plane at " + address_ +
                          (tls_ ? " (is anylb-controlplane running there? does --tls-ca sign its certificate, for the name "
                                  "of the address or --tls-server-name, and does it accept our --tls-cert?)"
                                : " (is anylb-controlplane running?)"));
  if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
    throw OperationFailed(std::string(what) + ": no answer from the control plane at " + address_ + " within " + seconds_text(timeout_) + " (--timeout)");
  throw OperationFailed(std::string(what) + ": " + s.error_message());
}

Output ControlPlaneTarget::routes() {
  grpc::ClientContext ctx;
  deadline(ctx);
  v1::ListRoutesResponse resp;
  check(stub_->ListRoutes(&ctx, {}, &resp), "routes");
  nlohmann::json j = nlohmann::json::array();
  Table t({"PREFIX", "SERVICE", "STATE", "HEALTHY", "QUORUM", "HOLD-DOWN", "COMMUNITIES", "WHY"});
  for (const auto& r : resp.routes()) {
    std::string communities;
    for (const auto& c : r.communities()) communities += (communities.empty() ? "" : ",") + c;
    j.push_back({{"prefix", r.prefix()}, {"service", r.service()}, {"announced", r.announced()}, {"healthy", r.healthy()},
                 {"quorum", r.quorum()}, {"hold_down_remaining_ms", r.hold_down_remaining_ms()},
                 {"communities", r.communities()}, {"reason", r.reason()}});
    t.add({r.prefix(), r.service().empty() ? "(covering)" : r.service(), r.announced() ? "announced" : "withdrawn",
           r.quorum() ? std::to_string(r.healthy()) : "-", r.quorum() ? std::to_string(r.quorum()) : "-",
           r.hold_down_remaining_ms() ? std::to_string(r.hold_down_remaining_ms() / 1000) + "s" : "-",
           communities.empty() ? "-" : communities, r.reason()});
  }
  return {j, t.str()};
}

Output ControlPlaneTarget::health() {
  grpc::ClientContext ctx;
  deadline(ctx);
  v1::GetHealthResponse resp;
  check(stub_->GetHealth(&ctx, {}, &resp), "health");
  nlohmann::json j = nlohmann::json::array();
  Table t({"SERVICE", "BACKEND", "HEALTH", "SERVING", "DETAIL"});
  for (const auto& b : resp.backends()) {
    j.push_back({{"service", b.service()}, {"address", b.address()}, {"health", health_name(b.health())},
                 {"serving", b.serving()}, {"detail", b.detail()}});
    t.add({b.service(), b.address(), health_name(b.health()), b.serving() ? "yes" : "no", b.detail()});
  }
  return {j, t.str()};
}

Output ControlPlaneTarget::node() {
  grpc::ClientContext ctx;
  deadline(ctx);
  v1::Node node;
  check(stub_->GetNode(&ctx, {}, &node), "node");
  return node_output(node);
}

Output ControlPlaneTarget::drain(bool undrain) {
  grpc::ClientContext ctx;
  deadline(ctx);
  v1::DrainNodeRequest req;
  req.set_undrain(undrain);
  v1::Node node;
  check(stub_->DrainNode(&ctx, req, &node), "node drain");
  return node_output(node);
}

Output ControlPlaneTarget::services() {
  grpc::ClientContext ctx;
  deadline(ctx);
  v1::ListServicesResponse resp;
  check(stub_->ListServices(&ctx, {}, &resp), "service list");
  nlohmann::json j = nlohmann::json::array();
  Table t({"NAME", "VIP", "PROTO", "PORT", "BACKENDS", "UP", "ROUTE"});
  for (const auto& d : resp.services()) {
    j.push_back(detail_json(d));
    int up = 0;
    for (const auto& b : d.backends()) up += b.serving();  // what takes traffic, not only what checks well
    t.add({d.service().name(), d.service().vip(), d.service().protocol() == v1::PROTOCOL_UDP ? "udp" : "tcp",
           d.service().port() ? std::to_string(d.service().port()) : "any", std::to_string(d.backends_size()),
           std::to_string(up), d.announced() ? "announced" : "withdrawn"});
  }
  return {j, t.str()};
}

Output ControlPlaneTarget::service(const std::string& name) {
  grpc::ClientContext ctx;
  deadline(ctx);
  v1::GetServiceRequest req;
  req.set_name(name);
  v1::ServiceDetail d;
  check(stub_->GetService(&ctx, req, &d), "service show");
  Table t({"ADDRESS", "MAC", "WEIGHT", "ADMIN", "HEALTH", "SERVING", "DETAIL"});
  for (const auto& b : d.backends())
    t.add({b.address() + (b.registered() ? " (registered)" : ""), b.mac().empty() ? "-" : b.mac(),
           std::to_string(b.weight()), admin_name(b.admin_state()), health_name(b.health()), b.serving() ? "yes" : "no",
           b.health_detail()});
  return {detail_json(d), "service " + d.service().name() + ": " + d.service().vip() + ", quorum " +
                              std::to_string(d.service().quorum()) + ", " +
                              (d.announced() ? "announced" : "withdrawn") + "\n" + registration_line(d.service()) +
                              t.str()};
}

// Its service changes answer result "added"/"deleted" and the name, as they
// always have (scripts read them); the verb's words are not put over them.
Applied ControlPlaneTarget::add_service(const ServiceSpec& spec) {
  grpc::ClientContext ctx;
  deadline(ctx);
  v1::AddServiceRequest req;
  v1::Service* s = req.mutable_service();
  s->set_name(spec.name);
  s->set_vip(spec.vip);
  s->set_protocol(spec.tcp ? v1::PROTOCOL_TCP : v1::PROTOCOL_UDP);
  s->set_port(spec.port);
  s->set_mode(spec.mode == Mode::ipip ? v1::FORWARDING_MODE_IPIP
              : spec.mode == Mode::gue ? v1::FORWARDING_MODE_GUE
                                       : v1::FORWARDING_MODE_L2_DSR);
  s->set_hash_fragments(spec.hash_fragments);
  if (spec.quorum) s->set_quorum(*spec.quorum);
  if (spec.gue_port) s->set_gue_port(*spec.gue_port);
  if (!spec.registration_prefixes.empty()) {
    v1::ServiceRegistration* r = s->mutable_registration();
    for (const std::string& p : spec.registration_prefixes) r->add_prefixes(p);
    r->set_max_backends(spec.registration_max_backends);
    r->set_weight(spec.registration_weight);
    r->set_registrar_mac(spec.registrar_mac);
  }
  v1::ServiceDetail d;
  check(stub_->AddService(&ctx, req, &d), "service add");
  return {{{"result", "added"}, {"service", spec.name}}, ""};
}

Applied ControlPlaneTarget::delete_service(const std::string& name) {
  grpc::ClientContext ctx;
  deadline(ctx);
  v1::DeleteServiceRequest req;
  req.set_name(name);
  v1::Empty e;
  check(stub_->DeleteService(&ctx, req, &e), "service del");
  return {{{"result", "deleted"}, {"service", name}}, ""};
}

Applied ControlPlaneTarget::add_backend(const BackendSpec& spec) {
  grpc::ClientContext ctx;
  deadline(ctx);
  v1::AddBackendRequest req;
  *req.mutable_backend() = backend_message(spec);
  v1::Backend out;
  check(stub_->AddBackend(&ctx, req, &out), "backend add");
  return backend_applied(out);
}

Applied ControlPlaneTarget::delete_backend(const std::string& service, const std::string& address) {
  grpc::ClientContext ctx;
  deadline(ctx);
  v1::DeleteBackendRequest req;
  req.set_service(service);
  req.set_address(address);
  v1::Empty empty;
  check(stub_->DeleteBackend(&ctx, req, &empty), "backend del");
  return {};
}

Applied ControlPlaneTarget::set_backend_state(const std::string& service, const std::string& address, AdminState s) {
  grpc::ClientContext ctx;
  deadline(ctx);
  v1::SetBackendStateRequest req;
  req.set_service(service);
  req.set_address(address);
  req.set_admin_state(admin_state(s));
  v1::Backend out;
  check(stub_->SetBackendState(&ctx, req, &out), "backend state");
  return backend_applied(out);
}

Applied ControlPlaneTarget::set_backend_weight(const std::string& service, const std::string& address, uint32_t weight) {
  grpc::ClientContext ctx;
  deadline(ctx);
  v1::SetBackendWeightRequest req;
  req.set_service(service);
  req.set_address(address);
  req.set_weight(weight);
  v1::Backend out;
  check(stub_->SetBackendWeight(&ctx, req, &out), "backend weight");
  return backend_applied(out);
}

std::string ControlPlaneTarget::state_word(AdminState s) const { return admin_name(admin_state(s)); }

std::string ControlPlaneTarget::register_backend(const BackendSpec& spec, uint32_t ttl_seconds) {
  grpc::ClientContext ctx;
  deadline(ctx);
  v1::RegisterBackendRequest req;
  *req.mutable_backend() = backend_message(spec);
  req.set_ttl_seconds(ttl_seconds);
  v1::RegisterBackendResponse resp;
  check(stub_->RegisterBackend(&ctx, req, &resp), "backend register");
  return resp.registration_id();
}

void ControlPlaneTarget::heartbeat(const std::string& registration_id) {
  grpc::ClientContext ctx;
  deadline(ctx);
  v1::HeartbeatRequest req;
  req.set_registration_id(registration_id);
  v1::Empty empty;
  check(stub_->Heartbeat(&ctx, req, &empty), "backend heartbeat");
}

void ControlPlaneTarget::deregister(const std::string& registration_id) {
  grpc::ClientContext ctx;
  deadline(ctx);
  v1::DeregisterBackendRequest req;
  req.set_registration_id(registration_id);
  v1::Empty empty;
  check(stub_->DeregisterBackend(&ctx, req, &empty), "backend deregister");
}

Output ControlPlaneTarget::registrations(const std::string& service) {
  grpc::ClientContext ctx;
  deadline(ctx);
  v1::ListRegistrationsRequest req;
  req.set_service(service);
  v1::ListRegistrationsResponse resp;
  check(stub_->ListRegistrations(&ctx, req, &resp), "backend registrations");
  nlohmann::json j = nlohmann::json::array();
  Table t({"ID", "SERVICE", "ADDRESS", "WEIGHT", "TTL", "STATE", "OWNER"});
  for (const v1::Registration& r : resp.registrations()) {
    const std::string state = r.deregistered() ? "draining out" : r.alive() ? "alive" : "heartbeats missing";
    j.push_back({{"registration_id", r.registration_id()}, {"service", r.backend().service()},
                 {"address", r.backend().address()}, {"mac", r.backend().mac()}, {"weight", r.backend().weight()},
                 {"ttl_seconds", r.ttl_seconds()}, {"owner", r.owner()}, {"alive", r.alive()},
                 {"deregistered", r.deregistered()}, {"since_heartbeat_ms", r.since_heartbeat_ms()}});
    t.add({r.registration_id(), r.backend().service(), r.backend().address(), std::to_string(r.backend().weight()),
           std::to_string(r.ttl_seconds()) + " s", state, r.owner().empty() ? "-" : r.owner()});
  }
  return {j, t.str()};
}

Output ControlPlaneTarget::stats(double interval) {
  // The control plane reads the counters twice, the interval apart.
  v1::GetStatsRequest req;
  req.set_interval_ms(std::max<uint32_t>(1, static_cast<uint32_t>(std::lround(interval * 1000))));
  grpc::ClientContext ctx;
  deadline(ctx, std::chrono::milliseconds(req.interval_ms()));
  v1::GetStatsResponse resp;
  check(stub_->GetStats(&ctx, req, &resp), "stats");
  nlohmann::json j = {{"services", nlohmann::json::array()}, {"backends", nlohmann::json::array()}, {"drops", resp.drops()}};
  Table services({"SERVICE", "PACKETS", "BYTES", "NEW FLOWS", "PPS", "FLOWS/S"});
  for (const auto& s : resp.services()) {
    const auto& r = s.totals();
    j["services"].push_back({{"service", s.service()}, {"packets", r.packets()}, {"bytes", r.bytes()},
                             {"new_flows", r.new_flows()}, {"packets_per_second", r.packets_per_second()},
                             {"new_flows_per_second", r.new_flows_per_second()}});
    services.add({s.service(), std::to_string(r.packets()), std::to_string(r.bytes()), std::to_string(r.new_flows()),
                  human_count(r.packets_per_second()), human_count(r.new_flows_per_second())});
  }
  Table backends({"SERVICE", "BACKEND", "PACKETS", "NEW FLOWS", "PPS"});
  for (const auto& b : resp.backends()) {
    const auto& r = b.totals();
    j["backends"].push_back({{"service", b.service()}, {"address", b.address()}, {"packets", r.packets()},
                             {"new_flows", r.new_flows()}, {"packets_per_second", r.packets_per_second()}});
    backends.add({b.service(), b.address(), std::to_string(r.packets()), std::to_string(r.new_flows()),
                  human_count(r.packets_per_second())});
  }
  std::string drops;
  for (const auto& [reason, n] : resp.drops())
    if (n) drops += "  " + reason + " " + std::to_string(n) + "\n";
  return {j, services.str() + "\n" + backends.str() + "\ndrops:" + (drops.empty() ? " none\n" : "\n" + drops)};
}

Output ControlPlaneTarget::trace(const FiveTuple& flow) {
  grpc::ClientContext ctx;
  deadline(ctx);
  v1::TraceRequest req;
  v1::FiveTuple* f = req.mutable_flow();
  f->set_source(flow.source);
  f->set_destination(flow.destination);
  f->set_source_port(flow.source_port);
  f->set_destination_port(flow.destination_port);
  f->set_protocol(flow.tcp ? v1::PROTOCOL_TCP : v1::PROTOCOL_UDP);
  v1::TraceResponse r;
  check(stub_->Trace(&ctx, req, &r), "trace");
  return {{{"service", r.service()}, {"backend", r.backend()}, {"explanation", r.explanation()}},
          (r.service().empty() ? "" : "service:  " + r.service() + "\n") +
              (r.backend().empty() ? "" : "backend:  " + r.backend() + "\n") + "why:      " + r.explanation() + "\n"};
}

FlowPage ControlPlaneTarget::flows(const FlowQuery& query) {
  v1::ListFlowsRequest req;
  req.set_service(query.service);
  req.set_backend(query.backend);
  req.set_page_token(query.page_token);
  req.set_page_size(query.page_size);
  grpc::ClientContext ctx;
  deadline(ctx);
  v1::ListFlowsResponse resp;
  check(stub_->ListFlows(&ctx, req, &resp), "flows");
  FlowPage page{{}, resp.next_page_token()};
  for (const auto& f : resp.flows()) {
    const auto& ft = f.flow();
    page.rows.push_back({endpoint_text(ft.source(), ft.source_port()), endpoint_text(ft.destination(), ft.destination_port()),
                         ft.protocol() == v1::PROTOCOL_TCP ? "tcp" : ft.protocol() == v1::PROTOCOL_UDP ? "udp" : "?",
                         f.service(), f.backend(), f.worker(), f.expires_in_ms()});
  }
  return page;
}

}  // namespace anylb::ctl
