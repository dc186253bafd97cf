#!/usr/bin/python3
"""Each forwarding mode, checked packet by packet on the real binary:
MACs, outer headers, checksums, the inner packet untouched."""
import collections

from scapy.all import ICMP, Dot1Q, Ether, ICMPv6PacketTooBig, IP, IPv6, IPv6ExtHdrFragment, TCP, UDP, raw

import harness as h

tap = h.Tap()

SERVICES = [
    f"node-address = {h.NODE4}",
    f"node-address = {h.NODE6}",
    "service = name=dsr4 vip=203.0.113.10 proto=tcp port=80 mode=l2-dsr",
    "service = name=dsr6 vip=2001:db8::10 proto=tcp port=80 mode=l2-dsr",
    "service = name=ipip4 vip=203.0.113.11 proto=tcp port=80 mode=ipip",
    "service = name=ipip6 vip=2001:db8::11 proto=tcp port=80 mode=ipip",
    "service = name=gue4 vip=203.0.113.12 proto=udp port=53 mode=gue",
    "service = name=gue6 vip=2001:db8::12 proto=udp port=any mode=gue",
    "service = name=mixed vip=203.0.113.13 proto=tcp port=443 mode=ipip",
]
BACKENDS = (h.backend_lines("dsr4", "198.18.1", 3, mac_base=0x11)
            + h.backend_lines("dsr6", None, 3, six=True, mac_base=0x12)
            + h.backend_lines("ipip4", "198.18.2", 3, mac_base=0x13)
            + h.backend_lines("ipip6", None, 3, start=0x20, six=True, mac_base=0x14)
            + h.backend_lines("gue4", "198.18.3", 3, mac_base=0x15)
            + h.backend_lines("gue6", None, 3, start=0x30, six=True, mac_base=0x16)
            + h.backend_lines("mixed", None, 2, start=0x40, six=True, mac_base=0x17))
CONFIG = SERVICES + BACKENDS


def backend_macs(base, count, start=10):
    return {h.mac_of(base, start + i) for i in range(count)}


def run(packets, config=CONFIG, **kw):
    with h.Dataplane(config, rx=packets, **kw) as dp:
        dp.wait_for(lambda c: c["ports"][0]["rx_packets"] >= len(packets), what="all packets received")
        out = dp.stop()
    return out, dp.final


def by_flow(packets):
    return {h.flow_of(p): p for p in packets}


def check_spread_and_stickiness(out, macs):
    per_flow = collections.defaultdict(set)
    for p in out:
        per_flow[h.flow_of(p)].add(p[Ether].dst)
    assert all(len(m) == 1 for m in per_flow.values()), "a flow was split over backends"
    used = collections.Counter(next(iter(m)) for m in per_flow.values())
    assert set(used) == macs, f"flows reached {sorted(used)}, expected all of {sorted(macs)}"


@tap.case
def l2_dsr_rewrites_only_the_macs():
    sent = []
    for i in range(60):  # two packets per flow
        for vip in ("203.0.113.10", "2001:db8::10"):
            sent.append(h.to_vip(vip, 20000 + i, payload=b"x" * (i % 7)))
            sent.append(h.to_vip(vip, 20000 + i, flags="A", payload=b"data"))
    out, c = run(sent)
    assert len(out) == len(sent), f"sent {len(sent)}, got {len(out)}"
    sent_by_body = collections.Counter(raw(p)[12:] for p in sent)
    out_by_body = collections.Counter(raw(p)[12:] for p in out)
    assert sent_by_body == out_by_body, "l2-dsr changed more than the MAC addresses"
    for p in out:
        assert p[Ether].src == h.PORT_MAC
    check_spread_and_stickiness([p for p in out if IP in p], backend_macs(0x11, 3))
    check_spread_and_stickiness([p for p in out if IPv6 in p], backend_macs(0x12, 3))
    assert sum(b["packets"] for b in c["backends"]) == len(sent)
    assert c["ports"][0]["tx_packets"] == len(sent)
    assert not h.drops(c), h.drops(c)


def check_outer_ipv4(p, proto, backend_prefix):
    outer = p[IP]
    assert outer.src == h.NODE4, outer.src
    assert outer.dst.startswith(backend_prefix), outer.dst
    assert outer.proto == proto and outer.ttl == 64
    rebuilt = IP(raw(outer))
    rebuilt.chksum = None
    assert IP(raw(rebuilt)).chksum == outer.chksum, "outer IPv4 checksum wrong"
    assert outer.len == len(raw(outer)), "outer total length wrong"


