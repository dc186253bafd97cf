// The Prometheus endpoint (cpp-httplib): GET /metrics, and what it serves.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "node.hpp"

namespace httplib { class Server; }
namespace anylb::dataplane::v1 { class GetCountersResponse; }

namespace anylb::cp {

class MetricsServer {
 public:
  MetricsServer(Node& node, const std::string& listen);  // "ADDRESS:PORT"; throws on failure
  ~MetricsServer();

 private:
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
};

// Prometheus text format: node, dataplane, BGP sessions, routes, backend health,
// and the dataplane's counters per service and backend (none if `counters` is null).
std::string render_metrics(const NodeStatus& st, const anylb::dataplane::v1::GetCountersResponse* counters);

}  // namespace anylb::cp
