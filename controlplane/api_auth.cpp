#include "api_auth.hpp"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>

namespace anylb::cp {

const std::vector<MethodRule>& method_rules() {
  // {method, registrar may call it, changes the node}
  static const std::vector<MethodRule> rules = {
      {"ListServices", false, false},     {"GetService", false, false},
      {"AddService", false, true},        {"DeleteService", false, true},
      {"AddBackend", false, true},        {"DeleteBackend", false, true},
      {"SetBackendState", false, true},   {"SetBackendWeight", false, true},
      {"RegisterBackend", true, true},    {"Heartbeat", true, false},
      {"DeregisterBackend", true, true},  {"ListRegistrations", true, false},
      {"GetStats", false, false},         {"ListFlows", false, false},
      {"Trace", false, false},            {"GetHealth", false, false},
      {"ListRoutes", false, false},       {"GetNode", false, false},
      {"DrainNode", false, true},
  };
  return rules;
}

std::string_view role_name(Role r) { return r == Role::registrar ? "registrar" : "operator"; }

grpc::Status authorize(const Caller& caller, std::string_view method) {
  const auto& rules = method_rules();
  const auto it = std::find_if(rules.begin(), rules.end(), [&](const MethodRule& r) { return r.method == method; });
  if (it == rules.end())
    return {grpc::StatusCode::PERMISSION_DENIED, std::string(method) + ": not in the API's table of roles"};
  if (caller.role != Role::operator_role && !it->registrar)
    return {grpc::StatusCode::PERMISSION_DENIED,
            std::string(method) + " is not allowed to the " + std::string(role_name(caller.role)) +
                " role (only RegisterBackend, Heartbeat, DeregisterBackend and ListRegistrations are)"};
  if (it->change) spdlog::info("API {} by {} ({})", method, caller.who, role_name(caller.role));
  return grpc::Status::OK;
}

std::optional<std::string> cert_fingerprint(const std::string& pem) {
  const std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())),
                                                      BIO_free);
  if (!bio) return std::nullopt;
  const std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr),
                                                         X509_free);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (!cert || X509_digest(cert.get(), EVP_sha256(), md, &len) != 1) return std::nullopt;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

TlsCaller tls_caller(const std::vector<std::string>& uris, const std::vector<std::string>& ips,
                     const std::string& subject, const std::string& pem, const std::string& peer) {
  // 64 bits of the fingerprint: enough that no two certificates a CA
  // issues meet by chance, short enough to read in a log line.
  const std::optional<std::string> fingerprint = cert_fingerprint(pem);
  if (!fingerprint)
    return {std::nullopt, {grpc::StatusCode::UNAUTHENTICATED,
                           "the client certificate (" + subject + ") could not be read to identify it"}};
  const std::string id = subject + " sha256:" + fingerprint->substr(0, 16);
  std::optional<Role> role;
  for (const std::string& u : uris) {
    if (u.rfind(kRoleUriPrefix, 0) != 0) continue;
    const std::string name = u.substr(kRoleUriPrefix.size());
    std::optional<Role> r = name == "operator" ? std::optional(Role::operator_role)
                            : name == "registrar" ? std::optional(Role::registrar)
                                                  : std::nullopt;
    if (!r)
      return {std::nullopt, {grpc::StatusCode::PERMISSION_DENIED,
                             "the client certificate (" + subject + ") names an unknown role '" + u +
                                 "' (urn:anylb:role:operator or urn:anylb:role:registrar)"}};
    if (role && *role != *r)
      return {std::nullopt, {grpc::StatusCode::PERMISSION_DENIED,
                             "the client certificate (" + subject + ") names two roles"}};
    role = r;
  }
  if (!role)
    return {std::nullopt, {grpc::StatusCode::PERMISSION_DENIED,
                           "the client certificate (" + subject +
                               ") names no role: it needs a SAN URI urn:anylb:role:operator or "
                               "urn:anylb:role:registrar"}};
  Caller c;
  c.role = *role;
  c.tls = true;
  c.owner = "cert:" + id;
  std::string names;
  for (const std::string& ip : ips)
    if (auto a = IpAddress::parse(ip)) {
      c.cert_addresses.push_back(*a);
      names += (names.empty() ? " (SAN IP " : ", ") + a->to_string();
    }
  c.who = "certificate " + id + (names.empty() ? "" : names + ")") + " from " + peer;
  return {c, grpc::Status::OK};
}

TlsCaller tls_caller(const grpc::ServerContext& ctx) {
  const std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (!auth || !auth->IsPeerAuthenticated())
    return {std::nullopt, {grpc::StatusCode::UNAUTHENTICATED, "no client certificate"}};
  auto values = [&](const char* property) {
    std::vector<std::string> out;
    for (const grpc::string_ref& v : auth->FindPropertyValues(property)) out.emplace_back(v.data(), v.size());
    return out;
  };
  const std::vector<std::string> subject = values(GRPC_X509_SUBJECT_PROPERTY_NAME);
  const std::vector<std::string> pem = values(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  return tls_caller(values(GRPC_PEER_URI_PROPERTY_NAME), values(GRPC_PEER_IP_PROPERTY_NAME),
                    subject.empty() ? "(no subject)" : subject.front(), pem.empty() ? "" : pem.front(), ctx.peer());
}

}  // namespace anylb::cp
