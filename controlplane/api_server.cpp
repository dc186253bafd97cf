#include "api_server.hpp"

#include <fstream>
#include <optional>
#include <sstream>
#include <map>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>

#include "api.grpc.pb.h"  // anylb/v1/anylb.proto
#include "api_auth.hpp"
#include "api_channel.hpp"
#include "api_messages.hpp"
#include "api_unix_listener.hpp"
#include "dataplane.grpc.pb.h"
#include "health.hpp"
#include "registration.hpp"

namespace anylb::cp {

namespace v1 = ::anylb::v1;

class ApiServer::Service final : public v1::Anylb::Service {
 public:
  explicit Service(Node& node)
      : node_(node),
        dataplane_(anylb::dataplane::v1::Dataplane::NewStub(
            api_channel("unix:" + node.dataplane_socket()))) {}

  // Flows, traces and counters live in the dataplane: asked there, in the
  // operator API's terms.
  grpc::Status Trace(grpc::ServerContext* caller, const v1::TraceRequest* req, v1::TraceResponse* resp) override {
    if (grpc::Status a = admit(caller, __func__); !a.ok()) return a;
    namespace dp = ::anylb::dataplane::v1;
    dp::TraceRequest dreq;
    const v1::FiveTuple& f = req->flow();
    dp::FiveTuple* t = dreq.mutable_flow();
    t->set_source(f.source());
    t->set_destination(f.destination());
    t->set_protocol(static_cast<dp::Protocol>(f.protocol()));
    t->set_source_port(f.source_port());
    t->set_destination_port(f.destination_port());
    dp::TraceResponse dresp;
    grpc::ClientContext ctx;
    on_behalf_of(*caller, ctx);
    const grpc::Status s = dataplane_->Trace(&ctx, dreq, &dresp);
    if (!s.ok()) return s;
    resp->set_service(dresp.service());
    resp->set_backend(dresp.backend().address());
    resp->set_explanation(dresp.explanation());
    return grpc::Status::OK;
  }

  grpc::Status ListFlows(grpc::ServerContext* caller, const v1::ListFlowsRequest* req, v1::ListFlowsResponse* resp) override {
    if (grpc::Status a = admit(caller, __func__); !a.ok()) return a;
    namespace dp = ::anylb::dataplane::v1;
    dp::ListFlowsRequest dreq;
    dreq.set_service(req->service());
    dreq.set_backend(req->backend());
    dreq.set_page_size(req->page_size());
    dreq.set_page_token(req->page_token());
    dp::ListFlowsResponse dresp;
    grpc::ClientContext ctx;
    on_behalf_of(*caller, ctx);
    const grpc::Status s = dataplane_->ListFlows(&ctx, dreq, &dresp);
    if (!s.ok()) return s;
    for (const dp::Flow& f : dresp.flows()) {
      v1::Flow* o = resp->add_flows();
      o->set_service(f.service());
      o->set_backend(f.backend());
      o->set_worker(f.worker());
      o->set_expires_in_ms(f.expires_in_ms());
      v1::FiveTuple* t = o->mutable_flow();
      t->set_source(f.flow().source());
      t->set_destination(f.flow().destination());
      t->set_protocol(static_cast<v1::Protocol>(f.flow().protocol()));
      t->set_source_port(f.flow().source_port());
      t->set_destination_port(f.flow().destination_port());
    }
    resp->set_next_page_token(dresp.next_page_token());
    return grpc::Status::OK;
  }

