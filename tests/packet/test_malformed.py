#!/usr/bin/python3
"""Malformed packets on the real binary: none crashes it, each is counted
under its own drop reason, and valid packets around them still pass."""
import random

from scapy.all import Dot1Q, Ether, ICMP, IP, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop, TCP, UDP, raw

import harness as h

tap = h.Tap()

CONFIG = [f"node-address = {h.NODE4}",
          "service = name=web4 vip=203.0.113.10 proto=tcp port=80 mode=ipip",
          "service = name=web6 vip=2001:db8::10 proto=tcp port=80 mode=l2-dsr",
          "service = name=dns vip=203.0.113.20 proto=udp port=53 mode=l2-dsr"] + \
    h.backend_lines("web4", "198.18.1", 2, mac_base=0x11) + \
    h.backend_lines("web6", None, 2, six=True, mac_base=0x12) + \
    h.backend_lines("dns", "198.18.2", 2, mac_base=0x13)

ETH = Ether(dst=h.PORT_MAC, src=h.CLIENT_MAC)


def frame(b):
    return bytes(b)  # written as is: scapy need not be able to dissect it


def ipv4_bytes(**kw):
    return bytearray(raw(ETH / IP(src="198.51.100.1", dst="203.0.113.10", **kw) / TCP(sport=1234, dport=80)))


def with_ip_checksum(b, l3=14):
    """Recomputes the IPv4 header checksum so only the intended fault remains."""
    ihl = (b[l3] & 0x0f) * 4
    b[l3 + 10:l3 + 12] = b"\0\0"
    s = sum(int.from_bytes(b[l3 + i:l3 + i + 2], "big") for i in range(0, ihl, 2))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    b[l3 + 10:l3 + 12] = (~s & 0xffff).to_bytes(2, "big")
    return b


def cases():
    """(frame, drop reason) pairs, one fault each."""
    out = []
    b = ipv4_bytes(); b[14] = 0x44; out.append((with_ip_checksum(b), "ipv4_bad_header"))       # IHL 4
    b = ipv4_bytes(); b[14] = 0x55; out.append((with_ip_checksum(b), "ipv4_bad_header"))       # version 5
    b = ipv4_bytes(); b[16:18] = (2000).to_bytes(2, "big"); out.append((with_ip_checksum(b), "ipv4_bad_length"))
    b = ipv4_bytes(); b[16:18] = (10).to_bytes(2, "big"); out.append((with_ip_checksum(b), "ipv4_bad_length"))
    b = ipv4_bytes(); b[24] ^= 0xff; out.append((b, "ipv4_bad_checksum"))
    b = ipv4_bytes(); b[14] = 0x4f; out.append((with_ip_checksum(b), "ipv4_truncated"))          # IHL 60 > frame
    b = ipv4_bytes(); b[46] = 0x40; out.append((b, "tcp_bad_header"))                           # data offset 4
    out.append((raw(ETH / IP(src="198.51.100.1", dst="203.0.113.10") / TCP(sport=0, dport=80)), "l4_bad_port"))
    out.append((raw(ETH / IP(src="198.51.100.1", dst="203.0.113.20") / UDP(sport=5, dport=53, len=200) / b"x"),
                "udp_bad_length"))
    six = bytearray(raw(ETH / IPv6(src="2001:db8:c::1", dst="2001:db8::10") / TCP(sport=1, dport=80)))
    six[18:20] = (900).to_bytes(2, "big"); out.append((six, "ipv6_bad_length"))
    six = bytearray(raw(ETH / IPv6(src="2001:db8:c::1", dst="2001:db8::10") / TCP(sport=1, dport=80)))
    six[14] = 0x70; out.append((six, "ipv6_bad_header"))
    chain = IPv6(src="2001:db8:c::1", dst="2001:db8::10") / IPv6ExtHdrHopByHop()
    for _ in range(9):
        chain = chain / IPv6ExtHdrDestOpt()
    out.append((raw(ETH / chain / TCP(sport=1, dport=80)), "ipv6_ext_chain_too_long"))
    out.append((raw(Ether(dst=h.PORT_MAC) / Dot1Q(vlan=1) / Dot1Q(vlan=2) / IP(dst="203.0.113.10") / TCP()),
                "vlan_unsupported"))
    out.append((raw(Ether(dst=h.PORT_MAC, type=0x88cc) / (b"\0" * 40)), "ethertype_unsupported"))
    out.append((raw(ETH)[:10], "l2_truncated"))
    out.append((raw(ETH / IP(src="198.51.100.1", dst="203.0.113.10") / ICMP(type=8)), "icmp_unsupported"))
    out.append((raw(ETH / IP(src="127.0.0.1", dst="203.0.113.10") / TCP(sport=1234, dport=80)), "martian_source"))
    out.append((raw(ETH / IPv6(src="::ffff:198.51.100.1", dst="2001:db8::10") / TCP(sport=1234, dport=80)),
                "martian_source"))
    return out


