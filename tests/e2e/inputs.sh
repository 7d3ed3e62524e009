# shellcheck shell=bash
# End-to-end tests of what reaches Nix and what does not: NIX_ARGS, a CA bundle, .dockerignore, secrets,
# SSH.
# Sourced by tests/e2e.sh (after tests/lib/common.sh); test_NAME runs as `tests/e2e.sh NAME`.

test_ifd() {
  echo "ifd: import from derivation builds in both plans (in graph mode inside the evaluation step)"
  local dir=tests/fixtures/ifd plan
  for plan in graph single; do
    check "builds ($plan)" build "$dir" -f "$dir/default.nix" --target app --build-arg "NIX_PLAN=$plan" \
      --build-arg "NIX_ARGS=--argstr nonce $$-$plan" -t "$T/ifd-$plan"
    check "... with the imported value ($plan)" bash -c "[ \"\$(docker run --rm $T/ifd-$plan)\" = 'made at build time' ]"
  done
}

test_nix_args() {
  echo "nix-args: NIX_ARGS reaches Nix as --argstr/--arg"
  local dir=$work/nix-args
  mkdir -p "$dir"
  probe_nix "$dir/default.nix" '{ greeting ? "default greeting", loud ? false }:' \
    '  seen = if loud then "${greeting}!" else greeting;'
  check "builds with NIX_ARGS" build "$dir" -f "$dir/default.nix" \
    --build-arg "NIX_ARGS=--argstr greeting 'hello with spaces' --arg loud true" -t $T/nix-args
  check "the arguments reached the expression" bash -c '[ "$(docker run --rm $T/nix-args)" = "hello with spaces!" ]'
  expect_error bad-nix-args "$dir" -f "$dir/default.nix" --build-arg "NIX_ARGS=--option sandbox false" -- "build arg NIX_ARGS"
}

test_cacert() {
  echo "cacert: SSL_CERT_FILE points at the closure's CA bundle"
  local dir=tests/fixtures/cacert
  check "builds" build "$dir" -f "$dir/default.nix" -t $T/cacert
  check "SSL_CERT_FILE set" bash -c \
    "docker image inspect $T/cacert --format '{{json .Config.Env}}' | grep -qE 'SSL_CERT_FILE=/nix/store/[a-z0-9]{32}-nss-cacert-3.101/etc/ssl/certs/ca-bundle.crt'"
  check "the program reads the bundle through it" bash -c 'docker run --rm $T/cacert | grep -q "test bundle"'
}

test_dockerignore() {
  echo "dockerignore: excluded files never reach Nix"
  local dir=$work/dockerignore
  mkdir -p "$dir"
  probe_nix "$dir/default.nix" "" \
    '  seen = if builtins.pathExists ./secret.txt then "secret.txt present" else "secret.txt absent";'
  echo "do not ship" >"$dir/secret.txt"
  printf '# comment\nsecret.txt\n' >"$dir/.dockerignore"
  check "builds" build "$dir" -f "$dir/default.nix" -t $T/dockerignore
  check ".dockerignore kept secret.txt from Nix" bash -c '[ "$(docker run --rm $T/dockerignore)" = "secret.txt absent" ]'
  rm "$dir/.dockerignore"
  check "without it the file is seen" build "$dir" -f "$dir/default.nix" -t $T/dockerignore
  check "... by the same expression" bash -c '[ "$(docker run --rm $T/dockerignore)" = "secret.txt present" ]'
  printf '/secret.txt\n' >"$dir/.dockerignore"
  check "builds with a root-anchored pattern" build "$dir" -f "$dir/default.nix" -t $T/dockerignore
  check "/secret.txt kept secret.txt from Nix" bash -c '[ "$(docker run --rm $T/dockerignore)" = "secret.txt absent" ]'
  probe_nix "$dir/default.nix" "" \
    '  seen = if builtins.pathExists ./keep.txt && !(builtins.pathExists ./secret.txt) then "keep.txt only" else "wrong files";'
  echo "keep me" >"$dir/keep.txt"
  printf '*.txt\n!/keep.txt\n' >"$dir/.dockerignore"
  check "builds with an anchored exception" build "$dir" -f "$dir/default.nix" -t $T/dockerignore
  check "*.txt + !/keep.txt: keep.txt present, secret.txt absent" bash -c '[ "$(docker run --rm $T/dockerignore)" = "keep.txt only" ]'
}

