// GCC 12 reports -Wmaybe-uninitialized inside libstdc++ (std::regex's
// std::function state) when this file is built with -fsanitize=address, as
// the ASan+UBSan tree (scripts/test-asan.sh) is: a false positive of the
// compiler in a system header, not a read of ours; ASan checks reads there.
#if defined(__SANITIZE_ADDRESS__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "start_guard.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>

#include "node.hpp"

namespace anylb::cp {

namespace {

template <class Fn>
void quietly(Fn&& fn) {
  try {
    fn();
  } catch (const std::exception&) {  // salvage: what does not parse is left out
  }
}

ControlConfig salvage_yaml(const YAML::Node& root) {
  ControlConfig c;
  quietly([&] { c.state_file = root["node"]["state_file"].as<std::string>(); });
  quietly([&] { c.gobgp_api = root["gobgp"]["api"].as<std::string>(); });
  quietly([&] {
    for (const YAML::Node& s : root["services"])
      quietly([&] {
        ServiceConfig sc;
        sc.spec.vip = IpAddress::parse(s["vip"].as<std::string>()).value();
        c.services.push_back(sc);
      });
  });
  quietly([&] {
    for (const YAML::Node& cv : root["covering_prefixes"])
      quietly([&] {
        const std::string text = cv["prefix"].as<std::string>();
        const auto slash = text.find('/');
        CoverConfig cc;
        cc.address = IpAddress::parse(text.substr(0, slash)).value();
        cc.length = static_cast<uint32_t>(std::stoul(text.substr(slash + 1)));
        c.covers.push_back(cc);
      });
  });
  return c;
}

// Not YAML at all: the two keys that find the earlier run's record, by line.
ControlConfig salvage_lines(const std::string& path) {
  ControlConfig c;
  std::ifstream f(path);
  const std::regex state(R"(^\s+state_file:\s*["']?([^"'#\s]+))"), api(R"(^\s+api:\s*["']?([^"'#\s]+))");
  bool in_gobgp = false;
  std::smatch m;
  for (std::string line; std::getline(f, line);) {
    if (!line.empty() && !std::isspace(static_cast<unsigned char>(line[0]))) in_gobgp = line.rfind("gobgp:", 0) == 0;
    if (std::regex_search(line, m, state)) c.state_file = m[1];
    else if (in_gobgp && std::regex_search(line, m, api)) c.gobgp_api = m[1];
  }
  return c;
}

}  // namespace

ControlConfig salvage_config(const std::string& path) {
  try {
    return salvage_yaml(YAML::LoadFile(path));
  } catch (const std::exception&) {
    return salvage_lines(path);
  }
}

InstanceLock::~InstanceLock() {
  if (fd_ >= 0) ::close(fd_);
}

std::string instance_lock_path(const ControlConfig& config) {
  struct stat ns {};
  const unsigned long netns = ::stat("/proc/self/ns/net", &ns) == 0 ? static_cast<unsigned long>(ns.st_ino) : 0;
  std::string api;
  for (char ch : config.gobgp_api) api += std::isalnum(static_cast<unsigned char>(ch)) || ch == '.' ? ch : '_';
  char name[64];
  std::snprintf(name, sizeof name, "controlplane-netns%lu-", netns);
  return std::string(kLockDir) + "/" + name + api + ".lock";
}

long lock_holder(const std::string& lock_path) {
  std::ifstream f(lock_path);
  long pid = 0;
  return f >> pid ? pid : 0;
}

std::string InstanceLock::take(const ControlConfig& config) {
  path_ = instance_lock_path(config);
  std::error_code ec;
  if (const auto dir = std::filesystem::path(path_).parent_path(); !dir.empty())
    std::filesystem::create_directories(dir, ec);
  fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) return "cannot open the instance lock '" + path_ + "': " + std::strerror(errno);
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char pid[32] = {};
    const ssize_t n = ::pread(fd_, pid, sizeof pid - 1, 0);
    ::close(fd_);
    fd_ = -1;
    busy_ = err == EWOULDBLOCK;
    if (busy_)
      return "another control plane of this node is running (pid " + std::string(pid, n > 0 ? std::strcspn(pid, "\n") : 0) +
             ", holding '" + path_ + "')";
    return "cannot lock '" + path_ + "': " + std::strerror(err);
  }
  const std::string me = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size()))
    return "cannot write the instance lock '" + path_ + "': " + std::strerror(errno);
  return "";
}

int fail_start(const ControlConfig& known, const std::string& why, bool* whole) {
  std::fprintf(stderr, "anylb-controlplane: %s\n", why.c_str());
  std::fprintf(stderr, "anylb-controlplane: not started: withdrawing the paths of our prefixes gobgpd holds (%s)\n",
               known.gobgp_api.c_str());
  const bool all = withdraw_paths_of(known);
  if (whole) *whole = all;
  return 2;
}

}  // namespace anylb::cp
