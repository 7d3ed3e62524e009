# shellcheck shell=bash
# Reading tests/matrix (its header says the format). Sourced by tests/e2e.sh and scripts/test;
# needs $root.

matrix_file=$root/tests/matrix

# The test lines, TEST ENGINE TIER [WHY...], without comments and blank lines.
matrix_rows() { awk '!/^[[:space:]]*(#|$)/ && $1 != "engine"' "$matrix_file"; }

# The engines in their order.
matrix_engines() { awk '$1 == "engine" { print $2 }' "$matrix_file"; }

matrix_is_engine() { matrix_engines | grep -qxF -- "$1"; }

# The daemon an engine runs on (engines sharing one run one after another).
matrix_daemon() { awk -v e="$1" '$1 == "engine" && $2 == e { print $3 }' "$matrix_file"; }

# What an engine is.
matrix_engine_what() {
  awk -v e="$1" '$1 == "engine" && $2 == e { $1 = $2 = $3 = ""; sub(/^ +/, ""); print }' "$matrix_file"
}

# matrix_tests ENGINE [TIER]: the tests ENGINE runs, in the matrix's order; TIER core gives only
# the quick set, full (the default) every test not dropped there.
matrix_tests() {
  matrix_rows | awk -v e="$1" -v t="${2:-full}" \
    '$2 == e && $3 != "dropped" && (t == "full" || $3 == t) { print $1 }'
}

# The engine a test runs on first (tests/e2e.sh NAME with no engine uses it).
matrix_first_engine() { matrix_rows | awk -v n="$1" '$1 == n && $3 != "dropped" { print $2; exit }'; }

# The daemon groups in order, one line each: the engines that run one after another on it. The
# `all` group comes last.
matrix_groups() {
  awk '$1 == "engine" {
         if (!($3 in seen)) { order[++n] = $3; seen[$3] = 1 }
         group[$3] = group[$3] (group[$3] == "" ? "" : " ") $2
       }
       END {
         for (i = 1; i <= n; i++) if (order[i] != "all") print group[order[i]]
         if ("all" in group) print group["all"]
       }' "$matrix_file"
}

# docs/developing.md's table of what runs where, generated from the matrix (tests/e2e_list.rs compares).
matrix_table() {
  local engine tests
  echo "| engine | what it is | tests (core set in bold) |"
  echo "| --- | --- | --- |"
  for engine in $(matrix_engines); do
    tests=$(matrix_rows | awk -v e="$engine" '$2 == e && $3 != "dropped" {
        printf "%s%s", (n++ ? " " : ""), ($3 == "core" ? "**" $1 "**" : $1) }')
    printf '| `%s` | %s | %s |\n' "$engine" "$(matrix_engine_what "$engine")" "$tests"
  done
}
