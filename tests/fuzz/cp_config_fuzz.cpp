// libFuzzer: the control plane's YAML loader (controlplane/config.hpp) on
// arbitrary text. load_config promises a ConfigError naming the file, the
// line and the key for whatever is wrong; any other exception escaping it
// (a yaml-cpp conversion, an out_of_range) reaches std::terminate here, a
// crash. The text is a file in memory (memfd), named by /proc/self/fd/N,
// as load_config reads a path.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "config.hpp"

#include "fuzz_check.hpp"

namespace {

int config_fd() {
  static const int fd = memfd_create("anylb-cp-config-fuzz", 0);
  FUZZ_CHECK(fd >= 0);
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const int fd = config_fd();
  FUZZ_CHECK(ftruncate(fd, 0) == 0);
  FUZZ_CHECK(pwrite(fd, data, size, 0) == static_cast<ssize_t>(size));
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    const anylb::cp::ControlConfig c = anylb::cp::load_config(path);
    FUZZ_CHECK(c.file == path);
  } catch (const anylb::cp::ConfigError& e) {
    const std::string what = e.what();
    FUZZ_CHECK(what.rfind(path, 0) == 0);  // names the file first
  }
  return 0;
}
