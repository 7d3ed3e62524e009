# nix-frontend's answer to `--print=targets`: the attributes of the Nix file (or the flake's
# packages for this system) with their descriptions. Constant text; user values arrive in
# NF_FILE, NF_FLAKE, NF_SYSTEM and NF_CONTEXT_<i>. It reports as builder.sh does (see contract.rs): in
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
# Each named context (`--build-context NAME=…`, at /nf-contexts/<i>, its name in NF_CONTEXT_<i>):
# `-I NAME=…`, or for a flake `--override-input NAME path:…`; the eval sees only a number.
i=0
while [ "$i" -lt "${NF_CONTEXT_COUNT:-0}" ]; do
  eval "nf_context_name=\"\${NF_CONTEXT_$i}\""
  if [ "${NF_FLAKE:-}" = 1 ]; then
    set -- "$@" --override-input "$nf_context_name" "path:/nf-contexts/$i"
  else
    set -- "$@" -I "$nf_context_name=/nf-contexts/$i"
  fi
  i=$((i + 1))
done
nix --extra-experimental-features "$features" eval --json "$@" --apply "import $tools/targets.nix" \
  >"$meta/targets.json" 2>"$meta/log" || { rm -f "$meta/targets.json"; finish eval-failed; }
finish ok
