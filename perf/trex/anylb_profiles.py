"""Packet builders shared by the TRex profiles (plain scapy, no TRex import),
so the packets can be checked where TRex is not installed.

Traffic is aimed at perf/bench.conf's services: VIP 203.0.113.10 tcp/80 and
2001:db8::10 tcp/80, from clients in 198.51.100.0/24 and 2001:db8:c::/64.
"""
from scapy.all import IP, IPv6, TCP, UDP, Ether, Raw

VIP4 = "203.0.113.10"
VIP6 = "2001:db8::10"
CLIENT4 = "198.51.100.1"
CLIENT6 = "2001:db8:c::1"
# Simple IMIX (7:4:1 of 64, 576 and 1500-byte frames, FCS included).
IMIX = [(64, 7), (576, 4), (1500, 1)]


def tcp_packet(size=64, six=False, syn=False):
    """One frame of `size` bytes (with FCS) from a client to the VIP."""
    l3 = IPv6(src=CLIENT6, dst=VIP6) if six else IP(src=CLIENT4, dst=VIP4)
    base = Ether() / l3 / TCP(sport=1025, dport=80, flags="S" if syn else "A")
    pad = max(0, size - 4 - len(base))
    return base / Raw(b"\x00" * pad)


def udp_packet(size=64, six=False):
    l3 = IPv6(src=CLIENT6, dst=VIP6) if six else IP(src=CLIENT4, dst=VIP4)
    base = Ether() / l3 / UDP(sport=1025, dport=53)
    return base / Raw(b"\x00" * max(0, size - 4 - len(base)))


def flow_variation(flows):
    """How the TRex field engine spreads `flows` 5-tuples: client address
    over 250 hosts times client port over the rest (what gen_traffic.py does
    in pcaps)."""
    hosts = min(250, flows)
    ports = max(1, -(-flows // hosts))
    if ports > 64000:
        raise ValueError(f"{flows} flows need more than 250 x 64000 tuples")
    return hosts, ports
