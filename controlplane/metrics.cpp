#include "metrics.hpp"

#include <httplib.h>

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>
#include <stdexcept>

#include "api_server.hpp"
#include "dataplane.grpc.pb.h"

namespace anylb::cp {

MetricsServer::MetricsServer(Node& node, const std::string& listen) : http_(std::make_unique<httplib::Server>()) {
  const auto colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  const int port = std::stoi(listen.substr(colon + 1));
  auto stub = std::shared_ptr<anylb::dataplane::v1::Dataplane::Stub>(anylb::dataplane::v1::Dataplane::NewStub(
      grpc::CreateChannel("unix:" + node.dataplane_socket(), grpc::InsecureChannelCredentials())));
  http_->Get("/metrics", [&node, stub](const httplib::Request&, httplib::Response& res) {
    // The dataplane's counters are read per scrape, so they are never stale.
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    anylb::dataplane::v1::GetCountersResponse counters;
    const bool ok = stub->GetCounters(&ctx, {}, &counters).ok();
    res.set_content(render_metrics(node.status(), ok ? &counters : nullptr), "text/plain; version=0.0.4");
  });
  if (!http_->bind_to_port(host, port)) throw std::runtime_error("metrics.listen: cannot listen on " + listen);
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  spdlog::info("metrics on http://{}/metrics", listen);
}

MetricsServer::~MetricsServer() {
  http_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace anylb::cp