test_secret() {
  echo "secret: --secret id=netrc reaches Nix and no layer or cache blob"
  local dir=$work/secret token="nix-frontend-secret-$$-$RANDOM$RANDOM"
  rm -rf "$dir" && cp -r tests/fixtures/hello "$dir"
  printf 'machine cache.example.org login ci password %s\n' "$token" >"$work/netrc"
  check "build with the secret, exporting image and cache" build "$dir" -f "$dir/default.nix" --target hello \
    --secret "id=netrc,src=$work/netrc" --no-cache \
    --output "type=oci,dest=$work/secret.tar" --cache-to "type=local,dest=$work/secret-cache,mode=max"
  check "Nix was given the netrc" grep -q "using the netrc secret for Nix" "$work/build.log"
  check "the token is in no image blob or exported cache blob" python3 tests/lib/token_absent.py "$token" "$work/secret.tar" "$work/secret-cache"
}

test_ssh() {
  echo "ssh: --ssh default puts the client's agent where Nix evaluates (builtins.fetchGit over SSH)"
  local dir=$work/ssh
  mkdir -p "$dir"
  # Evaluated where builtins.fetchGit runs: is SSH_AUTH_SOCK set and a socket there?
  probe_nix "$dir/default.nix" "" '  sock = builtins.getEnv "SSH_AUTH_SOCK";
  seen = if sock != "" && builtins.pathExists sock then "agent forwarded" else "no agent";'
  local agent
  agent=$(ssh-agent -s) && eval "$agent" >/dev/null
  check "builds with --ssh default" build "$dir" -f "$dir/default.nix" --ssh default -t $T/ssh
  check "Nix saw the forwarded agent" bash -c '[ "$(docker run --rm $T/ssh)" = "agent forwarded" ]'
  ssh-agent -k >/dev/null 2>&1
  check "builds without --ssh" build "$dir" -f "$dir/default.nix" --no-cache -t $T/ssh-none
  check "... where Nix sees no agent" bash -c '[ "$(docker run --rm $T/ssh-none)" = "no agent" ]'
}

test_network() {
  echo "network: a fixed-output fetch from the host's 127.0.0.1 works with --network host, fails clearly without"
  local dir=tests/fixtures/network served=$work/served port hash
  mkdir -p "$served"
  serve download "$served" || return
  port=$served_port
  echo "fetched over the host network $$" >"$served/payload.txt"
  hash=$(sha256sum "$served/payload.txt" | cut -d' ' -f1)
  check "builds with --network host" build "$dir" -f "$dir/default.nix" --target app --network host \
    --build-arg "NIX_ARGS=--argstr port $port --argstr hash $hash" -t $T/network
  check "... and the image holds what was fetched" bash -c "docker run --rm $T/network | grep -q 'fetched over the host network $$'"
  # A new file (a new hash), so nothing comes from the cache: the sandbox network cannot reach it.
  echo "not reachable $$" >"$served/payload.txt"
  hash=$(sha256sum "$served/payload.txt" | cut -d' ' -f1)
  if [ "${E2E_DOCKER:-}" = standalone ]; then
    # A buildkitd on the host network without CNI (scripts/buildkit, like most CI setups) runs
    # every step in the host's network: there the sandbox reaches the loopback too.
    check "on standalone BuildKit without CNI the default network is the host's" build "$dir" \
      -f "$dir/default.nix" --target app --build-arg "NIX_ARGS=--argstr port $port --argstr hash $hash"
  else
    expect_error no-host-network "$dir" -f "$dir/default.nix" --target app \
      --build-arg "NIX_ARGS=--argstr port $port --argstr hash $hash" -- \
      "building attribute \"app\" of default.nix failed" "fetched.txt" "127.0.0.1"
  fi
  kill "$served_pid" 2>/dev/null
  # A step that only builds input-addressed derivations has no network, as in Nix's sandbox; the
  # fetch above kept it.
  check "an input-addressed build builds" build "$dir" -f "$dir/default.nix" --target interfaces -t $T/interfaces
  check "... and its build step had no network (only the loopback)" \
    bash -c '[ "$(docker run --rm $T/interfaces)" = lo ]'
  check "... with --network host it builds again" build "$dir" -f "$dir/default.nix" --target interfaces \
    --network host -t $T/interfaces
  check "... and its build step had the host's network" \
    bash -c 'docker run --rm $T/interfaces | grep -qvx lo'
}