@tap.case
def ipip_wraps_in_the_backend_family():
    sent = [h.to_vip("203.0.113.11", 30000 + i) for i in range(40)]
    sent += [h.to_vip("2001:db8::11", 30000 + i) for i in range(40)]
    sent += [h.to_vip("203.0.113.13", 31000 + i, dport=443) for i in range(20)]
    # Ethernet padding after a short IPv4 packet must not travel inside the tunnel.
    padded = h.to_vip("203.0.113.11", 30500) / b""
    padded = Ether(raw(padded) + b"\0" * 6)
    sent.append(padded)
    out, c = run(sent)
    assert len(out) == len(sent)
    sent = [Ether(raw(p)) for p in sent]  # dissect as the wire sees them: lengths filled in
    originals = {h.flow_of(p): raw(p[IP] if IP in p else p[IPv6])[: (p[IP].len if IP in p else 40 + p[IPv6].plen)]
                 for p in sent}
    for p in out:
        inner = h.innermost(p)
        assert raw(inner) == originals[h.flow_of(p)], "inner packet changed"
        assert p[Ether].src == h.PORT_MAC
        if p[Ether].type == 0x0800:
            check_outer_ipv4(p, 4, "198.18.2.")
        else:
            outer = p[IPv6]
            assert outer.src == h.NODE6 and outer.hlim == 64
            assert outer.nh == (41 if isinstance(inner, IPv6) else 4)
            assert outer.plen == len(raw(outer.payload))
            assert outer.dst.startswith("2001:db8:be::")
    check_spread_and_stickiness([p for p in out if h.flow_of(p)[1] == "203.0.113.11"], backend_macs(0x13, 3))
    check_spread_and_stickiness([p for p in out if h.flow_of(p)[1] == "2001:db8::11"], backend_macs(0x14, 3, 0x20))
    check_spread_and_stickiness([p for p in out if h.flow_of(p)[1] == "203.0.113.13"], backend_macs(0x17, 2, 0x40))
    assert not h.drops(c), h.drops(c)


@tap.case
def gue_puts_the_flow_hash_in_the_source_port():
    sent = []
    for i in range(40):
        sent.append(h.to_vip("203.0.113.12", 40000 + i, dport=53, proto="udp", payload=b"q" * 12))
        sent.append(h.to_vip("203.0.113.12", 40000 + i, dport=53, proto="udp", payload=b"r" * 30))
        sent.append(h.to_vip("2001:db8::12", 40000 + i, dport=1000 + i, proto="udp", payload=b"q" * 12))
    out, c = run(sent)
    assert len(out) == len(sent)
    sports = collections.defaultdict(set)
    for p in out:
        udp = p[UDP]
        assert udp.dport == h.GUE_PORT
        assert 49152 <= udp.sport <= 65535
        assert udp.len == len(raw(udp))
        sports[h.flow_of(p)].add(udp.sport)
        if IPv6 in p and p[Ether].type == 0x86DD:
            copy = UDP(raw(udp))
            copy.chksum = None
            rebuilt = IPv6(src=p[IPv6].src, dst=p[IPv6].dst, nh=17) / copy
            assert UDP(raw(rebuilt)[40:]).chksum == udp.chksum, "GUE over IPv6: UDP checksum wrong"
            assert udp.chksum != 0
        else:
            check_outer_ipv4(p, 17, "198.18.3.")
            assert udp.chksum == 0
    assert all(len(s) == 1 for s in sports.values()), "one flow used several GUE source ports"
    assert len({next(iter(s)) for s in sports.values()}) > 40, "GUE source ports do not vary with the flow"
    assert not h.drops(c), h.drops(c)


@tap.case
def vlan_tag_is_kept():
    sent = [h.to_vip("203.0.113.10", 50000 + i, vlan=42) for i in range(10)]
    sent += [h.to_vip("203.0.113.11", 50000 + i, vlan=43) for i in range(10)]
    out, c = run(sent)
    assert len(out) == len(sent)
    for p in out:
        assert Dot1Q in p, "VLAN tag lost"
        vip = h.flow_of(p)[1]
        assert p[Dot1Q].vlan == (42 if vip == "203.0.113.10" else 43)
        if vip == "203.0.113.11":
            assert p[Dot1Q].type == 0x0800 and p[IP].proto == 4
    assert not h.drops(c), h.drops(c)


@tap.case
def two_workers_each_poll_their_queue():
    q0 = [h.to_vip("203.0.113.10", 1000 + i) for i in range(50)]
    q1 = [h.to_vip("203.0.113.10", 2000 + i) for i in range(70)]
    with h.Dataplane(CONFIG, workers=2, rx_per_queue=[q0, q1]) as dp:
        c = dp.wait_for(lambda c: c["ports"][0]["rx_packets"] >= 120, what="both queues read")
        out = dp.stop()
    assert len(out) == 120
    lcores = {l["worker"]: l for l in dp.final["lcores"]}
    assert lcores[0]["flow_occupancy"] == 50 and lcores[1]["flow_occupancy"] == 70, lcores
    assert dp.final["flows"]["inserts"] == 120


