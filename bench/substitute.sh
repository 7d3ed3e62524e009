#!/usr/bin/env bash
# What Nix downloads, ours against the recipe in one run: the wide fixture's libraries in a signed
# HTTP binary cache on 127.0.0.1 (tests/lib/serve_http.py; xz, as caches serve them), the app
# built over them with --network host by nix-frontend (NIX_SUBSTITUTERS, NIX_TRUSTED_PUBLIC_KEYS)
# and by the recipe (bench/recipe.Dockerfile with `--option substituters`), taken in turn. Cases:
#   cold           after `docker builder prune -af`
#   no change      the same build again
#   app changed    the app's source (app/message.txt) changed
#   one more dep   the app gains a library the cache has (`--arg count N+1`)
# and, for ours, how many paths Nix downloaded in each. Times are medians of RUNS.
#   usage: bench/substitute.sh [--libraries N] [--runs RUNS]   (default 300 libraries, 3 runs)
# Expects scripts/setup, scripts/nix-image and scripts/frontend-image to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
libraries=300 runs=3
while [ $# -gt 0 ]; do
  case $1 in
    --libraries) libraries=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: bench/substitute.sh [--libraries N] [--runs RUNS]" >&2; exit 2 ;;
  esac
done
nix_image=${NIX_IMAGE:-nix-frontend-test/nix:local}
work=$(mktemp -d /tmp/nf-substitute.XXXXXX)
server=
trap '[ -z "$server" ] || kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
cp -r tests/fixtures/wide "$work/wide"
echo "filling the cache: $((libraries + 1)) libraries (xz)" >&2
docker run --rm -v "$work:/w" -w /w/wide "$nix_image" sh -c '
  nix-store --generate-binary-cache-key bench /w/key.sec /w/key.pub >/dev/null &&
  libs=$(nix-build default.nix -A libs --arg count "$1" --no-out-link 2>/dev/null) &&
  nix --extra-experimental-features nix-command copy --to "file:///w/cache?secret-key=/w/key.sec" $libs 2>/dev/null && chmod -R a+rX /w' sh "$((libraries + 1))"
python3 tests/lib/serve_http.py "$work/port" "$work/cache" >"$work/http.log" 2>&1 &
server=$!
for _ in $(seq 1 50); do [ -s "$work/port" ] && break; sleep 0.1; done
url=http://127.0.0.1:$(cat "$work/port")
key=$(cat "$work/key.pub")
sed 's|^RUN nix-build default.nix -A "\$ATTR"$|ARG NIX_OPTS\nRUN nix-build default.nix -A "$ATTR" $NIX_OPTS|' bench/recipe.Dockerfile >"$work/recipe.Dockerfile"
grep -q NIX_OPTS "$work/recipe.Dockerfile" || { echo "substitute: the recipe changed shape" >&2; exit 1; }

ours() { # ours COUNT
  docker buildx build --progress=plain --network host -f "$work/wide/default.nix" --target app \
    --build-arg "NIX_IMAGE=$nix_image" ${FRONTEND:+--build-arg "BUILDKIT_SYNTAX=$FRONTEND"} \
    --build-arg "NIX_SUBSTITUTERS=$url" --build-arg "NIX_TRUSTED_PUBLIC_KEYS=$key" \
    --build-arg "NIX_ARGS=--arg count $1" -t nf-bench/substitute-ours "$work/wide" >"$work/build.log" 2>&1
}
recipe() { # recipe COUNT
  docker buildx build --progress=plain --network host -f "$work/recipe.Dockerfile" \
    --build-arg "NIX_IMAGE=$nix_image" --build-arg ATTR=app \
    --build-arg "NIX_OPTS=--option substituters $url --option trusted-public-keys $key --arg count $1" \
    -t nf-bench/substitute-recipe "$work/wide" >"$work/build.log" 2>&1
}
timed() { # timed COMMAND...: seconds on stdout
  local start end
  start=$(date +%s%N)
  "$@" || { tail -20 "$work/build.log" >&2; exit 1; }
  end=$(date +%s%N)
  echo "$(( (end - start) / 1000000 ))"
}
downloads() { grep -cE "copying path '/nix/store/[^']+' from 'http" "$work/build.log" || true; }

cases=(cold "no change" "app changed" "one more dep")
declare -A seconds fetched
for run in $(seq 1 "$runs"); do
  for who in ours recipe; do
    docker builder prune -af >/dev/null
    echo "run $run $who $$" >"$work/wide/app/message.txt"
    seconds["$who cold"]+="$(timed "$who" "$libraries") "
    fetched["$who cold"]=$(downloads)
    seconds["$who no change"]+="$(timed "$who" "$libraries") "
    fetched["$who no change"]=$(downloads)
    echo "run $run $who changed $$" >"$work/wide/app/message.txt"
    seconds["$who app changed"]+="$(timed "$who" "$libraries") "
    fetched["$who app changed"]=$(downloads)
    seconds["$who one more dep"]+="$(timed "$who" "$((libraries + 1))") "
    fetched["$who one more dep"]=$(downloads)
  done
  echo "run $run of $runs done" >&2
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.2f", m / 1000 }'; }
echo "substitute: $libraries libraries from a signed HTTP cache, medians of $runs runs (dockerd $(docker version --format '{{.Server.Version}}'))"
printf '| case | ours | recipe | ours / recipe | paths ours downloaded |\n| --- | --- | --- | --- | --- |\n'
for c in "${cases[@]}"; do
  o=$(median <<<"${seconds["ours $c"]}")
  r=$(median <<<"${seconds["recipe $c"]}")
  printf '| %s | %s s | %s s | %.2f | %s |\n' "$c" "$o" "$r" "$(echo "$o / $r" | bc -l)" "${fetched["ours $c"]}"
done
