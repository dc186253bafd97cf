// Port setup: any PMD (NICs, vdevs), one RX and one TX queue per worker,
// RSS on the 5-tuple where the PMD supports it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ip_address.hpp"

struct rte_mempool;

namespace anylb {

struct PortInfo {
  uint16_t port_id = 0;
  std::string name;
  MacAddress mac;
  bool rss = false;
  // An exception TAP: the largest frame it takes (its MTU, an Ethernet
  // header and a VLAN tag). net_tap refuses a larger one and every frame
  // after it in the same burst, so the worker drops such a frame alone.
  // 0: no limit checked (a data port: --mtu governs it).
  uint32_t max_frame = 0;
};

// Resolves the ports to serve: by name, or every probed port. Throws
// std::runtime_error naming the port on failure.
std::vector<uint16_t> resolve_ports(const std::vector<std::string>& names);

// Configures and starts a port with `queues` RX and TX queues, with `mtu`
// where the device takes it (else a warning if mtu_required: a data port;
// an exception interface's kernel side sets its own MTU).
PortInfo start_port(uint16_t port_id, uint16_t queues, uint16_t rx_desc, uint16_t tx_desc, uint32_t mtu,
                    bool mtu_required, rte_mempool* pool);

void stop_port(uint16_t port_id);

// A started port's link as its PMD reports it now (without waiting for
// autonegotiation); down if the PMD cannot say.
struct LinkStatus {
  bool up = false;
  uint32_t speed_mbps = 0;  // 0: unknown
};
LinkStatus port_link(uint16_t port_id);

// Creates (hot-plugs) a net_tap port: a kernel interface named `iface` with
// the given MAC. Returns its port id; throws naming the option on failure.
uint16_t create_exception_tap(const std::string& iface, const MacAddress& mac, std::size_t index);

// The MAC of a port that is not started yet.
MacAddress port_mac(uint16_t port_id);

}  // namespace anylb
