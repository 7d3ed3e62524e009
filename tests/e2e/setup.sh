# shellcheck shell=bash
# End-to-end tests of scripts/setup on a machine that has its own Docker settings: the one setting
# it needs is merged into daemon.json (NIX_FRONTEND_DAEMON_JSON: a copy, never the machine's),
# every other key survives, and a running dockerd without the setting is never stopped.
# Sourced by tests/e2e.sh (after tests/lib/common.sh); test_NAME runs as `tests/e2e.sh NAME`.

test_setup() {
  echo "setup: merges into an existing daemon.json, never stops a running dockerd"
  local dir="$work/setup"
  mkdir -p "$dir"
  local json="$dir/daemon.json"
  printf '{"log-level":"warn","registry-mirrors":["https://mirror.example"],"features":{"buildkit":true}}\n' >"$json"
  local pid_before
  pid_before=$(pgrep -x dockerd | sort | tr '\n' ' ')
  check "setup succeeds against a daemon.json with other keys" \
    bash -c "NIX_FRONTEND_DAEMON_JSON='$json' scripts/setup >'$dir/setup.log' 2>&1"
  check "other keys and features survive, the setting is added" python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
assert c["log-level"] == "warn", c
assert c["registry-mirrors"] == ["https://mirror.example"], c
assert c["features"] == {"buildkit": True, "containerd-snapshotter": True}, c
' "$json"
  cp "$json" "$dir/after-first"
  check "a second run changes nothing (idempotent)" \
    bash -c "NIX_FRONTEND_DAEMON_JSON='$json' scripts/setup >'$dir/setup2.log' 2>&1 && cmp -s '$json' '$dir/after-first' && ! grep -q 'set features' '$dir/setup2.log'"
  printf '{"features":{"containerd-snapshotter":false},"debug":true}\n' >"$json"
  check "an explicit false becomes true, other keys kept" bash -c \
    "NIX_FRONTEND_DAEMON_JSON='$json' scripts/setup >/dev/null 2>&1 && python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert c==dict(features={\"containerd-snapshotter\":True},debug=True), c' '$json'"
  printf '{"log-level": "warn",\n' >"$json"
  cp "$json" "$dir/broken"
  check "a daemon.json that is not JSON is refused and left as it was" bash -c \
    "! NIX_FRONTEND_DAEMON_JSON='$json' scripts/setup >'$dir/broken.log' 2>&1 && grep -q 'not valid JSON' '$dir/broken.log' && cmp -s '$json' '$dir/broken'"
  rm -f "$json"
  check "a missing daemon.json is created with the setting" bash -c \
    "NIX_FRONTEND_DAEMON_JSON='$json' scripts/setup >/dev/null 2>&1 && python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))==dict(features={\"containerd-snapshotter\":True})' '$json'"

  # A running dockerd without the containerd store: a stand-in docker client on PATH answers as
  # such a daemon would; setup must explain and fail, and stop nothing.
  mkdir -p "$dir/bin"
  cat >"$dir/bin/docker" <<'FAKE'
#!/bin/sh
case "$1" in
  version) echo 26.1.5 ;;
  info) echo '[["Backing Filesystem","extfs"],["Supports d_type","true"]]' ;;
  buildx) echo 'github.com/docker/buildx 0.13.1' ;;
  *) exit 1 ;;
esac
FAKE
  chmod +x "$dir/bin/docker"
  printf '{"log-level":"warn"}\n' >"$json"
  local rc=0
  PATH="$dir/bin:$PATH" NIX_FRONTEND_DAEMON_JSON="$json" scripts/setup >"$dir/running.log" 2>&1 || rc=$?
  check "a running dockerd without the setting: setup exits non-zero" test "$rc" != 0
  check "it says what to change and what the tests need" bash -c \
    "grep -q 'never stops a dockerd' '$dir/running.log' && grep -q 'restart dockerd yourself' '$dir/running.log' && grep -q 'tests need it' '$dir/running.log'"
  check "the file still got the setting, other keys kept" python3 -c '
import json, sys
assert json.load(open(sys.argv[1])) == {"log-level": "warn", "features": {"containerd-snapshotter": True}}' "$json"
  check "the machine's dockerd is the same process" \
    test "$(pgrep -x dockerd | sort | tr '\n' ' ')" = "$pid_before"
  check "the machine's daemon.json still has the setting" \
    grep -q '"containerd-snapshotter": *true' /etc/docker/daemon.json
}
