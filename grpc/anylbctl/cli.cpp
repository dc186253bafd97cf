#include "cli.hpp"

#include <charconv>
#include <cstdio>

#include <grpcpp/grpcpp.h>

namespace anylb::ctl {

std::string Cli::flag(const std::string& name, const std::string& fallback) const {
  for (const auto& [k, v] : flags)
    if (k == name) return v;
  return fallback;
}

bool Cli::has_flag(const std::string& name) const {
  for (const auto& [k, v] : flags)
    if (k == name) return true;
  return false;
}

Dataplane::Dataplane(const std::string& socket_path) : path_(socket_path) {
  auto channel = grpc::CreateChannel("unix:" + socket_path, grpc::InsecureChannelCredentials());
  stub_ = pb::Dataplane::NewStub(channel);
}

void Dataplane::check(const grpc::Status& s, const char* what) {
  if (s.ok()) return;
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE && s.error_message().find("connect") != std::string::npos)
    throw OperationFailed(std::string(what) + ": cannot reach the dataplane at " + path_ + " (is anylb-dataplane running?)");
  throw OperationFailed(std::string(what) + ": " + s.error_message());
}

pb::GetStateResponse Dataplane::state() {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  pb::GetStateResponse resp;
  check(stub_->GetState(&ctx, pb::GetStateRequest{}, &resp), "get state");
  return resp;
}

uint64_t Dataplane::apply(const pb::DesiredState& state, uint64_t generation) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  pb::ApplyStateRequest req;
  req.set_generation(generation);
  *req.mutable_state() = state;
  pb::ApplyStateResponse resp;
  check(stub_->ApplyState(&ctx, req, &resp), "apply");
  return resp.generation();
}

pb::GetCountersResponse Dataplane::counters() {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  pb::GetCountersResponse resp;
  check(stub_->GetCounters(&ctx, pb::GetCountersRequest{}, &resp), "counters");
  return resp;
}

pb::TraceResponse Dataplane::trace(const pb::FiveTuple& flow) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  pb::TraceRequest req;
  *req.mutable_flow() = flow;
  pb::TraceResponse resp;
  check(stub_->Trace(&ctx, req, &resp), "trace");
  return resp;
}

pb::ListFlowsResponse Dataplane::flows(const pb::ListFlowsRequest& req) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  pb::ListFlowsResponse resp;
  check(stub_->ListFlows(&ctx, req, &resp), "flows");
  return resp;
}

pb::GetLivenessResponse Dataplane::liveness() {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  pb::GetLivenessResponse resp;
  check(stub_->GetLiveness(&ctx, pb::GetLivenessRequest{}, &resp), "liveness");
  return resp;
}

void print(const Cli& cli, const nlohmann::json& j, const std::string& human) {
  if (cli.json) std::printf("%s\n", j.dump(1).c_str());
  else std::printf("%s", human.c_str());
}

uint64_t number64(const std::string& s, const char* what, uint64_t min, uint64_t max) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < min || v > max)
    throw UsageError(std::string(what) + ": '" + s + "' is not a number from " + std::to_string(min) + " to " +
                     std::to_string(max));
  return v;
}

uint32_t number(const std::string& s, const char* what, uint32_t min, uint32_t max) {
  return static_cast<uint32_t>(number64(s, what, min, max));
}

std::string endpoint_text(const std::string& address, uint32_t port) {
  const bool six = address.find(':') != std::string::npos;
  return (six ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

double interval_seconds(const Cli& cli) {
  const std::string given = cli.flag("interval", "1");
  char* end = nullptr;
  const double interval = std::strtod(given.c_str(), &end);
  if (given.empty() || *end != '\0' || !(interval > 0 && interval <= 60))
    throw UsageError("--interval: '" + given + "' is not a number of seconds above 0, at most 60");
  return interval;
}

Table flow_table() { return Table({"SOURCE", "DESTINATION", "PROTO", "SERVICE", "BACKEND", "WORKER", "EXPIRES IN"}); }

void add_flow(const FlowRow& f, nlohmann::json& j, Table& t) {
  j.push_back({{"source", f.source}, {"destination", f.destination}, {"proto", f.proto}, {"service", f.service},
               {"backend", f.backend}, {"worker", f.worker}, {"expires_in_ms", f.expires_in_ms}});
  t.add({f.source, f.destination, f.proto, f.service, f.backend, std::to_string(f.worker),
         std::to_string(f.expires_in_ms / 1000) + "s"});
}

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