@tap.case
def tx_port_sends_everything_out_of_the_second_port():
    sent = [h.to_vip("203.0.113.10", 1000 + i) for i in range(20)] + \
           [h.to_vip("203.0.113.11", 1000 + i) for i in range(20)]
    with h.Dataplane(CONFIG, rx=sent, tx_port=True) as dp:
        dp.wait_for(lambda c: c["ports"][0]["rx_packets"] >= len(sent), what="all packets received")
        out = dp.stop()
    ports = {p["name"]: p for p in dp.final["ports"]}
    assert ports["net_pcap0"]["tx_packets"] == 0 and ports["net_pcap1"]["tx_packets"] == len(sent), ports
    port1_mac = ports["net_pcap1"]["mac"]
    assert port1_mac != h.PORT_MAC
    assert len(out) == len(sent) and all(p[Ether].src == port1_mac for p in out), \
        "rewritten source MAC should be the egress port's"


@tap.case
def unknown_port_and_protocol_are_counted():
    sent = [h.to_vip("203.0.113.10", 1234, dport=81),                 # no service on port 81
            h.to_vip("203.0.113.10", 1234, dport=80, proto="udp"),    # tcp-only service
            h.to_vip("198.51.100.77", 1234)]                          # not ours
    sent.append(h.Ether(dst=h.PORT_MAC) / IP(src="198.51.100.1", dst="203.0.113.10", proto=47) / b"gre!")
    out, c = run(sent)
    assert len(out) == 0
    d = h.drops(c, exclude=())
    assert d == {"no_service": 2, "not_for_node": 1, "protocol_unsupported": 1}, d


