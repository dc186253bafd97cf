// Serves the operator API (anylb.v1) on a unix socket (and on TCP when an
// explicit address is configured): routes, health, node, drain, trace.
// Changing services or backends through this API is not implemented yet.
#pragma once

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "node.hpp"

namespace anylb::cp {

class ApiServer {
 public:
  ApiServer(Node& node, const std::string& socket_path, const std::string& tcp);  // throws std::runtime_error
  ~ApiServer();

 private:
  class Service;
  std::unique_ptr<Service> service_;
  std::unique_ptr<grpc::Server> server_;
  std::string path_;
};

// Prometheus text format: node, dataplane, BGP sessions, routes, backend health,
// and the dataplane's counters per service and backend.
std::string render_metrics(const NodeStatus& st, const anylb::dataplane::v1::GetCountersResponse* counters);

}  // namespace anylb::cp
