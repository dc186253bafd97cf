// libFuzzer: anylb-dataplane's options (options.hpp) from an arbitrary
// command line and config file. parse_options promises a status and, for
// a usage error, a message naming the option; never an exception. A
// command line it accepts holds a valid desired state, which a reload
// (reload_desired_state) of the same command line reads again unchanged.
//
// Input: the command line's words separated by NUL bytes; after the first
// 0xff byte, a config file the harness passes as --config. Every '/' in a
// word becomes '_', so no word names a file elsewhere (a fuzzed
// --config=/dev/zero would never end).
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "options.hpp"
#include "state_file.hpp"

#include "fuzz_check.hpp"

namespace {

// The config file, in memory, named by /proc/self/fd/N.
int config_fd() {
  static const int fd = memfd_create("anylb-options-fuzz", 0);
  FUZZ_CHECK(fd >= 0);
  return fd;
}

void write_config(const char* data, std::size_t size) {
  const int fd = config_fd();
  FUZZ_CHECK(ftruncate(fd, 0) == 0);
  FUZZ_CHECK(pwrite(fd, data, size, 0) == static_cast<ssize_t>(size));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  using namespace anylb;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::size_t split = input.find('\xff');
  std::vector<std::string> words = {"anylb-dataplane"};
  const std::string line = input.substr(0, split);
  for (std::size_t at = 0; at <= line.size();) {
    std::size_t end = line.find('\0', at);
    if (end == std::string::npos) end = line.size();
    std::string w = line.substr(at, end - at);
    for (char& c : w)
      if (c == '/') c = '_';
    if (!w.empty()) words.push_back(w);
    at = end + 1;
  }
  if (split != std::string::npos) {
    write_config(input.data() + split + 1, size - split - 1);
    words.push_back("--config");
    words.push_back("/proc/self/fd/" + std::to_string(config_fd()));
  }
  std::vector<const char*> argv;
  for (const std::string& w : words) argv.push_back(w.c_str());
  argv.push_back(nullptr);
  const int argc = static_cast<int>(words.size());

  DataplaneOptions o;
  const ParseResult r = parse_options(argc, argv.data(), o);
  if (r.status == ParseResult::Status::usage_error) {
    FUZZ_CHECK(!r.message.empty());
    return 0;
  }
  if (r.status != ParseResult::Status::run) return 0;  // --help
  FUZZ_CHECK(validate_desired_state(o.state).empty());
  FUZZ_CHECK(o.mtu <= kMaxMtu);
  DesiredState reloaded;
  const ParseResult again = reload_desired_state(argc, argv.data(), reloaded);
  FUZZ_CHECK(again.status == ParseResult::Status::run);
  FUZZ_CHECK(desired_state_to_json(reloaded, 1) == desired_state_to_json(o.state, 1));
  return 0;
}
