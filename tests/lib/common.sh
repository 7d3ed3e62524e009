# shellcheck shell=bash
# Shared helpers of the end-to-end tests, sourced by tests/e2e.sh. They read only the globals
# tests/e2e.sh sets up (root, work, T, NIX_IMAGE) and count into passed, failures and skipped.

fail() { printf '  FAIL: %s\n' "$*"; failures=$((failures + 1)); }

ok() { printf '  ok: %s\n' "$*"; passed=$((passed + 1)); }

# skip REASON: a check or a test not run here, counted, its reason kept for the closing table.
skip() { printf '  skipped: %s\n' "$*"; skipped=$((skipped + 1)); printf '%s\n' "$*" >>"$work/.skips"; }

check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}

build_raw() { # build_raw DIR [ARGS...]: docker buildx build with the test builder image
  local dir=$1; shift
  # FRONTEND=<image> tries another frontend image than the fixtures' `# syntax=` line names.
  docker buildx build --progress=plain --build-arg "NIX_IMAGE=$NIX_IMAGE" \
    ${FRONTEND:+--build-arg "BUILDKIT_SYNTAX=$FRONTEND"} "$@" "$dir"
}

# shellcheck source=tests/lib/export_race.sh
. tests/lib/export_race.sh

# build_raw into $work/build.log, each build's log also kept in $work/builds.log (a missing image
# is followed to the build that named it: tests/lib/docker_guard.sh).
build_logged() {
  build_raw "$@" >"$work/build.log" 2>&1
  local rc=$?
  cat "$work/build.log" >>"$work/builds.log"
  return $rc
}

# A failure from the upstream export race or the test registry's write race (export_race.sh) is
# no fault of the build: it is said and the build run once more, as docs/caching.md tells users to.
# After such a run again, $work/build.log holds both runs' logs: what the first built (the second
# finds it in BuildKit's cache) is this build's work, which the checks look for.
build() { # build DIR [ARGS...]: as build_raw, output in $work/build.log, its tail on failure
  if build_logged "$@"; then return 0; fi
  if upstream_export_race "$work/build.log"; then
    echo "    (the export hit moby/buildkit#6521, the upstream unpack race; building again)"
    cp "$work/build.log" "$work/build-first.log"
    if build_logged "$@"; then
      cat "$work/build-first.log" "$work/build.log" >"$work/build-both.log"
      mv "$work/build-both.log" "$work/build.log"
      return 0
    fi
  elif registry_write_race "$work/build.log"; then
    echo "    (the test registry answered 500 to a tag it was writing; pushing again)"
    if build_logged "$@"; then return 0; fi
  fi
  tail -25 "$work/build.log" | sed 's/^/    | /'
  return 1
}

# push_plain ARGS...: `docker buildx build ARGS` (Docker's own frontend) that pushes to the test
# registry, run once more after the registry's write race (export_race.sh).
push_plain() {
  if docker buildx build "$@" >"$work/push.log" 2>&1; then return 0; fi
  if registry_write_race "$work/push.log"; then
    echo "    (the test registry answered 500 to a tag it was writing; pushing again)"
    if docker buildx build "$@" >"$work/push.log" 2>&1; then return 0; fi
  fi
  tail -25 "$work/push.log" | sed 's/^/    | /'
  return 1
}

# runs_as PLATFORM IMAGE EXPECTED: the image's PLATFORM variant, run from the local store only,
# prints EXPECTED. A variant docker does not find is followed to its cause by the tests' `docker`
# (tests/lib/docker_guard.sh), which runs it once more only when the image store lost it; a
# failure also shows what the store holds.
runs_as() {
  local out
  out=$(docker run --rm --pull never --platform "$1" "$2" 2>&1)
  [ "$out" = "$3" ] && return 0
  printf '    | %s\n' "$out"
  image_store_state "$2" | sed 's/^/    | /'
  return 1
}

# What containerd holds of IMAGE (dockerd's containerd store): its target and, for each
# manifest, whether the manifest and its config are present. Only to explain a failure.
image_store_state() { # image_store_state IMAGE
  command -v ctr >/dev/null || return 0
  local name=$1 target
  case $name in */*/*) ;; */*) name=docker.io/$name ;; *) name=docker.io/library/$name ;; esac
  case $name in *:*) ;; *) name=$name:latest ;; esac
  target=$(ctr -n moby images ls "name==$name" 2>/dev/null | awk 'NR == 2 { print $3 }')
  echo "image store: $name -> ${target:-nothing}"
  [ -n "$target" ] || return 0
  python3 tests/lib/image_store.py "$(ctr -n moby content get "$target")" 2>&1
}

