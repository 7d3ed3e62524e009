#!/usr/bin/env bash
# End-to-end tests against the real dockerd + BuildKit, the real Nix builder image and the real
# frontend image. Run by scripts/test after set-up; expects org/nix-frontend and
# nix-frontend-test/nix:local to be loaded.
#   usage: tests/e2e.sh [NAME...]      (default: every test)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
NIX_IMAGE=${NIX_IMAGE:-nix-frontend-test/nix:local}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
passed=0
# shellcheck source=tests/lib/common.sh
. tests/lib/common.sh
for file in tests/e2e/*.sh; do
  # shellcheck source=/dev/null
  . "$file"
done

tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(hello libc errors subdir dockerignore hostile nix_args cacert dialect dialect_errors outputs flake print chain shared repro concurrent interrupt leaf
  cache_local registry fresh_builder binary_cache secret ssh multiplatform setup without_store)
for t in "${tests[@]}"; do "test_$t"; done
[ -f "$work/timings" ] && sed 's/^/timing: /' "$work/timings"
echo "e2e: $passed passed, $failures failed"
[ "$failures" = 0 ]
