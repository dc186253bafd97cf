// What a start does before it runs anything, and when it fails: one control
// plane per node (an instance lock), and a failed start that withdraws the
// paths an earlier run left, since nothing would check them.
#pragma once

#include <string>

#include "config.hpp"

namespace anylb::cp {

// What can be read of a configuration file that load_config refused: the
// state file, gobgpd's API, the services' VIPs and the covering prefixes, each where it parses (a YAML error elsewhere does not
// hide them; a file that is not YAML at all is scanned line by line for the
// state file and gobgpd's API). Never throws.
ControlConfig salvage_config(const std::string& path);

// An exclusive lock held for the life of the process (released by the
// kernel however it ends, kill -9 included). A node is its gobgpd: the
// lock is named after gobgpd's API address and the network namespace it is
// reached from (instance_lock_path), so two control planes of one node,
// which would fight over its paths, cannot both run, whatever their files.
std::string instance_lock_path(const ControlConfig& config);

inline constexpr const char* kLockDir = "/run/anylb";

// The PID written in a lock file (0 if none).
long lock_holder(const std::string& lock_path);

class InstanceLock {
 public:
  InstanceLock() = default;
  ~InstanceLock();
  InstanceLock(const InstanceLock&) = delete;
  InstanceLock& operator=(const InstanceLock&) = delete;

  // Takes the lock of `config`'s node. Returns "" when taken; otherwise
  // why not, naming the file and the holder's PID.
  std::string take(const ControlConfig& config);
  // After a refused take: another process holds the lock (rather than the
  // lock file being unusable).
  bool busy() const { return busy_; }
  const std::string& path() const { return path_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  bool busy_ = false;
  std::string path_;
};

// A start that cannot run: withdraws every path of ours gobgpd holds (the
// configuration's prefixes, and those the state file records), logs each,
// and says so on stderr with `why`. Returns the exit status, 2; `whole`,
// if given, says whether gobgpd took every withdrawal.
int fail_start(const ControlConfig& known, const std::string& why, bool* whole = nullptr);

}  // namespace anylb::cp
