// One health probe of one backend, with a timeout: TCP connect, HTTP GET,
// UDP DNS query, ICMP echo, or a command's exit code. Blocking; called from
// the checker's threads.
#pragma once

#include <string>

#include "config.hpp"

namespace anylb::cp {

struct ProbeResult {
  bool ok = false;
  std::string detail;  // why it failed, or what answered
};

ProbeResult probe(const CheckConfig& check, const IpAddress& backend, uint16_t service_port);

}  // namespace anylb::cp
