#!/usr/bin/python3
"""Writes benchmark pcaps aimed at the services of an anylb config.

  gen_traffic.py --config perf/bench.conf --flows 1000000 --out /tmp/x.pcap
      [--mode established|syn|mix] [--size 64|imix] [--ipv6-share 0.2]
      [--udp-share 0.2] [--packets N] [--shards K] [--syn-pool N]

- flows: distinct 5-tuples (1 to 10M); packets: how many packets in the file
  (default one per flow; flows repeat round-robin when packets > flows).
- established: TCP ACKs (and UDP) of known flows; syn: every TCP packet a SYN;
  mix: 1 packet in 4 a SYN opening a new flow, the others packets of the
  `flows` established flows (UDP among them so that --udp-share holds of all
  packets). The SYNs come from a pool of their own (--syn-pool tuples,
  default `flows`, from 100.64.0.0/10 and 2001:db8:d::/96), each once in the
  file (packets default 4 x syn-pool): a pool larger than the flow table
  keeps them new flows when the file is replayed (infinite_rx).
- size 64: minimum frames (60 bytes, 64 with the FCS); imix: Simple IMIX,
  7:4:1 of 40, 576 and 1500-byte IP packets, i.e. frames of 60, 590 and 1514
  bytes (64, 594, 1518 with the FCS), the sizes of TRex's imix and of
  perf/trex (anylb_profiles.IMIX).
- shards: one file per worker queue (FILE.0, FILE.1, ...), flows split by
  hash like RSS would.
- packets are 1 us apart in the pcap (net_pcap's infinite_rx ignores it).

Packets are built from byte templates (scapy is too slow for millions);
IPv4 header checksums are filled (anylb checks them), L4 checksums are left 0
(neither anylb nor the baseline looks at them).
"""
import argparse
import ipaddress
import random
import struct
import sys

PORT_MAC = bytes.fromhex("027063617000")
CLIENT_MAC = bytes.fromhex("020000000099")
IMIX = [64] * 7 + [594] * 4 + [1518]  # frame sizes with the FCS, as --size counts them
SYN_SHARE = 4  # mix: 1 packet in SYN_SHARE a SYN


def services_from_config(path):
    """(vip, proto, port) of each `service =` line; port 0 means any."""
    out = []
    for line in open(path):
        line = line.strip()
        if not line.startswith("service"):
            continue
        kv = dict(t.split("=", 1) for t in line.split("=", 1)[1].split() if "=" in t)
        port = kv.get("port", "any")
        out.append((ipaddress.ip_address(kv["vip"]), kv.get("proto", "tcp"), 0 if port == "any" else int(port)))
    if not out:
        sys.exit(f"gen_traffic: no 'service =' line in {path}")
    return out


def ipv4_checksum(header):
    s = sum(struct.unpack("!10H", header))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def frame(src, dst, proto, sport, dport, syn, size):
    six = dst.version == 6
    l4 = (struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50, 0x02 if syn else 0x10, 0xFFFF, 0, 0)
          if proto == "tcp" else struct.pack("!HHHH", sport, dport, 8, 0))
    header_len = 14 + (40 if six else 20) + len(l4)
    pad = max(0, size - 4 - header_len)  # frame size counts the 4-byte FCS
    payload = bytes(pad)
    if proto == "udp":
        l4 = l4[:4] + struct.pack("!H", 8 + pad) + l4[6:]
    p = 6 if proto == "tcp" else 17
    if six:
        ip = struct.pack("!IHBB", 6 << 28, len(l4) + pad, p, 64) + src.packed + dst.packed
        eth = PORT_MAC + CLIENT_MAC + b"\x86\xdd"
    else:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4) + pad, 0, 0x4000, 64, p, 0, src.packed, dst.packed)
        ip = ip[:10] + struct.pack("!H", ipv4_checksum(ip)) + ip[12:]
        eth = PORT_MAC + CLIENT_MAC + b"\x08\x00"
    return eth + ip + l4 + payload


def tcp_services(services):
    """(IPv4, IPv6) TCP services: the ones flows are drawn from."""
    tcp = [s for s in services if s[1] == "tcp"] or services
    return [s for s in tcp if s[0].version == 4], [s for s in tcp if s[0].version == 6]


def pick_service(v4, v6, ipv6_share, rng, i):
    pool = v6 if (v6 and (not v4 or rng.random() < ipv6_share)) else v4
    return pool[i % len(pool)]