# lock_flake DIR: `nix flake lock` of the flake in DIR, in the builder image, on the host's network.
lock_flake() {
  docker run --rm --network host -v "$1:/flake" -w /flake "$NIX_IMAGE" \
    nix --extra-experimental-features 'nix-command flakes' flake lock >"$work/lock.log" 2>&1 ||
    { fail "nix flake lock failed: $(tail -3 "$work/lock.log" | tr '\n' ' ')"; return 1; }
}

# pinned_app_nix FILE SRC: a default.nix whose app prints greeting.txt of SRC (a Nix expression,
# on the file's line 5) and ./app.txt.
pinned_app_nix() {
  cat >"$1" <<NIX
# syntax=org/nix-frontend
let
  busybox = builtins.path { name = "busybox-static"; path = /usr/bin; filter = p: t: baseNameOf p == "busybox"; };
  sh = "\${busybox}/busybox";
  src = $2;
  greeting = builtins.readFile (src + "/greeting.txt");
  app = builtins.readFile ./app.txt;
in
derivation {
  name = "pinned-app";
  system = builtins.currentSystem;
  builder = sh;
  args = [ "sh" "-c" "\${sh} mkdir -p \$out/bin && \${sh} printf '#!\${sh} sh\\necho \"\${greeting} \${app}\"\\n' > \$out/bin/app && \${sh} chmod 555 \$out/bin/app" ];
}
NIX
}

# fetched_once WHAT DIR FILE STEP SHOWN LEAF REQUESTS [FIRST]: an input pinned in FILE (in DIR)
# is fetched once. FILE builds with a progress line `fetch STEP` (an extended regex), SHOWN in
# its image's output, and asks the input's server something (REQUESTS: a command printing how
# many requests the server has seen; FIRST: how many the first build asks, if known). Then LEAF,
# a file the app prints, gets WHAT (so no quotes in it), and it builds again on this builder and
# on a fresh one over a registry cache, as a CI runner builds (`docker builder prune` also empties
# Nix's caches, which are cache mounts, so only the pin step from the imported cache can spare the
# fetch): neither build asks the server anything.
fetched_once() {
  local what=$1 dir=$2 file=$3 step=$4 shown=$5 leaf=$6 requests=$7 first=${8:-} before asked
  local cache_ref=127.0.0.1:5000/$T/pinned:cache-$RANDOM
  before=$($requests)
  check "$what builds" build "$dir" -f "$file" --network host -t "$T/app"
  check "... fetched by a step of its own" grep -qE "^#[0-9]+ fetch $step" "$work/build.log"
  asked=$(($($requests) - before))
  if [ -n "$first" ]; then
    check "... which asked the server $first times ($asked)" [ "$asked" = "$first" ]
  else
    check "... which asked the server ($asked requests)" [ "$asked" -gt 0 ]
  fi
  check "... and the image has it" bash -c "docker run --rm $T/app | grep -q '$shown'"
  before=$($requests)
  echo "$what, source changed" >"$leaf"
  check "its source changes and it builds again" build "$dir" -f "$file" --network host -t "$T/app"
  check "... its fetch step from BuildKit's cache" bash -c "grep -A1 -E '^#[0-9]+ fetch $step' '$work/build.log' | grep -q CACHED"
  check "... asking the server nothing ($(($($requests) - before)) requests)" [ "$($requests)" = "$before" ]
  check "... and the image is the new one" bash -c "docker run --rm $T/app | grep -q '$what, source changed'"
  scripts/registry
  check "exporting the cache to a registry (mode=max)" \
    build "$dir" -f "$file" --network host -t "$T/app" --cache-to "type=registry,ref=$cache_ref,mode=max"
  check "the builder pruned" bash -c 'docker builder prune -af >/dev/null'
  echo "$what, on a fresh builder" >"$leaf"
  check "a source change on a fresh builder with --cache-from" \
    build "$dir" -f "$file" --network host -t "$T/app" --cache-from "type=registry,ref=$cache_ref"
  check "... its fetch step from the imported cache" bash -c "grep -A1 -E '^#[0-9]+ fetch $step' '$work/build.log' | grep -q CACHED"
  check "... asking the server nothing ($(($($requests) - before)) requests)" [ "$($requests)" = "$before" ]
  check "... and the image is the new one" bash -c "docker run --rm $T/app | grep -q '$what, on a fresh builder'"
}

