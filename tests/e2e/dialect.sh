# shellcheck shell=bash
# End-to-end tests of the Dockerfile dialect in the image config; several outputs, flakes, --print.
# Sourced by tests/e2e.sh (after tests/lib/common.sh); test_NAME runs as `tests/e2e.sh NAME`.

test_dialect() {
  echo "dialect: every instruction lands in the image config"
  local dir=tests/fixtures/dialect
  check "builds with --build-arg GREETING" build "$dir" --build-arg GREETING=hi-from-arg --build-arg UNUSED=1 \
    --label org.example.cli=yes -t $T/dialect
  check "warns of MAINTAINER in the build summary" grep -q "Dockerfile:19: MAINTAINER is deprecated" "$work/build.log"
  check "warns of a build arg nothing consumed" grep -q "build args not consumed: UNUSED" "$work/build.log"
  local config
  config=$(inspect $T/dialect '{{json .Config}}')
  check "ARG + ENV with \${GREETING:-hello} from --build-arg" grep -q '"GREETING=hi-from-arg"' <<<"$config"
  check "ENV with \$PORT from the ARG default" grep -q '"LISTEN=:8080"' <<<"$config"
  check "legacy ENV K V" grep -q '"LEGACY=form with spaces"' <<<"$config"
  check "passthru.imageConfig Env under the Dockerfile" grep -q '"MODE=package"' <<<"$config"
  check "EXPOSE from ARG, Dockerfile and passthru" bash -c \
    "[ \"\$(docker image inspect $T/dialect --format '{{range \$p, \$v := .Config.ExposedPorts}}{{\$p}} {{end}}')\" = '53/udp 8080/tcp 9000/tcp ' ]"
  check "USER" test "$(inspect $T/dialect '{{.Config.User}}')" = "app:app"
  check "WORKDIR relative to the previous one" test "$(inspect $T/dialect '{{.Config.WorkingDir}}')" = "/srv/data"
  check "VOLUME" test "$(inspect $T/dialect '{{json .Config.Volumes}}')" = '{"/srv/data/cache":{}}'
  check "STOPSIGNAL" test "$(inspect $T/dialect '{{.Config.StopSignal}}')" = "SIGINT"
  check "HEALTHCHECK" test "$(inspect $T/dialect '{{json .Config.Healthcheck}}')" = \
    '{"Test":["CMD","whoami"],"Interval":30000000000,"Timeout":5000000000,"Retries":3}'
  check "CMD" test "$(inspect $T/dialect '{{json .Config.Cmd}}')" = '["--verbose"]'
  check "Entrypoint from meta.mainProgram" bash -c \
    "docker image inspect $T/dialect --format '{{json .Config.Entrypoint}}' | grep -qE '^\[\"/nix/store/[a-z0-9]{32}-whoami-3.1/bin/whoami\"\]$'"
  local label
  label() { inspect $T/dialect "{{index .Config.Labels \"$1\"}}"; }
  check "LABEL with ARG substitution over meta's version" test "$(label org.opencontainers.image.version)" = "8080-custom"
  check "label from meta.description" test "$(label org.opencontainers.image.description)" = "Says who it runs as"
  check "label from meta.license" test "$(label org.opencontainers.image.licenses)" = "MIT"
  check "label from pname" test "$(label org.opencontainers.image.title)" = "whoami"
  check "label from meta.homepage" test "$(label org.opencontainers.image.url)" = "https://github.com/example/whoami"
  check "label from passthru.imageConfig" test "$(label org.example.from)" = "passthru"
  check "--label" test "$(label org.example.cli)" = "yes"
  check "MAINTAINER" test "$(label maintainer)" = "someone@example.org"
  local out
  out=$(docker run --rm $T/dialect)
  check "runs as the non-root USER in the WORKDIR, /tmp writable: $(echo "$out" | tr '\n' ' ')" \
    test "$out" = "$(printf 'user=app uid=1000 dir=/srv/data greeting=hi-from-arg\ntmp-writable')"
  build "$dir" --output "type=oci,dest=$work/dialect.tar"
  check "/tmp is 1777 and /etc/passwd root-owned in the image" bash -c \
    "python3 tests/lib/oci_files.py '$work/dialect.tar' | grep -qP '^/etc/passwd\tfile\t1\t0:0$' &&
     tar -xOf '$work/dialect.tar' >/dev/null && python3 tests/lib/tmp_mode.py '$work/dialect.tar'"
}

