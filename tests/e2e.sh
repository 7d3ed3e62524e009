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

fail() { printf '  FAIL: %s\n' "$*"; failures=$((failures + 1)); }
ok() { printf '  ok: %s\n' "$*"; passed=$((passed + 1)); }
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}
build_raw() { # build_raw DIR [ARGS...]: docker buildx build with the test builder image
  local dir=$1; shift
  docker buildx build --progress=plain --build-arg "NIX_IMAGE=$NIX_IMAGE" "$@" "$dir"
}
build() { # build DIR [ARGS...]: as build_raw, output in $work/build.log, its tail on failure
  if build_raw "$@" >"$work/build.log" 2>&1; then return 0; fi
  tail -25 "$work/build.log" | sed 's/^/    | /'
  return 1
}
# Store paths of the closure of ATTR of FILE, as nix-store -qR lists them in the builder image.
nix_closure() { # nix_closure DIR FILE ATTR
  docker run --rm -v "$1:/src:ro" -w /src "$NIX_IMAGE" \
    sh -c 'nix-store -qR $(nix-build "$1" -A "$2" --no-out-link 2>/dev/null)' sh "$2" "$3" | sort
}
# The paths of an OCI archive, one per line, without type columns.
oci_paths() { python3 tests/lib/oci_files.py "$1" | cut -f1; }

test_hello() {
  echo "hello: Nix mode and Dockerfile mode"
  local dir=tests/fixtures/hello
  check "nix mode builds" build "$dir" -f "$dir/default.nix" --target hello -t nf-test/hello-nix
  check "nix mode image prints the greeting" \
    bash -c '[ "$(docker run --rm nf-test/hello-nix)" = "hello from nix-frontend" ]'
  check "dockerfile mode builds" build "$dir" -t nf-test/hello-df
  check "dockerfile mode image prints the greeting" \
    bash -c '[ "$(docker run --rm nf-test/hello-df)" = "hello from nix-frontend" ]'
  check "dockerfile ENV and LABEL land in the config" bash -c \
    'docker image inspect nf-test/hello-df --format "{{json .Config}}" | grep -q "GREETING_SOURCE=dockerfile" &&
     docker image inspect nf-test/hello-df --format "{{index .Config.Labels \"org.opencontainers.image.title\"}}" | grep -q "Dockerfile mode"'

  build "$dir" -f "$dir/default.nix" --target hello --output "type=oci,dest=$work/hello.tar"
  nix_closure "$root/$dir" default.nix hello >"$work/expected-closure"
  check "nix-store -qR lists two paths" test "$(wc -l <"$work/expected-closure")" = 2
  oci_paths "$work/hello.tar" >"$work/image-paths"
  # Top-level store entries of the image must be exactly the closure.
  grep -E '^/nix/store/[^/]+$' "$work/image-paths" | sort >"$work/image-store-paths"
  check "image store paths = nix-store -qR" diff -u "$work/expected-closure" "$work/image-store-paths"
  # Everything else is /nix, /nix/store and the root links into the result.
  grep -vE '^/nix/store/[^/]+(/.*)?$' "$work/image-paths" >"$work/image-other"
  printf '/bin\n/nix\n/nix/store\n' >"$work/expected-other"
  check "nothing else in the image but /bin, /nix, /nix/store" diff -u "$work/expected-other" "$work/image-other"
  check "/bin links into the result" bash -c \
    "python3 tests/lib/oci_files.py '$work/hello.tar' | grep -qE '^/bin\slink\s1\s0:0\s/nix/store/[a-z0-9]{32}-hello-1.0/bin$'"
  check "every entry owned by 0:0 with the store's timestamp" bash -c \
    "python3 tests/lib/oci_files.py '$work/hello.tar' | awk -F'\t' '\$3 != 1 || \$4 != \"0:0\" {bad=1} END {exit bad}'"
  check "one layer per store path plus the links layer" \
    test "$(python3 tests/lib/oci_files.py "$work/hello.tar" --layers | wc -l)" = 3
}

test_libc() {
  echo "libc: a dynamically linked program whose loader and libc are store paths"
  local dir=tests/fixtures/libc
  check "builds" build "$dir" -t nf-test/libc
  check "runs with the store's libc" \
    bash -c '[ "$(docker run --rm nf-test/libc)" = "hello from a dynamically linked program" ]'
  build "$dir" --output "type=oci,dest=$work/libc.tar"
  check "the image holds the glibc store path and no /lib" bash -c \
    "oci=\$(python3 tests/lib/oci_files.py '$work/libc.tar' | cut -f1);
     echo \"\$oci\" | grep -qE '^/nix/store/[a-z0-9]{32}-glibc-debian/libc.so.6$' &&
     ! echo \"\$oci\" | grep -qE '^/(lib|lib64|usr)(/|$)'"
}

# expect_error NAME DIR NEEDLE... : the build fails, prints every NEEDLE, no panic or raw status,
# and tags no image.
expect_error() {
  local name=$1 dir=$2; shift 2
  local log="$work/error-$name.log"
  if build_raw "$dir" -t "nf-test/error-$name" "${build_args[@]}" >"$log" 2>&1; then
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
  if docker image inspect "nf-test/error-$name" >/dev/null 2>&1; then
    fail "$name: an image was tagged"; missing=1
  fi
  [ "$missing" = 0 ] && ok "$name fails with: $(grep '^ERROR: ' "$log" | head -1 | cut -c1-110)"
}

