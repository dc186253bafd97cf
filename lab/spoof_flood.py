#!/usr/bin/python3
"""Floods a node with spoofed frames, as fast as one Python loop sends them,
for a bounded time: run inside a lab namespace, it writes raw Ethernet
frames to DEV (an AF_PACKET socket: no route, no neighbour, any source).

    spoof_flood.py DEV DST_MAC DST_IP SECONDS KIND SRC_IP[,SRC_IP...] [TTL] [PORTS]

KIND: bgp  TCP ACKs to port 179, from random ports (a session's traffic)
      tcp  TCP SYN-ACKs from port 80 to PORTS ("FIRST-LAST", destination)
      udp  UDP from port 53 to PORTS
Prints the frames sent, and the rate, on one line. Exits after SECONDS or
50 million frames, whichever comes first.
"""
import random
import socket
import sys
import time

from scapy.all import IP, TCP, UDP, Ether, raw

dev, dst_mac, dst_ip, seconds, kind, sources = sys.argv[1:7]
ttl = int(sys.argv[7]) if len(sys.argv) > 7 else 64
first, last = (int(p) for p in (sys.argv[8] if len(sys.argv) > 8 else "1024-60999").split("-"))
rng = random.Random(25)
frames = []
for i in range(256):  # varied ports: the frames spread over the workers as real ones would
    src = sources.split(",")[i % len(sources.split(","))]
    l3 = IP(src=src, dst=dst_ip, ttl=ttl)
    if kind == "bgp":
        l4 = TCP(sport=rng.randint(1024, 65535), dport=179, flags="A", seq=rng.getrandbits(32), ack=rng.getrandbits(32))
    elif kind == "tcp":
        l4 = TCP(sport=80, dport=rng.randint(first, last), flags="SA", seq=rng.getrandbits(32), ack=rng.getrandbits(32))
    else:
        l4 = UDP(sport=53, dport=rng.randint(first, last)) / (b"\0" * 12)
    frames.append(raw(Ether(dst=dst_mac, src="02:00:00:00:66:66") / l3 / l4))

s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((dev, 0))
sent, start = 0, time.monotonic()
deadline = start + float(seconds)
while sent < 50_000_000:
    for f in frames:
        try:
            s.send(f)
        except OSError:  # the device's queue is full: drop, as a NIC would
            pass
    sent += len(frames)
    if time.monotonic() >= deadline:
        break
took = time.monotonic() - start
print(f"sent {sent} frames in {took:.1f} s: {sent / took:.0f} per second", flush=True)
