# shellcheck shell=bash
# End-to-end tests of the image users run beyond the closure: FROM a base image.
# Sourced by tests/e2e.sh (after tests/lib/common.sh); test_NAME runs as `tests/e2e.sh NAME`.

test_from_base() {
  echo "from_base: FROM a plain image and FROM an image of this frontend, from the local registry"
  scripts/registry
  local plain=127.0.0.1:5000/$T/plain-base:$$ nixbase=127.0.0.1:5000/$T/nix-base:$$
  local dir=$work/from-base out
  rm -rf "$dir" && mkdir -p "$dir/plain" && cp -r tests/fixtures/hello "$dir/app"
  cp /bin/busybox "$dir/plain/busybox"
  printf 'FROM scratch\nCOPY busybox /bin/busybox\nCOPY busybox /bin/sh\nENV BASE_VAR=from-base PATH=/usr/local/bin:/bin\nLABEL org.example.base=plain\n' \
    >"$dir/plain/Dockerfile"
  check "a plain base built with Docker's own frontend and pushed" \
    push_plain --output "type=image,name=$plain,push=true" "$dir/plain"
  printf '# syntax=org/nix-frontend\n# attr=hello\nARG BASE\nFROM $BASE\nENV APP=1\n' >"$dir/app/Dockerfile.from"
  check "FROM it builds" build "$dir/app" -f "$dir/app/Dockerfile.from" --build-arg "BASE=$plain" -t $T/from-plain
  check "... runs ours" test "$(docker run --rm $T/from-plain)" = "hello from nix-frontend"
  check "... inherits the base's Env, PATH after ours" \
    test "$(inspect $T/from-plain '{{json .Config.Env}}')" = '["PATH=/bin:/usr/local/bin","BASE_VAR=from-base","APP=1"]'
  check "... and its labels" test "$(inspect $T/from-plain '{{index .Config.Labels "org.example.base"}}')" = plain
  out=$(docker run --rm --entrypoint /bin/busybox $T/from-plain ls /bin | tr '\n' ' ')
  check "... keeps the base's /bin beside links to ours: $out" test "$out" = "busybox hello sh "
  check "... whose programs run from PATH" test "$(docker run --rm --entrypoint sh $T/from-plain -c 'hello; echo $BASE_VAR')" = \
    "$(printf 'hello from nix-frontend\nfrom-base')"

  # A base made by this frontend: the dialect fixture's whoami, whose closure shares busybox with hello's.
  mkdir -p "$dir/nixbase" && { echo '# syntax=org/nix-frontend'; cat tests/fixtures/dialect/default.nix; } >"$dir/nixbase/default.nix"
  check "a base built by this frontend and pushed" build "$dir/nixbase" -f "$dir/nixbase/default.nix" \
    --target whoami --output "type=image,name=$nixbase,push=true"
  check "FROM it builds" build "$dir/app" -f "$dir/app/Dockerfile.from" --build-arg "BASE=$nixbase" \
    --output "type=oci,dest=$work/from-nix.tar"
  check "... holding busybox's store path in one layer, the base's" bash -c "
    [ \"\$(python3 tests/lib/oci_files.py '$work/from-nix.tar' --layers | grep -c -- '-busybox-static')\" = 1 ]"
  check "... and hello's in a layer of its own" bash -c "
    python3 tests/lib/oci_files.py '$work/from-nix.tar' --layers | grep -- '-hello-1.0$' >/dev/null"
  check "... and loads" build "$dir/app" -f "$dir/app/Dockerfile.from" --build-arg "BASE=$nixbase" -t $T/from-nix
  check "... runs ours" test "$(docker run --rm $T/from-nix)" = "hello from nix-frontend"
  out=$(docker run --rm --entrypoint /bin/whoami $T/from-nix 2>/dev/null)
  check "... and the base's program from the /bin both have now: $out" grep -q '^user=0 uid=0' <<<"$out"
  check "... whose /bin is one directory of links to both" bash -c "
    python3 tests/lib/oci_files.py '$work/from-nix.tar' | grep -P '^/bin/(hello|whoami)\tlink\t' | wc -l | grep -qx 2"

  printf '# syntax=org/nix-frontend\n# attr=hello\nFROM 127.0.0.1:5000/%s/missing:nope\n' "$T" >"$dir/app/Dockerfile.missing"
  if build_raw "$dir/app" -f "$dir/app/Dockerfile.missing" >"$work/missing.log" 2>&1; then
    fail "a FROM image that cannot be pulled is an error"
  else
    check "a FROM image that cannot be pulled is named with its line: $(grep -m1 -o 'Dockerfile.missing:3: .*' "$work/missing.log" | cut -c1-150)" \
      grep -q "Dockerfile.missing:3: FROM 127.0.0.1:5000/$T/missing:nope: cannot pull" "$work/missing.log"
  fi
  local arm=127.0.0.1:5000/$T/arm-base:$$
  check "an arm64 base pushed" push_plain --platform linux/arm64 --output "type=image,name=$arm,push=true" "$dir/plain"
  if build_raw "$dir/app" -f "$dir/app/Dockerfile.from" --build-arg "BASE=$arm" --platform linux/amd64 >"$work/arm.log" 2>&1; then
    fail "a base of another platform is an error"
  else
    # BuildKit picks the platform from an index; a lone manifest of another one is checked by us.
    check "a base of another platform is an error naming it and the build's: $(grep -m1 -o 'Dockerfile.from:4: .*' "$work/arm.log" | cut -c1-150)" \
      grep -qE "Dockerfile.from:4: FROM $arm(: cannot pull $arm for linux/amd64| is a linux/arm64 image, but this build is for linux/amd64)" "$work/arm.log"
  fi
}