test_errors() {
  echo "errors: one readable message naming the file and line"
  local e=$work/errors
  mkdir -p "$e"/{missing,syntax,eval,attr,fail,run}
  printf '# syntax=org/nix-frontend\nCMD ["x"]\n' >"$e/missing/Dockerfile"
  printf '# syntax=org/nix-frontend\n{\n  hello = 1 +;\n}\n' >"$e/syntax/default.nix"
  printf '# syntax=org/nix-frontend\nlet x = 1; in\n{ hello = throw "this package is broken"; }\n' >"$e/eval/default.nix"
  printf '# syntax=org/nix-frontend\n{ hello = 1; }\n' >"$e/attr/default.nix"
  cat >"$e/fail/default.nix" <<'NIX'
# syntax=org/nix-frontend
{
  hello = derivation {
    name = "failing";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "echo compiling >&2; echo 'main.c:3: expected ;' >&2; exit 3" ];
  };
}
NIX
  printf '# syntax=org/nix-frontend\nENV A=b\n\nRUN make\n' >"$e/run/Dockerfile"
  build_args=()
  expect_error missing-default-nix "$e/missing" "default.nix: no such file in the build context"
  build_args=(-f "$e/syntax/default.nix" --target hello)
  expect_error nix-syntax "$e/syntax" "syntax error" "default.nix:3:"
  build_args=(-f "$e/eval/default.nix" --target hello)
  expect_error nix-eval "$e/eval" "this package is broken" "default.nix:3:"
  build_args=(-f "$e/attr/default.nix" --target nope)
  expect_error unknown-attribute "$e/attr" "attribute 'nope'" "not found"
  build_args=(-f "$e/fail/default.nix" --target hello)
  expect_error failing-build "$e/fail" "building attribute \"hello\" of default.nix failed" "main.c:3: expected ;" "failed with exit code 3"
  build_args=()
  expect_error run-instruction "$e/run" "Dockerfile:4: RUN is not supported" "default.nix"
  check "the CLI shows the offending Dockerfile line" grep -q '^   4 | >>> RUN make' "$work/error-run-instruction.log"
  check "the CLI shows the line of default.nix Nix names" grep -q '^   3 | >>>   hello = 1 +;' "$work/error-nix-syntax.log"
  build_args=(-f "$e/attr/default.nix" --build-arg NIX_FILE=../x.nix)
  expect_error bad-nix-file-arg "$e/attr" "build arg NIX_FILE" "leaves the build context"
}

# The digest of the layer whose top-level paths include STORE_NAME (e.g. busybox-static).
layer_of() { # layer_of ARCHIVE STORE_NAME
  python3 tests/lib/oci_files.py "$1" --layers | awk -F'\t' -v n="$2" '$4 ~ ("-" n "( |$)") {print $1}'
}

test_chain() {
  echo "chain: a closure over the layer cap (150 derivations)"
  local dir=tests/fixtures/chain
  check "builds" build "$dir" -f "$dir/default.nix" --target top -t nf-test/chain
  check "runs" bash -c '[ "$(docker run --rm nf-test/chain)" = "top of the chain: version 1" ]'
  build "$dir" -f "$dir/default.nix" --target top --output "type=oci,dest=$work/chain.tar"
  local layers
  layers=$(python3 tests/lib/oci_files.py "$work/chain.tar" --layers | wc -l)
  check "at most 100 layers (got $layers)" test "$layers" -le 100
  nix_closure "$root/$dir" default.nix top >"$work/chain-expected"
  python3 tests/lib/oci_files.py "$work/chain.tar" | cut -f1 | grep -E '^/nix/store/[^/]+$' | sort >"$work/chain-image"
  check "exact store path set ($(wc -l <"$work/chain-expected") paths)" diff -u "$work/chain-expected" "$work/chain-image"
  check "the top is alone in its layer" bash -c \
    "python3 tests/lib/oci_files.py '$work/chain.tar' --layers | grep -- '-top-1.0' | awk -F'\t' '{exit !(split(\$4, a, \" \") == 2)}'"
  build "$dir" -f "$dir/default.nix" --target top --build-arg NIX_MAX_LAYERS=20 --output "type=oci,dest=$work/chain20.tar"
  layers=$(python3 tests/lib/oci_files.py "$work/chain20.tar" --layers | wc -l)
  check "NIX_MAX_LAYERS=20 gives at most 20 layers (got $layers)" test "$layers" -le 20
  python3 tests/lib/oci_files.py "$work/chain20.tar" | cut -f1 | grep -E '^/nix/store/[^/]+$' | sort >"$work/chain20-image"
  check "... with the same store paths" diff -u "$work/chain-expected" "$work/chain20-image"
}

test_shared() {
  echo "shared: a store path has the same layer digest in every image that holds it"
  build tests/fixtures/hello -f tests/fixtures/hello/default.nix --target hello --output "type=oci,dest=$work/s1.tar"
  build examples/hello -f examples/hello/default.nix --output "type=oci,dest=$work/s2.tar"
  local a b
  a=$(layer_of "$work/s1.tar" busybox-static)
  b=$(layer_of "$work/s2.tar" busybox-static)
  check "busybox-static layer: $a" test -n "$a" -a "$a" = "$b"
}