# An input pinned by its hash (a literal builtins.fetchTarball with sha256, as a pinned nixpkgs
# is) is fetched once, by a step of its own keyed by the pin: a change to the app's source
# evaluates again without downloading it. The same call without a hash is named as fetched on
# every evaluation.
test_pinned_input() {
  echo "pinned-input: a tarball pinned by its hash (literal, niv, npins) is downloaded once across source changes and on a fresh builder; one without a hash is named"
  local dir=$work/pinned served=$work/pinned-served port hash
  mkdir -p "$dir" "$served/tree"
  # Tens of megabytes, as a pinned package set is (nixpkgs: about 40 MB compressed).
  head -c 20000000 /dev/urandom >"$served/tree/payload.bin"
  echo "from the pinned tarball $$" >"$served/tree/greeting.txt"
  tar -C "$served" -czf "$served/src.tar.gz" tree
  serve pinned "$served" || return
  port=$served_port
  hash=$(docker run --rm --network host "$NIX_IMAGE" nix-prefetch-url --unpack "http://127.0.0.1:$port/src.tar.gz" 2>/dev/null)
  check "nix-prefetch-url gives the tarball's hash" test -n "$hash"
  echo "app version 1" >"$dir/app.txt"
  pinned_nix() { # pinned_nix HASH_ATTRIBUTE
    pinned_app_nix "$dir/default.nix" "builtins.fetchTarball {
    url = \"http://127.0.0.1:$port/src.tar.gz\";$1
  }"
  }
  pinned_nix "
    sha256 = \"$hash\";"
  downloads() { grep -c 'GET /src.tar.gz' "$work/pinned-http.log"; }
  fetched_once "a literal fetchTarball pinned by its hash" "$dir" "$dir/default.nix" \
    "http://127.0.0.1:$port/src.tar.gz \\(pinned in default.nix:5\\)" "from the pinned tarball $$" \
    "$dir/app.txt" downloads 1
  pinned_nix ""
  check "without a hash it builds" build "$dir" -f "$dir/default.nix" --network host -t "$T/app"
  check "... and is named as fetched on every evaluation" \
    grep -q "default.nix:5: http://127.0.0.1:$port/src.tar.gz has no hash, so every evaluation downloads it again" "$work/build.log"
  # niv: nix/sources.json read ahead; sources.nix fetches each as niv's does (<name>-src).
  mkdir -p "$dir/nix"
  printf '{"pinned": {"type": "tarball", "url": "http://127.0.0.1:%s/src.tar.gz", "sha256": "%s"}}\n' "$port" "$hash" >"$dir/nix/sources.json"
  cat >"$dir/nix/sources.nix" <<'NIX'
builtins.mapAttrs (name: spec: builtins.fetchTarball { name = "${name}-src"; inherit (spec) url sha256; })
  (builtins.fromJSON (builtins.readFile ./sources.json))
NIX
  sed -i 's|^  src = builtins.fetchTarball {$|  src = (import ./nix/sources.nix).pinned; unused = {|' "$dir/default.nix"
  fetched_once "a tarball in the niv sources.json" "$dir" "$dir/default.nix" \
    "http://127.0.0.1:$port/src.tar.gz \\(pinned in nix/sources.json \\(pinned\\)\\)" "from the pinned tarball $$" \
    "$dir/app.txt" downloads 1
  # npins: npins/sources.json read ahead; npins' default.nix fetches a Channel pin with
  # fetchTarball (its URL, its hash as sha256). The same tarball under another URL, so that its
  # step is a new one.
  cp "$served/src.tar.gz" "$served/src-npins.tar.gz"
  mkdir -p "$dir/npins"
  printf '{"pins": {"pinned": {"type": "Channel", "name": "pinned", "url": "http://127.0.0.1:%s/src-npins.tar.gz", "hash": "%s"}}, "version": 3}\n' "$port" "$hash" >"$dir/npins/sources.json"
  cat >"$dir/npins/default.nix" <<'NIX'