def valid(n):
    return [h.to_vip("203.0.113.10", 30000 + i) for i in range(n)] + \
           [h.to_vip("2001:db8::10", 30000 + i) for i in range(n)]


def run(packets):
    with h.Dataplane(CONFIG, rx=packets) as dp:
        dp.wait_for(lambda c: c["ports"][0]["rx_packets"] >= len(packets), what="all packets received")
        out = dp.stop()
    return out, dp.final


@tap.case
def each_fault_has_its_counter():
    faults = cases()
    sent = []
    good = valid(10)
    for i, (f, _) in enumerate(faults):
        sent.append(frame(f))
        sent.append(good[i % len(good)])
    out, c = run(sent)
    expected = {}
    for _, reason in faults:
        expected[reason] = expected.get(reason, 0) + 1
    assert h.drops(c, exclude=()) == expected, f"got {h.drops(c, exclude=())}\nwant {expected}"
    assert len(out) == len(faults), "valid packets between the faults were not all forwarded"


@tap.case
def truncation_at_every_byte_is_counted_never_forwarded():
    whole = [raw(ETH / IP(src="198.51.100.1", dst="203.0.113.10", options=b"\x01\x01\x01\x00") /
                 TCP(sport=1234, dport=80)),
             raw(ETH / IPv6(src="2001:db8:c::1", dst="2001:db8::10") / IPv6ExtHdrHopByHop() /
                 TCP(sport=1, dport=80)),
             raw(ETH / IP(src="198.51.100.1", dst="203.0.113.20") / UDP(sport=5, dport=53) / b"abcd"),
             raw(Ether(dst=h.PORT_MAC) / Dot1Q(vlan=5) / IP(src="198.51.100.1", dst="203.0.113.10") /
                 TCP(sport=1, dport=80))]
    cut = [frame(w[:n]) for w in whole for n in range(len(w))]
    out, c = run(cut + [frame(w) for w in whole])
    assert len(out) == len(whole), f"{len(out)} forwarded; only the {len(whole)} whole packets should be"
    assert c["drops_total"] == len(cut), f"{c['drops_total']} drops for {len(cut)} truncated frames"
    assert c["drops"]["no_service"] == 0 and c["drops"]["not_for_node"] == 0


@tap.case
def random_mutations_never_crash():
    rng = random.Random(4786)
    seeds = [bytearray(raw(p)) for p in valid(5)] + [bytearray(raw(f)) for f, _ in cases()]
    sent = []
    for _ in range(3000):
        b = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            if b:
                b[rng.randrange(len(b))] = rng.randrange(256)
        if rng.random() < 0.3:
            b = b[:rng.randint(0, len(b))]
        sent.append(frame(b))
    out, c = run(sent)
    rx = c["ports"][0]["rx_packets"]
    accounted = c["ports"][0]["tx_packets"] + c["drops_total"]
    assert rx == len(sent)
    assert accounted == rx, f"{rx} received but {accounted} forwarded or dropped"


if __name__ == "__main__":
    tap.run()
