// Serves the operator API (anylb.v1) on a unix socket (and on TCP when an
// explicit address is configured): routes, health, node, drain, trace, and
// changes to services and backends (passed on to the dataplane).
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

}  // namespace anylb::cp
