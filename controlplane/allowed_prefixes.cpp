#include "allowed_prefixes.hpp"

#include <charconv>

namespace anylb::cp {

std::string Prefix::to_string() const { return network.to_string() + "/" + std::to_string(length); }

bool Prefix::contains(const IpAddress& a) const {
  return a.is_v4() == network.is_v4() && prefix_network(a, length) == network;
}

bool Prefix::contains(const Prefix& p) const { return p.length >= length && contains(p.network); }

Prefix host_route(const IpAddress& a) { return {a, a.is_v4() ? 32u : 128u}; }

std::optional<Prefix> parse_prefix(const std::string& text, std::string& why) {
  const auto slash = text.find('/');
  const auto a = IpAddress::parse(std::string_view(text).substr(0, slash));
  uint32_t len = 0;
  const char* end = text.data() + text.size();
  const auto parsed = slash == std::string::npos ? std::from_chars_result{end, std::errc::invalid_argument}
                                                 : std::from_chars(text.data() + slash + 1, end, len);
  if (slash == std::string::npos || !a || parsed.ec != std::errc() || parsed.ptr != end ||
      len > (a->is_v4() ? 32u : 128u)) {
    why = "'" + text + "' is not a prefix like 203.0.113.0/24";
    return std::nullopt;
  }
  // Host bits set: gobgpd would announce the network, and the node would
  // not know the path it finds as its own (as BIRD, refuse it).
  const IpAddress network = prefix_network(*a, len);
  if (network != *a) {
    why = "'" + text + "' has host bits set: the network is " + network.to_string() + "/" + std::to_string(len);
    return std::nullopt;
  }
  return Prefix{*a, len};
}

std::string too_wide(const Prefix& p) {
  const uint32_t shortest = p.network.is_v4() ? kShortestV4 : kShortestV6;
  if (p.length >= shortest) return "";
  return "'" + p.to_string() + "' is wider than /" + std::to_string(shortest) + ": no node announces that much (" +
         (p.network.is_v4() ? "IPv4" : "IPv6") + " prefixes from /" + std::to_string(shortest) + ")";
}

bool inside(const std::vector<Prefix>& allowed, const Prefix& p) {
  for (const Prefix& a : allowed)
    if (a.contains(p)) return true;
  return false;
}

std::string outside_text(const std::string& what, const std::vector<Prefix>& allowed) {
  std::string list;
  for (const Prefix& p : allowed) list += (list.empty() ? "" : ", ") + p.to_string();
  return "'" + what + "' is outside node.allowed_prefixes (" + (list.empty() ? "none" : list) +
         "): this node may not announce it";
}

}  // namespace anylb::cp
