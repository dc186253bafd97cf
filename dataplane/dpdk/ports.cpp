#include "ports.hpp"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <rte_dev.h>
#include <rte_ethdev.h>

#include <cstring>
#include <spdlog/spdlog.h>
#include <stdexcept>

namespace anylb {

std::vector<uint16_t> resolve_ports(const std::vector<std::string>& names) {
  std::vector<uint16_t> ids;
  if (names.empty()) {
    for (uint16_t id = rte_eth_find_next(0); id < RTE_MAX_ETHPORTS;
         id = rte_eth_find_next(static_cast<uint16_t>(id + 1)))
      ids.push_back(id);
    if (ids.empty()) throw std::invalid_argument("option 'port': no DPDK port was probed (check --eal devices)");
    return ids;
  }
  for (const std::string& n : names) {
    uint16_t id;
    if (rte_eth_dev_get_port_by_name(n.c_str(), &id) != 0)
      throw std::invalid_argument("option 'port': no DPDK port named '" + n + "'");
    ids.push_back(id);
  }
  return ids;
}

PortInfo start_port(uint16_t port_id, uint16_t queues, uint16_t rx_desc, uint16_t tx_desc, uint32_t mtu,
                    bool mtu_required, rte_mempool* pool) {
  PortInfo info;
  info.port_id = port_id;
  char name[RTE_ETH_NAME_MAX_LEN] = {};
  rte_eth_dev_get_name_by_port(port_id, name);
  info.name = name;
  auto fail = [&](const std::string& what, int rc) {
    return std::runtime_error("port '" + info.name + "': " + what + ": " + std::string(rte_strerror(-rc)));
  };

  rte_eth_dev_info dev{};
  int rc = rte_eth_dev_info_get(port_id, &dev);
  if (rc != 0) throw fail("cannot read device info", rc);
  if (queues > dev.max_rx_queues || queues > dev.max_tx_queues)
    throw std::runtime_error("port '" + info.name + "': " + std::to_string(queues) + " workers need " +
                             std::to_string(queues) + " RX/TX queues, the device has " +
                             std::to_string(dev.max_rx_queues) + "/" + std::to_string(dev.max_tx_queues));

  rte_eth_conf conf{};
  const uint64_t want_rss = RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP;
  const uint64_t rss = want_rss & dev.flow_type_rss_offloads;
  if (queues > 1 && rss != 0) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf = rss;
    info.rss = true;
  } else if (queues > 1) {
    spdlog::warn("port '{}': no RSS support; each RX queue must be fed on its own (e.g. one pcap per queue)",
                 info.name);
  }
  // DPDK's own rule: the frame (MTU plus the device's L2 overhead) must fit max_rx_pktlen.
  const uint32_t overhead = dev.max_mtu != UINT16_MAX && dev.max_rx_pktlen > dev.max_mtu
                                ? dev.max_rx_pktlen - dev.max_mtu
                                : RTE_ETHER_HDR_LEN + RTE_ETHER_CRC_LEN;
  if (mtu >= dev.min_mtu && mtu <= dev.max_mtu && mtu + overhead <= dev.max_rx_pktlen) {
    conf.rxmode.mtu = mtu;
  } else if (mtu_required) {
    // Some PMDs under-report (net_af_packet says 1500 whatever its kernel
    // interface takes): keep --mtu for encapsulation and say so.
    spdlog::warn("port '{}': --mtu {} is beyond what the device reports ({}..{}); frames that large may be refused",
                 info.name, mtu, dev.min_mtu, std::min<uint32_t>(dev.max_mtu, dev.max_rx_pktlen - overhead));
  }  // else an exception interface: the kernel's own MTU on it governs what it sends
  if (dev.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE) conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;

