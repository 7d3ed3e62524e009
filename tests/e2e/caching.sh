# shellcheck shell=bash
# End-to-end tests of the persistent Nix store and BuildKit caches: concurrent and interrupted builds,
# leaf changes, local and registry caches.
# Sourced by tests/e2e.sh (after tests/lib/common.sh); test_NAME runs as `tests/e2e.sh NAME`.

test_concurrent() {
  echo "concurrent: four cold builds of different fixtures at once share (and seed) the Nix store"
  docker builder prune -af >/dev/null
  local pids=() name
  build_raw tests/fixtures/hello -t $T/conc-hello >"$work/c1.log" 2>&1 & pids+=($!)
  build_raw tests/fixtures/libc -t $T/conc-libc >"$work/c2.log" 2>&1 & pids+=($!)
  build_raw tests/fixtures/outputs -f tests/fixtures/outputs/default.nix --target tool -t $T/conc-outputs >"$work/c3.log" 2>&1 & pids+=($!)
  build_raw tests/fixtures/dialect -t $T/conc-dialect >"$work/c4.log" 2>&1 & pids+=($!)
  local i=1 pid
  for pid in "${pids[@]}"; do
    check "build $i succeeds" wait "$pid"
    i=$((i + 1))
  done
  check "all four images run" bash -c '[ "$(docker run --rm $T/conc-hello)" = "hello from nix-frontend" ] &&
    [ "$(docker run --rm $T/conc-libc)" = "hello from a dynamically linked program" ] &&
    [ "$(docker run --rm $T/conc-outputs)" = "tool without its docs" ] &&
    docker run --rm $T/conc-dialect | grep -q "^user=app"'

  # Two builds at once that share a derivation (the same new dependency, different apps): both
  # images right.
  local a=$work/conc-a b=$work/conc-b
  rm -rf "$a" "$b" && cp -r tests/fixtures/expensive "$a" && cp -r tests/fixtures/expensive "$b"
  echo "shared dependency $$" | tee "$a/dep/info.txt" >"$b/dep/info.txt"
  echo "app a" >"$a/app/message.txt"
  echo "app b" >"$b/app/message.txt"
  build_raw "$a" -t $T/conc-a >"$work/c5.log" 2>&1 &
  pids=($!)
  build_raw "$b" -t $T/conc-b >"$work/c6.log" 2>&1 &
  pids+=($!)
  check "build a, sharing its dependency with b, succeeds" wait "${pids[0]}"
  check "build b succeeds" wait "${pids[1]}"
  check "... both images are right" bash -c "docker run --rm $T/conc-a | grep -q 'app a' &&
    docker run --rm $T/conc-a | grep -q 'shared dependency $$' &&
    docker run --rm $T/conc-b | grep -q 'app b' && docker run --rm $T/conc-b | grep -q 'shared dependency $$'"
}

test_interrupt() {
  echo "interrupt: a client killed while Nix builds; the next build succeeds on the same store"
  local dir=$work/interrupt
  rm -rf "$dir" && cp -r tests/fixtures/expensive "$dir"
  echo "interrupted $$" >"$dir/dep/info.txt" # a dependency no earlier test built
  build_raw "$dir" -t $T/interrupt >"$work/interrupt-1.log" 2>&1 &
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
  check "the next build succeeds" build "$dir" -t $T/interrupt
  check "... building the dependency to the end" grep -q "compiling the expensive dependency" "$work/build.log"
  check "... and the image runs" bash -c "docker run --rm $T/interrupt | grep -q 'interrupted $$'"
}

