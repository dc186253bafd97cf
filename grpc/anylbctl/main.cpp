// anylbctl: the operator's CLI. Human tables by default, --json for scripts.
// Exit codes: 0 ok, 1 the operation failed, 2 usage. What it has and how
// each command is checked is the command table's (command_table.cpp).
#include <cstdio>
#include <string>
#include <vector>

#include "commands.hpp"
#include "controlplane_target.hpp"
#include "dataplane_target.hpp"

namespace {

using namespace anylb::ctl;

int fail(int code, const std::string& message) {
  std::fprintf(stderr, "anylbctl: %s\n", message.c_str());
  return code;
}

void run(const Command& c, Side side, const Cli& cli) {
  if (auto h = std::get_if<DataplaneOnly>(&c.handler)) {
    DataplaneTarget t(cli.dataplane, cli.timeout_s);
    return (*h)(cli, t);
  }
  if (auto h = std::get_if<ControlPlaneOnly>(&c.handler)) {
    ControlPlaneTarget t(cli.controlplane, cli.timeout_s, cli.tls);
    return (*h)(cli, t);
  }
  const EitherSide h = std::get<EitherSide>(c.handler);
  if (side == Side::dataplane) {
    DataplaneTarget t(cli.dataplane, cli.timeout_s);
    return h(cli, t);
  }
  ControlPlaneTarget t(cli.controlplane, cli.timeout_s, cli.tls);
  h(cli, t);
}

}  // namespace

int main(int argc, char** argv) {
  const auto table = commands();
  Cli cli;
  const Command* command = nullptr;
  Side side = Side::control_plane;
  try {
    cli = read_command_line(std::vector<std::string>(argv + 1, argv + argc));
    if (cli.args.empty()) {
      if (!cli.help) return fail(2, "no command given (try --help)");
      std::printf("%s", help_text(table).c_str());
      return 0;
    }
    if (cli.help && has_group(table, cli.args[0])) {
      std::printf("%s", group_help(table, cli.args[0]).c_str());
      return 0;
    }
    command = &find_command(table, cli);
    accept(*command, cli);
    side = side_for(*command, cli);
  } catch (const UsageError& e) {
    return fail(2, e.what());
  }
  try {
    run(*command, side, cli);
  } catch (const UsageError& e) {
    return fail(2, cli.args[0] + ": " + e.what());
  } catch (const std::exception& e) {
    return fail(1, e.what());
  }
  return 0;
}
