# nix-frontend's builder script (mounted at /.nix-frontend/builder.sh). It runs in the Nix image with the build context at /src and an
# empty output mount at /out. It is constant text: every user value arrives in an environment
# variable (NF_FILE, NF_ATTR) and is only ever used quoted, as one argv entry.
#
# It always exits 0 once it has written $meta/status, so that the frontend can read Nix's own
# error text and report it with the file and line; the frontend turns a failure into the build's
# error. Outputs in /out/.nix-frontend:
#   status        ok | missing-file | eval-failed | build-failed
#   log           Nix's stderr of the failing step
#   ran-at        when this ran (Unix seconds), to tell a cached failure from a fresh one
#   results       the build's output paths, one per line
#   closure.json  nix path-info --json --recursive of the results
#   main-program.json  meta.mainProgram of the selected attribute, when it has one
#   root/         symlinks to the first result's top-level entries (bin, etc, share, ...)
# and /out/layers/<hash>-<name>/nix/store/<hash>-<name> for every path of the closure.
set -u
meta=/out/.nix-frontend
mkdir -p "$meta/root" /out/layers
date +%s >"$meta/ran-at"

finish() {
  printf '%s\n' "$1" >"$meta/status"
  exit 0
}

# Runs "$@" with its stdout into file $1 and its stderr both to the build log and $meta/log.
logged() {
  stdout_file=$1
  shift
  { "$@" 2>&1 >"$stdout_file"; echo $? >"$meta/rc"; } | tee "$meta/log" >&2
  return "$(cat "$meta/rc")"
}

if [ ! -f "$NF_FILE" ]; then
  printf '%s\n' "$NF_FILE" >"$meta/log"
  finish missing-file
fi

set -- "$NF_FILE"
if [ -n "${NF_ATTR:-}" ]; then
  set -- "$@" -A "$NF_ATTR"
fi

echo "evaluating $*" >&2
logged "$meta/derivations" nix-instantiate "$@" || finish eval-failed

echo "building" >&2
# shellcheck disable=SC2046 # derivation paths have no spaces or glob characters
logged "$meta/results" nix-store --realise $(cat "$meta/derivations") || finish build-failed

# shellcheck disable=SC2046
nix path-info --extra-experimental-features nix-command --json --recursive $(cat "$meta/results") \
  >"$meta/closure.json" 2>"$meta/log" || finish build-failed

# Each path in a tree of its own, so that the frontend can copy it as one layer whose /nix and
# /nix/store entries are created by that copy (and so get its pinned timestamp).
# shellcheck disable=SC2046
nix-store --query --requisites $(cat "$meta/results") | while read -r path; do
  layer="/out/layers/${path##*/}/nix/store"
  mkdir -p "$layer" && cp -a "$path" "$layer/" || exit 1
done || { echo "copying the closure failed" >"$meta/log"; finish build-failed; }

nix-instantiate --eval --strict --json "$NF_FILE" -A "${NF_ATTR:+$NF_ATTR.}meta.mainProgram" \
  >"$meta/main-program.json" 2>/dev/null || rm -f "$meta/main-program.json"

first=$(head -n 1 "$meta/results")
if [ -d "$first" ]; then
  for entry in "$first"/* "$first"/.[!.]*; do
    [ -e "$entry" ] || [ -L "$entry" ] || continue
    [ "${entry##*/}" = nix-support ] && continue
    ln -s "$entry" "$meta/root/"
  done
fi
finish ok
