#!/usr/bin/env bash
# Foreign platforms: cold builds (after `docker builder prune -af`) of linux/amd64, and of
# linux/arm64 two ways on this amd64 dockerd: the whole arm64 builder image under qemu
# (NIX_EMULATE=all, how every arm64 build ran before) and Nix natively with only the arm64
# builds emulated (NIX_EMULATE=builds, the default now). Each fixture gets a static busybox of
# each platform in its context (busybox/<system>/busybox), so both ways build the same arm64
# derivations. Fixtures:
#   foreign  tests/fixtures/foreign's app, its library substituted from a signed binary cache
#            that holds it for both systems: only the leaf is built
#   chain    tests/fixtures/chain, 150 small derivations, all built
#   wide     tests/fixtures/wide with --arg count 40, all built
# Prints seconds per build (median of RUNS, default 1) and arm64 over amd64 for each way.
#   usage: bench/foreign.sh [FIXTURE...]
# Expects scripts/setup, scripts/nix-image, the arm64 builder image (tests/e2e.sh multiplatform
# makes nix-frontend-test/nix:local-arm64 and the registry's two-platform index) and
# scripts/frontend-image org/nix-frontend.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
fixtures=("$@")
[ ${#fixtures[@]} -gt 0 ] || fixtures=(foreign chain wide)
runs=${RUNS:-1}
multi=127.0.0.1:5000/nix-frontend-test/nix:multi
scripts/registry
scripts/nix-image-index "$multi" amd64 arm64 >/dev/null
work=$(mktemp -d)
trap 'kill "${server:-}" 2>/dev/null; rm -rf "$work"' EXIT

busyboxes() { # busyboxes DIR: each platform's static busybox into DIR/busybox/<system>/
  mkdir -p "$1/busybox/x86_64-linux" "$1/busybox/aarch64-linux"
  docker run --rm nix-frontend-test/nix:local cat /usr/bin/busybox >"$1/busybox/x86_64-linux/busybox"
  local cid
  cid=$(docker create --platform linux/arm64 nix-frontend-test/nix:local-arm64 true)
  docker cp "$cid:/usr/bin/busybox" "$1/busybox/aarch64-linux/busybox" >/dev/null
  docker rm "$cid" >/dev/null
  chmod +x "$1"/busybox/*/busybox
}

# The signed binary cache for `foreign`: its library for both systems.
cache=$work/cache port=$((32000 + $$ % 9000))
mkdir -p "$cache"
printf 'StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n' >"$cache/nix-cache-info"
docker run --rm -v "$work:/work" nix-frontend-test/nix:local \
  nix-store --generate-binary-cache-key bench /work/key.sec /work/key.pub >/dev/null
python3 tests/lib/upload_http.py "$port" "$cache" >"$work/http.log" 2>&1 &
server=$!
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$port/nix-cache-info" >/dev/null 2>&1 && break; sleep 0.1; done

build() { # build DIR ARGS...: one build with the test builder index, its log in $work/build.log
  local dir=$1
  shift
  docker buildx build --progress=plain --build-arg "NIX_IMAGE=$multi" \
    ${FRONTEND:+--build-arg "BUILDKIT_SYNTAX=$FRONTEND"} -f "$dir/default.nix" \
    --output "type=oci,dest=$work/out.tar" "$@" "$dir" >"$work/build.log" 2>&1 ||
    { tail -20 "$work/build.log" >&2; return 1; }
}

cold() { # cold VAR DIR ARGS...: median seconds of $runs cold builds into VAR
  local var=$1 times=() start
  shift
  for _ in $(seq 1 "$runs"); do
    docker builder prune -af >/dev/null
    start=$(date +%s.%N)
    build "$@"
    times+=("$(echo "$(date +%s.%N) - $start" | bc)")
  done
  printf -v "$var" '%.1f' "$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')"
}

printf '%-8s %10s %14s %14s %12s %12s\n' fixture amd64 "arm64 (all)" "arm64 (builds)" "all/amd64" "builds/amd64"
for fixture in "${fixtures[@]}"; do
  dir=$work/$fixture
  args=()
  case $fixture in
    foreign)
      cp -r tests/fixtures/foreign "$dir"
      args=(--target app --network host --build-arg "NIX_SUBSTITUTERS=http://127.0.0.1:$port"
        --build-arg "NIX_TRUSTED_PUBLIC_KEYS=$(cat "$work/key.pub")")
      ;;
    chain) cp -r tests/fixtures/chain "$dir"; args=(--target top) ;;
    wide) cp -r tests/fixtures/wide "$dir"; args=(--target app --build-arg "NIX_ARGS=--arg count 40") ;;
    *) echo "foreign.sh: no fixture $fixture (foreign, chain, wide)" >&2; exit 2 ;;
  esac
  busyboxes "$dir"
  if [ "$fixture" = foreign ]; then
    build "$dir" --target lib --platform linux/amd64,linux/arm64 --network host \
      --secret "id=nix-cache-key,src=$work/key.sec" --build-arg "NIX_CACHE_PUSH=http://127.0.0.1:$port"
  fi
  cold amd64 "$dir" "${args[@]}" --platform linux/amd64
  cold arm_all "$dir" "${args[@]}" --platform linux/arm64 --build-arg NIX_EMULATE=all
  cold arm_builds "$dir" "${args[@]}" --platform linux/arm64 --build-arg NIX_EMULATE=builds
  emulated=$(grep -oE '^#[0-9]+ .*\(emulated\)$' "$work/build.log" | sort -u | wc -l)
  printf '%-8s %10s %14s %14s %12.2f %12.2f   (emulated steps with builds: %s)\n' "$fixture" "$amd64" "$arm_all" "$arm_builds" \
    "$(echo "$arm_all / $amd64" | bc -l)" "$(echo "$arm_builds / $amd64" | bc -l)" "$emulated"
done
echo "(seconds, cold, median of $runs; $(docker version --format 'dockerd {{.Server.Version}}'), $(nproc) cores)"
