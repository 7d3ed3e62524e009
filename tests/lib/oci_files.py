#!/usr/bin/env python3
"""Lists what an OCI image archive (docker buildx --output type=oci) holds.

usage: oci_files.py ARCHIVE [--layers]
Prints every path of the image's filesystem (layers applied in order, as "path<TAB>type
[<TAB>link target]"), or with --layers one line per layer: "digest<TAB>size<TAB>top paths".
Only the image for this machine's platform is read; attestation manifests are skipped.
"""
import io
import json
import sys
import tarfile


def blob(archive, digest):
    algo, hexdigest = digest.split(":", 1)
    return archive.extractfile(f"blobs/{algo}/{hexdigest}").read()


def image_manifest(archive):
    index = json.loads(archive.extractfile("index.json").read())
    queue = list(index["manifests"])
    while queue:
        desc = queue.pop(0)
        if desc.get("annotations", {}).get("vnd.docker.reference.type") == "attestation-manifest":
            continue
        doc = json.loads(blob(archive, desc["digest"]))
        if "manifests" in doc:
            queue.extend(doc["manifests"])
        elif "layers" in doc:
            return doc
    raise SystemExit("no image manifest in archive")


def main():
    path = sys.argv[1]
    with tarfile.open(path) as archive:
        manifest = image_manifest(archive)
        files = {}
        for layer in manifest["layers"]:
            data = blob(archive, layer["digest"])
            tops = set()
            with tarfile.open(fileobj=io.BytesIO(data)) as layer_tar:
                for member in layer_tar.getmembers():
                    name = "/" + member.name.lstrip("./").rstrip("/")
                    parts = name.split("/")
                    tops.add("/".join(parts[:4]) if name.startswith("/nix/store/") else "/".join(parts[:2]))
                    kind = "dir" if member.isdir() else "link" if member.issym() else "file"
                    files[name] = (kind, member.linkname, member.mtime, member.uid, member.gid)
            if "--layers" in sys.argv:
                print(f"{layer['digest']}\t{layer['size']}\t{' '.join(sorted(tops))}")
        if "--layers" not in sys.argv:
            for name in sorted(files):
                kind, linkname, mtime, uid, gid = files[name]
                extra = f"\t{linkname}" if kind == "link" else ""
                print(f"{name}\t{kind}\t{mtime}\t{uid}:{gid}{extra}")


if __name__ == "__main__":
    main()