let data = builtins.fromJSON (builtins.readFile ./sources.json);
in builtins.mapAttrs (_: spec: builtins.fetchTarball { inherit (spec) url; sha256 = spec.hash; }) data.pins
NIX
  sed -i 's|(import ./nix/sources.nix).pinned|(import ./npins).pinned|' "$dir/default.nix"
  npins_downloads() { grep -c 'GET /src-npins.tar.gz' "$work/pinned-http.log"; }
  fetched_once "a tarball in the npins sources.json" "$dir" "$dir/default.nix" \
    "http://127.0.0.1:$port/src-npins.tar.gz \\(pinned in npins/sources.json \\(pinned\\)\\)" "from the pinned tarball $$" \
    "$dir/app.txt" npins_downloads 1
  # NIXPKGS=URL with NIXPKGS_SHA256: fetched by a step of its own, and `<nixpkgs>` is its store
  # path, so the evaluation downloads nothing; a wrong hash is Nix's hash mismatch; without the
  # hash it is named as fetched on every evaluation.
  cp "$served/src.tar.gz" "$served/src-nixpkgs.tar.gz"
  sed -i 's|(import ./npins).pinned|<nixpkgs>|' "$dir/default.nix"
  local nixpkgs_url=http://127.0.0.1:$port/src-nixpkgs.tar.gz
  nixpkgs_downloads() { grep -c 'GET /src-nixpkgs.tar.gz' "$work/pinned-http.log"; }
  check "through NIXPKGS and NIXPKGS_SHA256 it builds" build "$dir" -f "$dir/default.nix" --network host -t "$T/app" \
    --build-arg "NIXPKGS=$nixpkgs_url" --build-arg "NIXPKGS_SHA256=$hash"
  check "... fetched by a step of its own" grep -qE "^#[0-9]+ fetch $nixpkgs_url \(pinned in build arg NIXPKGS\)" "$work/build.log"
  echo "app version 5" >"$dir/app.txt"
  check "... and after a source change" build "$dir" -f "$dir/default.nix" --network host -t "$T/app" \
    --build-arg "NIXPKGS=$nixpkgs_url" --build-arg "NIXPKGS_SHA256=$hash"
  check "... downloaded once ($(nixpkgs_downloads))" [ "$(nixpkgs_downloads)" = 1 ]
  check "... and the image is the new one" bash -c "docker run --rm $T/app | grep -q 'app version 5'"
  expect_error nixpkgs-wrong-hash "$dir" -f "$dir/default.nix" --network host \
    --build-arg "NIXPKGS=$nixpkgs_url" --build-arg "NIXPKGS_SHA256=sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" -- \
    "hash mismatch" "$nixpkgs_url"
  check "without NIXPKGS_SHA256 it builds" build "$dir" -f "$dir/default.nix" --network host -t "$T/app" \
    --build-arg "NIXPKGS=$nixpkgs_url"
  check "... and is named as fetched on every evaluation" \
    grep -q "build arg NIXPKGS: $nixpkgs_url has no hash, so every evaluation downloads it again; pin it (--build-arg NIXPKGS_SHA256=" "$work/build.log"
  kill "$served_pid" 2>/dev/null
}

