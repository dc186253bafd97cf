#include "ip_address.hpp"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

namespace anylb {

IpAddress IpAddress::v4(const std::byte* p) {
  IpAddress a;
  std::memcpy(a.bytes.data(), p, 4);
  a.family = IpFamily::v4;
  return a;
}

IpAddress IpAddress::v6(const std::byte* p) {
  IpAddress a;
  std::memcpy(a.bytes.data(), p, 16);
  a.family = IpFamily::v6;
  return a;
}

IpAddress prefix_network(const IpAddress& a, uint32_t length) {
  IpAddress n = a;
  for (std::size_t i = 0; i < n.size(); ++i) {
    const uint32_t keep = length >= 8 * (i + 1) ? 8 : length > 8 * i ? length - 8 * static_cast<uint32_t>(i) : 0;
    n.bytes[i] &= static_cast<std::byte>(0xff00u >> keep);
  }
  return n;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  std::string s(text);
  IpAddress a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    a.family = IpFamily::v4;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
    a.family = IpFamily::v6;
    return a;
  }
  return std::nullopt;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(is_v4() ? AF_INET : AF_INET6, bytes.data(), buf, sizeof buf);
  return buf;
}

std::optional<MacAddress> MacAddress::parse(std::string_view text) {
  MacAddress m;
  if (text.size() != 17) return std::nullopt;
  for (std::size_t i = 0; i < 6; ++i) {
    if (i > 0 && text[i * 3 - 1] != ':') return std::nullopt;
    unsigned v = 0;
    for (std::size_t j = 0; j < 2; ++j) {
      char c = text[i * 3 + j];
      unsigned d;
      if (c >= '0' && c <= '9') d = static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') d = static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') d = static_cast<unsigned>(c - 'A' + 10);
      else return std::nullopt;
      v = v * 16 + d;
    }
    m.bytes[i] = static_cast<std::byte>(v);
  }
  return m;
}

std::string MacAddress::to_string() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x",
                std::to_integer<unsigned>(bytes[0]), std::to_integer<unsigned>(bytes[1]),
                std::to_integer<unsigned>(bytes[2]), std::to_integer<unsigned>(bytes[3]),
                std::to_integer<unsigned>(bytes[4]), std::to_integer<unsigned>(bytes[5]));
  return buf;
}

}  // namespace anylb
