# shellcheck shell=bash
# The engines of tests/matrix, for tests/e2e.sh: what each needs before a test runs
# (prepare_engine) and the environment its tests see (enter_engine). Needs $root and $base (a
# directory of this run).

nix_image_local=nix-frontend-test/nix:local
nix_image_nixos=nix-frontend-test/nix:nixos-sid
# With git, for the tests of fetchGit (scripts/nix-image --git): Nix 2.26, and Nix 2.34 (sid) for
# the standalone builders, whose nixos-layout image has no git.
nix_image_git=nix-frontend-test/nix:git
nix_image_git_sid=nix-frontend-test/nix:git-sid
frontend_image=org/nix-frontend

say() { printf 'e2e: %s\n' "$*" >&2; }

ensure_docker() {
  docker version >/dev/null 2>&1 && return 0
  say "no dockerd answers: scripts/setup"
  "$root/scripts/setup" >&2
}

ensure_image() { # ensure_image TAG COMMAND...: COMMAND when TAG is missing
  local tag=$1
  shift
  docker image inspect "$tag" >/dev/null 2>&1 && return 0
  say "building $tag"
  "$@" >&2
}

ensure_frontend() {
  local want have
  want=$("$root/scripts/frontend-image" --source-hash)
  have=$(docker image inspect -f '{{index .Config.Labels "org.nix-frontend.source"}}' "$frontend_image" 2>/dev/null)
  [ "$have" = "$want" ] && return 0
  local why="missing or unlabelled"
  [ -z "$have" ] || why="the source changed since it was built"
  say "building $frontend_image ($why)"
  "$root/scripts/frontend-image" "$frontend_image" >&2
}

# standalone_engine ENGINE: its builds go to a standalone buildkitd (E2E_BUILDER), not to a dockerd.
standalone_engine() { case $1 in bk|bkdc|rootless|nixos) return 0 ;; *) return 1 ;; esac; }

# prepare_engine ENGINE TESTS: images and daemons ENGINE needs for TESTS (a space-separated list;
# empty: every test), built or started only when missing. Idempotent.
prepare_engine() {
  local engine=$1 tests=" ${2:-} "
  ensure_docker || return 1
  ensure_image "$nix_image_local" "$root/scripts/nix-image" "$nix_image_local" || return 1
  # FRONTEND=<image>: the tests try that frontend image instead (tests/lib/common.sh's build_raw).
  [ -n "${FRONTEND:-}" ] || ensure_frontend || return 1
  # The amd64 + arm64 builder index of the multi-platform tests (the arm64 image is made under
  # qemu, about 7 minutes the first time): made here, before engines run at the same time.
  case $engine:$tests in
    d26:"  "|bk:"  "|*" multiplatform "*|*" two_nodes "*|*" foreign_native "*)
      "$root/scripts/nix-image-index" 127.0.0.1:5000/nix-frontend-test/nix:multi amd64 arm64 >&2 || return 1 ;;
  esac
  # pinned_git's builder image (git_builder_image).
  case $tests in
    "  "|*" pinned_git "*)
      if standalone_engine "$engine"; then
        ensure_image "$nix_image_git_sid" "$root/scripts/nix-image" "$nix_image_git_sid" --suite=sid --git || return 1
      else
        ensure_image "$nix_image_git" "$root/scripts/nix-image" "$nix_image_git" --git || return 1
      fi ;;
  esac
  case $engine in
    d26) ;;
    nixos)
      ensure_image "$nix_image_nixos" "$root/scripts/nix-image" "$nix_image_nixos" --layout=nixos --suite=sid || return 1
      "$root/scripts/buildkit" start nf-bk-nixos 1247 >&2 || return 1
      ;;
    d28) "$root/scripts/docker28" start >&2 || return 1 ;;
    bk)
      "$root/scripts/buildkit" start nf-bk-e2e 1241 >&2 || return 1
      # The frontend as users get it: the amd64 + arm64 index, which published_frontend needs.
      case $tests in
        "  "|*" published_frontend "*) "$root/scripts/publish" 127.0.0.1:5000/nix-frontend:ci >"$base/published" || return 1 ;;
      esac
      ;;
    bkdc) "$root/scripts/buildkit" container nf-bk-dc >&2 || return 1 ;;
    rootless) "$root/scripts/buildkit" rootless nf-bk-rootless 1246 >&2 || return 1 ;;
    cross)
      "$root/scripts/docker28" start >&2 || return 1
      "$root/scripts/buildkit" start nf-bk-engines 1240 >&2 || return 1
      ;;
  esac
}

