#!/usr/bin/env bash
# End-to-end tests against real engines (dockerd, standalone BuildKit), the real Nix builder image
# and the real frontend image. What runs where is declared in tests/matrix.
#   tests/e2e.sh NAME [ENGINE]       one test, on ENGINE or its first engine in tests/matrix
#   tests/e2e.sh --engine ENGINE [--tier core|full] [NAME...]
#                                    the matrix's tests of ENGINE (or those NAMEs) in order
#   tests/e2e.sh --prepare [--tier core|full] ENGINE...
#                                    the images and daemons those engines' tests need, nothing run
#   tests/e2e.sh --list | --table | --groups
#                                    every test function; docs/developing.md's table; the daemon groups
# Before running, it builds what the engine needs and is missing: the Nix builder images, the
# frontend image (again when the source changed since it was built), standalone BuildKit, the
# Docker 28 daemon. From a fresh clone on a fresh machine it runs scripts/setup first.
# Each test runs in a subshell of its own with its own directory ($work), image tags ($T/...) and
# log; its counts, seconds and skips go to $E2E_RESULTS (default target/e2e) as ENGINE.tsv,
# skips.tsv and timings. E2E_QUIET=1 prints one line per test (and a failing test's log tail)
# instead of every check, as scripts/test does for engines that run at the same time.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
results=${E2E_RESULTS:-$root/target/e2e}
# shellcheck source=tests/lib/common.sh
. tests/lib/common.sh
# shellcheck source=tests/lib/matrix.sh
. tests/lib/matrix.sh
# shellcheck source=tests/lib/engines.sh
. tests/lib/engines.sh

# Every test_NAME function, file by file in the order each file defines them.
all_tests=()
for file in tests/e2e/*.sh; do
  # shellcheck source=/dev/null
  . "$file"
  while IFS= read -r name; do all_tests+=("$name"); done \
    < <(sed -n 's/^test_\([A-Za-z0-9_]*\)[[:space:]]*()[[:space:]]*{.*/\1/p' "$file")
done
# A test function defined some other way would be in no list: refused.
for name in $(declare -F | sed -n 's/^declare -f test_//p'); do
  case " ${all_tests[*]} " in
    *" $name "*) ;;
    *) echo "e2e: test_$name is not defined as 'test_$name() {' at the start of a line in tests/e2e/*.sh, so no list reaches it" >&2; exit 2 ;;
  esac
done

usage() { sed -n '4,10p' "$0" | sed 's/^# //' >&2; exit 2; }
engine= tier=full tests=()
case ${1:-} in
  --list) printf '%s\n' "${all_tests[@]}"; exit 0 ;;
  --table) matrix_table; exit 0 ;;
  --groups) matrix_groups; exit 0 ;;
  --prepare)
    shift
    if [ "${1:-}" = --tier ]; then tier=${2:-}; shift 2 || usage; fi
    for engine in "$@"; do matrix_is_engine "$engine" || { echo "e2e: no engine $engine in tests/matrix" >&2; exit 2; }; done
    base=$(mktemp -d /tmp/nf-e2e-prepare.XXXXXX)
    trap 'rm -rf "$base"' EXIT
    # What the tier's tests of each engine need; an engine with none in the tier is left alone.
    for engine in "$@"; do
      list=$(matrix_tests "$engine" "$tier" | tr '\n' ' ')
      [ -z "$list" ] || prepare_engine "$engine" "$list" || exit 1
    done
    exit 0 ;;
  --engine)
    engine=${2:-}; shift 2 || usage
    if [ "${1:-}" = --tier ]; then tier=${2:-}; shift 2 || usage; fi
    case $tier in core|full) ;; *) echo "e2e: no tier $tier (core, full)" >&2; exit 2 ;; esac
    tests=("$@")
    ;;
  ""|-*) usage ;;
  *)
    tests=("$1")
    engine=${2:-$(matrix_first_engine "$1")}
    [ $# -le 2 ] || usage
    [ -n "$engine" ] || { echo "e2e: $1 has no engine in tests/matrix" >&2; exit 2; }
    ;;
esac
matrix_is_engine "$engine" || { echo "e2e: no engine $engine in tests/matrix" >&2; exit 2; }
[ ${#tests[@]} -gt 0 ] || mapfile -t tests < <(matrix_tests "$engine" "$tier")
for t in "${tests[@]}"; do
  declare -F "test_$t" >/dev/null ||
    { echo "e2e: no test named $t (tests/e2e.sh --list names them)" >&2; exit 2; }
done

base=$(mktemp -d /tmp/nf-e2e-"$engine".XXXXXX)
trap '[ -n "${E2E_KEEP:-}" ] && echo "e2e: kept $base" >&2 || rm -rf "$base"' EXIT
mkdir -p "$results"
prepare_engine "$engine" "${tests[*]}" || exit 1
enter_engine "$engine" || exit 1

# run_test NAME: test_NAME in a subshell, its output in its own log, its counts and time kept.
run_test() {
  local name=$1 log=$results/$engine-$1.log start end p=0 f=1 s=0 seconds
  work=$base/$name
  rm -rf "$work" && mkdir -p "$work"
  export T=nf-test/$engine-$name E2E_WORK=$work E2E_TEST_STARTED
  E2E_TEST_STARTED=$(date +%s)
  forget_test_images
  start=$(date +%s%N)
  (
    passed=0 failures=0 skipped=0
    "test_$name"
    echo "$passed $failures $skipped" >"$work/.counts"
  ) 2>&1 | if [ -n "${E2E_QUIET:-}" ]; then cat >"$log"; else tee "$log"; fi
  end=$(date +%s%N)
  # Servers and builds a test left in the background end with it.
  for pid in $(cat "$work/.pids" 2>/dev/null); do kill "$pid" 2>/dev/null; done
  if [ -s "$work/.counts" ]; then
    read -r p f s <"$work/.counts"
  else
    echo "  FAIL: test_$name ended before its last check (exit or error)" | tee -a "$log"
  fi
  seconds=$(( (end - start) / 1000000000 )).$(( (end - start) / 100000000 % 10 ))
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$engine" "$name" "$p" "$f" "$s" "$seconds" >>"$results/$engine.tsv"
  [ ! -s "$work/.skips" ] || sed "s/^/$engine\t$name\t/" "$work/.skips" >>"$results/skips.tsv"
  [ ! -s "$work/timings" ] || sed "s/^/[$engine] /" "$work/timings" >>"$results/timings"
  passed=$((passed + p)) failures=$((failures + f)) skipped=$((skipped + s))
  printf 'e2e[%s] %s: %s passed, %s failed, %s skipped in %s s\n' "$engine" "$name" "$p" "$f" "$s" "$seconds"
  if [ "$f" != 0 ] && [ -n "${E2E_QUIET:-}" ]; then
    grep -E '^  FAIL' "$log" | sed "s/^/  [$engine $name] /"
    echo "  [$engine $name] the log's tail ($log):"
    tail -40 "$log" | sed 's/^/    | /'
  fi
}

passed=0 failures=0 skipped=0
rm -f "$results/$engine.tsv"
for t in "${tests[@]}"; do run_test "$t"; done
echo "e2e[$engine]: $passed passed, $failures failed, $skipped skipped"
[ "$failures" = 0 ]
