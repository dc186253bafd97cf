#include "probes.hpp"

#include "checksum.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <grp.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <random>
#include <vector>

namespace anylb::cp {

namespace {

using Clock = std::chrono::steady_clock;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { if (fd_ >= 0) ::close(fd_); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

sockaddr_storage to_sockaddr(const IpAddress& a, uint16_t port, socklen_t& len) {
  sockaddr_storage ss{};
  if (a.is_v4()) {
    auto* s = reinterpret_cast<sockaddr_in*>(&ss);
    s->sin_family = AF_INET;
    s->sin_port = htons(port);
    std::memcpy(&s->sin_addr, a.bytes.data(), 4);
    len = sizeof(sockaddr_in);
  } else {
    auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(port);
    std::memcpy(&s->sin6_addr, a.bytes.data(), 16);
    len = sizeof(sockaddr_in6);
  }
  return ss;
}

int remaining_ms(Clock::time_point deadline) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return ms > 0 ? static_cast<int>(ms) : 0;
}

bool wait_for(int fd, short events, Clock::time_point deadline) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, remaining_ms(deadline)) == 1 && (p.revents & events);
}

std::mt19937& rng() {
  static thread_local std::mt19937 r{std::random_device{}()};
  return r;
}

// A port of `ports` picked at random.
uint16_t random_port(PortRange ports) {
  return static_cast<uint16_t>(ports.first + rng()() % ports.size());
}

// Binds `fd` (of `to`'s family) to a source port in `ports`, tried at
// random a bounded number of times; true at once when `ports` is any (the
// kernel picks at connect). The dataplane polices a backend's packets as
// probe replies only to these ports (exception_policer.hpp).
bool bind_source_port(int fd, const IpAddress& to, PortRange ports, std::string& why) {
  if (ports.any()) return true;
  constexpr int kTries = 32;
  for (int i = 0; i < kTries; ++i) {
    socklen_t len;
    sockaddr_storage ss = to_sockaddr(to.is_v4() ? IpAddress::parse("0.0.0.0").value() : IpAddress::parse("::").value(),
                                      random_port(ports), len);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) return true;
    if (errno != EADDRINUSE) break;
  }
  why = "bind to a source port in " + ports.to_string() + " (health.source_ports): " + std::string(strerror(errno));
  return false;
}

// A connected TCP socket from a port of `ports`, or -1 with `why` set.
// SO_REUSEADDR lets a probe take a port an earlier one left in TIME_WAIT;
// the kernel refuses the connect only if that was to the same backend
// (EADDRNOTAVAIL): then another port is tried.
int tcp_connect(const IpAddress& a, uint16_t port, Clock::time_point deadline, std::string& why,
                PortRange ports = {}) {
  socklen_t len;
  sockaddr_storage ss = to_sockaddr(a, port, len);
  int fd = -1;
  for (int attempt = 0;; ++attempt) {
    fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) { why = "socket: " + std::string(strerror(errno)); return -1; }
    const int one = 1;
    if (!ports.any()) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (!bind_source_port(fd, a, ports, why)) { ::close(fd); return -1; }
    if (::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0 || errno == EINPROGRESS) break;
    why = "connect: " + std::string(strerror(errno));
    ::close(fd);
    if ((errno != EADDRNOTAVAIL && errno != EADDRINUSE) || attempt == 8) return -1;
  }
  if (!wait_for(fd, POLLOUT, deadline)) { why = "connect: timed out"; ::close(fd); return -1; }
  int err = 0;
  socklen_t elen = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
  if (err != 0) { why = "connect: " + std::string(strerror(err)); ::close(fd); return -1; }
  return fd;
}

}  // namespace

int http_status(std::string_view resp) {
  // "HTTP/1.x" SP 3DIGIT (SP or CRLF), strictly: "200abc" or "+200" is no status.
  if (resp.size() < 13 || resp.substr(0, 7) != "HTTP/1." || resp[7] < '0' || resp[7] > '9' || resp[8] != ' ')
    return -1;
  int status = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (resp[i] < '0' || resp[i] > '9') return -1;
    status = status * 10 + (resp[i] - '0');
  }
  if (resp[12] != ' ' && resp[12] != '\r') return -1;
  return status;
}

