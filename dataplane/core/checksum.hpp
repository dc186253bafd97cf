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

// The upper-layer checksum of an IPv6 packet (RFC 8200 8.1): over the
// pseudo-header (the addresses of the header at `ip`, `len`, `next_header`)
// and the `len` bytes at `l4`, whose checksum field must be zero.
uint16_t ipv6_upper_checksum(const std::byte* ip, const std::byte* l4, uint32_t len, uint8_t next_header);

// Whether an IPv4 header of `len` bytes (a multiple of 4) holds a correct
// checksum: its one's-complement sum must be 0xffff. As 2^16 = 1 modulo
// 0xffff, that is: the plain sum of its 32-bit words, in any byte order, is
// a non-zero multiple of 0xffff. Five loads, four adds and a remainder by a
// constant (a multiply): the parser checks one per packet, and the
// folding loop it replaces cost 25 instructions (callgrind).
inline bool ipv4_checksum_ok(const std::byte* h, std::size_t len) {
  uint64_t sum = 0;
  for (std::size_t i = 0; i < len; i += 4) {
    uint32_t w;
    __builtin_memcpy(&w, h + i, 4);
    sum += w;
  }
  return sum != 0 && sum % 0xffff == 0;
}

inline uint16_t internet_checksum(std::span<const std::byte> data) {
  return checksum_fold(checksum_partial(data));
}

}  // namespace anylb
