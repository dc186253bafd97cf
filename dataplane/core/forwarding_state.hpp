// The immutable snapshot the workers read: services, their Maglev tables,
// backends, and the node's addresses. Built off the hot path by the control
// thread (state_builder), published with RCU, never modified once published.
//
// Flat tables indexed by id, id 0 = none: a zeroed entry fails safe.
#pragma once

#include <algorithm>

#include <cstdint>
#include <cstring>
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
  // Whether a flow of `service_id` pinned here stays: draining keeps its
  // flows; down, gone or now another service's loses them.
  bool keeps_flows_of(uint32_t service_id_) const {
    return present && service_id == service_id_ && state != BackendState::down;
  }
};

// What a destination address is to this node: found with one hash probe per
// packet. A VIP's services sit in a small sorted run of (protocol, port) ->
// service id, the any-port service (port 0) first within its protocol.
struct ServicePort {
  uint8_t proto = 0;
  uint16_t port = 0;
  uint32_t service_id = 0;
};

struct AddressEntry {
  std::array<std::byte, 16> addr{};
  IpFamily family = IpFamily::v4;
  bool used = false;
  bool node = false;         // one of the node's own addresses
  uint32_t first = 0;        // into AddressMap's ServicePort run
  uint32_t count = 0;
  uint32_t fragment_tcp = 0; // service a TCP fragment belongs to; kAmbiguous if several could
  uint32_t fragment_udp = 0;
};

inline constexpr uint32_t kAmbiguous = 0xffffffff;

// The service a fragment to address `e` belongs to (0: none, or
// kAmbiguous), by the protocol its Fragment header or IPv4 header names.
// An IPv6 fragment naming Destination Options names no protocol: that
// header may follow the Fragment header (RFC 8200 4.1), so the protocol is
// in the first fragment only, and every fragment of the datagram must go
// alike. It goes to the address's one fragment service, TCP or UDP;
// ambiguous if it has both.
inline uint32_t fragment_service(const AddressEntry& e, uint8_t proto, IpFamily family) {
  if (proto == kProtoTcp) return e.fragment_tcp;
  if (proto == kProtoUdp) return e.fragment_udp;
  if (proto != kProtoIpv6DestOpts || family != IpFamily::v6) return 0;  // IPv4 protocol 60 is no header of ours
  if (e.fragment_tcp == 0) return e.fragment_udp;
  if (e.fragment_udp == 0) return e.fragment_tcp;
  return kAmbiguous;
}

class AddressMap {
 public:
  void build(const std::vector<ServiceEntry>& services, const std::vector<IpAddress>& node_addresses);

  const AddressEntry* find(const std::array<std::byte, 16>& addr, IpFamily family) const {
    uint32_t i = static_cast<uint32_t>(hash(addr, family)) & mask_;
    for (;;) {
      const AddressEntry& e = slots_[i];
      if (!e.used) return nullptr;
      if (std::memcmp(e.addr.data(), addr.data(), 16) == 0 && e.family == family) return &e;
      i = (i + 1) & mask_;
    }
  }

  // The service for (proto, port) on a VIP: exact port first, else any-port; 0 if none.
  uint32_t service(const AddressEntry& e, uint8_t proto, uint16_t port) const {
    uint32_t any = 0;
    for (uint32_t i = e.first; i < e.first + e.count; ++i) {
      const ServicePort& sp = ports_[i];
      if (sp.proto != proto) continue;
      if (sp.port == port) return sp.service_id;
      if (sp.port == kAnyPort) any = sp.service_id;
    }
    return any;
  }

 private:
  static uint64_t hash(const std::array<std::byte, 16>& addr, IpFamily family) {
    uint64_t h = mix64(load_word(addr.data()) ^ 0x7f4a7c15ULL);
    return family == IpFamily::v4 ? h : hash_combine(h, load_word(addr.data() + 8));
  }
  AddressEntry& slot_for(const IpAddress& a);

  std::vector<AddressEntry> slots_;
  std::vector<ServicePort> ports_;
  uint32_t mask_ = 0;
};

struct ForwardingState {
  uint64_t generation = 0;
  std::vector<ServiceEntry> services;  // by service id
  std::vector<BackendEntry> backends;  // by backend id
  AddressMap addresses;
  IpAddress encap_source_v4;  // first node address of each family: outer source
  IpAddress encap_source_v6;
  bool has_source_v4 = false;
  bool has_source_v6 = false;
  uint32_t maglev_size = kMaglevDefaultSize;
  // Every backend's address, sorted: the exception path's policer gives
  // their replies (health checks) a bucket of their own.
  std::vector<IpAddress> backend_addresses;
  bool is_backend(const IpAddress& a) const {
    return std::binary_search(backend_addresses.begin(), backend_addresses.end(), a);
  }
  // The node's BGP peers, sorted: only their port-179 traffic is policed
  // as BGP. None: the peers are not known, and any source may be one.
  std::vector<IpAddress> bgp_peers;
  bool may_be_bgp_peer(const IpAddress& a) const {
    return bgp_peers.empty() || std::binary_search(bgp_peers.begin(), bgp_peers.end(), a);
  }
  // Peers configured for GTSM, sorted: their BGP counts as such only with
  // TTL / hop limit 255.
  std::vector<IpAddress> gtsm_peers;
  bool is_gtsm_peer(const IpAddress& a) const {
    return std::binary_search(gtsm_peers.begin(), gtsm_peers.end(), a);
  }
  // The health probes' source ports: a backend's packet to another port is
  // no probe's reply. Any: not known.
  PortRange probe_ports;
};

// Ids present in `after` but not in `before` (null: none were): fresh, or
// reused after their quarantine. The per-lcore counters of a reused id
// still hold what its previous owner counted; the dataplane zeroes them
// before it publishes `after`.
struct NewIds {
  std::vector<uint32_t> services;
  std::vector<uint32_t> backends;
};
NewIds ids_new_in(const ForwardingState* before, const ForwardingState& after);

}  // namespace anylb
