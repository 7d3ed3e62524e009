#!/usr/bin/env bash
# End-to-end tests against the real dockerd + BuildKit, the real Nix builder image and the real
# frontend image. Run by scripts/test after set-up; expects org/nix-frontend and
# nix-frontend-test/nix:local to be loaded.
#   usage: tests/e2e.sh [NAME...]      (default: every test)
# E2E_DOCKER=docker28: every `docker` call of the tests goes to the Docker 28 test daemon in the
# container ${DOCKER28_NAME:-nf-docker28} (scripts/docker28 start), through a `docker` on PATH that
# runs `docker exec` there in the same directory (the repository and /tmp are mounted at the same
# paths).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
NIX_IMAGE=${NIX_IMAGE:-nix-frontend-test/nix:local}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
case ${E2E_DOCKER:-} in
  "") ;;
  docker28)
    d28=${DOCKER28_NAME:-nf-docker28}
    host_docker=$(command -v docker)
    [ "$("$host_docker" inspect -f '{{.State.Running}}' "$d28" 2>/dev/null)" = true ] ||
      { echo "e2e: $d28 is not running (scripts/docker28 start)" >&2; exit 1; }
    mkdir -p "$work/bin"
    cat >"$work/bin/docker" <<WRAP
#!/bin/sh
exec "$host_docker" exec -i -w "\$PWD" -e BUILDX_EXPERIMENTAL -e SOURCE_DATE_EPOCH "$d28" docker "\$@"
WRAP
    chmod +x "$work/bin/docker"
    PATH=$work/bin:$PATH
    echo "e2e: against $(docker version --format 'dockerd {{.Server.Version}}') in $d28, $(docker buildx version | cut -d' ' -f1-2)"
    ;;
  *) echo "e2e: unknown E2E_DOCKER=$E2E_DOCKER (docker28)" >&2; exit 2 ;;
esac
failures=0
passed=0
# shellcheck source=tests/lib/common.sh
. tests/lib/common.sh
for file in tests/e2e/*.sh; do
  # shellcheck source=/dev/null
  . "$file"
done

tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(hello libc errors error_file subdir dockerignore build_context hostile nix_args ifd cacert dialect dialect_errors lint
  outputs flake print check chain sbom shared repro concurrent interrupt leaf cache_local registry fresh_builder binary_cache secret ssh
  multiplatform setup without_store network export_race nix_cache_push)
for t in "${tests[@]}"; do "test_$t"; done
[ -f "$work/timings" ] && sed 's/^/timing: /' "$work/timings"
echo "e2e: $passed passed, $failures failed"
[ "$failures" = 0 ]
