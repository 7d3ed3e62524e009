#!/usr/bin/env python3
"""Lists what an OCI image archive (docker buildx --output type=oci) holds.

usage: oci_files.py ARCHIVE [--layers | --sizes | --modes]
Prints every path of the image's filesystem (layers applied in order, as "path<TAB>type<TAB>
mtime<TAB>uid:gid[<TAB>link target]", or with --modes "path<TAB>type<TAB>mtime<TAB>uid:gid<TAB>
octal permission bits"); with --layers one line per layer: "digest<TAB>compressed
size<TAB>uncompressed size<TAB>top paths"; with --sizes "compressed<TAB>uncompressed<TAB>layers"
for the whole image.
Only the image for this machine's platform is read; attestation manifests are skipped.
"""
import gzip
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
        compressed = uncompressed = 0
        for layer in manifest["layers"]:
            data = blob(archive, layer["digest"])
            raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
            compressed += layer["size"]
            uncompressed += len(raw)
            tops = set()
            with tarfile.open(fileobj=io.BytesIO(raw)) as layer_tar:
                for member in layer_tar.getmembers():
                    name = "/" + member.name.lstrip("./").rstrip("/")
                    parts = name.split("/")
                    tops.add("/".join(parts[:4]) if name.startswith("/nix/store/") else "/".join(parts[:2]))
                    kind = "dir" if member.isdir() else "link" if member.issym() else "file"
                    files[name] = (kind, member.linkname, member.mtime, member.uid, member.gid, member.mode)
            if "--layers" in sys.argv:
                print(f"{layer['digest']}\t{layer['size']}\t{len(raw)}\t{' '.join(sorted(tops))}")
        if "--sizes" in sys.argv:
            print(f"{compressed}\t{uncompressed}\t{len(manifest['layers'])}")
        elif "--layers" not in sys.argv:
            for name in sorted(files):
                kind, linkname, mtime, uid, gid, mode = files[name]
                if "--modes" in sys.argv:
                    extra = f"\t{mode & 0o7777:o}"
                else:
                    extra = f"\t{linkname}" if kind == "link" else ""
                print(f"{name}\t{kind}\t{mtime}\t{uid}:{gid}{extra}")


if __name__ == "__main__":
    main()
