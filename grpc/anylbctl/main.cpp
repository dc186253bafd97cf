// anylbctl: the operator's CLI. Human tables by default, --json for scripts.
// Exit codes: 0 ok, 1 the operation failed, 2 usage.
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include "cli.hpp"

namespace {

using namespace anylb::ctl;

constexpr const char* kUsage = R"(anylbctl: operate an anylb node

Usage: anylbctl [--dataplane PATH] [--json] COMMAND [ARGS] [--FLAG VALUE ...]

Global options:
  --dataplane PATH   the dataplane's API socket (default /run/anylb/dataplane.sock)
  --controlplane P   the control plane's API: socket path or HOST:PORT (default /run/anylb/controlplane.sock)
  --json             machine-readable output
  --help             this text; 'anylbctl COMMAND --help' for one command

Commands:
  service list                              services and how many backends each has
  service show NAME                         one service and its backends
  service add NAME VIP tcp|udp PORT|any [--mode l2-dsr|ipip|gue] [--fragments drop|hash] [--gue-port N]
  service del NAME                          delete a service and its backends
  backend add SERVICE ADDRESS [--mac MAC] [--weight 1-10000]
  backend del SERVICE ADDRESS
  backend drain SERVICE ADDRESS             keep its flows, no new ones
  backend undrain SERVICE ADDRESS           back to up (also: enable)
  backend disable SERVICE ADDRESS           down: its flows move
  backend weight SERVICE ADDRESS WEIGHT
  backend register SERVICE ADDRESS [--mac MAC] [--ttl SEC]   join a pool; prints a registration id (control plane)
  backend heartbeat ID | backend deregister ID             keep it in / drain it out, then remove
  stats [--interval SEC]                    totals and rates per port, service and backend; drops
  flows [--service NAME] [--backend ADDRESS] [--limit N]
  trace SRC:PORT DST:PORT tcp|udp           which backend this flow gets, and why
  health                                    backend health (control plane; with only --dataplane: states there)
  node                                      node status (control plane; with only --dataplane: liveness)
  node drain|undrain                        graceful shutdown of every announcement, then withdrawal / restore
  routes                                    each route: announced or not, and why (control plane)
  state                                     the desired state as JSON
  apply FILE [--generation N]               apply a whole desired state (JSON, as 'state' prints)

Where commands go: to the control plane (anylb.v1, --controlplane), unless
only --dataplane is given: then service/backend changes are applied to the
dataplane directly as a new generation of its whole state (a node without a
control plane). The control plane persists changes in its node.state_file;
the dataplane in its --state-file.
)";

