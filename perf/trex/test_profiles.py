#!/usr/bin/python3
"""Each TRex profile builds its packets (TRex's API is not installable here:
the profiles keep packet building in plain scapy, checked by this test)."""
import importlib
import os
import sys

from scapy.all import IP, IPv6, TCP, UDP, Ether, raw

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

checks = []


def case(fn):
    checks.append(fn)
    return fn


@case
def flows_profile_builds_64_byte_and_imix_frames():
    m = importlib.import_module("stl_flows")
    (p, _), = m.build_packets("64")
    assert len(raw(p)) == 60 and p[IP].dst == "203.0.113.10" and p[TCP].dport == 80 and p[TCP].flags == "A"
    sizes = sorted({len(raw(q)) + 4 for q, _ in m.build_packets("imix")})
    assert sizes == [64, 576, 1500], sizes
    (p6, _), = m.build_packets("64", ipv6=True)
    assert p6[IPv6].dst == "2001:db8::10" and len(raw(p6)) >= 60


@case
def syn_flood_profile_sends_syns():
    m = importlib.import_module("stl_syn_flood")
    (p, _), = m.build_packets("64")
    assert p[TCP].flags == "S" and len(raw(p)) == 60
    Ether(raw(p))  # re-dissects


@case
def mix_profile_has_every_kind():
    m = importlib.import_module("stl_mix")
    pkts = [p for p, _ in m.build_packets()]
    assert any(IPv6 in p for p in pkts) and any(UDP in p for p in pkts)
    assert any(TCP in p and p[TCP].flags == "S" for p in pkts)


@case
def flow_variation_covers_the_asked_flows():
    ap = importlib.import_module("anylb_profiles")
    for flows in (1, 4096, 1_000_000, 10_000_000):
        hosts, ports = ap.flow_variation(flows)
        assert hosts * ports >= flows


@case
def astf_http_payloads_are_http():
    m = importlib.import_module("astf_http")
    req, resp = m.build_packets()
    assert req.startswith(b"GET / HTTP/1.1\r\n") and req.endswith(b"\r\n\r\n")
    assert resp.startswith(b"HTTP/1.1 200 OK") and resp.endswith(b"x" * 1024)


print(f"1..{len(checks)}")
failed = 0
for i, fn in enumerate(checks, 1):
    try:
        fn()
        print(f"ok {i} - {fn.__name__}")
    except Exception as e:  # report every case
        failed += 1
        print(f"not ok {i} - {fn.__name__}: {e!r}")
sys.exit(1 if failed else 0)
