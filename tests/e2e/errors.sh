# shellcheck shell=bash
# End-to-end tests of every error class with its line; hostile builds and shell-syntax inputs.
# Sourced by tests/e2e.sh (after tests/lib/common.sh); test_NAME runs as `tests/e2e.sh NAME`.

test_errors() {
  echo "errors: one readable message naming the file and line"
  local e=$work/errors
  mkdir -p "$e"/{missing,syntax,eval,attr,fail,run}
  printf '# syntax=org/nix-frontend\nCMD ["x"]\n' >"$e/missing/Dockerfile"
  printf '# syntax=org/nix-frontend\n{\n  hello = 1 +;\n}\n' >"$e/syntax/default.nix"
  printf '# syntax=org/nix-frontend\nlet x = 1; in\n{ hello = throw "this package is broken"; }\n' >"$e/eval/default.nix"
  printf '# syntax=org/nix-frontend\n{ hello = 1; }\n' >"$e/attr/default.nix"
  cat >"$e/fail/default.nix" <<'NIX'
# syntax=org/nix-frontend
{
  hello = derivation {
    name = "failing";
    system = builtins.currentSystem;
    builder = "/bin/sh";
    args = [ "-c" "echo compiling >&2; echo 'main.c:3: expected ;' >&2; exit 3" ];
  };
}
NIX
  printf '# syntax=org/nix-frontend\nENV A=b\n\nRUN make\n' >"$e/run/Dockerfile"
  expect_error missing-default-nix "$e/missing" -- "default.nix: no such file in the build context"
  expect_error nix-syntax "$e/syntax" -f "$e/syntax/default.nix" --target hello -- "syntax error" "default.nix:3:"
  expect_error nix-eval "$e/eval" -f "$e/eval/default.nix" --target hello -- "this package is broken" "default.nix:3:"
  expect_error unknown-attribute "$e/attr" -f "$e/attr/default.nix" --target nope -- "attribute 'nope'" "not found"
  expect_error failing-build "$e/fail" -f "$e/fail/default.nix" --target hello -- "building attribute \"hello\" of default.nix failed" "main.c:3: expected ;" "failed with exit code 3"
  expect_error run-instruction "$e/run" -- "Dockerfile:4: RUN is not supported" "default.nix"
  check "the CLI shows the offending Dockerfile line" grep -q '^   4 | >>> RUN make' "$work/error-run-instruction.log"
  check "the CLI shows the line of default.nix Nix names" grep -q '^   3 | >>>   hello = 1 +;' "$work/error-nix-syntax.log"
  expect_error bad-nix-file-arg "$e/attr" -f "$e/attr/default.nix" --build-arg NIX_FILE=../x.nix -- "build arg NIX_FILE" "leaves the build context"
}

test_dialect_errors() {
  echo "dialect errors: each bad input fails naming the line"
  local e=$work/dialect-errors
  mkdir -p "$e"
  cp tests/fixtures/hello/default.nix "$e/"
  local name text needle
  while IFS='|' read -r name text needle; do
    printf '# syntax=org/nix-frontend\n# attr=hello\n%b' "$text" >"$e/Dockerfile"
    expect_error "$name" "$e" -- "$needle"
  done <<'CASES'
unknown-instruction|ENV A=b\nENTRYPIONT ["hello"]\n|Dockerfile:4: unknown instruction ENTRYPIONT (did you mean ENTRYPOINT?)
bad-json-array|CMD ["a", 1]\n|Dockerfile:3: the exec form must be a JSON array of strings
unterminated-quote|\nENTRYPOINT hello "unterminated\n|Dockerfile:4: unterminated quote
run-step|RUN make\n|Dockerfile:3: RUN is not supported
second-from|FROM scratch\nFROM scratch AS app\n|Dockerfile:4: a second FROM (the first is on line 3)
arg-before-declared|LABEL v=$VERSION\nARG VERSION=1\n|Dockerfile:3: $VERSION is used before its ARG VERSION is declared
label-without-value|LABEL justakey\n|Dockerfile:3: LABEL "justakey" has no value
bad-healthcheck|HEALTHCHECK --interval=soon CMD ["x"]\n|Dockerfile:3: HEALTHCHECK --interval=soon is not a duration
bad-expose|EXPOSE http\n|Dockerfile:3: EXPOSE "http" is not a port
CASES
}

