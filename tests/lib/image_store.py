"""Say what dockerd's containerd store holds of an image, to explain a failed run.

image_store.py TARGET_JSON: the image's target as the store holds it, an index or one manifest.
For each manifest of an index (read from the store by its digest), whether the manifest and its
config are present in the store; for one manifest, whether its config is. Output only.
"""

import json
import subprocess
import sys


def present(digest):
    got = subprocess.run(["ctr", "-n", "moby", "content", "get", digest], capture_output=True)
    return got.stdout if got.returncode == 0 else None


def config_state(manifest):
    return "present" if present(json.loads(manifest)["config"]["digest"]) else "missing"


def main():
    doc = json.loads(sys.argv[1])
    if "manifests" not in doc:
        print(f"  one manifest: config {config_state(sys.argv[1])}")
        return
    for entry in doc["manifests"]:
        platform = entry.get("platform", {})
        where = f"{platform.get('os', '?')}/{platform.get('architecture', '?')}"
        kind = entry.get("annotations", {}).get("vnd.docker.reference.type", "image")
        manifest = present(entry["digest"])
        state = "present" if manifest is not None else "missing"
        config = config_state(manifest) if manifest is not None else "?"
        print(f"  {where} {kind} {entry['digest'][:19]}: manifest {state}, config {config}")


if __name__ == "__main__":
    main()
