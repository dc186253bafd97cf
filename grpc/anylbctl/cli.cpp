// The checks and printing every command uses.
#include "cli.hpp"

#include <charconv>
#include <cstdio>

#include "ip_address.hpp"

namespace anylb::ctl {

std::string Cli::flag(const std::string& name, const std::string& fallback) const {
  for (const auto& [k, v] : flags)
    if (k == name) return v;
  return fallback;
}

bool Cli::has_flag(const std::string& name) const {
  for (const auto& [k, v] : flags)
    if (k == name) return true;
  return false;
}

void print(const Cli& cli, const nlohmann::json& j, const std::string& human) {
  if (cli.json) std::printf("%s\n", j.dump(1).c_str());
  else std::printf("%s", human.c_str());
}

uint64_t number64(const std::string& s, const char* what, uint64_t min, uint64_t max) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v < min || v > max)
    throw UsageError(std::string(what) + ": '" + s + "' is not a number from " + std::to_string(min) + " to " +
                     std::to_string(max));
  return v;
}

uint32_t number(const std::string& s, const char* what, uint32_t min, uint32_t max) {
  return static_cast<uint32_t>(number64(s, what, min, max));
}

// "198.51.100.1:1234" or "[2001:db8::1]:1234" -> address, port.
std::pair<std::string, uint32_t> endpoint(const std::string& s, const char* what) {
  std::string addr, port;
  if (!s.empty() && s[0] == '[') {
    const auto close = s.find("]:");
    if (close == std::string::npos) throw UsageError(std::string(what) + ": '" + s + "' is not [ADDRESS]:PORT");
    addr = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string::npos || s.find(':') != colon)
      throw UsageError(std::string(what) + ": '" + s + "' is not ADDRESS:PORT (IPv6: [ADDRESS]:PORT)");
    addr = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  uint32_t p = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
  if (ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535)
    throw UsageError(std::string(what) + ": port '" + port + "' is not 1-65535");
  if (!IpAddress::parse(addr)) throw UsageError(std::string(what) + ": '" + addr + "' is not an IP address");
  return {addr, p};
}

std::string endpoint_text(const std::string& address, uint32_t port) {
  const bool six = address.find(':') != std::string::npos;
  return (six ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

double seconds_flag(const std::string& flag, const std::string& given, double most) {
  char* end = nullptr;
  const double s = std::strtod(given.c_str(), &end);
  if (given.empty() || *end != '\0' || !(s > 0 && s <= most))
    throw UsageError("--" + flag + ": '" + given + "' is not a number of seconds above 0, at most " +
                     std::to_string(static_cast<int>(most)));
  return s;
}

double interval_seconds(const Cli& cli) { return seconds_flag("interval", cli.flag("interval", "1"), 60); }

Table flow_table() { return Table({"SOURCE", "DESTINATION", "PROTO", "SERVICE", "BACKEND", "WORKER", "EXPIRES IN"}); }

void add_flow(const FlowRow& f, nlohmann::json& j, Table& t) {
  j.push_back({{"source", f.source}, {"destination", f.destination}, {"proto", f.proto}, {"service", f.service},
               {"backend", f.backend}, {"worker", f.worker}, {"expires_in_ms", f.expires_in_ms}});
  t.add({f.source, f.destination, f.proto, f.service, f.backend, std::to_string(f.worker),
         std::to_string(f.expires_in_ms / 1000) + "s"});
}

}  // namespace anylb::ctl