test_hostile() {
  echo "hostile: builds that tamper with the frontend's output, and user strings with shell syntax"
  local dir=tests/fixtures/hostile
  # A builder that builds as nixbld users (nixos/nix) stops the writes into /out itself; one that
  # builds as root leaves them to the frontend's checks.
  local plan target
  if docker run --rm "$NIX_IMAGE" sh -c 'grep -qE "^build-users-group *= *[a-z]" /etc/nix/nix.conf'; then
    for plan in graph single; do
      for target in extraLayer plantedTmp rootLink; do
        expect_error "${target,,}-$plan" "$dir" -f "$dir/default.nix" --target "$target" --build-arg "NIX_ARGS=--argstr nonce $$" \
          --build-arg "NIX_PLAN=$plan" -- "Permission denied"
      done
    done
  else
    expect_error extra-layer "$dir" -f "$dir/default.nix" --target extraLayer --build-arg "NIX_ARGS=--argstr nonce $$" --build-arg NIX_PLAN=single -- "differ from the closure"
    # In graph mode a planted tree is no closure path, so nothing copies it.
    check "graph mode: an extra tree beside the outputs builds" build "$dir" -f "$dir/default.nix" --target extraLayer --build-arg "NIX_ARGS=--argstr nonce $$" \
      --output "type=oci,dest=$work/extra.tar"
    check "... and never reaches the image" bash -c "! python3 tests/lib/oci_files.py '$work/extra.tar' | grep -qE -- '-evil|shadow'"
    for plan in graph single; do
      expect_error "planted-tmp-$plan" "$dir" -f "$dir/default.nix" --target plantedTmp --build-arg "NIX_ARGS=--argstr nonce $$" --build-arg "NIX_PLAN=$plan" -- \
        "unexpected entries in its tmp directory"
      expect_error "root-link-$plan" "$dir" -f "$dir/default.nix" --target rootLink --build-arg "NIX_ARGS=--argstr nonce $$" --build-arg "NIX_PLAN=$plan" -- \
        "unexpected root entry"
    done
  fi
  check "symlinks leaving a store path build" build "$dir" -f "$dir/default.nix" --target links \
    --output "type=oci,dest=$work/links.tar"
  check "... and are copied as links, not followed" bash -c \
    "python3 tests/lib/oci_files.py '$work/links.tar' | grep -qP -- '-links/shadow-link\tlink\t1\t0:0\t/etc/shadow$' &&
     python3 tests/lib/oci_files.py '$work/links.tar' | grep -qP -- '-links/etc-link\tlink\t1\t0:0\t../../../../etc$' &&
     ! python3 tests/lib/oci_files.py '$work/links.tar' | grep -qP '^/etc(/|\t)'"
  # Each payload would print PWNED (spelled apart in the text itself) if a shell ran it in the
  # builder, where that output would land in the build log.
  local payload="\$(printf 'PWN%s' ED >&2);\`printf 'PWN%s' ED >&2\`'\""
  # Spaces separate attributes: the attribute's payload has none (the shell's IFS stands in).
  local attr_payload="\$(printf\${IFS}PWN%s\${IFS}ED>&2);\`printf\${IFS}PWN%s\${IFS}ED>&2\`'\""
  expect_error shell-syntax-target "$dir" -f "$dir/default.nix" --target "links;$attr_payload" -- "selection path 'links;\$(printf\${IFS}PWN%s\${IFS}ED>&2)"
  check "the attribute's shell syntax never ran" bash -c "! grep -q PWNED '$work/error-shell-syntax-target.log'"
  check "a NIX_ARGS value with shell syntax is one argument" build "$dir" -f "$dir/default.nix" --target links \
    --build-arg "NIX_ARGS=--argstr x '\$(printf PWN%s ED >&2);\`printf PWN%s ED\`'" -t $T/args
  check "... that never ran" bash -c "! grep -q PWNED '$work/build.log'"
  expect_error shell-syntax-file "$dir" -f "$dir/default.nix" --target links --build-arg "NIX_FILE=default.nix;$payload" -- "no such file in the build context"
  check "the file name's shell syntax never ran" bash -c "! grep -q PWNED '$work/error-shell-syntax-file.log'"
  expect_error newline-target "$dir" -f "$dir/default.nix" --target "links
echo PWN''ED" -- "--target" "control character"
}

