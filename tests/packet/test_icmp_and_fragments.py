#!/usr/bin/python3
"""ICMP errors follow their flow to its backend; fragments are hashed on the
3-tuple or dropped, per service; traffic for the node is handed to the
exception path."""
import collections

from scapy.all import ARP, Ether, ICMP, ICMPv6EchoRequest, ICMPv6PacketTooBig, IP, IPv6, TCP, UDP, fragment, raw
from scapy.layers.inet6 import IPv6ExtHdrFragment, fragment6

import harness as h

tap = h.Tap()

CONFIG = [
    f"node-address = {h.NODE4}",
    f"node-address = {h.NODE6}",
    "service = name=web4 vip=203.0.113.10 proto=tcp port=80 mode=l2-dsr",
    "service = name=web6 vip=2001:db8::10 proto=tcp port=80 mode=ipip",
    "service = name=dns4 vip=203.0.113.20 proto=udp port=any mode=l2-dsr fragments=hash",
    "service = name=dns6 vip=2001:db8::20 proto=udp port=53 mode=l2-dsr fragments=hash",
    "service = name=nofrag vip=203.0.113.21 proto=udp port=53 mode=l2-dsr fragments=drop",
] + (h.backend_lines("web4", "198.18.1", 4, mac_base=0x11)
     + h.backend_lines("web6", None, 4, six=True, mac_base=0x12)
     + h.backend_lines("dns4", "198.18.2", 4, mac_base=0x13)
     + h.backend_lines("dns6", None, 4, start=0x20, six=True, mac_base=0x14)
     + h.backend_lines("nofrag", "198.18.3", 2, mac_base=0x15))

ROUTER4 = "198.18.9.1"
ROUTER6 = "2001:db8:9::1"


def run(packets):
    with h.Dataplane(CONFIG, rx=packets) as dp:
        dp.wait_for(lambda c: c["ports"][0]["rx_packets"] >= len(packets), what="all packets received")
        out = dp.stop()
    return out, dp.final


def too_big_v4(client, cport, mtu=1400):
    """What a router sends when the backend's reply (VIP -> client) is too big."""
    quoted = IP(src="203.0.113.10", dst=client, flags="DF") / TCP(sport=80, dport=cport, flags="A")
    return (Ether(dst=h.PORT_MAC, src=h.CLIENT_MAC) / IP(src=ROUTER4, dst="203.0.113.10") /
            ICMP(type=3, code=4, nexthopmtu=mtu) / raw(quoted)[:28])


def too_big_v6(client, cport, mtu=1280):
    quoted = IPv6(src="2001:db8::10", dst=client) / TCP(sport=80, dport=cport, flags="A") / (b"z" * 100)
    return (Ether(dst=h.PORT_MAC, src=h.CLIENT_MAC) / IPv6(src=ROUTER6, dst="2001:db8::10") /
            ICMPv6PacketTooBig(mtu=mtu) / raw(quoted))


