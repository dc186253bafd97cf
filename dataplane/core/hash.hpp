// Deterministic hashing. Every node must compute the same values for the same
// input (Maglev permutations, flow hashes), so nothing here may depend on the
// process, the build's std::hash, or a random seed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace anylb {

// Murmur3's 64-bit finaliser: a full-avalanche mix of one word.
constexpr uint64_t mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// The 128-bit product of two words folded to 64 bits (low half xor high
// half): one multiply, and every bit of either input reaches the output's
// middle bits. Zero if either input is; callers xor in constants that keep
// real inputs away from zero.
__extension__ typedef unsigned __int128 Uint128;  // __extension__: a GCC type, -Wpedantic knows
inline uint64_t fold_multiply(uint64_t a, uint64_t b) {
  const Uint128 r = static_cast<Uint128>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

// Hash of a word sequence with a seed; order-sensitive.
constexpr uint64_t hash_combine(uint64_t h, uint64_t word) {
  return mix64(h ^ (word + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2)));
}

inline uint64_t hash_bytes(std::span<const std::byte> bytes, uint64_t seed) {
  uint64_t h = mix64(seed ^ bytes.size());
  uint64_t word = 0;
  int filled = 0;
  for (std::byte b : bytes) {
    word = (word << 8) | std::to_integer<uint64_t>(b);
    if (++filled == 8) {
      h = hash_combine(h, word);
      word = 0;
      filled = 0;
    }
  }
  if (filled != 0) h = hash_combine(h, word);
  return h;
}

// Maps a 32-bit hash uniformly onto [0, n) without a division (Lemire).
constexpr uint32_t reduce32(uint32_t hash, uint32_t n) {
  return static_cast<uint32_t>((static_cast<uint64_t>(hash) * n) >> 32);
}

}  // namespace anylb
