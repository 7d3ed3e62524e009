# shellcheck shell=bash
# End-to-end tests of both modes, exact closures, a store libc, a build file in a subdirectory.
# Sourced by tests/e2e.sh (after tests/lib/common.sh); test_NAME runs as `tests/e2e.sh NAME`.

test_hello() {
  echo "hello: Nix mode and Dockerfile mode"
  local dir=tests/fixtures/hello
  check "nix mode builds" build "$dir" -f "$dir/default.nix" --target hello -t $T/hello-nix
  check "nix mode image prints the greeting" \
    bash -c '[ "$(docker run --rm $T/hello-nix)" = "hello from nix-frontend" ]'
  check "dockerfile mode builds" build "$dir" -t $T/hello-df
  check "dockerfile mode image prints the greeting" \
    bash -c '[ "$(docker run --rm $T/hello-df)" = "hello from nix-frontend" ]'
  check "dockerfile ENV and LABEL land in the config" bash -c \
    'docker image inspect $T/hello-df --format "{{json .Config}}" | grep -q "GREETING_SOURCE=dockerfile" &&
     docker image inspect $T/hello-df --format "{{index .Config.Labels \"org.opencontainers.image.title\"}}" | grep -q "Dockerfile mode"'

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
  check "a layer for the result, one for busybox (over 1 MiB), one for the links" \
    test "$(python3 tests/lib/oci_files.py "$work/hello.tar" --layers | wc -l)" = 3
}

test_libc() {
  echo "libc: a dynamically linked program whose loader and libc are store paths"
  local dir=tests/fixtures/libc
  check "builds" build "$dir" -t $T/libc
  check "runs with the store's libc" \
    bash -c '[ "$(docker run --rm $T/libc)" = "hello from a dynamically linked program" ]'
  build "$dir" --output "type=oci,dest=$work/libc.tar"
  check "the image holds the glibc store path and no /lib" bash -c \
    "oci=\$(python3 tests/lib/oci_files.py '$work/libc.tar' | cut -f1);
     echo \"\$oci\" | grep -qE '^/nix/store/[a-z0-9]{32}-glibc-debian/libc.so.6$' &&
     ! echo \"\$oci\" | grep -qE '^/(lib|lib64|usr)(/|$)'"
}

test_subdir() {
  echo "subdir: -f sub/default.nix . in a git checkout builds sub/default.nix"
  local dir=$work/subdir
  mkdir -p "$dir/sub"
  cp tests/fixtures/hello/default.nix "$dir/sub/"
  git -C "$dir" init -q
  check "builds" build "$dir" -f "$dir/sub/default.nix" --target hello -t $T/subdir
  check "... the file in sub/" bash -c '[ "$(docker run --rm $T/subdir)" = "hello from nix-frontend" ]'
}
