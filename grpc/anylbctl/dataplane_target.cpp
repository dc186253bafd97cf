// The dataplane target's connection and its changes: each reads the desired
// state, edits it and applies the next generation.
#include "dataplane_target.hpp"

#include <algorithm>
#include <chrono>

#include <grpcpp/grpcpp.h>

#include "api_channel.hpp"
#include "ip_address.hpp"

namespace anylb::ctl {

namespace {

pb::Service* find_service(pb::DesiredState& st, const std::string& name) {
  for (auto& s : *st.mutable_services())
    if (s.name() == name) return &s;
  return nullptr;
}

pb::Backend* find_backend(pb::DesiredState& st, const std::string& service, const std::string& address) {
  auto want = IpAddress::parse(address);
  for (auto& b : *st.mutable_backends())
    if (b.service() == service && want && IpAddress::parse(b.address()) == want) return &b;
  return nullptr;
}

pb::BackendState backend_state(AdminState s) {
  return s == AdminState::draining ? pb::BACKEND_STATE_DRAINING
         : s == AdminState::down   ? pb::BACKEND_STATE_DOWN
                                   : pb::BACKEND_STATE_UP;
}

}  // namespace

DataplaneTarget::DataplaneTarget(const std::string& socket_path, double timeout_s)
    : path_(socket_path), timeout_(std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000))) {
  stub_ = pb::Dataplane::NewStub(api_channel("unix:" + socket_path));
}

void DataplaneTarget::deadline(grpc::ClientContext& ctx, std::chrono::milliseconds waits) const {
  ctx.set_deadline(std::chrono::system_clock::now() + timeout_ + waits);
}

void DataplaneTarget::check(const grpc::Status& s, const char* what) const {
  if (s.ok()) return;
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE && s.error_message().find("connect") != std::string::npos)
    throw OperationFailed(std::string(what) + ": cannot reach the dataplane at " + path_ + " (is anylb-dataplane running?)");
  throw OperationFailed(std::string(what) + ": " + s.error_message());
}

pb::GetStateResponse DataplaneTarget::state() {
  grpc::ClientContext ctx;
  deadline(ctx);
  pb::GetStateResponse resp;
  check(stub_->GetState(&ctx, pb::GetStateRequest{}, &resp), "get state");
  return resp;
}

uint64_t DataplaneTarget::apply(const pb::DesiredState& state, uint64_t generation) {
  grpc::ClientContext ctx;
  deadline(ctx);
  pb::ApplyStateRequest req;
  req.set_generation(generation);
  *req.mutable_state() = state;
  pb::ApplyStateResponse resp;
  check(stub_->ApplyState(&ctx, req, &resp), "apply");
  return resp.generation();
}

pb::GetCountersResponse DataplaneTarget::counters() {
  grpc::ClientContext ctx;
  deadline(ctx);
  pb::GetCountersResponse resp;
  check(stub_->GetCounters(&ctx, pb::GetCountersRequest{}, &resp), "counters");
  return resp;
}

pb::GetLivenessResponse DataplaneTarget::liveness() {
  grpc::ClientContext ctx;
  deadline(ctx);
  pb::GetLivenessResponse resp;
  check(stub_->GetLiveness(&ctx, pb::GetLivenessRequest{}, &resp), "liveness");
  return resp;
}

Applied DataplaneTarget::apply_next(const pb::GetStateResponse& read) {
  const uint64_t gen = apply(read.state(), read.generation() + 1);
  return {{{"generation", gen}}, " (generation " + std::to_string(gen) + ")"};
}

pb::Backend& DataplaneTarget::backend_of(pb::GetStateResponse& st, const std::string& service,
                                         const std::string& address) {
  if (!find_service(*st.mutable_state(), service)) throw OperationFailed("no service named '" + service + "'");
  pb::Backend* b = find_backend(*st.mutable_state(), service, address);
  if (!b) throw OperationFailed("backend " + address + " is not in service '" + service + "'");
  return *b;
}

