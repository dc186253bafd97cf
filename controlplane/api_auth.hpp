// Who may call which anylb.v1 method: one table, method -> roles allowed,
// read by every handler (ApiServer) before it does anything; and the
// caller of a TLS connection, from its client certificate.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "api_caller.hpp"

namespace anylb::cp {

struct MethodRule {
  std::string_view method;  // as anylb.v1.Anylb names it
  bool registrar = false;   // a registrar may call it (an operator may call everything)
  bool change = false;      // it changes the node: logged with who asked
};

// Every method of anylb.v1.Anylb, and "ListRegistrations" (a registrar
// reading its own registrations) ahead of its RPC. A method not here is
// refused to everyone.
const std::vector<MethodRule>& method_rules();

// PERMISSION_DENIED naming the method and the role, or OK. A change
// allowed is logged with `caller.who`.
grpc::Status authorize(const Caller& caller, std::string_view method);

std::string_view role_name(Role r);

// Certificates carry their role as a SAN URI: urn:anylb:role:operator or
// urn:anylb:role:registrar (exactly one of them).
inline constexpr std::string_view kRoleUriPrefix = "urn:anylb:role:";

// The caller of a call that came in over TLS with a verified client
// certificate (the server requires one), or a refusal saying why
// (PERMISSION_DENIED: no role, two roles; UNAUTHENTICATED: no certificate).
struct TlsCaller {
  std::optional<Caller> caller;
  grpc::Status refusal;
};
TlsCaller tls_caller(const grpc::ServerContext& ctx);
// What tls_caller reads, apart from gRPC: the certificate's SAN URIs and
// SAN IPs, its subject, the certificate itself (PEM), and the peer's
// address. The owner is "cert:<subject> sha256:<fingerprint's first 16
// hex>": certificates that share a subject (all CN=registrar, say) are
// different registrars, not one.
TlsCaller tls_caller(const std::vector<std::string>& uris, const std::vector<std::string>& ips,
                     const std::string& subject, const std::string& pem, const std::string& peer);

// The certificate's SHA-256 fingerprint (of its DER, as `openssl x509
// -noout -fingerprint -sha256` prints it) in 64 lowercase hex digits, or
// nullopt if `pem` holds no certificate.
std::optional<std::string> cert_fingerprint(const std::string& pem);

}  // namespace anylb::cp
