#include "api_server.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <thread>

#include "api_convert.hpp"
#include "api_channel.hpp"
#include "unix_socket_path.hpp"
#include "dataplane.grpc.pb.h"
#include "flow_page_token.hpp"
#include "pinning_version.hpp"
#include "port_links.hpp"
#include "stats.hpp"
#include "trace.hpp"

namespace anylb {

namespace {

uint64_t now_ms() {
  using namespace std::chrono;
  return static_cast<uint64_t>(duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

grpc::Status invalid(const std::string& m) { return {grpc::StatusCode::INVALID_ARGUMENT, m}; }

// Asks one worker and waits (bounded): a worker that does not poll (stuck,
// or blocked in a slow device) makes the call UNAVAILABLE, never hangs it.
// The caller holds the worker's query mutex from writing the question to
// reading the answer: two calls at once (gRPC serves them on several
// threads) would otherwise mix their questions and answers.
bool ask(WorkerContext& w, const std::lock_guard<std::mutex>&) {
  w.query.state.store(WorkerQuery::kAsked, std::memory_order_release);
  for (int i = 0; i < 20000; ++i) {  // ~1 s
    if (w.query.state.load(std::memory_order_acquire) == WorkerQuery::kAnswered) {
      w.query.state.store(WorkerQuery::kIdle, std::memory_order_relaxed);
      return true;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  // Withdraw the question; if the worker took it meanwhile, wait for its answer.
  int expected = WorkerQuery::kAsked;
  if (!w.query.state.compare_exchange_strong(expected, WorkerQuery::kIdle)) {
    while (w.query.state.load(std::memory_order_acquire) != WorkerQuery::kAnswered) std::this_thread::yield();
    w.query.state.store(WorkerQuery::kIdle, std::memory_order_relaxed);
  }
  return false;
}

}  // namespace

class ApiServer::Service final : public pb::Dataplane::Service {
 public:
  explicit Service(ApiContext ctx) : ctx_(ctx), query_mu_(ctx.workers->size()) {}

  grpc::Status ApplyState(grpc::ServerContext*, const pb::ApplyStateRequest* req,
                          pb::ApplyStateResponse* resp) override {
    if (req->generation() == 0 && !req->validate_only())
      return invalid("generation: must be set (greater than the applied one)");
    std::string error;
    auto state = from_proto(req->state(), error);
    if (!state) return invalid(error);
    if (req->validate_only()) {
      error = ctx_.control->check(*state);
      return error.empty() ? grpc::Status::OK : invalid(error);
    }
    const ApplyResult r = ctx_.control->apply(*state, req->generation(), now_ms(), StateSource::api);
    resp->set_generation(r.generation);
    switch (r.status) {
      case ApplyStatus::ok:
        spdlog::info("API applied generation {}: {} service(s), {} backend(s)", r.generation, state->services.size(),
                     state->backends.size());
        return grpc::Status::OK;
      case ApplyStatus::invalid: return invalid(r.error);
      case ApplyStatus::stale: return {grpc::StatusCode::FAILED_PRECONDITION, r.error};
      case ApplyStatus::exhausted: return {grpc::StatusCode::RESOURCE_EXHAUSTED, r.error};
      case ApplyStatus::persist_failed: return {grpc::StatusCode::INTERNAL, r.error};
    }
    return {grpc::StatusCode::INTERNAL, "unknown apply status"};
  }

  grpc::Status GetState(grpc::ServerContext*, const pb::GetStateRequest*, pb::GetStateResponse* resp) override {
    const ControlState::Snapshot st = ctx_.control->snapshot();
    resp->set_generation(st.generation);
    to_proto(st.desired, *resp->mutable_state());
    resp->set_source(st.source == StateSource::api ? pb::STATE_SOURCE_API : pb::STATE_SOURCE_OPTIONS);
    for (const BackendSpec& b : st.unresolved) to_proto(b, *resp->add_unresolved());
    return grpc::Status::OK;
  }

  grpc::Status GetCounters(grpc::ServerContext*, const pb::GetCountersRequest*, pb::GetCountersResponse* resp) override {
    const nlohmann::json c = ctx_.control->with_state(
        [&](const ForwardingState& st) { return collect_counters(*ctx_.workers, *ctx_.ports, st); });
    const DesiredState desired = ctx_.control->desired();
    resp->set_generation(c["generation"].get<uint64_t>());
    resp->set_monotonic_ms(now_ms());
    for (const auto& p : c["ports"]) {
      pb::PortCounters* o = resp->add_ports();
      o->set_name(p["name"].get<std::string>());
      o->set_mac(p["mac"].get<std::string>());
      o->set_rx_packets(p["rx_packets"].get<uint64_t>());
      o->set_rx_bytes(p["rx_bytes"].get<uint64_t>());
      o->set_tx_packets(p["tx_packets"].get<uint64_t>());
      o->set_tx_bytes(p["tx_bytes"].get<uint64_t>());
      o->set_rx_missed(p["rx_missed"].get<uint64_t>());
      o->set_rx_no_mbuf(p["rx_no_mbuf"].get<uint64_t>());
      o->set_rx_errors(p["rx_errors"].get<uint64_t>());
      o->set_tx_errors(p["tx_errors"].get<uint64_t>());
    }
    auto endpoint = [](const nlohmann::json& j, pb::EndpointCounters* o) {
      o->set_packets(j["packets"].get<uint64_t>());
      o->set_bytes(j["bytes"].get<uint64_t>());
      o->set_new_flows(j["new_flows"].get<uint64_t>());
    };
    // Specs by name and by (service, address), once a call: a scan per
    // counter row was quadratic in the backends (65535 of them: minutes).
    std::map<std::string, const ServiceSpec*> service_specs;
    for (const ServiceSpec& spec : desired.services) service_specs[spec.name] = &spec;
    std::map<std::pair<std::string, std::string>, const BackendSpec*> backend_specs;
    for (const BackendSpec& spec : desired.backends) backend_specs[{spec.service, spec.address.to_string()}] = &spec;
    for (const auto& s : c["services"]) {
      pb::ServiceCounters* o = resp->add_services();
      if (auto it = service_specs.find(s["name"].get<std::string>()); it != service_specs.end())
        to_proto(*it->second, *o->mutable_service());
      endpoint(s, o->mutable_counters());
    }
    for (const auto& b : c["backends"]) {
      pb::BackendCounters* o = resp->add_backends();
      if (auto it = backend_specs.find({b["service"].get<std::string>(), b["address"].get<std::string>()});
          it != backend_specs.end()) {
        // In the state it forwards in: down while its MAC is unresolved.
        BackendSpec shown = *it->second;
        shown.state = backend_state_named(b["state"].get<std::string>()).value_or(BackendState::down);
        to_proto(shown, *o->mutable_backend());
      }
      endpoint(b, o->mutable_counters());
    }
    for (const auto& l : c["lcores"]) {
      pb::LcoreCounters* o = resp->add_lcores();
      o->set_worker(l["worker"].get<uint32_t>());
      o->set_loops(l["loops"].get<uint64_t>());
      if (l.contains("flow_occupancy")) {
        o->set_flow_occupancy(l["flow_occupancy"].get<uint64_t>());
        o->set_flow_slots(l["flow_slots"].get<uint64_t>());
      }
    }
    for (const auto& [reason, n] : c["drops"].items()) (*resp->mutable_drops())[reason] = n.get<uint64_t>();
    resp->set_exception_packets(c["exception_packets"].get<uint64_t>());
    resp->set_fragments_hashed(c["fragments_hashed"].get<uint64_t>());
    resp->set_icmp_errors_forwarded(c["icmp_errors_forwarded"].get<uint64_t>());
    resp->set_icmp_errors_pinned_elsewhere(c["icmp_errors_pinned_elsewhere"].get<uint64_t>());
    resp->set_flows_repinned(c["flows_repinned"].get<uint64_t>());
    resp->set_flows_not_inserted(c["flows_not_inserted"].get<uint64_t>());
    resp->set_icmp_too_big_sent(c["icmp_too_big_sent"].get<uint64_t>());
    resp->set_outer_fragments_sent(c["outer_fragments_sent"].get<uint64_t>());
    resp->set_from_kernel_packets(c["from_kernel_packets"].get<uint64_t>());
    resp->set_unresolved_backends(ctx_.control->unresolved());
    pb::FlowTableCounters* f = resp->mutable_flows();
    f->set_occupancy(c["flows"]["occupancy"].get<uint64_t>());
    f->set_capacity(c["flows"]["capacity"].get<uint64_t>());
    f->set_inserts(c["flows"]["inserts"].get<uint64_t>());
    f->set_evictions(c["flows"]["evictions"].get<uint64_t>());
    f->set_confirmed_evictions(c["flows"]["confirmed_evictions"].get<uint64_t>());
    f->set_expirations(c["flows"]["expirations"].get<uint64_t>());
    return grpc::Status::OK;
  }

  grpc::Status Trace(grpc::ServerContext*, const pb::TraceRequest* req, pb::TraceResponse* resp) override {
    std::string error;
    auto key = from_proto(req->flow(), "flow", error);
    if (!key) return invalid(error);
    const uint64_t hash = flow_hash(*key);
    // First the flow tables (each asked on its own lcore), then the state.
    std::optional<FlowRecord> hit;
    uint32_t hit_worker = 0;
    for (std::size_t i = 0; i < ctx_.workers->size() && !hit; ++i) {
      WorkerContext& w = *(*ctx_.workers)[i];
      if (!w.flows_ready.load(std::memory_order_acquire)) continue;
      const std::lock_guard lock(query_mu_[i]);
      w.query.kind = WorkerQuery::Kind::lookup;
      w.query.key = *key;
      w.query.hash = hash;
      if (!ask(w, lock)) return {grpc::StatusCode::UNAVAILABLE, "worker " + std::to_string(i) + " is not polling"};
      if (w.query.found) {
        hit = w.query.hit;
        hit_worker = static_cast<uint32_t>(i);
      }
    }
    const DesiredState desired = ctx_.control->desired();
    // The configured weight of a backend of a service, for the reply.
    auto backend_spec = [&](const BackendEntry& b, const std::string& service) -> const BackendSpec* {
      for (const BackendSpec& s : desired.backends)
        if (s.address == b.address && s.service == service) return &s;
      return nullptr;
    };
    ctx_.control->with_state([&](const ForwardingState& st) {
      const AddressEntry* dst = st.addresses.find(key->dst, key->family);
      if (dst != nullptr && dst->node) {
        resp->set_decision(pb::TraceResponse::DECISION_NODE_ADDRESS);
        resp->set_explanation(key->dst_address().to_string() + " is a node address: exception path");
        return 0;
      }
      if (dst == nullptr) {
        resp->set_decision(pb::TraceResponse::DECISION_NOT_FOR_NODE);
        resp->set_explanation(key->dst_address().to_string() + " is neither a VIP nor a node address: dropped");
        return 0;
      }
      const uint32_t sid = st.addresses.service(*dst, key->proto, key->dst_port);
      if (sid == 0) {
        resp->set_decision(pb::TraceResponse::DECISION_NO_SERVICE);
        resp->set_explanation("no service on " + key->dst_address().to_string() + " for this protocol and port");
        return 0;
      }
      const ServiceSpec& svc = st.services[sid].spec;
      resp->set_service(svc.name);
      auto fill_backend = [&](uint32_t id) {
        const BackendEntry& b = st.backends[id];
        pb::Backend* o = resp->mutable_backend();
        o->set_service(svc.name);
        o->set_address(b.address.to_string());
        o->set_mac(b.mac.to_string());
        o->set_state(b.state == BackendState::up ? pb::BACKEND_STATE_UP
                     : b.state == BackendState::draining ? pb::BACKEND_STATE_DRAINING
                                                          : pb::BACKEND_STATE_DOWN);
        if (const BackendSpec* s = backend_spec(b, svc.name)) o->set_weight(s->weight);
      };
      const MaglevChoice m = explain_maglev(st, sid, hash);
      resp->set_maglev_slot(m.slot);
      if (m.primary_id != 0) resp->set_slot_backend(st.backends[m.primary_id].address.to_string());
      if (hit) {
        const BackendEntry& b = st.backends[hit->backend_id];
        if (b.present && b.service_id == sid && b.state != BackendState::down) {
          resp->set_decision(pb::TraceResponse::DECISION_FLOW_TABLE);
          resp->set_worker(hit_worker);
          fill_backend(hit->backend_id);
          resp->set_explanation("flow-table hit on worker " + std::to_string(hit_worker) + ": pinned to " +
                                b.address.to_string() + " (" + std::string(to_string(b.state)) + ")");
          return 0;
        }
      }
      if (m.chosen_id == 0) {
        resp->set_decision(pb::TraceResponse::DECISION_NO_BACKEND);
        resp->set_explanation("Maglev slot " + std::to_string(m.slot) + ": no backend of '" + svc.name + "' is up");
        return 0;
      }
      fill_backend(m.chosen_id);
      if (!m.fallback) {
        resp->set_decision(pb::TraceResponse::DECISION_MAGLEV);
        resp->set_explanation("Maglev slot " + std::to_string(m.slot) + " -> " +
                              st.backends[m.chosen_id].address.to_string());
      } else {
        resp->set_decision(pb::TraceResponse::DECISION_MAGLEV_FALLBACK);
        resp->set_explanation("Maglev slot " + std::to_string(m.slot) + " belongs to " +
                              st.backends[m.primary_id].address.to_string() + ", which is " +
                              std::string(to_string(st.backends[m.primary_id].state)) + ": fallback to " +
                              st.backends[m.chosen_id].address.to_string());
      }
      return 0;
    });
    return grpc::Status::OK;
  }

  grpc::Status ListFlows(grpc::ServerContext*, const pb::ListFlowsRequest* req, pb::ListFlowsResponse* resp) override {
    const uint32_t page = req->page_size() == 0 ? 1000 : req->page_size();
    if (page > WorkerQuery::kMaxRecords) return invalid("page_size: at most 10000");
    std::size_t worker = 0;
    uint64_t cursor = 0;
    if (!req->page_token().empty()) {
      std::vector<uint64_t> slots;
      for (const auto& w : *ctx_.workers) slots.push_back(w->flows->slots());
      const auto token = parse_flow_page_token(req->page_token(), slots);
      if (!token) return invalid("page_token: '" + req->page_token() + "' is not a token this dataplane gave");
      worker = token->worker;
      cursor = token->cursor;
    }
    uint32_t service_filter = 0;
    std::optional<IpAddress> backend_filter;
    if (!req->backend().empty()) {
      backend_filter = IpAddress::parse(req->backend());
      if (!backend_filter) return invalid("backend: '" + req->backend() + "' is not an IPv4 or IPv6 address");
    }
    std::vector<std::pair<uint32_t, std::string>> names;  // service id -> name, read once
    bool service_known = true;
    ctx_.control->with_state([&](const ForwardingState& st) {
      for (uint32_t id = 1; id < st.services.size(); ++id) {
        if (!st.services[id].present) continue;
        names.emplace_back(id, st.services[id].spec.name);
        if (st.services[id].spec.name == req->service()) service_filter = id;
      }
      service_known = req->service().empty() || service_filter != 0;
      return 0;
    });
    if (!service_known) return invalid("service: no service named '" + req->service() + "'");

    while (worker < ctx_.workers->size() && static_cast<uint32_t>(resp->flows_size()) < page) {
      WorkerContext& w = *(*ctx_.workers)[worker];
      if (!w.flows_ready.load(std::memory_order_acquire)) { ++worker; cursor = 0; continue; }
      const std::lock_guard lock(query_mu_[worker]);
      w.query.kind = WorkerQuery::Kind::list;
      w.query.cursor = cursor;
      w.query.max = page - static_cast<uint32_t>(resp->flows_size());
      w.query.service_filter = service_filter;
      w.query.backend_filter = 0;
      if (!ask(w, lock)) return {grpc::StatusCode::UNAVAILABLE, "worker " + std::to_string(worker) + " is not polling"};
      const FlowClock wnow = w.query.now;
      ctx_.control->with_state([&](const ForwardingState& st) {
        for (const FlowRecord& r : w.query.records) {
          const BackendEntry& b = st.backends[r.backend_id];
          if (backend_filter && !(b.present && b.address == *backend_filter)) continue;
          pb::Flow* f = resp->add_flows();
          to_proto(r.key, *f->mutable_flow());
          for (const auto& [id, name] : names)
            if (id == r.service_id) f->set_service(name);
          if (b.present) f->set_backend(b.address.to_string());
          f->set_worker(static_cast<uint32_t>(worker));
          f->set_expires_in_ms(static_cast<uint32_t>(r.expires - wnow));
        }
        return 0;
      });
      cursor = w.query.next_cursor;
      if (cursor >= w.flows->slots()) { ++worker; cursor = 0; }
    }
    if (worker < ctx_.workers->size()) resp->set_next_page_token(to_string(FlowPageToken{worker, cursor}));
    return grpc::Status::OK;
  }

  grpc::Status GetLiveness(grpc::ServerContext*, const pb::GetLivenessRequest*, pb::GetLivenessResponse* resp) override {
    std::vector<uint64_t> before;
    for (const auto& w : *ctx_.workers) before.push_back(w->loops.load(std::memory_order_relaxed));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    uint32_t alive = 0;
    for (std::size_t i = 0; i < ctx_.workers->size(); ++i)
      alive += (*ctx_.workers)[i]->loops.load(std::memory_order_relaxed) != before[i];
    uint64_t forwarded = 0;
    for (const auto& w : *ctx_.workers)
      for (std::size_t p = 0; p < ctx_.ports->size(); ++p) forwarded += w->counters->ports[p].tx_packets.read();
    resp->set_generation(ctx_.control->generation());
    resp->set_packets_forwarded(forwarded);
    resp->set_lcores(static_cast<uint32_t>(ctx_.workers->size()));
    resp->set_lcores_alive(alive);
    resp->set_uptime_ms(now_ms() - ctx_.started_ms);
    resp->set_flow_pinning_version(kFlowPinningVersion);
    std::vector<PortLink> links;
    {
      // ethdev's control calls are not safe from two threads at once.
      const std::lock_guard<std::mutex> lock(link_mu_);
      for (std::size_t i = 0; i < ctx_.ports->size(); ++i) {
        const PortInfo& port = (*ctx_.ports)[i];
        const LinkStatus link = port_link(port.port_id);
        const std::size_t out = (*ctx_.egress)[i];
        links.push_back(PortLink{port.name, link.up, out});
        pb::PortLink* p = resp->add_ports();
        p->set_name(port.name);
        p->set_link_up(link.up);
        p->set_speed_mbps(link.speed_mbps);
        p->set_egress((*ctx_.ports)[out].name);
      }
    }
    resp->set_ports_not_forwarding(ports_not_forwarding(links));
    return grpc::Status::OK;
  }

 private:
  ApiContext ctx_;
  std::vector<std::mutex> query_mu_;
  std::mutex link_mu_;
};

ApiServer::ApiServer(ApiContext ctx, const std::string& socket_path)
    : service_(std::make_unique<Service>(ctx)), path_(socket_path) {
  clear_socket_path(socket_path, "option 'api-socket'");
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + socket_path, grpc::InsecureServerCredentials());
  api_message_limits(builder, true);  // ApplyState's request is as large as GetState's answer
  builder.RegisterService(service_.get());
  // gRPC binds and listens in one step: the umask makes the socket 0660
  // from the start (the chmod below only confirms it), so no caller
  // outside root's group connects in between. Only this thread creates
  // files at this point of a start.
  const mode_t umask_before = ::umask(0117);
  server_ = builder.BuildAndStart();
  ::umask(umask_before);
  if (!server_) throw std::runtime_error("option 'api-socket': cannot listen on '" + socket_path + "'");
  ::chmod(socket_path.c_str(), 0660);
  spdlog::info("API (anylb.dataplane.v1) on unix:{}", socket_path);
}

ApiServer::~ApiServer() {
  server_->Shutdown();
  ::unlink(path_.c_str());
}

}  // namespace anylb