# The subrequest flag of this buildx: 0.13 has --print (experimental); 0.14+ calls it --call
# (--print is gone in 0.29).
call_flag() {
  if docker buildx build --help 2>&1 | grep -q -- '--call'; then echo --call; else echo --print; fi
}

# Store paths of the closure of ATTR of FILE, as nix-store -qR lists them in the builder image.
nix_closure() { # nix_closure DIR FILE ATTR
  docker run --rm -v "$1:/src:ro" -w /src "$NIX_IMAGE" \
    sh -c 'nix-store -qR $(nix-build "$1" -A "$2" --no-out-link 2>/dev/null)' sh "$2" "$3" | sort
}

# The paths of an OCI archive, one per line, without type columns.
oci_paths() { python3 tests/lib/oci_files.py "$1" | cut -f1; }

# expect_error NAME DIR [BUILD ARGS...] -- NEEDLE... : the build with those arguments fails,
# prints every NEEDLE, no panic or raw status, and tags no image.
expect_error() {
  local name=$1 dir=$2; shift 2
  local args=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
  shift # the --
  local log="$work/error-$name.log"
  docker image rm -f "$T/error-$name" >/dev/null 2>&1 # from an earlier run
  if build_raw "$dir" -t "$T/error-$name" "${args[@]}" >"$log" 2>&1; then
    fail "$name: the build succeeded"
    return
  fi
  local message
  message=$(grep -A30 '^ERROR: ' "$log")
  local needle missing=0
  for needle in "$@"; do
    grep -qF -- "$needle" <<<"$message" || { fail "$name: no '$needle' in: $message"; missing=1; }
  done
  if grep -qiE 'panicked|rpc error|code = |InvalidArgument|stack backtrace' <<<"$message"; then
    fail "$name: raw status or panic in: $message"; missing=1
  fi
  if docker image inspect "$T/error-$name" >/dev/null 2>&1; then
    fail "$name: an image was tagged"; missing=1
  fi
  [ "$missing" = 0 ] && ok "$name fails with: $(grep '^ERROR: ' "$log" | head -1 | cut -c1-110)"
}

# The digest of the layer whose top-level paths include STORE_NAME (e.g. busybox-static).
layer_of() { # layer_of ARCHIVE STORE_NAME
  python3 tests/lib/oci_files.py "$1" --layers | awk -F'\t' -v n="$2" '$4 ~ ("-" n "( |$)") {print $1}'
}

inspect() { docker image inspect "$1" --format "$2"; }

# The wall time of a command in seconds, written to the variable named $1.
timed() { # timed VAR COMMAND...
  local var=$1; shift
  local start end
  start=$(date +%s%N)
  "$@"
  local rc=$?
  end=$(date +%s%N)
  printf -v "$var" '%d.%02d' $(( (end - start) / 1000000000 )) $(( (end - start) / 10000000 % 100 ))
  return $rc
}

# The vertex ids of the last build's Nix steps of KINDS (an ERE; default: every kind).
nix_step_ids() { # nix_step_ids [KINDS]
  grep -oE "^#[0-9]+ (\[[^]]+\] )?(${1:-nix-build|evaluate|build|substitute}) " "$work/build.log" |
    cut -d' ' -f1 | sort -u
}

# Step ID of the last build came from a cache (CACHED, or its layer extracted from an imported
# cache) with no output of a process at all.
nix_step_from_cache() { # nix_step_from_cache ID
  grep -qE "^$1 (CACHED|extracting sha256:)" "$work/build.log" &&
    # Process output lines carry a timestamp in seconds after the vertex id.
    ! grep -qE "^$1 [0-9]+\.[0-9]+ " "$work/build.log"
}

# The log of the last build shows every Nix step (evaluation, build steps; nix-build in single
# mode) taken from a cache: Nix did not run. KINDS narrows the steps looked at (default: all).
nix_step_cached() { # nix_step_cached [KINDS: an ERE such as 'build|substitute']
  local ids id
  ids=$(nix_step_ids "${1:-}")
  [ -n "$ids" ] || return 1
  for id in $ids; do
    nix_step_from_cache "$id" || return 1
  done
}