def flow_tuples(args, services, rng):
    v4, v6 = tcp_services(services)
    udp = {(s[0], s[2]) for s in services if s[1] == "udp"}
    # In the mix, SYNs take 1 packet in 4: the UDP share of the rest is
    # raised so that --udp-share holds of all packets.
    udp_share = min(1.0, args.udp_share * SYN_SHARE / (SYN_SHARE - 1)) if args.mode == "mix" else args.udp_share
    for i in range(args.flows):
        vip, proto, port = pick_service(v4, v6, args.ipv6_share, rng, i)
        if udp_share and rng.random() < udp_share and (vip, port) in udp:
            proto = "udp"
        # Distinct per i: client address and port both walk with the index.
        cport = 1024 + (i % 64000)
        host = i // 64000
        src = (ipaddress.ip_address(0xC6336400 + 1 + host % 250 + (host // 250) * 256)  # 198.51.100.x upward
               if vip.version == 4 else ipaddress.ip_address((0x20010DB8000C << 80) + i))
        dport = port or 1 + (i * 7919) % 65535
        yield src, vip, proto, cport, dport


def syn_tuples(args, services, rng):
    """The mix's new flows: TCP from client ranges apart from the
    established flows' (100.64.0.0/10, 2001:db8:d::/96)."""
    v4, v6 = tcp_services(services)
    for j in range(args.syn_pool):
        vip, _, port = pick_service(v4, v6, args.ipv6_share, rng, j)
        src = (ipaddress.ip_address(0x64400001 + j // 64000) if vip.version == 4
               else ipaddress.ip_address((0x20010DB8000D << 80) + j))
        yield src, vip, "tcp", 1024 + j % 64000, port or 1 + (j * 7919) % 65535


def packet_tuple(args, flows, syns, n):
    """(5-tuple, is a SYN) of packet n."""
    if args.mode == "mix":
        if n % SYN_SHARE == 0:
            return syns[(n // SYN_SHARE) % len(syns)], True
        return flows[(n - n // SYN_SHARE - 1) % len(flows)], False
    t = flows[n % len(flows)]
    return t, args.mode == "syn" and t[2] == "tcp"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--flows", type=int, default=4096)
    ap.add_argument("--packets", type=int, default=0)
    ap.add_argument("--mode", choices=["established", "syn", "mix"], default="established")
    ap.add_argument("--size", choices=["64", "imix"], default="64")
    ap.add_argument("--ipv6-share", type=float, default=0.0)
    ap.add_argument("--udp-share", type=float, default=0.0)
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--syn-pool", type=int, default=0, help="mix: distinct SYN tuples (default: --flows)")
    ap.add_argument("--seed", type=int, default=4786)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if not 1 <= args.flows <= 10_000_000:
        sys.exit("gen_traffic: --flows must be 1 to 10000000")
    if not 0 <= args.syn_pool <= 10_000_000:
        sys.exit("gen_traffic: --syn-pool must be 0 (as --flows) to 10000000")
    rng = random.Random(args.seed)
    services = services_from_config(args.config)
    flows = list(flow_tuples(args, services, rng))
    args.syn_pool = args.syn_pool or args.flows
    syns = list(syn_tuples(args, services, rng)) if args.mode == "mix" else []
    packets = args.packets or (SYN_SHARE * len(syns) if syns else len(flows))
    files = [open(args.out if args.shards == 1 else f"{args.out}.{k}", "wb") for k in range(args.shards)]
    for f in files:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    record = struct.Struct("<IIII")
    for n in range(packets):
        (src, dst, proto, sport, dport), syn = packet_tuple(args, flows, syns, n)
        size = 64 if args.size == "64" else IMIX[n % len(IMIX)]
        b = frame(src, dst, proto, sport, dport, syn, size)
        shard = (hash((sport, int(src))) % args.shards) if args.shards > 1 else 0
        files[shard].write(record.pack(n // 1_000_000, n % 1_000_000, len(b), len(b)) + b)  # 1 us apart
    for f in files:
        f.close()
    new = f", {len(syns)} SYN tuples" if syns else ""
    print(f"gen_traffic: {packets} packets, {len(flows)} flows{new}, {args.shards} file(s) at {args.out}")


if __name__ == "__main__":
    main()
