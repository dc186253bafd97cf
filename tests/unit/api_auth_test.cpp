// Who may call which anylb.v1 method (api_auth.hpp): the table covers the
// whole service, a registrar is refused everything but registering, and a
// certificate's role is read from its SAN URI.
#include <gtest/gtest.h>

#include <algorithm>
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

TEST(ApiAuth, CertificateRoleFromItsSanUri) {
  TlsCaller op = tls_caller({"urn:anylb:role:operator"}, {}, "CN=alice", "ipv4:127.0.0.1:5");
  ASSERT_TRUE(op.caller);
  EXPECT_EQ(op.caller->role, Role::operator_role);
  EXPECT_EQ(op.caller->owner, "cert:CN=alice");
  EXPECT_TRUE(op.caller->tls);

  TlsCaller reg = tls_caller({"https://example.com", "urn:anylb:role:registrar"}, {"198.18.1.10", "2001:db8::1"},
                             "CN=web1", "ipv4:10.0.0.5:4242");
  ASSERT_TRUE(reg.caller);
  EXPECT_EQ(reg.caller->role, Role::registrar);
  ASSERT_EQ(reg.caller->cert_addresses.size(), 2u);
  EXPECT_EQ(reg.caller->cert_addresses[0].to_string(), "198.18.1.10");
  EXPECT_NE(reg.caller->who.find("CN=web1"), std::string::npos);

  for (const auto& uris : {std::vector<std::string>{}, {"urn:anylb:role:root"},
                           {"urn:anylb:role:operator", "urn:anylb:role:registrar"}}) {
    TlsCaller none = tls_caller(uris, {}, "CN=x", "p");
    EXPECT_FALSE(none.caller);
    EXPECT_EQ(none.refusal.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_NE(none.refusal.error_message().find("CN=x"), std::string::npos) << none.refusal.error_message();
  }
}

}  // namespace
}  // namespace anylb::cp
