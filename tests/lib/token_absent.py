#!/usr/bin/env python3
"""Exits non-zero when TOKEN occurs in any blob of the OCI archive ARCHIVE or any file under
CACHE_DIR (gzip blobs decompressed first).

usage: token_absent.py TOKEN ARCHIVE CACHE_DIR (used by tests/e2e/inputs.sh, test_secret)
"""
import gzip, os, sys, tarfile
token = sys.argv[1].encode()
def blobs():
    with tarfile.open(sys.argv[2]) as archive:
        for member in archive.getmembers():
            if member.isfile():
                yield member.name, archive.extractfile(member).read()
    for root, _, files in os.walk(sys.argv[3]):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                yield name, f.read()
count = 0
for name, data in blobs():
    count += 1
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if token in data:
        sys.exit(f"token found in {name}")
print(f"    checked {count} blobs", file=sys.stderr)
