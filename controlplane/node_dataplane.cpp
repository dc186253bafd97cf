// The node's dataplane side: is it forwarding (liveness), what it is told
// to hold (the desired state, pushed each pass), and what it would refuse
// (asked before an operator's change is taken). node.cpp holds the rest.
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <set>

#include "api_convert.hpp"
#include "node.hpp"
#include "node_helpers.hpp"
#include "servable.hpp"
#include "state_parts.hpp"

namespace anylb::cp {

namespace dp = ::anylb::dataplane::v1;

namespace {

void deadline(grpc::ClientContext& ctx, int ms) {
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(ms));
}

// A request that carries the whole state gets time in proportion to it:
// 20 us a backend on top of `base_ms` (65,534 backends: 1.3 s more). Such a
// state takes hundreds of milliseconds to read or apply, several times that
// in a sanitizer build, and a deadline missed every pass would leave the
// dataplane never told.
int sized_ms(int base_ms, std::size_t backends) { return base_ms + static_cast<int>(std::min<std::size_t>(backends, 1u << 20) / 50); }

std::size_t backend_count(const ControlConfig& c) {
  std::size_t n = 0;
  for (const ServiceConfig& s : c.services) n += s.backends.size();
  return n;
}

}  // namespace

// The dataplane's desired state for `c`, each backend in the state `state_of` gives.
dp::DesiredState Node::desired_state(
    const ControlConfig& c, const std::function<BackendState(const ServiceConfig&, const BackendConfig&)>& state_of) const {
  dp::DesiredState want;
  for (const IpAddress& a : c.node_addresses) want.add_node_addresses(a.to_string());
  for (const IpAddress& a : bgp_peers_) want.add_bgp_peers(a.to_string());
  for (const IpAddress& a : gtsm_peers_) want.add_gtsm_peers(a.to_string());
  want.set_probe_ports(c.probe_source_ports.to_string());
  for (const ServiceConfig& svc : c.services) {
    to_proto(svc.spec, *want.add_services());
    for (const BackendConfig& b : svc.backends)
      to_proto(BackendSpec{svc.spec.name, b.address, b.mac, b.weight, state_of(svc, b), ""}, *want.add_backends());
  }
  return want;
}

// What the dataplane would refuse `merged` for, asked before a change is
// accepted (its own checks: a backend without a MAC on a dataplane that
// cannot resolve one, say), so the change is refused naming the field
// instead of wedging every later push. A dataplane that does not answer
// refuses nothing: the push says what it takes.
std::string Node::dataplane_refuses(const ControlConfig& merged) {
  return dataplane_refuses(desired_state(merged, [](const ServiceConfig&, const BackendConfig&) { return BackendState::up; }));
}

std::string Node::dataplane_refuses(const dp::DesiredState& state) {
  grpc::ClientContext ctx;
  deadline(ctx, sized_ms(1000, static_cast<std::size_t>(state.backends_size())));
  dp::ApplyStateRequest req;
  req.set_validate_only(true);
  *req.mutable_state() = state;
  dp::ApplyStateResponse resp;
  // Generation 0: a dataplane too old to know validate_only refuses it
  // ("generation: must be set") rather than apply it; that is no verdict.
  const grpc::Status s = dataplane_->ApplyState(&ctx, req, &resp);
  if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT && s.error_message().rfind("generation:", 0) == 0) {
    spdlog::warn("the dataplane cannot check changes (an older build): taken on the control plane's checks");
    return "";
  }
  if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) return "refused by the dataplane: " + s.error_message();
  if (!s.ok()) spdlog::warn("change not checked by the dataplane ({}): taken on the control plane's checks", s.error_message());
  return "";
}

bool Node::dataplane_alive() {
  grpc::ClientContext ctx;
  deadline(ctx, 1000);
  dp::GetLivenessResponse resp;
  const grpc::Status s = dataplane_->GetLiveness(&ctx, dp::GetLivenessRequest{}, &resp);
  if (!s.ok()) {
    log_once(last_dataplane_error_, "dataplane at " + config_.dataplane_socket + ": " + s.error_message());
    return false;
  }
  if (resp.lcores() == 0 || resp.lcores_alive() < resp.lcores()) {
    log_once(last_dataplane_error_, "dataplane: only " + std::to_string(resp.lcores_alive()) + " of " +
                                        std::to_string(resp.lcores()) + " workers polling");
    return false;
  }
  if (!resp.ports_not_forwarding().empty()) {  // polling, but what it forwards would go nowhere
    log_once(last_dataplane_error_, "dataplane: " + resp.ports_not_forwarding());
    return false;
  }
  log_once(last_dataplane_error_, "");
  return true;
}

