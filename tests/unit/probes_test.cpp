// Each kind of health probe against a real local server (loopback), both
// answering and failing.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>

#include "loopback_socket.hpp"
#include "probes.hpp"

namespace anylb::cp {
namespace {

const IpAddress kLoopback = *IpAddress::parse("127.0.0.1");

// Bound on loopback, its accept/recv giving up after 5 s: a probe that
// never connects fails the test instead of hanging it.
int bound(int type, uint16_t& port) {
  const int fd = test::bound_on_loopback(type, port);
  timeval limit{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  return fd;
}

// Answers one HTTP request per connection with `response`, until stopped.
class HttpServer {
 public:
  explicit HttpServer(std::string response) : response_(std::move(response)) {
    fd_ = bound(SOCK_STREAM, port_);
    ::listen(fd_, 8);
    thread_ = std::thread([this] {
      while (true) {
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0 || stop_) { if (c >= 0) ::close(c); return; }
        char buf[1024];
        (void)::recv(c, buf, sizeof buf, 0);
        (void)::send(c, response_.data(), response_.size(), MSG_NOSIGNAL);
        ::close(c);
      }
    });
  }
  ~HttpServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  std::string response_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

CheckConfig check(CheckType type, uint16_t port) {
  CheckConfig c;
  c.type = type;
  c.port = port;
  c.timeout_ms = 500;
  c.interval_ms = 1000;
  return c;
}

TEST(Probes, TcpConnectsOrIsRefused) {
  HttpServer s("HTTP/1.0 200 OK\r\n\r\n");
  EXPECT_TRUE(probe(check(CheckType::tcp, s.port()), kLoopback, 0).ok);
  uint16_t closed = 0;
  const int fd = bound(SOCK_STREAM, closed);  // bound, not listening: refused
  const ProbeResult r = probe(check(CheckType::tcp, closed), kLoopback, 0);
  ::close(fd);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find("refused"), std::string::npos) << r.detail;
}

TEST(Probes, HttpStatusAndBody) {
  HttpServer ok("HTTP/1.0 200 OK\r\nContent-Length: 11\r\n\r\nbackend-one");
  CheckConfig c = check(CheckType::http, ok.port());
  c.body = "one";
  EXPECT_TRUE(probe(c, kLoopback, 0).ok);
  c.body = "two";
  const ProbeResult wrong_body = probe(c, kLoopback, 0);
  EXPECT_FALSE(wrong_body.ok);
  EXPECT_NE(wrong_body.detail.find("body"), std::string::npos);

  HttpServer err("HTTP/1.0 503 Unavailable\r\n\r\n");
  const ProbeResult r = probe(check(CheckType::http, err.port()), kLoopback, 0);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.detail.find("503"), std::string::npos) << r.detail;
  // The service port is used when the check names none.
  CheckConfig by_service = check(CheckType::http, 0);
  EXPECT_TRUE(probe(by_service, kLoopback, ok.port()).ok);
}

// Status lines strictly: three digits, then a space or CR.
TEST(Probes, HttpStatusLine) {
  EXPECT_EQ(http_status("HTTP/1.1 200 OK\r\n\r\n"), 200);
  EXPECT_EQ(http_status("HTTP/1.0 503\r\n\r\n"), 503);
  for (const char* bad : {"HTTP/1.1 200abc\r\n", "HTTP/1.1 +200 OK\r\n", "HTTP/1.1  200 OK\r\n",
                          "HTTP/1.1 2000 OK\r\n", "HTTP/2 200 OK\r\n", "ICY 200 OK\r\n\r\n", "HTTP/1.1 20"})
    EXPECT_EQ(http_status(bad), -1) << bad;
}

// A response cut by a reset is a failed probe, not a short 200.
TEST(Probes, HttpResetIsAFailure) {
  uint16_t port = 0;
  const int fd = bound(SOCK_STREAM, port);
  ::listen(fd, 4);
  std::thread server([fd] {
    const int c = ::accept(fd, nullptr, nullptr);
    if (c < 0) return;
    char buf[1024];
    (void)::recv(c, buf, sizeof buf, 0);
    const std::string part = "HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\nback";
    (void)::send(c, part.data(), part.size(), MSG_NOSIGNAL);
    linger l{1, 0};  // close with a reset
    ::setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(c);
  });
  const ProbeResult r = probe(check(CheckType::http, port), kLoopback, 0);
  server.join();
  ::close(fd);
  EXPECT_FALSE(r.ok) << r.detail;
}

// A DNS server that answers SERVFAIL (its upstreams gone) serves nobody.
TEST(Probes, DnsRcodes) {
  EXPECT_TRUE(dns_rcode_alive(0));   // NOERROR
  EXPECT_TRUE(dns_rcode_alive(3));   // NXDOMAIN: it resolved
  EXPECT_FALSE(dns_rcode_alive(1));  // FORMERR
  EXPECT_FALSE(dns_rcode_alive(2));  // SERVFAIL
  EXPECT_FALSE(dns_rcode_alive(5));  // REFUSED
}

TEST(Probes, UdpDnsAnswerWithTheSameId) {
  uint16_t port = 0;
  const int fd = bound(SOCK_DGRAM, port);
  std::thread responder([fd] {
    unsigned char buf[512];
    sockaddr_in from{};
    socklen_t len = sizeof from;
    const ssize_t n = ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n < 12) return;
    buf[2] |= 0x80;  // QR: a response, same id, NXDOMAIN is still an answer
    buf[3] = 0x03;
    ::sendto(fd, buf, static_cast<size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), len);
  });
  CheckConfig c = check(CheckType::udp_dns, port);
  c.dns_name = "example.org";
  const ProbeResult r = probe(c, kLoopback, 0);
  responder.join();
  ::close(fd);
  EXPECT_TRUE(r.ok) << r.detail;
  // Nobody listening: ICMP port unreachable, or silence.
  EXPECT_FALSE(probe(check(CheckType::udp_dns, port), kLoopback, 0).ok);
}