# A change to the leaf's source rebuilds only the leaf, in PLAN (graph or single).
leaf_change() { # leaf_change PLAN
  local plan=$1 dir=$work/expensive-$1
  rm -rf "$dir" && cp -r tests/fixtures/expensive "$dir"
  # A dependency no earlier build made, so the first build builds everything (without emptying
  # the shared BuildKit cache: another user's builds may be using it).
  echo "leaf $$ $RANDOM$RANDOM" >"$dir/dep/info.txt"
  check "[$plan] first build" build "$dir" -t "$T/leaf-$plan" --build-arg "NIX_PLAN=$plan"
  grep -q "building '/nix/store/[a-z0-9]*-expensive-dep-1.0.drv'" "$work/build.log" ||
    fail "[$plan] the first build did not build the dependency (already cached?)"
  echo "hello from the app, version 2" >"$dir/app/message.txt"
  check "[$plan] rebuild after the leaf change" build "$dir" -t "$T/leaf-$plan" --build-arg "NIX_PLAN=$plan"
  check "[$plan] the rebuild built the app" grep -q "building '/nix/store/[a-z0-9]*-app-1.0.drv'" "$work/build.log"
  check "[$plan] the rebuild did not build the expensive dependency" \
    bash -c "! grep -q 'expensive-dep-1.0.drv' '$work/build.log'"
  check "[$plan] the image shows the change" \
    bash -c "[ \"\$(docker run --rm $T/leaf-$plan | head -1)\" = 'hello from the app, version 2' ]"
}

test_leaf() {
  echo "leaf: a change to the leaf's source rebuilds only the leaf (graph and single plans)"
  leaf_change graph
  leaf_change single
}

test_cache_local() {
  echo "cache-local: --cache-to type=local, prune, --cache-from: Nix does not run"
  local dir=$work/cache-local cache=$work/cache-local-export cold warm
  rm -rf "$dir" "$cache" && cp -r tests/fixtures/expensive "$dir"
  echo "cache test $$" >"$dir/app/message.txt"
  docker builder prune -af >/dev/null
  check "cold build exporting its cache" timed cold build "$dir" -t $T/cache-local --cache-to "type=local,dest=$cache,mode=max"
  docker builder prune -af >/dev/null
  docker image rm $T/cache-local >/dev/null
  check "rebuild from the imported cache" timed warm build "$dir" -t $T/cache-local --cache-from "type=local,src=$cache"
  check "the Nix step came from the cache (cold ${cold}s, cached ${warm}s)" nix_step_cached
  check "the image runs" bash -c "docker run --rm $T/cache-local | grep -q 'cache test $$'"
  echo "cache-local: cold ${cold}s, from cache ${warm}s" >>"$work/timings"
}

test_registry() {
  echo "registry: push with a registry cache, prune, rebuild from it, pull back the same digest"
  scripts/registry
  local dir=$work/registry ref=127.0.0.1:5000/$T/hello:$$ cache=127.0.0.1:5000/$T/hello:cache-$$ cold warm
  rm -rf "$dir" && cp -r tests/fixtures/hello "$dir"
  docker builder prune -af >/dev/null
  check "build and push with --cache-to type=registry" timed cold build "$dir" -f "$dir/default.nix" --target hello \
    --output "type=image,name=$ref,push=true" --cache-to "type=registry,ref=$cache,mode=max"
  local pushed
  pushed=$(curl -fsS -H 'Accept: application/vnd.oci.image.index.v1+json' -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    -o /dev/null -w '%header{docker-content-digest}' "http://127.0.0.1:5000/v2/$T/hello/manifests/$$")
  check "the registry has the image ($pushed)" test -n "$pushed"
  docker builder prune -af >/dev/null
  docker image rm "$ref" >/dev/null 2>&1
  check "rebuild from the registry cache" timed warm build "$dir" -f "$dir/default.nix" --target hello -t $T/registry-rebuilt \
    --cache-from "type=registry,ref=$cache"
  check "the Nix step came from the registry cache (cold ${cold}s, cached ${warm}s)" nix_step_cached
  check "pull the pushed image back" docker pull -q "$ref"
  check "same digest" bash -c "docker image inspect '$ref' --format '{{json .RepoDigests}}' | grep -q '$pushed'"
  check "the pulled image runs" bash -c "[ \"\$(docker run --rm '$ref')\" = 'hello from nix-frontend' ]"
  echo "registry: cold ${cold}s (with push), from registry cache ${warm}s" >>"$work/timings"
}

