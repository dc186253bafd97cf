// The 5-tuple that pins a flow, and its hash. The hash must be identical on
// every node (ECMP may move a flow to another node, whose Maglev lookup must
// give the same backend), so it is our own function, not the NIC's RSS.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "hash.hpp"
#include "ip_address.hpp"

namespace anylb {

inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kProtoIcmp6 = 58;
inline constexpr uint8_t kProtoIpip = 4;
inline constexpr uint8_t kProtoIpv6 = 41;

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

  // The struct has no padding (pad_ is explicit and zero), so bytes decide;
  // memcmp of a constant 40 compiles to a few vector compares.
  friend bool operator==(const FlowKey& a, const FlowKey& b) { return std::memcmp(&a, &b, sizeof(FlowKey)) == 0; }

  IpAddress src_address() const { return family == IpFamily::v4 ? IpAddress::v4(src.data()) : IpAddress::v6(src.data()); }
  IpAddress dst_address() const { return family == IpFamily::v4 ? IpAddress::v4(dst.data()) : IpAddress::v6(dst.data()); }
};
static_assert(sizeof(FlowKey) == 40);

inline uint64_t load_word(const std::byte* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

// Stable across nodes: fixed seeds, fixed word order, little-endian loads
// (the appliance is x86-64 only).
inline uint64_t flow_hash(const FlowKey& k) {
  const uint64_t ports = (static_cast<uint64_t>(k.src_port) << 32) |
                         (static_cast<uint64_t>(k.dst_port) << 16) | k.proto;
  uint64_t h = 0x5a17b0c3d2e1f4a9ULL;
  if (k.family == IpFamily::v4) {  // both addresses fit one word
    uint32_t src, dst;
    std::memcpy(&src, k.src.data(), 4);
    std::memcpy(&dst, k.dst.data(), 4);
    h = hash_combine(h, (static_cast<uint64_t>(src) << 32) | dst);
  } else {
    h = hash_combine(h, load_word(k.src.data()));
    h = hash_combine(h, load_word(k.dst.data()));
    h = hash_combine(h, load_word(k.src.data() + 8));
    h = hash_combine(h, load_word(k.dst.data() + 8));
  }
  return hash_combine(h, ports);
}

}  // namespace anylb
