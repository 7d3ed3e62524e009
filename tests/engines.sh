#!/usr/bin/env bash
# Caches across BuildKit engines: for every ordered pair (exporter, importer) of the engines
# given, the exporter builds the wide fixture cold and exports its cache (`--cache-to
# type=local,mode=max`), the importer, pruned, builds a leaf change with `--cache-from`, and the
# table says how many derivations Nix built on the importer (1: only the leaf).
#   usage: tests/engines.sh [--libraries N] [--nix-cache] ENGINE...
#   ENGINE: d26   the host's dockerd (Docker 26, BuildKit 0.13), its default builder
#           d28   Docker 28.5 (BuildKit 0.25) in scripts/docker28's container
#           bk    standalone BuildKit v0.32.2 (scripts/buildkit start nf-bk-engines), the frontend
#                 and the Nix image pulled by digest from the local registry
# --nix-cache: the path through Nix instead of BuildKit: the exporter pushes what it built to a
#   Nix binary cache that takes uploads (NIX_CACHE_PUSH, signed with a key passed as a secret; on
#   the host's docker0 address, which every engine's steps reach with --network host) and the
#   importer, pruned and given no BuildKit cache, substitutes from it (NIX_SUBSTITUTERS).
# Exits non-zero when a pair built more than the leaf.
# Expects the engines running (scripts/docker28 start; scripts/buildkit start nf-bk-engines 1240).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
libraries=40
nix_cache=0
engines=()
while [ $# -gt 0 ]; do
  case $1 in
    --libraries) libraries=$2; shift 2 ;;
    --nix-cache) nix_cache=1; shift ;;
    d26|d28|bk) engines+=("$1"); shift ;;
    *) echo "engines: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ ${#engines[@]} -ge 1 ] || { echo "usage: tests/engines.sh [--libraries N] [--nix-cache] d26|d28|bk..." >&2; exit 2; }
work=$(mktemp -d /tmp/nf-engines.XXXXXX)
server=
trap '[ -z "$server" ] || kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
bk_builder=${BK_BUILDER:-nf-bk-engines}
d28=${DOCKER28_NAME:-nf-docker28}
local_nix_image=${NIX_IMAGE:-nix-frontend-test/nix:local}

# The registry references of the frontend and the Nix image, for the standalone builder.
if printf '%s\n' "${engines[@]}" | grep -qx bk; then
  bk_frontend=$(scripts/buildkit publish org/nix-frontend 127.0.0.1:5000/nix-frontend:engines) || exit 1
  bk_nix_image=$(scripts/buildkit publish "$local_nix_image" 127.0.0.1:5000/nix:engines) || exit 1
fi

engine_docker() { # engine_docker ENGINE ARGS...: docker of that engine
  local engine=$1; shift
  case $engine in
    d26|bk) docker "$@" ;;
    d28) docker exec -i -w "$PWD" "$d28" docker "$@" ;;
  esac
}

prune() {
  case $1 in
    d26|d28) engine_docker "$1" builder prune -af >/dev/null ;;
    bk) docker buildx prune --builder "$bk_builder" -af >/dev/null ;;
  esac
}

build() { # build ENGINE CONTEXT LOG ARGS...
  local engine=$1 context=$2 log=$3; shift 3
  local args=(buildx build --progress=plain -f "$context/default.nix" --target app
    --build-arg "NIX_ARGS=--arg count $libraries")
  case $engine in
    d26|d28) args+=(--build-arg "NIX_IMAGE=$local_nix_image") ;;
    bk) args+=(--builder "$bk_builder" --build-arg "NIX_IMAGE=$bk_nix_image"
      --build-arg "BUILDKIT_SYNTAX=$bk_frontend") ;;
  esac
  engine_docker "$engine" "${args[@]}" "$@" "$context" >"$log" 2>&1
}

built_count() { grep -oE "building '/nix/store/[a-z0-9]{32}-[^']+\.drv'" "$1" | sort -u | wc -l; }

push_args=()
pull_args=()
if [ "$nix_cache" = 1 ]; then
  gateway=$(docker network inspect bridge -f '{{(index .IPAM.Config 0).Gateway}}')
  mkdir -p "$work/nix-cache"
  printf 'StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n' >"$work/nix-cache/nix-cache-info"
  docker run --rm -v "$work:/keys" "$local_nix_image" \
    nix-store --generate-binary-cache-key engines-test /keys/key.sec /keys/key.pub
  chmod a+r "$work/key.sec"
  # A port the kernel picks (tests/lib/serve_http.py writes it once it listens).
  python3 tests/lib/serve_http.py "$work/port" "$work/nix-cache" --address "$gateway" --upload >"$work/http.log" 2>&1 &
  server=$!
  for _ in $(seq 1 50); do [ -s "$work/port" ] && break; kill -0 "$server" 2>/dev/null || break; sleep 0.1; done
  port=$(cat "$work/port" 2>/dev/null) ||
    { echo "engines: the Nix binary cache on $gateway did not listen: $(tail -3 "$work/http.log")" >&2; exit 1; }
  push_args=(--network host --secret "id=nix-cache-key,src=$work/key.sec"
    --build-arg "NIX_CACHE_PUSH=http://$gateway:$port")
  pull_args=(--network host --build-arg "NIX_SUBSTITUTERS=http://$gateway:$port"
    --build-arg "NIX_TRUSTED_PUBLIC_KEYS=$(cat "$work/key.pub")")
  echo "through a Nix binary cache on http://$gateway:$port (NIX_CACHE_PUSH, NIX_SUBSTITUTERS), no BuildKit cache"
fi

printf '%-10s %-10s %s\n' exporter importer "Nix builds on the importer (of $((libraries + 1)))"
status=0
for exporter in "${engines[@]}"; do
  for importer in "${engines[@]}"; do
    [ "$exporter" != "$importer" ] || [ ${#engines[@]} = 1 ] || continue
    pair=$work/$exporter-$importer
    mkdir -p "$pair"
    cp -r tests/fixtures/wide "$pair/context"
    chmod -R a+rwX "$pair"
    echo "version $RANDOM$RANDOM of $exporter" >"$pair/context/app/message.txt"
    prune "$exporter"
    if [ "$nix_cache" = 1 ]; then
      # Each pair from an empty cache: only this exporter's pushes may serve the importer.
      rm -rf "$work/nix-cache/nar" "$work/nix-cache"/*.narinfo
      export_args=("${push_args[@]}")
      import_args=("${pull_args[@]}")
    else
      export_args=(--cache-to "type=local,dest=$pair/cache,mode=max")
      import_args=(--cache-from "type=local,src=$pair/cache")
    fi
    if ! build "$exporter" "$pair/context" "$pair/export.log" "${export_args[@]}"; then
      echo "engines: the export build on $exporter failed:" >&2; tail -20 "$pair/export.log" >&2; status=1; continue
    fi
    echo "a leaf change $RANDOM$RANDOM" >"$pair/context/app/message.txt"
    prune "$importer"
    build "$importer" "$pair/context" "$pair/import.log" "${import_args[@]}" ||
      { echo "engines: the import build on $importer failed:" >&2; tail -20 "$pair/import.log" >&2; status=1; continue; }
    n=$(built_count "$pair/import.log")
    printf '%-10s %-10s %s\n' "$exporter" "$importer" "$n"
    [ "$n" = 1 ] || status=1
    [ -z "${ENGINES_KEEP:-}" ] || cp -r "$pair" "$ENGINES_KEEP/"
  done
done
exit $status