# A fresh CI builder: export the cache with mode=max, prune everything, change the leaf, build
# with --cache-from: only the leaf's derivation runs. TYPE is local or registry.
fresh_builder() { # fresh_builder TYPE
  local type=$1 dir=$work/fresh-$1 to from
  rm -rf "$dir" "$work/fresh-cache-$1" && cp -r tests/fixtures/expensive "$dir"
  echo "fresh builder $type $$" >"$dir/app/message.txt"
  echo "dependency for $type $$" >"$dir/dep/info.txt" # a dependency no earlier test built
  case $type in
    local) to="type=local,dest=$work/fresh-cache-local,mode=max" from="type=local,src=$work/fresh-cache-local" ;;
    registry)
      scripts/registry
      to="type=registry,ref=127.0.0.1:5000/$T/fresh:cache-$$,mode=max"
      from="type=registry,ref=127.0.0.1:5000/$T/fresh:cache-$$"
      ;;
  esac
  docker builder prune -af >/dev/null
  check "[$type] cold build exporting its cache (mode=max)" build "$dir" -t $T/fresh --cache-to "$to"
  check "[$type] ... built the dependency and the app ($(nix_built))" \
    bash -c "[ \"\$(grep -oE \"building '[^']+'\" '$work/build.log' | grep -cE 'expensive-dep|app-1.0')\" = 2 ]"
  docker builder prune -af >/dev/null
  docker image rm $T/fresh >/dev/null
  echo "fresh builder $type $$, changed" >"$dir/app/message.txt"
  check "[$type] leaf change on a fresh builder with --cache-from" build "$dir" -t $T/fresh --cache-from "$from"
  check "[$type] ... Nix built only the app (built: $(nix_built))" \
    bash -c "[ \"\$(grep -oE \"building '/nix/store/[^']+'\" '$work/build.log' | grep -c .)\" = 1 ] &&
      grep -q \"building '/nix/store/[a-z0-9]*-app-1.0.drv'\" '$work/build.log'"
  check "[$type] ... and the image shows the change" bash -c "docker run --rm $T/fresh | grep -q 'fresh builder $type $$, changed'"
  check "[$type] ... with the dependency from the cache" bash -c "docker run --rm $T/fresh | grep -q 'dependency for $type $$'"
}

test_fresh_builder() {
  echo "fresh-builder: a leaf change on a fresh builder with an imported cache rebuilds only the leaf"
  fresh_builder local
  # The Docker 28 test daemon runs in a bridge-networked container: the host's registry on
  # 127.0.0.1 is out of its reach.
  if [ "${E2E_DOCKER:-}" = docker28 ]; then
    skip "registry variant: the host's 127.0.0.1 is out of reach of scripts/docker28's daemon"
  else
    fresh_builder registry
  fi
}

