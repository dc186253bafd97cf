#include "forwarding_state.hpp"

#include <algorithm>
#include <bit>
#include <map>
#include <tuple>

namespace anylb {

AddressEntry& AddressMap::slot_for(const IpAddress& a) {
  uint32_t i = static_cast<uint32_t>(hash(a.bytes, a.family)) & mask_;
  while (slots_[i].used && !(slots_[i].addr == a.bytes && slots_[i].family == a.family)) i = (i + 1) & mask_;
  AddressEntry& e = slots_[i];
  if (!e.used) {
    e.used = true;
    e.addr = a.bytes;
    e.family = a.family;
  }
  return e;
}

void AddressMap::build(const std::vector<ServiceEntry>& services, const std::vector<IpAddress>& node_addresses) {
  // Group services by VIP, sorted so each VIP's run is contiguous.
  std::map<IpAddress, std::vector<ServicePort>> by_vip;
  for (uint32_t id = 1; id < services.size(); ++id) {
    if (!services[id].present) continue;
    const ServiceSpec& s = services[id].spec;
    by_vip[s.vip].push_back(ServicePort{s.proto, s.port, id});
  }
  const std::size_t keys = by_vip.size() + node_addresses.size() + 1;
  slots_.assign(std::bit_ceil(keys * 2), AddressEntry{});  // load <= 1/2
  mask_ = static_cast<uint32_t>(slots_.size() - 1);
  ports_.clear();

  for (auto& [vip, list] : by_vip) {
    std::sort(list.begin(), list.end(), [](const ServicePort& a, const ServicePort& b) {
      return std::tie(a.proto, a.port) < std::tie(b.proto, b.port);
    });
    AddressEntry& e = slot_for(vip);
    e.first = static_cast<uint32_t>(ports_.size());
    e.count = static_cast<uint32_t>(list.size());
    ports_.insert(ports_.end(), list.begin(), list.end());
    // A fragment carries no port: it belongs to the any-port service of its
    // protocol, else to the only port service, else it is ambiguous.
    for (uint8_t proto : {kProtoTcp, kProtoUdp}) {
      uint32_t chosen = 0, seen = 0;
      for (const ServicePort& sp : list) {
        if (sp.proto != proto) continue;
        ++seen;
        if (chosen == 0 || sp.port == kAnyPort) chosen = sp.service_id;
      }
      const bool has_any = seen > 0 && services[chosen].spec.port == kAnyPort;
      (proto == kProtoTcp ? e.fragment_tcp : e.fragment_udp) = seen > 1 && !has_any ? kAmbiguous : chosen;
    }
  }
  for (const IpAddress& a : node_addresses) slot_for(a).node = true;
}

NewIds ids_new_in(const ForwardingState* before, const ForwardingState& after) {
  // Ids present in `now` but not in `was` (null: nothing was).
  const auto added = [](const auto& now, const auto* was) {
    std::vector<uint32_t> ids;
    for (uint32_t id = 1; id < now.size(); ++id)
      if (now[id].present && !(was && id < was->size() && (*was)[id].present)) ids.push_back(id);
    return ids;
  };
  return {added(after.services, before ? &before->services : nullptr),
          added(after.backends, before ? &before->backends : nullptr)};
}

}  // namespace anylb