test_repro() {
  echo "repro: two cold builds give identical layers; with SOURCE_DATE_EPOCH identical manifests"
  local dir=tests/fixtures/hello i
  for i in 1 2; do
    docker builder prune -af >/dev/null
    build "$dir" -f "$dir/default.nix" --target hello --output "type=oci,dest=$work/r$i.tar"
    build "$dir" -f "$dir/default.nix" --target hello --build-arg SOURCE_DATE_EPOCH=1700000000 \
      --output "type=oci,dest=$work/e$i.tar,rewrite-timestamp=true"
  done
  check "identical layer digests" diff <(python3 tests/lib/oci_files.py "$work/r1.tar" --layers) \
    <(python3 tests/lib/oci_files.py "$work/r2.tar" --layers)
  check "identical manifest digests with SOURCE_DATE_EPOCH" diff <(tar -xOf "$work/e1.tar" index.json) \
    <(tar -xOf "$work/e2.tar" index.json)
  check "SOURCE_DATE_EPOCH pins every file's time" bash -c \
    "python3 tests/lib/oci_files.py '$work/e1.tar' | awk -F'\t' '\$3 != 1700000000 {bad=1} END {exit bad}'"
}

test_concurrent() {
  echo "concurrent: four cold builds of different fixtures at once share (and seed) the Nix store"
  docker builder prune -af >/dev/null
  local pids=() name
  build_raw tests/fixtures/hello -t nf-test/conc-hello >"$work/c1.log" 2>&1 & pids+=($!)
  build_raw tests/fixtures/libc -t nf-test/conc-libc >"$work/c2.log" 2>&1 & pids+=($!)
  build_raw tests/fixtures/outputs -f tests/fixtures/outputs/default.nix --target tool -t nf-test/conc-outputs >"$work/c3.log" 2>&1 & pids+=($!)
  build_raw tests/fixtures/dialect -t nf-test/conc-dialect >"$work/c4.log" 2>&1 & pids+=($!)
  local i=1 pid
  for pid in "${pids[@]}"; do
    check "build $i succeeds" wait "$pid"
    i=$((i + 1))
  done
  check "all four images run" bash -c '[ "$(docker run --rm nf-test/conc-hello)" = "hello from nix-frontend" ] &&
    [ "$(docker run --rm nf-test/conc-libc)" = "hello from a dynamically linked program" ] &&
    [ "$(docker run --rm nf-test/conc-outputs)" = "tool without its docs" ] &&
    docker run --rm nf-test/conc-dialect | grep -q "^user=app"'
}

test_interrupt() {
  echo "interrupt: a client killed while Nix builds; the next build succeeds on the same store"
  local dir=$work/interrupt
  rm -rf "$dir" && cp -r tests/fixtures/expensive "$dir"
  echo "interrupted $$" >"$dir/dep/info.txt" # a dependency no earlier test built
  build_raw "$dir" -t nf-test/interrupt >"$work/interrupt-1.log" 2>&1 &
  local client=$!
  local waited=0
  until grep -q "compiling the expensive dependency" "$work/interrupt-1.log" 2>/dev/null || [ $waited -ge 60 ]; do
    sleep 0.5
    waited=$((waited + 1))
  done
  # Ctrl-C to the docker client itself (a background subshell ignores SIGINT).
  pkill -INT -P "$client" 2>/dev/null
  wait "$client" 2>/dev/null
  check "the client was stopped while Nix was building" grep -q "compiling the expensive dependency" "$work/interrupt-1.log"
  check "... and the build was cancelled" grep -q "CANCELED" "$work/interrupt-1.log"
  check "the next build succeeds" build "$dir" -t nf-test/interrupt
  check "... building the dependency to the end" grep -q "compiling the expensive dependency" "$work/build.log"
  check "... and the image runs" bash -c "docker run --rm nf-test/interrupt | grep -q 'interrupted $$'"
}

test_leaf() {
  echo "leaf: a change to the leaf's source rebuilds only the leaf"
  local dir=$work/expensive
  rm -rf "$dir" && cp -r tests/fixtures/expensive "$dir"
  # A dependency no earlier build made, so the first build builds everything (without emptying
  # the shared BuildKit cache: another user's builds may be using it).
  echo "leaf $$ $RANDOM$RANDOM" >"$dir/dep/info.txt"
  check "first build" build "$dir" -t nf-test/leaf
  grep -q "building '/nix/store/[a-z0-9]*-expensive-dep-1.0.drv'" "$work/build.log" ||
    fail "the first build did not build the dependency (already cached?)"
  echo "hello from the app, version 2" >"$dir/app/message.txt"
  check "rebuild after the leaf change" build "$dir" -t nf-test/leaf
  check "the rebuild built the app" grep -q "building '/nix/store/[a-z0-9]*-app-1.0.drv'" "$work/build.log"
  check "the rebuild did not build the expensive dependency" \
    bash -c "! grep -q 'expensive-dep-1.0.drv' '$work/build.log'"
  check "the image shows the change" bash -c '[ "$(docker run --rm nf-test/leaf | head -1)" = "hello from the app, version 2" ]'
}

inspect() { docker image inspect "$1" --format "$2"; }

