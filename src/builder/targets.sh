# nix-frontend's answer to `--print=targets`: the attributes of the Nix file (or the flake's
# packages for this system) with their descriptions. Constant text; user values arrive in
# NF_FILE, NF_FLAKE, NF_SYSTEM and NF_CONTEXT_<i>. It reports as builder.sh does (see contract.rs): in
# /out/.nix-frontend, `status` (ok | missing-file | eval-failed), `log` (Nix's stderr), `ran-at`,
# and on success `targets.json`.
set -u
meta=/out/.nix-frontend
tools=$(dirname "$0")
mkdir -p "$meta"
date +%s >"$meta/ran-at"

# shellcheck source=common.sh
. "$tools/common.sh"

cd /src || finish missing-file
nf_find_file
if [ "${NF_FLAKE:-}" = 1 ]; then
  set -- "path:$(dirname "/src/$NF_FILE")#packages.$NF_SYSTEM" --no-write-lock-file
else
  set -- --file "$NF_FILE" ""
fi
with_contexts nix --extra-experimental-features "$features" eval --json "$@" --apply "$(nf_expression targets)" \
  >"$meta/targets.json" 2>"$meta/log" || { rm -f "$meta/targets.json"; finish eval-failed; }
finish ok
