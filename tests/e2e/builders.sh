# shellcheck shell=bash
# End-to-end tests on builder images of other shapes than the test default.
# Sourced by tests/e2e.sh (after tests/lib/common.sh); test_NAME runs as `tests/e2e.sh NAME`.

# A Debian/Ubuntu-style builder: nix-bin installed, no /nix directory at all. Made offline from the
# local test builder image.
test_without_store() {
  echo "without_store: a builder image with Nix but no /nix builds in both modes"
  local image=nf-test/nix-without-store
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
      --build-arg "NIX_CACHE_ID=without-store-$$-$(date +%s%N)" -t "nf-test/without-store-$plan"
    check "$plan mode image prints the greeting" \
      bash -c "[ \"\$(docker run --rm nf-test/without-store-$plan)\" = 'hello from nix-frontend' ]"
  done
}
