#!/usr/bin/env python3
"""Exits 0 when /tmp in the first image of the OCI archive ARCHIVE has mode 1777.

usage: tmp_mode.py ARCHIVE (used by tests/e2e/dialect.sh)
"""
import gzip, io, json, sys, tarfile
a = tarfile.open(sys.argv[1])
index = json.load(a.extractfile('index.json'))
manifest = json.load(a.extractfile('blobs/sha256/' + index['manifests'][0]['digest'][7:]))
modes = {}
for layer in manifest['layers']:
    data = a.extractfile('blobs/sha256/' + layer['digest'][7:]).read()
    for m in tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))).getmembers():
        modes[m.name.strip('./')] = m.mode
sys.exit(0 if modes.get('tmp') == 0o1777 else 1)
