// anylb.v1 on a unix socket with the caller's credentials: gRPC's own unix
// listener does not tell a call's peer uid or pid, so we listen and accept
// ourselves, read SO_PEERCRED on each connection, and hand the connection
// to the gRPC server (AddInsecureChannelFromFd). A call on such a channel
// has the peer "fd:N": UnixCallers maps it back to the connection's caller.
#pragma once

#include <sys/types.h>

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <grpcpp/server.h>

#include "api_caller.hpp"

namespace anylb::cp {

// The callers of the connections accepted, by the fd gRPC serves them on.
class UnixCallers {
 public:
  void set(int fd, Caller c);
  // The caller of a call whose ServerContext::peer() is `peer`, if it came
  // in on one of our sockets.
  std::optional<Caller> find(const std::string& peer) const;

 private:
  mutable std::mutex mu_;
  std::map<int, Caller> by_fd_;
};

class UnixListener {
 public:
  // Binds `path` (clear_socket_path: a live socket there is refused), mode
  // 0660, group `group` (none: ours), before it listens: nobody connects
  // under another mode. Callers accepted get `role`. `key` names the path's
  // configuration key in errors. Throws std::runtime_error.
  UnixListener(const std::string& path, std::optional<gid_t> group, Role role, const std::string& key,
               UnixCallers& callers);
  ~UnixListener();  // stops accepting and removes the path
  UnixListener(const UnixListener&) = delete;
  UnixListener& operator=(const UnixListener&) = delete;

  // Accepts connections for `server` (started) until destroyed.
  void serve(grpc::Server& server);

 private:
  void accept_loop(grpc::Server& server);

  std::string path_;
  Role role_;
  UnixCallers& callers_;
  int fd_ = -1;
  int stop_[2] = {-1, -1};  // a pipe: written to stop accept_loop
  bool out_of_fds_logged_ = false;  // accept_loop's: once a spell, not a line every 100 ms
  std::thread thread_;
};

}  // namespace anylb::cp
