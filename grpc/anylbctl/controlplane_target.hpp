// The control plane as a Target (anylb.v1): each change is one request, and
// the control plane persists it and passes it to its dataplane.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "api.grpc.pb.h"  // anylb/v1/anylb.proto
#include "target.hpp"

namespace anylb::ctl {

namespace v1 = ::anylb::v1;

class ControlPlaneTarget final : public Target {
 public:
  // A socket path, or HOST:PORT with `tls` (its files read here: a file
  // that cannot be read is an OperationFailed naming its flag).
  ControlPlaneTarget(const std::string& address, double timeout_s, const TlsFlags& tls = {});

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

  // The control plane's own.
  Output routes();
  Output drain(bool undrain);  // the node as it now is
  std::string register_backend(const BackendSpec& b, uint32_t ttl_seconds);  // the registration id
  void heartbeat(const std::string& registration_id);
  void deregister(const std::string& registration_id);
  Output registrations(const std::string& service);  // empty: every service's

 private:
  void check(const grpc::Status& s, const char* what) const;
  // The deadline of a request: --timeout from now, plus what it waits itself.
  void deadline(grpc::ClientContext& ctx, std::chrono::milliseconds waits = {}) const;

  std::unique_ptr<v1::Anylb::Stub> stub_;
  std::string address_;
  bool tls_ = false;
  std::chrono::milliseconds timeout_;
};

}  // namespace anylb::ctl
