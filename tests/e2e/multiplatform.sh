# shellcheck shell=bash
# End-to-end tests of linux/amd64 native + linux/arm64 under qemu, under one index.
# Sourced by tests/e2e.sh (after tests/lib/common.sh); test_NAME runs as `tests/e2e.sh NAME`.

test_multiplatform() {
  echo "multiplatform: linux/amd64 native + linux/arm64 under qemu, one index"
  local multi=127.0.0.1:5000/nix-frontend-test/nix:multi dir=tests/fixtures/hello
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    fail "no qemu-aarch64 emulator registered (scripts/setup registers it)"
    return
  fi
  scripts/nix-image-index "$multi" amd64 arm64
  check "two-platform build" build "$dir" -f "$dir/default.nix" --target hello \
    --platform linux/amd64,linux/arm64 --build-arg "NIX_IMAGE=$multi" --build-arg NIX_EMULATE=all --output "type=oci,dest=$work/mp.tar"
  check "progress names the platform of each Nix step" bash -c \
    "grep -q '\[linux/arm64\] evaluate default.nix -A hello' '$work/build.log' &&
     grep -q '\[linux/amd64\] evaluate default.nix -A hello' '$work/build.log' &&
     grep -q '\[linux/arm64\] build hello-1.0' '$work/build.log'"
  check "two-platform single mode" build "$dir" -f "$dir/default.nix" --target hello \
    --platform linux/amd64,linux/arm64 --build-arg "NIX_IMAGE=$multi" --build-arg NIX_EMULATE=all --build-arg NIX_PLAN=single
  check "... its progress names the platform of each Nix step" bash -c \
    "grep -q '\[linux/arm64\] nix-build default.nix -A hello' '$work/build.log' &&
     grep -q '\[linux/amd64\] nix-build default.nix -A hello' '$work/build.log'"
  check "the index holds amd64 and arm64 images, the arm64 one with an aarch64 busybox" python3 tests/lib/multiplatform_index.py "$work/mp.tar"
  check "loaded as one multi-platform image" build "$dir" -f "$dir/default.nix" --target hello \
    --platform linux/amd64,linux/arm64 --build-arg "NIX_IMAGE=$multi" --build-arg NIX_EMULATE=all -t $T/multiplatform
  check "the arm64 image runs under emulation" runs_as linux/arm64 $T/multiplatform "hello from nix-frontend"
  check "the amd64 image runs" runs_as linux/amd64 $T/multiplatform "hello from nix-frontend"
  check "rebuilding amd64 alone reuses its cache" build "$dir" -f "$dir/default.nix" --target hello \
    --platform linux/amd64 --build-arg "NIX_IMAGE=$multi" --build-arg NIX_EMULATE=all -t $T/amd64-only
  check "... Nix built nothing (ran: $(nix_steps_run))" nix_step_cached 'build|substitute'
  # The evaluation's key rests on BuildKit's checksum of the context; in about one full run of
  # three it has run again here (never in a run of this test alone). Say so with its lines.
  nix_step_cached evaluate ||
    echo "  note: the evaluation ran again: $(grep -E "^$(nix_steps_run | grep -oE '^#[0-9]+') " "$work/build.log" | head -5 | tr '\n' '|')"
  check "a single foreign platform" build "$dir" -f "$dir/default.nix" --target hello \
    --platform linux/arm64 --build-arg "NIX_IMAGE=$multi" --build-arg NIX_EMULATE=all -t $T/arm64-only
  check "... is an arm64 image that runs" bash -c \
    '[ "$(docker image inspect $T/arm64-only --format "{{.Architecture}}")" = arm64 ] &&
     [ "$(docker run --rm --platform linux/arm64 $T/arm64-only)" = "hello from nix-frontend" ]'
  expect_error unsupported-platform "$dir" -f "$dir/default.nix" --target hello --platform linux/mips64 -- "--platform: linux/mips64 has no Nix system"
}