# serve NAME DIR [tests/lib/serve_http.py OPTIONS]: the test HTTP server NAME serving DIR on a
# port the kernel picks, in $served_port, its pid in $served_pid (killed with the test at the
# latest). A server that does not listen within 5 s fails the test, named, with its log's tail.
serve() {
  local name=$1 dir=$2 port_file
  shift 2
  port_file=$work/$name.port
  rm -f "$port_file"
  # Docker 28's test daemon runs in a container of its own (scripts/docker28): the server listens
  # on that container's 127.0.0.1, where its builds (--network host) and BuildKit's own
  # downloads look, and reads the files here (/tmp is shared). nsenter needs root, as the
  # tests do.
  local netns=()
  if [ "${E2E_DOCKER:-}" = docker28 ]; then
    local pid
    pid=$(docker28_pid) || { fail "no process of ${DOCKER28_NAME:-nf-docker28} to serve '$name' in"; return 1; }
    netns=(nsenter --net="/proc/$pid/ns/net")
  fi
  "${netns[@]}" python3 "$root/tests/lib/serve_http.py" "$port_file" "$dir" "$@" >"$work/$name-http.log" 2>&1 &
  served_pid=$!
  echo "$served_pid" >>"$work/.pids"
  for _ in $(seq 1 50); do
    [ -s "$port_file" ] && break
    kill -0 "$served_pid" 2>/dev/null || break
    sleep 0.1
  done
  served_port=$(cat "$port_file" 2>/dev/null)
  if [ -z "$served_port" ]; then
    fail "the HTTP server '$name' for $dir did not listen: $(tail -3 "$work/$name-http.log" | tr '\n' ' ')"
    return 1
  fi
}

# The host's pid of scripts/docker28's container, whose network namespace its builds use.
docker28_pid() {
  local pid
  pid=$("${E2E_HOST_DOCKER:?enter_engine sets it}" inspect -f '{{.State.Pid}}' "${DOCKER28_NAME:-nf-docker28}" 2>/dev/null)
  [ -n "$pid" ] && [ "$pid" != 0 ] && echo "$pid"
}

# upload_cache DIR KEY: a Nix binary cache in DIR that takes uploads (HTTP PUT) on 127.0.0.1, and
# a key pair named KEY for it in $work/KEY.sec and $work/KEY.pub; as serve, $served_port and
# $served_pid.
upload_cache() {
  local dir=$1 key=$2
  mkdir -p "$dir"
  printf 'StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 30\n' >"$dir/nix-cache-info"
  docker run --rm -v "$work:/work" "$NIX_IMAGE" \
    nix-store --generate-binary-cache-key "$key" "/work/$key.sec" "/work/$key.pub"
  serve "$key" "$dir" --upload
}

# The Nix steps of the last build that ran rather than came from the cache, for a failed
# nix_step_cached's message.
nix_steps_run() {
  local id
  for id in $(nix_step_ids); do
    nix_step_from_cache "$id" || grep -m1 -E "^$id [^0-9]" "$work/build.log" | cut -c1-80
  done | tr '\n' ';'
}

# The names of the derivations Nix built in the last build.
nix_built() {
  grep -oE "building '/nix/store/[a-z0-9]{32}-[^']+\.drv'" "$work/build.log" | cut -d- -f2- | tr -d "'" | sort -u | tr '\n' ' '
}

# probe_nix FILE HEADER BINDINGS: a default.nix whose program prints `seen`, a value computed
# at evaluation time by BINDINGS (Nix let-bindings); HEADER goes before the `let` (e.g. a
# function's arguments).
probe_nix() {
  cat >"$1" <<NIX
# syntax=org/nix-frontend
$2
let
  busybox = builtins.path { name = "busybox-static"; path = /usr/bin; filter = p: t: baseNameOf p == "busybox"; };
  sh = "\${busybox}/busybox";
$3
in
derivation {
  name = "probe";
  system = builtins.currentSystem;
  builder = sh;
  args = [ "sh" "-c" "\${sh} mkdir -p \$out/bin; \${sh} printf '#!\${sh} sh\\\\necho \\"\${seen}\\"\\\\n' > \$out/bin/probe; \${sh} chmod 555 \$out/bin/probe" ];
}
NIX
}
