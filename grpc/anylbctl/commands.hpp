// anylbctl's command table: one entry per form of command line (`service
// add`, `stats`, `node drain|undrain`, ...). --help, a command's own help,
// the word and flag checks and where a command goes are all read from it,
// so they cannot disagree (they were written out five times, and drifted).
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cli.hpp"

namespace anylb::ctl {

class Target;
class DataplaneTarget;
class ControlPlaneTarget;

// A handler's parameter type says where it runs: against either side (the
// verb written once over Target), or against the one side that has it.
using EitherSide = void (*)(const Cli&, Target&);
using DataplaneOnly = void (*)(const Cli&, DataplaneTarget&);
using ControlPlaneOnly = void (*)(const Cli&, ControlPlaneTarget&);
using Handler = std::variant<EitherSide, DataplaneOnly, ControlPlaneOnly>;

struct Arg {
  std::string_view name;  // in the usage: NAME, tcp|udp
  std::string_view what;  // in "missing ...": service name
};

struct Flag {
  std::string_view name;   // without the dashes
  std::string_view value;  // in the usage: MAC, 1-10000
  std::string_view what;   // in the command's own help
  // Not empty: only the control plane takes it, and this says why (with
  // only --dataplane it is refused rather than dropped).
  std::string_view control_only = {};
};

struct Command {
  std::string_view group;    // the first word: service, backend, stats, ...
  std::string_view verb;     // the second word, "" for none; "a|b": either word, one handler
  std::vector<Arg> args;     // all required, in order
  std::vector<Flag> flags;   // the only --flags it takes
  std::string_view summary;  // its line in --help
  Handler handler;
};

enum class Side { dataplane, control_plane };

// The table (command_table.cpp).
std::span<const Command> commands();

// ---- The command line read against a table (command_line.cpp). Errors are
// UsageErrors carrying the whole message (exit 2).

// argv after the program name: global options anywhere, then the command's
// words and its --name value flags.
Cli read_command_line(std::span<const std::string> argv);
bool has_group(std::span<const Command> table, std::string_view group);
// The entry cli.args names, or a UsageError listing the group's verbs.
const Command& find_command(std::span<const Command> table, const Cli& cli);
// Refuses a flag the entry does not take and a word too many or too few;
// then sets cli.operands to the words after the command's name.
void accept(const Command& c, Cli& cli);
// Where it goes: the side a one-sided command has; else the control plane,
// unless only --dataplane was given (a node without a control plane).
Side side_for(const Command& c, const Cli& cli);

std::string usage(const Command& c);  // "service add NAME VIP tcp|udp PORT|any [--mode ...]"
std::string help_text(std::span<const Command> table);                           // anylbctl --help
std::string group_help(std::span<const Command> table, std::string_view group);  // anylbctl service --help

}  // namespace anylb::ctl
