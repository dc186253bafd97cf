// Reading a command line against the command table, and the help texts
// made from it. Pure: no connection is made here (unit-tested).
#include <algorithm>

#include "commands.hpp"

namespace anylb::ctl {

namespace {

constexpr const char* kHead = R"(anylbctl: operate an anylb node

Usage: anylbctl [--dataplane PATH | --controlplane P [--tls-ca F --tls-cert F --tls-key F]] [--json]
                [--timeout SEC] COMMAND [ARGS] [--FLAG VALUE ...]

Global options:
  --dataplane PATH   the dataplane's API socket (default /run/anylb/dataplane.sock)
  --controlplane P   the control plane's API: socket path or HOST:PORT (default /run/anylb/controlplane.sock)
  --tls-ca FILE      with --controlplane HOST:PORT (TLS only): the CA that signed the server's certificate
  --tls-cert FILE    our client certificate (PEM); its SAN URI urn:anylb:role:operator or
                     urn:anylb:role:registrar is the role the control plane grants
  --tls-key FILE     the client certificate's key (PEM)
  --tls-server-name NAME  the name the server's certificate must carry (default: HOST)
  --json             machine-readable output
  --timeout SEC      how long to wait for each answer (default 10; a node with
                     tens of thousands of backends may need more)
  --help             this text; 'anylbctl COMMAND --help' for one command

Commands:
)";

constexpr const char* kTail = R"(
Where commands go: to the control plane (anylb.v1, --controlplane), unless
only --dataplane is given: then service/backend changes are applied to the
dataplane directly as a new generation of its whole state (a node without a
control plane). The control plane persists changes in its node.state_file;
the dataplane in its --state-file.
)";

// The words a verb field answers to: "drain|undrain" -> drain, undrain.
std::vector<std::string_view> verb_words(std::string_view verb) {
  std::vector<std::string_view> out;
  while (!verb.empty()) {
    const auto bar = verb.find('|');
    out.push_back(verb.substr(0, bar));
    verb = bar == std::string_view::npos ? std::string_view{} : verb.substr(bar + 1);
  }
  return out;
}

bool answers(const Command& c, std::string_view word) {
  const auto words = verb_words(c.verb);
  return std::find(words.begin(), words.end(), word) != words.end();
}

// "list, show, add, del": the verbs of a group, for its errors.
std::string verb_list(std::span<const Command> table, std::string_view group) {
  std::string out;
  for (const auto& c : table)
    if (c.group == group)
      for (auto w : verb_words(c.verb)) out += (out.empty() ? "" : ", ") + std::string(w);
  return out;
}

std::string side_note(const Command& c) {
  if (std::holds_alternative<ControlPlaneOnly>(c.handler)) return " (control plane)";
  if (std::holds_alternative<DataplaneOnly>(c.handler)) return " (dataplane)";
  return "";
}

// "  usage      summary": two columns, the second at 44 when the first fits.
std::string line(const std::string& left, const std::string& right) {
  std::string out = "  " + left;
  out += std::string(out.size() < 42 ? 44 - out.size() : 2, ' ');
  return out + right + "\n";
}

}  // namespace

Cli read_command_line(std::span<const std::string> argv) {
  Cli cli;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    const bool last = i + 1 == argv.size();
    if (a == "--help" || a == "-h") cli.help = true;
    else if (a == "--json") cli.json = true;
    else if (a == "--dataplane") {
      if (last) throw UsageError("--dataplane needs a PATH");
      cli.dataplane = argv[++i];
      cli.dataplane_given = true;
    } else if (a == "--controlplane") {
      if (last) throw UsageError("--controlplane needs a PATH or HOST:PORT");
      cli.controlplane = argv[++i];
      cli.controlplane_given = true;
    } else if (a == "--tls-ca" || a == "--tls-cert" || a == "--tls-key" || a == "--tls-server-name") {
      if (last) throw UsageError(a + (a == "--tls-server-name" ? " needs a NAME" : " needs a FILE"));
      std::string& into = a == "--tls-ca" ? cli.tls.ca : a == "--tls-cert" ? cli.tls.cert : a == "--tls-key" ? cli.tls.key : cli.tls.server_name;
      into = argv[++i];
    } else if (a == "--timeout") {
      if (last) throw UsageError("--timeout needs SECONDS");
      cli.timeout_s = seconds_flag("timeout", argv[++i], 3600);  // at most an hour
    } else if (a.starts_with("--") && !cli.args.empty()) {
      if (last) throw UsageError(a + " needs a value");
      cli.flags.emplace_back(a.substr(2), argv[++i]);
    } else if (a.starts_with("--")) {
      throw UsageError("unknown option '" + a + "' (try --help)");
    } else {
      cli.args.push_back(a);
    }
  }
  // The control plane serves TCP only with TLS and a client certificate,
  // and a unix socket never with TLS.
  const bool tcp = is_tcp_address(cli.controlplane);
  if (cli.tls.given() && !tcp)
    throw UsageError("--tls-ca, --tls-cert, --tls-key and --tls-server-name are for --controlplane HOST:PORT, not a socket path");
  if (tcp) {
    for (const auto& [flag, value] : {std::pair{"--tls-ca", &cli.tls.ca}, {"--tls-cert", &cli.tls.cert}, {"--tls-key", &cli.tls.key}})
      if (value->empty())
        throw UsageError(std::string("--controlplane ") + cli.controlplane + " needs " + flag +
                         " (the control plane serves TCP only with TLS and a client certificate: --tls-ca, --tls-cert, --tls-key)");
  }
  return cli;
}

