"""Packet builders shared by the TRex profiles (plain scapy, no TRex import),
so the packets can be checked where TRex is not installed.

Traffic is aimed at perf/bench.conf's services: VIP 203.0.113.10 and
2001:db8::10, tcp/80 and udp/80. Established flows come from clients in
198.51.100.0/24 and 2001:db8:c::/96; new flows (SYNs) from ranges of their
own, 100.64.0.0/10 and 2001:db8:d::/96, so a SYN never lands on an
established flow's entry.
"""
import ipaddress

from scapy.all import IP, IPv6, TCP, UDP, Ether, Raw

VIP4 = "203.0.113.10"
VIP6 = "2001:db8::10"
PORT = 80  # bench.conf serves tcp/80 and udp/80 on both VIPs
CLIENT4 = "198.51.100.1"
CLIENT6 = "2001:db8:c::1"
SYN_CLIENT4 = "100.64.0.1"
SYN_CLIENT6 = "2001:db8:d::1"
SYN_CLIENT4_LAST = "100.127.255.254"
# Simple IMIX: 7:4:1 of 40, 576 and 1500-byte IP packets, as Ethernet frames
# of 60 (the minimum), 590 and 1514 bytes (TRex's stl/imix.py sizes), 64,
# 594 and 1518 with the FCS. Sizes here count the FCS, as gen_traffic.py's do.
IMIX = [(64, 7), (594, 4), (1518, 1)]
# TRex writes its ports' MACs over these (trex_cfg.yaml); set here so that
# scapy does not ARP for the VIP each time a frame is built.
PORT_MAC = "02:70:63:61:70:00"
CLIENT_MAC = "02:00:00:00:00:99"
# Client ports the field engine walks, and how many client addresses.
PORT_MIN, PORT_MAX = 1025, 65535
HOSTS = 250


def _l3(six, src=None):
    if six:
        return IPv6(src=src or CLIENT6, dst=VIP6)
    return IP(src=src or CLIENT4, dst=VIP4)


def _pad(base, size):
    return base / Raw(b"\x00" * max(0, size - 4 - len(base)))  # size counts the 4-byte FCS


def tcp_packet(size=64, six=False, syn=False, src=None):
    """One frame of `size` bytes (with FCS) from a client to the VIP."""
    tcp = TCP(sport=PORT_MIN, dport=PORT, flags="S" if syn else "A")
    return _pad(Ether(dst=PORT_MAC, src=CLIENT_MAC) / _l3(six, src) / tcp, size)


def udp_packet(size=64, six=False):
    return _pad(Ether(dst=PORT_MAC, src=CLIENT_MAC) / _l3(six) / UDP(sport=PORT_MIN, dport=PORT), size)


def client_range(flows, six=False):
    """(ip_min, ip_max) of the tuple generator giving `flows` established
    flows: the address walks first (up to 250 hosts), then the port; TRex's
    limit_flows=flows stops the walk there, so the flows are exactly
    `flows`. For IPv6 the values are the client address's low 32 bits."""
    if not 1 <= flows <= HOSTS * (PORT_MAX - PORT_MIN + 1):
        raise ValueError(f"{flows} flows: 1 to {HOSTS} x {PORT_MAX - PORT_MIN + 1}")
    hosts = min(HOSTS, flows)
    first = int(ipaddress.ip_address(CLIENT6 if six else CLIENT4))
    if six:
        return first & 0xFFFFFFFF, (first & 0xFFFFFFFF) + hosts - 1
    return str(ipaddress.ip_address(first)), str(ipaddress.ip_address(first + hosts - 1))


def src_write(six):
    """Where a 4-byte client address goes: IP.src, or IPv6.src's low 32 bits."""
    return dict(pkt_offset="IPv6.src", offset_fixup=12) if six else dict(pkt_offset="IP.src")


def established_vm(vm, flows, six, l4="TCP"):
    """Fills `vm` (a TRex STLVM) with `flows` distinct client (address, port)
    pairs and returns it."""
    ip_min, ip_max = client_range(flows, six)
    vm.tuple_var(name="client", ip_min=ip_min, ip_max=ip_max, port_min=PORT_MIN, port_max=PORT_MAX,
                 limit_flows=flows)
    vm.write(fv_name="client.ip", **src_write(six))
    vm.write(fv_name="client.port", pkt_offset=f"{l4}.sport")
    if not six:
        vm.fix_chksum()  # anylb checks IPv4 header checksums
    return vm


def new_flows_vm(vm, six):
    """Fills `vm` so that every packet is a new flow: the client address
    walks its own range (4M addresses) and the port steps once per full walk,
    so a tuple comes back only after 2^38 packets, past any flow table."""
    if six:
        first = int(ipaddress.ip_address(SYN_CLIENT6)) & 0xFFFFFFFF
        ip_min, ip_max = first, 0xFFFFFFFE
    else:
        ip_min, ip_max = SYN_CLIENT4, SYN_CLIENT4_LAST
    vm.var(name="syn_ip", min_value=ip_min, max_value=ip_max, size=4, op="inc", next_var="syn_port")
    # Steps only when syn_ip wraps: split over cores it would skip ports.
    vm.var(name="syn_port", min_value=PORT_MIN, max_value=PORT_MAX, size=2, op="inc", split_to_cores=False)
    vm.write(fv_name="syn_ip", **src_write(six))
    vm.write(fv_name="syn_port", pkt_offset="TCP.sport")
    if not six:
        vm.fix_chksum()
    return vm
