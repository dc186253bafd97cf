// anylbctl's shared pieces: the parsed command line, errors with their exit
// codes, and the word checks and printing every command uses.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "table.hpp"

namespace anylb::ctl {

// Exit codes: 0 ok, 1 the operation failed, 2 usage.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct OperationFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// --tls-*: the control plane over TCP (TLS with a client certificate,
// which carries the caller's role).
struct TlsFlags {
  std::string ca, cert, key;  // PEM files: the CA of the server's certificate; ours and its key
  std::string server_name;    // the name the server's certificate must carry (default: the host of HOST:PORT)
  bool given() const { return !ca.empty() || !cert.empty() || !key.empty() || !server_name.empty(); }
};

// A control plane address that is HOST:PORT rather than a socket path.
inline bool is_tcp_address(const std::string& address) {
  return address.find(':') != std::string::npos && !address.empty() && address[0] != '/';
}

struct Cli {
  std::string dataplane = "/run/anylb/dataplane.sock";  // unix socket path of anylb-dataplane
  bool dataplane_given = false;
  std::string controlplane = "/run/anylb/controlplane.sock";  // anylb-controlplane: socket path, or HOST:PORT
  bool controlplane_given = false;
  TlsFlags tls;
  bool json = false;
  double timeout_s = 10;  // --timeout: how long to wait for each answer
  bool help = false;
  std::vector<std::string> args;      // after the global options: the command's words
  std::vector<std::string> operands;  // the words after the command's name (accept() sets them)
  std::vector<std::pair<std::string, std::string>> flags;  // --name value pairs after the command

  std::string flag(const std::string& name, const std::string& fallback = "") const;
  bool has_flag(const std::string& name) const;
};

// What a view shows: JSON for --json, else text.
struct Output {
  nlohmann::json json;
  std::string text;
};

void print(const Cli& cli, const nlohmann::json& j, const std::string& human);
inline void print(const Cli& cli, const Output& out) { print(cli, out.json, out.text); }

// A whole number from `min` to `max`, digits only (no sign: stoul took "-1"
// as 4294967295); else a UsageError naming `what`.
uint32_t number(const std::string& s, const char* what, uint32_t min, uint32_t max);
uint64_t number64(const std::string& s, const char* what, uint64_t min, uint64_t max);
// "198.51.100.1:1234" or "[2001:db8::1]:1234" -> address, port; else a UsageError naming `what`.
std::pair<std::string, uint32_t> endpoint(const std::string& s, const char* what);
// ADDR:PORT, an IPv6 address in brackets: as `trace` reads it back.
std::string endpoint_text(const std::string& address, uint32_t port);
// A flag's number of seconds, above 0 and at most `most`; else a UsageError
// naming the flag ("--interval: 'x' is not a number of seconds ...").
double seconds_flag(const std::string& flag, const std::string& given, double most);
// `stats --interval SEC`: above 0, at most 60 (default 1); else a UsageError.
double interval_seconds(const Cli& cli);

// One flow of `flows`, from either side: a JSON object and a table row.
struct FlowRow {
  std::string source, destination, proto, service, backend;
  uint32_t worker = 0;
  uint64_t expires_in_ms = 0;
};
Table flow_table();
void add_flow(const FlowRow& f, nlohmann::json& j, Table& t);

}  // namespace anylb::ctl
