#include "state_builder.hpp"

#include <algorithm>
#include <set>

namespace anylb {

uint32_t IdAllocator::allocate(uint64_t now_ms) {
  if (!released_.empty() && released_.front().second + quarantine_ms_ <= now_ms) {
    uint32_t id = released_.front().first;
    released_.erase(released_.begin());
    return id;
  }
  return next_ <= max_id_ ? next_++ : 0;
}

StateBuilder::StateBuilder(StateLimits limits)
    : limits_(limits),
      ids_{IdAllocator(limits.max_services, limits.id_quarantine_ms),
           IdAllocator(limits.max_backends, limits.id_quarantine_ms), {}, {}} {}

namespace {

std::shared_ptr<const MaglevPair> build_tables(const std::vector<MaglevBackend>& all,
                                               const std::vector<BackendState>& states,
                                               std::vector<uint32_t> ids, uint32_t size) {
  auto pair = std::make_shared<MaglevPair>();
  pair->primary = build_maglev_table(all, size);
  std::vector<MaglevBackend> up;
  std::vector<uint16_t> up_local;  // index in `up` -> index in `all`
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (states[i] != BackendState::up) continue;
    up.push_back(all[i]);
    up_local.push_back(static_cast<uint16_t>(i));
  }
  pair->fallback = build_maglev_table(up, size);
  for (uint16_t& v : pair->fallback)
    if (v != kMaglevNoBackend) v = up_local[v];
  pair->backend_ids = std::move(ids);
  return pair;
}

}  // namespace

std::unique_ptr<ForwardingState> StateBuilder::build(const DesiredState& state, uint64_t generation,
                                                     uint64_t now_ms, std::string& error) {
  auto prepared = prepare(state, generation, now_ms, error);
  return prepared ? commit(std::move(*prepared)) : nullptr;
}

std::unique_ptr<ForwardingState> StateBuilder::commit(Prepared&& prepared) {
  ids_ = std::move(prepared.ids);
  maglev_cache_ = std::move(prepared.cache);
  return std::move(prepared.state);
}

std::unique_ptr<StateBuilder::Prepared> StateBuilder::prepare(const DesiredState& state, uint64_t generation,
                                                              uint64_t now_ms, std::string& error) const {
  std::unique_ptr<Prepared> out(new Prepared(ids_));  // a copy of the ids: committed only by commit()
  Ids& ids = out->ids;
  auto st = std::make_unique<ForwardingState>();
  st->generation = generation;
  st->maglev_size = limits_.maglev_size;
  st->services.resize(limits_.max_services + 1);
  st->backends.resize(limits_.max_backends + 1);

  std::map<std::string, uint32_t> id_by_name;
  std::set<ServiceKey> live_services;
  for (const ServiceSpec& s : state.services) {
    ServiceKey key{s.vip, s.proto, s.port};
    live_services.insert(key);
    auto [it, fresh] = ids.service_ids.emplace(key, 0);
    if (fresh && (it->second = ids.services.allocate(now_ms)) == 0) {
      error = "service '" + s.name + "': no free service id (--max-services " + std::to_string(limits_.max_services) +
              "; a removed one's id is held for twice the longest flow timeout)";
      return nullptr;
    }
    st->services[it->second] = ServiceEntry{true, s, nullptr};
    id_by_name[s.name] = it->second;
  }

  std::set<BackendKey> live_backends;
  std::map<uint32_t, std::vector<const BackendSpec*>> by_service;
  for (const BackendSpec& b : state.backends) {
    const uint32_t sid = id_by_name.at(b.service);
    const ServiceSpec& s = st->services[sid].spec;
    BackendKey key{{s.vip, s.proto, s.port}, b.address};
    live_backends.insert(key);
    auto [it, fresh] = ids.backend_ids.emplace(key, 0);
    if (fresh && (it->second = ids.backends.allocate(now_ms)) == 0) {
      error = "backend " + b.address.to_string() + " of '" + b.service + "': no free backend id (--max-backends " +
              std::to_string(limits_.max_backends) + "; a removed one's id is held for twice the longest flow timeout)";
      return nullptr;
    }
    st->backends[it->second] = BackendEntry{true, b.state, sid, b.address, b.mac};
    by_service[sid].push_back(&b);
  }

  // Release ids of whatever disappeared (quarantined before reuse).
  for (auto it = ids.backend_ids.begin(); it != ids.backend_ids.end();) {
    if (live_backends.count(it->first)) { ++it; continue; }
    ids.backends.release(it->second, now_ms);
    it = ids.backend_ids.erase(it);
  }
  for (auto it = ids.service_ids.begin(); it != ids.service_ids.end();) {
    if (live_services.count(it->first)) { ++it; continue; }
    ids.services.release(it->second, now_ms);
    it = ids.service_ids.erase(it);
  }

  std::map<uint32_t, CachedTables>& cache = out->cache;
  for (uint32_t sid = 1; sid < st->services.size(); ++sid) {
    ServiceEntry& svc = st->services[sid];
    if (!svc.present) continue;
    std::vector<const BackendSpec*> members = by_service[sid];
    std::sort(members.begin(), members.end(),
              [](const BackendSpec* a, const BackendSpec* b) { return a->address < b->address; });
    CachedTables entry;
    std::vector<MaglevBackend> all;
    std::vector<BackendState> states;
    std::vector<uint32_t> bids;
    for (const BackendSpec* b : members) {
      const uint32_t bid = ids.backend_ids.at({{svc.spec.vip, svc.spec.proto, svc.spec.port}, b->address});
      entry.fingerprint.emplace_back(b->address, b->weight, b->state, bid);
      all.push_back({b->address, b->weight});
      states.push_back(b->state);
      bids.push_back(bid);
    }
    auto old = maglev_cache_.find(sid);
    entry.tables = old != maglev_cache_.end() && old->second.fingerprint == entry.fingerprint
                       ? old->second.tables
                       : build_tables(all, states, std::move(bids), limits_.maglev_size);
    svc.maglev = entry.tables;
    cache.emplace(sid, std::move(entry));
  }

  bool have4 = false, have6 = false;
  for (const IpAddress& a : state.node_addresses) {
    if (a.is_v4() && !have4) { st->encap_source_v4 = a; have4 = true; }
    if (!a.is_v4() && !have6) { st->encap_source_v6 = a; have6 = true; }
  }
  st->has_source_v4 = have4;
  st->has_source_v6 = have6;
  st->addresses.build(st->services, state.node_addresses);
  for (const BackendSpec& b : state.backends) st->backend_addresses.push_back(b.address);
  std::sort(st->backend_addresses.begin(), st->backend_addresses.end());
  st->backend_addresses.erase(std::unique(st->backend_addresses.begin(), st->backend_addresses.end()),
                              st->backend_addresses.end());
  st->bgp_peers = state.bgp_peers;
  std::sort(st->bgp_peers.begin(), st->bgp_peers.end());
  st->bgp_peers.erase(std::unique(st->bgp_peers.begin(), st->bgp_peers.end()), st->bgp_peers.end());
  st->gtsm_peers = state.gtsm_peers;
  std::sort(st->gtsm_peers.begin(), st->gtsm_peers.end());
  st->gtsm_peers.erase(std::unique(st->gtsm_peers.begin(), st->gtsm_peers.end()), st->gtsm_peers.end());
  st->probe_ports = state.probe_ports;

  out->state = std::move(st);
  return out;
}

}  // namespace anylb