TEST(Probes, ExecExitCodeAndTimeout) {
  CheckConfig c = check(CheckType::exec, 0);
  c.command = "test \"$ANYLB_BACKEND\" = 127.0.0.1";
  EXPECT_TRUE(probe(c, kLoopback, 0).ok);
  // What it is about, each in its variable; none inherited from ours.
  ::setenv("ANYLB_PORT", "9999", 1);
  c.command = "test \"$ANYLB_PORT:$ANYLB_SERVICE\" = 8443:web";
  EXPECT_TRUE(probe(c, kLoopback, 8443, "web").ok);
  c.command = "test -z \"$ANYLB_PORT\"";  // an any-port service: no port to name
  EXPECT_TRUE(probe(c, kLoopback, 0, "web").ok);
  ::unsetenv("ANYLB_PORT");
  c.command = "exit 3";
  const ProbeResult r = probe(c, kLoopback, 0);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.detail, "exit 3");
  c.command = "sleep 5";
  c.timeout_ms = 200;
  const ProbeResult slow = probe(c, kLoopback, 0);
  EXPECT_FALSE(slow.ok);
  EXPECT_EQ(slow.detail, "timed out");
  // The command starts clean: only stdin, stdout, stderr open (stdin from
  // /dev/null), SIGPIPE at its default (bit 13 of SigIgn clear).
  uint16_t port = 0;
  const int held = bound(SOCK_STREAM, port);  // an fd of ours it must not inherit
  c.timeout_ms = 2000;
  c.command = "test \"$(ls /proc/self/fd | wc -l)\" -le 4 && test \"$(readlink /proc/self/fd/0)\" = /dev/null &&"
              " test $(( 0x$(sed -n 's/^SigIgn:[[:space:]]*//p' /proc/self/status) >> 12 & 1 )) -eq 0";
  const auto before = ::signal(SIGPIPE, SIG_IGN);  // as httplib sets it in the control plane
  const ProbeResult clean = probe(c, kLoopback, 0);
  ::signal(SIGPIPE, before);
  ::close(held);
  EXPECT_TRUE(clean.ok) << clean.detail;
}

// Run as health.exec_user (root can change user; the control plane runs as
// root) with only the ANYLB_* variables and the fixed PATH, whatever ours are.
TEST(Probes, ExecRunsAsTheExecUserWithOnlyItsVariables) {
  if (::geteuid() != 0) GTEST_SKIP() << "changing user needs root";
  const auto nobody = find_exec_user("nobody");
  ASSERT_TRUE(nobody.has_value());
  char tmpl[] = "/tmp/anylb-exec-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::string dir = tmpl;
  ::chmod(dir.c_str(), 0777);  // nobody writes what it saw here
  ::setenv("ANYLB_TEST_SECRET_TOKEN", "x", 1);
  ::setenv("SECRET_TOKEN", "x", 1);
  CheckConfig c = check(CheckType::exec, 0);
  c.timeout_ms = 2000;
  c.command = "id -u > " + dir + "/uid; id -G > " + dir + "/groups; tr '\\0' '\\n' < /proc/$$/environ | sort > " +
              dir + "/env";
  const ProbeResult r = probe(c, kLoopback, 8443, "web", &*nobody);
  ::unsetenv("ANYLB_TEST_SECRET_TOKEN");
  ::unsetenv("SECRET_TOKEN");
  const auto slurp = [&](const char* name) {
    std::ifstream f(dir + "/" + name);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  };
  const std::string uid = slurp("uid"), groups = slurp("groups"), env = slurp("env");
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(r.ok) << r.detail;
  EXPECT_EQ(uid, std::to_string(nobody->uid) + "\n");
  std::set<gid_t> seen, want(nobody->groups.begin(), nobody->groups.end());
  std::istringstream words(groups);
  for (gid_t g; words >> g;) seen.insert(g);
  want.insert(nobody->gid);
  EXPECT_EQ(seen, want) << groups;  // nobody's groups alone: root's are dropped
  EXPECT_EQ(env, "ANYLB_BACKEND=127.0.0.1\nANYLB_PORT=8443\nANYLB_SERVICE=web\n" + std::string(kExecPath) + "\n");
  // A user it cannot become: said, and the check fails.
  ExecUser ghost = *nobody;
  ghost.name = "ghost";
  ghost.groups.assign(70000, 0);  // above NGROUPS_MAX: setgroups refuses
  c.command = "true";
  const ProbeResult refused = probe(c, kLoopback, 0, "web", &ghost);
  EXPECT_FALSE(refused.ok);
  EXPECT_EQ(refused.detail, "setgroups (as 'ghost'): Invalid argument");
}

TEST(Probes, IcmpEchoOnLoopback) {
  if (::geteuid() != 0) GTEST_SKIP() << "ICMP probes need root (raw sockets)";
  // Loopback only: test traffic never leaves the machine (the unanswered
  // case is the integration tests' stopped backends).
  const ProbeResult r = probe(check(CheckType::icmp, 0), kLoopback, 0);
  EXPECT_TRUE(r.ok) << r.detail;
  const ProbeResult r6 = probe(check(CheckType::icmp, 0), *IpAddress::parse("::1"), 0);
  EXPECT_TRUE(r6.ok) << r6.detail;
}

}  // namespace
}  // namespace anylb::cp
