# shellcheck shell=bash
# End-to-end runs of whole scripts: leaf-change rebuilds after prunes (bench/stress.sh), and caches
# across engines (tests/engines.sh), each ordered pair of dockerd 26, Docker 28 and standalone
# BuildKit. Sourced by tests/e2e.sh (after tests/lib/common.sh).

# Issue 11's export flake: 8 leaf-change rebuilds of a 303-path image after prunes, none may fail
# but for the upstream unpack race (moby/buildkit#6521), which must build when run again.
test_stress() {
  echo "stress: 8 leaf-change rebuilds of the wide fixture after prunes"
  check "every rebuild succeeds (the upstream race once more at most)" bash -c "bench/stress.sh 8 >'$work/stress.log' 2>&1"
  sed 's/^/    /' "$work/stress.log" | tail -3
}

# engines_pairs ARGS...: tests/engines.sh d26 d28 bk ARGS, one check per ordered pair.
engine_pairs() {
  local table=$work/engines-table pair exporter importer n
  BK_BUILDER=nf-bk-engines tests/engines.sh "$@" d26 d28 bk >"$table" 2>"$work/engines.log"
  sed 's/^/    /' "$table"
  for exporter in d26 d28 bk; do
    for importer in d26 d28 bk; do
      [ "$exporter" != "$importer" ] || continue
      n=$(awk -v e="$exporter" -v i="$importer" '$1 == e && $2 == i { print $3 }' "$table")
      check "$exporter exports, $importer builds only the leaf (Nix builds: ${n:-none})" [ "$n" = 1 ]
    done
  done
  [ ! -s "$work/engines.log" ] || grep -E 'engines:' -A20 "$work/engines.log" | head -40 | sed 's/^/    | /'
}

test_engine_cache() {
  echo "engine-cache: every ordered pair of engines, a leaf change from the other's BuildKit cache"
  engine_pairs
}

test_engine_nix_cache() {
  echo "engine-nix-cache: every ordered pair of engines, a leaf change from the other's pushed Nix cache"
  engine_pairs --nix-cache
}
