// routes, health, node [drain|undrain]: the control plane's view (anylb.v1).
#include <grpcpp/grpcpp.h>

#include "api.grpc.pb.h"  // anylb/v1/anylb.proto
#include "cli.hpp"
#include "table.hpp"

namespace anylb::ctl {

namespace v1 = ::anylb::v1;

namespace {

std::unique_ptr<v1::Anylb::Stub> control_stub(const Cli& cli) {
  const std::string target = cli.controlplane.find(':') != std::string::npos && cli.controlplane[0] != '/'
                                 ? cli.controlplane
                                 : "unix:" + cli.controlplane;
  return v1::Anylb::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
}

void check(const grpc::Status& s, const Cli& cli, const char* what) {
  if (s.ok()) return;
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE)
    throw OperationFailed(std::string(what) + ": cannot reach the control plane at " + cli.controlplane +
                          " (is anylb-controlplane running?)");
  throw OperationFailed(std::string(what) + ": " + s.error_message());
}

void deadline(grpc::ClientContext& ctx) { ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10)); }

std::string health_name(v1::Health h) {
  return h == v1::HEALTH_UP ? "up" : h == v1::HEALTH_DOWN ? "down" : "unknown";
}

void print_node(const Cli& cli, const v1::Node& n) {
  std::string addrs;
  for (const auto& a : n.addresses()) addrs += (addrs.empty() ? "" : ", ") + a;
  nlohmann::json j = {{"name", n.name()}, {"draining", n.draining()}, {"dataplane_alive", n.dataplane_alive()},
                      {"dataplane_generation", n.dataplane_generation()}, {"addresses", n.addresses()}};
  print(cli, j,
        "node " + n.name() + (n.draining() ? " (draining)" : "") + "\ndataplane: " +
            (n.dataplane_alive() ? "forwarding" : "NOT forwarding") + ", generation " +
            std::to_string(n.dataplane_generation()) + "\naddresses: " + (addrs.empty() ? "none" : addrs) + "\n");
}

}  // namespace

void cmd_routes(const Cli& cli) {
  auto stub = control_stub(cli);
  grpc::ClientContext ctx;
  deadline(ctx);
  v1::ListRoutesResponse resp;
  check(stub->ListRoutes(&ctx, {}, &resp), cli, "routes");
  nlohmann::json j = nlohmann::json::array();
  Table t({"PREFIX", "STATE", "HEALTHY", "QUORUM", "HOLD-DOWN", "COMMUNITIES", "WHY"});
  for (const auto& r : resp.routes()) {
    std::string communities;
    for (const auto& c : r.communities()) communities += (communities.empty() ? "" : ",") + c;
    j.push_back({{"prefix", r.prefix()}, {"announced", r.announced()}, {"healthy", r.healthy()},
                 {"quorum", r.quorum()}, {"hold_down_remaining_ms", r.hold_down_remaining_ms()},
                 {"communities", r.communities()}, {"reason", r.reason()}});
    t.add({r.prefix(), r.announced() ? "announced" : "withdrawn",
           r.quorum() ? std::to_string(r.healthy()) : "-", r.quorum() ? std::to_string(r.quorum()) : "-",
           r.hold_down_remaining_ms() ? std::to_string(r.hold_down_remaining_ms() / 1000) + "s" : "-",
           communities.empty() ? "-" : communities, r.reason()});
  }
  print(cli, j, t.str());
}

void cmd_control_health(const Cli& cli) {
  auto stub = control_stub(cli);
  grpc::ClientContext ctx;
  deadline(ctx);
  v1::GetHealthResponse resp;
  check(stub->GetHealth(&ctx, {}, &resp), cli, "health");
  nlohmann::json j = nlohmann::json::array();
  Table t({"SERVICE", "BACKEND", "HEALTH", "DETAIL"});
  for (const auto& b : resp.backends()) {
    j.push_back({{"service", b.service()}, {"address", b.address()}, {"health", health_name(b.health())},
                 {"detail", b.detail()}});
    t.add({b.service(), b.address(), health_name(b.health()), b.detail()});
  }
  print(cli, j, t.str());
}

void cmd_control_node(const Cli& cli) {
  auto stub = control_stub(cli);
  grpc::ClientContext ctx;
  deadline(ctx);
  v1::Node node;
  if (cli.args.size() > 1) {
    if (cli.args[1] != "drain" && cli.args[1] != "undrain") throw UsageError("node: '" + cli.args[1] + "' is not drain or undrain");
    v1::DrainNodeRequest req;
    req.set_undrain(cli.args[1] == "undrain");
    check(stub->DrainNode(&ctx, req, &node), cli, "node drain");
  } else {
    check(stub->GetNode(&ctx, {}, &node), cli, "node");
  }
  print_node(cli, node);
}

}  // namespace anylb::ctl
