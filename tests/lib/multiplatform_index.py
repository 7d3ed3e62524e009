#!/usr/bin/env python3
"""Checks a two-platform OCI archive: one index with amd64 and arm64 images (attestations
aside), the arm64 config says arm64 and its busybox is an aarch64 ELF.

usage: multiplatform_index.py ARCHIVE (used by tests/e2e/multiplatform.sh)
"""
import gzip, io, json, sys, tarfile
archive = tarfile.open(sys.argv[1])
blob = lambda d: archive.extractfile("blobs/sha256/" + d[7:]).read()
index = json.loads(archive.extractfile("index.json").read())
inner = json.loads(blob(index["manifests"][0]["digest"]))
images = {m["platform"]["architecture"]: m for m in inner["manifests"]
          if m.get("annotations", {}).get("vnd.docker.reference.type") != "attestation-manifest"}
assert sorted(images) == ["amd64", "arm64"], images.keys()
manifest = json.loads(blob(images["arm64"]["digest"]))
config = json.loads(blob(manifest["config"]["digest"]))
assert config["architecture"] == "arm64", config["architecture"]
machines = set()
for layer in manifest["layers"]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob(layer["digest"])))) as t:
        for m in t.getmembers():
            if m.name.endswith("/busybox") and m.isfile():
                head = t.extractfile(m).read(20)
                machines.add(int.from_bytes(head[18:20], "little"))
assert machines == {0xB7}, machines  # EM_AARCH64
