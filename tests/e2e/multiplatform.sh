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
    --platform linux/amd64,linux/arm64 --build-arg "NIX_IMAGE=$multi" --output "type=oci,dest=$work/mp.tar"
  check "progress names the platform of each Nix step" bash -c \
    "grep -q '\[linux/arm64\] evaluate default.nix -A hello' '$work/build.log' &&
     grep -q '\[linux/amd64\] evaluate default.nix -A hello' '$work/build.log' &&
     grep -q '\[linux/arm64\] build hello-1.0' '$work/build.log'"
  check "two-platform single mode" build "$dir" -f "$dir/default.nix" --target hello \
    --platform linux/amd64,linux/arm64 --build-arg "NIX_IMAGE=$multi" --build-arg NIX_PLAN=single
  check "... its progress names the platform of each Nix step" bash -c \
    "grep -q '\[linux/arm64\] nix-build default.nix -A hello' '$work/build.log' &&
     grep -q '\[linux/amd64\] nix-build default.nix -A hello' '$work/build.log'"
  check "the index holds amd64 and arm64 images, the arm64 one with an aarch64 busybox" python3 tests/lib/multiplatform_index.py "$work/mp.tar"
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
  expect_error unsupported-platform "$dir" -f "$dir/default.nix" --target hello --platform linux/mips64 -- "--platform: linux/mips64 has no Nix system"
}

# One buildx builder of two standalone nodes, each serving one platform (`docker buildx create
# --append`): each platform's Nix steps run on its own node, and the results join in one index.
test_two_nodes() {
  echo "two-nodes: --platform linux/amd64,linux/arm64 on a builder of two nodes, one per platform"
  if [ "${E2E_DOCKER:-}" != standalone ]; then
    echo "  (skipped: needs standalone builders, E2E_DOCKER=standalone)"
    return
  fi
  local multi=127.0.0.1:5000/nix-frontend-test/nix:multi dir=tests/fixtures/hello ref=127.0.0.1:5000/nf-test/two-nodes:$$
  scripts/nix-image-index "$multi" amd64 arm64
  scripts/buildkit start nf-bk-node-amd64 1243 linux/amd64 >/dev/null 2>&1 &&
    scripts/buildkit start nf-bk-node-arm64 1244 linux/arm64 >/dev/null 2>&1 &&
    scripts/buildkit join nf-bk-two-nodes nf-bk-node-amd64 nf-bk-node-arm64 >/dev/null 2>&1 ||
    { fail "the two nodes did not start (scripts/buildkit start, join)"; return; }
  check "two platforms on two nodes, pushed as one index" build "$dir" -f "$dir/default.nix" --target hello \
    --builder nf-bk-two-nodes --platform linux/amd64,linux/arm64 --build-arg "NIX_IMAGE=$multi" -t "$ref" --push
  check "... each platform's Nix steps ran on its own node" bash -c \
    "grep -qE '^#[0-9]+ \[nf-bk-node-arm64 [^]]*\] \[linux/arm64\] build hello-1.0' '$work/build.log' &&
     grep -qE '^#[0-9]+ \[nf-bk-node-amd64 [^]]*\] \[linux/amd64\] build hello-1.0' '$work/build.log'"
  check "... the index holds both platforms" bash -c \
    "docker buildx imagetools inspect '$ref' | grep -q 'linux/arm64' && docker buildx imagetools inspect '$ref' | grep -q 'linux/amd64'"
  check "... and the arm64 image runs under emulation" \
    bash -c "[ \"\$(docker run --rm --pull always --platform linux/arm64 '$ref')\" = 'hello from nix-frontend' ]"
  scripts/buildkit stop nf-bk-two-nodes >/dev/null 2>&1
  scripts/buildkit stop nf-bk-node-amd64 >/dev/null 2>&1
  scripts/buildkit stop nf-bk-node-arm64 >/dev/null 2>&1
}
