# shellcheck shell=bash
# End-to-end tests of Docker's options as nix-frontend takes them: --check (the lint
# subrequest), --build-context, and bad option values.
# Sourced by tests/e2e.sh (after tests/lib/common.sh); test_NAME runs as `tests/e2e.sh NAME`.

# lint_run NAME DIR [ARGS...]: the check of DIR's build file, output in $work/lint-NAME.log,
# exit status in $work/lint-NAME.rc. buildx 0.13 has no --check: `--print=lint` asks the same
# subrequest (BUILDX_EXPERIMENTAL=1); buildx 0.15+ would take `--check`.
lint_run() {
  local name=$1 dir=$2; shift 2
  BUILDX_EXPERIMENTAL=1 build_raw "$dir" --print=lint "$@" >"$work/lint-$name.log" 2>&1
  echo $? >"$work/lint-$name.rc"
}

test_lint() {
  echo "lint: --check reports every error and warning of the build file with its line"
  local l=$work/lint
  mkdir -p "$l"/{clean,run,warn}
  for d in clean run warn; do cp tests/fixtures/hello/default.nix "$l/$d/"; done
  printf '# syntax=org/nix-frontend\n# attr=hello\nENV A=b\nCMD ["--greeting", "hi"]\n' >"$l/clean/Dockerfile"
  printf '# syntax=org/nix-frontend\n# attr=hello\nENV A=b\nRUN make\nEXPOSE http\nENTRYPIONT ["x"]\n' >"$l/run/Dockerfile"
  printf '# syntax=org/nix-frontend\n# attr=hello\nMAINTAINER someone\nENV A=b\n' >"$l/warn/Dockerfile"
  lint_run clean "$l/clean"
  check "a clean file: exit 0" [ "$(cat "$work/lint-clean.rc")" = 0 ]
  check "... 'no warnings found'" grep -q "Check complete, no warnings found." "$work/lint-clean.log"
  lint_run run "$l/run"
  check "a file with RUN: exit non-zero" [ "$(cat "$work/lint-run.rc")" != 0 ]
  check "... the RUN line named" grep -q "Dockerfile:4: RUN is not supported" "$work/lint-run.log"
  check "... and shown by the CLI" grep -q '^   4 | >>> RUN make' "$work/lint-run.log"
  check "... with the other errors and their lines" bash -c \
    "grep -q 'InvalidInstruction - Dockerfile:5' '$work/lint-run.log' && grep -q 'UnknownInstruction - Dockerfile:6' '$work/lint-run.log' && grep -q 'did you mean ENTRYPOINT' '$work/lint-run.log'"
  check "... nothing was built (no Nix step ran)" bash -c "! grep -q 'evaluate default.nix' '$work/lint-run.log'"
  lint_run warn "$l/warn" --build-arg UNUSED_ARG=1
  check "a file with warnings: MAINTAINER with its line" grep -q "WARNING: MaintainerDeprecated - Dockerfile:3" "$work/lint-warn.log"
  check "... unused build args" grep -q "build args not consumed: UNUSED_ARG" "$work/lint-warn.log"
  check "... counted" grep -q "Check complete, 2 warnings have been found!" "$work/lint-warn.log"
  # The Nix file's syntax, checked without Nix: as the build file, and as the file a Dockerfile names.
  mkdir -p "$l"/{nix,named}
  printf '# syntax=org/nix-frontend\n{\n  hello = derivation {\n    name = "x"\n    system = "x";\n  };\n}\n' >"$l/nix/default.nix"
  lint_run nix "$l/nix" -f "$l/nix/default.nix"
  check "a Nix file with a syntax error: exit non-zero" [ "$(cat "$work/lint-nix.rc")" != 0 ]
  check "... its line and Nix's wording" grep -qF "default.nix:5: syntax error, unexpected '=', expecting ';'" "$work/lint-nix.log"
  check "... shown by the CLI" grep -q '^   5 | >>>     system = "x";' "$work/lint-nix.log"
  check "... without a builder (no Nix step ran)" bash -c "! grep -qE 'evaluate|builder image' '$work/lint-nix.log'"
  printf 'let\n  x = 1;\nin {\n  hello = x;\n' >"$l/named/app.nix"
  printf '# syntax=org/nix-frontend\n# nix=app.nix\nENV A=b\n' >"$l/named/Dockerfile"
  lint_run named "$l/named"
  check "a Dockerfile naming a Nix file that does not parse: exit non-zero" [ "$(cat "$work/lint-named.rc")" != 0 ]
  check "... the Nix file's line" grep -qF "app.nix:4: syntax error, unexpected end of file" "$work/lint-named.log"
  check "... shown on that file" grep -q '^   4 | >>>   hello = x;' "$work/lint-named.log"
}

