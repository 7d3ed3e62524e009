# nix-frontend's answer to `--print=targets`: the attributes of the Nix file (or the flake's
# packages for this system) with their descriptions, as /out/targets.json. Constant text; user
# values arrive in NF_FILE, NF_FLAKE and NF_SYSTEM.
set -u
tools=$(dirname "$0")
features="nix-command flakes"
cd /src || exit 1
if [ ! -f "$NF_FILE" ] && [ "${NF_FILE_DEFAULTED:-}" = 1 ] && [ -f flake.nix ]; then
  NF_FILE=flake.nix
  NF_FLAKE=1
fi
if [ "${NF_FLAKE:-}" = 1 ]; then
  set -- "path:$(dirname "/src/$NF_FILE")#packages.$NF_SYSTEM" --no-write-lock-file
else
  set -- --file "$NF_FILE" ""
fi
nix --extra-experimental-features "$features" eval --json "$@" --apply "import $tools/targets.nix" \
  >/out/targets.json 2>/out/log || rm -f /out/targets.json
exit 0
