// Maglev consistent hashing (Eisenbud et al., NSDI 2016), weighted.
//
// The table depends only on the set of backends (identity = address) and
// their weights: never on the order they are listed in, nor on the node.
// Backends are sorted by address before the permutations are walked, and the
// permutation of each comes from a fixed hash of its address.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ip_address.hpp"

namespace anylb {

inline constexpr uint32_t kMaglevDefaultSize = 65537;
inline constexpr uint32_t kMaglevMaxSize = 16777213;  // largest prime below 2^24
inline constexpr uint16_t kMaglevNoBackend = 0xffff;
inline constexpr std::size_t kMaglevMaxBackends = 0xfffe;

struct MaglevBackend {
  IpAddress address;
  uint32_t weight = 1;  // 0: takes no slot
};

bool is_prime(uint32_t n);

// Builds a table of `size` slots (size must be prime). Each slot holds an index
// into `backends`, or kMaglevNoBackend when no backend has a positive weight.
std::vector<uint16_t> build_maglev_table(std::span<const MaglevBackend> backends, uint32_t size);

// Slots whose owner differs between two tables of the same size, where owners
// are compared by address (tables index different backend lists).
std::size_t maglev_changed_slots(std::span<const uint16_t> a, std::span<const MaglevBackend> a_backends,
                                 std::span<const uint16_t> b, std::span<const MaglevBackend> b_backends);

}  // namespace anylb