test_user_dirs() {
  echo "user_dirs: USER owns its WORKDIR, VOLUME and declared directories, named, numeric or root"
  local dir=tests/fixtures/dialect out
  check "builds (USER app:app)" build "$dir" -t $T/user-dirs
  out=$(docker run --rm -e PROBE="/srv/data /srv/data/cache /var/lib/whoami" $T/user-dirs 2>&1)
  check "app writes to WORKDIR, VOLUME and a declared directory: $(echo "$out" | tr '\n' ' ')" \
    test "$(echo "$out" | grep -c 'writable by 1000$')" = 3
  out=$(docker run --rm -e PROBE=/var/log/whoami $T/user-dirs 2>&1)
  check "... but not to one declared with owner root: $(echo "$out" | tr '\n' ' ')" \
    test "$(grep -c 'writable by' <<<"$out")/$(grep -c 'Permission denied' <<<"$out")" = 0/1
  build "$dir" --output "type=oci,dest=$work/user-dirs.tar"
  check "owners and modes in the image: WORKDIR 1000:1000, its parent root, the declared 0700" bash -c "
    python3 tests/lib/oci_files.py '$work/user-dirs.tar' --modes >'$work/user-dirs.files' &&
    grep -qP '^/srv/data\tdir\t1\t1000:1000\t755$' '$work/user-dirs.files' &&
    grep -qP '^/srv/data/cache\tdir\t1\t1000:1000\t755$' '$work/user-dirs.files' &&
    grep -qP '^/srv\tdir\t1\t0:0\t755$' '$work/user-dirs.files' &&
    grep -qP '^/var/lib/whoami\tdir\t1\t1000:1000\t700$' '$work/user-dirs.files' &&
    grep -qP '^/var/log/whoami\tdir\t1\t0:0\t755$' '$work/user-dirs.files'"
  # The same package with a numeric USER, and with root, from Dockerfiles beside the context.
  printf '# syntax=org/nix-frontend\n# attr=whoami\nUSER 1234:1234\nWORKDIR /data\nVOLUME /state\n' >"$work/Dockerfile.numeric"
  check "builds with USER 1234:1234" build "$dir" -f "$work/Dockerfile.numeric" -t $T/user-dirs-numeric
  out=$(docker run --rm -e PROBE="/data /state /var/lib/whoami" $T/user-dirs-numeric 2>&1)
  check "uid 1234 writes to WORKDIR, VOLUME and the declared directory: $(echo "$out" | tr '\n' ' ')" \
    test "$(echo "$out" | grep -c 'writable by 1234$')" = 3
  check "... and is user1234 in /etc/passwd with that home" grep -q '^user=user1234 uid=1234 dir=/data' <<<"$out"
  printf '# syntax=org/nix-frontend\n# attr=whoami\nWORKDIR /data\n' >"$work/Dockerfile.root"
  check "builds as root" build "$dir" -f "$work/Dockerfile.root" -t $T/user-dirs-root
  out=$(docker run --rm -e PROBE="/data /var/lib/whoami" $T/user-dirs-root 2>&1)
  check "root writes there: $(echo "$out" | tr '\n' ' ')" test "$(echo "$out" | grep -c 'writable by 0$')" = 2
}

test_outputs() {
  echo "outputs: a derivation with several outputs gives the selected output's closure"
  local dir=tests/fixtures/outputs
  check "builds" build "$dir" -f "$dir/default.nix" --target tool -t $T/outputs
  check "runs" bash -c '[ "$(docker run --rm $T/outputs)" = "tool without its docs" ]'
  build "$dir" -f "$dir/default.nix" --target tool --output "type=oci,dest=$work/outputs.tar"
  check "no doc output in the image" bash -c \
    "! python3 tests/lib/oci_files.py '$work/outputs.tar' | grep -q -- '-tool-1.0-doc'"
  check "--target tool.doc selects the doc output" build "$dir" -f "$dir/default.nix" --target tool.doc \
    --output "type=oci,dest=$work/outputs-doc.tar"
  check "... whose image holds the manual" bash -c \
    "python3 tests/lib/oci_files.py '$work/outputs-doc.tar' | grep -q -- '-tool-1.0-doc/share/doc/manual.txt'"
}