# A real binary cache on the host's 127.0.0.1: a dependency built and signed elsewhere (nix copy
# to a file:// cache, served by a static HTTP server) is substituted, not built, by a build that
# reaches the host with --network host.
test_binary_cache() {
  echo "binary-cache: a signed HTTP binary cache on 127.0.0.1 substitutes the dependency"
  local dir=$work/binary-cache cache=$work/binary-cache-store port
  rm -rf "$dir" "$cache" && cp -r tests/fixtures/expensive "$dir" && mkdir -p "$cache"
  echo "from the binary cache $$" >"$dir/dep/info.txt"
  # Build the dependency in the builder image, sign it with a fresh key, copy it to the cache.
  check "the dependency is built and copied to a signed file:// cache" docker run --rm \
    -v "$dir:/src:ro" -v "$cache:/cache" -w /src "$NIX_IMAGE" sh -c '
      nix-store --generate-binary-cache-key test-cache /cache/key.sec /cache/key.pub &&
      dep=$(nix-build default.nix -A dep --no-out-link 2>/dev/null) &&
      nix --extra-experimental-features nix-command copy --to "file:///cache/store?secret-key=/cache/key.sec" "$dep" &&
      chmod -R a+rX /cache'
  serve binary-cache "$cache/store" || return
  port=$served_port
  check "build with --network host and the cache as substituter" build "$dir" -t $T/binary-cache --network host \
    --build-arg "NIX_SUBSTITUTERS=http://127.0.0.1:$port" \
    --build-arg "NIX_TRUSTED_PUBLIC_KEYS=$(cat "$cache/key.pub")"
  check "... Nix copied the dependency from the cache" \
    grep -qE "copying path '/nix/store/[a-z0-9]{32}-expensive-dep-1.0' from 'http://127.0.0.1:$port'" "$work/build.log"
  check "... in a substitute step" grep -qE '^#[0-9]+ substitute expensive-dep-1.0' "$work/build.log"
  check "... and built only the app (built: $(nix_built))" bash -c \
    "! grep -q 'compiling the expensive dependency' '$work/build.log' && grep -q \"building '/nix/store/[a-z0-9]*-app-1.0.drv'\" '$work/build.log'"
  check "... and the image runs with it" bash -c "docker run --rm $T/binary-cache | grep -q 'from the binary cache $$'"
  kill "$served_pid" 2>/dev/null

  # The same cache behind basic auth: refused without credentials, used with the netrc secret.
  local auth_port user=ci password="p$$"
  serve private-cache "$cache/store" --auth "$user:$password" || return
  auth_port=$served_port
  check "the private cache refuses anonymous requests" bash -c "! curl -fsS 'http://127.0.0.1:$auth_port/nix-cache-info' >/dev/null 2>&1"
  printf 'machine 127.0.0.1 login %s password %s\n' "$user" "$password" >"$work/cache-netrc"
  echo "behind basic auth $$" >"$dir/app/message.txt" # a new app, so its step runs again
  check "build against the private cache with --secret id=netrc" build "$dir" -t $T/binary-cache-auth --network host \
    --secret "id=netrc,src=$work/cache-netrc" \
    --build-arg "NIX_SUBSTITUTERS=http://127.0.0.1:$auth_port" \
    --build-arg "NIX_TRUSTED_PUBLIC_KEYS=$(cat "$cache/key.pub")"
  check "... Nix fetched the dependency with the credentials" \
    grep -qE "copying path '/nix/store/[a-z0-9]{32}-expensive-dep-1.0' from 'http://127.0.0.1:$auth_port'" "$work/build.log"
  check "... and the password is in no layer of the image" bash -c \
    "mkdir -p '$work/no-cache' && docker save -o '$work/auth.tar' $T/binary-cache-auth &&
     python3 tests/lib/token_absent.py '$password' '$work/auth.tar' '$work/no-cache'"
  kill "$served_pid" 2>/dev/null
}

