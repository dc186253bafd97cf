// The path a daemon is about to listen on as a unix socket, made ready:
// both daemons (the dataplane's and the control plane's sockets) share it,
// so that a second daemon started on a live path fails instead of taking
// the path from the running one.
#pragma once

#include <string>

namespace anylb {

// Nothing at `path`: nothing to do. A socket nobody accepts on (a previous
// run's): removed. A socket a live process accepts on, or anything that is
// not a socket: std::runtime_error "<what>: '<path>' ..." (`what` names the
// option or key, e.g. "key 'api.socket'"). Creates the parent directory.
void clear_socket_path(const std::string& path, const std::string& what);

}  // namespace anylb
