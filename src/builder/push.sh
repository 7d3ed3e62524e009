# nix-frontend's push step (NIX_CACHE_PUSH, graph plan): it runs over one build step's inputs and
# output merged, registers what they hold, and copies the paths that step built (nf/new/<group>)
# to the binary cache in NF_CACHE_PUSH with `nix copy`, signed with the nix-cache-key secret when
# given (credentials: the netrc secret for HTTP, the aws secret for S3). Constant text: the URL
# arrives in NF_CACHE_PUSH and is only ever used quoted, as one argv entry.
# Outputs in /out: nf/push/<group> (ok | failed), nf/push-log/<group> (Nix's stderr). It always
# exits 0: a failed push is the frontend's warning, never a failed build.
set -u
group=$NF_GROUP
mkdir -p /out/nf/push /out/nf/push-log
nf_log=/out/nf/push-log/$group
meta=/out/nf
tools=$(dirname "$0")
# shellcheck source=common.sh
. "$tools/common.sh"
finish() {
  printf '%s\n' "$1" >"/out/nf/push/$group"
  exit 0
}
[ -s "/nf/new/$group" ] || finish ok
nf_restore_sources || finish failed
cat /nf/records/* | nix-store --load-db || { echo "registering the inputs failed" >"$nf_log"; finish failed; }
# shellcheck disable=SC2046 # store paths have no spaces or glob characters
nf_push $(cat "/nf/new/$group") || finish failed
finish ok
