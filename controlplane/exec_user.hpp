// Who an exec health check runs as (health.exec_user): a user of the
// password database, resolved when the configuration is read, so that the
// child between fork and exec only calls setgroups, setgid and setuid.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace anylb::cp {

struct ExecUser {
  std::string name = "nobody";
  uid_t uid = 65534;
  gid_t gid = 65534;
  std::vector<gid_t> groups;  // supplementary groups (the primary among them)
  bool operator==(const ExecUser&) const = default;
};

// `name` as the password and group databases have it; nullopt if no such user.
std::optional<ExecUser> find_exec_user(const std::string& name);

// The environment of an exec check: the ANYLB_* variables given and a fixed
// PATH, nothing of the control plane's own.
inline constexpr const char* kExecPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

}  // namespace anylb::cp