test_dialect() {
  echo "dialect: every instruction lands in the image config"
  local dir=tests/fixtures/dialect
  check "builds with --build-arg GREETING" build "$dir" --build-arg GREETING=hi-from-arg --build-arg UNUSED=1 \
    --label org.example.cli=yes -t nf-test/dialect
  check "warns of MAINTAINER in the build summary" grep -q "Dockerfile:19: MAINTAINER is deprecated" "$work/build.log"
  check "warns of a build arg nothing consumed" grep -q "build args not consumed: UNUSED" "$work/build.log"
  local config
  config=$(inspect nf-test/dialect '{{json .Config}}')
  check "ARG + ENV with \${GREETING:-hello} from --build-arg" grep -q '"GREETING=hi-from-arg"' <<<"$config"
  check "ENV with \$PORT from the ARG default" grep -q '"LISTEN=:8080"' <<<"$config"
  check "legacy ENV K V" grep -q '"LEGACY=form with spaces"' <<<"$config"
  check "passthru.imageConfig Env under the Dockerfile" grep -q '"MODE=package"' <<<"$config"
  check "EXPOSE from ARG, Dockerfile and passthru" bash -c \
    "[ \"\$(docker image inspect nf-test/dialect --format '{{range \$p, \$v := .Config.ExposedPorts}}{{\$p}} {{end}}')\" = '53/udp 8080/tcp 9000/tcp ' ]"
  check "USER" test "$(inspect nf-test/dialect '{{.Config.User}}')" = "app:app"
  check "WORKDIR relative to the previous one" test "$(inspect nf-test/dialect '{{.Config.WorkingDir}}')" = "/srv/data"
  check "VOLUME" test "$(inspect nf-test/dialect '{{json .Config.Volumes}}')" = '{"/srv/data/cache":{}}'
  check "STOPSIGNAL" test "$(inspect nf-test/dialect '{{.Config.StopSignal}}')" = "SIGINT"
  check "HEALTHCHECK" test "$(inspect nf-test/dialect '{{json .Config.Healthcheck}}')" = \
    '{"Test":["CMD","whoami"],"Interval":30000000000,"Timeout":5000000000,"Retries":3}'
  check "CMD" test "$(inspect nf-test/dialect '{{json .Config.Cmd}}')" = '["--verbose"]'
  check "Entrypoint from meta.mainProgram" bash -c \
    "docker image inspect nf-test/dialect --format '{{json .Config.Entrypoint}}' | grep -qE '^\[\"/nix/store/[a-z0-9]{32}-whoami-3.1/bin/whoami\"\]$'"
  local label
  label() { inspect nf-test/dialect "{{index .Config.Labels \"$1\"}}"; }
  check "LABEL with ARG substitution over meta's version" test "$(label org.opencontainers.image.version)" = "8080-custom"
  check "label from meta.description" test "$(label org.opencontainers.image.description)" = "Says who it runs as"
  check "label from meta.license" test "$(label org.opencontainers.image.licenses)" = "MIT"
  check "label from pname" test "$(label org.opencontainers.image.title)" = "whoami"
  check "label from meta.homepage" test "$(label org.opencontainers.image.url)" = "https://github.com/example/whoami"
  check "label from passthru.imageConfig" test "$(label org.example.from)" = "passthru"
  check "--label" test "$(label org.example.cli)" = "yes"
  check "MAINTAINER" test "$(label maintainer)" = "someone@example.org"
  local out
  out=$(docker run --rm nf-test/dialect)
  check "runs as the non-root USER in the WORKDIR, /tmp writable: $(echo "$out" | tr '\n' ' ')" \
    test "$out" = "$(printf 'user=app uid=1000 dir=/srv/data greeting=hi-from-arg\ntmp-writable')"
  build "$dir" --output "type=oci,dest=$work/dialect.tar"
  check "/tmp is 1777 and /etc/passwd root-owned in the image" bash -c \
    "python3 tests/lib/oci_files.py '$work/dialect.tar' | grep -qP '^/etc/passwd\tfile\t1\t0:0$' &&
     tar -xOf '$work/dialect.tar' >/dev/null && python3 - '$work/dialect.tar' <<'PY'
import gzip, io, json, sys, tarfile
a = tarfile.open(sys.argv[1])
index = json.load(a.extractfile('index.json'))
manifest = json.load(a.extractfile('blobs/sha256/' + index['manifests'][0]['digest'][7:]))
modes = {}
for layer in manifest['layers']:
    data = a.extractfile('blobs/sha256/' + layer['digest'][7:]).read()
    for m in tarfile.open(fileobj=io.BytesIO(gzip.decompress(data))).getmembers():
        modes[m.name.strip('./')] = m.mode
sys.exit(0 if modes.get('tmp') == 0o1777 else 1)
PY"
}

test_outputs() {
  echo "outputs: a derivation with several outputs gives the selected output's closure"
  local dir=tests/fixtures/outputs
  check "builds" build "$dir" -f "$dir/default.nix" --target tool -t nf-test/outputs
  check "runs" bash -c '[ "$(docker run --rm nf-test/outputs)" = "tool without its docs" ]'
  build "$dir" -f "$dir/default.nix" --target tool --output "type=oci,dest=$work/outputs.tar"
  check "no doc output in the image" bash -c \
    "! python3 tests/lib/oci_files.py '$work/outputs.tar' | grep -q -- '-tool-1.0-doc'"
  check "--target tool.doc selects the doc output" build "$dir" -f "$dir/default.nix" --target tool.doc \
    --output "type=oci,dest=$work/outputs-doc.tar"
  check "... whose image holds the manual" bash -c \
    "python3 tests/lib/oci_files.py '$work/outputs-doc.tar' | grep -q -- '-tool-1.0-doc/share/doc/manual.txt'"
}

