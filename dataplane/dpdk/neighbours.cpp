#include "neighbours.hpp"

#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <set>

namespace anylb {

NeighbourMap read_neighbours(const std::vector<std::string>& interfaces) {
  NeighbourMap out;
  std::set<int> ifindexes;
  for (const std::string& name : interfaces)
    if (const unsigned idx = if_nametoindex(name.c_str()); idx != 0) ifindexes.insert(static_cast<int>(idx));
  if (ifindexes.empty()) return out;

  const int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return out;
  struct {
    nlmsghdr header;
    ndmsg body;
  } req{};
  req.header.nlmsg_len = NLMSG_LENGTH(sizeof(ndmsg));
  req.header.nlmsg_type = RTM_GETNEIGH;
  req.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.body.ndm_family = AF_UNSPEC;  // both families
  if (::send(fd, &req, req.header.nlmsg_len, 0) < 0) {
    ::close(fd);
    return out;
  }
  alignas(nlmsghdr) char buf[32768];
  for (bool done = false; !done;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    auto len = static_cast<unsigned>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
        done = true;
        break;
      }
      if (h->nlmsg_type != RTM_NEWNEIGH) continue;
      const auto* nd = static_cast<const ndmsg*>(NLMSG_DATA(h));
      constexpr uint16_t usable = NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT;
      if (!ifindexes.count(nd->ndm_ifindex) || !(nd->ndm_state & usable)) continue;
      std::optional<IpAddress> addr;
      std::optional<MacAddress> mac;
      int attr_len = static_cast<int>(RTM_PAYLOAD(h));
      for (auto* a = RTM_RTA(nd); RTA_OK(a, attr_len); a = RTA_NEXT(a, attr_len)) {
        const auto* data = static_cast<const std::byte*>(RTA_DATA(a));
        if (a->rta_type == NDA_DST && RTA_PAYLOAD(a) == 4) addr = IpAddress::v4(data);
        if (a->rta_type == NDA_DST && RTA_PAYLOAD(a) == 16) addr = IpAddress::v6(data);
        if (a->rta_type == NDA_LLADDR && RTA_PAYLOAD(a) == 6) {
          MacAddress m;
          std::memcpy(m.bytes.data(), data, 6);
          mac = m;
        }
      }
      if (addr && mac && !mac->is_zero()) out[*addr] = *mac;
    }
  }
  ::close(fd);
  return out;
}

}  // namespace anylb
