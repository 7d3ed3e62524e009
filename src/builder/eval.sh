# nix-frontend's evaluation step (the first vertex of a derivation-graph build). It runs in the
# Nix image with the build context at /src and an empty output at /out, evaluates the file, and
# reports what the frontend needs to plan Nix's work as BuildKit vertices. Constant text: every
# user value arrives in an environment variable (NF_FILE, NF_ATTR, NF_FLAKE, NF_ARG_<i>, ...) and
# is only ever used quoted, as one argv entry.
#
# It always exits 0 once it has written $meta/status (ok | missing-file | eval-failed).
# Outputs in /out/.nix-frontend:
#   status, log, ran-at   as the single-step builder writes them
#   info.json             name, version, meta, outputName, passthru.imageConfig (facts.nix's `info`)
#                         of the first attribute; info-<i>.json of attribute i of several
#   roots                 what to realise, one `drv!output` (or drv) per line; with several
#                         attributes (NF_ATTR_COUNT) one line each, in the order given
#   records               `nix-store --dump-db` of the derivations' closure (.drv files and the
#                         sources evaluation added to the store): path, hash, size, deriver, refs
#   dry-run               `nix-store --realise --dry-run` of the roots: what Nix would build and
#                         what it would fetch from a binary cache
#   fetch-info/<i>        `nix path-info --json` of the paths to fetch from substituter i (in
#                         Nix's order), where that cache could be asked
#   substituters          those caches, separated by spaces (not written with a netrc)
#   nar/<path>            `nix-store --dump` of each source that is a tree, up to NF_NAR_MAX_BYTES
#   drv-files, drv-sizes  the .drv files concatenated, and their sizes and paths (`wc -c`)
# and /out/nix/store/<path> for every path of the derivations' closure, which the frontend reads
# (and later vertices copy by content where it does not carry them), so that evaluation is never
# their ancestor in BuildKit's cache; a source's image layer is copied from there too.
set -u
meta=/out/.nix-frontend
mkdir -p "$meta" /out/nix/store
date +%s >"$meta/ran-at"
tools=$(dirname "$0")
. "$tools/common.sh"
# Nix's cache of what the binary caches hold is a BuildKit cache mount: a re-evaluation asks
# them only about paths they had not been asked about. A path a cache lacked, and an input
# without a hash, are asked for again every time, as without the mount.
if [ -n "${NF_NIX_CACHE_DIR:-}" ]; then
  export XDG_CACHE_HOME="$NF_NIX_CACHE_DIR"
  NIX_CONFIG="${NIX_CONFIG:-}
narinfo-cache-negative-ttl = 0
tarball-ttl = 0"
  export NIX_CONFIG
fi

# Inputs pinned by their hash that pin.sh fetched ahead (merged into this root): registered, so
# that Nix finds them valid and fetches nothing.
for pinned in /nf/pin-records/*; do
  [ -f "$pinned" ] || continue
  nix-store --load-db <"$pinned" || echo "nix-frontend: registering a pinned input failed; Nix fetches it" >&2
done

# Git repositories pin.sh fetched ahead join Nix's git cache (the cache mount), where fetchGit
# finds the commit and downloads nothing. Other evaluations share that cache, so nothing appears
# there half-written: a repository the cache lacks is copied beside it and renamed into place,
# and into one it has go the object files it lacks, each renamed into place, packs before their
# indexes (git names them by their content, so none is replaced).
nf_git_cache="${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/nix/gitv3"
for nf_repo in /nf/pin-git/*/*; do
  [ -d "$nf_repo" ] && [ ! -L "$nf_repo" ] || continue
  nf_copy=
  nf_into="$nf_git_cache/${nf_repo##*/}"
  if [ ! -e "$nf_into" ]; then
    mkdir -p "$nf_git_cache" && nf_copy=$(mktemp -d "$nf_git_cache/.nf-XXXXXX") &&
      cp -RP "$nf_repo"/. "$nf_copy"/ &&
      { [ -e "$nf_into" ] || mv "$nf_copy" "$nf_into"; }
    nf_status=$?
    # A copy that lost the race to another evaluation (moved into its repository) is dropped.
    rm -rf "${nf_copy:-/nonexistent}" "$nf_into/${nf_copy##*/}"
  else
    { (cd "$nf_repo" && find objects -type f ! -name '*.idx' && find objects -type f -name '*.idx') |
      while IFS= read -r nf_object; do
        [ -e "$nf_into/$nf_object" ] && continue
        mkdir -p "$nf_into/${nf_object%/*}" && cp "$nf_repo/$nf_object" "$nf_into/$nf_object.nf-part" &&
          mv "$nf_into/$nf_object.nf-part" "$nf_into/$nf_object" || exit 1
      done; }
    nf_status=$?
  fi
  [ "$nf_status" = 0 ] || echo "nix-frontend: adding a pinned git repository to Nix's cache failed; Nix fetches it" >&2
