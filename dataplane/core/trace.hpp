// Explains the Maglev side of a forwarding decision, for the trace API:
// which slot, which backend owns it, and whether the fallback table decided.
#pragma once

#include <cstdint>

#include "forwarding_state.hpp"

namespace anylb {

struct MaglevChoice {
  uint32_t slot = 0;
  uint32_t primary_id = 0;  // the slot's owner in the table of all backends (0: none)
  uint32_t chosen_id = 0;   // what a new flow gets (0: no usable backend)
  bool fallback = false;    // the owner is not up: the fallback table chose
};

inline MaglevChoice explain_maglev(const ForwardingState& st, uint32_t service_id, uint64_t hash) {
  MaglevChoice c;
  const MaglevPair* m = st.services[service_id].maglev.get();
  c.slot = reduce32(static_cast<uint32_t>(hash >> 32), st.maglev_size);
  if (m == nullptr || m->primary.empty() || m->primary[c.slot] == kMaglevNoBackend) return c;
  c.primary_id = m->backend_ids[m->primary[c.slot]];
  if (st.backends[c.primary_id].state == BackendState::up) {
    c.chosen_id = c.primary_id;
    return c;
  }
  c.fallback = true;
  const uint16_t local = m->fallback[c.slot];
  c.chosen_id = local == kMaglevNoBackend ? 0 : m->backend_ids[local];
  return c;
}

}  // namespace anylb