test_flake() {
  echo "flake: flake.nix with a path: input"
  local dir=$work/flake
  rm -rf "$dir" && cp -r tests/fixtures/flake "$dir"
  docker run --rm "$NIX_IMAGE" cat /usr/bin/busybox >"$dir/tools/busybox" && chmod +x "$dir/tools/busybox"
  check "Dockerfile with # nix=flake.nix builds packages.<system>.default" build "$dir" -t nf-test/flake
  check "... and runs" bash -c '[ "$(docker run --rm nf-test/flake)" = "$(printf "hello from a path: input\nfrom the default package of the flake")" ]'
  check "-f flake.nix --target other" build "$dir" -f "$dir/flake.nix" --target other -t nf-test/flake-other
  check "... runs packages.<system>.other" bash -c '[ "$(docker run --rm nf-test/flake-other | tail -1)" = "from packages.other" ]'
  rm "$dir/Dockerfile"
  printf '# syntax=org/nix-frontend\n# nix=.#other\n' >"$work/flake-other.Dockerfile"
  check "# nix=.#other directive" build "$dir" -f "$work/flake-other.Dockerfile" -t nf-test/flake-directive
  check "... runs packages.<system>.other" bash -c '[ "$(docker run --rm nf-test/flake-directive | tail -1)" = "from packages.other" ]'
}

test_print() {
  echo "print: --print=targets and --print=outline"
  local out
  out=$(BUILDX_EXPERIMENTAL=1 build_raw tests/fixtures/hello -f tests/fixtures/hello/default.nix --print=targets 2>&1)
  check "targets of hello/default.nix" grep -qE '^hello +' <<<"$out"
  out=$(BUILDX_EXPERIMENTAL=1 build_raw tests/fixtures/dialect --print=targets 2>&1)
  check "targets with descriptions and the default" grep -qE '^whoami \(default\) +Says who it runs as' <<<"$out"
  out=$(BUILDX_EXPERIMENTAL=1 build_raw tests/fixtures/chain -f tests/fixtures/chain/default.nix --print=targets 2>&1)
  check "targets of a file that is a function" grep -qE '^top ' <<<"$out"
  out=$(BUILDX_EXPERIMENTAL=1 build_raw tests/fixtures/dialect --print=outline 2>&1)
  check "outline lists ARG PORT with its default and comment" grep -qE '^PORT +8080 +The port the service listens on.' <<<"$out"
  check "outline lists NIX_IMAGE with its value" grep -qE "^NIX_IMAGE +$NIX_IMAGE" <<<"$out"
}

test_dialect_errors() {
  echo "dialect errors: each bad input fails naming the line"
  local e=$work/dialect-errors
  mkdir -p "$e"
  cp tests/fixtures/hello/default.nix "$e/"
  local name text needle
  while IFS='|' read -r name text needle; do
    printf '# syntax=org/nix-frontend\n# attr=hello\n%b' "$text" >"$e/Dockerfile"
    build_args=()
    expect_error "$name" "$e" "$needle"
  done <<'CASES'
unknown-instruction|ENV A=b\nENTRYPIONT ["hello"]\n|Dockerfile:4: unknown instruction ENTRYPIONT (did you mean ENTRYPOINT?)
bad-json-array|CMD ["a", 1]\n|Dockerfile:3: the exec form must be a JSON array of strings
unterminated-quote|\nENTRYPOINT hello "unterminated\n|Dockerfile:4: unterminated quote
run-step|RUN make\n|Dockerfile:3: RUN is not supported
from-step|FROM alpine\n|Dockerfile:3: FROM is not supported
arg-before-declared|LABEL v=$VERSION\nARG VERSION=1\n|Dockerfile:3: $VERSION is used before its ARG VERSION is declared
label-without-value|LABEL justakey\n|Dockerfile:3: LABEL "justakey" has no value
bad-healthcheck|HEALTHCHECK --interval=soon CMD ["x"]\n|Dockerfile:3: HEALTHCHECK --interval=soon is not a duration
bad-expose|EXPOSE http\n|Dockerfile:3: EXPOSE "http" is not a port
CASES
}

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

# The log of the last build shows the Nix step taken from a cache (CACHED, or its layer
# extracted from an imported cache) with no output of the process at all: Nix did not run.
nix_step_cached() {
  local id
  id=$(grep -oE '^#[0-9]+ nix-build ' "$work/build.log" | head -1 | cut -d' ' -f1)
  [ -n "$id" ] || return 1
  grep -qE "^$id (CACHED|extracting sha256:)" "$work/build.log" || return 1
  # Process output lines carry a timestamp in seconds after the vertex id.
  ! grep -qE "^$id [0-9]+\.[0-9]+ " "$work/build.log"
}

