#!/usr/bin/env python3
"""Checks the SPDX SBOM attestation in an OCI image archive (docker buildx --sbom=true
--output type=oci) against the closure Nix reports.

usage: sbom_check.py ARCHIVE PATH_INFO_JSON OUT_DOCUMENT [--license EXPRESSION]
PATH_INFO_JSON is `nix path-info --json --recursive` of the result (either JSON shape). Writes
the SPDX predicate to OUT_DOCUMENT (for a validator) and exits non-zero with a message on the
first difference: attestation manifest and in-toto layer present, predicate type SPDX, one
package per store path of the closure and nothing else, each with the NAR hash as SHA256 and a
pkg:nix purl, DEPENDS_ON exactly the references, DESCRIBES the result, the result's license.
"""
import base64
import json
import sys
import tarfile


def blob(archive, digest):
    algo, hexdigest = digest.split(":", 1)
    return archive.extractfile(f"blobs/{algo}/{hexdigest}").read()


def fail(message):
    raise SystemExit(f"sbom_check: {message}")


def statements(archive):
    """The in-toto statements of every attestation manifest in the archive."""
    index = json.loads(archive.extractfile("index.json").read())
    queue = list(index["manifests"])
    found = []
    while queue:
        desc = queue.pop(0)
        doc = json.loads(blob(archive, desc["digest"]))
        if "manifests" in doc:
            queue.extend(doc["manifests"])
            continue
        if desc.get("annotations", {}).get("vnd.docker.reference.type") != "attestation-manifest":
            continue
        for layer in doc["layers"]:
            kind = layer.get("annotations", {}).get("in-toto.io/predicate-type")
            found.append((kind, layer["mediaType"], json.loads(blob(archive, layer["digest"]))))
    return found


def nar_hex(text):
    if text.startswith("sha256-"):
        return base64.b64decode(text[len("sha256-"):]).hex()
    fail(f"unexpected narHash form {text}")


def main():
    archive_path, info_path, out_path = sys.argv[1:4]
    license = sys.argv[sys.argv.index("--license") + 1] if "--license" in sys.argv else None
    info = json.load(open(info_path))
    if isinstance(info, list):
        info = {entry["path"]: entry for entry in info}
    full = lambda p: p if p.startswith("/") else "/nix/store/" + p
    with tarfile.open(archive_path) as archive:
        found = statements(archive)
    spdx = [s for kind, media, s in found if kind == "https://spdx.dev/Document"]
    if len(spdx) != 1:
        fail(f"expected one SPDX statement, found {[k for k, _, _ in found]}")
    statement = spdx[0]
    # In an image index the attestation manifest names the image; the statement's subject list
    # is empty there (BuildKit's own provenance statements too).
    if statement.get("predicateType") != "https://spdx.dev/Document":
        fail("the statement has no SPDX predicate type")
    document = statement["predicate"]
    json.dump(document, open(out_path, "w"), indent=1)
    packages = {p["packageFileName"]: p for p in document["packages"]}
    if len(packages) != len(document["packages"]):
        fail("a store path is listed twice")
    if set(packages) != set(info):
        fail(f"packages differ from the closure: missing {sorted(set(info) - set(packages))[:5]}, extra {sorted(set(packages) - set(info))[:5]}")
    ids = {p["SPDXID"]: path for path, p in packages.items()}
    depends = set()
    describes = set()
    for r in document["relationships"]:
        if r["relationshipType"] == "DEPENDS_ON":
            depends.add((ids[r["spdxElementId"]], ids[r["relatedSpdxElement"]]))
        elif r["relationshipType"] == "DESCRIBES" and r["spdxElementId"] == "SPDXRef-DOCUMENT":
            describes.add(ids[r["relatedSpdxElement"]])
    expected = {(path, full(ref)) for path, entry in info.items() for ref in entry.get("references") or [] if full(ref) != path}
    if depends != expected:
        fail(f"DEPENDS_ON differs from the references: missing {sorted(expected - depends)[:3]}, extra {sorted(depends - expected)[:3]}")
    for path, entry in info.items():
        package = packages[path]
        sums = [c["checksumValue"] for c in package.get("checksums", []) if c["algorithm"] == "SHA256"]
        if sums != [nar_hex(entry["narHash"])]:
            fail(f"{path}: checksum {sums} is not its NAR hash {entry['narHash']}")
        # Its own pkg:nix purl; meta.identifiers may add purls of other types.
        purls = [r["referenceLocator"] for r in package.get("externalRefs", []) if r["referenceType"] == "purl"]
        if len([p for p in purls if p.startswith("pkg:nix/")]) != 1:
            fail(f"{path}: purls {purls}")
    roots = {path for path in info if not any(path in (entry.get("references") or []) or path[len("/nix/store/"):] in (entry.get("references") or []) for other, entry in info.items() if other != path)}
    if describes != roots:
        fail(f"DESCRIBES {sorted(describes)}, expected the result {sorted(roots)}")
    if license is not None:
        declared = {packages[r]["licenseDeclared"] for r in describes}
        if declared != {license}:
            fail(f"the result's license is {declared}, expected {license}")
    print(f"{len(packages)} packages, {len(depends)} DEPENDS_ON, result {', '.join(sorted(describes))}")


if __name__ == "__main__":
    main()