test_build_context() {
  echo "build-context: --build-context NAME=DIR is <NAME> for Nix files and overrides a flake input"
  local dir=$work/bc nixpkgs=$work/bc-nixpkgs
  mkdir -p "$dir" "$nixpkgs"
  # The named directory's own .dockerignore applies to it (as dockerui does): its key stays out.
  printf '{ ... }: { greeting = "from the named context" + (if builtins.pathExists ./secret.key then " and its secret.key" else ""); }\n' >"$nixpkgs/default.nix"
  echo "not for the build" >"$nixpkgs/secret.key" && printf '*.key\n' >"$nixpkgs/.dockerignore"
  probe_nix "$dir/default.nix" "" '  seen = (import <nixpkgs> { }).greeting;'
  local plan
  for plan in graph single; do
    check "import <nixpkgs> from --build-context nixpkgs=DIR ($plan)" build "$dir" -f "$dir/default.nix" \
      --build-context "nixpkgs=$nixpkgs" --build-arg "NIX_PLAN=$plan" -t "$T/bc-$plan"
    check "... the expression saw that directory, without what its .dockerignore excludes ($plan)" bash -c \
      "[ \"\$(docker run --rm $T/bc-$plan)\" = 'from the named context' ]"
  done
  local image=$work/bc-image
  mkdir -p "$image" && cp "$nixpkgs/default.nix" "$image/" && printf 'FROM scratch\nCOPY default.nix /\n' >"$image/Dockerfile"
  docker buildx build -q -t $T/bc-nixpkgs-image "$image" >/dev/null 2>&1
  check "import <nixpkgs> from --build-context nixpkgs=docker-image://REF" build "$dir" -f "$dir/default.nix" \
    --build-context "nixpkgs=docker-image://$T/bc-nixpkgs-image" -t $T/bc-image
  check "... the expression saw that image's files" bash -c \
    "[ \"\$(docker run --rm $T/bc-image)\" = 'from the named context' ]"
  local flake=$work/bc-flake tools=$work/bc-tools
  rm -rf "$flake" "$tools" && cp -r tests/fixtures/flake "$flake" && mkdir -p "$tools"
  docker run --rm "$NIX_IMAGE" cat /usr/bin/busybox >"$tools/busybox" && chmod +x "$tools/busybox"
  echo "hello from a named context" >"$tools/greeting.txt"
  check "a flake whose input 'tools' is a named context builds" build "$flake" --build-context "tools=$tools" -t $T/bc-flake
  check "... with the named context's content" bash -c \
    '[ "$(docker run --rm $T/bc-flake | head -1)" = "hello from a named context" ]'
  # buildx itself refuses names with shell syntax (`a;b`: "invalid context name"); path syntax
  # reaches the frontend, which refuses it (the unit tests cover shell syntax there too).
  expect_error bad-context-name "$dir" -f "$dir/default.nix" --build-context "x:5000/y=$nixpkgs" -- "--build-context" "is not a context name"
  expect_error path-context-name "$dir" -f "$dir/default.nix" --build-context "sub/dir=$nixpkgs" -- "--build-context" "is not a context name"
  expect_error shell-context-name "$dir" -f "$dir/default.nix" --build-context "a;b=$nixpkgs" -- "invalid context name a;b"
  expect_error bad-network "$dir" -f "$dir/default.nix" --network bogus -- 'network mode "bogus"'
  check "... nothing ran" bash -c "! grep -q 'evaluate default.nix' '$work/error-bad-network.log' '$work/error-bad-context-name.log'"
}
