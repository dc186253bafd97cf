#!/usr/bin/python3
"""The soak's trickle of flows that are each sent once and never again, so
that the dataplane's idle timeouts reclaim them (the looped pcap refreshes
its own flows faster than any timeout).

  trickle.py IFACE DST_MAC VIP PORT PER_SECOND SECONDS

Run inside the namespace holding IFACE (a veth whose peer the dataplane
reads with net_af_packet). Sends PER_SECOND new TCP flows a second, one
frame each (SYN, ACK or FIN in turn: each gets its own timeout), for SECONDS
at most (it stops by itself), and prints the frames it sent when it ends or
on SIGTERM. Frames are built from bytes: no scapy, so it costs little CPU.
"""
import signal
import socket
import struct
import sys
import time

CLIENT_MAC = bytes.fromhex("020000000098")
FLAGS = (0x02, 0x10, 0x11)  # SYN, ACK, FIN+ACK


def checksum(header):
    s = sum(struct.unpack(f"!{len(header) // 2}H", header))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def frame(dst_mac, n, vip, port):
    """Flow n: from 192.0.2.1-250 (TEST-NET-1), source port walking with n."""
    src = bytes((192, 0, 2, 1 + (n // 64000) % 250))
    tcp = struct.pack("!HHIIBBHHH", 1024 + n % 64000, port, 1, 0, 0x50, FLAGS[n % 3], 0xFFFF, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, vip)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return dst_mac + CLIENT_MAC + b"\x08\x00" + ip + tcp + bytes(6)  # padded to 60 bytes


def main():
    iface, dst_mac, vip, port, per_second, seconds = sys.argv[1:7]
    dst_mac = bytes.fromhex(dst_mac.replace(":", ""))
    vip, port, per_second, seconds = socket.inet_aton(vip), int(port), int(per_second), float(seconds)
    sent = 0

    def done(*_):
        print(f"sent {sent}", flush=True)
        sys.exit(0)
    signal.signal(signal.SIGTERM, done)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        tick = time.monotonic()
        for _ in range(per_second):
            s.send(frame(dst_mac, sent, vip, port))
            sent += 1
        time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
    done()


if __name__ == "__main__":
    main()