  rc = rte_eth_dev_configure(port_id, queues, queues, &conf);
  if (rc != 0) throw fail("configure", rc);
  rc = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &rx_desc, &tx_desc);
  if (rc != 0) throw fail("adjust descriptors", rc);
  const int socket = rte_eth_dev_socket_id(port_id);
  const unsigned sock = socket < 0 ? 0u : static_cast<unsigned>(socket);
  for (uint16_t q = 0; q < queues; ++q) {
    rc = rte_eth_rx_queue_setup(port_id, q, rx_desc, sock, nullptr, pool);
    if (rc != 0) throw fail("RX queue " + std::to_string(q), rc);
    rte_eth_txconf txconf = dev.default_txconf;
    txconf.offloads = conf.txmode.offloads;
    rc = rte_eth_tx_queue_setup(port_id, q, tx_desc, sock, &txconf);
    if (rc != 0) throw fail("TX queue " + std::to_string(q), rc);
  }
  rc = rte_eth_dev_start(port_id);
  if (rc != 0) throw fail("start", rc);
  rte_ether_addr mac{};
  rte_eth_macaddr_get(port_id, &mac);
  std::memcpy(info.mac.bytes.data(), mac.addr_bytes, 6);
  if (uint16_t port_mtu = 0; !mtu_required && rte_eth_dev_get_mtu(port_id, &port_mtu) == 0)
    info.max_frame = uint32_t{port_mtu} + RTE_ETHER_HDR_LEN + RTE_VLAN_HLEN;
  spdlog::info("port '{}' (id {}): mac {}, {} queue(s), rss {}", info.name, port_id, info.mac.to_string(), queues,
               info.rss ? "on" : "off");
  return info;
}

uint16_t create_exception_tap(const std::string& iface, const MacAddress& mac, std::size_t index) {
  const std::string dev = "net_tap_anylb" + std::to_string(index);
  const std::string args = dev + ",iface=" + iface + ",mac=" + mac.to_string();
  if (rte_dev_probe(args.c_str()) != 0)
    throw std::invalid_argument("option 'exception-interface': cannot create the TAP interface '" + iface + "'");
  uint16_t id;
  if (rte_eth_dev_get_port_by_name(dev.c_str(), &id) != 0)
    throw std::runtime_error("option 'exception-interface': TAP '" + iface + "' created but not found");
  return id;
}

MacAddress port_mac(uint16_t port_id) {
  rte_ether_addr a{};
  rte_eth_macaddr_get(port_id, &a);
  MacAddress m;
  std::memcpy(m.bytes.data(), a.addr_bytes, 6);
  return m;
}

namespace {

// A port on a kernel interface (net_af_packet names its if_index): whether
// that interface is up and has carrier. DPDK 22.11's af_packet reports its
// link up from start to stop whatever the interface does.
bool kernel_link_up(uint16_t port_id) {
  rte_eth_dev_info info{};
  char name[IF_NAMESIZE] = {};
  if (rte_eth_dev_info_get(port_id, &info) != 0 || info.if_index == 0 || if_indextoname(info.if_index, name) == nullptr)
    return true;  // no kernel interface: the PMD's word stands
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return true;
  ifreq req{};
  std::memcpy(req.ifr_name, name, sizeof(name));
  const bool known = ioctl(fd, SIOCGIFFLAGS, &req) == 0;
  close(fd);
  return !known || ((req.ifr_flags & IFF_UP) != 0 && (req.ifr_flags & IFF_RUNNING) != 0);
}

}  // namespace

LinkStatus port_link(uint16_t port_id) {
  rte_eth_link link{};
  if (rte_eth_link_get_nowait(port_id, &link) != 0) return {};
  const bool known = link.link_speed != RTE_ETH_SPEED_NUM_NONE && link.link_speed != RTE_ETH_SPEED_NUM_UNKNOWN;
  return {link.link_status == RTE_ETH_LINK_UP && kernel_link_up(port_id), known ? link.link_speed : 0};
}

void stop_port(uint16_t port_id) {
  rte_eth_dev_stop(port_id);
  rte_eth_dev_close(port_id);
}

}  // namespace anylb
