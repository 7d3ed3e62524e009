"""Say what dockerd's containerd store holds of an image, to explain a failed run.

image_store.py INDEX_JSON: for each manifest of the index (read from the store by its digest),
whether the manifest and its config are present in the store. Output only; exits 0.
"""

import json
import subprocess
import sys


def present(digest):
    got = subprocess.run(["ctr", "-n", "moby", "content", "get", digest], capture_output=True)
    return got.stdout if got.returncode == 0 else None


def main():
    doc = json.loads(sys.argv[1])
    for entry in doc.get("manifests", [doc]):
        platform = entry.get("platform", {})
        where = f"{platform.get('os', '?')}/{platform.get('architecture', '?')}"
        kind = entry.get("annotations", {}).get("vnd.docker.reference.type", "image")
        manifest = present(entry["digest"])
        config = "?"
        if manifest is not None:
            config = "present" if present(json.loads(manifest)["config"]["digest"]) else "missing"
        state = "present" if manifest is not None else "missing"
        print(f"  {where} {kind} {entry['digest'][:19]}: manifest {state}, config {config}")


if __name__ == "__main__":
    main()