done

nf_evaluate

# The .drv files and sources the roots need, as records and as trees.
# shellcheck disable=SC2046 # store paths have no spaces or glob characters
set -- $(nf_derivations)
logged "$meta/requisites" nix-store --query --requisites "$@" || finish eval-failed
# shellcheck disable=SC2046
logged "$meta/records" nix-store --dump-db $(cat "$meta/requisites") || finish eval-failed
# shellcheck disable=SC2046
nix-store --realise --dry-run $(cat "$meta/roots") 2>"$meta/dry-run" >/dev/null ||
  { cp "$meta/dry-run" "$meta/log"; finish eval-failed; }
# What each binary cache knows of the paths to fetch (`nix path-info --json`: references, NAR
# hash and size), one file per substituter in Nix's order, so that the frontend can substitute
# them in pieces, each registering the records of what its paths refer to. A cache that cannot be
# asked leaves no file; a path no file knows keeps the substitution in one step.
mkdir -p "$meta/fetch-info"
grep -E '^ +/nix/store/' "$meta/dry-run" | grep -v '\.drv$' >/tmp/nf-fetch || true
if [ -s /tmp/nf-fetch ]; then
  nf_caches=$(nix --extra-experimental-features "$features" config show substituters 2>/dev/null)
  # Which cache each answer came from, so that BuildKit can download their files; not with a
  # netrc, whose credentials BuildKit cannot send.
  [ -f /run/secrets/netrc ] || printf '%s\n' "$nf_caches" >"$meta/substituters"
  nf_cache_index=0
  # shellcheck disable=SC2086 # URLs have no spaces
  for nf_cache in $nf_caches; do
    # shellcheck disable=SC2046
    nix --extra-experimental-features "$features" path-info --json --store "$nf_cache" $(cat /tmp/nf-fetch) \
      >"$meta/fetch-info/$nf_cache_index" 2>/dev/null || rm -f "$meta/fetch-info/$nf_cache_index"
    nf_cache_index=$((nf_cache_index + 1))
  done
fi
# The .drv files also as one file (drv-files, in the order of drv-sizes' `wc -c` lines), which the
# frontend reads in one go and carries to the build steps.
grep '\.drv$' "$meta/requisites" >/tmp/nf-drvs
: >"$meta/drv-sizes"
: >"$meta/drv-files"
if [ -s /tmp/nf-drvs ]; then
  # shellcheck disable=SC2046 # store paths have no spaces or glob characters
  { wc -c $(cat /tmp/nf-drvs) >"$meta/drv-sizes" && cat $(cat /tmp/nf-drvs) >"$meta/drv-files"; } ||
    { echo "listing the derivation files failed" >"$meta/log"; finish eval-failed; }
fi
# One copy for all paths.
# shellcheck disable=SC2046
cp -a $(cat "$meta/requisites") /out/nix/store/ ||
  { echo "copying the derivations and sources failed" >"$meta/log"; finish eval-failed; }
# Sources that are trees (or symlinks), up to NF_NAR_MAX_BYTES, also as their NAR, which the
# frontend carries to the build steps in their LLB, so that those steps' cache keys do not depend
# on BuildKit's checksum of copied content (it differs between BuildKit releases). A source that
# is one file needs no NAR: the frontend reads it from /out/nix/store (a Nix process costs 40 ms).
mkdir -p "$meta/nar"
: >/tmp/nf-trees
while read -r path; do
  case $path in *.drv) continue ;; esac
  if [ -L "$path" ] || [ ! -f "$path" ]; then printf '%s\n' "$path" >>/tmp/nf-trees; fi
done <"$meta/requisites"
if [ -s /tmp/nf-trees ]; then
  # One query for every tree's size (a process per source costs 40 ms), in the same order.
  # shellcheck disable=SC2046 # store paths have no spaces or glob characters
  nix-store --query --size $(cat /tmp/nf-trees) >/tmp/nf-tree-sizes ||
    { echo "reading the sizes of the sources failed" >"$meta/log"; finish eval-failed; }
  [ "$(wc -l </tmp/nf-trees)" = "$(wc -l </tmp/nf-tree-sizes)" ] ||
    { echo "reading the sizes of the sources gave another count" >"$meta/log"; finish eval-failed; }
  while read -r path && read -r size <&3; do
    if [ "$size" -le "${NF_NAR_MAX_BYTES:-0}" ]; then
      nix-store --dump "$path" >"$meta/nar/${path##*/}" || { echo "dumping $path failed" >"$meta/log"; finish eval-failed; }
    fi
  done </tmp/nf-trees 3</tmp/nf-tree-sizes
fi
finish ok
