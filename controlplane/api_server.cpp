#include "api_server.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>

#include "api.grpc.pb.h"  // anylb/v1/anylb.proto
#include "api_channel.hpp"
#include "dataplane.grpc.pb.h"
#include "health.hpp"
#include "registration.hpp"

namespace anylb::cp {

namespace v1 = ::anylb::v1;

namespace {

grpc::Status to_status(const ChangeError& e) {
  switch (e.kind) {
    case ChangeError::none: return grpc::Status::OK;
    case ChangeError::invalid: return {grpc::StatusCode::INVALID_ARGUMENT, e.message};
    case ChangeError::not_found: return {grpc::StatusCode::NOT_FOUND, e.message};
    case ChangeError::exists: return {grpc::StatusCode::ALREADY_EXISTS, e.message};
    case ChangeError::internal: return {grpc::StatusCode::INTERNAL, e.message};
    case ChangeError::denied: return {grpc::StatusCode::PERMISSION_DENIED, e.message};
    case ChangeError::exhausted: return {grpc::StatusCode::RESOURCE_EXHAUSTED, e.message};
  }
  return {grpc::StatusCode::INTERNAL, e.message};
}

// The dataplane parser's "key 'K': 'value' why" as "field: 'value' why",
// K named as anylb.v1.Service names it.
std::string api_field(const std::string& error) {
  static constexpr std::pair<std::string_view, std::string_view> kFields[] = {
      {"name", "name"}, {"vip", "vip"}, {"proto", "protocol"}, {"port", "port"},
      {"mode", "mode"}, {"fragments", "hash_fragments"}, {"gue-port", "gue_port"}};
  for (const auto& [key, field] : kFields) {
    const std::string prefix = "key '" + std::string(key) + "': ";
    if (error.rfind(prefix, 0) == 0) return std::string(field) + ": " + error.substr(prefix.size());
  }
  return error;
}

const ServiceConfig* find_service(const ControlConfig& c, const std::string& name) {
  for (const ServiceConfig& s : c.services)
    if (s.spec.name == name) return &s;
  return nullptr;
}

// The backend at `id` in the merged configuration (nullptr if none).
const BackendConfig* find_backend(const ControlConfig& c, const BackendId& id) {
  const ServiceConfig* s = find_service(c, id.first);
  if (!s) return nullptr;
  for (const BackendConfig& b : s->backends)
    if (b.address == id.second) return &b;
  return nullptr;
}

// The backend (service, address) as the request names it, checked.
// `fields`: where the request holds service and address ("" or "backend.").
ChangeError backend_id(const ControlConfig& c, const std::string& service, const std::string& address, BackendId& out,
                       bool must_exist = true, const std::string& fields = "") {
  const ServiceConfig* s = find_service(c, service);
  if (!s) return {ChangeError::not_found, fields + "service: no service named '" + service + "'"};
  auto a = IpAddress::parse(address);
  if (!a) return {ChangeError::invalid, fields + "address: '" + address + "' is not an IPv4 or IPv6 address"};
  out = {service, *a};
  const bool present = find_backend(c, out) != nullptr;
  if (must_exist && !present)
    return {ChangeError::not_found, fields + "address: " + address + " is not a backend of '" + service + "'"};
  if (!must_exist && present)
    return {ChangeError::exists, fields + "address: " + address + " is already a backend of '" + service + "'"};
  return {};
}

ChangeError backend_config(const v1::Backend& in, BackendConfig& out) {
  auto a = IpAddress::parse(in.address());
  if (!a) return {ChangeError::invalid, "backend.address: '" + in.address() + "' is not an IPv4 or IPv6 address"};
  std::optional<MacAddress> m = MacAddress{};  // empty: resolved from the neighbour table
  if (!in.mac().empty()) m = MacAddress::parse(in.mac());
  if (!m || (!in.mac().empty() && m->is_zero()))
    return {ChangeError::invalid, "backend.mac: '" + in.mac() + "' is not a MAC address"};
  if (in.weight() > kMaxBackendWeight)
    return {ChangeError::invalid, "backend.weight: " + std::to_string(in.weight()) + " is out of range (1-10000)"};
  out = BackendConfig{*a, *m, in.weight() == 0 ? 100 : in.weight(), "API"};
  return {};
}

v1::BackendAdminState to_v1(AdminState a) {
  return a == AdminState::enabled    ? v1::BACKEND_ADMIN_STATE_ENABLED
         : a == AdminState::draining ? v1::BACKEND_ADMIN_STATE_DRAINING
                                     : v1::BACKEND_ADMIN_STATE_DISABLED;
}

void fill_backend(const BackendStatus& b, v1::Backend* o) {
  o->set_service(b.service);
  o->set_address(b.address.to_string());
  o->set_mac(b.mac.is_zero() ? std::string() : b.mac.to_string());  // none: resolved from the neighbour table
  o->set_weight(b.weight);
  o->set_admin_state(to_v1(b.admin));
  o->set_health(!b.health.checked ? v1::HEALTH_UNKNOWN : b.health.healthy ? v1::HEALTH_UP : v1::HEALTH_DOWN);
  o->set_registered(b.registered);
  o->set_health_detail(b.health.detail);
  o->set_serving(b.up);
}

void fill_service(const ServiceSpec& s, v1::Service* o) {
  o->set_name(s.name);
  o->set_vip(s.vip.to_string());
  o->set_protocol(s.proto == kProtoTcp ? v1::PROTOCOL_TCP : v1::PROTOCOL_UDP);
  o->set_port(s.port);
  o->set_mode(s.mode == ForwardingMode::l2_dsr ? v1::FORWARDING_MODE_L2_DSR
              : s.mode == ForwardingMode::ipip ? v1::FORWARDING_MODE_IPIP
                                               : v1::FORWARDING_MODE_GUE);
  o->set_hash_fragments(s.fragments == FragmentPolicy::hash);
  if (s.mode == ForwardingMode::gue) o->set_gue_port(s.gue_port);
}

// A request passed on to the dataplane waits as long as its caller does
// (anylbctl --timeout), but never more than a minute: a caller with no
// deadline must not hold an API thread for ever.
void on_behalf_of(const grpc::ServerContext& caller, grpc::ClientContext& ctx) {
  ctx.set_deadline(std::min(caller.deadline(), std::chrono::system_clock::now() + std::chrono::seconds(60)));
}

}  // namespace

class ApiServer::Service final : public v1::Anylb::Service {
 public:
  explicit Service(Node& node)
      : node_(node),
        dataplane_(anylb::dataplane::v1::Dataplane::NewStub(
            api_channel("unix:" + node.dataplane_socket()))) {}