test_cache_local() {
  echo "cache-local: --cache-to type=local, prune, --cache-from: Nix does not run"
  local dir=$work/cache-local cache=$work/cache-local-export cold warm
  rm -rf "$dir" "$cache" && cp -r tests/fixtures/expensive "$dir"
  echo "cache test $$" >"$dir/app/message.txt"
  docker builder prune -af >/dev/null
  check "cold build exporting its cache" timed cold build "$dir" -t nf-test/cache-local --cache-to "type=local,dest=$cache,mode=max"
  docker builder prune -af >/dev/null
  docker image rm nf-test/cache-local >/dev/null
  check "rebuild from the imported cache" timed warm build "$dir" -t nf-test/cache-local --cache-from "type=local,src=$cache"
  check "the Nix step came from the cache (cold ${cold}s, cached ${warm}s)" nix_step_cached
  check "the image runs" bash -c "docker run --rm nf-test/cache-local | grep -q 'cache test $$'"
  echo "cache-local: cold ${cold}s, from cache ${warm}s" >>"$work/timings"
}

test_registry() {
  echo "registry: push with a registry cache, prune, rebuild from it, pull back the same digest"
  scripts/registry
  local dir=$work/registry ref=127.0.0.1:5000/nf-test/hello:$$ cache=127.0.0.1:5000/nf-test/hello:cache-$$ cold warm
  rm -rf "$dir" && cp -r tests/fixtures/hello "$dir"
  docker builder prune -af >/dev/null
  check "build and push with --cache-to type=registry" timed cold build "$dir" -f "$dir/default.nix" --target hello \
    --output "type=image,name=$ref,push=true" --cache-to "type=registry,ref=$cache,mode=max"
  local pushed
  pushed=$(curl -fsS -H 'Accept: application/vnd.oci.image.index.v1+json' -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -o /dev/null -w '%header{docker-content-digest}' "http://127.0.0.1:5000/v2/nf-test/hello/manifests/$$")
  check "the registry has the image ($pushed)" test -n "$pushed"
  docker builder prune -af >/dev/null
  docker image rm "$ref" >/dev/null 2>&1
  check "rebuild from the registry cache" timed warm build "$dir" -f "$dir/default.nix" --target hello -t nf-test/registry-rebuilt \
    --cache-from "type=registry,ref=$cache"
  check "the Nix step came from the registry cache (cold ${cold}s, cached ${warm}s)" nix_step_cached
  check "pull the pushed image back" docker pull -q "$ref"
  check "same digest" bash -c "docker image inspect '$ref' --format '{{json .RepoDigests}}' | grep -q '$pushed'"
  check "the pulled image runs" bash -c "[ \"\$(docker run --rm '$ref')\" = 'hello from nix-frontend' ]"
  echo "registry: cold ${cold}s (with push), from registry cache ${warm}s" >>"$work/timings"
}

test_secret() {
  echo "secret: --secret id=netrc reaches Nix and no layer or cache blob"
  local dir=$work/secret token="nix-frontend-secret-$$-$RANDOM$RANDOM"
  rm -rf "$dir" && cp -r tests/fixtures/hello "$dir"
  printf 'machine cache.example.org login ci password %s\n' "$token" >"$work/netrc"
  check "build with the secret, exporting image and cache" build "$dir" -f "$dir/default.nix" --target hello \
    --secret "id=netrc,src=$work/netrc" --no-cache \
    --output "type=oci,dest=$work/secret.tar" --cache-to "type=local,dest=$work/secret-cache,mode=max"
  check "Nix was given the netrc" grep -q "using the netrc secret for Nix" "$work/build.log"
  check "the token is in no image blob or exported cache blob" python3 - "$token" "$work/secret.tar" "$work/secret-cache" <<'PY'
import gzip, os, sys, tarfile
token = sys.argv[1].encode()
def blobs():
    with tarfile.open(sys.argv[2]) as archive:
        for member in archive.getmembers():
            if member.isfile():
                yield member.name, archive.extractfile(member).read()
    for root, _, files in os.walk(sys.argv[3]):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                yield name, f.read()
count = 0
for name, data in blobs():
    count += 1
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if token in data:
        sys.exit(f"token found in {name}")
print(f"    checked {count} blobs", file=sys.stderr)
PY
}

test_multiplatform() {
  echo "multiplatform: linux/amd64 native + linux/arm64 under qemu, one index"
  local multi=127.0.0.1:5000/nix-frontend-test/nix:multi dir=tests/fixtures/hello
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    fail "no qemu-aarch64 emulator registered (scripts/setup registers it)"
    return
  fi
  scripts/nix-image-index "$multi" amd64 arm64
  check "two-platform build" build "$dir" -f "$dir/default.nix" --target hello \
    --platform linux/amd64,linux/arm64 --build-arg "NIX_IMAGE=$multi" --output "type=oci,dest=$work/mp.tar"
  check "progress names the platform of each Nix step" grep -q '\[linux/arm64\] nix-build default.nix -A hello' "$work/build.log"
  check "the index holds amd64 and arm64 images, the arm64 one with an aarch64 busybox" python3 - "$work/mp.tar" <<'PY'
import gzip, io, json, sys, tarfile
archive = tarfile.open(sys.argv[1])
blob = lambda d: archive.extractfile("blobs/sha256/" + d[7:]).read()
index = json.loads(archive.extractfile("index.json").read())
inner = json.loads(blob(index["manifests"][0]["digest"]))
images = {m["platform"]["architecture"]: m for m in inner["manifests"]
          if m.get("annotations", {}).get("vnd.docker.reference.type") != "attestation-manifest"}
assert sorted(images) == ["amd64", "arm64"], images.keys()
manifest = json.loads(blob(images["arm64"]["digest"]))
config = json.loads(blob(manifest["config"]["digest"]))
assert config["architecture"] == "arm64", config["architecture"]
machines = set()
for layer in manifest["layers"]:
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob(layer["digest"])))) as t:
        for m in t.getmembers():
            if m.name.endswith("/busybox") and m.isfile():
                head = t.extractfile(m).read(20)
                machines.add(int.from_bytes(head[18:20], "little"))
