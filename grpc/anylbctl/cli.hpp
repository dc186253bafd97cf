// anylbctl's shared pieces: the parsed command line, errors with their exit
// codes, and the connection to the dataplane.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dataplane.grpc.pb.h"
#include "table.hpp"

namespace anylb::ctl {

namespace pb = ::anylb::dataplane::v1;

// Exit codes: 0 ok, 1 the operation failed, 2 usage.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct OperationFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Cli {
  std::string dataplane;           // unix socket path of anylb-dataplane
  bool dataplane_given = false;
  bool to_control = false;         // where service/backend/stats/flows/trace/health/node go
  std::string controlplane;        // anylb-controlplane: unix socket path, or HOST:PORT
  bool json = false;
  std::vector<std::string> args;   // after the global options: the subcommand and its words
  std::vector<std::pair<std::string, std::string>> flags;  // --name value pairs after the subcommand

  std::string flag(const std::string& name, const std::string& fallback = "") const;
  bool has_flag(const std::string& name) const;
};

class Dataplane {
 public:
  explicit Dataplane(const std::string& socket_path);
  pb::GetStateResponse state();
  uint64_t apply(const pb::DesiredState& state, uint64_t generation);  // returns the generation applied
  pb::GetCountersResponse counters();
  pb::TraceResponse trace(const pb::FiveTuple& flow);
  pb::ListFlowsResponse flows(const pb::ListFlowsRequest& req);
  pb::GetLivenessResponse liveness();

 private:
  void check(const grpc::Status& s, const char* what);
  std::unique_ptr<pb::Dataplane::Stub> stub_;
  std::string path_;
};

void print(const Cli& cli, const nlohmann::json& j, const std::string& human);

// Subcommands: each prints its result and returns normally, or throws.
void cmd_service(const Cli& cli, Dataplane& dp);
void cmd_backend(const Cli& cli, Dataplane& dp);
void cmd_stats(const Cli& cli, Dataplane& dp);
void cmd_flows(const Cli& cli, Dataplane& dp);
void cmd_trace(const Cli& cli, Dataplane& dp);
void cmd_health(const Cli& cli, Dataplane& dp);
void cmd_node(const Cli& cli, Dataplane& dp);
void cmd_state(const Cli& cli, Dataplane& dp);
void cmd_routes(const Cli& cli);
void cmd_control_health(const Cli& cli);
void cmd_control_node(const Cli& cli);
void cmd_control_service(const Cli& cli);
void cmd_control_backend(const Cli& cli);
void cmd_control_stats(const Cli& cli);
void cmd_control_flows(const Cli& cli);
void cmd_control_trace(const Cli& cli, const std::string& src, uint32_t sport, const std::string& dst, uint32_t dport,
                       bool tcp);
std::pair<std::string, uint32_t> endpoint(const std::string& s, const char* what);
// A whole number from `min` to `max`, digits only (no sign: stoul took "-1"
// as 4294967295); else a UsageError naming `what`.
uint32_t number(const std::string& s, const char* what, uint32_t min, uint32_t max);
uint64_t number64(const std::string& s, const char* what, uint64_t min, uint64_t max);
// ADDR:PORT, an IPv6 address in brackets: as `trace` reads it back.
std::string endpoint_text(const std::string& address, uint32_t port);
void cmd_apply(const Cli& cli, Dataplane& dp);
// `stats --interval SEC`: above 0, at most 60 (default 1); else a UsageError.
double interval_seconds(const Cli& cli);
// One flow of `flows`, from either process: a JSON object and a table row.
struct FlowRow {
  std::string source, destination, proto, service, backend;
  uint32_t worker = 0;
  uint64_t expires_in_ms = 0;
};
Table flow_table();
void add_flow(const FlowRow& f, nlohmann::json& j, Table& t);

std::string protocol_name(pb::Protocol p);
std::string mode_name(pb::ForwardingMode m);
std::string state_name(pb::BackendState s);

}  // namespace anylb::ctl
