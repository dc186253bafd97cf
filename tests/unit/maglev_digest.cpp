// Prints a digest of the Maglev table built from the backends on the command
// line, so that tests can compare tables built by separate processes (every
// node must build the same one, whatever order its backends are listed in).
//
//   maglev_digest [--size M] BACKEND...
//   BACKEND: IPV4[:WEIGHT] | [IPV6][:WEIGHT] | IPV6      (weight default 100)
//
// Output, one line:  size=M backends=N digest=<16 hex digits>
// The digest is 64-bit FNV-1a over each slot's owner address (family byte
// and 16 address bytes; 0xff for a slot without owner), in slot order: it
// depends on who owns each slot, not on the owners' indexes.
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "maglev.hpp"

namespace {

using anylb::IpAddress;
using anylb::MaglevBackend;

std::optional<uint32_t> parse_number(std::string_view s) {
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<MaglevBackend> parse_backend(std::string_view arg) {
  std::string_view address = arg, weight = "100";
  if (!arg.empty() && arg.front() == '[') {  // [IPv6]:weight
    const std::size_t close = arg.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    address = arg.substr(1, close - 1);
    std::string_view rest = arg.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      weight = rest.substr(1);
    }
  } else if (!IpAddress::parse(arg)) {  // not a bare address: ADDRESS:WEIGHT
    const std::size_t colon = arg.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    address = arg.substr(0, colon);
    weight = arg.substr(colon + 1);
  }
  const auto a = IpAddress::parse(address);
  const auto w = parse_number(weight);
  if (!a || !w) return std::nullopt;
  return MaglevBackend{*a, *w};
}

uint64_t fnv1a(uint64_t h, uint8_t byte) { return (h ^ byte) * 0x100000001b3ULL; }

int usage(const char* why, std::string_view what) {
  std::fprintf(stderr, "maglev_digest: %s '%.*s'\nusage: maglev_digest [--size M] ADDR[:WEIGHT]...\n", why,
               static_cast<int>(what.size()), what.data());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  uint32_t size = anylb::kMaglevDefaultSize;
  std::vector<MaglevBackend> backends;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--size") {
      if (i + 1 == argc) return usage("missing value for", arg);
      const auto m = parse_number(argv[++i]);
      if (!m || !anylb::is_prime(*m) || *m > anylb::kMaglevMaxSize) return usage("size is not a prime up to 16777213:", argv[i]);
      size = *m;
    } else if (auto b = parse_backend(arg)) {
      backends.push_back(*b);
    } else {
      return usage("not a backend:", arg);
    }
  }
  if (backends.size() > anylb::kMaglevMaxBackends) return usage("too many backends:", std::to_string(backends.size()));

  const std::vector<uint16_t> table = anylb::build_maglev_table(backends, size);
  uint64_t h = 0xcbf29ce484222325ULL;
  for (uint16_t owner : table) {
    if (owner == anylb::kMaglevNoBackend) {
      h = fnv1a(h, 0xff);
      continue;
    }
    const IpAddress& a = backends[owner].address;
    h = fnv1a(h, static_cast<uint8_t>(a.family));
    for (std::byte b : a.bytes) h = fnv1a(h, std::to_integer<uint8_t>(b));
  }
  std::printf("size=%u backends=%zu digest=%016llx\n", size, backends.size(), static_cast<unsigned long long>(h));
  return 0;
}
