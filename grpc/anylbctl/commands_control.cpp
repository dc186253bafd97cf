// routes, health, node [drain|undrain]: the control plane's view (anylb.v1).
#include <grpcpp/grpcpp.h>

#include "api.grpc.pb.h"  // anylb/v1/anylb.proto
#include "cli.hpp"
#include "desired_state.hpp"
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

// UNAVAILABLE is the control plane's only when the connection failed: it
// passes on the dataplane's own (a stopped dataplane is not a stopped
// control plane).
void check(const grpc::Status& s, const Cli& cli, const char* what) {
  if (s.ok()) return;
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE && s.error_message().find("connect") != std::string::npos)
    throw OperationFailed(std::string(what) + ": cannot reach the control plane at " + cli.controlplane +
                          " (is anylb-controlplane running?)");
  if (s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
    throw OperationFailed(std::string(what) + ": no answer from the control plane at " + cli.controlplane +
                          " within 10 s");
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
                      {"dataplane_problem", n.dataplane_problem()},
                      {"dataplane_generation", n.dataplane_generation()}, {"addresses", n.addresses()}};
  print(cli, j,
        "node " + n.name() + (n.draining() ? " (draining)" : "") + "\ndataplane: " +
            (n.dataplane_alive() ? "forwarding" : "NOT forwarding") +
            (n.dataplane_problem().empty() ? "" : " (" + n.dataplane_problem() + ")") + ", generation " +
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
  Table t({"PREFIX", "SERVICE", "STATE", "HEALTHY", "QUORUM", "HOLD-DOWN", "COMMUNITIES", "WHY"});
  for (const auto& r : resp.routes()) {
    std::string communities;
    for (const auto& c : r.communities()) communities += (communities.empty() ? "" : ",") + c;
    j.push_back({{"prefix", r.prefix()}, {"service", r.service()}, {"announced", r.announced()}, {"healthy", r.healthy()},
                 {"quorum", r.quorum()}, {"hold_down_remaining_ms", r.hold_down_remaining_ms()},
                 {"communities", r.communities()}, {"reason", r.reason()}});
    t.add({r.prefix(), r.service().empty() ? "(covering)" : r.service(), r.announced() ? "announced" : "withdrawn",
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
  Table t({"SERVICE", "BACKEND", "HEALTH", "SERVING", "DETAIL"});
  for (const auto& b : resp.backends()) {
    j.push_back({{"service", b.service()}, {"address", b.address()}, {"health", health_name(b.health())},
                 {"serving", b.serving()}, {"detail", b.detail()}});
    t.add({b.service(), b.address(), health_name(b.health()), b.serving() ? "yes" : "no", b.detail()});
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

namespace {

std::string admin_name(v1::BackendAdminState a) {
  return a == v1::BACKEND_ADMIN_STATE_DRAINING ? "draining" : a == v1::BACKEND_ADMIN_STATE_DISABLED ? "disabled" : "enabled";
}

nlohmann::json detail_json(const v1::ServiceDetail& d) {
  const v1::Service& s = d.service();
  nlohmann::json j = {{"name", s.name()}, {"vip", s.vip()}, {"proto", s.protocol() == v1::PROTOCOL_UDP ? "udp" : "tcp"},
                      {"port", s.port()}, {"quorum", s.quorum()}, {"announced", d.announced()},
                      {"backends", nlohmann::json::array()}};
  for (const auto& b : d.backends())
    j["backends"].push_back({{"address", b.address()}, {"mac", b.mac()}, {"weight", b.weight()},
                             {"admin_state", admin_name(b.admin_state())}, {"health", health_name(b.health())},
                             {"serving", b.serving()}, {"registered", b.registered()}, {"detail", b.health_detail()}});
  return j;
}

const std::string& arg(const Cli& cli, std::size_t i, const char* what) {
  if (cli.args.size() <= i) throw UsageError(std::string("missing ") + what);
  return cli.args[i];
}

}  // namespace

void cmd_control_service(const Cli& cli) {
  auto stub = control_stub(cli);
  grpc::ClientContext ctx;
  deadline(ctx);
  const std::string& verb = arg(cli, 1, "service subcommand (list, show, add, del)");
  if (verb == "list") {
    v1::ListServicesResponse resp;
    check(stub->ListServices(&ctx, {}, &resp), cli, "service list");
    nlohmann::json j = nlohmann::json::array();
    Table t({"NAME", "VIP", "PROTO", "PORT", "BACKENDS", "UP", "ROUTE"});
    for (const auto& d : resp.services()) {
      j.push_back(detail_json(d));
      int up = 0;
      for (const auto& b : d.backends()) up += b.serving();  // what takes traffic, not only what checks well
      t.add({d.service().name(), d.service().vip(), d.service().protocol() == v1::PROTOCOL_UDP ? "udp" : "tcp",
             d.service().port() ? std::to_string(d.service().port()) : "any", std::to_string(d.backends_size()),
             std::to_string(up), d.announced() ? "announced" : "withdrawn"});
    }
    print(cli, j, t.str());
  } else if (verb == "show") {
    v1::GetServiceRequest req;
    req.set_name(arg(cli, 2, "service name"));
    v1::ServiceDetail d;
    check(stub->GetService(&ctx, req, &d), cli, "service show");
    Table t({"ADDRESS", "MAC", "WEIGHT", "ADMIN", "HEALTH", "SERVING", "DETAIL"});
    for (const auto& b : d.backends())
      t.add({b.address() + (b.registered() ? " (registered)" : ""), b.mac().empty() ? "-" : b.mac(),
             std::to_string(b.weight()),
             admin_name(b.admin_state()), health_name(b.health()), b.serving() ? "yes" : "no", b.health_detail()});
    print(cli, detail_json(d),
          "service " + d.service().name() + ": " + d.service().vip() + ", quorum " + std::to_string(d.service().quorum()) +
              ", " + (d.announced() ? "announced" : "withdrawn") + "\n" + t.str());
  } else if (verb == "add") {
    v1::AddServiceRequest req;
    v1::Service* s = req.mutable_service();
    s->set_name(arg(cli, 2, "service name"));
    s->set_vip(arg(cli, 3, "VIP"));
    const std::string& proto = arg(cli, 4, "protocol");
    if (proto != "tcp" && proto != "udp") throw UsageError("protocol: '" + proto + "' is not tcp or udp");
    s->set_protocol(proto == "tcp" ? v1::PROTOCOL_TCP : v1::PROTOCOL_UDP);
    const std::string& port = arg(cli, 5, "port");
    s->set_port(port == "any" ? 0 : number(port, "port", 0, 0xffffffffu));
    const std::string mode = cli.flag("mode", "l2-dsr");
    if (mode != "l2-dsr" && mode != "ipip" && mode != "gue") throw UsageError("--mode: '" + mode + "' is not l2-dsr, ipip or gue");
    s->set_mode(mode == "ipip" ? v1::FORWARDING_MODE_IPIP : mode == "gue" ? v1::FORWARDING_MODE_GUE : v1::FORWARDING_MODE_L2_DSR);
    const std::string frag = cli.flag("fragments", "drop");
    if (frag != "drop" && frag != "hash") throw UsageError("--fragments: '" + frag + "' is not drop or hash");
    s->set_hash_fragments(frag == "hash");
    if (cli.has_flag("quorum")) s->set_quorum(number(cli.flag("quorum"), "--quorum", 0, 0xffffffffu));
    if (cli.has_flag("gue-port")) {
      if (mode != "gue") throw UsageError("--gue-port: only with --mode gue");
      s->set_gue_port(number(cli.flag("gue-port"), "--gue-port", 0, 0xffffffffu));
    }
    v1::ServiceDetail d;
    check(stub->AddService(&ctx, req, &d), cli, "service add");
    print(cli, {{"result", "added"}, {"service", s->name()}}, "added service " + s->name() + "\n");
  } else if (verb == "del") {
    v1::DeleteServiceRequest req;
    req.set_name(arg(cli, 2, "service name"));
    v1::Empty e;
    check(stub->DeleteService(&ctx, req, &e), cli, "service del");
    print(cli, {{"result", "deleted"}, {"service", req.name()}}, "deleted service " + req.name() + "\n");
  } else {
    throw UsageError("service: unknown subcommand '" + verb + "' (list, show, add, del)");
  }
}

void cmd_control_backend(const Cli& cli) {
  auto stub = control_stub(cli);
  grpc::ClientContext ctx;
  deadline(ctx);
  const std::string& verb = arg(cli, 1, "backend subcommand");
  v1::Empty empty;
  v1::Backend out;
  std::string done;
  if (verb == "heartbeat" || verb == "deregister") {
    const std::string& id = arg(cli, 2, "registration id");
    if (verb == "heartbeat") {
      v1::HeartbeatRequest req;
      req.set_registration_id(id);
      check(stub->Heartbeat(&ctx, req, &empty), cli, "backend heartbeat");
    } else {
      v1::DeregisterBackendRequest req;
      req.set_registration_id(id);
      check(stub->DeregisterBackend(&ctx, req, &empty), cli, "backend deregister");
    }
    return print(cli, {{"result", verb}, {"registration_id", id}}, verb + " " + id + ": done\n");
  }
  const std::string& service = arg(cli, 2, "service name");
  const std::string& address = arg(cli, 3, "backend address");
  if (verb == "add" || verb == "register") {
    v1::Backend b;
    b.set_service(service);
    b.set_address(address);
    b.set_mac(cli.flag("mac"));  // none: the dataplane resolves it from the neighbour table
    if (cli.has_flag("weight")) b.set_weight(number(cli.flag("weight"), "--weight", 1, kMaxBackendWeight));
    if (verb == "register") {
      v1::RegisterBackendRequest req;
      *req.mutable_backend() = b;
      req.set_ttl_seconds(number(cli.flag("ttl", "10"), "--ttl", 0, 0xffffffffu));
      v1::RegisterBackendResponse resp;
      check(stub->RegisterBackend(&ctx, req, &resp), cli, "backend register");
      return print(cli, {{"registration_id", resp.registration_id()}}, resp.registration_id() + "\n");
    }
    v1::AddBackendRequest req;
    *req.mutable_backend() = b;
    check(stub->AddBackend(&ctx, req, &out), cli, "backend add");
    done = "added backend " + address + " to " + service;
  } else if (verb == "del") {
    v1::DeleteBackendRequest req;
    req.set_service(service);
    req.set_address(address);
    check(stub->DeleteBackend(&ctx, req, &empty), cli, "backend del");
    done = "deleted backend " + address + " from " + service;
  } else if (verb == "drain" || verb == "undrain" || verb == "enable" || verb == "disable") {
    v1::SetBackendStateRequest req;
    req.set_service(service);
    req.set_address(address);
    req.set_admin_state(verb == "drain" ? v1::BACKEND_ADMIN_STATE_DRAINING
                        : verb == "disable" ? v1::BACKEND_ADMIN_STATE_DISABLED
                                            : v1::BACKEND_ADMIN_STATE_ENABLED);
    check(stub->SetBackendState(&ctx, req, &out), cli, "backend state");
    done = "backend " + address + " of " + service + " is now " + admin_name(req.admin_state());
  } else if (verb == "weight") {
    v1::SetBackendWeightRequest req;
    req.set_service(service);
    req.set_address(address);
    req.set_weight(number(arg(cli, 4, "weight"), "weight", 1, kMaxBackendWeight));
    check(stub->SetBackendWeight(&ctx, req, &out), cli, "backend weight");
    done = "backend " + address + " of " + service + " has weight " + std::to_string(req.weight());
  } else {
    throw UsageError("backend: unknown subcommand '" + verb +
                     "' (add, del, drain, undrain, enable, disable, weight, register, heartbeat, deregister)");
  }
  nlohmann::json j = {{"result", done}};
  if (verb != "del")  // the backend as it now runs, as the control plane answered
    j["backend"] = {{"service", out.service()}, {"address", out.address()}, {"mac", out.mac()},
                    {"weight", out.weight()}, {"admin_state", admin_name(out.admin_state())}};
  print(cli, j, done + "\n");
}

void cmd_control_stats(const Cli& cli) {
  auto stub = control_stub(cli);
  // The control plane reads the counters twice, the interval apart.
  const double interval = interval_seconds(cli);
  v1::GetStatsRequest req;
  req.set_interval_ms(std::max<uint32_t>(1, static_cast<uint32_t>(std::lround(interval * 1000))));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10) +
                   std::chrono::milliseconds(req.interval_ms()));
  v1::GetStatsResponse resp;
  check(stub->GetStats(&ctx, req, &resp), cli, "stats");
  nlohmann::json j = {{"services", nlohmann::json::array()}, {"backends", nlohmann::json::array()}, {"drops", resp.drops()}};
  Table services({"SERVICE", "PACKETS", "BYTES", "NEW FLOWS", "PPS", "FLOWS/S"});
  for (const auto& s : resp.services()) {
    const auto& r = s.totals();
    j["services"].push_back({{"service", s.service()}, {"packets", r.packets()}, {"bytes", r.bytes()},
                             {"new_flows", r.new_flows()}, {"packets_per_second", r.packets_per_second()},
                             {"new_flows_per_second", r.new_flows_per_second()}});
    services.add({s.service(), std::to_string(r.packets()), std::to_string(r.bytes()), std::to_string(r.new_flows()),
                  human_count(r.packets_per_second()), human_count(r.new_flows_per_second())});
  }
  Table backends({"SERVICE", "BACKEND", "PACKETS", "NEW FLOWS", "PPS"});
  for (const auto& b : resp.backends()) {
    const auto& r = b.totals();
    j["backends"].push_back({{"service", b.service()}, {"address", b.address()}, {"packets", r.packets()},
                             {"new_flows", r.new_flows()}, {"packets_per_second", r.packets_per_second()}});
    backends.add({b.service(), b.address(), std::to_string(r.packets()), std::to_string(r.new_flows()),
                  human_count(r.packets_per_second())});
  }
  std::string drops;
  for (const auto& [reason, n] : resp.drops())
    if (n) drops += "  " + reason + " " + std::to_string(n) + "\n";
  print(cli, j, services.str() + "\n" + backends.str() + "\ndrops:" + (drops.empty() ? " none\n" : "\n" + drops));
}

void cmd_control_trace(const Cli& cli, const std::string& src, uint32_t sport, const std::string& dst, uint32_t dport,
                       bool tcp) {
  auto stub = control_stub(cli);
  grpc::ClientContext ctx;
  deadline(ctx);
  v1::TraceRequest req;
  v1::FiveTuple* f = req.mutable_flow();
  f->set_source(src);
  f->set_destination(dst);
  f->set_source_port(sport);
  f->set_destination_port(dport);
  f->set_protocol(tcp ? v1::PROTOCOL_TCP : v1::PROTOCOL_UDP);
  v1::TraceResponse r;
  check(stub->Trace(&ctx, req, &r), cli, "trace");
  print(cli, {{"service", r.service()}, {"backend", r.backend()}, {"explanation", r.explanation()}},
        (r.service().empty() ? "" : "service:  " + r.service() + "\n") +
            (r.backend().empty() ? "" : "backend:  " + r.backend() + "\n") + "why:      " + r.explanation() + "\n");
}

void cmd_control_flows(const Cli& cli) {
  auto stub = control_stub(cli);
  v1::ListFlowsRequest req;
  req.set_service(cli.flag("service"));
  req.set_backend(cli.flag("backend"));
  const uint32_t limit = number(cli.flag("limit", "100"), "--limit", 1, 0xffffffffu);
  nlohmann::json j = nlohmann::json::array();
  Table t = flow_table();
  do {
    grpc::ClientContext ctx;
    deadline(ctx);
    req.set_page_size(std::min<uint32_t>(limit - static_cast<uint32_t>(j.size()), 1000));
    v1::ListFlowsResponse resp;
    check(stub->ListFlows(&ctx, req, &resp), cli, "flows");
    for (const auto& f : resp.flows()) {
      const auto& ft = f.flow();
      add_flow({endpoint_text(ft.source(), ft.source_port()), endpoint_text(ft.destination(), ft.destination_port()),
                ft.protocol() == v1::PROTOCOL_TCP ? "tcp" : ft.protocol() == v1::PROTOCOL_UDP ? "udp" : "?",
                f.service(), f.backend(), f.worker(), f.expires_in_ms()},
               j, t);
    }
    req.set_page_token(resp.next_page_token());
  } while (!req.page_token().empty() && j.size() < limit);
  print(cli, j, t.str());
}

}  // namespace anylb::ctl
