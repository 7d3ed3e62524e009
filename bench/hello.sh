#!/usr/bin/env bash
# examples/hello with the frontend: cold build (after `docker builder prune -af`), no-change
# rebuild, image size (uncompressed layer tars) next to the closure's NAR size. RUNS times
# (default 3). Expects scripts/setup, scripts/nix-image and scripts/frontend-image to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
nix_image=${NIX_IMAGE:-nix-frontend-test/nix:local}
build() {
  docker buildx build --quiet --build-arg "NIX_IMAGE=$nix_image" -f examples/hello/default.nix "$@" examples/hello >/dev/null
}
seconds() { local start=$1; echo "scale=2; ($(date +%s%N) - $start) / 1000000000" | bc; }
oci=$(mktemp)
trap 'rm -f "$oci"' EXIT
for i in $(seq 1 "$runs"); do
  docker builder prune -af >/dev/null
  start=$(date +%s%N); build -t nix-frontend-bench/hello; cold=$(seconds "$start")
  start=$(date +%s%N); build -t nix-frontend-bench/hello; warm=$(seconds "$start")
  echo "run $i: cold ${cold} s, no-change rebuild ${warm} s"
done
build --output "type=oci,dest=$oci"
read -r compressed uncompressed layers < <(python3 tests/lib/oci_files.py "$oci" --sizes)
nar=$(docker run --rm -v "$PWD/examples/hello:/src:ro" -w /src "$nix_image" \
  sh -c 'nix path-info --json -r $(nix-build default.nix --no-out-link 2>/dev/null)' |
  python3 -c 'import json,sys; d=json.load(sys.stdin); v=d.values() if isinstance(d,dict) else d; print(sum(x["narSize"] for x in v))')
echo "image: $uncompressed bytes of layer tars ($compressed gzipped, $layers layers); closure NAR size $nar bytes"
