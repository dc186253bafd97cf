#include "neighbours.hpp"

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <optional>
#include <set>

namespace anylb {
namespace {

// One NETLINK_ROUTE socket for a round of requests.
class RouteSocket {
 public:
  RouteSocket() : fd_(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) {
    const timeval timeout{0, 200'000};  // the kernel answers at once; never hang the control thread
    if (fd_ >= 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  }
  ~RouteSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  RouteSocket(const RouteSocket&) = delete;
  RouteSocket& operator=(const RouteSocket&) = delete;
  bool ok() const { return fd_ >= 0; }

  // Sends a request and hands each answer message to `on` until the kernel
  // is done (a dump's NLMSG_DONE, an error or ack, or a single answer).
  // False when the kernel's answer did not all arrive (send or receive
  // failed, timed out, or a signal cut it short): the round then knows
  // nothing, which is not the same as "no neighbour".
  bool exchange(nlmsghdr* request, const std::function<void(const nlmsghdr*)>& on) {
    request->nlmsg_seq = ++seq_;
    if (::send(fd_, request, request->nlmsg_len, 0) < 0) return false;
    const bool dump = (request->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
    alignas(nlmsghdr) char buf[32768];
    for (bool done = false; !done;) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return false;
      auto len = static_cast<unsigned>(n);
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
        if (h->nlmsg_seq != seq_) continue;  // a late answer to an earlier request
        // A dump the kernel interrupted (the table changed under it) or
        // failed is not the whole table; a single request's error is its
        // answer (no route to that address).
        if (dump && (h->nlmsg_flags & NLM_F_DUMP_INTR) != 0) return false;
        if (h->nlmsg_type == NLMSG_ERROR) {
          const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
          return !dump || e->error == 0;
        }
        if (h->nlmsg_type == NLMSG_DONE) return true;
        on(h);
        if (!dump) done = true;
      }
    }
    return true;
  }

 private:
  int fd_;
  uint32_t seq_ = 0;
};

// A request: header, the message's fixed part, room for a few attributes
// (add_attr appends them after the fixed part).
template <class Body>
struct Request {
  nlmsghdr header;
  Body body;
  char attrs[64];
};

template <class Body>
Request<Body> make_request(uint16_t type, uint16_t flags) {
  Request<Body> r{};
  r.header.nlmsg_len = NLMSG_LENGTH(sizeof(Body));
  r.header.nlmsg_type = type;
  r.header.nlmsg_flags = flags;
  return r;
}

void add_attr(nlmsghdr* h, uint16_t type, const void* data, std::size_t len) {
  auto* a = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(h) + NLMSG_ALIGN(h->nlmsg_len));
  a->rta_type = type;
  a->rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
  std::memcpy(RTA_DATA(a), data, len);
  h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(a->rta_len);
}

std::optional<IpAddress> address_attr(const rtattr* a) {
  const auto* data = static_cast<const std::byte*>(RTA_DATA(a));
  if (RTA_PAYLOAD(a) == 4) return IpAddress::v4(data);
  if (RTA_PAYLOAD(a) == 16) return IpAddress::v6(data);
  return std::nullopt;
}

int family_of(const IpAddress& a) { return a.family == IpFamily::v4 ? AF_INET : AF_INET6; }
std::size_t size_of(const IpAddress& a) { return a.family == IpFamily::v4 ? 4 : 16; }

struct NextHop {
  IpAddress address;
  int ifindex = 0;
};

// Where the kernel would send a packet for `dst`: the gateway, or dst
// itself. `complete` turns false if the kernel's answer was lost.
std::optional<NextHop> route_to(RouteSocket& nl, const IpAddress& dst, bool& complete) {
  auto req = make_request<rtmsg>(RTM_GETROUTE, NLM_F_REQUEST);
  req.body.rtm_family = static_cast<unsigned char>(family_of(dst));
  req.body.rtm_dst_len = static_cast<unsigned char>(size_of(dst) * 8);
  add_attr(&req.header, RTA_DST, dst.bytes.data(), size_of(dst));
  std::optional<NextHop> hop;
  complete &= nl.exchange(&req.header, [&](const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWROUTE) return;
    const auto* rt = static_cast<const rtmsg*>(NLMSG_DATA(h));
    if (rt->rtm_type != RTN_UNICAST) return;  // local, unreachable, blackhole...
    NextHop found{dst, 0};
    int attr_len = static_cast<int>(RTM_PAYLOAD(h));
    for (auto* a = RTM_RTA(rt); RTA_OK(a, attr_len); a = RTA_NEXT(a, attr_len)) {
      if (a->rta_type == RTA_OIF) std::memcpy(&found.ifindex, RTA_DATA(a), sizeof(int));
      if (a->rta_type == RTA_GATEWAY)
        if (auto gw = address_attr(a)) found.address = *gw;
    }
    if (found.ifindex != 0) hop = found;
  });
  return hop;
}

struct Neighbour {
  MacAddress mac;
  bool stale = false;  // not confirmed lately: the kernel re-checks it only when it sends to it
};

// Usable neighbours on the given interfaces, keyed by (address, ifindex).
// `complete` turns false if the dump was cut short.
std::map<std::pair<IpAddress, int>, Neighbour> dump_neighbours(RouteSocket& nl, const std::set<int>& ifindexes,
                                                               bool& complete) {
  std::map<std::pair<IpAddress, int>, Neighbour> out;
  auto req = make_request<ndmsg>(RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP);
  req.body.ndm_family = AF_UNSPEC;  // both families
  complete &= nl.exchange(&req.header, [&](const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWNEIGH) return;
    const auto* nd = static_cast<const ndmsg*>(NLMSG_DATA(h));
    constexpr uint16_t usable = NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT;
    if (!ifindexes.count(nd->ndm_ifindex) || !(nd->ndm_state & usable)) return;
    std::optional<IpAddress> addr;
    std::optional<MacAddress> mac;
    int attr_len = static_cast<int>(RTM_PAYLOAD(h));
    for (auto* a = RTM_RTA(nd); RTA_OK(a, attr_len); a = RTA_NEXT(a, attr_len)) {
      if (a->rta_type == NDA_DST) addr = address_attr(a);
      if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) {
        MacAddress m;
        std::memcpy(m.bytes.data(), RTA_DATA(a), 6);
        mac = m;
      }
    }
    if (addr && mac && !mac->is_zero()) out[{*addr, nd->ndm_ifindex}] = {*mac, (nd->ndm_state & NUD_STALE) != 0};
  });
  return out;
}

