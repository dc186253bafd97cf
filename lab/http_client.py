#!/usr/bin/python3
"""Many HTTP requests, each a new connection from a chosen local port, so a
test can repeat exactly the same 5-tuples later. Prints one line per
request: LOCAL_PORT BACKEND_NAME (or "-" when nothing answered).

Usage: http_client.py ADDRESS PORT FIRST_LOCAL_PORT COUNT [STEP]
"""
import socket
import sys

address, port, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
step = int(sys.argv[5]) if len(sys.argv) > 5 else 1
family = socket.AF_INET6 if ":" in address else socket.AF_INET

for local in range(first, first + count * step, step):
    who = "-"
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.settimeout(2)
            s.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", local))
            s.connect((address, port))
            s.sendall(b"GET / HTTP/1.0\r\nHost: lab\r\n\r\n")
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
            body = answer.split(b"\r\n\r\n", 1)[-1].decode(errors="replace")
            who = body.split(" ")[0] or "-"
    except OSError:
        pass
    print(local, who, flush=True)
