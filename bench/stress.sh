#!/usr/bin/env bash
# Repeated leaf-change rebuilds of the wide fixture (303 paths, 242 MB) with a prune before each
# pair, counting failed builds: issue 11's export flake ("failed to prepare extraction snapshot
# … parent snapshot … does not exist", 3 of 24 such builds on dockerd 26 before graph mode).
#   usage: bench/stress.sh [ROUNDS]    (default 8; FRONTEND=<image> tries another frontend image,
#          NIX_PLAN=single the single-step plan)
set -uo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-8}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r tests/fixtures/wide "$work/wide"
build() {
  docker buildx build --progress=plain --build-arg NIX_IMAGE=nix-frontend-test/nix:local \
    ${FRONTEND:+--build-arg "BUILDKIT_SYNTAX=$FRONTEND"} ${NIX_PLAN:+--build-arg "NIX_PLAN=$NIX_PLAN"} -f "$work/wide/default.nix" --target app \
    -t nf-bench/stress "$work/wide" >"$work/build.log" 2>&1
}
builds=0 failed=0
for round in $(seq 1 "$rounds"); do
  docker builder prune -af >/dev/null
  for change in a b; do
    echo "round $round $change $$" >"$work/wide/app/message.txt"
    builds=$((builds + 1))
    if ! build; then
      failed=$((failed + 1))
      echo "round $round/$change failed: $(grep -m1 -E 'ERROR|error' "$work/build.log")"
    fi
  done
done
echo "stress: $builds builds ($rounds rounds of a cold build and a leaf change after a prune), $failed failed"
[ "$failed" = 0 ]