@tap.case
def packet_too_big_reaches_the_flows_backend():
    sent, expect = [], []
    for i in range(30):
        client4, client6 = f"198.51.100.{i + 1}", f"2001:db8:c::{i + 1:x}"
        sent.append(h.to_vip("203.0.113.10", 5000 + i, src=client4))
        sent.append(h.to_vip("2001:db8::10", 5000 + i, src=client6))
        sent.append(too_big_v4(client4, 5000 + i))
        sent.append(too_big_v6(client6, 5000 + i))
    # An ICMP error about a flow this node has not seen yet still goes where
    # Maglev puts the flow, which the flow's own first packet then confirms.
    for i in range(10):
        client4 = f"198.51.100.{100 + i}"
        sent.append(too_big_v4(client4, 7000 + i))
        sent.append(h.to_vip("203.0.113.10", 7000 + i, src=client4))
    out, c = run(sent)
    assert len(out) == len(sent), f"sent {len(sent)}, got {len(out)}: {h.drops(c)}"
    # Where each flow's own packets went: (backend MAC, outer destination).
    flow_backend = {}
    for p in out:
        if ICMP in p or ICMPv6PacketTooBig in p:
            continue
        inner = h.innermost(p)
        outer = p[IP] if p[Ether].type == 0x0800 else p[IPv6]
        flow_backend[(inner.src, inner.payload.sport)] = (p[Ether].dst, outer.dst)
    checked = 0
    for p in out:
        if ICMP in p:
            quoted = p[ICMP].payload
            assert flow_backend[(quoted.dst, quoted.payload.dport)][0] == p[Ether].dst, \
                "ICMP error went to another backend than its flow"
            checked += 1
        elif ICMPv6PacketTooBig in p:
            assert p[IPv6].nh == 41, "IPv6 PTB should be tunnelled like its service"
            quoted = IPv6(raw(p[ICMPv6PacketTooBig].payload))
            assert flow_backend[(quoted.dst, quoted.payload.dport)] == (p[Ether].dst, p[IPv6].dst), \
                "ICMPv6 packet-too-big went to another backend than its flow"
            checked += 1
    assert checked == 70, checked
    assert c["icmp_errors_forwarded"] == 70
    assert not h.drops(c), h.drops(c)


def trace(dp, client, port):
    return dp.ctl("trace", f"{client}:{port}", "203.0.113.10:80", "tcp", json_out=True)


@tap.case
def an_error_on_another_worker_reaches_the_flows_backend():
    # Two workers, one RX pipe each (RSS, as net_pcap has none). 64 flows
    # come in on queue 0; then two more backends, so Maglev would now send
    # some of them elsewhere; then their packet-too-big errors come in on
    # queue 1, whose worker never saw the flows (a router's address hashes
    # elsewhere than the client's): it finds them in worker 0's table.
    web = ["service = name=web4 vip=203.0.113.10 proto=tcp port=80 mode=l2-dsr"]
    three = [f"node-address = {h.NODE4}"] + web + h.backend_lines("web4", "198.18.1", 3, mac_base=0x11)
    five = [f"node-address = {h.NODE4}"] + web + h.backend_lines("web4", "198.18.1", 5, mac_base=0x11)
    clients = [(f"198.51.100.{i % 200 + 1}", 5000 + i) for i in range(64)]
    with h.Dataplane(three, fifo=2, workers=2) as dp:
        dp.send([h.to_vip("203.0.113.10", port, src=client) for client, port in clients], queue=0)
        dp.wait_forwarded(64)
        dp.reload(five)
        dp.send([too_big_v4(client, port) for client, port in clients], queue=1)
        dp.wait_for(lambda c: c["icmp_errors_forwarded"] >= 64, what="64 ICMP errors forwarded")
        out = dp.stop()
    flow_backend = {(p[IP].src, p[TCP].sport): p[Ether].dst for p in out if TCP in p and ICMP not in p}
    with h.Dataplane(five) as fresh:  # no flows: a trace says where Maglev puts each now
        now = [trace(fresh, client, port) for client, port in clients]
        fresh.stop()
    assert all(t["decision"] == "maglev" for t in now), now
    moved = sum(1 for (client, port), t in zip(clients, now)
                if h.mac_of(0x11, int(t["backend"].split(".")[-1])) != flow_backend.get((client, port)))
    errors = [p for p in out if ICMP in p]
    assert len(flow_backend) == 64 and len(errors) == 64, (len(flow_backend), len(errors), h.drops(dp.final))
    for p in errors:
        quoted = p[ICMP].payload
        assert flow_backend[(quoted.dst, quoted.payload.dport)] == p[Ether].dst, \
            f"the error about {quoted.dst}:{quoted.payload.dport} went to another backend than its flow"
    assert moved >= 5, f"only {moved} of 64 flows would move: the case proves little"
    assert dp.final["icmp_errors_pinned_elsewhere"] == 64, dp.final["icmp_errors_pinned_elsewhere"]