  grpc::Status GetStats(grpc::ServerContext* caller, const v1::GetStatsRequest* req, v1::GetStatsResponse* resp) override {
    if (grpc::Status a = admit(caller, __func__); !a.ok()) return a;
    namespace dp = ::anylb::dataplane::v1;
    if (req->interval_ms() > 60000)
      return {grpc::StatusCode::INVALID_ARGUMENT,
              "interval_ms: " + std::to_string(req->interval_ms()) + " is above 60000 (a minute)"};
    const uint32_t interval_ms = req->interval_ms() == 0 ? 500 : req->interval_ms();
    dp::GetCountersResponse a, b;  // two reads `interval_ms` apart give the rates
    for (dp::GetCountersResponse* r : {&a, &b}) {
      if (r == &b) std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms));
      grpc::ClientContext ctx;
      on_behalf_of(*caller, ctx);
      const grpc::Status s = dataplane_->GetCounters(&ctx, {}, r);
      if (!s.ok()) return s;
    }
    const double dt = static_cast<double>(b.monotonic_ms() - a.monotonic_ms()) / 1000.0;
    auto rates = [dt](const dp::EndpointCounters* before, const dp::EndpointCounters& now, v1::Rates* o) {
      o->set_packets(now.packets());
      o->set_bytes(now.bytes());
      o->set_new_flows(now.new_flows());
      // No rate for an endpoint new in the second read, or whose counters
      // went back (the dataplane restarted in between).
      if (before == nullptr || dt <= 0 || now.packets() < before->packets() || now.bytes() < before->bytes() ||
          now.new_flows() < before->new_flows())
        return;
      o->set_packets_per_second(static_cast<double>(now.packets() - before->packets()) / dt);
      o->set_bytes_per_second(static_cast<double>(now.bytes() - before->bytes()) / dt);
      o->set_new_flows_per_second(static_cast<double>(now.new_flows() - before->new_flows()) / dt);
    };
    // The first read's counters by name, so that 65535 backends cost a map
    // lookup each, not a scan of the others.
    std::map<std::string, const dp::EndpointCounters*> services_before;
    for (const auto& o : a.services()) services_before[o.service().name()] = &o.counters();
    std::map<std::pair<std::string, std::string>, const dp::EndpointCounters*> backends_before;
    for (const auto& o : a.backends())
      backends_before[{o.backend().service(), o.backend().address()}] = &o.counters();
    auto find = [](const auto& m, const auto& key) -> const dp::EndpointCounters* {
      const auto it = m.find(key);
      return it == m.end() ? nullptr : it->second;
    };
    for (const auto& s : b.services()) {
      v1::ServiceStats* out = resp->add_services();
      out->set_service(s.service().name());
      rates(find(services_before, s.service().name()), s.counters(), out->mutable_totals());
    }
    for (const auto& be : b.backends()) {
      v1::BackendStats* out = resp->add_backends();
      out->set_service(be.backend().service());
      out->set_address(be.backend().address());
      rates(find(backends_before, std::pair{be.backend().service(), be.backend().address()}), be.counters(),
            out->mutable_totals());
    }
    for (const auto& [reason, n] : b.drops()) (*resp->mutable_drops())[reason] = n;
    return grpc::Status::OK;
  }

  grpc::Status ListServices(grpc::ServerContext* ctx, const v1::ListServicesRequest*, v1::ListServicesResponse* resp) override {
    if (grpc::Status a = admit(ctx, __func__); !a.ok()) return a;
    const NodeStatus st = node_.status();
    for (const ServiceSpec& s : st.services) detail(st, s, resp->add_services());
    return grpc::Status::OK;
  }

  grpc::Status GetService(grpc::ServerContext* ctx, const v1::GetServiceRequest* req, v1::ServiceDetail* resp) override {
    if (grpc::Status a = admit(ctx, __func__); !a.ok()) return a;
    const NodeStatus st = node_.status();
    for (const ServiceSpec& s : st.services)
      if (s.name == req->name()) return detail(st, s, resp), grpc::Status::OK;
    return {grpc::StatusCode::NOT_FOUND, "name: no service named '" + req->name() + "'"};
  }

  grpc::Status AddService(grpc::ServerContext* ctx, const v1::AddServiceRequest* req, v1::ServiceDetail* resp) override {
    if (grpc::Status a = admit(ctx, __func__); !a.ok()) return a;
    const v1::Service& in = req->service();
    const SpecFields fields = {
        {"name", in.name()},
        {"vip", in.vip()},
        {"proto", in.protocol() == v1::PROTOCOL_UDP ? "udp" : in.protocol() == v1::PROTOCOL_TCP ? "tcp" : "?"},
        {"port", in.port() == 0 ? std::string("any") : std::to_string(in.port())},
        {"mode", in.mode() == v1::FORWARDING_MODE_IPIP  ? "ipip"
                 : in.mode() == v1::FORWARDING_MODE_GUE ? "gue"
                 : in.mode() == v1::FORWARDING_MODE_L2_DSR || in.mode() == v1::FORWARDING_MODE_UNSPECIFIED
                     ? "l2-dsr"
                     : "(" + std::to_string(in.mode()) + ")"},  // a newer client's mode: refused, not l2-dsr
        {"fragments", in.hash_fragments() ? "hash" : "drop"},
        {"gue-port", std::to_string(in.gue_port() == 0 ? kDefaultGuePort : in.gue_port())}};
    std::string error;
    auto parsed = parse_service_fields(fields, error);
    if (!parsed) return {grpc::StatusCode::INVALID_ARGUMENT, "service." + api_field(error)};
    if (in.quorum() > 65534)  // as the configuration file's quorum
      return {grpc::StatusCode::INVALID_ARGUMENT,
              "service.quorum: " + std::to_string(in.quorum()) + " is not a number from 1 to 65534 (0: 1)"};
    std::optional<RegistrationPolicy> registration;
    if (in.has_registration()) {
      const auto& r = in.registration();
      registration = registration_policy({r.prefixes().begin(), r.prefixes().end()}, r.max_backends(), r.weight(),
                                         "service.registration", error);
      if (!registration) return {grpc::StatusCode::INVALID_ARGUMENT, error};
      registration->registrar_mac = r.registrar_mac();
    }
    const grpc::Status s = to_status(node_.change([&](Overlay& o, const ControlConfig& c) -> ChangeError {
      if (find_service(c, parsed->name)) return {ChangeError::exists, "service.name: '" + parsed->name + "' already exists"};
      ServiceConfig sc;
      sc.spec = *parsed;
      sc.spec.origin = "API";
      sc.quorum = Quorum{in.quorum() == 0 ? 1 : in.quorum(), 0};
      sc.check.type = CheckType::tcp;  // checked by connecting to the service port
      sc.registration = registration;
      if (sc.spec.port == kAnyPort) return {ChangeError::invalid, "service.port: an any-port service added through the API needs a port to check; use the configuration file"};
      // Its check is a TCP connect to the service port: a UDP service's
      // backends would refuse it and never come up.
      if (sc.spec.proto == kProtoUdp)
        return {ChangeError::invalid, "service.protocol: a UDP service needs a check of its own (udp-dns, exec); use the configuration file"};
      o.added_services.push_back(sc);  // a configured one deleted here stays deleted, as for backends
      return {};
    }));
    if (!s.ok()) return s;
    fill_service(*parsed, resp->mutable_service());
    return s;
  }

  grpc::Status DeleteService(grpc::ServerContext* ctx, const v1::DeleteServiceRequest* req, v1::Empty*) override {
    if (grpc::Status a = admit(ctx, __func__); !a.ok()) return a;
    return to_status(node_.change([&](Overlay& o, const ControlConfig& c) -> ChangeError {
      if (!find_service(c, req->name())) return {ChangeError::not_found, "name: no service named '" + req->name() + "'"};
      const auto added = std::erase_if(o.added_services, [&](const ServiceConfig& s) { return s.spec.name == req->name(); });
      if (added == 0) o.deleted_services.insert(req->name());
      return {};
    }));
  }

  grpc::Status AddBackend(grpc::ServerContext* ctx, const v1::AddBackendRequest* req, v1::Backend* resp) override {
    if (grpc::Status a = admit(ctx, __func__); !a.ok()) return a;
    BackendConfig b;
    if (ChangeError e = backend_config(req->backend(), b); e.kind != ChangeError::none) return to_status(e);
    const grpc::Status s = to_status(node_.change([&](Overlay& o, const ControlConfig& c) -> ChangeError {
      BackendId id;
      if (ChangeError e = backend_id(c, req->backend().service(), req->backend().address(), id, false, "backend."); e.kind != ChangeError::none)
        return e;
      // A configured backend deleted here stays deleted: the one added
      // takes its place, as asked (un-deleting it as well made two).
      o.added_backends[id] = b;
      return {};
    }));
    if (s.ok()) backend_reply(req->backend().service(), b, resp);  // as it runs: weight 0 is 100
    return s;
  }

  grpc::Status DeleteBackend(grpc::ServerContext* ctx, const v1::DeleteBackendRequest* req, v1::Empty*) override {
    if (grpc::Status a = admit(ctx, __func__); !a.ok()) return a;
    return to_status(node_.change([&](Overlay& o, const ControlConfig& c) -> ChangeError {
      BackendId id;
      ChangeError e = backend_id(c, req->service(), req->address(), id);
      // Gone (a registration that expired) but an admin state or weight
      // kept for it: forgotten, so that it registers anew as it asks.
      if (e.kind == ChangeError::not_found && !id.first.empty() && o.forget_operator_state(id)) return {};
      if (e.kind != ChangeError::none) return e;
      // A registered backend goes with its registrations (registering again
      // brings it back: `backend disable` keeps it out); an added one is
      // taken back; a configured one is hidden from the configuration.
      // Whichever, what an operator set for it goes too.
      o.forget_operator_state(id);
      if (o.forget_registrations(id) == 0 && o.added_backends.erase(id) == 0) o.deleted_backends.insert(id);
      return {};
    }));
  }

  grpc::Status SetBackendState(grpc::ServerContext* ctx, const v1::SetBackendStateRequest* req, v1::Backend* resp) override {
    if (grpc::Status a = admit(ctx, __func__); !a.ok()) return a;
    if (req->admin_state() == v1::BACKEND_ADMIN_STATE_UNSPECIFIED) return {grpc::StatusCode::INVALID_ARGUMENT, "admin_state: must be set"};
    if (!v1::BackendAdminState_IsValid(req->admin_state()))  // a newer client's value: not "enabled"
      return {grpc::StatusCode::INVALID_ARGUMENT,
              "admin_state: " + std::to_string(req->admin_state()) + " is not ENABLED, DRAINING or DISABLED"};
    BackendConfig now;
    const grpc::Status s = to_status(node_.change([&](Overlay& o, const ControlConfig& c) -> ChangeError {
      BackendId id;
      if (ChangeError e = backend_id(c, req->service(), req->address(), id); e.kind != ChangeError::none) return e;
      now = *find_backend(c, id);
      const AdminState a = req->admin_state() == v1::BACKEND_ADMIN_STATE_DRAINING   ? AdminState::draining
                           : req->admin_state() == v1::BACKEND_ADMIN_STATE_DISABLED ? AdminState::disabled
                                                                                    : AdminState::enabled;
      if (a == AdminState::enabled) o.admin.erase(id);
      else o.admin[id] = a;
      return {};
    }));
    if (s.ok()) backend_reply(req->service(), now, resp, req->admin_state());
    return s;
  }

  grpc::Status SetBackendWeight(grpc::ServerContext* ctx, const v1::SetBackendWeightRequest* req, v1::Backend* resp) override {
    if (grpc::Status a = admit(ctx, __func__); !a.ok()) return a;
    if (req->weight() == 0 || req->weight() > kMaxBackendWeight)
      return {grpc::StatusCode::INVALID_ARGUMENT, "weight: " + std::to_string(req->weight()) + " is out of range (1-10000)"};
    BackendConfig now;
    v1::BackendAdminState admin = v1::BACKEND_ADMIN_STATE_ENABLED;
    const grpc::Status s = to_status(node_.change([&](Overlay& o, const ControlConfig& c) -> ChangeError {
      BackendId id;
      if (ChangeError e = backend_id(c, req->service(), req->address(), id); e.kind != ChangeError::none) return e;
      now = *find_backend(c, id);
      if (const auto a = o.admin.find(id); a != o.admin.end()) admin = to_v1(a->second);
      o.weights[id] = req->weight();
      return {};
    }));
    if (s.ok()) {
      now.weight = req->weight();
      backend_reply(req->service(), now, resp, admin);
    }
    return s;
  }

  grpc::Status RegisterBackend(grpc::ServerContext* ctx, const v1::RegisterBackendRequest* req,
                               v1::RegisterBackendResponse* resp) override {
    Caller caller;  // the registration rules' to read
    if (grpc::Status a = admit(ctx, __func__, &caller); !a.ok()) return a;
    RegisterRequest r{req->backend().service(), {}, req->ttl_seconds() * 1000ull};
    if (ChangeError e = backend_config(req->backend(), r.backend); e.kind != ChangeError::none) return to_status(e);
    r.backend.weight = req->backend().weight();  // 0: not asked (the service's registration.weight)
    if (req->ttl_seconds() == 0 || req->ttl_seconds() > 3600)
      return {grpc::StatusCode::INVALID_ARGUMENT, "ttl_seconds: must be 1 to 3600"};
    std::string rid;
    const grpc::Status s = to_status(node_.change([&](Overlay& o, const ControlConfig& c) {
      return register_backend(o, c, caller, r, monotonic_ms(), rid);
    }));
    if (s.ok()) resp->set_registration_id(rid);
    return s;
  }

  grpc::Status Heartbeat(grpc::ServerContext* ctx, const v1::HeartbeatRequest* req, v1::Empty*) override {
    Caller caller;  // the registration rules' to read
    if (grpc::Status a = admit(ctx, __func__, &caller); !a.ok()) return a;
    return to_status(node_.heartbeat(req->registration_id(), caller));
  }

  grpc::Status DeregisterBackend(grpc::ServerContext* ctx, const v1::DeregisterBackendRequest* req, v1::Empty*) override {
    Caller caller;  // the registration rules' to read
    if (grpc::Status a = admit(ctx, __func__, &caller); !a.ok()) return a;
    return to_status(node_.change([&](Overlay& o, const ControlConfig&) {
      return deregister_backend(o, caller, req->registration_id(), monotonic_ms());  // drains, then goes
    }));
  }

  grpc::Status ListRegistrations(grpc::ServerContext* ctx, const v1::ListRegistrationsRequest* req,
                                 v1::ListRegistrationsResponse* resp) override {
    Caller caller;  // a registrar sees its own
    if (grpc::Status a = admit(ctx, __func__, &caller); !a.ok()) return a;
    for (const Node::RegistrationView& v : node_.registrations(caller, req->service())) {
      v1::Registration* o = resp->add_registrations();
      o->set_registration_id(v.id);
      o->mutable_backend()->set_service(v.registration.service);
      o->mutable_backend()->set_address(v.registration.backend.address.to_string());
      o->mutable_backend()->set_mac(v.registration.backend.mac.is_zero() ? "" : v.registration.backend.mac.to_string());
      o->mutable_backend()->set_weight(v.registration.backend.weight);
      o->mutable_backend()->set_registered(true);
      o->set_ttl_seconds(static_cast<uint32_t>(v.registration.ttl_ms / 1000));
      o->set_owner(v.registration.owner);
      o->set_alive(v.alive && !v.registration.deregistered_ms);
      o->set_deregistered(v.registration.deregistered_ms.has_value());
      o->set_since_heartbeat_ms(v.since_heartbeat_ms);
    }
    return grpc::Status::OK;
  }

  grpc::Status ListRoutes(grpc::ServerContext* ctx, const v1::ListRoutesRequest*, v1::ListRoutesResponse* resp) override {
    if (grpc::Status a = admit(ctx, __func__); !a.ok()) return a;
    const NodeStatus st = node_.status();
    for (const RouteStatus& r : st.routes) {
      v1::Route* o = resp->add_routes();
      o->set_prefix(r.prefix);
      o->set_service(r.service);
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

  grpc::Status GetHealth(grpc::ServerContext* ctx, const v1::GetHealthRequest*, v1::GetHealthResponse* resp) override {
    if (grpc::Status a = admit(ctx, __func__); !a.ok()) return a;
    const NodeStatus st = node_.status();
    for (const BackendStatus& b : st.backends) {
      v1::BackendHealth* o = resp->add_backends();
      o->set_service(b.service);
      o->set_address(b.address.to_string());
      o->set_health(!b.health.checked ? v1::HEALTH_UNKNOWN : b.health.healthy ? v1::HEALTH_UP : v1::HEALTH_DOWN);
      o->set_detail(b.health.detail);
      o->set_since_ms(b.health.since_ms);
      o->set_serving(b.up);
    }
    return grpc::Status::OK;
  }

  grpc::Status GetNode(grpc::ServerContext* ctx, const v1::GetNodeRequest*, v1::Node* resp) override {
    if (grpc::Status a = admit(ctx, __func__); !a.ok()) return a;
    fill_node(node_.status(), resp);
    return grpc::Status::OK;
  }

  grpc::Status DrainNode(grpc::ServerContext* ctx, const v1::DrainNodeRequest* req, v1::Node* resp) override {
    if (grpc::Status a = admit(ctx, __func__); !a.ok()) return a;
    node_.drain(!req->undrain());
    NodeStatus st = node_.status();
    st.draining = !req->undrain();  // takes effect on the next pass
    fill_node(st, resp);
    return grpc::Status::OK;
  }

 private:
  // The caller of this call, admitted to `method` by the table of roles
  // (api_auth.hpp): every handler starts here.
  grpc::Status admit(grpc::ServerContext* ctx, std::string_view method, Caller* out = nullptr) const {
    Caller c;
    if (std::optional<Caller> u = unix_callers_.find(ctx->peer())) {
      // The fd number names this call's connection: gRPC closes a
      // connection's fd only once its transport is destroyed, after its
      // last stream (this call's among them), so no new connection can
      // hold the number while the call runs. A cancelled call (its peer
      // gone) is turned away all the same.
      if (ctx->IsCancelled()) return {grpc::StatusCode::CANCELLED, "the caller went away"};
      c = std::move(*u);
    } else {
      TlsCaller t = tls_caller(*ctx);
      if (!t.caller) return t.refusal;
      c = std::move(*t.caller);
    }
    if (grpc::Status s = authorize(c, method); !s.ok()) return s;
    if (out) *out = std::move(c);
    return grpc::Status::OK;
  }

  static void detail(const NodeStatus& st, const ServiceSpec& s, v1::ServiceDetail* o) {
    fill_service(s, o->mutable_service());
    if (const auto r = st.registration_rules.find(s.name); r != st.registration_rules.end()) {
      v1::ServiceRegistration* out = o->mutable_service()->mutable_registration();
      for (const Prefix& p : r->second.prefixes) out->add_prefixes(p.to_string());
      out->set_max_backends(r->second.max_backends);
      out->set_weight(r->second.weight);
      out->set_registrar_mac(r->second.registrar_mac);
    }
    for (const BackendStatus& b : st.backends)
      if (b.service == s.name) fill_backend(b, o->add_backends());
    for (const RouteStatus& r : st.routes)
      if (r.service == s.name) {
        o->set_announced(r.announced);
        o->mutable_service()->set_quorum(r.quorum);
      }
  }

  // The backend as it now runs (health and serving come with the node's
  // next pass: `service show` has them).
  static void backend_reply(const std::string& service, const BackendConfig& b, v1::Backend* resp,
                            v1::BackendAdminState admin = v1::BACKEND_ADMIN_STATE_ENABLED) {
    resp->set_service(service);
    resp->set_address(b.address.to_string());
    resp->set_mac(b.mac.is_zero() ? std::string() : b.mac.to_string());
    resp->set_weight(b.weight);
    resp->set_admin_state(admin);
  }

  static void fill_node(const NodeStatus& st, v1::Node* o) {
    o->set_name(st.name);
    o->set_draining(st.draining);
    o->set_dataplane_alive(st.dataplane_ok);
    o->set_dataplane_problem(st.dataplane_problem);
    o->set_gobgp_problem(st.gobgp_problem);
    o->set_dataplane_generation(st.dataplane_generation);
    for (const IpAddress& a : st.addresses) o->add_addresses(a.to_string());
    for (const auto& [service, why] : st.refused) {
      v1::RefusedService* r = o->add_refused();
      r->set_service(service);
      r->set_reason(why);
    }
  }
  Node& node_;
  std::unique_ptr<anylb::dataplane::v1::Dataplane::Stub> dataplane_;

 public:
  UnixCallers unix_callers_;  // filled by ApiServer's unix listeners
};

namespace {

std::string read_file(const std::string& path, const std::string& key) {
  std::ifstream f(path);
  std::stringstream text;
  if (f) text << f.rdbuf();
  if (!f || text.str().empty()) throw std::runtime_error("key '" + key + "': '" + path + "' cannot be read");
  return text.str();
}

}  // namespace

ApiServer::ApiServer(Node& node, const ControlConfig& config) : service_(std::make_unique<Service>(node)) {
  // Unix sockets: bound (a live one refused) and their mode set before the
  // server starts; they accept once it has.
  if (!config.api_socket.empty())
    unix_.push_back(std::make_unique<UnixListener>(config.api_socket, config.api_group, Role::operator_role,
                                                   "api.socket", service_->unix_callers_));
  if (!config.api_registrar_socket.empty())
    unix_.push_back(std::make_unique<UnixListener>(config.api_registrar_socket, config.api_registrar_group,
                                                   Role::registrar, "api.registrar_socket", service_->unix_callers_));
  grpc::ServerBuilder builder;
  if (!config.api_tcp.empty()) {
    // Only callers with a certificate our CA signed (valid now): their
    // role is in it (api_auth.hpp).
    grpc::SslServerCredentialsOptions tls(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    tls.pem_root_certs = read_file(config.api_tls.ca, "api.tls.ca");
    tls.pem_key_cert_pairs.push_back(
        {read_file(config.api_tls.key, "api.tls.key"), read_file(config.api_tls.cert, "api.tls.cert")});
    builder.AddListeningPort(config.api_tcp, grpc::SslServerCredentials(tls));
  }
  api_message_limits(builder, false);
  // Connections hold fds, which the health checks need too: a TLS
  // handshake gets 10 s, and a connection idle for 5 min is closed (a
  // client reconnects by itself).
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, 300'000);
  builder.RegisterService(service_.get());
  server_ = builder.BuildAndStart();
  if (!server_)
    throw std::runtime_error("key 'api.tcp': cannot listen on '" + config.api_tcp +
                             "' with the certificate and key of api.tls (in use, or not a key of that certificate?)");
  for (auto& u : unix_) u->serve(*server_);
  spdlog::info("API (anylb.v1): operators on {}{}{}", config.api_socket.empty() ? "(no socket)" : "unix:" + config.api_socket,
               config.api_registrar_socket.empty() ? "" : ", registrars on unix:" + config.api_registrar_socket,
               config.api_tcp.empty() ? "" : ", TLS clients by their certificate's role on " + config.api_tcp);
}

ApiServer::~ApiServer() {
  unix_.clear();  // no new connections
  server_->Shutdown();
}

}  // namespace anylb::cp
