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

inline uint16_t internet_checksum(std::span<const std::byte> data) {
  return checksum_fold(checksum_partial(data));
}

}  // namespace anylb
