// The dead-man's switch of the node's routes. A stopped control plane
// leaves its paths in gobgpd, so that a restart or an upgrade flaps
// nothing; but paths nobody checks must not stay announced forever. The
// guard is a small process the control plane forks at start (before any
// thread): it holds what the control plane tells it are the node's
// prefixes, and once the control plane is gone (its end of a pipe closes,
// however it ended, kill -9 included) it waits `node.orphan_timeout` for
// another control plane of the node to take the instance lock. If none
// does, it withdraws every path of those prefixes gobgpd holds, and those
// the state file records (trying again what gobgpd refused); if one does,
// it leaves without touching anything. A gobgpd that is not running
// (connection refused for 2 s) holds no paths: the guard leaves too.
#pragma once

#include <set>
#include <string>

#include "config.hpp"

namespace anylb::cp {

class OrphanGuard {
 public:
  // Forks the guard for `config`'s node (lock_path: its instance lock).
  // Call before any thread starts. Throws std::runtime_error if it cannot.
  // `lock_fd`: the instance lock's descriptor, closed in the guard (the
  // lock must go with the control plane).
  OrphanGuard(const ControlConfig& config, const std::string& lock_path, int lock_fd);
  ~OrphanGuard();  // the guard's countdown starts (as it does when this process dies)
  OrphanGuard(const OrphanGuard&) = delete;
  OrphanGuard& operator=(const OrphanGuard&) = delete;

  // The node's prefixes now (the configuration's and those announced):
  // sent to the guard when they changed.
  void update(const std::set<std::string>& ours);
  // Nothing is left to guard (the control plane withdrew its paths, or
  // did not start): the guard exits now.
  void dismiss();
  long pid() const { return pid_; }

 private:
  int fd_ = -1;  // the pipe's write end
  long pid_ = 0;
  std::set<std::string> sent_;
  bool gone_ = false;  // a write found the guard dead (logged once)
};

}  // namespace anylb::cp
