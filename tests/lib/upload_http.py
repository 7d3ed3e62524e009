#!/usr/bin/env python3
"""A Nix binary cache over HTTP that takes uploads, for the NIX_CACHE_PUSH tests: GET and HEAD
serve files under DIR, PUT writes them (Nix's HTTP binary cache store uploads with PUT).

usage: upload_http.py PORT DIR [ADDRESS]   (ADDRESS defaults to 127.0.0.1)
"""
import http.server
import os
import sys

PORT, ROOT = int(sys.argv[1]), os.path.realpath(sys.argv[2])
ADDRESS = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1"


class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=ROOT, **kwargs)

    def do_PUT(self):
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


http.server.ThreadingHTTPServer((ADDRESS, PORT), Handler).serve_forever()
