#!/usr/bin/env python3
"""The tests' HTTP server: files under DIR for GET and HEAD (a Nix binary cache, a download), with
PUT uploads for NIX_CACHE_PUSH (--upload) and HTTP basic auth for a private cache (--auth).

It binds a port the kernel picks (port 0) and writes it to PORT_FILE once it listens, so no two
servers and no other program on the machine ever fight over a port.

With --rate MB_PER_S the files it serves share that bandwidth (a binary cache across a network,
for the benchmarks), with --latency S each response waits that long first.

With --git the git repositories under DIR are also served as git hosts serve them, by git's own
`git http-backend` (the smart protocol, which shallow fetches need); every request is a line of
the log.

usage: serve_http.py PORT_FILE DIR [--address ADDRESS] [--upload] [--auth USER:PASSWORD]
                     [--rate MB_PER_S] [--latency S] [--git]
"""
import argparse
import base64
import http.server
import os
import subprocess
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
parser.add_argument("--git", action="store_true")
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

    def _smart_git(self):
        """A request of git's smart HTTP protocol, when serving --git."""
        path, _, query = self.path.partition("?")
        return args.git and (
            path.endswith("/git-upload-pack")
            or (path.endswith("/info/refs") and "service=" in query)
        )

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                chunk = self.rfile.read(size + 2)[:size]
                if size == 0:
                    return body
                body += chunk
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _git_backend(self):
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": ROOT,
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "REMOTE_ADDR": self.client_address[0],
        }
        for header, variable in (("Git-Protocol", "GIT_PROTOCOL"),
                                 ("Content-Encoding", "HTTP_CONTENT_ENCODING")):
            if self.headers.get(header):
                env[variable] = self.headers[header]
        body = self._read_body() if self.command == "POST" else b""
        backend = subprocess.run(["git", "http-backend"], input=body, env=env,
                                 capture_output=True, check=False)
        if backend.returncode != 0:
            self.log_message("git http-backend failed: %s", backend.stderr.decode(errors="replace"))
            self.send_error(500)
            return
        head, _, payload = backend.stdout.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        if not self._authorized():
            return
        if self._smart_git():
            self._git_backend()
        else:
            super().do_GET()

    def do_POST(self):
        if not self._authorized():
            return
        if self._smart_git():
            self._git_backend()
        else:
            self.send_error(405)

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
