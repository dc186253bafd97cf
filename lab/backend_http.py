#!/usr/bin/python3
"""A lab backend: answers every HTTP GET with its own name and the client it
saw, on IPv4 and IPv6. Usage: backend_http.py NAME PORT"""
import socket
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{sys.argv[1]} served {self.client_address[0]}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class DualStack(HTTPServer):
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


DualStack(("::", int(sys.argv[2])), Handler).serve_forever()
