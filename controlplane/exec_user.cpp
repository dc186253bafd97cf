#include "exec_user.hpp"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

namespace anylb::cp {

std::optional<ExecUser> find_exec_user(const std::string& name) {
  if (name.empty()) return std::nullopt;
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) return std::nullopt;
  ExecUser u{name, pw.pw_uid, pw.pw_gid, {}};
  // The groups /etc/group gives it, sized by a first call that says how many.
  int n = 16;
  u.groups.resize(static_cast<std::size_t>(n));
  if (::getgrouplist(name.c_str(), u.gid, u.groups.data(), &n) < 0) {
    u.groups.resize(static_cast<std::size_t>(n));
    if (::getgrouplist(name.c_str(), u.gid, u.groups.data(), &n) < 0) n = 0;
  }
  u.groups.resize(static_cast<std::size_t>(n));
  if (u.groups.empty()) u.groups.push_back(u.gid);
  return u;
}

}  // namespace anylb::cp
