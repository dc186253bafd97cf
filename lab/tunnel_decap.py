#!/usr/bin/python3
"""The lab backends' tunnel ends, in user space: this machine's kernel has
neither the ipip nor the fou module. A backend takes each tunnelled packet
from a socket, keeps the inner IPv4 packet and hands it to a TUN device,
where its kernel receives it as if from a tunnel device (the VIP sits on lo;
the answer leaves by the normal route: direct server return).

    ipip: every IPv4 packet of protocol 4, from a raw socket (outer header
          included, dropped here);
    gue:  every UDP datagram to PORT, from a UDP socket: GUE variant 1, the
          payload is the bare inner packet (what anylb sends).

Usage: tunnel_decap.py DEVICE ipip | DEVICE gue PORT   (the caller brings DEVICE up)
"""
import fcntl
import os
import socket
import struct
import sys

TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000
IPPROTO_IPIP = 4

if len(sys.argv) < 3 or sys.argv[2] not in ("ipip", "gue") or (sys.argv[2] == "gue") != (len(sys.argv) == 4):
    sys.exit(__doc__)
device, kind = sys.argv[1], sys.argv[2]
tun = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", device.encode(), IFF_TUN | IFF_NO_PI))
if kind == "ipip":
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_IPIP)  # the outer header comes with it
else:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("0.0.0.0", int(sys.argv[3])))

while True:
    packet = sock.recv(65535)
    if kind == "ipip":
        if len(packet) < 20:
            continue
        packet = packet[(packet[0] & 0x0F) * 4:]
    if len(packet) >= 20 and packet[0] >> 4 == 4:  # IPv4 inside (the lab's tunnelled VIPs are IPv4)
        os.write(tun, packet)
