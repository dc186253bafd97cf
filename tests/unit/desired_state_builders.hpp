// Dataplane desired states (protobuf) for the control plane's unit tests:
// a service or a backend added in one call.
#pragma once

#include <string>

#include "dataplane.pb.h"

namespace anylb::cp::testing_states {

namespace dp = ::anylb::dataplane::v1;

inline dp::Service* add_service(dp::DesiredState& s, const std::string& name, const std::string& vip) {
  dp::Service* svc = s.add_services();
  svc->set_name(name);
  svc->set_vip(vip);
  svc->set_protocol(dp::PROTOCOL_TCP);
  svc->set_port(80);
  return svc;
}

inline dp::Backend* add_backend(dp::DesiredState& s, const std::string& service, const std::string& address,
                                dp::BackendState state = dp::BACKEND_STATE_UP,
                                const std::string& mac = "02:00:00:00:00:01") {
  dp::Backend* b = s.add_backends();
  b->set_service(service);
  b->set_address(address);
  b->set_mac(mac);
  b->set_weight(100);
  b->set_state(state);
  return b;
}

}  // namespace anylb::cp::testing_states
