// One health probe of one backend, with a timeout: TCP connect, HTTP GET,
// UDP DNS query, ICMP echo, or a command's exit code. Blocking; called from
// the checker's threads.
#pragma once

#include <string>
#include <string_view>

#include "config.hpp"

namespace anylb::cp {

struct ProbeResult {
  bool ok = false;
  std::string detail;  // why it failed, or what answered
};

// The port a check probes: its own, else the service's (0 for an any-port service).
inline uint16_t probe_port(const CheckConfig& check, uint16_t service_port) {
  return check.port != 0 ? check.port : service_port;
}

// `service` names the service for an exec check (ANYLB_SERVICE); `as`, the
// user it runs as when the control plane is root (none: as the control
// plane itself). `source_ports` (health.source_ports): the TCP, HTTP and
// DNS probes' source port and the ICMP probes' echo id are taken from it
// (any: the kernel's or a random one). An exec check's command sends what
// it likes: its replies are policed with the rest (exception_policer.hpp).
ProbeResult probe(const CheckConfig& check, const IpAddress& backend, uint16_t service_port,
                  std::string_view service = {}, const ExecUser* as = nullptr, PortRange source_ports = {});

// The status of an HTTP/1.x response ("HTTP/1.1 200 OK..."), or -1 if its
// status line is not one (strictly: three digits, then a space or CR).
int http_status(std::string_view response);
// Whether a DNS answer's rcode says the server resolves: NOERROR, NXDOMAIN.
bool dns_rcode_alive(int rcode);

}  // namespace anylb::cp
