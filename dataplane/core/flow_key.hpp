// The 5-tuple that pins a flow, and its hash. The hash must be identical on
// every node (ECMP may move a flow to another node, whose Maglev lookup must
// give the same backend), so it is our own function, not the NIC's RSS.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "hash.hpp"
#include "ip_address.hpp"

namespace anylb {

inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIcmp6 = 58;
inline constexpr uint8_t kProtoIpip = 4;
inline constexpr uint8_t kProtoIpv6 = 41;
inline constexpr uint8_t kProtoIpv6DestOpts = 60;  // IPv6 Destination Options header

// 40 bytes; IPv4 addresses sit in the first 4 bytes with the rest zero.
// Fragments use ports 0 (a 3-tuple); real TCP/UDP port 0 is dropped earlier.
struct FlowKey {
  std::array<std::byte, 16> src{};
  std::array<std::byte, 16> dst{};
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
  uint8_t proto = 0;
  IpFamily family = IpFamily::v4;
  uint16_t pad_ = 0;  // keeps the struct free of indeterminate bytes

  // The struct has no padding (pad_ is explicit and zero), so bytes decide:
  // with AVX2 one 32-byte compare and one 8-byte one, without a branch
  // between them (GCC's memcmp of 40 bytes took 15 instructions, callgrind).
  friend bool operator==(const FlowKey& a, const FlowKey& b) {
    uint64_t ta, tb;
    std::memcpy(&ta, reinterpret_cast<const std::byte*>(&a) + 32, 8);
    std::memcpy(&tb, reinterpret_cast<const std::byte*>(&b) + 32, 8);
#if defined(__AVX2__)
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(&a));
    const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(&b));
    const __m256i diff = _mm256_xor_si256(x, y);
    return (static_cast<int>(ta == tb) & _mm256_testz_si256(diff, diff)) != 0;
#else
    return ta == tb && std::memcmp(&a, &b, 32) == 0;
#endif
  }

  IpAddress src_address() const { return family == IpFamily::v4 ? IpAddress::v4(src.data()) : IpAddress::v6(src.data()); }
  IpAddress dst_address() const { return family == IpFamily::v4 ? IpAddress::v4(dst.data()) : IpAddress::v6(dst.data()); }
};
static_assert(sizeof(FlowKey) == 40 && offsetof(FlowKey, dst) == 16 && offsetof(FlowKey, dst_port) == 34 &&
              offsetof(FlowKey, proto) == 36 && offsetof(FlowKey, family) == 37);

// Whether two keys share destination address, destination port, protocol
// and family (bytes 16-31 and 34-37): the packets of one service. Word
// compares: the pipeline's per-burst service memo asks once a packet.
inline bool same_destination(const FlowKey& a, const FlowKey& b) {
  const auto* x = reinterpret_cast<const std::byte*>(&a);
  const auto* y = reinterpret_cast<const std::byte*>(&b);
  uint64_t x0, x1, y0, y1;
  uint32_t xt, yt;
  std::memcpy(&x0, x + 16, 8);
  std::memcpy(&x1, x + 24, 8);
  std::memcpy(&xt, x + 34, 4);
  std::memcpy(&y0, y + 16, 8);
  std::memcpy(&y1, y + 24, 8);
  std::memcpy(&yt, y + 34, 4);
  return ((x0 ^ y0) | (x1 ^ y1) | (xt ^ yt)) == 0;
}

inline uint64_t load_word(const std::byte* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

// Stable across nodes: fixed constants, fixed word order, little-endian
// loads (the appliance is x86-64 only). Multiply-folds rather than mix64
// rounds: an IPv4 key costs two multiplies (was 2 x 2 plus the combines:
// 40 instructions a packet, callgrind), and the final fold spreads every
// key bit over both halves (the low one picks the flow-table bucket, the
// high one the signature and the Maglev slot).
inline uint64_t flow_hash(const FlowKey& k) {
  const uint64_t ports = (static_cast<uint64_t>(k.src_port) << 32) |
                         (static_cast<uint64_t>(k.dst_port) << 16) | k.proto;
  uint64_t addrs;
  if (k.family == IpFamily::v4) {  // both addresses fit one word
    uint32_t src, dst;
    std::memcpy(&src, k.src.data(), 4);
    std::memcpy(&dst, k.dst.data(), 4);
    addrs = (static_cast<uint64_t>(src) << 32) | dst;
  } else {
    addrs = fold_multiply(load_word(k.src.data()) ^ 0x8ebc6af09c88c6e3ULL,
                          load_word(k.src.data() + 8) ^ 0x589965cc75374cc3ULL) ^
            fold_multiply(load_word(k.dst.data()) ^ 0x1d8e4e27c47d124fULL,
                          load_word(k.dst.data() + 8) ^ 0xa0761d6478bd642fULL);
  }
  // The constant's low byte is 0: `addrs` equals it only for a destination
  // in 0.0.0.0/8, never a VIP. `ports` has its top 16 bits clear, the
  // constant's are not: neither factor is ever zero.
  const uint64_t h = fold_multiply(addrs ^ 0xe7037ed1a0b42800ULL, ports ^ 0x5a17b0c3d2e1f4a9ULL);
  return fold_multiply(h ^ 0xd6e8feb86659fd93ULL, 0x9e3779b97f4a7c15ULL);
}

}  // namespace anylb
