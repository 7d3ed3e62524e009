#!/usr/bin/env python3
"""Prints the layer digests of the linux/amd64 image of REF (HOST/NAME:TAG or @DIGEST) in a
plain-HTTP registry, one per line, resolving an index to its platform manifest.

usage: registry_layers.py HOST/NAME:TAG [PLATFORM]   (PLATFORM defaults to linux/amd64)
"""
import json
import sys
import urllib.request

ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])


def fetch(host, name, reference):
    request = urllib.request.Request(f"http://{host}/v2/{name}/manifests/{reference}",
                                     headers={"Accept": ACCEPT})
    with urllib.request.urlopen(request) as response:
        return json.load(response)


ref = sys.argv[1]
platform = sys.argv[2] if len(sys.argv) > 2 else "linux/amd64"
host, rest = ref.split("/", 1)
if "@" in rest:
    name, reference = rest.split("@", 1)
else:
    name, reference = rest.rsplit(":", 1)
manifest = fetch(host, name, reference)
if "manifests" in manifest:
    os_name, arch = platform.split("/")[:2]
    chosen = [m for m in manifest["manifests"]
              if m.get("platform", {}).get("os") == os_name and m["platform"].get("architecture") == arch]
    manifest = fetch(host, name, chosen[0]["digest"])
for layer in manifest["layers"]:
    print(layer["digest"])
