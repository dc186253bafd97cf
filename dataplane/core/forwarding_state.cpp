#include "forwarding_state.hpp"

#include <bit>
#include <map>
#include <tuple>

namespace anylb {

uint64_t ServiceMap::hash(Kind kind, const std::array<std::byte, 16>& addr, uint8_t proto, uint16_t port) {
  uint64_t h = hash_combine(static_cast<uint64_t>(kind), load_word(addr.data()));
  h = hash_combine(h, load_word(addr.data() + 8));
  return hash_combine(h, (static_cast<uint64_t>(proto) << 16) | port);
}

void ServiceMap::put(Kind kind, const IpAddress& a, uint8_t proto, uint16_t port, uint32_t value) {
  uint32_t i = static_cast<uint32_t>(hash(kind, a.bytes, proto, port)) & mask_;
  while (slots_[i].value != 0) {
    Slot& s = slots_[i];
    if (s.kind == kind && s.addr == a.bytes && s.family == a.family && s.proto == proto && s.port == port) {
      s.value = value;
      return;
    }
    i = (i + 1) & mask_;
  }
  slots_[i] = Slot{a.bytes, port, proto, kind, a.family, value};
}

void ServiceMap::build(const std::vector<ServiceEntry>& services, const std::vector<IpAddress>& node_addresses) {
  // At most three keys per service plus one per node address, at load <= 1/2.
  const std::size_t keys = services.size() * 3 + node_addresses.size() + 1;
  slots_.assign(std::bit_ceil(keys * 2), Slot{});
  mask_ = static_cast<uint32_t>(slots_.size() - 1);

  std::map<std::tuple<IpAddress, uint8_t>, std::vector<uint32_t>> by_vip_proto;
  for (uint32_t id = 1; id < services.size(); ++id) {
    const ServiceEntry& s = services[id];
    if (!s.present) continue;
    put(Kind::service, s.spec.vip, s.spec.proto, s.spec.port, id);
    put(Kind::vip, s.spec.vip, 0, 0, 1);
    by_vip_proto[{s.spec.vip, s.spec.proto}].push_back(id);
  }
  // A fragment carries no port: it belongs to the any-port service of its
  // VIP and protocol, else to the only port service, else it is ambiguous.
  for (const auto& [vp, ids] : by_vip_proto) {
    uint32_t chosen = ids.size() == 1 ? ids[0] : kAmbiguous;
    for (uint32_t id : ids)
      if (services[id].spec.port == kAnyPort) chosen = id;
    put(Kind::fragment, std::get<0>(vp), std::get<1>(vp), 0, chosen);
  }
  for (const IpAddress& a : node_addresses) put(Kind::node, a, 0, 0, 1);
}

uint32_t ServiceMap::find(Kind kind, const std::array<std::byte, 16>& addr, IpFamily family, uint8_t proto,
                          uint16_t port) const {
  uint32_t i = static_cast<uint32_t>(hash(kind, addr, proto, port)) & mask_;
  for (;;) {
    const Slot& s = slots_[i];
    if (s.value == 0) return 0;
    if (s.kind == kind && s.port == port && s.proto == proto && s.family == family && s.addr == addr)
      return s.value;
    i = (i + 1) & mask_;
  }
}

}  // namespace anylb