test_check() {
  echo "check: --check (buildx 0.15+) passes a good build file and fails a bad one with its line"
  if ! docker buildx build --help 2>&1 | grep -q -- '--check'; then
    skip "$(docker buildx version | cut -d' ' -f1-2) has no --check"
    return
  fi
  local e=$work/check out
  mkdir -p "$e/run"
  printf '# syntax=org/nix-frontend\nENV A=b\n\nRUN make\n' >"$e/run/Dockerfile"
  out=$(build_raw tests/fixtures/hello --check 2>&1)
  check "a good build file checks clean" grep -q 'Check complete, no warnings found' <<<"$out"
  out=$(build_raw "$e/run" --check 2>&1)
  check "--check fails on a RUN instruction" test $? != 0
  check "... naming Dockerfile:4" grep -qF 'Dockerfile:4: RUN is not supported' <<<"$out"
  check "... and showing the line" grep -q '^   4 | >>> RUN make' <<<"$out"
  mkdir -p "$e/nix"
  printf '# syntax=org/nix-frontend\n{\n  hello = 1\n}\n' >"$e/nix/default.nix"
  out=$(build_raw "$e/nix" -f "$e/nix/default.nix" --check 2>&1)
  check "--check fails on a Nix syntax error" test $? != 0
  check "... naming default.nix:4" grep -qF "default.nix:4: syntax error, unexpected '}', expecting ';'" <<<"$out"
}

test_error_file() {
  echo "error-file: a Nix error in another file is shown on that file's lines"
  local e=$work/error-file
  mkdir -p "$e/imported/lib" "$e/other"
  printf '# syntax=org/nix-frontend\n{\n  hello = import ./lib/broken.nix;\n}\n' >"$e/imported/default.nix"
  printf '# a helper\nlet x = 1; in\nthrow "broken in lib"\n' >"$e/imported/lib/broken.nix"
  expect_error imported-file "$e/imported" -f "$e/imported/default.nix" --target hello -- "broken in lib" "lib/broken.nix:3:"
  check "the CLI shows the imported file's line" grep -q '^   3 | >>> throw "broken in lib"' "$work/error-imported-file.log"
  check "... under that file's name" grep -q '^lib/broken.nix:3$' "$work/error-imported-file.log"
  printf '# syntax=org/nix-frontend\n{ hello = 1; }\n' >"$e/other/default.nix"
  printf '# other\n{ hello = 1 +; }\n' >"$e/other/other.nix"
  expect_error nix-file-arg "$e/other" -f "$e/other/default.nix" --build-arg NIX_FILE=other.nix --target hello -- "syntax error" "other.nix:2:"
  check "the CLI shows other.nix's line" grep -q '^   2 | >>> { hello = 1 +; }' "$work/error-nix-file-arg.log"
  check "... never default.nix's" bash -c "! grep -q '>>> { hello = 1; }' '$work/error-nix-file-arg.log'"
  # An error naming a file .dockerignore leaves out never shows that file's lines.
  mkdir -p "$e/ignored"
  printf '# syntax=org/nix-frontend\n{ hello = throw "failed at /src/secret.key:1:1"; }\n' >"$e/ignored/default.nix"
  echo "TOPSECRET-$$" >"$e/ignored/secret.key" && echo secret.key >"$e/ignored/.dockerignore"
  expect_error ignored-file "$e/ignored" -f "$e/ignored/default.nix" --target hello -- "failed at"
  check "... without the ignored file's text" bash -c "! grep -q 'TOPSECRET-$$' '$work/error-ignored-file.log'"
}
