# nix-frontend's build step for one planned group of derivations (or the paths to fetch from a
# binary cache). It runs in the Nix image over a root that BuildKit merged from the image, the
# .drv files and sources the group needs (carried in the LLB by the frontend, or copied by content
# out of the evaluation) and the outputs of every group it depends on. Constant text: the roots
# to realise arrive in NF_ROOT_0..NF_ROOT_<NF_ROOT_COUNT-1>, the group's name in NF_GROUP (a
# store path base name); in the final group (NF_FINAL=1) with several attributes (NF_ATTR_COUNT)
# each root is one attribute's, and NF_COLLISIONS=first lets the one listed first win a collision
# in root/. NF_OFFLINE=1: the step has no network, so Nix asks no binary cache (common.sh).
#
# Inputs, merged at /nf: nar/<path> (sources as NARs; .drv files the frontend carried are at
# their store paths), records/<id> (`nix-store --dump-db` records of the paths beside them),
# status/<id> (each upstream group's status word), registered/<id> (paths whose records the
# frontend gave without their content: what a substitute step's paths refer to). Outputs in /out:
#   nix/store/<path>     every path this group made valid that its inputs did not hold (each
#                        one's image layer is copied from there)
#   nf/records/<group>   their registration records
#   nf/new/<group>       their store paths, one per line (what a push step copies to NIX_CACHE_PUSH)
#   nf/status/<group>    ok | build-failed | skipped (an input group failed) | collision
#   nf/log/<group>       Nix's stderr when the build failed (the collisions for collision)
#   nf/result/           with NF_FINAL=1, the image's manifest: results, closure.json, root/,
#                        profile-roots, collisions, tmp/ (as builder.sh writes them), and
#                        made-by (which upstream group made each path), ran-at (when each
#                        group ran)
# It exits 0 once the status is written; the frontend reads it and reports Nix's error text.
set -u
mkdir -p /out/nix/store /out/nf/records /out/nf/status /out/nf/log /out/nf/ran-at
group=$NF_GROUP
nf_log=/out/nf/log/$group
# When this ran (Unix seconds), to tell a cached failure from a fresh one.
date +%s >"/out/nf/ran-at/$group"
tools=$(dirname "$0")
# shellcheck source=common.sh
. "$tools/common.sh"
# This step's own status, per group (it travels to the groups that depend on it).
finish() {
  printf '%s\n' "$1" >"/out/nf/status/$group"
  exit 0
}

# A group whose input failed does not run: the frontend reports the first failure.
for status in /nf/status/*; do
  [ -f "$status" ] || continue
  if [ "$(cat "$status")" != ok ]; then
    echo "skipped: ${status##*/} did not build" >"$nf_log"
    finish skipped
  fi
done

nf_restore_sources || finish build-failed
# Register what the inputs brought, trusting their hashes (no re-hashing, no copy-ups).
if [ -d /nf/records ]; then
  cat /nf/records/* | nix-store --load-db || { echo "registering the inputs failed" >"$nf_log"; finish build-failed; }
fi
# What the store holds before the build, by name ("." is no store name: busybox's grep -v -f
# with an empty pattern file would print nothing).
# Paths registered without their content (a substitute step's references, which other steps
# fetch) are not this group's either.
{
  echo .
  ls /nix/store
  for registered in /nf/registered/*; do
    [ -f "$registered" ] || continue
    while read -r path; do printf '%s\n' "${path##*/}"; done <"$registered"
  done
} >/tmp/nf-before

i=0
set --
while [ "$i" -lt "${NF_ROOT_COUNT:-0}" ]; do
  eval "set -- \"\$@\" \"\${NF_ROOT_$i}\""
  i=$((i + 1))
done
logged /tmp/nf-results nix-store --realise "$@" || finish build-failed

# The new paths of the results' closure: this group's own work.
# shellcheck disable=SC2046 # store paths have no spaces or glob characters
nix-store --query --requisites $(cat /tmp/nf-results) >/tmp/nf-closure || finish build-failed
while read -r path; do
  printf '%s\n' "${path##*/}"
done </tmp/nf-closure >/tmp/nf-closure-names
# One grep for all names (no comm: busybox builds may lack it).
grep -vxF -f /tmp/nf-before /tmp/nf-closure-names | while read -r name; do
  printf '/nix/store/%s\n' "$name"
done >/tmp/nf-new
if [ -s /tmp/nf-new ]; then
  # shellcheck disable=SC2046
  nix-store --dump-db $(cat /tmp/nf-new) >"/out/nf/records/$group" || finish build-failed
  mkdir -p /out/nf/new && cp /tmp/nf-new "/out/nf/new/$group"
  # shellcheck disable=SC2046
  cp -a $(cat /tmp/nf-new) /out/nix/store/ ||
    { echo "copying the new paths failed" >"$nf_log"; finish build-failed; }
fi

if [ "${NF_FINAL:-}" = 1 ]; then
  result=/out/nf/result
  mkdir -p "$result/root" "$result/tmp"
  chmod 1777 "$result/tmp"
  cp /tmp/nf-results "$result/results"
  nf_manifest "$result" "$nf_log" "$@" || finish build-failed
  # Which group made each path upstream (their lists, `/nf/new/<group>:<path>` lines): the
  # frontend then takes each layer from its step without reading every step's output.
  set -- /nf/new/*
  if [ -f "$1" ]; then
    grep -H '^' "$@" >"$result/made-by" || { echo "listing what the groups upstream made failed" >"$nf_log"; finish build-failed; }
  else
    : >"$result/made-by"
  fi
  # When each step ran (`<group> <seconds>` lines, this one's too): the frontend tells the work
  # done in this build from what came from BuildKit's cache.
  for ran in /nf/ran-at/* "/out/nf/ran-at/$group"; do
    [ -f "$ran" ] && read -r seconds <"$ran" && printf '%s %s\n' "${ran##*/}" "$seconds"
  done >"$result/ran-at"
fi
finish ok
