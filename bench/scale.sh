#!/usr/bin/env bash
# Planning at scale: a synthetic closure of N store paths (default 20,000) through manifest
# parsing, layer grouping and LLB marshalling, in the release profile (`cargo bench --bench plan`).
# Prints time, LLB size and peak RSS (targets: under 1 s, under 100 MiB, LLB under BuildKit's
# 16 MiB message limit).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 20000)
for n in "${sizes[@]}"; do
  echo "## bench-plan $n"
  cargo bench --quiet --bench plan -- "$n"
done
