# shellcheck shell=bash
# End-to-end tests of images of several packages (`--target "a b c"`, `# attr=a b c`): one
# closure, every package's programs under /bin, the merged root, SSL_CERT_FILE and TZDIR, and
# collisions. Sourced by tests/e2e.sh (after tests/lib/common.sh).

test_packages() {
  echo "packages: three packages in one image, in both plans"
  local dir=tests/fixtures/packages plan image
  for plan in graph single; do
    image=$T/packages-$plan
    check "[$plan] --target \"app tools data\" builds" build "$dir" -f "$dir/default.nix" \
      --target "app tools data" --build-arg "NIX_PLAN=$plan" -t "$image"
    check "[$plan] the first package's program is the entrypoint" \
      bash -c "[ \"\$(docker run --rm $image)\" = 'app from packages' ]"
    check "[$plan] the second's runs as /bin/prog2" \
      bash -c "[ \"\$(docker run --rm --entrypoint /bin/prog2 $image)\" = 'prog2 from tools' ]"
    check "[$plan] the third's runs as /bin/prog3, with SSL_CERT_FILE and TZDIR set to its data" \
      bash -c "[ \"\$(docker run --rm --entrypoint /bin/prog3 $image)\" = \"\$(printf '(test bundle of data)\nUTC')\" ]"
    check "[$plan] ... from the package's store path" bash -c \
      "docker image inspect $image --format '{{json .Config.Env}}' |
       grep -qE '\"SSL_CERT_FILE=/nix/store/[a-z0-9]{32}-data-3.0/etc/ssl/certs/ca-bundle.crt\",\"TZDIR=/nix/store/[a-z0-9]{32}-data-3.0/share/zoneinfo\"'"
    check "[$plan] labelled as the first package, with every license" bash -c \
      "[ \"\$(docker image inspect $image --format '{{index .Config.Labels \"org.opencontainers.image.licenses\"}}')\" = 'MIT AND Apache-2.0' ]"
  done

  build "$dir" -f "$dir/default.nix" --target "app tools data" --output "type=oci,dest=$work/packages.tar"
  python3 tests/lib/oci_files.py "$work/packages.tar" >"$work/packages-files"
  grep -E '^/nix/store/[^/]+\s' "$work/packages-files" | cut -f1 | sed 's/^[^-]*-//' | sort >"$work/packages-store"
  check "the closure is the three packages and busybox" \
    diff -u <(printf '%s\n' app-1.0 busybox-static data-3.0 tools-2.0) "$work/packages-store"
  # The root outside the store: /bin and /share/doc merged into directories of links, the rest
  # links into the one package that has it.
  grep -vE '^/nix(/store(/[^/]+(/.*)?)?)?\s' "$work/packages-files" | cut -f1,2,5 |
    sed -E 's#/nix/store/[a-z0-9]{32}-#STORE/#' >"$work/packages-root"
  check "/bin, /share and /share/doc are directories of links into each package" diff -u - "$work/packages-root" <<'ROOT'
/bin	dir
/bin/app	link	STORE/app-1.0/bin/app
/bin/prog2	link	STORE/tools-2.0/bin/prog2
/bin/prog3	link	STORE/data-3.0/bin/prog3
/etc	link	STORE/data-3.0/etc
/share	dir
/share/doc	dir
/share/doc/app-1.0	link	STORE/app-1.0/share/doc/app-1.0
/share/doc/data-3.0	link	STORE/data-3.0/share/doc/data-3.0
/share/doc/tools-2.0	link	STORE/tools-2.0/share/doc/tools-2.0
/share/zoneinfo	link	STORE/data-3.0/share/zoneinfo
ROOT
  check "every entry owned by 0:0 with the store's timestamp" bash -c \
    "awk -F'\t' '\$3 != 1 || \$4 != \"0:0\" {bad=1} END {exit bad}' '$work/packages-files'"
  check "one layer per store path plus the root's" \
    test "$(python3 tests/lib/oci_files.py "$work/packages.tar" --layers | wc -l)" = 5

  build "$dir" -f "$dir/default.nix" --target "app tools data" --sbom=true \
    --output "type=oci,dest=$work/packages-sbom.tar"
  check "--sbom=true describes every package, each with its own license" python3 -c '
import sys, tarfile
sys.path.insert(0, "tests/lib")
from sbom_check import statements
with tarfile.open(sys.argv[1]) as archive:
    document = [s for kind, _, s in statements(archive) if kind == "https://spdx.dev/Document"][0]["predicate"]
by_id = {p["SPDXID"]: p for p in document["packages"]}
described = [by_id[r["relatedSpdxElement"]] for r in document["relationships"] if r["relationshipType"] == "DESCRIBES"]
licenses = sorted((p["name"], p["licenseDeclared"]) for p in described)
assert licenses == [("app", "MIT"), ("data", "MIT"), ("tools", "Apache-2.0")], licenses
' "$work/packages-sbom.tar"

  check "Dockerfile mode: # attr=app tools data" build "$dir" -t $T/packages-df
  check "... runs the first package's program, and the others from /bin" bash -c \
    "[ \"\$(docker run --rm $T/packages-df)\" = 'app from packages' ] &&
     [ \"\$(docker run --rm --entrypoint /bin/prog2 $T/packages-df)\" = 'prog2 from tools' ]"

  for plan in graph single; do
    expect_error "collision-$plan" "$dir" -f "$dir/default.nix" --target "shell otherShell" \
      --build-arg "NIX_PLAN=$plan" -- "collide" "bin/sh is in both /nix/store/" "-shell-1.0 and /nix/store/" "-other-shell-1.0" \
      "NIX_COLLISIONS=first"
    check "[$plan] NIX_COLLISIONS=first: the first package listed wins" build "$dir" -f "$dir/default.nix" \
      --target "shell otherShell" --build-arg NIX_COLLISIONS=first --build-arg "NIX_PLAN=$plan" -t "$T/collision-first-$plan"
    check "[$plan] ... /bin/sh is the first's" bash -c \
      "out=\$(docker run --rm --entrypoint /bin/sh $T/collision-first-$plan 2>&1); [ \"\$out\" = 'the first shell' ] || { printf '    | %s\n' \"\$out\"; false; }"
    check "[$plan] ... with a warning naming both" bash -c \
      "grep -qE 'bin/sh is in both /nix/store/[a-z0-9]{32}-shell-1.0 and /nix/store/[a-z0-9]{32}-other-shell-1.0' '$work/build.log'"
  done
  # A flake's installables: its two packages both have bin/greet.
  local flake=$work/packages-flake
  rm -rf "$flake" && cp -r tests/fixtures/flake "$flake" && rm "$flake/Dockerfile"
  docker run --rm "$NIX_IMAGE" cat /usr/bin/busybox >"$flake/tools/busybox" && chmod +x "$flake/tools/busybox"
  printf '# syntax=org/nix-frontend\n# nix=.#default .#other\n' >"$work/packages-flake.Dockerfile"
  expect_error flake-collision "$flake" -f "$work/packages-flake.Dockerfile" -- "bin/greet is in both /nix/store/"
  check "a flake's installables # nix=.#default .#other, with NIX_COLLISIONS=first" build "$flake" \
    -f "$work/packages-flake.Dockerfile" --build-arg NIX_COLLISIONS=first -t $T/packages-flake
  check "... run the first one's program" \
    bash -c '[ "$(docker run --rm $T/packages-flake | tail -1)" = "from the default package of the flake" ]'
  expect_error attr-listed-twice "$dir" -f "$dir/default.nix" --target "app app" -- "--target" "listed twice"
  expect_error attr-missing "$dir" -f "$dir/default.nix" --target "app nope" -- "attribute 'nope'"
}