# What Nix downloads, cached in pieces: a closure served by a signed HTTP binary cache is
# downloaded by BuildKit, one file per path keyed by its SHA-256, and unpacked by Nix in several
# steps (by depth and name), each path downloaded once; when the app gains one dependency only
# that dependency is downloaded and one substitute step runs. Downloads are counted from the
# cache's access log. A file with a changed byte is refused by its SHA-256; one whose narinfo's
# file hash was changed to match is refused by Nix's NAR hash; one signed by a key not trusted is
# refused by Nix's signature check; each error names the path.
test_substitute_pieces() {
  echo "substitute-pieces: a cached closure in pieces; a new dependency downloads only itself; damaged or untrusted NARs refused"
  local dir=$work/subst cache=$work/subst-cache port
  rm -rf "$dir" "$cache" && cp -r tests/fixtures/substitute "$dir" && mkdir -p "$cache"
  # base, 13 libraries (one for "gains a dependency"), uncompressed so a byte can be changed.
  docker run --rm \
    -v "$dir:/src:ro" -v "$cache:/cache" -w /src "$NIX_IMAGE" sh -c '
      nix-store --generate-binary-cache-key subst-test /cache/key.sec /cache/key.pub &&
      nix-store --generate-binary-cache-key untrusted /cache/other.sec /cache/other.pub &&
      copy() { nix --extra-experimental-features nix-command copy --to "file:///cache/store?secret-key=/cache/$1&compression=none" $2; } &&
      libs=$(nix-build default.nix -A libs --arg extra 1 --no-out-link 2>/dev/null) && copy key.sec "$libs" &&
      for odd in corrupt rehashed; do
        path=$(nix-build default.nix -A libs --argstr odd $odd --no-out-link 2>/dev/null | grep subst-odd) &&
        copy key.sec "$path" && echo "${path#/nix/store/}" >/cache/$odd || exit 1
      done &&
      untrusted=$(nix-build default.nix -A libs --argstr odd untrusted --no-out-link 2>/dev/null | grep subst-odd) &&
      copy other.sec "$untrusted" && chmod -R a+rX /cache' ||
    { fail "the closure could not be built and copied to a signed file:// cache"; return; }
  ok "the closure is built and copied to a signed file:// cache"
  # One byte of two odd libraries' NARs changed; the second's narinfo gets the changed file's
  # SHA-256 (a field no signature covers), so only its NarHash no longer holds.
  local odd narinfo nar
  for odd in corrupt rehashed; do
    narinfo=$cache/store/$(cut -c1-32 "$cache/$odd").narinfo
    nar=$cache/store/$(sed -n 's/^URL: //p' "$narinfo")
    python3 -c 'import sys; p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[-200] ^= 1; open(p, "wb").write(b)' "$nar"
  done
  python3 - "$narinfo" "$nar" <<'PY'
import hashlib, re, sys
info, nar = sys.argv[1:]
digest = hashlib.sha256(open(nar, "rb").read()).digest()
# Nix's base-32: its alphabet, least significant digit last.
alphabet = "0123456789abcdfghijklmnpqrsvwxyz"
n = int.from_bytes(digest, "little")
text = "".join(alphabet[(n >> (5 * i)) & 31] for i in range(52))[::-1]
body = re.sub(r"^FileHash: .*$", "FileHash: sha256:" + text, open(info).read(), flags=re.M)
open(info, "w").write(body)
PY
  serve subst-cache "$cache/store" || return
  port=$served_port
  local access_log=$work/subst-cache-http.log
  # The libraries' files are 100 kB: every file is downloaded by BuildKit (NIX_DOWNLOAD_MIN_BYTES=0).
  local nix_fetches=(-f "$dir/default.nix" --target app --network host
    --build-arg "NIX_SUBSTITUTERS=http://127.0.0.1:$port"
    --build-arg "NIX_TRUSTED_PUBLIC_KEYS=$(cat "$cache/key.pub")")
  local args=("${nix_fetches[@]}" --build-arg NIX_DOWNLOAD_MIN_BYTES=0)
  # The names of the paths whose files were downloaded since line $1 of the access log, sorted.
  downloaded_since() {
    local file
    tail -n +"$(( $1 + 1 ))" "$access_log" | grep -oE '"GET /nar/[^ ]+' | sed 's|"GET /||' |
      while read -r file; do
        grep -l "^URL: $file\$" "$cache/store"/*.narinfo | xargs sed -n 's|^StorePath: /nix/store/[a-z0-9]*-||p'
      done | sort | tr '\n' ' '
  }
  local before
  before=$(wc -l <"$access_log")
  check "the app builds over the cached closure" build "$dir" "${args[@]}" -t "$T/app"
  check "... which runs" bash -c "[ \"\$(docker run --rm $T/app)\" = 'app with 12 libraries' ]"
  local steps
  steps=$(grep -oE '^#[0-9]+ substitute [^ ]+' "$work/build.log" | sort -u | wc -l)
  check "... substituted in pieces ($steps steps)" [ "$steps" -ge 3 ]
  local all
  all=$(downloaded_since "$before")
  check "... each of the 13 paths downloaded once, by BuildKit: $(wc -w <<<"$all") files" bash -c \
    "[ \"\$(tr ' ' '\n' <<<'$all' | grep -c .)\" = 13 ] && [ -z \"\$(tr ' ' '\n' <<<'$all' | grep . | uniq -d)\" ]"
  check "... and unpacked by Nix from them, with no request of its own to the cache" \
    grep -qE "copying path '/nix/store/[a-z0-9]{32}-subst-base' from 'file:///nf/nar-cache'" "$work/build.log"
  before=$(wc -l <"$access_log")
  check "the app gains one dependency from the cache" build "$dir" "${args[@]}" --build-arg "NIX_ARGS=--arg extra 1" -t "$T/app"
  local downloaded
  downloaded=$(downloaded_since "$before")
  check "... only it is downloaded: $downloaded" [ "$downloaded" = "subst-lib-12 " ]
  local ran=0 id
  for id in $(nix_step_ids substitute); do nix_step_from_cache "$id" || ran=$((ran + 1)); done
  check "... by one substitute step ($ran ran), the other $(( $(nix_step_ids substitute | wc -l) - ran )) from BuildKit's cache" [ "$ran" = 1 ]
  check "... and the image has it" bash -c "[ \"\$(docker run --rm $T/app)\" = 'app with 13 libraries' ]"
  before=$(wc -l <"$access_log")
  check "the dependency leaves the set again (a set built before)" build "$dir" "${args[@]}" -t "$T/app"
  downloaded=$(downloaded_since "$before")
  check "... and nothing is downloaded: '$downloaded'" [ -z "$downloaded" ]
  check "... every substitute step from BuildKit's cache" bash -c \
    "ids=\$(grep -oE '^#[0-9]+ substitute ' '$work/build.log' | cut -d' ' -f1 | sort -u); [ -n \"\$ids\" ] &&
     for id in \$ids; do grep -qE \"^\$id CACHED\" '$work/build.log' || exit 1; done"
  # With the default threshold (4 MiB) these small files are Nix's to fetch, in its own pieces.
  check "with the default NIX_DOWNLOAD_MIN_BYTES, Nix fetches these small files itself" build "$dir" "${nix_fetches[@]}" -t "$T/app"
  check "... from the cache, in the substitute steps" \
    grep -qE "copying path '/nix/store/[a-z0-9]{32}-subst-base' from 'http://127.0.0.1:$port'" "$work/build.log"
  check "... and the image is the same app" bash -c "[ \"\$(docker run --rm $T/app)\" = 'app with 12 libraries' ]"
  expect_error damaged-nar "$dir" "${args[@]}" --build-arg "NIX_ARGS=--argstr odd corrupt" -- \
    "subst-odd-corrupt" "SHA-256 is not the one the cache's narinfo gives"
  expect_error damaged-nar-rehashed "$dir" "${args[@]}" --build-arg "NIX_ARGS=--argstr odd rehashed" -- \
    "subst-odd-rehashed" "hash mismatch"
  expect_error untrusted-signature "$dir" "${args[@]}" --build-arg "NIX_ARGS=--argstr odd untrusted" -- \
    "subst-odd-untrusted" "not signed by any of the keys"
  kill "$served_pid" 2>/dev/null
}

# The upstream export race (tests/lib/export_race.sh) is told from other failures by the error
# CI logged, and `build` runs such a build once more (with a stand-in for build_raw).
# Each NAME has a narinfo in the cache DIR, signed with the test key.
pushed_signed() { # pushed_signed DIR NAME...
  local dir=$1 name info; shift
  for name in "$@"; do
    info=$(grep -l "^StorePath: /nix/store/[a-z0-9]*-$name\$" "$dir"/*.narinfo | head -1)
    [ -n "$info" ] && grep -q '^Sig: push-test:' "$info" || return 1
  done
}

# NIX_CACHE_PUSH: every build step pushes what it built to a Nix binary cache that takes uploads
# (HTTP PUT on 127.0.0.1), signed with a key passed as a secret; a builder with no BuildKit cache
# at all then substitutes everything but the leaf from it. Both plans push.
test_nix_cache_push() {
  echo "nix-cache-push: build steps push to a Nix binary cache; a fresh builder substitutes from it"
  local dir=$work/push cache=$work/push-cache port
  rm -rf "$dir" "$cache" && cp -r tests/fixtures/expensive "$dir"
  echo "pushed dependency $$" >"$dir/dep/info.txt"
  upload_cache "$cache" push-test || return
  port=$served_port
  local push=(--network host --secret "id=nix-cache-key,src=$work/push-test.sec"
    --build-arg "NIX_CACHE_PUSH=http://127.0.0.1:$port")
  check "a build with NIX_CACHE_PUSH" build "$dir" -t $T/push "${push[@]}"
  check "... ran a push step per build step" bash -c \
    "grep -qE '^#[0-9]+ push expensive-dep-1.0 to the Nix cache' '$work/build.log' && grep -qE '^#[0-9]+ push app-1.0 to the Nix cache' '$work/build.log'"
  check "... the cache holds the dependency and the app, signed with the key" \
    pushed_signed "$cache" expensive-dep-1.0 app-1.0
  check "... and the key is in no layer of the image" bash -c \
    "mkdir -p '$work/push-no-key' && docker save -o '$work/push.tar' $T/push &&
     python3 tests/lib/token_absent.py \"\$(sed -n 1p '$work/push-test.sec' | cut -d: -f2 | cut -c1-40)\" '$work/push.tar' '$work/push-no-key'"
  # A fresh builder: no BuildKit cache, only the Nix cache.
  docker builder prune -af >/dev/null
  echo "a leaf change $$" >"$dir/app/message.txt"
  check "a leaf change on a pruned builder with the cache as substituter" build "$dir" -t $T/push-fresh \
    --network host --build-arg "NIX_SUBSTITUTERS=http://127.0.0.1:$port" \
    --build-arg "NIX_TRUSTED_PUBLIC_KEYS=$(cat "$work/push-test.pub")"
  check "... substituted the dependency and built only the app (built: $(nix_built))" bash -c \
    "grep -qE \"copying path '/nix/store/[a-z0-9]{32}-expensive-dep-1.0' from 'http://127.0.0.1:$port'\" '$work/build.log' &&
     ! grep -q 'compiling the expensive dependency' '$work/build.log'"
  check "... and the image runs with it" bash -c "docker run --rm $T/push-fresh | grep -q 'a leaf change $$'"
  # The single plan pushes from its one step.
  echo "single plan $$" >"$dir/app/message.txt"
  check "NIX_PLAN=single pushes too" build "$dir" -t $T/push-single "${push[@]}" --build-arg NIX_PLAN=single \
    --build-arg "NIX_SUBSTITUTERS=http://127.0.0.1:$port" --build-arg "NIX_TRUSTED_PUBLIC_KEYS=$(cat "$work/push-test.pub")"
  check "... the new app is in the cache" bash -c \
    "[ \$(grep -l 'StorePath: /nix/store/[a-z0-9]*-app-1.0$' '$cache'/*.narinfo | wc -l) -ge 2 ]"
  kill "$served_pid" 2>/dev/null
  expect_error cache-push-url "$dir" --build-arg NIX_CACHE_PUSH=file:///etc -- "build arg NIX_CACHE_PUSH" "https://"
}

# Two CI runners that share nothing but a registry (two standalone buildkitd with their own
# state): A builds cold, pushes and exports a registry cache; B, which never saw the project,
# builds a leaf change from that cache: Nix builds only the leaf, and B's image reuses every layer
# of A's but three: the leaf's, its changed source's (app/message.txt is a store path of the
# closure) and the last small one.
test_two_runners() {
  echo "two-runners: runner B builds a leaf change from runner A's registry cache"
  if [ "${E2E_DOCKER:-}" != standalone ]; then
    skip "needs standalone builders, E2E_DOCKER=standalone"
    return
  fi
  local b=nf-bk-e2e-runner-b dir=$work/runners ref=127.0.0.1:5000/$T/runners
  local cache=127.0.0.1:5000/$T/runners-cache:$$ wide=(-f "$work/runners/default.nix" --target app --build-arg "NIX_ARGS=--arg count 20")
  scripts/buildkit start "$b" 1242 >/dev/null 2>&1 || { fail "runner B did not start (scripts/buildkit start $b 1242)"; return; }
  rm -rf "$dir" && cp -r tests/fixtures/wide "$dir"
  echo "runner A $$" >"$dir/app/message.txt"
  docker builder prune -af >/dev/null
  check "runner A builds cold, pushes and exports a registry cache" build "$dir" "${wide[@]}" \
    -t "$ref:a-$$" --push --cache-to "type=registry,ref=$cache,mode=max"
  echo "runner B's leaf change $$" >"$dir/app/message.txt"
  check "runner B builds the leaf change with --cache-from" build "$dir" "${wide[@]}" --builder "$b" \
    -t "$ref:b-$$" --push --cache-from "type=registry,ref=$cache"
  check "... Nix built only the leaf (built: $(nix_built))" [ "$(nix_built)" = "wide-app-1.0.drv " ]
  local layers_a layers_b
  layers_a=$(python3 tests/lib/registry_layers.py "$ref:a-$$")
  layers_b=$(python3 tests/lib/registry_layers.py "$ref:b-$$")
  check "... and its image reuses all of A's layers but the leaf's, its source's and the last ($(grep -cvxF -f <(echo "$layers_a") <<<"$layers_b") of $(wc -l <<<"$layers_b") new)" \
    [ "$(grep -cvxF -f <(echo "$layers_a") <<<"$layers_b")" = 3 ]
  scripts/buildkit stop "$b" >/dev/null 2>&1
}

test_export_race() {
  echo "export-race: the upstream unpack race is recognised and its build run again"
  check "the failure CI logged is the upstream race" upstream_export_race tests/fixtures/export-race/build.log
  printf '#12 ERROR: process "/bin/sh" did not complete successfully: exit code: 1\n' >"$work/other-failure.log"
  check "... another failure is not" bash -c ". tests/lib/export_race.sh; ! upstream_export_race '$work/other-failure.log'"
  check "build runs a build that hit it once more, and succeeds" bash -c "
    work='$work'; . tests/lib/common.sh
    build_raw() { if [ -e \"\$work/raced\" ]; then echo built; else touch \"\$work/raced\"; cat tests/fixtures/export-race/build.log; return 1; fi; }
    rm -f \"\$work/raced\"; out=\$(build x) && grep -q 'building again' <<<\"\$out\" && grep -q built \"\$work/build.log\""
  check "... but not a build that fails otherwise" bash -c "
    work='$work'; . tests/lib/common.sh
    build_raw() { echo 'ERROR: exit code: 1'; return 1; }
    ! build x >/dev/null"
}

# A cache that holds only some steps (mode=min: the image's layers, not the build steps) builds
# the missing ones, and the image is still right.
test_partial_cache() {
  echo "partial-cache: a mode=min cache builds the steps it lacks; the image is right"
  local dir=$work/partial cache=$work/partial-cache
  rm -rf "$dir" "$cache" && cp -r tests/fixtures/expensive "$dir"
  echo "partial cache $$" >"$dir/dep/info.txt"
  docker builder prune -af >/dev/null
  check "a build exports a mode=min cache" build "$dir" -t $T/partial --cache-to "type=local,dest=$cache,mode=min"
  docker builder prune -af >/dev/null
  echo "after a partial cache $$" >"$dir/app/message.txt"
  check "a pruned builder with it builds the leaf change" build "$dir" -t $T/partial-b --cache-from "type=local,src=$cache"
  check "... building what the cache lacks (built: $(nix_built))" grep -q 'compiling the expensive dependency' "$work/build.log"
  check "... and the image is right" bash -c "docker run --rm $T/partial-b | grep -q 'after a partial cache $$'"
}

# What a remote builder can fail at: a builder image the registry does not have names the image
# and what to set; a frontend from a registry nobody answers on is BuildKit's own error, at once.
test_remote_errors() {
  echo "remote-errors: an image that cannot be pulled, a frontend registry that does not answer"
  local dir=tests/fixtures/hello
  NIX_IMAGE=127.0.0.1:5000/$T/no-such-nix:missing expect_error missing-builder-image "$dir" -f "$dir/default.nix" -- \
    "cannot use the Nix builder image 127.0.0.1:5000/$T/no-such-nix:missing" "--build-arg NIX_IMAGE="
  unreachable_frontend() {
    ! timeout 120 docker buildx build --progress=plain --build-arg BUILDKIT_SYNTAX=127.0.0.1:5999/nix-frontend:x \
      -f "$dir/default.nix" "$dir" >"$work/unreachable.log" 2>&1 &&
      grep -q 'ERROR.*127.0.0.1:5999' "$work/unreachable.log"
  }
  check "a frontend from an unreachable registry fails at once with BuildKit's error" unreachable_frontend
}
