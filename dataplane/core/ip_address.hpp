// IPv4/IPv6 and MAC addresses as plain values, with parsing and formatting.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace anylb {

enum class IpFamily : uint8_t { v4 = 4, v6 = 6 };

// An address of either family. IPv4 is kept in the first 4 bytes, the rest
// zero, so comparisons and hashing see one layout.
struct IpAddress {
  std::array<std::byte, 16> bytes{};
  IpFamily family = IpFamily::v4;

  static IpAddress v4(const std::byte* p);
  static IpAddress v6(const std::byte* p);
  static std::optional<IpAddress> parse(std::string_view text);

  bool is_v4() const { return family == IpFamily::v4; }
  std::size_t size() const { return is_v4() ? 4 : 16; }
  std::string to_string() const;

  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
  friend bool operator==(const IpAddress&, const IpAddress&) = default;
};

// The network of `a`/`length`: `a` with every bit past the first `length`
// cleared (length at most 32 or 128).
IpAddress prefix_network(const IpAddress& a, uint32_t length);

struct MacAddress {
  std::array<std::byte, 6> bytes{};

  static std::optional<MacAddress> parse(std::string_view text);
  bool is_zero() const { return *this == MacAddress{}; }
  std::string to_string() const;

  friend bool operator==(const MacAddress&, const MacAddress&) = default;
};

}  // namespace anylb
