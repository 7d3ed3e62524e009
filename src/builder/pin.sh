# nix-frontend's step that fetches one input pinned by its hash before the evaluation, so that
# the evaluation finds it in its store and fetches nothing (nix::pins). Constant text: the pin
# arrives as JSON in NF_PIN ({"kind": "tarball" | "file" | "tree", ...}), which Nix itself reads
# with builtins.fromJSON; its id (pin-<hex digits of the pin's digest>) in NF_GROUP. Nix checks
# what it fetched against the hash. Outputs in /out: nix/store/<path> and nf/pin-records/<id> (its `nix-store --dump-db`
# record), which the evaluation merges and registers. It always exits 0: a pin that cannot be
# fetched leaves nothing, and the evaluation then fetches (or fails) as it would have.
set -u
mkdir -p /out/nix/store /out/nf/pin-records
tools=$(dirname "$0")
# shellcheck source=common.sh
. "$tools/common.sh"
expression='let pin = builtins.fromJSON (builtins.getEnv "NF_PIN");
  args = removeAttrs pin [ "kind" ];
in toString (
  if pin.kind == "tarball" then builtins.fetchTarball args
  else if pin.kind == "file" then builtins.fetchurl args
  else builtins.fetchTree args.tree)'
if path=$(nix --extra-experimental-features "$features" eval --impure --raw --expr "$expression"); then
  case $path in
    /nix/store/*)
      nix-store --dump-db "$path" >"/out/nf/pin-records/$NF_GROUP" &&
        cp -a "$path" /out/nix/store/ ||
        { rm -rf "/out/nf/pin-records/$NF_GROUP" "/out/nix/store/${path##*/}"; echo "nix-frontend: keeping $path failed" >&2; }
      ;;
    *) echo "nix-frontend: the pin gave no store path" >&2 ;;
  esac
else
  echo "nix-frontend: this pin could not be fetched ahead; the evaluation fetches it" >&2
fi
exit 0