# One buildx builder of two standalone nodes, each serving one platform (`docker buildx create
# --append`): each platform's Nix steps run on its own node, and the results join in one index.
test_two_nodes() {
  echo "two-nodes: --platform linux/amd64,linux/arm64 on a builder of two nodes, one per platform"
  if [ "${E2E_DOCKER:-}" != standalone ]; then
    skip "needs standalone builders, E2E_DOCKER=standalone"
    return
  fi
  local multi=127.0.0.1:5000/nix-frontend-test/nix:multi dir=tests/fixtures/hello ref=127.0.0.1:5000/$T/two-nodes:$$
  scripts/nix-image-index "$multi" amd64 arm64
  scripts/buildkit start nf-bk-node-amd64 1243 linux/amd64 >/dev/null 2>&1 &&
    scripts/buildkit start nf-bk-node-arm64 1244 linux/arm64 >/dev/null 2>&1 &&
    scripts/buildkit join nf-bk-two-nodes nf-bk-node-amd64 nf-bk-node-arm64 >/dev/null 2>&1 ||
    { fail "the two nodes did not start (scripts/buildkit start, join)"; return; }
  check "two platforms on two nodes, pushed as one index" build "$dir" -f "$dir/default.nix" --target hello \
    --builder nf-bk-two-nodes --platform linux/amd64,linux/arm64 --build-arg "NIX_IMAGE=$multi" -t "$ref" --push
  # buildx 0.13's plain progress does not name nodes: each node's own cache shows what it ran.
  local busybox_amd64 busybox_arm64
  node_ran() { # node_ran NODE: the busybox layer of the build step NODE ran, by store path
    # Read once: `du | grep -q` under pipefail fails when grep's early exit breaks du's pipe.
    local records
    records=$(docker buildx du --builder "$1" --verbose 2>/dev/null) &&
      grep -q 'exec /bin/sh /.nix-frontend/realise.sh' <<<"$records" &&
      sed -n 's/^Description:.*layer [0-9]*\/[0-9]*: \(.*-busybox-static\)$/\1/p' <<<"$records" | head -1
  }
  busybox_amd64=$(node_ran nf-bk-node-amd64)
  busybox_arm64=$(node_ran nf-bk-node-arm64)
  check "... each node ran its own platform's build step ($busybox_amd64 on amd64, $busybox_arm64 on arm64)" \
    bash -c "[ -n '$busybox_amd64' ] && [ -n '$busybox_arm64' ] && [ '$busybox_amd64' != '$busybox_arm64' ]"
  check "... the index holds both platforms" bash -c \
    "docker buildx imagetools inspect '$ref' | grep -q 'linux/arm64' && docker buildx imagetools inspect '$ref' | grep -q 'linux/amd64'"
  check "... and the arm64 image runs under emulation" \
    bash -c "[ \"\$(docker run --rm --pull always --platform linux/arm64 '$ref')\" = 'hello from nix-frontend' ]"
  scripts/buildkit stop nf-bk-two-nodes >/dev/null 2>&1
  scripts/buildkit stop nf-bk-node-amd64 >/dev/null 2>&1
  scripts/buildkit stop nf-bk-node-arm64 >/dev/null 2>&1
}