# A flake whose input is a tarball over HTTP, locked in flake.lock with its narHash: the locked
# input is fetched once, by a step of its own, across builds that change the flake's own source.
test_pinned_flake_input() {
  echo "pinned-flake-input: a flake's locked tarball input is downloaded once across source changes"
  local dir=$work/pinned-flake served=$work/pinned-flake-served port
  mkdir -p "$dir" "$served/tools"
  docker run --rm "$NIX_IMAGE" cat /usr/bin/busybox >"$served/tools/busybox" && chmod +x "$served/tools/busybox"
  echo "greetings from a locked input $$" >"$served/tools/greeting.txt"
  tar -C "$served" -czf "$served/tools.tar.gz" tools
  serve pinned-flake "$served" || return
  port=$served_port
  echo "message 1" >"$dir/message.txt"
  cat >"$dir/flake.nix" <<NIX
# syntax=org/nix-frontend
{
  inputs.tools = { url = "http://127.0.0.1:$port/tools.tar.gz"; flake = false; };
  outputs = { self, tools }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" ];
      forAll = f: builtins.listToAttrs (map (system: { name = system; value = f system; }) systems);
      sh = "\${tools}/busybox";
      message = builtins.readFile ./message.txt;
    in
    {
      packages = forAll (system: {
        default = derivation {
          name = "pinned-flake-app";
          inherit system;
          builder = sh;
          args = [ "sh" "-c" "\${sh} mkdir -p \$out/bin && \${sh} printf '#!\${sh} sh\\n\${sh} cat \${tools}/greeting.txt\\necho \"\${message}\"\\n' > \$out/bin/app && \${sh} chmod 555 \$out/bin/app" ];
        };
      });
    };
}
NIX
  lock_flake "$dir" || return
  ok "the flake's tarball input is locked with its narHash"
  downloads() { grep -c 'GET /tools.tar.gz' "$work/pinned-flake-http.log"; }
  fetched_once "a flake with a locked tarball input" "$dir" "$dir/flake.nix" \
    'tarball input tools \(pinned in flake.lock \(tools\)\)' "greetings from a locked input $$" \
    "$dir/message.txt" downloads 1
  # A flake takes no -I nixpkgs=: NIXPKGS with a hash is fetched by nobody, so a tarball that
  # cannot be fetched fails nothing.
  check "NIXPKGS and NIXPKGS_SHA256 are no input of a flake" build "$dir" -f "$dir/flake.nix" --network host -t "$T/app" \
    --build-arg NIXPKGS=http://127.0.0.1:9/nowhere.tar.gz \
    --build-arg NIXPKGS_SHA256=1qgpvh172a42vabzw7ls32lmybivw7zd02l05v4ygysd3lklkqpy
  kill "$served_pid" 2>/dev/null
}

