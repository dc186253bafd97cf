#include "maglev.hpp"

#include <algorithm>
#include <functional>
#include <limits>
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
  uint32_t quota = 0;  // slots it gets: floor or ceil of M w / (sum of weights)
  uint32_t taken = 0;
};

Permutation permutation_of(const MaglevBackend& b, uint16_t index, uint32_t size) {
  std::span<const std::byte> id(b.address.bytes.data(), b.address.size());
  const uint64_t offset_hash = hash_bytes(id, 0x6d61676c65764f66ULL);  // fixed seeds: see header
  const uint64_t skip_hash = hash_bytes(id, 0x6d61676c6576536bULL);
  return Permutation{static_cast<uint32_t>(offset_hash % size),
                     static_cast<uint32_t>(skip_hash % (size - 1)) + 1, b.weight, index};
}

// Each backend's slots, by largest remainder: floor(M w / sum) each, and one
// more to as many as the remainder asks, largest fraction first, ties in
// address order. So every backend is within one slot of its exact share
// (invariant 2), however far apart the weights: turns alone gave one backend
// at 10000 among 9999 at 1 its share +8.5%, the light ones' turns coming all
// at once every 10000 rounds. Equal weights: the first M mod N in address
// order get the extra slot, as the last round of turns gives them.
void set_quotas(std::vector<Permutation>& perms, uint64_t total_weight, uint32_t size) {
  std::vector<std::pair<uint64_t, uint32_t>> fractions;  // remainder, perm
  fractions.reserve(perms.size());
  uint64_t given = 0;
  for (uint32_t i = 0; i < perms.size(); ++i) {
    const uint64_t exact = uint64_t{size} * perms[i].weight;  // / total_weight
    perms[i].quota = static_cast<uint32_t>(exact / total_weight);
    given += perms[i].quota;
    fractions.emplace_back(exact % total_weight, i);
  }
  const std::size_t extra = size - given;  // < N
  std::partial_sort(fractions.begin(), fractions.begin() + static_cast<std::ptrdiff_t>(extra), fractions.end(),
                    [](const auto& x, const auto& y) {
                      return x.first != y.first ? x.first > y.first : x.second < y.second;
                    });
  for (std::size_t k = 0; k < extra; ++k) ++perms[fractions[k].second].quota;
}

// Each turn fills the next free slot of the backend's permutation.
void take_turn(Permutation& p, std::vector<uint16_t>& table, uint32_t size) {
  while (table[p.position] != kMaglevNoBackend) {
    p.position += p.skip;
    if (p.position >= size) p.position -= size;
  }
  table[p.position] = p.index;
  ++p.taken;
}

// Turns: round r gives a backend of weight w a turn when floor((r+1)w/W)
// grows (W the largest weight), until it has its quota; within a round, in
// address order. Equal weights: every backend every round, lock-step.
void fill_equal_weights(std::vector<Permutation>& perms, std::vector<uint16_t>& table) {
  const auto size = static_cast<uint32_t>(table.size());
  for (uint32_t filled = 0; filled < size;)
    for (Permutation& p : perms) {
      if (p.taken == p.quota) continue;
      take_turn(p, table, size);
      ++filled;
    }
}

// The same turns taken from a heap ordered by (round, address order):
// O((M + N) log N) whatever the weights, where walking every backend every
// round costs rounds x N (one backend at 10000 among 60000 at 1: seconds).
// A backend's k-th turn (from 0) is in the first round r with (r+1)w >= (k+1)W.
void fill_weighted(std::vector<Permutation>& perms, uint64_t max_weight, std::vector<uint16_t>& table) {
  const auto size = static_cast<uint32_t>(table.size());
  struct Turn {
    uint64_t round;
    uint32_t perm;  // index into perms: address order
    bool operator>(const Turn& o) const { return round != o.round ? round > o.round : perm > o.perm; }
  };
  auto next_round = [&](const Permutation& p) {
    return ((p.taken + uint64_t{1}) * max_weight + p.weight - 1) / p.weight - 1;
  };
  std::vector<Turn> heap;
  heap.reserve(perms.size());
  for (uint32_t i = 0; i < perms.size(); ++i)
    if (perms[i].quota > 0) heap.push_back({next_round(perms[i]), i});
  std::make_heap(heap.begin(), heap.end(), std::greater<>{});
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>{});
    Turn& t = heap.back();
    Permutation& p = perms[t.perm];
    take_turn(p, table, size);
    if (p.taken == p.quota) {
      heap.pop_back();
      continue;
    }
    t.round = next_round(p);
    std::push_heap(heap.begin(), heap.end(), std::greater<>{});
  }
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
  uint64_t max_weight = 0, min_weight = std::numeric_limits<uint64_t>::max(), total_weight = 0;
  for (uint16_t i : order) {
    if (backends[i].weight == 0) continue;
    perms.push_back(permutation_of(backends[i], i, size));
    max_weight = std::max<uint64_t>(max_weight, backends[i].weight);
    min_weight = std::min<uint64_t>(min_weight, backends[i].weight);
    total_weight += backends[i].weight;
  }
  if (perms.empty()) return table;
  set_quotas(perms, total_weight, size);
  if (min_weight == max_weight)
    fill_equal_weights(perms, table);
  else
    fill_weighted(perms, max_weight, table);
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