# enter_engine ENGINE: the variables and the `docker` on PATH its tests use.
enter_engine() {
  local engine=$1 host_docker
  host_docker=$(command -v docker)
  # The host's own docker, for what the tests ask of the host rather than the engine.
  export E2E_HOST_DOCKER=$host_docker
  NIX_IMAGE=${NIX_IMAGE:-$nix_image_local}
  unset E2E_DOCKER E2E_BUILDER
  mkdir -p "$base/bin"
  case $engine in
    d26|cross) ;;
    d28)
      local d28=${DOCKER28_NAME:-nf-docker28}
      [ "$("$host_docker" inspect -f '{{.State.Running}}' "$d28" 2>/dev/null)" = true ] ||
        { say "$d28 is not running (scripts/docker28 start)"; return 1; }
      export E2E_DOCKER=docker28
      cat >"$base/bin/engine-docker" <<WRAP
#!/bin/sh
exec "$host_docker" exec -i -w "\$PWD" -e BUILDX_EXPERIMENTAL -e SOURCE_DATE_EPOCH "$d28" docker "\$@"
WRAP
      ;;
    *) standalone_engine "$engine" || { say "no engine $engine"; return 1; }
      local bk
      case $engine in
        bk) bk=nf-bk-e2e ;;
        bkdc) bk=nf-bk-dc ;;
        rootless) bk=nf-bk-rootless ;;
        nixos) bk=nf-bk-nixos NIX_IMAGE=$nix_image_nixos ;;
      esac
      export E2E_DOCKER=standalone E2E_BUILDER=$bk
      docker buildx inspect "$bk" >/dev/null 2>&1 || { say "no builder $bk"; return 1; }
      # The frontend and the Nix image from the local registry by digest: the published index
      # when scripts/publish made it for this source, else the local image pushed.
      if [ -z "${FRONTEND:-}" ] && [ -s "$base/published" ]; then
        FRONTEND=$(sed -n 's/^# syntax=//p' "$base/published")
      fi
      case ${FRONTEND:-} in
        127.0.0.1:5000/*@sha256:*) ;;
        *) FRONTEND=$("$root/scripts/buildkit" publish "${FRONTEND:-$frontend_image}" "127.0.0.1:5000/nix-frontend:e2e-$engine") || return 1 ;;
      esac
      NIX_IMAGE=$("$root/scripts/buildkit" publish "$NIX_IMAGE" "127.0.0.1:5000/nix:e2e-$engine") || return 1
      export FRONTEND
      # Builds go to that builder, tagged images come back with --load, a prune is that builder's.
      # After a --load, the tags are waited for in dockerd (up to 10 s): once, in CI, the image
      # was not there for the `docker run` right after buildx returned, and was a moment later.
      cat >"$base/bin/engine-docker" <<WRAP
#!/usr/bin/env bash
if [ "\$1 \$2" = "buildx build" ]; then
  shift 2
  load= tags=() next=
  for a in "\$@"; do
    if [ -n "\$next" ]; then tags+=("\$a"); next=; continue; fi
    case \$a in -t|--tag) load=--load next=1 ;; --tag=*) load=--load tags+=("\${a#--tag=}") ;; esac
  done
  for a in "\$@"; do case \$a in -o|--output|--output=*|--push|--load|--call|--call=*|--print|--print=*|--check) load= ;; esac; done
  [ -n "\$load" ] || exec "$host_docker" buildx build --builder "$bk" "\$@"
  "$host_docker" buildx build --builder "$bk" --load "\$@" || exit
  for tag in "\${tags[@]}"; do
    waited=0
    until "$host_docker" image inspect "\$tag" >/dev/null 2>&1; do
      [ "\$waited" -lt 40 ] || { echo "e2e: buildx --load returned, and dockerd has no \$tag 10 s later" >&2; exit 1; }
      sleep 0.25
      waited=\$((waited + 1))
    done
    [ "\$waited" = 0 ] || echo "e2e: \$tag was in dockerd \$((waited * 250)) ms after buildx --load returned" >&2
  done
  exit 0
fi
if [ "\$1 \$2" = "builder prune" ]; then
  shift 2
  exec "$host_docker" buildx prune --builder "$bk" "\$@"
fi
exec "$host_docker" "\$@"
WRAP
      ;;
  esac
  export NIX_IMAGE
  # Where the tests' images are the host dockerd's and it keeps them in containerd, the images of
  # an earlier run are removed through containerd (forget_test_images).
  unset E2E_CONTAINERD_STORE
  if [ "${E2E_DOCKER:-}" != docker28 ] && command -v ctr >/dev/null &&
    "$host_docker" info --format '{{json .DriverStatus}}' 2>/dev/null | grep -q io.containerd.snapshotter; then
    export E2E_CONTAINERD_STORE=1
  fi
  # Every test's `docker` follows a missing image to its cause (tests/lib/docker_guard.sh).
  ENGINE_DOCKER=$host_docker
  if [ -f "$base/bin/engine-docker" ]; then
    chmod +x "$base/bin/engine-docker"
    ENGINE_DOCKER=$base/bin/engine-docker
  fi
  export ENGINE_DOCKER
  printf '#!/bin/sh\nexec "%s" "$@"\n' "$root/tests/lib/docker_guard.sh" >"$base/bin/docker"
  chmod +x "$base/bin/docker" "$root/tests/lib/docker_guard.sh"
  PATH=$base/bin:$PATH
  case $engine in
    d28) say "against $(docker version --format 'dockerd {{.Server.Version}}'), $(docker buildx version | cut -d' ' -f1-2)" ;;
    rootless)
      # Rootless in fact: buildkitd runs as the user 1000, its worker without a process sandbox.
      # A buildkitd just started may not answer yet; `buildx inspect` then lists no worker, so
      # the check is asked again for up to 30 s (one CI run failed here once).
      local tries=0
      until [ "$("$host_docker" exec nf-bk-rootless id -u 2>/dev/null)" = 1000 ] &&
        docker buildx inspect nf-bk-rootless 2>/dev/null | grep -q 'process-mode: *no-sandbox'; do
        tries=$((tries + 1))
        [ "$tries" -lt 30 ] ||
          { say "nf-bk-rootless did not show itself a rootless buildkitd within 30 s (buildkitd as uid 1000: $("$host_docker" exec nf-bk-rootless id -u 2>&1); worker: $(docker buildx inspect nf-bk-rootless 2>&1 | grep -m1 -iE 'process-mode|error' || echo 'no answer'))"; return 1; }
        sleep 1
      done
      say "against rootless BuildKit ($(docker buildx inspect "$E2E_BUILDER" | grep -m1 'BuildKit version' | tr -s ' '), buildkitd as uid 1000), frontend $FRONTEND" ;;
    nixos) say "against standalone BuildKit ($(docker buildx inspect "$E2E_BUILDER" | grep -m1 'BuildKit version' | tr -s ' ')), builder $E2E_BUILDER, the nixos-layout builder image $NIX_IMAGE" ;;
    bk|bkdc) say "against standalone BuildKit ($(docker buildx inspect "$E2E_BUILDER" | grep -m1 'BuildKit version' | tr -s ' ')), builder $E2E_BUILDER; frontend $FRONTEND" ;;
    *) say "against $(docker version --format 'dockerd {{.Server.Version}}'), builder image $NIX_IMAGE" ;;
  esac
}

# git_builder_image: the builder image with git the fetchGit tests build on: on dockerd the local
# image, on a standalone builder (E2E_BUILDER, set by enter_engine for a standalone_engine) the
# Nix 2.34 one pushed to the registry it pulls from.
git_builder_image() {
  case ${E2E_BUILDER:-} in
    "") echo "$nix_image_git" ;;
    *) "$root/scripts/buildkit" publish "$nix_image_git_sid" "127.0.0.1:5000/nix:e2e-git-sid" ;;
  esac
}

# Tags an earlier run of this test left ($T/...), so that no check sees an image this run did not
# build.
forget_test_images() {
  local tags names
  # Filtered by reference: an unfiltered list sizes every image, about 7 s with 400 of them.
  tags=$(docker image ls --filter "reference=$T/*" --filter "reference=*/$T/*" \
    --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep -F "$T/" || true)
  [ -n "$tags" ] || return 0
  # On the containerd image store, dockerd's `image rm` waits for containerd's garbage collection:
  # 2-3 s an image here, about 4 minutes over dockerd 26's tests. Removed through containerd
  # itself (its namespace `moby`), the images go at once and their content at the collector's next
  # run. Only when containerd lists as many of the test's images as dockerd did, so both name the
  # same store; else (another daemon, the classic store, no ctr) through dockerd.
  if [ -n "${E2E_CONTAINERD_STORE:-}" ]; then
    names=$(ctr -n moby images ls -q 2>/dev/null | grep -F "/$T/" || true)
    if [ -n "$names" ] && [ "$(wc -l <<<"$names")" = "$(wc -l <<<"$tags")" ] &&
      ctr -n moby images rm $names >/dev/null 2>&1; then
      return 0
    fi
  fi
  docker image rm -f $tags >/dev/null 2>&1 || true
}
