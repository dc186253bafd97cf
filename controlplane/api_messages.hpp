// anylb.v1's messages to and from the node's types, for ApiServer's
// handlers: what a request names, checked, and what a reply holds.
#pragma once

#include <string>

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "api.grpc.pb.h"  // anylb/v1/anylb.proto
#include "node.hpp"

namespace anylb::cp {

namespace v1 = ::anylb::v1;

grpc::Status to_status(const ChangeError& e);

// The dataplane parser's "key 'K': 'value' why" as "field: 'value' why",
// K named as anylb.v1.Service names it.
std::string api_field(const std::string& error);

const ServiceConfig* find_service(const ControlConfig& c, const std::string& name);

// The backend at `id` in the merged configuration (nullptr if none).
const BackendConfig* find_backend(const ControlConfig& c, const BackendId& id);

// The backend (service, address) as the request names it, checked.
// `fields`: where the request holds service and address ("" or "backend.").
ChangeError backend_id(const ControlConfig& c, const std::string& service, const std::string& address, BackendId& out,
                       bool must_exist = true, const std::string& fields = "");

ChangeError backend_config(const v1::Backend& in, BackendConfig& out);

v1::BackendAdminState to_v1(AdminState a);
void fill_backend(const BackendStatus& b, v1::Backend* o);
void fill_service(const ServiceSpec& s, v1::Service* o);

// A request passed on to the dataplane waits as long as its caller does
// (anylbctl --timeout), but never more than a minute: a caller with no
// deadline must not hold an API thread for ever.
void on_behalf_of(const grpc::ServerContext& caller, grpc::ClientContext& ctx);

}  // namespace anylb::cp
