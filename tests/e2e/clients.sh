# shellcheck shell=bash
# End-to-end tests of clients other than `docker buildx build`: Docker Compose.
# Sourced by tests/e2e.sh (after tests/lib/common.sh); test_NAME runs as `tests/e2e.sh NAME`.

# `docker compose build` as `docker compose up --build` runs it: a service in each mode, build
# args from the compose file, the images run, and a rebuild with nothing changed runs no Nix step.
test_compose() {
  echo "compose: docker compose build, both modes, build args; a rebuild with no change runs no Nix"
  docker compose version >/dev/null 2>&1 || { fail "no docker compose (scripts/setup installs docker-compose)"; return; }
  local dir=$work/compose
  mkdir -p "$dir" && cp -r tests/fixtures/hello "$dir/app"
  cat >"$dir/compose.yaml" <<YAML
services:
  nix:
    image: $T/nix
    build:
      context: ./app
      dockerfile: default.nix
      target: hello
      args:
        NIX_IMAGE: $NIX_IMAGE
  dockerfile:
    image: $T/dockerfile
    build:
      context: ./app
      args:
        NIX_IMAGE: $NIX_IMAGE
YAML
  compose() { docker compose --progress plain --project-directory "$dir" -f "$dir/compose.yaml" -p "nf-${T##*/}" "$@"; }
  check "docker compose build builds both services" bash -c "$(declare -f compose); dir='$dir' T='$T'; compose build >'$work/compose-1.log' 2>&1" ||
    tail -20 "$work/compose-1.log" | sed 's/^/    | /'
  check "... the Nix-mode service runs" bash -c "[ \"\$(docker run --rm $T/nix)\" = 'hello from nix-frontend' ]"
  check "... the Dockerfile-mode service runs with its ENV" bash -c \
    "[ \"\$(docker run --rm $T/dockerfile)\" = 'hello from nix-frontend' ] &&
     docker image inspect $T/dockerfile --format '{{json .Config.Env}}' | grep -q GREETING_SOURCE=dockerfile"
  check "... the build arg reached the frontend (the builder image named in the log)" \
    grep -q "$NIX_IMAGE" "$work/compose-1.log"
  check "docker compose build again" bash -c "$(declare -f compose); dir='$dir' T='$T'; compose build >'$work/compose-2.log' 2>&1"
  check "... ran no Nix step" bash -c "! grep -qE '^#[0-9]+ [0-9.]+ ' '$work/compose-2.log' &&
    grep -qE '^#[0-9]+ (\[[a-z]+\] )?(evaluate|build|nix-build)' '$work/compose-2.log'"
  check "docker compose run uses the image" bash -c "$(declare -f compose); dir='$dir' T='$T';
    [ \"\$(compose run --rm nix 2>/dev/null)\" = 'hello from nix-frontend' ]"
  compose down --rmi local >/dev/null 2>&1
}