@tap.case
def icmp_errors_that_lie_are_dropped():
    good = too_big_v4("198.51.100.1", 5000)
    truncated = Ether(raw(good)[:-10])  # quoted packet cut inside its ports
    truncated[IP].len = len(raw(truncated[IP]))
    truncated[IP].chksum = None
    mismatch = (Ether(dst=h.PORT_MAC) / IP(src=ROUTER4, dst="203.0.113.10") / ICMP(type=3, code=4) /
                raw(IP(src="203.0.113.99", dst="198.51.100.1") / TCP(sport=80, dport=5000))[:28])
    echo = Ether(dst=h.PORT_MAC) / IP(src="198.51.100.1", dst="203.0.113.10") / ICMP(type=8)
    out, c = run([Ether(raw(truncated)), mismatch, echo])
    assert len(out) == 0
    assert h.drops(c) == {"icmp_inner_truncated": 1, "icmp_inner_mismatch": 1, "icmp_unsupported": 1}, h.drops(c)


@tap.case
def fragments_follow_the_three_tuple():
    sent = []
    for i in range(24):
        src = f"198.51.100.{i + 1}"
        big = IP(src=src, dst="203.0.113.20", id=i + 1) / UDP(sport=3000 + i, dport=53) / (b"d" * 3000)
        for f in fragment(big, fragsize=1000):
            sent.append(Ether(dst=h.PORT_MAC, src=h.CLIENT_MAC) / f)
        src6 = f"2001:db8:c::{i + 1:x}"
        big6 = IPv6(src=src6, dst="2001:db8::20") / IPv6ExtHdrFragment(id=i + 1) / UDP(sport=3000 + i, dport=53) / (b"e" * 3000)
        for f in fragment6(big6, 1200):
            sent.append(Ether(dst=h.PORT_MAC, src=h.CLIENT_MAC) / f)
    nofrag = IP(src="198.51.100.5", dst="203.0.113.21", id=99) / UDP(sport=1, dport=53) / (b"f" * 3000)
    dropped = [Ether(dst=h.PORT_MAC, src=h.CLIENT_MAC) / f for f in fragment(nofrag, fragsize=1000)]
    out, c = run(sent + dropped)
    assert len(out) == len(sent), f"{len(out)} of {len(sent)}"
    by_source = collections.defaultdict(set)
    for p in out:
        l3 = p[IP] if IP in p else p[IPv6]
        by_source[l3.src].add(p[Ether].dst)
    assert all(len(m) == 1 for m in by_source.values()), "fragments of one source went to several backends"
    used = {next(iter(m)) for m in by_source.values()}
    assert len(used) >= 6, f"fragments of 48 sources reached only {len(used)} backends"
    assert c["fragments_hashed"] == len(sent)
    assert h.drops(c) == {"fragment_dropped": len(dropped)}, h.drops(c)


@tap.case
def traffic_for_the_node_goes_to_the_exception_path():
    sent = [Ether(dst="ff:ff:ff:ff:ff:ff", src=h.CLIENT_MAC) / ARP(pdst=h.NODE4, psrc="198.18.0.2"),
            Ether(dst=h.PORT_MAC, src=h.CLIENT_MAC) / IP(src="198.18.0.2", dst=h.NODE4) / TCP(sport=40000, dport=179),
            Ether(dst=h.PORT_MAC, src=h.CLIENT_MAC) / IPv6(src="2001:db8:ff::2", dst=h.NODE6) / ICMPv6EchoRequest(),
            Ether(dst="33:33:ff:00:00:01", src=h.CLIENT_MAC) / IPv6(src="fe80::2", dst="ff02::1:ff00:1") / ICMPv6EchoRequest()]
    out, c = run(sent)
    assert len(out) == 0
    # No exception interface here: each is the node's, dropped and counted
    # as such (not counted as handed over).
    assert c["exception_packets"] == 0
    assert h.drops(c) == {"exception_no_interface": 4}, h.drops(c)


if __name__ == "__main__":
    tap.run()
