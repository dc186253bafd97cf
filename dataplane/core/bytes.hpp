// Big-endian loads and stores on raw packet bytes. Packet code works on
// std::byte buffers (never on mbufs) so GoogleTest can drive it directly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace anylb {

inline uint16_t load_be16(const std::byte* p) {
  return static_cast<uint16_t>((std::to_integer<uint16_t>(p[0]) << 8) | std::to_integer<uint16_t>(p[1]));
}

inline uint32_t load_be32(const std::byte* p) {
  return (std::to_integer<uint32_t>(p[0]) << 24) | (std::to_integer<uint32_t>(p[1]) << 16) |
         (std::to_integer<uint32_t>(p[2]) << 8) | std::to_integer<uint32_t>(p[3]);
}

inline void store_be16(std::byte* p, uint16_t v) {
  p[0] = static_cast<std::byte>(v >> 8);
  p[1] = static_cast<std::byte>(v & 0xff);
}

inline void store_be32(std::byte* p, uint32_t v) {
  p[0] = static_cast<std::byte>(v >> 24);
  p[1] = static_cast<std::byte>((v >> 16) & 0xff);
  p[2] = static_cast<std::byte>((v >> 8) & 0xff);
  p[3] = static_cast<std::byte>(v & 0xff);
}

inline uint8_t load_u8(const std::byte* p) { return std::to_integer<uint8_t>(*p); }

}  // namespace anylb