bool has_group(std::span<const Command> table, std::string_view group) {
  return std::any_of(table.begin(), table.end(), [&](const Command& c) { return c.group == group; });
}

const Command& find_command(std::span<const Command> table, const Cli& cli) {
  const std::string& group = cli.args.at(0);
  if (!has_group(table, group)) throw UsageError("unknown command '" + group + "' (try --help)");
  const Command* plain = nullptr;  // the group's entry without a verb, if any
  for (const auto& c : table)
    if (c.group == group && c.verb.empty()) plain = &c;
  const std::string verbs = verb_list(table, group);
  if (verbs.empty()) return *plain;
  if (cli.args.size() == 1) {
    if (plain) return *plain;
    throw UsageError(group + ": missing subcommand (" + verbs + ")");
  }
  for (const auto& c : table)
    if (c.group == group && answers(c, cli.args[1])) return c;
  throw UsageError(group + ": unknown subcommand '" + cli.args[1] + "' (" + verbs + ")");
}

void accept(const Command& c, Cli& cli) {
  const std::string& group = cli.args[0];
  const std::size_t name_words = c.verb.empty() ? 1 : 2;
  const std::string typed = name_words == 1 ? group : group + " " + cli.args[1];
  // A flag it does not take is an error, not ignored (a misspelt --wieght
  // added the backend with weight 100; a --ttl on `backend add` registered
  // nothing).
  for (const auto& [name, value] : cli.flags)
    if (std::none_of(c.flags.begin(), c.flags.end(), [&](const Flag& f) { return f.name == name; }))
      throw UsageError(typed + ": unknown option '--" + name + "' (try anylbctl " + group + " --help)");
  const std::size_t want = name_words + c.args.size();
  if (cli.args.size() > want)
    throw UsageError(group + ": '" + cli.args[want] + "' is one word too many (try anylbctl " + group + " --help)");
  if (cli.args.size() < want)
    throw UsageError(group + ": missing " + std::string(c.args[cli.args.size() - name_words].what) +
                     " (usage: anylbctl " + usage(c) + ")");
  cli.operands.assign(cli.args.begin() + static_cast<std::ptrdiff_t>(name_words), cli.args.end());
}

Side side_for(const Command& c, const Cli& cli) {
  if (std::holds_alternative<DataplaneOnly>(c.handler)) return Side::dataplane;
  if (std::holds_alternative<ControlPlaneOnly>(c.handler)) return Side::control_plane;
  if (cli.controlplane_given || !cli.dataplane_given) return Side::control_plane;
  for (const auto& f : c.flags)
    if (!f.control_only.empty() && cli.has_flag(std::string(f.name)))
      throw UsageError((c.verb.empty() ? cli.args[0] : cli.args[0] + " " + cli.args[1]) + ": --" +
                       std::string(f.name) + " is the control plane's; " + std::string(f.control_only));
  return Side::dataplane;
}

std::string usage(const Command& c) {
  std::string out(c.group);
  if (!c.verb.empty()) out += " " + std::string(c.verb);
  for (const auto& a : c.args) out += " " + std::string(a.name);
  for (const auto& f : c.flags) out += " [--" + std::string(f.name) + " " + std::string(f.value) + "]";
  return out;
}

std::string help_text(std::span<const Command> table) {
  std::string out = kHead;
  for (const auto& c : table) out += line(usage(c), std::string(c.summary) + side_note(c));
  return out + kTail;
}

std::string group_help(std::span<const Command> table, std::string_view group) {
  // Which global option addresses it: the side its entries have.
  bool dataplane = false, control = false;
  for (const auto& c : table)
    if (c.group == group) {
      dataplane |= !std::holds_alternative<ControlPlaneOnly>(c.handler);
      control |= !std::holds_alternative<DataplaneOnly>(c.handler);
    }
  const std::string where = dataplane && control ? "[--dataplane PATH | --controlplane P]"
                            : dataplane          ? "[--dataplane PATH]"
                                                 : "[--controlplane P]";
  std::string out = "usage: anylbctl " + where + " [--json] " + std::string(group) + " ...\n\n";
  std::vector<const Flag*> flags;
  for (const auto& c : table) {
    if (c.group != group) continue;
    out += line(usage(c), std::string(c.summary) + side_note(c));
    for (const auto& f : c.flags)
      if (std::none_of(flags.begin(), flags.end(), [&](const Flag* g) { return g->name == f.name; })) flags.push_back(&f);
  }
  if (!flags.empty()) out += "\nOptions:\n";
  for (const Flag* f : flags)
    out += line("--" + std::string(f->name) + " " + std::string(f->value),
                std::string(f->what) + (f->control_only.empty() ? "" : " (control plane)"));
  return out;
}

}  // namespace anylb::ctl
