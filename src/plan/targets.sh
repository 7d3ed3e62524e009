# nix-frontend's answer to `--print=targets`: the attributes of the Nix file (or the flake's
# packages for this system) with their descriptions. Constant text; user values arrive in
# NF_FILE, NF_FLAKE and NF_SYSTEM. It reports as builder.sh does (see contract.rs): in
# /out/.nix-frontend, `status` (ok | missing-file | eval-failed), `log` (Nix's stderr), `ran-at`,
# and on success `targets.json`.
set -u
meta=/out/.nix-frontend
tools=$(dirname "$0")
features="nix-command flakes"
mkdir -p "$meta"
date +%s >"$meta/ran-at"

finish() {
  printf '%s\n' "$1" >"$meta/status"
  exit 0
}

cd /src || finish missing-file
if [ ! -f "$NF_FILE" ] && [ "${NF_FILE_DEFAULTED:-}" = 1 ] && [ -f flake.nix ]; then
  NF_FILE=flake.nix
  NF_FLAKE=1
fi
if [ ! -f "$NF_FILE" ]; then
  printf '%s\n' "$NF_FILE" >"$meta/log"
  finish missing-file
fi
if [ "${NF_FLAKE:-}" = 1 ]; then
  set -- "path:$(dirname "/src/$NF_FILE")#packages.$NF_SYSTEM" --no-write-lock-file
else
  set -- --file "$NF_FILE" ""
fi
nix --extra-experimental-features "$features" eval --json "$@" --apply "import $tools/targets.nix" \
  >"$meta/targets.json" 2>"$meta/log" || { rm -f "$meta/targets.json"; finish eval-failed; }
finish ok
