#!/usr/bin/python3
"""Writes the fuzz harnesses' seed corpora under tests/fuzz/corpus/<harness>/
(run once, outputs checked in; rerun after changing it): the packet tests'
kinds of frames (tests/packet/, their addresses), the example configs, state
files and option lines. A regression input (crash-*) is never overwritten
or removed here. Needs scapy and protoc.

  /usr/bin/python3 tests/fuzz/make_seeds.py
"""
import json
import os
import struct
import subprocess
import sys

from scapy.all import (ARP, Dot1Q, Ether, ICMP, ICMPv6DestUnreach, ICMPv6EchoRequest, ICMPv6ND_NS,
                       ICMPv6PacketTooBig, IP, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, TCP, UDP, fragment, raw)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")

# The packet tests' addresses (tests/packet/harness.py), which the pipeline
# harness's states use too (pipeline_fuzz.cpp).
PORT_MAC = "02:70:63:61:70:00"
CLIENT_MAC = "02:00:00:00:00:99"
NODE4, NODE6 = "198.18.0.1", "2001:db8:ff::1"
PEER4 = "198.18.0.254"


def to_vip(vip, sport, dport=80, proto="tcp", flags="S", payload=b"", vlan=None, df=False):
    six = ":" in vip
    src = f"2001:db8:c::{sport:x}" if six else f"198.51.100.{sport % 200 + 1}"
    l3 = IPv6(src=src, dst=vip) if six else IP(src=src, dst=vip, flags="DF" if df else 0)
    l4 = TCP(sport=sport, dport=dport, flags=flags) if proto == "tcp" else UDP(sport=sport, dport=dport)
    eth = Ether(dst=PORT_MAC, src=CLIENT_MAC)
    if vlan is not None:
        eth = eth / Dot1Q(vlan=vlan)
    return eth / l3 / l4 / payload


