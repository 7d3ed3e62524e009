# nix-frontend's builder script (mounted at /.nix-frontend/builder.sh): the one Nix step of the
# single plan (NIX_PLAN=single). It runs in the Nix image with the build context at /src and an
# empty output mount at /out. It is constant text: every user value arrives in an environment
# variable and is only ever used quoted, as one argv entry (read here and in common.sh):
#   NF_FILE             the Nix file, relative to /src
#   NF_FILE_DEFAULTED   1 when no file was named: without default.nix, flake.nix is built
#   NF_FLAKE            1 to build a flake (the file's directory)
#   NF_ATTR             the attribute (-A) or the flake's output
#   NF_ATTR_COUNT, NF_ATTR_<i>         several attributes instead, one argv entry each
#   NF_ARG_COUNT, NF_ARG_<i>           the Nix arguments (--arg/--argstr ...), one argv entry each
#   NF_NIXPKGS          the path of -I nixpkgs=
#   NF_NIXPKGS_SHA256   NF_NIXPKGS's hash: -I nixpkgs= is then its fetchTarball store path
#   NF_NIX_SETTINGS     extra Nix settings, one `name = value` per line
#   NF_SYSTEM           the target platform's Nix system
#   NF_HOST_SYSTEM      the system Nix runs on when the target's would be emulated (common.sh)
#   NF_CONTEXT_COUNT, NF_CONTEXT_<i>   the named contexts' names; each is mounted at /nf-contexts/<i>
#   NF_SBOM             1 to write packages.json too
#   NF_CACHE_PUSH       NIX_CACHE_PUSH: the binary cache to copy the closure to (nf_push)
#   NF_COLLISIONS       first: the package listed first wins a collision in root/ (else an error)
#   NF_OFFLINE          1 in a graph plan's build step without the network: no binary cache is
#                       asked (common.sh; never set for this step)
#   NF_NAR_CACHE        1 in a graph plan's substitute step whose files BuildKit downloaded: Nix
#                       substitutes from them alone (common.sh; never set for this step)
#
# It always exits 0 once it has written $meta/status, so that the frontend can read Nix's own
# error text and report it with the file and line; the frontend turns a failure into the build's
# error. Outputs in /out/.nix-frontend:
#   status        ok | missing-file | eval-failed | build-failed | collision
#   log           Nix's stderr of the failing step
#   ran-at        when this ran (Unix seconds), to tell a cached failure from a fresh one
#   results       the build's output paths, one per line
#   closure.json  nix path-info --json --recursive of the results (nf_closure_json)
#   requisites    nix-store --query --requisites of the results, one path per line
#   info.json     name, version, meta, outputName, passthru.imageConfig (facts.nix's `info`), if it evaluates
#                 (of the first attribute; info-<i>.json of attribute i of several)
#   root/         the image's root: links to the top-level entries (bin, etc, share, ...) of each
#                 package, directories of links where several have the same one (nf_profile)
#   profile-roots those packages, one store path a line: the first result, or with several
#                 attributes the first output of each
#   collisions    the names two packages provide (`FIRST SECOND NAME`), which root/ has the first's
#   profile/      profile/<dir>/<entry>: root/ with each top-level directory a directory of links
#                 (nf_profile_links), for the directories a FROM base has too
#   push-log      with NF_CACHE_PUSH, Nix's stderr of the push (a failed push is only a warning)
# and /out/nix/store/<hash>-<name> for every path of the closure, each one's image layer copied
# from there.
set -u
meta=/out/.nix-frontend
tools=$(dirname "$0")
mkdir -p "$meta/root" "$meta/tmp" /out/nix/store
chmod 1777 "$meta/tmp"
date +%s >"$meta/ran-at"

# shellcheck source=common.sh
. "$tools/common.sh"

nf_evaluate
# shellcheck disable=SC2046 # derivation paths have no spaces or glob characters
set -- $(cat "$meta/roots")
echo "building $*" >&2
logged "$meta/results" nix-store --realise "$@" || finish build-failed


# The closure out of the persistent store, in one copy. The list goes through a file, not a
# pipe, so that a failing nix-store ends the step here.
# shellcheck disable=SC2046
logged "$meta/requisites" nix-store --query --requisites $(cat "$meta/results") ||
  { echo "listing the closure of the results failed" >>"$meta/log"; finish build-failed; }
# shellcheck disable=SC2046 # store paths have no spaces or glob characters
cp -a $(cat "$meta/requisites") /out/nix/store/ ||
  { echo "copying the closure out of the store failed" >"$meta/log"; finish build-failed; }

# The manifest: the closure, and the image's root from its packages; a collision stops the
# build unless NIX_COLLISIONS=first.
# shellcheck disable=SC2046 # derivation paths have no spaces or glob characters
nf_manifest "$meta" "$meta/log" $(cat "$meta/roots") || finish build-failed
# NIX_CACHE_PUSH: the closure to the binary cache; a failed push is a warning in the log, the
# image is still right.
if [ -n "${NF_CACHE_PUSH:-}" ]; then
  # shellcheck disable=SC2046
  nf_log=$meta/push-log nf_push $(cat "$meta/results") || echo "warning: pushing to NIX_CACHE_PUSH failed; the image is built" >&2
fi
finish ok
