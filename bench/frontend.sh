#!/usr/bin/env bash
# The frontend image itself: its size, and the wall time of the smallest complete round trip
# through it (`--print=subrequests.describe`: BuildKit starts the frontend container, it answers
# over gRPC, returns), median of 7 runs. Expects scripts/frontend-image to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:-org/nix-frontend}
echo "frontend image $image: $(docker image inspect "$image" --format '{{.Size}}') bytes (compressed layers)"
echo "binary: $(stat -c %s target/frontend-image/out/nix-frontend) bytes (static, stripped)"
times=()
for _ in 1 2 3 4 5 6 7; do
  start=$(date +%s%N)
  BUILDX_EXPERIMENTAL=1 docker buildx build --print=subrequests.describe -f tests/fixtures/hello/default.nix tests/fixtures/hello >/dev/null 2>&1
  times+=($(( ($(date +%s%N) - start) / 1000000 )))
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n | tr '\n' ' ')
echo "describe round trip (ms), sorted: $sorted; median $(printf '%s\n' "${times[@]}" | sort -n | sed -n 4p) ms"
