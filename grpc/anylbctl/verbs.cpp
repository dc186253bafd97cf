// Each verb once, over whichever side it runs against: its words read and
// checked here (usage errors before any connection), the side does the rest.
#include "verbs.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "api_convert.hpp"
#include "controlplane_target.hpp"
#include "dataplane_target.hpp"
#include "desired_state.hpp"
#include "state_file.hpp"
#include "table.hpp"

namespace anylb::ctl::verbs {

namespace {

bool is_tcp(const std::string& proto) {
  if (proto != "tcp" && proto != "udp") throw UsageError("protocol: '" + proto + "' is not tcp or udp");
  return proto == "tcp";
}

// A change's answer: what the verb did, in words, and what the side adds
// (the generation made; the backend as it now runs). A side's own "result"
// stays (the control plane's service changes have always answered theirs).
void report(const Cli& cli, const std::string& done, Applied a) {
  if (!a.json.contains("result")) a.json["result"] = done;
  print(cli, a.json, done + a.note + "\n");
}

// SERVICE ADDRESS [--mac MAC] [--weight W], for add and register.
BackendSpec backend_spec(const Cli& cli) {
  BackendSpec b{cli.operands[0], cli.operands[1], cli.flag("mac"), std::nullopt};
  if (cli.has_flag("weight")) b.weight = number(cli.flag("weight"), "--weight", 1, kMaxBackendWeight);
  return b;
}

}  // namespace

void service_list(const Cli& cli, Target& t) { print(cli, t.services()); }

void service_show(const Cli& cli, Target& t) { print(cli, t.service(cli.operands[0])); }

void service_add(const Cli& cli, Target& t) {
  ServiceSpec s;
  s.name = cli.operands[0];
  s.vip = cli.operands[1];
  s.tcp = is_tcp(cli.operands[2]);
  s.port = cli.operands[3] == "any" ? 0 : number(cli.operands[3], "port", 0, 65535);
  const std::string mode = cli.flag("mode", "l2-dsr");
  if (mode == "l2-dsr") s.mode = Mode::l2_dsr;
  else if (mode == "ipip") s.mode = Mode::ipip;
  else if (mode == "gue") s.mode = Mode::gue;
  else throw UsageError("--mode: '" + mode + "' is not l2-dsr, ipip or gue");
  const std::string frag = cli.flag("fragments", "drop");
  if (frag != "drop" && frag != "hash") throw UsageError("--fragments: '" + frag + "' is not drop or hash");
  s.hash_fragments = frag == "hash";
  if (cli.has_flag("quorum")) s.quorum = number(cli.flag("quorum"), "--quorum", 0, 0xffffffffu);
  if (cli.has_flag("gue-port")) {  // the outer port of GUE only: elsewhere it would do nothing
    if (s.mode != Mode::gue) throw UsageError("--gue-port: only with --mode gue");
    s.gue_port = number(cli.flag("gue-port"), "--gue-port", 0, 65535);
  }
  if (cli.has_flag("registration") != cli.has_flag("max-backends"))
    throw UsageError("--registration and --max-backends: give both, or neither");
  for (const char* f : {"registration-weight", "registrar-mac"})
    if (cli.has_flag(f) && !cli.has_flag("registration")) throw UsageError(std::string("--") + f + ": only with --registration");
  if (cli.has_flag("registration")) {
    std::stringstream list(cli.flag("registration"));
    for (std::string p; std::getline(list, p, ',');)
      if (!p.empty()) s.registration_prefixes.push_back(p);
    if (s.registration_prefixes.empty()) throw UsageError("--registration: no prefix given");
    s.registration_max_backends = number(cli.flag("max-backends"), "--max-backends", 1, 65534);
    s.registration_weight = number(cli.flag("registration-weight", "100"), "--registration-weight", 1, kMaxBackendWeight);
    const std::string mac = cli.flag("registrar-mac", "no");
    if (mac != "yes" && mac != "no") throw UsageError("--registrar-mac: '" + mac + "' is not yes or no");
    s.registrar_mac = mac == "yes";
  }
  report(cli, "added service " + s.name, t.add_service(s));
}

void service_del(const Cli& cli, Target& t) {
  const std::string& name = cli.operands[0];
  report(cli, "deleted service " + name + " and its backends", t.delete_service(name));
}

void backend_add(const Cli& cli, Target& t) {
  const BackendSpec b = backend_spec(cli);
  report(cli, "added backend " + b.address + " to " + b.service, t.add_backend(b));
}

void backend_del(const Cli& cli, Target& t) {
  const std::string &service = cli.operands[0], &address = cli.operands[1];
  report(cli, "deleted backend " + address + " from " + service, t.delete_backend(service, address));
}

void backend_state(const Cli& cli, Target& t) {
  const std::string &verb = cli.args[1], &service = cli.operands[0], &address = cli.operands[1];
  const AdminState state = verb == "drain" ? AdminState::draining : verb == "disable" ? AdminState::down : AdminState::up;
  Applied a = t.set_backend_state(service, address, state);
  report(cli, "backend " + address + " of " + service + " is now " + t.state_word(state), std::move(a));
}

void backend_weight(const Cli& cli, Target& t) {
  const std::string &service = cli.operands[0], &address = cli.operands[1];
  const uint32_t weight = number(cli.operands[2], "weight", 1, kMaxBackendWeight);
  report(cli, "backend " + address + " of " + service + " has weight " + std::to_string(weight),
         t.set_backend_weight(service, address, weight));
}

void backend_register(const Cli& cli, ControlPlaneTarget& t) {
  const BackendSpec b = backend_spec(cli);
  const std::string id = t.register_backend(b, number(cli.flag("ttl", "10"), "--ttl", 0, 0xffffffffu));
  print(cli, {{"registration_id", id}}, id + "\n");
}

void backend_heartbeat(const Cli& cli, ControlPlaneTarget& t) {
  const std::string& id = cli.operands[0];
  t.heartbeat(id);
  print(cli, {{"result", "heartbeat"}, {"registration_id", id}}, "heartbeat " + id + ": done\n");
}

void backend_deregister(const Cli& cli, ControlPlaneTarget& t) {
  const std::string& id = cli.operands[0];
  t.deregister(id);
  print(cli, {{"result", "deregister"}, {"registration_id", id}}, "deregister " + id + ": done\n");
}

void backend_registrations(const Cli& cli, ControlPlaneTarget& t) { print(cli, t.registrations(cli.flag("service"))); }

void stats(const Cli& cli, Target& t) { print(cli, t.stats(interval_seconds(cli))); }

void flows(const Cli& cli, Target& t) {
  FlowQuery q{cli.flag("service"), cli.flag("backend"), "", 0};
  const uint32_t limit = number(cli.flag("limit", "100"), "--limit", 1, 0xffffffffu);
  nlohmann::json j = nlohmann::json::array();
  Table table = flow_table();
  do {  // pages of at most 1000, until the limit or the last page
    q.page_size = std::min<uint32_t>(limit - static_cast<uint32_t>(j.size()), 1000);
    const FlowPage page = t.flows(q);
    for (const auto& row : page.rows) add_flow(row, j, table);
    q.page_token = page.next_page_token;
  } while (!q.page_token.empty() && j.size() < limit);
  print(cli, j, table.str());
}

void trace(const Cli& cli, Target& t) {
  const auto [src, sport] = endpoint(cli.operands[0], "source");
  const auto [dst, dport] = endpoint(cli.operands[1], "destination");
  print(cli, t.trace({src, dst, sport, dport, is_tcp(cli.operands[2])}));
}

void health(const Cli& cli, Target& t) { print(cli, t.health()); }

void node(const Cli& cli, Target& t) { print(cli, t.node()); }

void node_drain(const Cli& cli, ControlPlaneTarget& t) { print(cli, t.drain(cli.args[1] == "undrain")); }

void routes(const Cli& cli, ControlPlaneTarget& t) { print(cli, t.routes()); }

void state(const Cli&, DataplaneTarget& t) {
  const pb::GetStateResponse st = t.state();
  std::string error;
  auto desired = from_proto(st.state(), error);
  if (!desired) throw OperationFailed("the dataplane returned a state this anylbctl cannot read: " + error);
  // With what applied it: a copy put in a --state-file keeps a reload from replacing an API-owned state.
  const StateSource source = st.source() == pb::STATE_SOURCE_API ? StateSource::api : StateSource::options;
  std::printf("%s\n", desired_state_to_json(*desired, st.generation(), source).c_str());
}

void apply(const Cli& cli, DataplaneTarget& t) {
  const std::string& path = cli.operands[0];
  std::ifstream f(path);
  if (!f) throw UsageError("cannot read '" + path + "'");
  std::stringstream text;
  text << f.rdbuf();
  uint64_t file_generation = 0;
  std::string error;
  auto desired = desired_state_from_json(text.str(), file_generation, error);
  if (!desired) throw OperationFailed(path + ": " + error);
  pb::DesiredState st;
  to_proto(*desired, st);
  // --generation N applies exactly N (a stale N is refused); default: the next one.
  const uint64_t gen = cli.has_flag("generation") ? number64(cli.flag("generation"), "--generation", 1, UINT64_MAX)
                                                  : t.state().generation() + 1;
  const uint64_t applied = t.apply(st, gen);
  print(cli, {{"generation", applied}}, "applied generation " + std::to_string(applied) + "\n");
}

}  // namespace anylb::ctl::verbs
