// The dataplane as a Target (anylb.dataplane.v1): a change reads the whole
// desired state, edits it and applies it as the next generation. A
// concurrent change makes the apply stale and the command fails (nothing
// half-done); run it again.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "dataplane.grpc.pb.h"
#include "target.hpp"

namespace anylb::ctl {

namespace pb = ::anylb::dataplane::v1;

class DataplaneTarget final : public Target {
 public:
  DataplaneTarget(const std::string& socket_path, double timeout_s);

  Output services() override;
  Output service(const std::string& name) override;
  Output health() override;
  Output node() override;
  Output stats(double interval_s) override;
  Output trace(const FiveTuple& flow) override;
  FlowPage flows(const FlowQuery& query) override;

  Applied add_service(const ServiceSpec& s) override;
  Applied delete_service(const std::string& name) override;
  Applied add_backend(const BackendSpec& b) override;
  Applied delete_backend(const std::string& service, const std::string& address) override;
  Applied set_backend_state(const std::string& service, const std::string& address, AdminState state) override;
  Applied set_backend_weight(const std::string& service, const std::string& address, uint32_t weight) override;
  std::string state_word(AdminState state) const override;

  // The dataplane's own: its whole desired state, read and applied.
  pb::GetStateResponse state();
  uint64_t apply(const pb::DesiredState& state, uint64_t generation);  // returns the generation applied

 private:
  pb::GetCountersResponse counters();
  pb::GetLivenessResponse liveness();
  Applied apply_next(const pb::GetStateResponse& read);
  // The backend of an existing service, else OperationFailed.
  pb::Backend& backend_of(pb::GetStateResponse& st, const std::string& service, const std::string& address);
  void check(const grpc::Status& s, const char* what) const;
  // The deadline of a request: --timeout from now, plus what it waits itself.
  void deadline(grpc::ClientContext& ctx, std::chrono::milliseconds waits = {}) const;

  std::unique_ptr<pb::Dataplane::Stub> stub_;
  std::string path_;
  std::chrono::milliseconds timeout_;
};

std::string protocol_name(pb::Protocol p);
std::string mode_name(pb::ForwardingMode m);
std::string state_name(pb::BackendState s);

}  // namespace anylb::ctl
