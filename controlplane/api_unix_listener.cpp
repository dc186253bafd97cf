#include "api_unix_listener.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <grpcpp/server_posix.h>
#include <spdlog/spdlog.h>
#include <stdexcept>

#include "unix_socket_path.hpp"

namespace anylb::cp {

void UnixCallers::set(int fd, Caller c) {
  std::lock_guard lock(mu_);
  by_fd_[fd] = std::move(c);  // a number closed and reused: the new connection's
}

std::optional<Caller> UnixCallers::find(const std::string& peer) const {
  if (peer.rfind("fd:", 0) != 0) return std::nullopt;
  int fd = -1;
  try {
    fd = std::stoi(peer.substr(3));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::lock_guard lock(mu_);
  const auto it = by_fd_.find(fd);
  if (it == by_fd_.end()) return std::nullopt;
  return it->second;
}

namespace {

[[noreturn]] void fail(const std::string& key, const std::string& path, const std::string& what) {
  throw std::runtime_error("key '" + key + "': '" + path + "': " + what + ": " + std::strerror(errno));
}

}  // namespace

UnixListener::UnixListener(const std::string& path, std::optional<gid_t> group, Role role, const std::string& key,
                           UnixCallers& callers)
    : path_(path), role_(role), callers_(callers) {
  clear_socket_path(path, "key '" + key + "'");
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) fail(key, path, "socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size());  // its length checked by clear_socket_path
  // The socket file is made 0660 by bind itself (the umask), and its
  // group set before listen(): until then nobody can connect. By path,
  // but never through a symlink planted there (lchown). The umask is the
  // process's: only this thread creates files while a start sets it up
  // (state files set their own mode with fchmod).
  const mode_t umask_before = ::umask(0117);
  const int bound = ::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  ::umask(umask_before);
  if (bound != 0) {
    ::close(fd_);
    fail(key, path, "cannot bind");
  }
  if ((group && ::lchown(path.c_str(), static_cast<uid_t>(-1), *group) != 0) || ::listen(fd_, 64) != 0 ||
      ::pipe2(stop_, O_CLOEXEC) != 0) {
    const int e = errno;
    ::close(fd_);
    ::unlink(path.c_str());
    errno = e;
    fail(key, path, group ? "cannot set its group " + std::to_string(*group) + ", or listen" : "cannot listen");
  }
}

void UnixListener::serve(grpc::Server& server) {
  thread_ = std::thread([this, &server] { accept_loop(server); });
}

void UnixListener::accept_loop(grpc::Server& server) {
  for (;;) {
    pollfd p[2] = {{fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("API socket {}: poll: {}", path_, std::strerror(errno));
      return;
    }
    if (p[1].revents) return;
    const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (c < 0) {
      // Out of fds: the connection stays queued and poll() says so at
      // once; wait for some to close rather than spin a core (a stop
      // still ends the wait).
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        if (!out_of_fds_logged_)
          spdlog::warn("API socket {}: cannot accept: {}; retrying every 100 ms", path_, std::strerror(errno));
        out_of_fds_logged_ = true;
        pollfd s{stop_[0], POLLIN, 0};
        if (::poll(&s, 1, 100) > 0) return;
      }
      continue;  // or gone before we took it
    }
    out_of_fds_logged_ = false;
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
      spdlog::warn("API socket {}: a connection without credentials (SO_PEERCRED: {}): closed", path_,
                   std::strerror(errno));
      ::close(c);
      continue;
    }
    Caller caller;
    caller.role = role_;
    caller.who = "uid " + std::to_string(cred.uid) + " gid " + std::to_string(cred.gid) + " pid " +
                 std::to_string(cred.pid) + " on " + path_;
    caller.owner = "uid:" + std::to_string(cred.uid);
    callers_.set(c, std::move(caller));  // before gRPC reads a call from it
    grpc::AddInsecureChannelFromFd(&server, c);
  }
}

UnixListener::~UnixListener() {
  if (thread_.joinable()) {
    const char x = 0;
    if (::write(stop_[1], &x, 1) != 1) spdlog::warn("API socket {}: cannot stop accepting", path_);
    thread_.join();
  }
  for (int fd : {fd_, stop_[0], stop_[1]})
    if (fd >= 0) ::close(fd);
  ::unlink(path_.c_str());
}

}  // namespace anylb::cp