assert machines == {0xB7}, machines  # EM_AARCH64
PY
  check "loaded as one multi-platform image" build "$dir" -f "$dir/default.nix" --target hello \
    --platform linux/amd64,linux/arm64 --build-arg "NIX_IMAGE=$multi" -t nf-test/multiplatform
  check "the arm64 image runs under emulation" \
    bash -c '[ "$(docker run --rm --platform linux/arm64 nf-test/multiplatform)" = "hello from nix-frontend" ]'
  check "the amd64 image runs" \
    bash -c '[ "$(docker run --rm --platform linux/amd64 nf-test/multiplatform)" = "hello from nix-frontend" ]'
  check "rebuilding amd64 alone reuses its cache" build "$dir" -f "$dir/default.nix" --target hello \
    --platform linux/amd64 --build-arg "NIX_IMAGE=$multi" -t nf-test/amd64-only
  check "... Nix did not run" nix_step_cached
  check "a single foreign platform" build "$dir" -f "$dir/default.nix" --target hello \
    --platform linux/arm64 --build-arg "NIX_IMAGE=$multi" -t nf-test/arm64-only
  check "... is an arm64 image that runs" bash -c \
    '[ "$(docker image inspect nf-test/arm64-only --format "{{.Architecture}}")" = arm64 ] &&
     [ "$(docker run --rm --platform linux/arm64 nf-test/arm64-only)" = "hello from nix-frontend" ]'
  build_args=(-f "$dir/default.nix" --target hello --platform linux/mips64)
  expect_error unsupported-platform "$dir" "--platform: linux/mips64 has no Nix system"
}

