// The rules of RSerPool-style self-registration (RegisterBackend,
// Heartbeat, DeregisterBackend, ListRegistrations) by who is calling:
// an operator keeps its freedom; a registrar registers only into services
// that opt in (ServiceConfig::registration), only addresses inside their
// prefixes (over TLS, only its certificate's), up to max_backends, at the
// service's weight, with a MAC only where registration.registrar_mac lets
// it, never a backend an operator deleted, and touches only registrations
// it owns. What an operator set for a backend (admin state, weight) is
// never overridden.
// Pure: the overlay and the merged configuration in, a ChangeError out.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api_caller.hpp"
#include "node.hpp"  // ChangeError
#include "overlay.hpp"

namespace anylb::cp {

// 128 random bits as 32 lowercase hex digits (getrandom(2)): an id that
// cannot be guessed from another, so knowing one's own says nothing of
// the others. Throws std::runtime_error if no randomness is to be had.
std::string new_registration_id();

// A service's registration as the API asks it (anylb.v1
// ServiceRegistration), checked as the configuration file's is; errors
// name the field under `field` ("service.registration").
std::optional<RegistrationPolicy> registration_policy(const std::vector<std::string>& prefixes, uint32_t max_backends,
                                                      uint32_t weight, const std::string& field, std::string& why);

struct RegisterRequest {
  std::string service;
  BackendConfig backend;  // weight 0: not asked (the service's registration.weight, else 100)
  uint64_t ttl_ms = 0;
};

// Registers (or re-registers) `req` into `o` for `caller`, as of `now_ms`;
// `id` gets the new registration's id. On a refusal `o` may be half
// changed: the caller (Node::change) drops it.
ChangeError register_backend(Overlay& o, const ControlConfig& merged, const Caller& caller, const RegisterRequest& req,
                             uint64_t now_ms, std::string& id);

// The registration `id` if `caller` may heartbeat or deregister it (an
// operator: any; a registrar: its own), else nullptr; a deregistered one
// (draining out) counts as gone. Someone else's answers as an unknown id
// would: a registrar learns nothing of ids it does not hold.
Registration* own_registration(Overlay& o, const Caller& caller, const std::string& id);
ChangeError not_registered(const std::string& id);

// Marks `id` deregistered (drains, then goes: Node::expire_registrations).
ChangeError deregister_backend(Overlay& o, const Caller& caller, const std::string& id, uint64_t now_ms);

// What ListRegistrations shows `caller`: an operator every registration,
// a registrar its own; only those of `service` unless it is empty.
std::vector<std::pair<std::string, Registration>> visible_registrations(const Overlay& o, const Caller& caller,
                                                                        const std::string& service);

}  // namespace anylb::cp
