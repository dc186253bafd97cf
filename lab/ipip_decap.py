#!/usr/bin/python3
"""The lab backends' IP-in-IP tunnel end, in user space: this machine's
kernel has no ipip module, so a backend takes every IPv4 packet of protocol
4 from a raw socket, drops the outer header and hands the inner packet to a
TUN device, where its kernel receives it as if from an ipip device (the VIP
sits on lo; the answer leaves by the normal route: direct server return).

Usage: ipip_decap.py [DEVICE]   (default ipip0; the caller brings it up)
"""
import fcntl
import os
import socket
import struct
import sys

TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000
IPPROTO_IPIP = 4

device = sys.argv[1] if len(sys.argv) > 1 else "ipip0"
tun = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", device.encode(), IFF_TUN | IFF_NO_PI))
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_IPIP)  # the outer header comes with it

while True:
    outer = raw.recv(65535)
    if len(outer) < 20:
        continue
    header = (outer[0] & 0x0F) * 4
    inner = outer[header:]
    if len(inner) >= 20 and inner[0] >> 4 == 4:  # protocol 4 carries IPv4 only
        os.write(tun, inner)