test_hostile() {
  echo "hostile: builds that tamper with the frontend's output, and user strings with shell syntax"
  local dir=tests/fixtures/hostile
  build_args=(-f "$dir/default.nix" --target extraLayer)
  expect_error extra-layer "$dir" "differ from the closure"
  build_args=(-f "$dir/default.nix" --target plantedTmp)
  expect_error planted-tmp "$dir" "unexpected entries in its tmp directory"
  build_args=(-f "$dir/default.nix" --target rootLink)
  expect_error root-link "$dir" "unexpected root entry"
  check "symlinks leaving a store path build" build "$dir" -f "$dir/default.nix" --target links \
    --output "type=oci,dest=$work/links.tar"
  check "... and are copied as links, not followed" bash -c \
    "python3 tests/lib/oci_files.py '$work/links.tar' | grep -qP -- '-links/shadow-link\tlink\t1\t0:0\t/etc/shadow$' &&
     python3 tests/lib/oci_files.py '$work/links.tar' | grep -qP -- '-links/etc-link\tlink\t1\t0:0\t../../../../etc$' &&
     ! python3 tests/lib/oci_files.py '$work/links.tar' | grep -qP '^/etc(/|\t)'"
  # Each payload would print PWNED (spelled apart in the text itself) if a shell ran it in the
  # builder, where that output would land in the build log.
  local payload="\$(printf 'PWN%s' ED >&2);\`printf 'PWN%s' ED >&2\`'\""
  build_args=(-f "$dir/default.nix" --target "links;$payload")
  expect_error shell-syntax-target "$dir" "selection path 'links;\$(printf 'PWN%s' ED >&2)"
  check "the attribute's shell syntax never ran" bash -c "! grep -q PWNED '$work/error-shell-syntax-target.log'"
  check "a NIX_ARGS value with shell syntax is one argument" build "$dir" -f "$dir/default.nix" --target links \
    --build-arg "NIX_ARGS=--argstr x '\$(printf PWN%s ED >&2);\`printf PWN%s ED\`'" -t nf-test/args
  check "... that never ran" bash -c "! grep -q PWNED '$work/build.log'"
  build_args=(-f "$dir/default.nix" --target links --build-arg "NIX_FILE=default.nix;$payload")
  expect_error shell-syntax-file "$dir" "no such file in the build context"
  check "the file name's shell syntax never ran" bash -c "! grep -q PWNED '$work/error-shell-syntax-file.log'"
  build_args=(-f "$dir/default.nix" --target "links
echo PWN''ED")
  expect_error newline-target "$dir" "--target" "control character"
}

test_nix_args() {
  echo "nix-args: NIX_ARGS reaches Nix as --argstr/--arg"
  local dir=$work/nix-args
  mkdir -p "$dir"
  probe_nix "$dir/default.nix" '{ greeting ? "default greeting", loud ? false }:' \
    '  seen = if loud then "${greeting}!" else greeting;'
  check "builds with NIX_ARGS" build "$dir" -f "$dir/default.nix" \
    --build-arg "NIX_ARGS=--argstr greeting 'hello with spaces' --arg loud true" -t nf-test/nix-args
  check "the arguments reached the expression" bash -c '[ "$(docker run --rm nf-test/nix-args)" = "hello with spaces!" ]'
  build_args=(-f "$dir/default.nix" --build-arg "NIX_ARGS=--option sandbox false")
  expect_error bad-nix-args "$dir" "build arg NIX_ARGS"
}

test_cacert() {
  echo "cacert: SSL_CERT_FILE points at the closure's CA bundle"
  local dir=tests/fixtures/cacert
  check "builds" build "$dir" -f "$dir/default.nix" -t nf-test/cacert
  check "SSL_CERT_FILE set" bash -c \
    "docker image inspect nf-test/cacert --format '{{json .Config.Env}}' | grep -qE 'SSL_CERT_FILE=/nix/store/[a-z0-9]{32}-nss-cacert-3.101/etc/ssl/certs/ca-bundle.crt'"
  check "the program reads the bundle through it" bash -c 'docker run --rm nf-test/cacert | grep -q "test bundle"'
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

test_dockerignore() {
  echo "dockerignore: excluded files never reach Nix"
  local dir=$work/dockerignore
  mkdir -p "$dir"
  probe_nix "$dir/default.nix" "" \
    '  seen = if builtins.pathExists ./secret.txt then "secret.txt present" else "secret.txt absent";'
  echo "do not ship" >"$dir/secret.txt"
  printf '# comment\nsecret.txt\n' >"$dir/.dockerignore"
  check "builds" build "$dir" -f "$dir/default.nix" -t nf-test/dockerignore
  check ".dockerignore kept secret.txt from Nix" bash -c '[ "$(docker run --rm nf-test/dockerignore)" = "secret.txt absent" ]'
  rm "$dir/.dockerignore"
  check "without it the file is seen" build "$dir" -f "$dir/default.nix" -t nf-test/dockerignore
  check "... by the same expression" bash -c '[ "$(docker run --rm nf-test/dockerignore)" = "secret.txt present" ]'
  printf '/secret.txt\n' >"$dir/.dockerignore"
  check "builds with a root-anchored pattern" build "$dir" -f "$dir/default.nix" -t nf-test/dockerignore
  check "/secret.txt kept secret.txt from Nix" bash -c '[ "$(docker run --rm nf-test/dockerignore)" = "secret.txt absent" ]'
  probe_nix "$dir/default.nix" "" \
    '  seen = if builtins.pathExists ./keep.txt && !(builtins.pathExists ./secret.txt) then "keep.txt only" else "wrong files";'
  echo "keep me" >"$dir/keep.txt"
  printf '*.txt\n!/keep.txt\n' >"$dir/.dockerignore"
  check "builds with an anchored exception" build "$dir" -f "$dir/default.nix" -t nf-test/dockerignore
  check "*.txt + !/keep.txt: keep.txt present, secret.txt absent" bash -c '[ "$(docker run --rm nf-test/dockerignore)" = "keep.txt only" ]'
}

test_subdir() {
  echo "subdir: -f sub/default.nix . in a git checkout builds sub/default.nix"
  local dir=$work/subdir
  mkdir -p "$dir/sub"
  cp tests/fixtures/hello/default.nix "$dir/sub/"
  git -C "$dir" init -q
  check "builds" build "$dir" -f "$dir/sub/default.nix" --target hello -t nf-test/subdir
  check "... the file in sub/" bash -c '[ "$(docker run --rm nf-test/subdir)" = "hello from nix-frontend" ]'
}

test_ssh() {
  echo "ssh: --ssh default puts the client's agent where Nix evaluates (builtins.fetchGit over SSH)"
  local dir=$work/ssh
  mkdir -p "$dir"
  # Evaluated where builtins.fetchGit runs: is SSH_AUTH_SOCK set and a socket there?
  probe_nix "$dir/default.nix" "" '  sock = builtins.getEnv "SSH_AUTH_SOCK";
  seen = if sock != "" && builtins.pathExists sock then "agent forwarded" else "no agent";'
  local agent
  agent=$(ssh-agent -s) && eval "$agent" >/dev/null
  check "builds with --ssh default" build "$dir" -f "$dir/default.nix" --ssh default -t nf-test/ssh
  check "Nix saw the forwarded agent" bash -c '[ "$(docker run --rm nf-test/ssh)" = "agent forwarded" ]'
  ssh-agent -k >/dev/null 2>&1
  check "builds without --ssh" build "$dir" -f "$dir/default.nix" --no-cache -t nf-test/ssh-none
  check "... where Nix sees no agent" bash -c '[ "$(docker run --rm nf-test/ssh-none)" = "no agent" ]'
}

tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(hello libc errors subdir dockerignore hostile nix_args cacert dialect dialect_errors outputs flake print chain shared repro concurrent interrupt leaf
  cache_local registry secret ssh multiplatform)
for t in "${tests[@]}"; do "test_$t"; done
[ -f "$work/timings" ] && sed 's/^/timing: /' "$work/timings"
echo "e2e: $passed passed, $failures failed"
[ "$failures" = 0 ]
