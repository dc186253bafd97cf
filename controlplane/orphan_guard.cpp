#include "orphan_guard.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <utility>

#include "announcer.hpp"
#include "atomic_file.hpp"
#include "gobgp_client.hpp"
#include "node_helpers.hpp"
#include "start_guard.hpp"

namespace anylb::cp {

namespace {

using Clock = std::chrono::steady_clock;

struct GuardSettings {
  uint64_t timeout_ms = 0;
  std::string gobgp_api, state_file, lock_path;
  pid_t parent = 0;
};

// Reads whole sets of prefixes from the pipe (one a line, "." ends a set)
// until the control plane closes it; "!" dismisses the guard (the control
// plane withdrew everything itself, or never started): it exits at once.
std::set<std::string> read_until_closed(int fd, std::set<std::string> ours) {
  std::string buffer;
  std::set<std::string> next;
  char chunk[4096];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n == 0) return ours;
    if (n < 0) {
      if (errno == EINTR) continue;
      return ours;
    }
    buffer.append(chunk, static_cast<std::size_t>(n));
    for (std::size_t eol; (eol = buffer.find('\n')) != std::string::npos; buffer.erase(0, eol + 1)) {
      const std::string line = buffer.substr(0, eol);
      if (line == "!") std::_Exit(0);
      if (line == ".") ours = std::exchange(next, {});
      else next.insert(line);
    }
  }
}

// Another control plane of the node holds its instance lock.
bool taken_over(const GuardSettings& g) {
  const long pid = lock_holder(g.lock_path);
  return pid > 0 && pid != g.parent && ::kill(static_cast<pid_t>(pid), 0) == 0;
}

[[noreturn]] void guard_main(int fd, const GuardSettings& g, std::set<std::string> ours) {
  ours = read_until_closed(fd, std::move(ours));
  const auto gone = Clock::now();
  const auto deadline = gone + std::chrono::milliseconds(g.timeout_ms);
  spdlog::info("orphan guard: the control plane (pid {}) is gone: withdrawing its paths in {} ms unless another "
               "takes over",
               g.parent, g.timeout_ms);
  GobgpClient gobgp(g.gobgp_api);
  std::string error;
  auto unreachable_since = Clock::time_point::max();
  for (;;) {
    if (taken_over(g)) {
      spdlog::info("orphan guard: control plane pid {} took over; leaving the paths to it", lock_holder(g.lock_path));
      std::_Exit(0);
    }
    // A gobgpd that is gone (nothing listens: connection refused) has lost
    // its paths, and one restarted starts without them. A slow one still
    // holds them: keep trying.
    const auto now = Clock::now();
    GobgpClient::Reach reach{};
    const bool answered = gobgp.asn(error, &reach).has_value();
    if (reach == GobgpClient::Reach::refused) {
      if (unreachable_since == Clock::time_point::max()) unreachable_since = now;
      if (now - unreachable_since > std::chrono::seconds(2)) {
        spdlog::info("orphan guard: {}: nothing left to withdraw", error);
        std::_Exit(0);
      }
    } else {
      unreachable_since = Clock::time_point::max();
      if (answered && now >= deadline) {
        std::set<std::string> all = ours;
        try {
          const auto record = read_state_file(g.state_file).announced_prefixes;
          all.insert(record.begin(), record.end());
        } catch (const std::exception& e) {
          spdlog::warn("orphan guard: {}", e.what());
        }
        bool whole = true;
        for (const std::string& p : withdraw_held(gobgp, all, &whole))
          spdlog::warn("withdrew {}: no control plane confirmed it for {} ms (node.orphan_timeout)", p, g.timeout_ms);
        if (whole) std::_Exit(0);  // else what gobgpd refused is tried again
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

OrphanGuard::OrphanGuard(const ControlConfig& config, const std::string& lock_path, int lock_fd) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("orphan guard: pipe: ") + std::strerror(errno));
  GuardSettings g{config.orphan_timeout_ms, config.gobgp_api, config.state_file, lock_path, ::getpid()};
  const std::set<std::string> ours = our_prefixes(config, {});
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("orphan guard: fork: ") + std::strerror(errno));
  if (pid == 0) {
    // Its own session: a signal to the control plane's process group (a
    // terminal's Ctrl-C) is not for it. The instance lock and every other
    // descriptor of the control plane are closed: the lock must go with it.
    if (lock_fd >= 0) ::close(lock_fd);
    ::setsid();
    ::prctl(PR_SET_NAME, "anylb-cp-guard");
    ::signal(SIGHUP, SIG_IGN);
    ::signal(SIGINT, SIG_IGN);
    ::signal(SIGPIPE, SIG_IGN);
    if (fds[0] != 3) ::dup2(fds[0], 3);
    ::close_range(4, ~0U, 0);
    guard_main(3, g, ours);
  }
  ::close(fds[0]);
  fd_ = fds[1];
  pid_ = pid;
  ::signal(SIGPIPE, SIG_IGN);  // a guard that died must not take the control plane with it
  sent_ = ours;                // the guard has them already
}

OrphanGuard::~OrphanGuard() {
  if (fd_ >= 0) ::close(fd_);
}

void OrphanGuard::dismiss() { write_all(fd_, "!\n"); }

void OrphanGuard::update(const std::set<std::string>& ours) {
  if (ours == sent_ || gone_) return;
  std::string text;
  for (const std::string& p : ours) text += p + "\n";
  if (!write_all(fd_, text + ".\n")) {
    gone_ = true;
    spdlog::error("orphan guard (pid {}) is gone: nothing will withdraw our paths if this process dies", pid_);
  }
  sent_ = ours;
}

}  // namespace anylb::cp