bool dns_rcode_alive(int rcode) { return rcode == 0 || rcode == 3; }

namespace {

ProbeResult http(const CheckConfig& c, const IpAddress& a, uint16_t port, Clock::time_point deadline,
                 PortRange ports) {
  std::string why;
  Fd fd(tcp_connect(a, port, deadline, why, ports));
  if (fd.get() < 0) return {false, why};
  const std::string host = a.is_v4() ? a.to_string() : "[" + a.to_string() + "]";
  const std::string req = "GET " + c.path + " HTTP/1.0\r\nHost: " + host + "\r\nUser-Agent: anylb-health\r\n\r\n";
  if (::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
    return {false, "send failed"};
  // HTTP/1.0 without keep-alive: the response ends when the server closes.
  // A reset or error before then is a failed probe, not a short response.
  std::string resp;
  char buf[4096];
  while (resp.size() < 65536) {  // enough for a status line and a body match
    if (!wait_for(fd.get(), POLLIN, deadline)) return {false, "response timed out"};
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0) return {false, "recv: " + std::string(strerror(errno))};
    if (n == 0) break;
    resp.append(buf, static_cast<std::size_t>(n));
  }
  const int status = http_status(resp);
  if (status < 0) return {false, "not an HTTP response"};
  if (status != c.expect_status)
    return {false, "status " + std::to_string(status) + ", expected " + std::to_string(c.expect_status)};
  if (!c.body.empty()) {
    const auto body_at = resp.find("\r\n\r\n");
    if (body_at == std::string::npos || resp.find(c.body, body_at) == std::string::npos)
      return {false, "body does not contain '" + c.body + "'"};
  }
  return {true, "HTTP " + std::to_string(status)};
}

ProbeResult udp_dns(const CheckConfig& c, const IpAddress& a, uint16_t port, Clock::time_point deadline,
                    PortRange ports) {
  socklen_t len;
  sockaddr_storage ss = to_sockaddr(a, port, len);
  Fd fd(::socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return {false, "socket: " + std::string(strerror(errno))};
  std::string why;
  if (!bind_source_port(fd.get(), a, ports, why)) return {false, why};
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
    return {false, "connect: " + std::string(strerror(errno))};
  const uint16_t id = static_cast<uint16_t>(rng()());
  std::string q;
  q += static_cast<char>(id >> 8);
  q += static_cast<char>(id & 0xff);
  q += std::string("\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00", 10);  // RD, one question
  std::string name = c.dns_name == "." ? "" : c.dns_name;
  for (std::size_t start = 0; start < name.size();) {
    std::size_t dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    q += static_cast<char>(dot - start);
    q += name.substr(start, dot - start);
    start = dot + 1;
  }
  q += std::string("\x00\x00\x01\x00\x01", 5);  // root, type A, class IN
  if (::send(fd.get(), q.data(), q.size(), 0) < 0) return {false, "send: " + std::string(strerror(errno))};
  unsigned char buf[1500];
  while (wait_for(fd.get(), POLLIN, deadline)) {
    const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n < 0) return {false, "recv: " + std::string(strerror(errno))};  // e.g. ICMP port unreachable
    if (n >= 12 && ((buf[0] << 8) | buf[1]) == id && (buf[2] & 0x80)) {
      // NOERROR or NXDOMAIN: it resolves. SERVFAIL (its upstreams gone),
      // REFUSED, FORMERR: it answers, but serves nobody.
      const int rcode = buf[3] & 0x0f;
      return {dns_rcode_alive(rcode), "DNS rcode " + std::to_string(rcode)};
    }
  }
  return {false, "no DNS answer"};
}

// The echo's id is taken from `ports`: the dataplane knows the reply by it.
ProbeResult icmp(const IpAddress& a, Clock::time_point deadline, PortRange ports) {
  const bool v4 = a.is_v4();
  const int proto = v4 ? static_cast<int>(IPPROTO_ICMP) : static_cast<int>(IPPROTO_ICMPV6);
  Fd fd(::socket(v4 ? AF_INET : AF_INET6, SOCK_RAW | SOCK_CLOEXEC, proto));
  if (fd.get() < 0) return {false, "raw socket: " + std::string(strerror(errno)) + " (ICMP checks need root)"};
  const uint16_t id = ports.any() ? static_cast<uint16_t>(rng()()) : random_port(ports);
  unsigned char pkt[16] = {static_cast<unsigned char>(v4 ? ICMP_ECHO : ICMP6_ECHO_REQUEST), 0, 0, 0,
                           static_cast<unsigned char>(id >> 8), static_cast<unsigned char>(id & 0xff), 0, 1};
  if (v4) {  // the kernel fills the ICMPv6 checksum, not the ICMPv4 one
    const uint16_t sum = internet_checksum({reinterpret_cast<const std::byte*>(pkt), sizeof pkt});
    pkt[2] = static_cast<unsigned char>(sum >> 8);
    pkt[3] = static_cast<unsigned char>(sum & 0xff);
  }
  socklen_t len;
  sockaddr_storage ss = to_sockaddr(a, 0, len);
  if (::sendto(fd.get(), pkt, sizeof pkt, 0, reinterpret_cast<sockaddr*>(&ss), len) < 0)
    return {false, "send: " + std::string(strerror(errno))};
  unsigned char buf[1500];
  while (wait_for(fd.get(), POLLIN, deadline)) {
    sockaddr_storage from{};
    socklen_t flen = sizeof from;
    const ssize_t n = ::recvfrom(fd.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
    if (n <= 0) continue;
    const unsigned char* h = buf;
    ssize_t left = n;
    if (v4) {  // raw IPv4 sockets hand over the IP header too
      const int ihl = (buf[0] & 0x0f) * 4;
      h += ihl;
      left -= ihl;
    }
    // Every raw ICMP socket sees every echo reply: only the backend's own,
    // to our id, counts.
    const bool from_backend =
        v4 ? from.ss_family == AF_INET &&
                 std::memcmp(&reinterpret_cast<const sockaddr_in*>(&from)->sin_addr, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, 4) == 0
           : from.ss_family == AF_INET6 &&
                 std::memcmp(&reinterpret_cast<const sockaddr_in6*>(&from)->sin6_addr, &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, 16) == 0;
    if (from_backend && left >= 8 && h[0] == (v4 ? ICMP_ECHOREPLY : ICMP6_ECHO_REPLY) && ((h[4] << 8) | h[5]) == id)
      return {true, "echo reply"};
  }
  return {false, "no echo reply"};
}

// Only root can change user: anyone else runs the check as itself, and says
// so once.
const ExecUser* effective_user(const ExecUser* as) {
  if (as == nullptr || ::geteuid() == 0) return as;
  static std::once_flag said;
  std::call_once(said, [&] {
    spdlog::warn("not running as root: exec checks run as uid {}, not as '{}' (health.exec_user)", ::geteuid(),
                 as->name);
  });
  return nullptr;
}

// The child's own failure before exec, sent up a close-on-exec pipe: which
// step, and its errno.
struct ChildFailure {
  int step = 0;  // 1 setgroups, 2 setgid, 3 setuid, 4 exec
  int error = 0;
};

std::string child_failure_text(const ChildFailure& f, const ExecUser* as) {
  static const char* const steps[] = {"?", "setgroups", "setgid", "setuid", "exec /bin/sh"};
  const std::string who = as != nullptr && f.step >= 1 && f.step <= 3 ? " (as '" + as->name + "')" : "";
  return std::string(steps[f.step >= 1 && f.step <= 4 ? f.step : 0]) + who + ": " + strerror(f.error);
}

ProbeResult exec_check(const CheckConfig& c, const IpAddress& a, uint16_t port, std::string_view service,
                       Clock::time_point deadline, const ExecUser* as_user) {
  // Everything the child needs is made before the fork: other threads run
  // here, and between fork and exec only async-signal-safe calls are safe
  // (setenv may allocate, and deadlock on a lock another thread held).
  // What the command is about: the backend, the port a probe would use (the
  // check's, else the service's; none for an any-port service), the service.
  // Nothing of our own environment (a token, a proxy, LD_PRELOAD): ours
  // alone, and a fixed PATH.
  const ExecUser* as = effective_user(as_user);
  std::vector<std::string> ours = {"ANYLB_BACKEND=" + a.to_string(), "ANYLB_SERVICE=" + std::string(service), kExecPath};
  if (port != 0) ours.push_back("ANYLB_PORT=" + std::to_string(port));
  std::vector<char*> env;
  for (std::string& v : ours) env.push_back(v.data());
  env.push_back(nullptr);
  const char* argv[] = {"sh", "-c", c.command.c_str(), nullptr};
  int report[2];
  if (::pipe2(report, O_CLOEXEC | O_NONBLOCK) != 0) return {false, "pipe: " + std::string(strerror(errno))};
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int e = errno;
    ::close(report[0]);
    ::close(report[1]);
    return {false, "fork: " + std::string(strerror(e))};
  }
  if (pid == 0) {
    // A clean start (async-signal-safe calls only): no inherited fds (a
    // listening socket a lingering grandchild would hold), stdin from
    // /dev/null, default signal handling (SIGPIPE is ignored in here) and
    // an empty signal mask; then the unprivileged user, groups first (they
    // need root too).
    ::setpgid(0, 0);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGPIPE, &dfl, nullptr);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    // The report pipe above every other fd kept: close the rest from 3 up.
    const int w = ::fcntl(report[1], F_DUPFD_CLOEXEC, 3);
    if (w > 3) ::close_range(3, static_cast<unsigned>(w) - 1, 0);
    ::close_range(w >= 3 ? static_cast<unsigned>(w) + 1 : 3U, ~0U, 0);  // none to report by: reported as an exit
    const auto fail = [w](int step) {
      const ChildFailure f{step, errno};
      if (::write(w, &f, sizeof f) < 0) {}
      ::_exit(127);
    };
    if (as != nullptr) {
      if (::setgroups(as->groups.size(), as->groups.data()) != 0) fail(1);
      if (::setgid(as->gid) != 0) fail(2);
      if (::setuid(as->uid) != 0) fail(3);
    }
    ::execve("/bin/sh", const_cast<char* const*>(argv), env.data());
    fail(4);
  }
  ::close(report[1]);
  Fd reader(report[0]);
  // What the child said before exec (nothing: it ran the command); once it
  // exited its write end is closed, so this never blocks.
  const auto failure = [&]() -> std::optional<std::string> {
    ChildFailure f{};
    ssize_t n;
    do n = ::read(reader.get(), &f, sizeof f); while (n < 0 && errno == EINTR);
    if (n == static_cast<ssize_t>(sizeof f)) return child_failure_text(f, as);
    return std::nullopt;
  };
  // The parent makes the group too: the kill below must reach it even if
  // the deadline passes before the child ran its own setpgid.
  ::setpgid(pid, pid);
  for (;;) {
    int status = 0;
    siginfo_t info{};
    // Exited, but not yet reaped (WNOWAIT): its group id is still ours, so
    // what it left running in the background is killed, not a stranger.
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      if (auto why = failure()) return {false, *why};
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {true, "exit 0"};
      return {false, WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status)) : "killed by a signal"};
    }
    if (Clock::now() >= deadline) {
      ::kill(-pid, SIGKILL);  // its whole process group
      ::waitpid(pid, &status, 0);
      return {false, "timed out"};
    }
    ::usleep(5000);
  }
}

}  // namespace

ProbeResult probe(const CheckConfig& check, const IpAddress& backend, uint16_t service_port, std::string_view service,
                  const ExecUser* as, PortRange source_ports) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(check.timeout_ms);
  const uint16_t port = probe_port(check, service_port);
  switch (check.type) {
    case CheckType::tcp: {
      std::string why;
      const int fd = tcp_connect(backend, port, deadline, why, source_ports);
      if (fd < 0) return {false, why};
      ::close(fd);
      return {true, "connected"};
    }
    case CheckType::http: return http(check, backend, port, deadline, source_ports);
    case CheckType::udp_dns: return udp_dns(check, backend, port, deadline, source_ports);
    case CheckType::icmp: return icmp(backend, deadline, source_ports);
    case CheckType::exec: return exec_check(check, backend, port, service, deadline, as);
  }
  return {false, "unknown check"};
}

}  // namespace anylb::cp
