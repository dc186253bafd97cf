// The immutable snapshot the workers read: services, their Maglev tables,
// backends, and the node's addresses. Built off the hot path by the control
// thread (state_builder), published with RCU, never modified once published.
//
// Flat tables indexed by id, id 0 = none: a zeroed entry fails safe.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "desired_state.hpp"
#include "flow_key.hpp"
#include "maglev.hpp"

namespace anylb {

// A service's two Maglev tables (values are indexes into backend_ids).
// `primary` is built from every configured backend; `fallback` from those that
// are up. A slot whose primary backend is not up takes its fallback entry, so
// a backend going down or draining moves exactly its own slots, and both
// tables stay a pure function of the backend set and states.
struct MaglevPair {
  std::vector<uint16_t> primary;
  std::vector<uint16_t> fallback;
  std::vector<uint32_t> backend_ids;  // local index -> backend id
};

struct ServiceEntry {
  bool present = false;
  ServiceSpec spec;
  std::shared_ptr<const MaglevPair> maglev;
};

struct BackendEntry {
  bool present = false;
  BackendState state = BackendState::down;
  uint32_t service_id = 0;
  IpAddress address;
  MacAddress mac;
};

// Open-addressed lookup from (address, protocol, port) to ids. Besides exact
// service keys it holds "is a VIP", "is a node address" and the service a
// fragment to (VIP, protocol) belongs to, so one probe sequence answers each.
class ServiceMap {
 public:
  enum class Kind : uint8_t { service = 1, vip = 2, node = 3, fragment = 4 };
  static constexpr uint32_t kAmbiguous = 0xffffffff;

  void build(const std::vector<ServiceEntry>& services, const std::vector<IpAddress>& node_addresses);
  // 0 if absent.
  uint32_t find(Kind kind, const std::array<std::byte, 16>& addr, IpFamily family, uint8_t proto,
                uint16_t port) const;

 private:
  struct Slot {
    std::array<std::byte, 16> addr{};
    uint16_t port = 0;
    uint8_t proto = 0;
    Kind kind{};
    IpFamily family{};
    uint32_t value = 0;  // 0 = empty slot
  };
  void put(Kind kind, const IpAddress& a, uint8_t proto, uint16_t port, uint32_t value);
  static uint64_t hash(Kind kind, const std::array<std::byte, 16>& addr, uint8_t proto, uint16_t port);
  std::vector<Slot> slots_;
  uint32_t mask_ = 0;
};

struct ForwardingState {
  uint64_t generation = 0;
  std::vector<ServiceEntry> services;  // by service id
  std::vector<BackendEntry> backends;  // by backend id
  ServiceMap map;
  IpAddress encap_source_v4;  // first node address of each family: outer source
  IpAddress encap_source_v6;
  bool has_source_v4 = false;
  bool has_source_v6 = false;
  uint32_t maglev_size = kMaglevDefaultSize;

  // The service for a flow: exact port first, then the any-port service.
  uint32_t service_for(const FlowKey& k) const {
    uint32_t id = map.find(ServiceMap::Kind::service, k.dst, k.family, k.proto, k.dst_port);
    return id != 0 ? id : map.find(ServiceMap::Kind::service, k.dst, k.family, k.proto, kAnyPort);
  }
  bool is_vip(const FlowKey& k) const { return map.find(ServiceMap::Kind::vip, k.dst, k.family, 0, 0) != 0; }
  bool is_node_address(const FlowKey& k) const {
    return map.find(ServiceMap::Kind::node, k.dst, k.family, 0, 0) != 0;
  }
};

}  // namespace anylb
