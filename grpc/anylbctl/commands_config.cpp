// service, backend, state, apply: read the dataplane's desired state, change
// it, and apply it as the next generation. A concurrent change makes the
// apply stale and the command fails (nothing half-done); run it again.
#include <fstream>
#include <set>
#include <sstream>

#include "api_convert.hpp"
#include "cli.hpp"
#include "state_file.hpp"
#include "table.hpp"

namespace anylb::ctl {

namespace {

const std::string& word(const Cli& cli, std::size_t i, const char* what) {
  if (cli.args.size() <= i) throw UsageError(std::string("missing ") + what);
  return cli.args[i];
}

pb::Service* find_service(pb::DesiredState& st, const std::string& name) {
  for (auto& s : *st.mutable_services())
    if (s.name() == name) return &s;
  return nullptr;
}

pb::Backend* find_backend(pb::DesiredState& st, const std::string& service, const std::string& address) {
  auto want = IpAddress::parse(address);
  for (auto& b : *st.mutable_backends())
    if (b.service() == service && want && IpAddress::parse(b.address()) == want) return &b;
  return nullptr;
}

nlohmann::json service_json(const pb::Service& s) {
  return {{"name", s.name()}, {"vip", s.vip()}, {"proto", protocol_name(s.protocol())}, {"port", s.port()},
          {"mode", mode_name(s.mode())}, {"fragments", s.fragments() == pb::FRAGMENT_POLICY_HASH ? "hash" : "drop"}};
}

nlohmann::json backend_json(const pb::Backend& b) {
  return {{"service", b.service()}, {"address", b.address()}, {"mac", b.mac()}, {"weight", b.weight()},
          {"state", state_name(b.state())}};
}

void apply_next(const Cli& cli, Dataplane& dp, const pb::GetStateResponse& read, const std::string& done) {
  const uint64_t gen = dp.apply(read.state(), read.generation() + 1);
  print(cli, {{"generation", gen}, {"result", done}}, done + " (generation " + std::to_string(gen) + ")\n");
}

}  // namespace

void cmd_service(const Cli& cli, Dataplane& dp) {
  const std::string& verb = word(cli, 1, "service subcommand (list, show, add, del)");
  pb::GetStateResponse st = dp.state();
  if (verb == "list") {
    nlohmann::json j = nlohmann::json::array();
    Table t({"NAME", "VIP", "PROTO", "PORT", "MODE", "FRAGMENTS", "BACKENDS"});
    for (const auto& s : st.state().services()) {
      int n = 0;
      for (const auto& b : st.state().backends()) n += b.service() == s.name();
      nlohmann::json sj = service_json(s);
      sj["backends"] = n;
      j.push_back(sj);
      t.add({s.name(), s.vip(), protocol_name(s.protocol()), s.port() == 0 ? "any" : std::to_string(s.port()),
             mode_name(s.mode()), sj["fragments"], std::to_string(n)});
    }
    print(cli, j, t.str());
  } else if (verb == "show") {
    const std::string& name = word(cli, 2, "service name");
    pb::Service* s = find_service(*st.mutable_state(), name);
    if (s == nullptr) throw OperationFailed("no service named '" + name + "'");
    nlohmann::json j = service_json(*s);
    j["backends"] = nlohmann::json::array();
    Table t({"ADDRESS", "MAC", "WEIGHT", "STATE"});
    for (const auto& b : st.state().backends())
      if (b.service() == name) {
        j["backends"].push_back(backend_json(b));
        t.add({b.address(), b.mac(), std::to_string(b.weight()), state_name(b.state())});
      }
    print(cli, j,
          "service " + name + ": " + s->vip() + " " + protocol_name(s->protocol()) + " port " +
              (s->port() == 0 ? std::string("any") : std::to_string(s->port())) + " mode " + mode_name(s->mode()) +
              "\n" + t.str());
  } else if (verb == "add") {
    // service add NAME VIP PROTO PORT [--mode M] [--fragments drop|hash] [--gue-port N]
    pb::Service s;
    s.set_name(word(cli, 2, "service name"));
    s.set_vip(word(cli, 3, "VIP"));
    const std::string& proto = word(cli, 4, "protocol (tcp or udp)");
    if (proto != "tcp" && proto != "udp") throw UsageError("protocol: '" + proto + "' is not tcp or udp");
    s.set_protocol(proto == "tcp" ? pb::PROTOCOL_TCP : pb::PROTOCOL_UDP);
    const std::string& port = word(cli, 5, "port (or any)");
    s.set_port(port == "any" ? 0 : number(port, "port", 0, 65535));
    const std::string mode = cli.flag("mode", "l2-dsr");
    if (mode == "l2-dsr") s.set_mode(pb::FORWARDING_MODE_L2_DSR);
    else if (mode == "ipip") s.set_mode(pb::FORWARDING_MODE_IPIP);
    else if (mode == "gue") s.set_mode(pb::FORWARDING_MODE_GUE);
    else throw UsageError("--mode: '" + mode + "' is not l2-dsr, ipip or gue");
    const std::string frag = cli.flag("fragments", "drop");
    if (frag != "drop" && frag != "hash") throw UsageError("--fragments: '" + frag + "' is not drop or hash");
    s.set_fragments(frag == "hash" ? pb::FRAGMENT_POLICY_HASH : pb::FRAGMENT_POLICY_DROP);
    if (cli.has_flag("gue-port")) s.set_gue_port(number(cli.flag("gue-port"), "--gue-port", 0, 65535));
    if (find_service(*st.mutable_state(), s.name()))
      throw OperationFailed("service '" + s.name() + "' already exists");
    *st.mutable_state()->add_services() = s;
    apply_next(cli, dp, st, "added service " + s.name());
  } else if (verb == "del") {
    const std::string& name = word(cli, 2, "service name");
    auto* services = st.mutable_state()->mutable_services();
    const auto before = services->size();
    services->erase(std::remove_if(services->begin(), services->end(), [&](const pb::Service& s) { return s.name() == name; }),
                    services->end());
    if (services->size() == before) throw OperationFailed("no service named '" + name + "'");
    auto* backends = st.mutable_state()->mutable_backends();
    backends->erase(std::remove_if(backends->begin(), backends->end(), [&](const pb::Backend& b) { return b.service() == name; }),
                    backends->end());
    apply_next(cli, dp, st, "deleted service " + name + " and its backends");
  } else {
    throw UsageError("service: unknown subcommand '" + verb + "' (list, show, add, del)");
  }
}

void cmd_backend(const Cli& cli, Dataplane& dp) {
  const std::string& verb = word(cli, 1, "backend subcommand (add, del, drain, undrain, disable, weight)");
  static const std::set<std::string> verbs = {"add", "del", "drain", "undrain", "enable", "disable", "weight"};
  if (!verbs.count(verb))
    throw UsageError("backend: unknown subcommand '" + verb + "' (add, del, drain, undrain, disable, enable, weight)");
  const std::string& service = word(cli, 2, "service name");
  const std::string& address = word(cli, 3, "backend address");
  pb::GetStateResponse st = dp.state();
  if (!find_service(*st.mutable_state(), service)) throw OperationFailed("no service named '" + service + "'");
  pb::Backend* b = find_backend(*st.mutable_state(), service, address);
  if (verb == "add") {
    if (b) throw OperationFailed("backend " + address + " is already in service '" + service + "'");
    pb::Backend nb;
    nb.set_service(service);
    nb.set_address(address);
    nb.set_mac(cli.flag("mac"));  // none: resolved from the kernel's neighbour table
    nb.set_weight(cli.has_flag("weight") ? number(cli.flag("weight"), "--weight", 1, kMaxBackendWeight) : 100);
    nb.set_state(pb::BACKEND_STATE_UP);
    *st.mutable_state()->add_backends() = nb;
    apply_next(cli, dp, st, "added backend " + address + " to " + service);
    return;
  }
  if (!b) throw OperationFailed("backend " + address + " is not in service '" + service + "'");
  if (verb == "del") {
    auto* backends = st.mutable_state()->mutable_backends();
    for (int i = 0; i < backends->size(); ++i)  // a RepeatedPtrField is not contiguous: find by index
      if (&backends->Get(i) == b) {
        backends->DeleteSubrange(i, 1);
        break;
      }
    apply_next(cli, dp, st, "deleted backend " + address + " from " + service);
  } else if (verb == "drain" || verb == "undrain" || verb == "disable" || verb == "enable") {
    b->set_state(verb == "drain" ? pb::BACKEND_STATE_DRAINING
                 : verb == "disable" ? pb::BACKEND_STATE_DOWN
                                     : pb::BACKEND_STATE_UP);
    apply_next(cli, dp, st, "backend " + address + " of " + service + " is now " + state_name(b->state()));
  } else if (verb == "weight") {
    b->set_weight(number(word(cli, 4, "weight"), "weight", 1, kMaxBackendWeight));
    apply_next(cli, dp, st, "backend " + address + " of " + service + " has weight " + std::to_string(b->weight()));
  } else {
    throw UsageError("backend: unknown subcommand '" + verb + "' (add, del, drain, undrain, disable, enable, weight)");
  }
}

void cmd_state(const Cli& cli, Dataplane& dp) {
  const pb::GetStateResponse st = dp.state();
  std::string error;
  auto desired = from_proto(st.state(), error);
  if (!desired) throw OperationFailed("the dataplane returned a state this anylbctl cannot read: " + error);
  // With what applied it: a copy put in a --state-file keeps a reload from replacing an API-owned state.
  const StateSource source = st.source() == pb::STATE_SOURCE_API ? StateSource::api : StateSource::options;
  std::printf("%s\n", desired_state_to_json(*desired, st.generation(), source).c_str());
  (void)cli;
}

void cmd_apply(const Cli& cli, Dataplane& dp) {
  const std::string& path = word(cli, 1, "state file (JSON, as 'anylbctl state' prints)");
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
                                                  : dp.state().generation() + 1;
  const uint64_t applied = dp.apply(st, gen);
  print(cli, {{"generation", applied}}, "applied generation " + std::to_string(applied) + "\n");
}

}  // namespace anylb::ctl