def frames():
    """One list of frames a theme, as the packet tests send them."""
    eth = Ether(dst=PORT_MAC, src=CLIENT_MAC)
    big = b"x" * 1400
    quoted4 = IP(src="203.0.113.10", dst="198.51.100.11") / TCP(sport=80, dport=1010, flags="SA")
    quoted6 = IPv6(src="2001:db8::10", dst="2001:db8:c::3f2") / TCP(sport=80, dport=1010, flags="SA")
    themes = {
        "modes": [to_vip("203.0.113.10", 20000 + i, payload=b"x" * i) for i in range(4)]
        + [to_vip("203.0.113.10", 20000, flags="A", payload=b"data"), to_vip("203.0.113.10", 20000, flags="FA"),
           to_vip("2001:db8::10", 20001), to_vip("2001:db8::10", 20001, flags="R"),
           to_vip("203.0.113.12", 40000, 53, "udp", payload=b"q" * 12), to_vip("203.0.113.10", 40001, 5353, "udp"),
           to_vip("2001:db8::12", 40002, 1000, "udp", payload=b"q" * 12), to_vip("203.0.113.20", 1000)],
        "vlan": [to_vip("203.0.113.10", 50000 + i, vlan=42) for i in range(3)]
        + [to_vip("2001:db8::12", 50100, 9, "udp", vlan=43)],
        "big": [to_vip("203.0.113.10", 30000, payload=big), to_vip("203.0.113.10", 30001, payload=big, df=True),
                to_vip("2001:db8::10", 30002, payload=b"y" * 1200),
                to_vip("203.0.113.10", 30005, payload=b"z" * 1230, df=True),
                to_vip("203.0.113.12", 30006, 53, "udp", payload=b"z" * 1240), to_vip("2001:db8::10", 30003, payload=big),
                to_vip("203.0.113.12", 30004, 53, "udp", payload=big)],
        "fragments": [eth / f for f in fragment(IP(src="198.51.100.5", dst="203.0.113.10", id=7) / TCP(sport=5, dport=80)
                                                / (b"f" * 64), fragsize=32)]
        + [eth / IP(src="198.51.100.6", dst="203.0.113.12", flags="MF", proto=17) / (b"u" * 24),
           eth / IPv6(src="2001:db8:c::9", dst="2001:db8::10") / IPv6ExtHdrFragment(id=9, m=1, nh=6)
           / TCP(sport=9, dport=80),
           eth / IPv6(src="2001:db8:c::9", dst="2001:db8::12") / IPv6ExtHdrFragment(id=9, offset=3, nh=17) / (b"v" * 16),
           eth / IPv6(src="2001:db8:c::9", dst="2001:db8::12") / IPv6ExtHdrDestOpt() / UDP(sport=9, dport=53)],
        "icmp": [to_vip("203.0.113.10", 1010, flags="S"),
                 eth / IP(src="198.18.0.77", dst="203.0.113.10") / ICMP(type=3, code=4, nexthopmtu=1200) / raw(quoted4)[:28],
                 eth / IP(src="198.18.0.77", dst="203.0.113.10") / ICMP(type=3, code=4, nexthopmtu=1200)
                 / raw(IP(src="203.0.113.10", dst="198.51.100.11") / TCP(sport=80, dport=1010))[:28],
                 eth / IP(src="198.18.0.77", dst="203.0.113.10") / ICMP(type=11, code=0) / raw(quoted4),
                 to_vip("2001:db8::10", 1010),
                 eth / IPv6(src="2001:db8:f::77", dst="2001:db8::10") / ICMPv6PacketTooBig(mtu=1280) / raw(quoted6),
                 eth / IPv6(src="2001:db8:f::77", dst="2001:db8::10") / ICMPv6DestUnreach()
                 / raw(IPv6(src="2001:db8::10", dst="2001:db8:c::3f2") / UDP(sport=53, dport=9)),
                 eth / IP(src="198.51.100.4", dst="203.0.113.10") / ICMP(type=8)],
        "exception": [Ether(dst="ff:ff:ff:ff:ff:ff", src=CLIENT_MAC) / ARP(pdst=NODE4, psrc=PEER4),
                      eth / IP(src=PEER4, dst=NODE4) / TCP(sport=40000, dport=179, flags="PA") / b"bgp",
                      eth / IP(src="198.51.100.4", dst=NODE4) / ICMP(type=8),
                      eth / IP(src="198.51.100.4", dst=NODE4) / TCP(sport=4000, dport=22),
                      Ether(dst="33:33:ff:00:00:01", src=CLIENT_MAC) / IPv6(src="fe80::99", dst="ff02::1:ff00:1")
                      / ICMPv6ND_NS(tgt=NODE6),
                      eth / IPv6(src="2001:db8:c::4", dst=NODE6) / ICMPv6EchoRequest(),
                      eth / IPv6(src="fe80::99", dst="fe80::1") / UDP(sport=5, dport=6)],
        "malformed": [raw(to_vip("203.0.113.10", 7000))[:n] for n in (10, 20, 40, 50)]
        + [Ether(dst=PORT_MAC, src=CLIENT_MAC, type=0x88cc) / (b"lldp" * 10),
           eth / IP(src="198.51.100.4", dst="203.0.113.10", chksum=0x1234) / TCP(sport=1, dport=80),
           eth / IP(src="127.0.0.1", dst="203.0.113.10") / TCP(sport=1, dport=80),
           eth / IP(src="198.51.100.4", dst="203.0.113.10", ihl=6, options=b"\x01\x01\x01\x01") / TCP(sport=1, dport=80),
           eth / IP(src="198.51.100.4", dst="203.0.113.10") / TCP(sport=0, dport=80),
           eth / IP(src="198.51.100.4", dst="203.0.113.10") / UDP(sport=1, dport=53, len=4),
           eth / IP(src="198.51.100.4", dst="203.0.113.10", proto=47) / b"gre!",
           Ether(dst="02:00:00:00:00:42", src=CLIENT_MAC) / IP(src="198.51.100.4", dst="203.0.113.10") / TCP(sport=1, dport=80),
           eth / Dot1Q(vlan=1) / Dot1Q(vlan=2) / IP() / TCP(),
           eth / IP(src="198.51.100.250", dst="192.0.2.250") / UDP(sport=9, dport=9)],
    }
    return {k: [raw(f) for f in v] for k, v in themes.items()}


def burst(select, later, fs):
    return bytes([select, later]) + b"".join(struct.pack(">H", len(f)) + f for f in fs)


