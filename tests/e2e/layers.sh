# shellcheck shell=bash
# End-to-end tests of layering (small paths sharing layers, the cap), shared layers, reproducible
# layers.
# Sourced by tests/e2e.sh (after tests/lib/common.sh); test_NAME runs as `tests/e2e.sh NAME`.

test_chain() {
  echo "chain: a closure of 150 small derivations shares layers, within the cap"
  local dir=tests/fixtures/chain
  check "builds" build "$dir" -f "$dir/default.nix" --target top -t $T/chain
  check "runs" bash -c '[ "$(docker run --rm $T/chain)" = "top of the chain: version 1" ]'
  build "$dir" -f "$dir/default.nix" --target top --output "type=oci,dest=$work/chain.tar"
  local layers
  layers=$(python3 tests/lib/oci_files.py "$work/chain.tar" --layers | wc -l)
  check "13 layers: busybox, 10 bands of 16 links, the top, the root links (got $layers)" test "$layers" = 13
  nix_closure "$root/$dir" default.nix top >"$work/chain-expected"
  python3 tests/lib/oci_files.py "$work/chain.tar" | cut -f1 | grep -E '^/nix/store/[^/]+$' | sort >"$work/chain-image"
  check "exact store path set ($(wc -l <"$work/chain-expected") paths)" diff -u "$work/chain-expected" "$work/chain-image"
  check "the top is alone in its layer" bash -c \
    "python3 tests/lib/oci_files.py '$work/chain.tar' --layers | grep -- '-top-1.0' | awk -F'\t' '{exit !(split(\$4, a, \" \") == 2)}'"
  build "$dir" -f "$dir/default.nix" --target top --build-arg NIX_MAX_LAYERS=8 --output "type=oci,dest=$work/chain8.tar"
  layers=$(python3 tests/lib/oci_files.py "$work/chain8.tar" --layers | wc -l)
  check "NIX_MAX_LAYERS=8 gives at most 8 layers (got $layers)" test "$layers" -le 8
  python3 tests/lib/oci_files.py "$work/chain8.tar" | cut -f1 | grep -E '^/nix/store/[^/]+$' | sort >"$work/chain8-image"
  check "... with the same store paths" diff -u "$work/chain-expected" "$work/chain8-image"
  check "... and the top still alone in its layer" bash -c \
    "python3 tests/lib/oci_files.py '$work/chain8.tar' --layers | grep -- '-top-1.0' | awk -F'\t' '{exit !(split(\$4, a, \" \") == 2)}'"
}

# In Nix a change to a library gives new paths to it and to everything above it: in the chain,
# chain-75's source (mid.txt) changes chain-75 … chain-150 and the top. Their bands are new, and
# so is chain-64 … chain-79's, which also holds unchanged links; busybox's and the 4 bands below
# stay the same layers.
test_lib_change() {
  echo "lib-change: a library change mid-chain sends the layers above it and one shared band"
  local dir=$work/lib-change new
  rm -rf "$dir" && cp -r tests/fixtures/chain "$dir"
  echo "chain-75, lib-change $$" >"$dir/mid.txt"
  check "builds" build "$dir" -f "$dir/default.nix" --target top --output "type=oci,dest=$work/lib-1.tar"
  echo "chain-75, lib-change $$, changed" >"$dir/mid.txt"
  check "builds after chain-75's source changed" \
    build "$dir" -f "$dir/default.nix" --target top --output "type=oci,dest=$work/lib-2.tar"
  new=$(grep -cvxF -f <(python3 tests/lib/oci_files.py "$work/lib-1.tar" --layers | cut -f1) \
    <(python3 tests/lib/oci_files.py "$work/lib-2.tar" --layers | cut -f1))
  check "8 of 13 layers are new: chain-64 … 79's, the 5 bands above, the top's, the root links' (got $new)" \
    test "$new" = 8
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