@tap.case
def too_big_for_the_tunnel_answers_from_the_vip_through_the_port_it_came_in():
    # Two-armed, so the error's way back (port 0) differs from the backends' (port 1).
    big4 = [h.to_vip("203.0.113.11", 3000 + i, flags="A", payload=b"x" * 1460) for i in range(3)]
    for p in big4:
        p[IP].flags = "DF"  # path MTU discovery, as every TCP stack does
    big6 = h.to_vip("2001:db8::11", 3100, flags="A", payload=b"y" * 1440)
    may_fragment = h.to_vip("203.0.113.11", 3200, flags="A", payload=b"z" * 1460)
    may_fragment[IP].flags = 0
    may_fragment_v6 = h.to_vip("203.0.113.13", 3400, dport=443, flags="A", payload=b"w" * 1600)  # to IPv6 backends
    may_fragment_v6[IP].flags = 0
    small = h.to_vip("203.0.113.11", 3300)
    sent = [*big4, big6, may_fragment, may_fragment_v6, small]
    with h.Dataplane(CONFIG, rx=sent, tx_port=True) as dp:
        dp.wait_for(lambda c: c["ports"][0]["rx_packets"] >= len(sent) and c["outer_fragments_sent"] == 4,
                    what="all packets received and handled")
        events = dp.ctl("stats", "--interval", "0.1", json_out=True)["events"]
        _, stats_text, _ = dp.ctl("stats", "--interval", "0.1")
        out = dp.stop()
    ports = {p["name"]: p for p in dp.final["ports"]}
    assert ports["net_pcap0"]["tx_packets"] == 4 and ports["net_pcap1"]["tx_packets"] == 5, ports
    errors4 = [p for p in out if ICMP in p]
    assert len(errors4) == 3, [p.summary() for p in out]
    for e, orig in zip(errors4, big4):
        assert e[Ether].src == h.PORT_MAC and e[Ether].dst == h.CLIENT_MAC
        assert e[IP].src == "203.0.113.11" and e[IP].dst == orig[IP].src and len(e[IP]) == 576
        assert (e[ICMP].type, e[ICMP].code, e[ICMP].nexthopmtu) == (3, 4, 1500 - 20), e[ICMP].show(dump=True)
        assert raw(e[ICMP])[8:] == raw(orig[IP])[:576 - 28], "the quote is the packet's start"
        fixed = e[IP].copy()  # scapy recomputes both checksums; they must be ours
        del fixed.chksum
        del fixed[ICMP].chksum
        again = IP(raw(fixed))
        assert again.chksum == e[IP].chksum and again[ICMP].chksum == e[ICMP].chksum, "checksums"
    e6 = [p for p in out if ICMPv6PacketTooBig in p]
    assert len(e6) == 1 and e6[0][IPv6].src == "2001:db8::11" and e6[0][IPv6].dst == big6[IPv6].src
    assert e6[0][ICMPv6PacketTooBig].mtu == 1500 - 40 and len(e6[0][IPv6]) == 1280
    recomputed = IPv6(raw(e6[0][IPv6]))
    del recomputed[ICMPv6PacketTooBig].cksum
    assert IPv6(raw(recomputed))[ICMPv6PacketTooBig].cksum == e6[0][ICMPv6PacketTooBig].cksum, "ICMPv6 checksum"
    c = dp.final
    assert c["icmp_too_big_sent"] == 4 and c["drops"]["encap_too_big"] == 0, (c["icmp_too_big_sent"], c["drops"])
    # anylbctl stats shows the same through the API.
    assert events["icmp_too_big_sent"] == 4 and events["outer_fragments_sent"] == 4, events
    assert "  outer_fragments_sent 4\n" in stats_text and "  icmp_too_big_sent 4\n" in stats_text, stats_text
    # Without DF no error is due: the encapsulated packet leaves as two outer
    # IPv4 fragments (RFC 2003 5.1), which put together are the whole IP-in-IP
    # packet around the client's.
    frags = sorted((p for p in out if IP in p and p[IP].proto == 4 and (p[IP].flags.MF or p[IP].frag)),
                   key=lambda p: p[IP].frag)
    assert len(frags) == 2 and c["outer_fragments_sent"] == 4, [p.summary() for p in out]
    assert [bool(f[IP].flags.MF) for f in frags] == [True, False] and frags[0][IP].id == frags[1][IP].id
    assert all(len(f[IP]) <= 1500 and f[Ether].dst == frags[0][Ether].dst for f in frags)
    for f in frags:
        fixed = f[IP].copy()
        del fixed.chksum
        assert IP(raw(fixed)).chksum == f[IP].chksum, "fragment header checksum"
    assert frags[1][IP].frag * 8 == len(frags[0][IP]) - 20
    inner = b"".join(raw(f[IP])[20:len(f[IP])] for f in frags)
    assert inner == raw(may_fragment[IP]), "the fragments do not put back the client's packet"
    # To an IPv6 backend the outer IPv6 packet is fragmented by its source,
    # us, with a Fragment header (RFC 8200 4.5): 1640 bytes of IP-in-IP
    # payload in 1448 and 192.
    frags6 = sorted((p for p in out if IPv6ExtHdrFragment in p), key=lambda p: p[IPv6ExtHdrFragment].offset)
    assert len(frags6) == 2, [p.summary() for p in out]
    assert [f[IPv6ExtHdrFragment].m for f in frags6] == [1, 0]
    assert len({f[IPv6ExtHdrFragment].id for f in frags6}) == 1 and frags6[0][Ether].dst == frags6[1][Ether].dst
    assert frags6[0][Ether].dst in backend_macs(0x17, 2, start=0x40)
    for f in frags6:
        assert f[IPv6].nh == 44 and f[IPv6ExtHdrFragment].nh == 4 and len(f[IPv6]) <= 1500
        assert f[IPv6].plen == len(f[IPv6]) - 40
    assert frags6[1][IPv6ExtHdrFragment].offset * 8 == len(frags6[0][IPv6]) - 48
    inner6 = b"".join(raw(f[IPv6])[48:] for f in frags6)
    assert inner6 == raw(may_fragment_v6[IP]), "the IPv6 fragments do not put back the client's packet"


@tap.case
def an_ipv6_packet_of_1280_bytes_crosses_a_narrower_tunnel_in_outer_fragments():
    # At --mtu 1300 an IPv6 tunnel carries 1260 bytes, less than the IPv6
    # minimum MTU: no packet-too-big may ask for that, so a 1280-byte packet
    # crosses as outer fragments (RFC 2473 7.1); a larger one is told 1280.
    small = h.to_vip("2001:db8::11", 3500, flags="A", payload=b"m" * (1280 - 60))
    larger = h.to_vip("2001:db8::11", 3501, flags="A", payload=b"n" * (1281 - 60))
    assert len(small[IPv6]) == 1280
    out, c = run([small, larger], extra_args=("--mtu", "1300"))
    frags6 = sorted((p for p in out if IPv6ExtHdrFragment in p), key=lambda p: p[IPv6ExtHdrFragment].offset)
    assert len(frags6) == 2 and all(len(f[IPv6]) <= 1300 for f in frags6), [p.summary() for p in out]
    assert all(f[IPv6ExtHdrFragment].nh == 41 for f in frags6), "IPv6 in IPv6"
    inner6 = b"".join(raw(f[IPv6])[48:] for f in frags6)
    assert inner6 == raw(small[IPv6]), "the fragments do not put back the client's packet"
    e6 = [p for p in out if ICMPv6PacketTooBig in p]
    assert len(e6) == 1 and e6[0][ICMPv6PacketTooBig].mtu == 1280, [p.summary() for p in out]
    assert c["outer_fragments_sent"] == 2 and c["icmp_too_big_sent"] == 1, c


if __name__ == "__main__":
    tap.run()