// Asks the kernel to resolve `addr` on `ifindex` now (as if it had a packet
// for it): creates the entry if needed and sends the ARP request or
// neighbour solicitation.
void solicit(RouteSocket& nl, const IpAddress& addr, int ifindex) {
  auto req = make_request<ndmsg>(RTM_NEWNEIGH, NLM_F_REQUEST | NLM_F_CREATE | NLM_F_ACK);
  req.body.ndm_family = static_cast<unsigned char>(family_of(addr));
  req.body.ndm_ifindex = ifindex;
  req.body.ndm_flags = NTF_USE;
  add_attr(&req.header, NDA_DST, addr.bytes.data(), size_of(addr));
  nl.exchange(&req.header, [](const nlmsghdr*) {});
}

}  // namespace

std::optional<NeighbourMap> resolve_backend_macs(const std::vector<IpAddress>& backends,
                                                 const std::vector<std::string>& interfaces) {
  NeighbourMap out;
  if (backends.empty()) return out;
  std::set<int> ifindexes;
  for (const std::string& name : interfaces)
    if (const unsigned idx = if_nametoindex(name.c_str()); idx != 0) ifindexes.insert(static_cast<int>(idx));
  RouteSocket nl;
  if (ifindexes.empty() || !nl.ok()) return std::nullopt;
  bool complete = true;
  const auto neighbours = dump_neighbours(nl, ifindexes, complete);
  // One address may back several services, one gateway many backends: each
  // is asked about once a round.
  std::set<std::pair<IpAddress, int>> solicited;
  for (const IpAddress& backend : std::set<IpAddress>(backends.begin(), backends.end())) {
    const std::optional<NextHop> hop = route_to(nl, backend, complete);
    if (!hop || !ifindexes.count(hop->ifindex)) continue;  // not reached through our ports
    const auto it = neighbours.find({hop->address, hop->ifindex});
    if (it != neighbours.end()) out[backend] = it->second.mac;
    // Missing: ask. Stale: ask too, or it stays stale for good (the kernel
    // sends nothing to backends, we do), and a backend that changed its MAC
    // without a gratuitous ARP would keep getting frames for its old one;
    // asked, the kernel probes it and fails the entry if nobody answers.
    if ((it == neighbours.end() || it->second.stale) && solicited.insert({hop->address, hop->ifindex}).second)
      solicit(nl, hop->address, hop->ifindex);
  }
  if (!complete) return std::nullopt;
  return out;
}

}  // namespace anylb
