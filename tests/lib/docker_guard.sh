#!/usr/bin/env bash
# The `docker` the end-to-end tests call (tests/lib/engines.sh puts it first on PATH): it runs
# ENGINE_DOCKER (the engine's own docker) with the same arguments. When `docker run` finds no
# image, it follows the image to its cause before failing, from what this test saw since it
# started (E2E_WORK, E2E_TEST_STARTED):
#   the test         a build of this test that names the image never ran, or the image was
#                    untagged or deleted after it was stored (image events);
#   the load         the build that names it shows no completed load or naming of the image;
#   the image store  the build loaded and named it, nothing removed it since, yet docker finds no
#                    image: the only cause named here that a run once more may get past, and it
#                    is said when it happens.
set -uo pipefail
engine_docker=${ENGINE_DOCKER:?}
[ "${1:-}" = run ] || exec "$engine_docker" "$@"

errors=$(mktemp)
trap 'rm -f "$errors"' EXIT
"$engine_docker" "$@" 2> >(tee "$errors" >&2)
rc=$?
wait
[ "$rc" = 125 ] && grep -qE 'Unable to find image|No such image' "$errors" || exit "$rc"

# The image is the first argument that is no option (or an option's value) after `run`.
image=
skip_next=
for arg in "${@:2}"; do
  if [ -n "$skip_next" ]; then skip_next=; continue; fi
  case $arg in
    --rm|-i|-t|-it|-d|--init|--privileged|--read-only|--pull=*|--platform=*|--entrypoint=*|--network=*|--user=*|-u?*|-e?*|-v?*|-w?*) ;;
    --pull|--platform|--entrypoint|--network|--user|-u|-e|--env|-v|--volume|-w|--workdir|--name|--mount|--tmpfs|--security-opt|--cap-add|--cap-drop) skip_next=1 ;;
    -*) ;;
    *) image=$arg; break ;;
  esac
done
name=${image%%@*}
case ${name##*/} in *:*) ;; *) name=$name:latest ;; esac

work=${E2E_WORK:-}
since=${E2E_TEST_STARTED:-$(($(date +%s) - 600))}
events=$("$engine_docker" events --since "$since" --until "$(date +%s)" --filter type=image \
  --format '{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.name}}' 2>/dev/null | grep -F "${name%:latest}" || true)
# Build logs of this test that name the image ("naming to", buildx's --load, the dockerd exporter).
build_logs=$(grep -lsF "${name%:latest}" "$work"/*.log 2>/dev/null || true)
loaded=
for log in $build_logs; do
  if grep 'naming to' "$log" | grep -qF "${name%:latest}" && ! grep -q '^ERROR' "$log"; then loaded=$log; fi
done
echo "docker run: no image $name. Followed to its cause:" >&2
printf '  image events since the test started: %s\n' "${events:-none}" | tr '\n' ' ' >&2
echo >&2
echo "  build logs of this test naming it: ${build_logs:-none}${loaded:+ (loaded in $loaded)}" >&2
if [ -z "$build_logs" ]; then
  echo "  cause: the test (no build of this test names $name)" >&2
  exit "$rc"
fi
if grep -qE '^(untag|delete) ' <<<"$events"; then
  echo "  cause: the test (the image was untagged or deleted after it was stored)" >&2
  exit "$rc"
fi
if [ -z "$loaded" ]; then
  echo "  cause: the load (no completed load or naming of $name in the build's log)" >&2
  exit "$rc"
fi
echo "  cause: the image store (loaded and named, never removed, yet not found); running it once more" >&2
sleep 1
exec "$engine_docker" "$@"
