#!/usr/bin/env python3
"""The tests' HTTP server: files under DIR for GET and HEAD (a Nix binary cache, a download), with
PUT uploads for NIX_CACHE_PUSH (--upload) and HTTP basic auth for a private cache (--auth).

It binds a port the kernel picks (port 0) and writes it to PORT_FILE once it listens, so no two
servers and no other program on the machine ever fight over a port.

With --rate MB_PER_S the files it serves share that bandwidth (a binary cache across a network,
for the benchmarks), with --latency S each response waits that long first.

usage: serve_http.py PORT_FILE DIR [--address ADDRESS] [--upload] [--auth USER:PASSWORD]
                     [--rate MB_PER_S] [--latency S]
"""
import argparse
import base64
import http.server
import os
import threading
import time

parser = argparse.ArgumentParser()
parser.add_argument("port_file")
parser.add_argument("root")
parser.add_argument("--address", default="127.0.0.1")
parser.add_argument("--upload", action="store_true")
parser.add_argument("--auth")
parser.add_argument("--rate", type=float)
parser.add_argument("--latency", type=float, default=0.0)
args = parser.parse_args()
ROOT = os.path.realpath(args.root)
EXPECTED = "Basic " + base64.b64encode(args.auth.encode()).decode() if args.auth else None


class Bandwidth:
    """One link's bandwidth, shared by every response: each chunk waits for its turn."""

    def __init__(self, bytes_per_second):
        self.rate = bytes_per_second
        self.lock = threading.Lock()
        self.free_at = time.monotonic()

    def take(self, size):
        with self.lock:
            start = max(self.free_at, time.monotonic())
            self.free_at = start + size / self.rate
            wait = self.free_at - time.monotonic()
        if wait > 0:
            time.sleep(wait)


LINK = Bandwidth(args.rate * 1e6) if args.rate else None


class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **kw):
        super().__init__(*a, directory=ROOT, **kw)

    def copyfile(self, source, outputfile):
        if args.latency:
            time.sleep(args.latency)
        if LINK is None:
            return super().copyfile(source, outputfile)
        while True:
            chunk = source.read(64 * 1024)
            if not chunk:
                return
            LINK.take(len(chunk))
            outputfile.write(chunk)

    def _authorized(self):
        if EXPECTED is None or self.headers.get("Authorization") == EXPECTED:
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="cache"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def do_GET(self):
        if self._authorized():
            super().do_GET()

    def do_HEAD(self):
        if self._authorized():
            super().do_HEAD()

    def do_PUT(self):
        if not self._authorized():
            return
        if not args.upload:
            self.send_error(405)
            return
        path = os.path.realpath(os.path.join(ROOT, self.path.split("?", 1)[0].lstrip("/")))
        if not path.startswith(ROOT + os.sep):
            self.send_error(403)
            return
        length = int(self.headers.get("Content-Length", "0"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".part", "wb") as f:
            remaining = length
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                f.write(chunk)
                remaining -= len(chunk)
        os.replace(path + ".part", path)
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()


# BuildKit downloads every file of a closure at once: a listen queue as deep as common servers'
# (nginx: 511), not socketserver's 5, which resets connections past the fifth.
http.server.ThreadingHTTPServer.request_queue_size = 512
server = http.server.ThreadingHTTPServer((args.address, 0), Handler)
with open(args.port_file + ".part", "w") as f:
    f.write(f"{server.server_address[1]}\n")
os.replace(args.port_file + ".part", args.port_file)
server.serve_forever()