test_flake() {
  echo "flake: flake.nix with a path: input"
  local dir=$work/flake
  rm -rf "$dir" && cp -r tests/fixtures/flake "$dir"
  docker run --rm "$NIX_IMAGE" cat /usr/bin/busybox >"$dir/tools/busybox" && chmod +x "$dir/tools/busybox"
  check "Dockerfile with # nix=flake.nix builds packages.<system>.default" build "$dir" -t $T/flake
  check "... and runs" bash -c '[ "$(docker run --rm $T/flake)" = "$(printf "hello from a path: input\nfrom the default package of the flake")" ]'
  check "... labelled from its meta (evaluated purely)" bash -c \
    "[ \"\$(docker image inspect $T/flake --format '{{index .Config.Labels \"org.opencontainers.image.description\"}}')\" = 'Greets from a flake' ]"
  check "... and --sbom=true names its license" bash -c "
    docker buildx build --progress=plain --build-arg NIX_IMAGE=$NIX_IMAGE ${FRONTEND:+--build-arg BUILDKIT_SYNTAX=$FRONTEND} \
      --sbom=true --output type=oci,dest=$work/flake-sbom.tar $dir >$work/flake-sbom.log 2>&1 &&
    python3 -c '
import sys, tarfile
sys.path.insert(0, \"tests/lib\")
from sbom_check import statements
with tarfile.open(sys.argv[1]) as archive:
    document = [s for kind, _, s in statements(archive) if kind == \"https://spdx.dev/Document\"][0][\"predicate\"]
greeter = [p for p in document[\"packages\"] if p[\"name\"] == \"flake-greeter\"]
assert [p[\"licenseDeclared\"] for p in greeter] == [\"MIT\"], greeter
' $work/flake-sbom.tar"
  local out
  out=$(BUILDX_EXPERIMENTAL=1 build_raw "$dir" -f "$dir/flake.nix" "$(call_flag)=targets" 2>&1)
  check "targets of the flake: its packages (evaluated purely)" bash -c "grep -qE '^default ' <<<\"\$1\" && grep -qE '^other ' <<<\"\$1\"" _ "$out"
  check "-f flake.nix --target other" build "$dir" -f "$dir/flake.nix" --target other -t $T/flake-other
  check "... runs packages.<system>.other" bash -c '[ "$(docker run --rm $T/flake-other | tail -1)" = "from packages.other" ]'
  rm "$dir/Dockerfile"
  printf '# syntax=org/nix-frontend\n# nix=.#other\n' >"$work/flake-other.Dockerfile"
  check "# nix=.#other directive" build "$dir" -f "$work/flake-other.Dockerfile" -t $T/flake-directive
  check "... runs packages.<system>.other" bash -c '[ "$(docker run --rm $T/flake-directive | tail -1)" = "from packages.other" ]'
}

test_print() {
  local flag
  flag=$(call_flag)
  echo "print: $flag=targets and $flag=outline"
  local out
  out=$(BUILDX_EXPERIMENTAL=1 build_raw tests/fixtures/hello -f tests/fixtures/hello/default.nix "$flag=targets" 2>&1)
  check "targets of hello/default.nix" grep -qE '^hello +' <<<"$out"
  out=$(BUILDX_EXPERIMENTAL=1 build_raw tests/fixtures/dialect "$flag=targets" 2>&1)
  check "targets with descriptions and the default" grep -qE '^whoami \(default\) +Says who it runs as' <<<"$out"
  out=$(BUILDX_EXPERIMENTAL=1 build_raw tests/fixtures/chain -f tests/fixtures/chain/default.nix "$flag=targets" 2>&1)
  check "targets of a file that is a function" grep -qE '^top ' <<<"$out"
  out=$(BUILDX_EXPERIMENTAL=1 build_raw tests/fixtures/dialect "$flag=outline" 2>&1)
  check "outline lists ARG PORT with its default and comment" grep -qE '^PORT +8080 +The port the service listens on.' <<<"$out"
  check "outline lists NIX_IMAGE with its value" grep -qE "^NIX_IMAGE +$NIX_IMAGE" <<<"$out"
}