  // Flows, traces and counters live in the dataplane: asked there, in the
  // operator API's terms.
  grpc::Status Trace(grpc::ServerContext* caller, const v1::TraceRequest* req, v1::TraceResponse* resp) override {
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

  grpc::Status ListServices(grpc::ServerContext*, const v1::ListServicesRequest*, v1::ListServicesResponse* resp) override {
    const NodeStatus st = node_.status();
    for (const ServiceSpec& s : st.services) detail(st, s, resp->add_services());
    return grpc::Status::OK;
  }

  grpc::Status GetService(grpc::ServerContext*, const v1::GetServiceRequest* req, v1::ServiceDetail* resp) override {
    const NodeStatus st = node_.status();
    for (const ServiceSpec& s : st.services)
      if (s.name == req->name()) return detail(st, s, resp), grpc::Status::OK;
    return {grpc::StatusCode::NOT_FOUND, "name: no service named '" + req->name() + "'"};
  }

  grpc::Status AddService(grpc::ServerContext*, const v1::AddServiceRequest* req, v1::ServiceDetail* resp) override {
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

  grpc::Status DeleteService(grpc::ServerContext*, const v1::DeleteServiceRequest* req, v1::Empty*) override {
    return to_status(node_.change([&](Overlay& o, const ControlConfig& c) -> ChangeError {
      if (!find_service(c, req->name())) return {ChangeError::not_found, "name: no service named '" + req->name() + "'"};
      const auto added = std::erase_if(o.added_services, [&](const ServiceConfig& s) { return s.spec.name == req->name(); });
      if (added == 0) o.deleted_services.insert(req->name());
      return {};
    }));
  }

  grpc::Status AddBackend(grpc::ServerContext*, const v1::AddBackendRequest* req, v1::Backend* resp) override {
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

  grpc::Status DeleteBackend(grpc::ServerContext*, const v1::DeleteBackendRequest* req, v1::Empty*) override {
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

  grpc::Status SetBackendState(grpc::ServerContext*, const v1::SetBackendStateRequest* req, v1::Backend* resp) override {
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

  grpc::Status SetBackendWeight(grpc::ServerContext*, const v1::SetBackendWeightRequest* req, v1::Backend* resp) override {
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

  grpc::Status RegisterBackend(grpc::ServerContext*, const v1::RegisterBackendRequest* req,
                               v1::RegisterBackendResponse* resp) override {
    const Caller caller;  // the listener's, once api_auth hands it over
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

  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest* req, v1::Empty*) override {
    const Caller caller;  // the listener's, once api_auth hands it over
    return to_status(node_.heartbeat(req->registration_id(), caller));
  }

  grpc::Status DeregisterBackend(grpc::ServerContext*, const v1::DeregisterBackendRequest* req, v1::Empty*) override {
    const Caller caller;  // the listener's, once api_auth hands it over
    return to_status(node_.change([&](Overlay& o, const ControlConfig&) {
      return deregister_backend(o, caller, req->registration_id(), monotonic_ms());  // drains, then goes
    }));
  }

  grpc::Status ListRegistrations(grpc::ServerContext*, const v1::ListRegistrationsRequest* req,
                                 v1::ListRegistrationsResponse* resp) override {
    const Caller caller;  // the listener's, once api_auth hands it over
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

  grpc::Status ListRoutes(grpc::ServerContext*, const v1::ListRoutesRequest*, v1::ListRoutesResponse* resp) override {
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

  grpc::Status GetHealth(grpc::ServerContext*, const v1::GetHealthRequest*, v1::GetHealthResponse* resp) override {
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
  static void detail(const NodeStatus& st, const ServiceSpec& s, v1::ServiceDetail* o) {
    fill_service(s, o->mutable_service());
    if (const auto r = st.registration_rules.find(s.name); r != st.registration_rules.end()) {
      v1::ServiceRegistration* out = o->mutable_service()->mutable_registration();
      for (const Prefix& p : r->second.prefixes) out->add_prefixes(p.to_string());
      out->set_max_backends(r->second.max_backends);
      out->set_weight(r->second.weight);
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
  api_message_limits(builder, false);
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

}  // namespace anylb::cp