Applied DataplaneTarget::add_service(const ServiceSpec& spec) {
  pb::GetStateResponse st = state();
  if (find_service(*st.mutable_state(), spec.name)) throw OperationFailed("service '" + spec.name + "' already exists");
  pb::Service& s = *st.mutable_state()->add_services();
  s.set_name(spec.name);
  s.set_vip(spec.vip);
  s.set_protocol(spec.tcp ? pb::PROTOCOL_TCP : pb::PROTOCOL_UDP);
  s.set_port(spec.port);
  s.set_mode(spec.mode == Mode::ipip ? pb::FORWARDING_MODE_IPIP
             : spec.mode == Mode::gue ? pb::FORWARDING_MODE_GUE
                                      : pb::FORWARDING_MODE_L2_DSR);
  s.set_fragments(spec.hash_fragments ? pb::FRAGMENT_POLICY_HASH : pb::FRAGMENT_POLICY_DROP);
  if (spec.gue_port) s.set_gue_port(*spec.gue_port);
  return apply_next(st);
}

Applied DataplaneTarget::delete_service(const std::string& name) {
  pb::GetStateResponse st = state();
  auto* services = st.mutable_state()->mutable_services();
  const auto before = services->size();
  services->erase(std::remove_if(services->begin(), services->end(), [&](const pb::Service& s) { return s.name() == name; }),
                  services->end());
  if (services->size() == before) throw OperationFailed("no service named '" + name + "'");
  auto* backends = st.mutable_state()->mutable_backends();
  backends->erase(std::remove_if(backends->begin(), backends->end(), [&](const pb::Backend& b) { return b.service() == name; }),
                  backends->end());
  return apply_next(st);
}

Applied DataplaneTarget::add_backend(const BackendSpec& spec) {
  pb::GetStateResponse st = state();
  if (!find_service(*st.mutable_state(), spec.service)) throw OperationFailed("no service named '" + spec.service + "'");
  if (find_backend(*st.mutable_state(), spec.service, spec.address))
    throw OperationFailed("backend " + spec.address + " is already in service '" + spec.service + "'");
  pb::Backend& b = *st.mutable_state()->add_backends();
  b.set_service(spec.service);
  b.set_address(spec.address);
  b.set_mac(spec.mac);
  b.set_weight(spec.weight.value_or(100));
  b.set_state(pb::BACKEND_STATE_UP);
  return apply_next(st);
}

Applied DataplaneTarget::delete_backend(const std::string& service, const std::string& address) {
  pb::GetStateResponse st = state();
  const pb::Backend* b = &backend_of(st, service, address);
  auto* backends = st.mutable_state()->mutable_backends();
  for (int i = 0; i < backends->size(); ++i)  // a RepeatedPtrField is not contiguous: find by index
    if (&backends->Get(i) == b) {
      backends->DeleteSubrange(i, 1);
      break;
    }
  return apply_next(st);
}

Applied DataplaneTarget::set_backend_state(const std::string& service, const std::string& address, AdminState s) {
  pb::GetStateResponse st = state();
  backend_of(st, service, address).set_state(backend_state(s));
  return apply_next(st);
}

Applied DataplaneTarget::set_backend_weight(const std::string& service, const std::string& address, uint32_t weight) {
  pb::GetStateResponse st = state();
  backend_of(st, service, address).set_weight(weight);
  return apply_next(st);
}

std::string DataplaneTarget::state_word(AdminState s) const { return state_name(backend_state(s)); }

std::string protocol_name(pb::Protocol p) { return p == pb::PROTOCOL_TCP ? "tcp" : p == pb::PROTOCOL_UDP ? "udp" : "?"; }

std::string mode_name(pb::ForwardingMode m) {
  switch (m) {
    case pb::FORWARDING_MODE_L2_DSR: return "l2-dsr";
    case pb::FORWARDING_MODE_IPIP: return "ipip";
    case pb::FORWARDING_MODE_GUE: return "gue";
    default: return "?";
  }
}

std::string state_name(pb::BackendState s) {
  switch (s) {
    case pb::BACKEND_STATE_UP: case pb::BACKEND_STATE_UNSPECIFIED: return "up";
    case pb::BACKEND_STATE_DRAINING: return "draining";
    case pb::BACKEND_STATE_DOWN: return "down";
    default: return "?";
  }
}

}  // namespace anylb::ctl
