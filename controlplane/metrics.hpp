// The Prometheus endpoint (cpp-httplib): GET /metrics.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "node.hpp"

namespace httplib { class Server; }

namespace anylb::cp {

class MetricsServer {
 public:
  MetricsServer(Node& node, const std::string& listen);  // "ADDRESS:PORT"; throws on failure
  ~MetricsServer();

 private:
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
};

}  // namespace anylb::cp