# A foreign platform at native speed (NIX_EMULATE=builds, the default): for linux/arm64 on this
# amd64 builder Nix runs in the amd64 builder image, evaluates for aarch64-linux and substitutes
# the dependency from a signed binary cache natively; only the leaf is built, emulated.
test_foreign_native() {
  echo "foreign_native: linux/amd64,linux/arm64 with Nix native, the dependency substituted, only the leaf emulated"
  if [ "${E2E_DOCKER:-}" = docker28 ]; then
    skip "scripts/docker28's daemon holds no arm64 builder image (it pulls nothing); the bk engine runs this"
    return
  fi
  local dir=$work/foreign cache=$work/foreign-cache port cid
  rm -rf "$dir" "$cache" && cp -r tests/fixtures/foreign "$dir" && mkdir -p \
    "$dir/busybox/x86_64-linux" "$dir/busybox/aarch64-linux" "$dir/busybox/i686-linux"
  docker run --rm "$NIX_IMAGE" cat /usr/bin/busybox >"$dir/busybox/x86_64-linux/busybox"
  # 32-bit x86 runs on this CPU: the x86-64 busybox builds the program-less lib for i686-linux.
  cp "$dir/busybox/x86_64-linux/busybox" "$dir/busybox/i686-linux/busybox"
  cid=$(docker create --platform linux/arm64 nix-frontend-test/nix:local-arm64 true) &&
    docker cp "$cid:/usr/bin/busybox" "$dir/busybox/aarch64-linux/busybox" >/dev/null && docker rm "$cid" >/dev/null
  chmod +x "$dir"/busybox/*/busybox
  upload_cache "$cache" foreign-test || return
  port=$served_port
  check "the dependency built for both systems and pushed to a signed cache" build "$dir" -f "$dir/default.nix" \
    --target lib --platform linux/amd64,linux/arm64 --network host \
    --secret "id=nix-cache-key,src=$work/foreign-test.sec" --build-arg "NIX_CACHE_PUSH=http://127.0.0.1:$port" \
    --output "type=oci,dest=$work/foreign-lib.tar"
  check "... both in the cache" test "$(grep -l 'StorePath: /nix/store/[a-z0-9]*-foreign-lib-1.0$' "$cache"/*.narinfo | wc -l)" = 2
  check "... whose arm64 one was built emulated on aarch64" bash -c \
    "grep -q '\[linux/arm64\] build foreign-lib-1.0 (emulated)' '$work/build.log'"
  docker builder prune -af >/dev/null
  local subst=(--network host --build-arg "NIX_SUBSTITUTERS=http://127.0.0.1:$port"
    --build-arg "NIX_TRUSTED_PUBLIC_KEYS=$(cat "$work/foreign-test.pub")")
  check "the app for both platforms on a pruned builder" build "$dir" -f "$dir/default.nix" --target app \
    --platform linux/amd64,linux/arm64 "${subst[@]}" --output "type=oci,dest=$work/foreign.tar"
  cp "$work/build.log" "$work/foreign.log"
  check "... evaluated for arm64 on linux/amd64" \
    grep -q '\[linux/arm64\] evaluate default.nix -A app (on linux/amd64)' "$work/foreign.log"
  check "... substituted arm64's dependency on linux/amd64" bash -c \
    "grep -q '\[linux/arm64\] substitute foreign-lib-1.0 (on linux/amd64)' '$work/foreign.log' &&
     grep -qE \"copying path '/nix/store/[a-z0-9]{32}-foreign-lib-1.0' from 'http://127.0.0.1:$port'\" '$work/foreign.log'"
  check "... and emulated only the leaf: $(grep -oE '\[linux/arm64\] [a-z]+ [^ ]+ [^#]*\((emulated|on linux/amd64)\)' "$work/foreign.log" | sort -u | tr '\n' ';')" \
    bash -c "[ \"\$(grep -oE '\[linux/arm64\] [^#]*\(emulated\)' '$work/foreign.log' | sort -u)\" = '[linux/arm64] build foreign-app-1.0 (emulated)' ]"
  check "the index holds amd64 and arm64, the arm64 one with an aarch64 busybox" \
    python3 tests/lib/multiplatform_index.py "$work/foreign.tar"
  check "loaded as one multi-platform image" build "$dir" -f "$dir/default.nix" --target app \
    --platform linux/amd64,linux/arm64 "${subst[@]}" -t $T/foreign
  check "the arm64 image runs under qemu, built on aarch64" runs_as linux/arm64 $T/foreign \
    'hello from the foreign app with library text, built on aarch64'
  check "the amd64 image runs" runs_as linux/amd64 $T/foreign \
    'hello from the foreign app with library text, built on x86_64'
  check "a 32-bit platform builds natively (linux/386)" build "$dir" -f "$dir/default.nix" --target lib \
    --platform linux/386 --output "type=oci,dest=$work/foreign-386.tar"
  check "... its image config says 386, its lib built on i686" python3 -c '
import json, sys, tarfile
archive = tarfile.open(sys.argv[1])
blob = lambda d: archive.extractfile("blobs/sha256/" + d[7:]).read()
doc = json.loads(archive.extractfile("index.json").read())
while "manifests" in doc:
    doc = json.loads(blob(doc["manifests"][0]["digest"]))
assert json.loads(blob(doc["config"]["digest"]))["architecture"] == "386"
' "$work/foreign-386.tar"
  kill "$served_pid" 2>/dev/null
  # A builder-image path in a foreign image: refused, not shipped as the wrong architecture.
  expect_error foreign-builder-path tests/fixtures/hello -f tests/fixtures/hello/default.nix --target hello \
    --platform linux/arm64 -- "the image is for linux/arm64" "an x86-64 program" "NIX_EMULATE=all"
  expect_error foreign-no-emulator "$dir" -f "$dir/default.nix" --target lib --platform linux/s390x -- \
    "cannot run linux/s390x programs" "tonistiigi/binfmt --install s390x"
}
