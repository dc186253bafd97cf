// Desired states for the tests that drive StateBuilder and Pipeline.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "desired_state.hpp"
#include "forwarding_state.hpp"
#include "frame_builder.hpp"
#include "maglev.hpp"

namespace anylb::test {

// The i-th backend address: 198.18.1.10, 198.18.1.11, ... (lab range),
// 200 per /24 so that 1000 backends fit.
inline std::string backend_address(std::size_t i) {
  return "198.18." + std::to_string(1 + i / 200) + "." + std::to_string(10 + i % 200);
}

// A MAC derived from the address, so a test can tell backends apart by MAC.
inline MacAddress backend_mac(const IpAddress& a) {
  MacAddress m;
  m.bytes[0] = std::byte{0x02};
  for (std::size_t i = 0; i < 4; ++i) m.bytes[2 + i] = a.bytes[a.size() - 4 + i];
  return m;
}

inline ServiceSpec service(std::string name, std::string_view vip = kVip4, uint16_t port = 80,
                           ForwardingMode mode = ForwardingMode::l2_dsr,
                           FragmentPolicy fragments = FragmentPolicy::drop, uint8_t proto = kProtoTcp) {
  ServiceSpec s;
  s.name = std::move(name);
  s.vip = ip(vip);
  s.port = port;
  s.proto = proto;
  s.mode = mode;
  s.fragments = fragments;
  return s;
}

inline BackendSpec backend(std::string service_name, std::string_view address,
                           BackendState state = BackendState::up, uint32_t weight = 100) {
  BackendSpec b;
  b.service = std::move(service_name);
  b.address = ip(address);
  b.mac = backend_mac(b.address);
  b.weight = weight;
  b.state = state;
  return b;
}

// One service "web" (tcp/80 on kVip4) with backends 0..n-1, all up, and the
// node addresses kNode4 and kNode6.
inline DesiredState web_state(std::size_t n, ForwardingMode mode = ForwardingMode::l2_dsr) {
  DesiredState s;
  s.node_addresses = {ip(kNode4), ip(kNode6)};
  s.services.push_back(service("web", kVip4, 80, mode));
  for (std::size_t i = 0; i < n; ++i) s.backends.push_back(backend("web", backend_address(i)));
  return s;
}

inline BackendSpec* find_backend(DesiredState& s, std::string_view address) {
  for (BackendSpec& b : s.backends)
    if (b.address == ip(address)) return &b;
  return nullptr;
}

// Ids by what they name, read from the snapshot's flat tables (0 = none).
inline uint32_t service_id(const ForwardingState& st, std::string_view name) {
  for (uint32_t id = 1; id < st.services.size(); ++id)
    if (st.services[id].present && st.services[id].spec.name == name) return id;
  return 0;
}

inline uint32_t backend_id(const ForwardingState& st, uint32_t service, std::string_view address) {
  for (uint32_t id = 1; id < st.backends.size(); ++id)
    if (st.backends[id].present && st.backends[id].service_id == service && st.backends[id].address == ip(address))
      return id;
  return 0;
}

// A flow hash whose Maglev slot (reduce32 of its upper half, as
// Pipeline::pick_backend computes it) is `slot`, so a test can ask for
// the backend of every slot in turn.
inline uint64_t hash_for_slot(uint32_t slot, uint32_t size) {
  const uint64_t upper = ((uint64_t{slot} << 32) + size - 1) / size;  // ceil(slot * 2^32 / size)
  return upper << 32;
}

}  // namespace anylb::test
