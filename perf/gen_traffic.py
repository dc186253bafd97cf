#!/usr/bin/python3
"""Writes benchmark pcaps aimed at the services of an anylb config.

  gen_traffic.py --config perf/bench.conf --flows 1000000 --out /tmp/x.pcap
      [--mode established|syn|mix] [--size 64|imix] [--ipv6-share 0.2]
      [--udp-share 0.2] [--packets N] [--shards K]

- flows: distinct 5-tuples (1 to 10M); packets: how many packets in the file
  (default one per flow; flows repeat round-robin when packets > flows).
- established: TCP ACKs (and UDP) of known flows; syn: every TCP packet a SYN;
  mix: 1 SYN in 4.
- size 64: minimum frames; imix: 7:4:1 of 64, 576, 1500 bytes (Simple IMIX).
- shards: one file per worker queue (FILE.0, FILE.1, ...), flows split by
  hash like RSS would.

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
IMIX = [64] * 7 + [576] * 4 + [1500]


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


def flow_tuples(args, services, rng):
    tcp = [s for s in services if s[1] == "tcp"] or services
    v4 = [s for s in tcp if s[0].version == 4]
    v6 = [s for s in tcp if s[0].version == 6]
    udp = {(s[0], s[2]) for s in services if s[1] == "udp"}
    for i in range(args.flows):
        pool = v6 if (v6 and (not v4 or rng.random() < args.ipv6_share)) else v4
        vip, proto, port = pool[i % len(pool)]
        if args.udp_share and rng.random() < args.udp_share and (vip, port) in udp:
            proto = "udp"
        # Distinct per i: client address and port both walk with the index.
        cport = 1024 + (i % 64000)
        host = i // 64000
        src = (ipaddress.ip_address(0xC6336400 + 1 + host % 250 + (host // 250) * 256)  # 198.51.100.x upward
               if vip.version == 4 else ipaddress.ip_address((0x20010DB8000C << 80) + i))
        dport = port or 1 + (i * 7919) % 65535
        yield src, vip, proto, cport, dport


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
    ap.add_argument("--seed", type=int, default=4786)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    if not 1 <= args.flows <= 10_000_000:
        sys.exit("gen_traffic: --flows must be 1 to 10000000")
    rng = random.Random(args.seed)
    services = services_from_config(args.config)
    flows = list(flow_tuples(args, services, rng))
    packets = args.packets or len(flows)
    files = [open(args.out if args.shards == 1 else f"{args.out}.{k}", "wb") for k in range(args.shards)]
    for f in files:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    record = struct.Struct("<IIII")
    for n in range(packets):
        src, dst, proto, sport, dport = flows[n % len(flows)]
        syn = proto == "tcp" and (args.mode == "syn" or (args.mode == "mix" and n % 4 == 0))
        size = 64 if args.size == "64" else IMIX[n % len(IMIX)]
        b = frame(src, dst, proto, sport, dport, syn, size)
        shard = (hash((sport, int(src))) % args.shards) if args.shards > 1 else 0
        files[shard].write(record.pack(0, n, len(b), len(b)) + b)
    for f in files:
        f.close()
    print(f"gen_traffic: {packets} packets, {len(flows)} flows, {args.shards} file(s) at {args.out}")


if __name__ == "__main__":
    main()
