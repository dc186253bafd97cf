#include "unix_socket_path.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace anylb {

void clear_socket_path(const std::string& path, const std::string& what) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path)
    throw std::runtime_error(what + ": '" + path + "' is longer than a socket path may be (" +
                             std::to_string(sizeof addr.sun_path - 1) + " bytes)");
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return;
  if (!S_ISSOCK(st.st_mode)) throw std::runtime_error(what + ": '" + path + "' exists and is not a socket");
  // Connecting tells a live socket from a stale one: only a listener accepts.
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const bool live = fd >= 0 && ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  if (fd >= 0) ::close(fd);
  if (live)
    throw std::runtime_error(what + ": '" + path +
                             "' is in use by a running process (another daemon on the same path?); not started");
  ::unlink(path.c_str());  // stale
}

}  // namespace anylb
