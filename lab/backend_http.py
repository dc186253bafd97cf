#!/usr/bin/python3
"""A lab backend: answers every GET/HEAD with its name and the client it saw,
on IPv4 and IPv6. Usage: backend_http.py NAME PORT [STATUS_FILE]; while
STATUS_FILE holds a number, that is the HTTP status it answers (default
200), so a test can fail a health check without closing the port."""
import http.server
import socket
import sys

name, port = sys.argv[1], int(sys.argv[2])
status_file = sys.argv[3] if len(sys.argv) > 3 else None


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, body):
        code = 200
        if status_file:
            try:
                with open(status_file) as f:
                    code = int(f.read())
            except (OSError, ValueError):
                pass
        data = f"{name} served {self.client_address[0]}\n".encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)

    def do_GET(self):
        self.answer(True)

    def do_HEAD(self):
        self.answer(False)

    def log_message(self, *args):  # quiet: health checks would flood the log
        pass


class DualStack(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # "::" takes IPv4 too
        super().server_bind()


DualStack(("::", port), Handler).serve_forever()