def write(harness, name, data):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def clear(harness):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    for n in os.listdir(d):
        if n.startswith("seed-"):
            os.unlink(os.path.join(d, n))


def pipeline_and_parser():
    clear("pipeline")
    clear("parser")
    themes = frames()
    for theme, fs in themes.items():
        # Each mode at each MTU (select & 7: 0-2 at 1500, 3-5 at 1280);
        # checksums fixed and the second run (0x50) half of the time.
        for select in range(6):
            flags = 0x50 if select % 2 else 0x00
            write("pipeline", f"seed-{theme}-{select}", burst(select | flags, 40, fs))
        for i, f in enumerate(fs):
            write("parser", f"seed-{theme}-{i}", f)
    # No exception interface, and a tight exception rate.
    write("pipeline", "seed-exception-absent", burst(0x08, 0, themes["exception"]))
    write("pipeline", "seed-exception-policed", burst(0x80, 0, themes["exception"] * 3))
    # Flows expire between the runs (past the UDP timeout, 60 s).
    write("pipeline", "seed-modes-expire", burst(0x41, 255, themes["modes"]))


def tokens():
    clear("flow_page_token")
    for i, t in enumerate(["0:0", "1:1024", "0:1", "3:18446744073709551615", "0:-1", "1:5junk", "00:01", ":", "2:"]):
        write("flow_page_token", f"seed-{i}", bytes([2 + 6 * (i % 5)]) + t.encode())


STATE = {
    "generation": 7, "source": "api", "node_addresses": [NODE4, NODE6],
    "services": [
        {"name": "web", "vip": "203.0.113.10", "proto": "tcp", "port": 80, "mode": "l2-dsr", "fragments": "drop",
         "gue_port": 6080},
        {"name": "web6", "vip": "2001:db8::10", "proto": "tcp", "port": 80, "mode": "ipip", "fragments": "hash",
         "gue_port": 6080},
        {"name": "dns", "vip": "203.0.113.53", "proto": "udp", "port": 0, "mode": "gue", "fragments": "hash",
         "gue_port": 7000}],
    "backends": [
        {"service": "web", "address": "198.18.1.10", "mac": "02:00:00:00:01:0a", "weight": 100, "state": "up"},
        {"service": "web", "address": "198.18.1.11", "weight": 50, "state": "draining"},
        {"service": "web6", "address": "2001:db8:be::10", "mac": "02:00:00:00:02:01", "weight": 1, "state": "down"},
        {"service": "dns", "address": "2001:db8:be::20", "mac": "00:00:00:00:00:00", "weight": 10000, "state": "up"}],
    "bgp_peers": [PEER4, "2001:db8:ff::fe"],
}


def state_files():
    clear("state_file")
    write("state_file", "seed-full", json.dumps(STATE, indent=1).encode())
    old = dict(STATE)
    del old["bgp_peers"], old["source"]
    write("state_file", "seed-old", json.dumps(old).encode())
    empty = {"generation": 0, "node_addresses": [], "services": [], "backends": []}
    write("state_file", "seed-empty", json.dumps(empty).encode())
    bad = dict(STATE, generation=-1)
    write("state_file", "seed-bad-generation", json.dumps(bad).encode())
    write("state_file", "seed-not-json", b'{"generation": 1, "services": [')


def options():
    clear("options")
    lines = [
        ["--eal", "-l 0 --no-huge", "--mtu", "1280", "--node-address", NODE4, "--service",
         "name=web vip=203.0.113.10 proto=tcp port=80 mode=l2-dsr", "--backend",
         "service=web address=198.18.1.10 mac=02:00:00:00:01:0a"],
        ["--mtu", "abc"], ["--maglev-size", "65536"], ["--flow-capacity", "0"], ["--tcp-timeout", "0"],
        ["--service", "name=a vip=203.0.113.1 mode=ipip", "--backend", "service=a address=198.18.1.1"],
        ["--node-address", NODE6, "--service", "name=b vip=2001:db8::1 proto=udp port=any mode=gue gue-port=7000",
         "--backend", "service=b address=198.18.1.2 weight=7 state=draining"],
        ["--help"], ["--no-such-option"], ["--", "extra", "eal"],
    ]
    for i, words in enumerate(lines):
        write("options", f"seed-{i}", b"\0".join(w.encode() for w in words))
    with open(os.path.join(ROOT, "configs", "dataplane-example.conf"), "rb") as f:
        write("options", "seed-example-conf", b"--mtu\x001500\xff" + f.read())
    write("options", "seed-bad-conf", b"\xffmtu = 1500\nmtu-typo = 3\nservice = name=x vip=203.0.113.9 proto=sctp\n")


