// Serves anylb.dataplane.v1 on a unix socket (mode 0660): apply the whole
// desired state, read counters, trace a 5-tuple, list flows, liveness.
// Handlers run on gRPC's threads; they reach the workers only through
// ControlState (locked) and the per-worker query mailboxes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "control_state.hpp"
#include "ports.hpp"
#include "worker.hpp"

namespace anylb {

struct ApiContext {
  ControlState* control = nullptr;
  std::vector<std::unique_ptr<WorkerContext>>* workers = nullptr;
  const std::vector<PortInfo>* ports = nullptr;
  const std::vector<std::size_t>* egress = nullptr;  // by port index: the port its forwarded packets leave by
  uint64_t started_ms = 0;
};

class ApiServer {
 public:
  ApiServer(ApiContext ctx, const std::string& socket_path);  // throws std::runtime_error
  ~ApiServer();

 private:
  class Service;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string path_;
};

}  // namespace anylb
