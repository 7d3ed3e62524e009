# nix-frontend's step that fetches one input pinned by its hash before the evaluation, so that
# the evaluation finds it in its store and fetches nothing (nix::pins). Constant text: the pin
# arrives as JSON in NF_PIN ({"kind": "tarball" | "file" | "git" | "tree", ...}), which Nix itself
# reads with builtins.fromJSON; its id (pin-<hex digits of the pin's digest>) in NF_GROUP. Nix
# checks what it fetched against the hash (a git commit is its own). Outputs in /out:
# nix/store/<path> and nf/pin-records/<id> (its `nix-store --dump-db` record), which the
# evaluation merges and registers, and for a git repository nf/pin-git/<id>/<dir>: Nix's own git
# cache of it (~/.cache/nix/gitv3/<dir>), where Nix looks a commit up before asking the remote,
# which the evaluation adds to its cache. It always exits 0: a pin that cannot be fetched leaves
# nothing, and the evaluation then fetches (or fails) as it would have.
set -u
mkdir -p /out/nix/store /out/nf/pin-records
tools=$(dirname "$0")
# shellcheck source=common.sh
. "$tools/common.sh"
# A cache of this step's own, so that what a git fetch leaves in it is this pin's alone.
export XDG_CACHE_HOME=/tmp/nf-pin-cache
nf_git_max_kib=1048576
expression='let pin = builtins.fromJSON (builtins.getEnv "NF_PIN");
  args = removeAttrs pin [ "kind" ];
in toString (
  if pin.kind == "tarball" then builtins.fetchTarball args
  else if pin.kind == "file" then builtins.fetchurl args
  else if pin.kind == "git" then builtins.fetchGit args
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
  # A repository with its whole history can be gigabytes (nixpkgs'): over the limit it is not
  # kept, and the evaluation fetches it as it would have.
  nf_git_kib=$(du -sk "$XDG_CACHE_HOME/nix/gitv3" 2>/dev/null | cut -f1)
  if [ "${nf_git_kib:-0}" -gt "$nf_git_max_kib" ]; then
    echo "nix-frontend: the repository is $((nf_git_kib / 1024)) MiB, over the $((nf_git_max_kib / 1024)) MiB kept for the evaluation; it fetches the repository itself" >&2
  elif [ -d "$XDG_CACHE_HOME/nix/gitv3" ]; then
    mkdir -p /out/nf/pin-git &&
      cp -a "$XDG_CACHE_HOME/nix/gitv3" "/out/nf/pin-git/$NF_GROUP" ||
      { rm -rf "/out/nf/pin-git/$NF_GROUP"; echo "nix-frontend: keeping the git repository failed; the evaluation fetches it" >&2; }
  fi
else
  echo "nix-frontend: this pin could not be fetched ahead; the evaluation fetches it" >&2
fi
exit 0