const std::map<std::string, std::string> kCommandHelp = {
    {"service", "service list | show NAME | add NAME VIP tcp|udp PORT|any [--mode M] [--fragments F] [--gue-port N] | del NAME\n"},
    {"backend", "backend add SERVICE ADDRESS [--mac MAC] [--weight W] | del|drain|undrain|enable|disable SERVICE ADDRESS | weight SERVICE ADDRESS W\n"},
    {"stats", "stats [--interval SEC]: totals, and rates over SEC seconds (default 1)\n"},
    {"flows", "flows [--service NAME] [--backend ADDRESS] [--limit N]: flows pinned in the workers' tables\n"},
    {"trace", "trace SRC:PORT DST:PORT tcp|udp: the backend this 5-tuple gets and why (IPv6: [ADDR]:PORT)\n"},
    {"health", "health: the state of every backend\n"},
    {"node", "node [drain|undrain]: node status; drain re-announces with GRACEFUL_SHUTDOWN, then withdraws\n"},
    {"routes", "routes: each VIP route's announcement state and why (served by anylb-controlplane)\n"},
    {"state", "state: the dataplane's desired state and generation as JSON\n"},
    {"apply", "apply FILE [--generation N]: apply a whole desired state; a stale generation is refused\n"},
};

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "anylbctl: %s\n", message.c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  Cli cli;
  cli.dataplane = "/run/anylb/dataplane.sock";
  cli.controlplane = "/run/anylb/controlplane.sock";
  bool controlplane_given = false;
  bool help = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") help = true;
    else if (a == "--json") cli.json = true;
    else if (a == "--dataplane") {
      if (++i == argc) return fail(2, "--dataplane needs a PATH");
      cli.dataplane = argv[i];
      cli.dataplane_given = true;
    } else if (a == "--controlplane") {
      if (++i == argc) return fail(2, "--controlplane needs a PATH or HOST:PORT");
      cli.controlplane = argv[i];
      controlplane_given = true;
    } else if (a.rfind("--", 0) == 0 && !cli.args.empty()) {
      if (++i == argc) return fail(2, a + " needs a value");
      cli.flags.emplace_back(a.substr(2), argv[i]);
    } else if (a.rfind("--", 0) == 0) {
      return fail(2, "unknown option '" + a + "' (try --help)");
    } else {
      cli.args.push_back(a);
    }
  }
  if (cli.args.empty()) {
    if (help) {
      std::printf("%s", kUsage);
      return 0;
    }
    return fail(2, "no command given (try --help)");
  }
  const std::string& cmd = cli.args[0];
  auto h = kCommandHelp.find(cmd);
  if (h == kCommandHelp.end()) return fail(2, "unknown command '" + cmd + "' (try --help)");
  if (help) {
    std::printf("usage: anylbctl [--dataplane PATH] [--json] %s", h->second.c_str());
    return 0;
  }
  // A flag the command (and its verb) does not take is an error, not
  // ignored (a misspelt --wieght added the backend with weight 100; a --ttl
  // on `backend add` registered nothing).
  static const std::map<std::string, std::set<std::string>> kFlags = {
      {"service add", {"mode", "fragments", "gue-port", "quorum"}},
      {"backend add", {"mac", "weight"}},
      {"backend register", {"mac", "weight", "ttl"}},
      {"stats", {"interval"}},
      {"flows", {"limit", "service", "backend"}},
      {"apply", {"generation"}},
  };
  const bool has_verb = (cmd == "service" || cmd == "backend") && cli.args.size() > 1;
  const std::string command = has_verb ? cmd + " " + cli.args[1] : cmd;
  for (const auto& [name, value] : cli.flags) {
    auto allowed = kFlags.find(command);
    if (allowed == kFlags.end() || !allowed->second.count(name))
      return fail(2, command + ": unknown option '--" + name + "' (try anylbctl " + cmd + " --help)");
  }
  // So are words past those the command reads (the command word included).
  // An unknown verb is left to the command, which names it.
  static const std::map<std::string, std::size_t> kMaxWords = {
      {"service list", 2},    {"service show", 3},      {"service add", 6},      {"service del", 3},
      {"backend add", 4},     {"backend del", 4},       {"backend drain", 4},    {"backend undrain", 4},
      {"backend enable", 4},  {"backend disable", 4},   {"backend weight", 5},   {"backend register", 4},
      {"backend heartbeat", 3}, {"backend deregister", 3}, {"stats", 1},          {"flows", 1},
      {"trace", 4},           {"health", 1},            {"node", 2},             {"routes", 1},
      {"state", 1},           {"apply", 2},
  };
  if (auto m = kMaxWords.find(command);
      m != kMaxWords.end() && cli.args.size() > m->second)
    return fail(2, cmd + ": '" + cli.args[m->second] + "' is one word too many (try anylbctl " + cmd + " --help)");
  try {
    // Everything goes to the control plane, unless only --dataplane was
    // given (a node without a control plane); routes always do. trace
    // decides inside cmd_trace, after checking its arguments.
    const bool to_control = controlplane_given || !cli.dataplane_given;
    cli.to_control = to_control;
    if (!to_control && cli.has_flag("quorum"))  // a dataplane alone announces nothing
      return fail(2, "service add: --quorum is the control plane's; a dataplane alone announces nothing");
    if (cmd == "routes") return cmd_routes(cli), 0;
    if (cmd == "health" && to_control) return cmd_control_health(cli), 0;
    if (cmd == "node" && (to_control || cli.args.size() > 1)) return cmd_control_node(cli), 0;
    if (cmd == "service" && to_control) return cmd_control_service(cli), 0;
    if (cmd == "backend" && to_control) return cmd_control_backend(cli), 0;
    if (cmd == "stats" && to_control) return cmd_control_stats(cli), 0;
    if (cmd == "flows" && to_control) return cmd_control_flows(cli), 0;
    Dataplane dp(cli.dataplane);
    if (cmd == "service") cmd_service(cli, dp);
    else if (cmd == "backend") cmd_backend(cli, dp);
    else if (cmd == "stats") cmd_stats(cli, dp);
    else if (cmd == "flows") cmd_flows(cli, dp);
    else if (cmd == "trace") cmd_trace(cli, dp);
    else if (cmd == "health") cmd_health(cli, dp);
    else if (cmd == "node") cmd_node(cli, dp);
    else if (cmd == "state") cmd_state(cli, dp);
    else if (cmd == "apply") cmd_apply(cli, dp);
  } catch (const UsageError& e) {
    return fail(2, cmd + ": " + e.what());
  } catch (const OperationFailed& e) {
    return fail(1, e.what());
  } catch (const std::exception& e) {
    return fail(1, e.what());
  }
  return 0;
}
