// Who may call which anylb.v1 method (api_auth.hpp): the table covers the
// whole service, a registrar is refused everything but registering, a
// certificate's role is read from its SAN URI, and its owner names the
// certificate, not only its subject.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <memory>
#include <set>

#include "api.grpc.pb.h"  // anylb/v1/anylb.proto
#include "api_auth.hpp"

namespace anylb::cp {
namespace {

const MethodRule* rule(std::string_view method) {
  for (const MethodRule& r : method_rules())
    if (r.method == method) return &r;
  return nullptr;
}

// A method added to the proto without a row would be refused to everyone:
// this fails first.
TEST(ApiAuth, EveryMethodOfTheServiceHasARule) {
  const google::protobuf::ServiceDescriptor* s =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(::anylb::v1::Anylb::service_full_name());
  ASSERT_NE(s, nullptr);
  ASSERT_GT(s->method_count(), 10);
  for (int i = 0; i < s->method_count(); ++i) EXPECT_NE(rule(s->method(i)->name()), nullptr) << s->method(i)->name();
  std::set<std::string_view> seen;
  for (const MethodRule& r : method_rules()) EXPECT_TRUE(seen.insert(r.method).second) << "twice: " << r.method;
}

TEST(ApiAuth, RegistrarMayOnlyRegister) {
  std::set<std::string_view> allowed;
  for (const MethodRule& r : method_rules())
    if (r.registrar) allowed.insert(r.method);
  EXPECT_EQ(allowed, (std::set<std::string_view>{"RegisterBackend", "Heartbeat", "DeregisterBackend", "ListRegistrations"}));
  Caller reg;
  reg.role = Role::registrar;
  reg.who = "uid 1000 gid 1000 pid 1 on /x";
  const grpc::Status s = authorize(reg, "AddService");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("AddService"), std::string::npos) << s.error_message();
  EXPECT_NE(s.error_message().find("registrar"), std::string::npos) << s.error_message();
  EXPECT_TRUE(authorize(reg, "RegisterBackend").ok());
  EXPECT_TRUE(authorize(Caller{}, "DrainNode").ok());  // an operator
  EXPECT_EQ(authorize(Caller{}, "NoSuchMethod").error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

// A self-signed certificate (a fresh P-256 key) with subject CN=`cn`, as
// PEM: what gRPC hands the server as GRPC_X509_PEM_CERT_PROPERTY_NAME.
std::string make_cert(const char* cn) {
  const std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  const std::unique_ptr<X509, decltype(&X509_free)> x(X509_new(), X509_free);
  if (!key || !x) return "";
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 1);  // the same serial too: only the key differs
  X509_gmtime_adj(X509_getm_notBefore(x.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 3600);
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_set_issuer_name(x.get(), name);
  X509_set_pubkey(x.get(), key.get());
  if (X509_sign(x.get(), key.get(), EVP_sha256()) == 0) return "";
  const std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_X509(bio.get(), x.get());
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

TEST(ApiAuth, CertificateRoleFromItsSanUri) {
  const std::string alice = make_cert("alice"), web1 = make_cert("web1");
  ASSERT_FALSE(alice.empty());
  TlsCaller op = tls_caller({"urn:anylb:role:operator"}, {}, "CN=alice", alice, "ipv4:127.0.0.1:5");
  ASSERT_TRUE(op.caller);
  EXPECT_EQ(op.caller->role, Role::operator_role);
  EXPECT_EQ(op.caller->owner, "cert:CN=alice sha256:" + cert_fingerprint(alice)->substr(0, 16));
  EXPECT_TRUE(op.caller->tls);

  TlsCaller reg = tls_caller({"https://example.com", "urn:anylb:role:registrar"}, {"198.18.1.10", "2001:db8::1"},
                             "CN=web1", web1, "ipv4:10.0.0.5:4242");
  ASSERT_TRUE(reg.caller);
  EXPECT_EQ(reg.caller->role, Role::registrar);
  ASSERT_EQ(reg.caller->cert_addresses.size(), 2u);
  EXPECT_EQ(reg.caller->cert_addresses[0].to_string(), "198.18.1.10");
  EXPECT_NE(reg.caller->who.find("CN=web1"), std::string::npos);

  for (const auto& uris : {std::vector<std::string>{}, {"urn:anylb:role:root"},
                           {"urn:anylb:role:operator", "urn:anylb:role:registrar"}}) {
    TlsCaller none = tls_caller(uris, {}, "CN=x", alice, "p");
    EXPECT_FALSE(none.caller);
    EXPECT_EQ(none.refusal.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_NE(none.refusal.error_message().find("CN=x"), std::string::npos) << none.refusal.error_message();
  }
}

// Registrars whose certificates share a subject (all CN=registrar) are
// not one owner: each would see and deregister the others' registrations.
TEST(ApiAuth, CertificatesOfOneSubjectAreDifferentOwners) {
  const std::string one = make_cert("registrar"), two = make_cert("registrar");
  ASSERT_FALSE(one.empty());
  const auto f1 = cert_fingerprint(one), f2 = cert_fingerprint(two);
  ASSERT_TRUE(f1 && f2);
  EXPECT_EQ(f1->size(), 64u);
  EXPECT_NE(*f1, *f2);
  EXPECT_EQ(cert_fingerprint(one), f1) << "a certificate's owner is the same on every call";
  const std::vector<std::string> role = {"urn:anylb:role:registrar"};
  TlsCaller a = tls_caller(role, {"198.18.1.10"}, "CN=registrar", one, "ipv4:10.0.0.5:1");
  TlsCaller b = tls_caller(role, {"198.18.1.11"}, "CN=registrar", two, "ipv4:10.0.0.6:1");
  ASSERT_TRUE(a.caller && b.caller);
  EXPECT_NE(a.caller->owner, b.caller->owner);
  EXPECT_EQ(a.caller->owner, "cert:CN=registrar sha256:" + f1->substr(0, 16));
  // The log says which certificate it was, still readably.
  EXPECT_EQ(a.caller->who, "certificate CN=registrar sha256:" + f1->substr(0, 16) +
                               " (SAN IP 198.18.1.10) from ipv4:10.0.0.5:1");
  // No certificate to identify: refused, not an owner of "" shared by all.
  for (const std::string& pem : {std::string(), std::string("-----BEGIN CERTIFICATE-----\nnonsense\n"
                                                               "-----END CERTIFICATE-----\n")}) {
    TlsCaller none = tls_caller(role, {}, "CN=registrar", pem, "p");
    EXPECT_FALSE(none.caller);
    EXPECT_EQ(none.refusal.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_FALSE(cert_fingerprint(""));
}

}  // namespace
}  // namespace anylb::cp
