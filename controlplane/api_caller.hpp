// Who is calling the operator API (anylb.v1), as the listener it came in
// on knows it: the role it holds, what to write in the log of a change,
// and what a registrar may speak for. Made once a call by the listener's
// side (api_auth), read by the handlers and the registration rules.
#pragma once

#include <string>
#include <vector>

#include "ip_address.hpp"

namespace anylb::cp {

// operator: everything. registrar: RegisterBackend, Heartbeat,
// DeregisterBackend and reading its own registrations.
enum class Role { operator_role, registrar };

struct Caller {
  Role role = Role::operator_role;
  // For the log and for owning registrations: "uid 0 gid 0 pid 123 on
  // /run/anylb/controlplane.sock" or "certificate CN=web1 sha256:0123456789abcdef
  // from 10.0.0.5:4242".
  std::string who;
  // The one identity a registration is tied to: a registrar may read,
  // heartbeat and deregister only registrations with its own owner.
  // Unix socket: "uid:<uid>"; TLS: "cert:<subject> sha256:<16 hex>", the
  // certificate's own fingerprint (a subject alone may be shared).
  std::string owner;
  bool tls = false;
  // TLS only: the IP addresses the client certificate names (SAN IP);
  // a registrar over TLS registers only these.
  std::vector<IpAddress> cert_addresses;
};

}  // namespace anylb::cp
