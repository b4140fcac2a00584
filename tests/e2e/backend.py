#!/usr/bin/env python3
"""tests/e2e/backend.py - a health-check target for the end-to-end tests.

    backend.py --bind 127.0.0.11 --port 0 [--tcp]

Prints the port it listens on as the first line of stdout, then serves:
HTTP (default): 200 "ok" on GET of any path; after SIGUSR1, 503 (the next
SIGUSR1 switches back). --tcp: a plain TCP listener that accepts and closes
every connection. The socket is bound with SO_REUSEADDR so a backend can be
restarted on the port of one that was killed. Stops on SIGTERM/SIGINT.
"""
import argparse
import http.server
import signal
import socket
import socketserver
import sys
import threading

state = {"failing": False}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        code = 503 if state["failing"] else 200
        body = b"failing\n" if state["failing"] else b"ok\n"
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, fmt, *args):
        pass


class HTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    allow_reuse_address = True
    daemon_threads = True


def toggle(signum, frame):
    state["failing"] = not state["failing"]


def stop(signum, frame):
    sys.exit(0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tcp", action="store_true", help="plain TCP: accept and close")
    a = ap.parse_args()
    family = socket.AF_INET6 if ":" in a.bind else socket.AF_INET
    signal.signal(signal.SIGUSR1, toggle)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if a.tcp:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((a.bind, a.port))
        s.listen(64)
        print(s.getsockname()[1], flush=True)
        while True:
            try:
                c, _ = s.accept()
            except InterruptedError:
                continue
            c.close()
    HTTPServer.address_family = family
    srv = HTTPServer((a.bind, a.port), Handler)
    print(srv.server_address[1], flush=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
