// Serves the operator API (anylb.v1) on a unix socket for operators, an
// optional one for registrars, and TCP with TLS and client certificates
// when configured: routes, health, node, drain, trace, and changes to
// services and backends (passed on to the dataplane). Who may call what:
// api_auth.hpp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "api_unix_listener.hpp"
#include "node.hpp"

namespace anylb::cp {

class ApiServer {
 public:
  ApiServer(Node& node, const ControlConfig& config);  // throws std::runtime_error naming the key
  ~ApiServer();

 private:
  class Service;
  std::unique_ptr<Service> service_;
  std::vector<std::unique_ptr<UnixListener>> unix_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace anylb::cp
