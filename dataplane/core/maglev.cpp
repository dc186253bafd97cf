#include "maglev.hpp"

#include <algorithm>
#include <numeric>

#include "hash.hpp"

namespace anylb {

bool is_prime(uint32_t n) {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (uint32_t d = 3; static_cast<uint64_t>(d) * d <= n; d += 2)
    if (n % d == 0) return false;
  return true;
}

namespace {

struct Permutation {
  uint32_t position;  // the next slot this backend would try
  uint32_t skip;
  uint32_t weight;
  uint16_t index;     // into the caller's list
};

Permutation permutation_of(const MaglevBackend& b, uint16_t index, uint32_t size) {
  std::span<const std::byte> id(b.address.bytes.data(), b.address.size());
  const uint64_t offset_hash = hash_bytes(id, 0x6d61676c65764f66ULL);  // fixed seeds: see header
  const uint64_t skip_hash = hash_bytes(id, 0x6d61676c6576536bULL);
  return Permutation{static_cast<uint32_t>(offset_hash % size),
                     static_cast<uint32_t>(skip_hash % (size - 1)) + 1, b.weight, index};
}

}  // namespace

std::vector<uint16_t> build_maglev_table(std::span<const MaglevBackend> backends, uint32_t size) {
  std::vector<uint16_t> table(size, kMaglevNoBackend);
  std::vector<uint16_t> order(backends.size());
  std::iota(order.begin(), order.end(), uint16_t{0});
  std::sort(order.begin(), order.end(),
            [&](uint16_t x, uint16_t y) { return backends[x].address < backends[y].address; });

  std::vector<Permutation> perms;
  perms.reserve(order.size());
  uint64_t max_weight = 0;
  for (uint16_t i : order) {
    if (backends[i].weight == 0) continue;
    perms.push_back(permutation_of(backends[i], i, size));
    max_weight = std::max<uint64_t>(max_weight, backends[i].weight);
  }
  if (perms.empty()) return table;

  // Round r gives a backend of weight w a turn when floor((r+1)w/W) grows, so
  // over R rounds it takes floor(R w / W) turns: shares proportional to weight,
  // and equal weights take turns in lock-step (counts differ by at most one).
  uint32_t filled = 0;
  for (uint64_t round = 0; filled < size; ++round) {
    for (Permutation& p : perms) {
      if ((round + 1) * p.weight / max_weight == round * p.weight / max_weight) continue;
      while (table[p.position] != kMaglevNoBackend) {
        p.position += p.skip;
        if (p.position >= size) p.position -= size;
      }
      table[p.position] = p.index;
      if (++filled == size) break;
    }
  }
  return table;
}

std::size_t maglev_changed_slots(std::span<const uint16_t> a, std::span<const MaglevBackend> a_backends,
                                 std::span<const uint16_t> b, std::span<const MaglevBackend> b_backends) {
  std::size_t changed = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    const bool a_none = a[i] == kMaglevNoBackend;
    const bool b_none = b[i] == kMaglevNoBackend;
    if (a_none || b_none) {
      changed += a_none != b_none;
      continue;
    }
    changed += a_backends[a[i]].address != b_backends[b[i]].address;
  }
  return changed;
}

}  // namespace anylb
