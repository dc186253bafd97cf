// anylbctl's command table and its reading of a command line
// (grpc/anylbctl/commands.hpp), without a server: every entry documented,
// each verb found by its words, and wrong flags and word counts refused
// with a message naming the flag, the word or the command's usage.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "commands.hpp"

namespace anylb::ctl {
namespace {

// The command line as main reads it, up to the handler: the UsageError's
// message, or "" if it would run.
std::string refusal(const std::vector<std::string>& argv) {
  try {
    Cli cli = read_command_line(argv);
    const Command& c = find_command(commands(), cli);
    accept(c, cli);
    side_for(c, cli);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

const Command& entry(const std::vector<std::string>& argv) { return find_command(commands(), read_command_line(argv)); }

Side side(const std::vector<std::string>& argv) {
  Cli cli = read_command_line(argv);
  const Command& c = find_command(commands(), cli);
  accept(c, cli);
  return side_for(c, cli);
}

TEST(AnylbctlCommands, EveryEntryIsDocumented) {
  ASSERT_FALSE(commands().empty());
  for (const Command& c : commands()) {
    const std::string u = usage(c);
    EXPECT_FALSE(c.group.empty()) << u;
    EXPECT_FALSE(c.summary.empty()) << u;
    for (const Arg& a : c.args) EXPECT_TRUE(!a.name.empty() && !a.what.empty()) << u;
    for (const Flag& f : c.flags) EXPECT_TRUE(!f.name.empty() && !f.value.empty() && !f.what.empty()) << u;
    EXPECT_EQ(u.rfind(std::string(c.group), 0), 0u) << u;
  }
}

TEST(AnylbctlCommands, EachVerbIsFoundByItsWords) {
  std::set<std::string> seen;
  for (const Command& c : commands()) {
    std::vector<std::string> words;
    std::string_view verb = c.verb;
    do {  // each word of "a|b"
      const auto bar = verb.find('|');
      words.emplace_back(verb.substr(0, bar));
      verb = bar == std::string_view::npos ? std::string_view{} : verb.substr(bar + 1);
    } while (!verb.empty());
    for (const auto& w : words) {
      std::vector<std::string> argv{std::string(c.group)};
      if (!w.empty()) argv.push_back(w);
      EXPECT_TRUE(seen.insert(std::string(c.group) + " " + w).second) << "two entries answer " << argv[0] << " " << w;
      EXPECT_EQ(&entry(argv), &c) << usage(c);
    }
  }
}

TEST(AnylbctlCommands, HelpListsEveryEntryFromTheTable) {
  const std::string help = help_text(commands());
  EXPECT_EQ(help.rfind("anylbctl: ", 0), 0u);
  for (const Command& c : commands()) {
    EXPECT_NE(help.find("\n  " + usage(c) + " "), std::string::npos) << usage(c);
    const std::string own = group_help(commands(), c.group);
    EXPECT_NE(own.find("] " + std::string(c.group) + " "), std::string::npos) << own;
    EXPECT_NE(own.find("\n  " + usage(c) + " "), std::string::npos) << own;
    for (const Flag& f : c.flags) EXPECT_NE(own.find("\n  --" + std::string(f.name) + " "), std::string::npos) << own;
  }
}

TEST(AnylbctlCommands, AFlagTheCommandDoesNotTakeIsRefusedByName) {
  EXPECT_EQ(refusal({"backend", "add", "web", "198.18.1.7", "--wieght", "5"}),
            "backend add: unknown option '--wieght' (try anylbctl backend --help)");
  // Another verb's flag, too (a --ttl on `backend add` registered nothing).
  EXPECT_EQ(refusal({"backend", "add", "web", "198.18.1.7", "--ttl", "5"}),
            "backend add: unknown option '--ttl' (try anylbctl backend --help)");
  EXPECT_EQ(refusal({"backend", "register", "web", "198.18.1.7", "--ttl", "5", "--weight", "3"}), "");
  EXPECT_EQ(refusal({"stats", "--limit", "5"}), "stats: unknown option '--limit' (try anylbctl stats --help)");
  EXPECT_EQ(refusal({"stats", "--interval"}), "--interval needs a value");
  EXPECT_EQ(refusal({"--interval", "1", "stats"}), "unknown option '--interval' (try --help)");
}

TEST(AnylbctlCommands, WrongWordCountsNameTheWordOrTheUsage) {
  const std::string few = refusal({"service", "add", "web", "203.0.113.10"});
  EXPECT_EQ(few, "service: missing protocol (tcp or udp) (usage: anylbctl " + usage(entry({"service", "add"})) + ")");
  EXPECT_NE(few.find("service add NAME VIP tcp|udp PORT|any"), std::string::npos) << few;
  EXPECT_EQ(refusal({"backend", "drain", "web", "198.18.1.7", "now"}),
            "backend: 'now' is one word too many (try anylbctl backend --help)");
  EXPECT_EQ(refusal({"service", "list", "all"}), "service: 'all' is one word too many (try anylbctl service --help)");
  EXPECT_EQ(refusal({"trace", "1.2.3.4:1"}).rfind("trace: missing destination (usage: anylbctl trace ", 0), 0u);
}

TEST(AnylbctlCommands, UnknownCommandsAndVerbsListWhatThereIs) {
  EXPECT_EQ(refusal({"nosuch"}), "unknown command 'nosuch' (try --help)");
  EXPECT_EQ(refusal({"service"}), "service: missing subcommand (list, show, add, del)");
  EXPECT_EQ(refusal({"service", "frob"}), "service: unknown subcommand 'frob' (list, show, add, del)");
  EXPECT_EQ(refusal({"node", "x"}), "node: unknown subcommand 'x' (drain, undrain)");
  EXPECT_EQ(refusal({"node"}), "");  // the group's plain entry
}

TEST(AnylbctlCommands, OperandsAreTheWordsAfterTheName) {
  const std::vector<std::string> argv{"--json", "backend", "weight", "web", "--dataplane", "/x", "198.18.1.7", "7"};
  Cli cli = read_command_line(argv);
  accept(find_command(commands(), cli), cli);
  EXPECT_EQ(cli.operands, (std::vector<std::string>{"web", "198.18.1.7", "7"}));
  EXPECT_TRUE(cli.json && cli.dataplane_given && cli.dataplane == "/x");
}

TEST(AnylbctlCommands, TimeoutIsSecondsWithinAnHour) {
  using Argv = std::vector<std::string>;
  EXPECT_EQ(read_command_line(Argv{"--timeout", "60", "stats"}).timeout_s, 60);
  EXPECT_EQ(read_command_line(Argv{"stats", "--timeout", "0.5"}).timeout_s, 0.5);  // a global option, anywhere
  EXPECT_EQ(read_command_line(Argv{"stats"}).timeout_s, 10);
  for (const char* bad : {"0", "-1", "3601", "ten", "5s", "nan", ""})
    EXPECT_NE(refusal({"--timeout", bad, "stats"}).find("--timeout: '" + std::string(bad) +
                                                       "' is not a number of seconds above 0, at most 3600"),
              std::string::npos) << bad;
  EXPECT_NE(refusal({"stats", "--timeout"}).find("--timeout needs SECONDS"), std::string::npos);
}

// TCP only with TLS and a client certificate; TLS only over TCP. Each
// refusal names the flag.
TEST(AnylbctlCommands, TlsFlagsGoWithATcpControlPlane) {
  using Argv = std::vector<std::string>;
  const Cli cli = read_command_line(Argv{"--controlplane", "10.0.0.1:50052", "--tls-ca", "ca.pem", "--tls-cert", "me.pem",
                                         "--tls-key", "me.key", "--tls-server-name", "lb1", "node"});
  EXPECT_EQ(cli.tls.ca, "ca.pem");
  EXPECT_EQ(cli.tls.cert, "me.pem");
  EXPECT_EQ(cli.tls.key, "me.key");
  EXPECT_EQ(cli.tls.server_name, "lb1");
  EXPECT_NE(refusal({"--controlplane", "10.0.0.1:50052", "node"}).find("needs --tls-ca"), std::string::npos);
  EXPECT_NE(refusal({"--controlplane", "10.0.0.1:50052", "--tls-ca", "a", "--tls-cert", "b", "node"}).find("needs --tls-key"),
            std::string::npos);
  EXPECT_NE(refusal({"--tls-cert", "b", "node"}).find("not a socket path"), std::string::npos);  // the default socket
  EXPECT_NE(refusal({"node", "--tls-key"}).find("--tls-key needs a FILE"), std::string::npos);
  EXPECT_EQ(refusal({"--controlplane", "/run/x.sock", "node"}), "");
}

TEST(AnylbctlCommands, WhereACommandGoes) {
  EXPECT_EQ(side({"service", "list"}), Side::control_plane);  // the default
  EXPECT_EQ(side({"--dataplane", "/x", "service", "list"}), Side::dataplane);
  EXPECT_EQ(side({"--dataplane", "/x", "--controlplane", "/y", "service", "list"}), Side::control_plane);
  EXPECT_EQ(side({"--controlplane", "/y", "state"}), Side::dataplane);     // the dataplane's own
  EXPECT_EQ(side({"--dataplane", "/x", "routes"}), Side::control_plane);   // the control plane's own
  EXPECT_EQ(side({"--dataplane", "/x", "node", "drain"}), Side::control_plane);
  EXPECT_EQ(side({"--dataplane", "/x", "node"}), Side::dataplane);
  // A control-plane flag with only --dataplane is refused, not dropped.
  EXPECT_EQ(refusal({"--dataplane", "/x", "service", "add", "x", "203.0.113.9", "tcp", "80", "--quorum", "1"}),
            "service add: --quorum is the control plane's; a dataplane alone announces nothing");
  EXPECT_EQ(refusal({"service", "add", "x", "203.0.113.9", "tcp", "80", "--quorum", "1"}), "");
}

}  // namespace
}  // namespace anylb::ctl
