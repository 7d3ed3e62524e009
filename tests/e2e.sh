#!/usr/bin/env bash
# End-to-end tests against the real dockerd + BuildKit, the real Nix builder image and the real
# frontend image. Run by scripts/test after set-up; expects org/nix-frontend and
# nix-frontend-test/nix:local to be loaded.
#   usage: tests/e2e.sh [NAME...]      (default: every test, in file order)
#          tests/e2e.sh --list         (the names of every test, without running any)
# The tests are the test_NAME functions of tests/e2e/*.sh: a new one runs by default, and a NAME
# with no function is refused before anything runs.
# E2E_DOCKER=docker28: every `docker` call of the tests goes to the Docker 28 test daemon in the
# container ${DOCKER28_NAME:-nf-docker28} (scripts/docker28 start), through a `docker` on PATH that
# runs `docker exec` there in the same directory (the repository and /tmp are mounted at the same
# paths).
# E2E_DOCKER=standalone: every build goes to the standalone BuildKit builder ${E2E_BUILDER:-nf-bk-e2e}
# (scripts/buildkit start), with the frontend and the Nix image pulled from the local registry.
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
# Every test_NAME function, file by file in the order each file defines them.
all_tests=()
for file in tests/e2e/*.sh; do
  # shellcheck source=/dev/null
  . "$file"
  while IFS= read -r name; do all_tests+=("$name"); done \
    < <(sed -n 's/^test_\([A-Za-z0-9_]*\)[[:space:]]*()[[:space:]]*{.*/\1/p' "$file")
done
# A test function defined some other way would be in no list: refused.
for name in $(declare -F | sed -n 's/^declare -f test_//p'); do
  case " ${all_tests[*]} " in
    *" $name "*) ;;
    *) echo "e2e: test_$name is not defined as 'test_$name() {' at the start of a line in tests/e2e/*.sh, so no list reaches it" >&2; exit 2 ;;
  esac
done
if [ "${1:-}" = --list ]; then
  printf '%s\n' "${all_tests[@]}"
  exit 0
fi
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=("${all_tests[@]}")
for t in "${tests[@]}"; do
  declare -F "test_$t" >/dev/null ||
    { echo "e2e: no test named $t (tests/e2e.sh --list names them)" >&2; exit 2; }
done

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
  standalone)
    # Standalone BuildKit (scripts/buildkit start NAME PORT) through buildx's remote driver, as
    # CI runners use it: the frontend and the Nix image come from the local registry by digest,
    # every build goes to that builder and tagged images come back with --load, and a prune is
    # that builder's. Other docker commands go to the host's dockerd.
    bk=${E2E_BUILDER:-nf-bk-e2e}
    docker buildx inspect "$bk" >/dev/null 2>&1 ||
      { echo "e2e: no builder $bk (scripts/buildkit start $bk PORT)" >&2; exit 1; }
    # FRONTEND may already be a pinned reference in the registry (scripts/publish's index).
    case ${FRONTEND:-} in
      127.0.0.1:5000/*@sha256:*) ;;
      *) FRONTEND=$(scripts/buildkit publish "${FRONTEND:-org/nix-frontend}" 127.0.0.1:5000/nix-frontend:e2e) || exit 1 ;;
    esac
    NIX_IMAGE=$(scripts/buildkit publish "$NIX_IMAGE" 127.0.0.1:5000/nix:e2e) || exit 1
    export FRONTEND
    host_docker=$(command -v docker)
    mkdir -p "$work/bin"
    cat >"$work/bin/docker" <<WRAP
#!/usr/bin/env bash
if [ "\$1 \$2" = "buildx build" ]; then
  shift 2
  load=
  for a in "\$@"; do case \$a in -t|--tag|--tag=*) load=--load ;; esac; done
  for a in "\$@"; do case \$a in -o|--output|--output=*|--push|--load|--call|--call=*|--print|--print=*|--check) load= ;; esac; done
  exec "$host_docker" buildx build --builder "$bk" \$load "\$@"
fi
if [ "\$1 \$2" = "builder prune" ]; then
  shift 2
  exec "$host_docker" buildx prune --builder "$bk" "\$@"
fi
exec "$host_docker" "\$@"
WRAP
    chmod +x "$work/bin/docker"
    PATH=$work/bin:$PATH
    echo "e2e: against standalone BuildKit ($(docker buildx inspect "$bk" | grep -m1 'BuildKit version' | tr -s ' ')), builder $bk; frontend $FRONTEND"
    ;;
  *) echo "e2e: unknown E2E_DOCKER=$E2E_DOCKER (docker28, standalone)" >&2; exit 2 ;;
esac
for t in "${tests[@]}"; do "test_$t"; done
[ -f "$work/timings" ] && sed 's/^/timing: /' "$work/timings"
echo "e2e: $passed passed, $failures failed"
[ "$failures" = 0 ]