def api_convert():
    clear("api_convert")
    proto_dir = os.path.join(ROOT, "grpc", "proto")
    state = (f'node_addresses: "{NODE4}" node_addresses: "{NODE6}" bgp_peers: "{PEER4}" '
             'services { name: "web" vip: "203.0.113.10" protocol: PROTOCOL_TCP port: 80 mode: FORWARDING_MODE_IPIP '
             'fragments: FRAGMENT_POLICY_HASH } '
             'services { name: "dns" vip: "2001:db8::53" protocol: PROTOCOL_UDP mode: FORWARDING_MODE_GUE gue_port: 7000 } '
             'backends { service: "web" address: "198.18.1.10" mac: "02:00:00:00:01:0a" weight: 5 '
             'state: BACKEND_STATE_DRAINING } '
             'backends { service: "dns" address: "198.18.1.11" } ')
    messages = [
        (0, "ApplyStateRequest", f"generation: 3 state {{ {state} }}"),
        (0, "ApplyStateRequest", 'generation: 1 validate_only: true state { services { name: "x" vip: "300.1.1.1" } }'),
        (0, "ApplyStateRequest", 'state { backends { service: "nope" address: "198.18.1.1" mac: "ff:ff:ff:ff:ff:ff" } }'),
        (1, "TraceRequest", 'flow { source: "198.51.100.7" destination: "203.0.113.10" protocol: PROTOCOL_TCP '
                            'source_port: 40000 destination_port: 80 }'),
        (1, "TraceRequest", 'flow { source: "2001:db8:c::7" destination: "203.0.113.10" protocol: PROTOCOL_UDP '
                            'source_port: 70000 }'),
        (2, "GetStateResponse", f"generation: 9 source: STATE_SOURCE_API state {{ {state} }}"),
    ]
    for i, (which, message, text) in enumerate(messages):
        encoded = subprocess.run(["protoc", f"--encode=anylb.dataplane.v1.{message}", "-I", proto_dir,
                                  "anylb/dataplane/v1/dataplane.proto"], input=text.encode(),
                                 capture_output=True, check=True).stdout
        write("api_convert", f"seed-{i}", bytes([which]) + encoded)


def cp_config():
    clear("cp_config")
    with open(os.path.join(ROOT, "configs", "controlplane-example.yaml"), "rb") as f:
        write("cp_config", "seed-example", f.read())
    # The shapes the BGP tests write (lab/bgp_lab.py), and broken ones.
    write("cp_config", "seed-small", b"""node:
  name: node1
  dataplane_socket: /run/anylb/dataplane.sock
  node_addresses: [198.18.0.1]
  allowed_prefixes: [203.0.113.0/24]
gobgp:
  api: 127.0.0.1:50051
services:
  - name: web
    vip: 203.0.113.10
    port: 80
    backends:
      - address: 198.18.1.10
        mac: 02:00:00:00:01:0a
    check: {type: tcp, interval: 1s, timeout: 500ms}
""")
    write("cp_config", "seed-bad-key", b"node:\n  name: n\n  nmae: typo\n")
    write("cp_config", "seed-not-yaml", b"node: [\n  - {")
    write("cp_config", "seed-anchors", b"a: &x {b: *x}\nnode: *x\n")


def main():
    pipeline_and_parser()
    tokens()
    state_files()
    options()
    api_convert()
    cp_config()
    total = 0
    count = 0
    for d, _, files in os.walk(CORPUS):
        for n in files:
            total += os.path.getsize(os.path.join(d, n))
            count += 1
    print(f"{count} files, {total} bytes under {CORPUS}")


if __name__ == "__main__":
    sys.exit(main())