void Node::sync_dataplane(const std::map<BackendKey, BackendHealth>& health, uint64_t now) {
  grpc::ClientContext get_ctx;
  deadline(get_ctx, sized_ms(1000, backend_count(config_)));
  dp::GetStateResponse have;
  grpc::Status s = dataplane_->GetState(&get_ctx, dp::GetStateRequest{}, &have);
  if (!s.ok()) {
    // One slow answer keeps what the last one showed; several, and what the
    // dataplane holds is unknown.
    if (++get_state_failures_ >= 5) dataplane_servable_.clear();
    return log_once(last_sync_error_, "dataplane GetState: " + s.error_message());
  }
  get_state_failures_ = 0;
  dataplane_state_read_ = true;
  // Also repairs a restarted dataplane: whatever it holds, it ends up with ours.
  dataplane_generation_ = have.generation();

  // What the dataplane serves now from each backend: after a restart of
  // ours it is the last run's verdict, kept until this run's checks give
  // their own (see inherits_up).
  std::set<BackendKey> serving;
  for (const dp::Backend& b : have.state().backends())
    if (b.state() != dp::BACKEND_STATE_DOWN)
      if (auto a = IpAddress::parse(b.address())) serving.insert({b.service(), *a});

  inherited_.clear();
  const dp::DesiredState want = desired_state(config_, [&](const ServiceConfig& svc, const BackendConfig& b) {
    const bool checked_up = backend_up(svc.spec.name, b, health, now);
    const bool inherited = !checked_up && serving.count({svc.spec.name, b.address}) && inherits_up(svc, b, health, now);
    if (inherited) inherited_.insert({svc.spec.name, b.address});
    return !(checked_up || inherited)        ? BackendState::down
           : backend_draining(svc.spec.name, b) ? BackendState::draining
                                                : BackendState::up;
  });
  const std::set<BackendRef> no_mac = unresolved(want, have);
  if (google::protobuf::util::MessageDifferencer::Equivalent(want, have.state())) {
    refused_.clear();
    dataplane_servable_ = servable(want, no_mac);
    return log_once(last_sync_error_, "");
  }
  grpc::ClientContext apply_ctx;
  deadline(apply_ctx, sized_ms(2000, static_cast<std::size_t>(want.backends_size())));
  dp::ApplyStateRequest req;
  req.set_generation(have.generation() + 1);
  *req.mutable_state() = want;
  dp::ApplyStateResponse resp;
  s = dataplane_->ApplyState(&apply_ctx, req, &resp);
  if (!s.ok()) {
    log_once(last_sync_error_, "dataplane ApplyState: " + s.error_message());
    const auto code = s.error_code();
    // Refused for what it holds (a service it will not take): push what it
    // takes. Refused for its own sake (its state file, its capacity): it
    // still has what it had.
    if (code == grpc::StatusCode::INVALID_ARGUMENT) return push_what_it_takes(want, have);
    if (code != grpc::StatusCode::DEADLINE_EXCEEDED && code != grpc::StatusCode::UNAVAILABLE &&
        code != grpc::StatusCode::CANCELLED) {
      dataplane_servable_ = servable(want, have.state(), no_mac);
      return;
    }
    // No answer: it may have taken the push. What it holds now decides;
    // unknown, the last verdict stands (as for a failed GetState).
    grpc::ClientContext again;
    deadline(again, sized_ms(1000, static_cast<std::size_t>(want.backends_size())));
    dp::GetStateResponse now_have;
    if (dataplane_->GetState(&again, dp::GetStateRequest{}, &now_have).ok())
      dataplane_servable_ = servable(want, now_have.state(), unresolved(want, now_have));
    return;
  }
  log_once(last_sync_error_, "");
  refused_.clear();
  dataplane_servable_ = servable(want, no_mac);
  dataplane_generation_ = resp.generation();
  spdlog::info("pushed generation {} to the dataplane", resp.generation());
}

// The dataplane refused the whole push: each service the push changes is
// tried alone on top of what the dataplane holds (asked, not applied), and
// what it takes is pushed. The services it refuses stay as it holds them,
// which is not as we want them: they are not servable, so exactly their
// routes are withdrawn; GetNode and the metrics say why. Health changes to
// every other service go on reaching the dataplane.
void Node::push_what_it_takes(const dp::DesiredState& want, const dp::GetStateResponse& have) {
  dp::DesiredState take = have.state();
  dp::DesiredState node_fields = take;  // the node's addresses and peers, tried first and alone
  *node_fields.mutable_node_addresses() = want.node_addresses();
  *node_fields.mutable_bgp_peers() = want.bgp_peers();
  *node_fields.mutable_gtsm_peers() = want.gtsm_peers();
  node_fields.set_probe_ports(want.probe_ports());
  // Asked only when they change: every pass of a refusal runs this.
  if (!google::protobuf::util::MessageDifferencer::Equivalent(node_fields, take)) {
    if (std::string why = dataplane_refuses(node_fields); why.empty()) take = std::move(node_fields);
    else log_once(last_sync_error_, "node_addresses, bgp_peers, gtsm_peers or probe_ports " + why);
  }
  std::map<std::string, std::string> refused;
  for (const std::string& name : changed_services(want, have.state())) {
    const dp::DesiredState trial = with_service_from(take, name, want);
    if (std::string why = dataplane_refuses(trial); !why.empty()) refused[name] = std::move(why);
    else take = trial;
  }
  if (refused != refused_)
    for (const auto& [name, why] : refused) spdlog::error("service {}: {}; its routes are withdrawn", name, why);
  refused_ = std::move(refused);
  grpc::ClientContext ctx;
  deadline(ctx, sized_ms(2000, static_cast<std::size_t>(take.backends_size())));
  dp::ApplyStateRequest req;
  req.set_generation(have.generation() + 1);
  *req.mutable_state() = take;
  dp::ApplyStateResponse resp;
  const bool taken = !google::protobuf::util::MessageDifferencer::Equivalent(take, have.state()) &&
                     dataplane_->ApplyState(&ctx, req, &resp).ok();
  if (taken) dataplane_generation_ = resp.generation();
  // Judged from what it holds now: what it took, or still what it had.
  const dp::DesiredState& holds = taken ? take : have.state();
  dataplane_servable_ = servable(want, holds, unresolved(want, have));
}

}  // namespace anylb::cp
