# shellcheck shell=bash
# End-to-end tests on builder images of other shapes than the test default.
# Sourced by tests/e2e.sh (after tests/lib/common.sh); test_NAME runs as `tests/e2e.sh NAME`.

# A Debian/Ubuntu-style builder: nix-bin installed, no /nix directory at all. Made offline from the
# local test builder image.
test_without_store() {
  echo "without_store: a builder image with Nix but no /nix builds in both modes"
  local image=$T/nix-without-store
  mkdir -p "$work/without-store"
  printf 'FROM %s\nRUN rm -rf /nix\n' "$NIX_IMAGE" >"$work/without-store/Dockerfile"
  check "the builder image without /nix is made" bash -c \
    "docker buildx build -q -t '$image' '$work/without-store' >/dev/null 2>&1"
  check "it has no /nix" bash -c "! docker run --rm '$image' test -e /nix"
  local dir=tests/fixtures/hello plan
  for plan in graph single; do
    # A fresh NIX_CACHE_ID: the single mode's store starts empty, as on a user's first build.
    check "$plan mode builds" build "$dir" -f "$dir/default.nix" --target hello \
      --build-arg "NIX_IMAGE=$image" --build-arg "NIX_PLAN=$plan" \
      --build-arg "NIX_CACHE_ID=without-store-$$-$(date +%s%N)" -t "$T/without-store-$plan"
    check "$plan mode image prints the greeting" \
      bash -c "[ \"\$(docker run --rm $T/without-store-$plan)\" = 'hello from nix-frontend' ]"
  done
}

# Plain buildctl, as the README shows for fleets that run buildkitd themselves: the frontend by
# digest through gateway.v0, an OCI archive out, loaded and run.
test_buildctl() {
  echo "buildctl: buildctl build --frontend gateway.v0 with the frontend from the registry"
  if [ "${E2E_DOCKER:-}" != standalone ]; then
    skip "needs a standalone builder, E2E_DOCKER=standalone"
    return
  fi
  local dir=tests/fixtures/hello
  buildctl_build() {
    scripts/buildkit buildctl "${E2E_BUILDER:-nf-bk-e2e}" build \
      --frontend gateway.v0 --opt "source=$FRONTEND" --local "context=$dir" --local "dockerfile=$dir" \
      --opt filename=default.nix --opt target=hello --opt "build-arg:NIX_IMAGE=$NIX_IMAGE" \
      --output "type=oci,dest=$work/buildctl.tar,name=$T/buildctl:latest" >"$work/buildctl.log" 2>&1
  }
  check "buildctl builds default.nix to an OCI archive" buildctl_build
  check "... which loads and runs" bash -c \
    "docker load -i '$work/buildctl.tar' >/dev/null && [ \"\$(docker run --rm $T/buildctl)\" = 'hello from nix-frontend' ]"
  expect_buildctl_error() {
    ! scripts/buildkit buildctl "${E2E_BUILDER:-nf-bk-e2e}" build --frontend gateway.v0 --opt "source=$FRONTEND" \
      --local "context=$dir" --local "dockerfile=$dir" --opt filename=default.nix --opt target=nope \
      --opt "build-arg:NIX_IMAGE=$NIX_IMAGE" >"$work/buildctl-error.log" 2>&1 &&
      grep -q 'attribute .nope.' "$work/buildctl-error.log"
  }
  check "an unknown attribute is an error naming it" expect_buildctl_error
}

# The frontend as users get it (scripts/publish): one index with linux/amd64 and linux/arm64 in
# the registry, pinned by digest; the arm64 binary answers under qemu.
test_published_frontend() {
  echo "published-frontend: the frontend's index has amd64 and arm64, the arm64 one runs"
  case ${FRONTEND:-} in
    *@sha256:*) ;;
    *) skip "FRONTEND is no pinned registry reference; scripts/test passes scripts/publish's"; return ;;
  esac
  check "the index lists linux/amd64 and linux/arm64" bash -c \
    "docker buildx imagetools inspect '$FRONTEND' | grep -q 'linux/amd64' && docker buildx imagetools inspect '$FRONTEND' | grep -q 'linux/arm64'"
  check "... and the arm64 frontend answers under qemu (no BuildKit on its stdin)" bash -c \
    "docker run --rm --pull always --platform linux/arm64 '$FRONTEND' </dev/null 2>&1 | grep -q 'BuildKit did not answer'"
}