test_pinned_git() {
  echo "pinned-git: a git repository pinned by its commit (a literal fetchGit, a flake's locked git input, a niv source) is fetched by a step of its own, once, on the same builder and on a fresh one with an imported cache"
  # Nix's fetchGit runs git, which the official nixos/nix image has; the test images do not, so
  # this test builds on a variant with it.
  local NIX_IMAGE
  NIX_IMAGE=$(git_builder_image) || { fail "the builder image with git is missing"; return; }
  local dir=$work/pinned-git repo=$work/pinned-git-served/repo.git src=$work/pinned-git-src port rev branch
  mkdir -p "$dir" "$src" "${repo%/*}"
  echo "greetings from a pinned repository $$" >"$src/greeting.txt"
  head -c 3000000 /dev/urandom >"$src/payload.bin"
  git -C "$src" init -q && git -C "$src" add . &&
    git -C "$src" -c user.name=t -c user.email=t@t commit -qm one ||
    { fail "making the test repository failed"; return; }
  rev=$(git -C "$src" rev-parse HEAD) branch=$(git -C "$src" branch --show-current)
  # Served by `git http-backend`, as git hosts serve (flake inputs are fetched shallow, which git's
  # dumb protocol cannot): every request of a fetch is a line of the server's log.
  git clone -q --bare "$src" "$repo" || { fail "making the served repository failed"; return; }
  serve pinned-git "${repo%/*}" --git || return
  port=$served_port
  requests() { grep -c ' /repo.git/' "$work/pinned-git-http.log"; }
  echo "app version 1" >"$dir/app.txt"
  git_nix() { # git_nix FETCH_ATTRIBUTES
    pinned_app_nix "$dir/default.nix" "builtins.fetchGit { url = \"http://127.0.0.1:$port/repo.git\";$1 }"
  }
  git_nix " rev = \"$rev\"; ref = \"$branch\";"
  local first_fetch
  fetched_once "a literal fetchGit pinned by its commit" "$dir" "$dir/default.nix" \
    "http://127.0.0.1:$port/repo.git at ${rev:0:12} \(pinned in default.nix:5\)" \
    "greetings from a pinned repository $$" "$dir/app.txt" requests
  first_fetch=$(requests)
  # A new commit: its pin step fetches it, and the evaluation's git cache, which holds the
  # repository at the old commit, takes the new objects from the pin step's repository.
  echo "greetings from the second commit $$" >"$src/greeting.txt"
  git -C "$src" -c user.name=t -c user.email=t@t commit -qam two && git -C "$src" push -q "$repo" "$branch" ||
    { fail "adding a commit to the test repository failed"; return; }
  local rev2 before_bump
  rev2=$(git -C "$src" rev-parse HEAD) before_bump=$(requests)
  git_nix " rev = \"$rev2\"; ref = \"$branch\";"
  check "a new commit builds" build "$dir" -f "$dir/default.nix" --network host -t "$T/app"
  check "... fetched by its pin step alone ($(( $(requests) - before_bump )) requests, as the first build's $first_fetch)" \
    [ "$(( $(requests) - before_bump ))" = "$first_fetch" ]
  check "... and the image has it" bash -c "docker run --rm $T/app | grep -q 'greetings from the second commit $$'"
  # A flake's locked git input: fetched by fetchTree's git fetcher, which looks in the same cache.
  mkdir -p "$dir/flake"
  echo "flake 1" >"$dir/flake/message.txt"
  docker run --rm "$NIX_IMAGE" cat /usr/bin/busybox >"$dir/flake/busybox" && chmod +x "$dir/flake/busybox"
  cat >"$dir/flake/flake.nix" <<NIX
# syntax=org/nix-frontend
{
  inputs.lib = { url = "git+http://127.0.0.1:$port/repo.git?ref=$branch&rev=$rev"; flake = false; };
  outputs = { self, lib }:
    let
      sh = "\${self}/busybox";
      message = builtins.readFile ./message.txt;
      greeting = builtins.readFile "\${lib}/greeting.txt";
    in
    {
      packages.x86_64-linux.default = derivation {
        name = "pinned-git-flake";
        system = "x86_64-linux";
        builder = sh;
        args = [ "sh" "-c" "\${sh} mkdir -p \$out/bin && \${sh} printf '#!\${sh} sh\\\\necho \"\${greeting} \${message}\"\\\\n' > \$out/bin/app && \${sh} chmod 555 \$out/bin/app" ];
      };
    };
}
NIX
  lock_flake "$dir/flake" || return
  docker builder prune -af >/dev/null
  fetched_once "a flake with a locked git input" "$dir/flake" "$dir/flake/flake.nix" \
    'git input lib \(pinned in flake.lock \(lib\)\)' \
    "greetings from a pinned repository $$" "$dir/flake/message.txt" requests
  # niv's git source: nix/sources.json read ahead, fetched with fetchGit as niv's sources.nix does.
  mkdir -p "$dir/nix"
  printf '{"lib": {"type": "git", "repo": "http://127.0.0.1:%s/repo.git", "rev": "%s", "branch": "%s"}}\n' \
    "$port" "$rev2" "$branch" >"$dir/nix/sources.json"
  cat >"$dir/nix/sources.nix" <<'NIX'
builtins.mapAttrs (name: spec: builtins.fetchGit { url = spec.repo; inherit (spec) rev; ref = "refs/heads/${spec.branch}"; })
  (builtins.fromJSON (builtins.readFile ./sources.json))
NIX
  pinned_app_nix "$dir/default.nix" "(import ./nix/sources.nix).lib"
  fetched_once "a niv git source" "$dir" "$dir/default.nix" \
    "http://127.0.0.1:$port/repo.git at ${rev2:0:12} \(pinned in nix/sources.json \(lib\)\)" \
    "greetings from the second commit $$" "$dir/app.txt" requests
  # Without a commit the branch can move: fetched by the evaluation, and said.
  git_nix " ref = \"$branch\";"
  check "without a rev it builds" build "$dir" -f "$dir/default.nix" --network host -t "$T/app"
  check "... and is named as fetched on every evaluation" \
    grep -q "default.nix:5: http://127.0.0.1:$port/repo.git has no rev, so every evaluation fetches it again" "$work/build.log"
  kill "$served_pid" 2>/dev/null
}
