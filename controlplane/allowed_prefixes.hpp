// The prefixes a node may announce (node.allowed_prefixes): a VIP's host
// route and a covering prefix are announced only inside one of them, so a
// mistyped VIP, or one added through the API by whoever can reach it,
// never takes someone else's address space (a hijack). Pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ip_address.hpp"

namespace anylb::cp {

struct Prefix {
  IpAddress network;
  uint32_t length = 0;

  std::string to_string() const;
  bool contains(const IpAddress& a) const;
  bool contains(const Prefix& p) const;  // p is this prefix or a more specific one in it
  friend bool operator==(const Prefix&, const Prefix&) = default;
};

// The host route of an address: /32 or /128.
Prefix host_route(const IpAddress& a);

// "203.0.113.0/24", with no host bits set; else nullopt and `why` says what
// is wrong with it.
std::optional<Prefix> parse_prefix(const std::string& text, std::string& why);

// No node owns a whole /0, and nothing announced from one should be this
// wide: IPv4 /8 (the widest allocation ever made), IPv6 /16.
constexpr uint32_t kShortestV4 = 8;
constexpr uint32_t kShortestV6 = 16;
// "" if `p` is at least that long, else why not.
std::string too_wide(const Prefix& p);

// Whether `p` lies inside one of `allowed` (equal counts).
bool inside(const std::vector<Prefix>& allowed, const Prefix& p);

// "'8.8.8.8' is outside node.allowed_prefixes (203.0.113.0/24): this node
// may not announce it", for a VIP or covering prefix written `what`.
std::string outside_text(const std::string& what, const std::vector<Prefix>& allowed);

}  // namespace anylb::cp
