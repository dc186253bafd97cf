"""A backend for the BGP lab: answers every GET/HEAD on port 80 (IPv4 and
IPv6) with its name. Usage: backend_http.py NAME STATUS_FILE; while
STATUS_FILE holds a number, that is the HTTP status it answers (default 200),
so a test can fail a health check without closing the port."""
import http.server
import socket
import sys

name, status_file = sys.argv[1], sys.argv[2]


class Handler(http.server.BaseHTTPRequestHandler):
    def answer(self, body):
        try:
            with open(status_file) as f:
                code = int(f.read())
        except (OSError, ValueError):
            code = 200
        data = (name + "\n").encode()
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


class Server(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # "::" takes IPv4 too
        super().server_bind()


Server(("::", 80), Handler).serve_forever()
