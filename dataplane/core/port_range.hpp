// A range of ports, as the health probes' source ports: the control plane
// binds its probes there, and the exception path takes a backend's packet
// to one of them for a probe's reply (exception_policer.hpp).
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace anylb {

struct PortRange {
  uint16_t first = 0;  // 0: none given (any port)
  uint16_t last = 0;
  bool any() const { return first == 0; }
  bool contains(uint16_t p) const { return first <= p && p <= last; }
  uint32_t size() const { return any() ? 0 : uint32_t{last} - first + 1; }
  std::string to_string() const {
    return any() ? std::string() : std::to_string(first) + "-" + std::to_string(last);
  }
  friend bool operator==(const PortRange&, const PortRange&) = default;
};

// "FIRST-LAST" (1 <= FIRST <= LAST <= 65535), or "" / "any" for none; on
// error, `why` says what is wrong.
inline std::optional<PortRange> parse_port_range(std::string_view text, std::string& why) {
  if (text.empty() || text == "any") return PortRange{};
  const auto dash = text.find('-');
  auto number = [](std::string_view s) -> std::optional<uint32_t> {
    uint32_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || v == 0 || v > 65535) return std::nullopt;
    return v;
  };
  const auto a = dash == std::string_view::npos ? std::nullopt : number(text.substr(0, dash));
  const auto b = dash == std::string_view::npos ? std::nullopt : number(text.substr(dash + 1));
  if (!a || !b || *a > *b) {
    why = "'" + std::string(text) + "' is not FIRST-LAST (ports 1 to 65535, FIRST <= LAST) nor 'any'";
    return std::nullopt;
  }
  return PortRange{static_cast<uint16_t>(*a), static_cast<uint16_t>(*b)};
}

}  // namespace anylb
