// RFC 1071 Internet checksum helpers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace anylb {

// One's-complement sum of 16-bit big-endian words, not yet folded or inverted.
uint32_t checksum_partial(std::span<const std::byte> data, uint32_t sum = 0);

// Folds a partial sum and inverts it: the value to store in a header. Over a
// region that already holds a correct checksum it returns 0.
uint16_t checksum_fold(uint32_t sum);

// The IPv4 header checksum over `len` bytes (a multiple of 4), with 32-bit
// loads: the parser verifies one per packet.
inline uint16_t ipv4_header_checksum(const std::byte* h, std::size_t len) {
  uint64_t sum = 0;
  for (std::size_t i = 0; i < len; i += 4) {
    uint32_t w;
    __builtin_memcpy(&w, h + i, 4);
    sum += w;
  }
  sum = (sum & 0xffffffff) + (sum >> 32);
  sum = (sum & 0xffffffff) + (sum >> 32);
  uint32_t s = static_cast<uint32_t>(sum);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(~s & 0xffff);  // byte order does not matter for a zero test
}

inline uint16_t internet_checksum(std::span<const std::byte> data) {
  return checksum_fold(checksum_partial(data));
}

}  // namespace anylb
