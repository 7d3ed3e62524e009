# shellcheck shell=bash
# End-to-end test of --sbom=true: the frontend's own SPDX document of the closure, as BuildKit's
# attestation manifest, checked against Nix's path-info and by a maintained SPDX validator.
# Sourced by tests/e2e.sh (after tests/lib/common.sh); test_NAME runs as `tests/e2e.sh NAME`.

# `nix path-info --json --recursive` of ATTR of FILE, as the builder image reports it.
nix_path_info() { # nix_path_info DIR FILE ATTR
  docker run --rm -v "$1:/src:ro" -w /src "$NIX_IMAGE" sh -c \
    'nix path-info --extra-experimental-features nix-command --json --recursive $(nix-build "$1" -A "$2" --no-out-link 2>/dev/null)' sh "$2" "$3"
}

# pyspdxtools from the spdx-tools package, installed once into a venv under ~/.cache.
spdx_validator() {
  local venv=${XDG_CACHE_HOME:-$HOME/.cache}/nf-spdx-tools
  if [ ! -x "$venv/bin/pyspdxtools" ]; then
    python3 -m venv "$venv" && "$venv/bin/pip" install --quiet 'spdx-tools>=0.8,<0.9' >&2 || return 1
  fi
  echo "$venv/bin/pyspdxtools"
}

test_sbom() {
  echo "sbom: --sbom=true gives an exact SPDX document of the closure"
  local validator
  validator=$(spdx_validator) || { fail "cannot install spdx-tools"; return; }
  local dir=tests/fixtures/chain
  check "chain builds with --sbom=true" build "$dir" -f "$dir/default.nix" --target top --sbom=true \
    --output "type=oci,dest=$work/sbom-chain.tar"
  check "BuildKit ran no scanner" bash -c "! grep -qi 'syft\|generating sbom' '$work/build.log'"
  nix_path_info "$root/$dir" default.nix top >"$work/chain-info.json"
  check "the SPDX predicate lists every store path with its NAR hash, references and result" \
    python3 tests/lib/sbom_check.py "$work/sbom-chain.tar" "$work/chain-info.json" "$work/chain.spdx.json"
  check "the document has $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$work/chain-info.json") packages" \
    test "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["packages"]))' "$work/chain.spdx.json")" -gt 100
  check "pyspdxtools validates the chain's document" "$validator" -i "$work/chain.spdx.json"

  dir=tests/fixtures/sbom
  check "a licensed program builds with --sbom=true" build "$dir" -f "$dir/default.nix" --target licensed \
    --sbom=true --output "type=oci,dest=$work/sbom-licensed.tar"
  nix_path_info "$root/$dir" default.nix licensed >"$work/licensed-info.json"
  check "meta.license appears as SPDX ids" python3 tests/lib/sbom_check.py "$work/sbom-licensed.tar" \
    "$work/licensed-info.json" "$work/licensed.spdx.json" --license "MIT AND Apache-2.0"
  check "pyspdxtools validates the licensed document" "$validator" -i "$work/licensed.spdx.json"
  check "... downloadLocation is the URL its source is fetched from" python3 -c '
import json, sys
packages = json.load(open(sys.argv[1]))["packages"]
licensed = [p for p in packages if p["name"] == "licensed"]
assert [p["downloadLocation"] for p in licensed] == ["https://example.org/releases/licensed-2.0.tar.gz"], licensed
' "$work/licensed.spdx.json"
  check "... meta.identifiers: its CPE a SECURITY ref, its purls beside the pkg:nix one" python3 -c '
import json, sys
packages = json.load(open(sys.argv[1]))["packages"]
[licensed] = [p for p in packages if p["name"] == "licensed"]
refs = [(r["referenceCategory"], r["referenceType"], r["referenceLocator"]) for r in licensed["externalRefs"]]
assert refs[0][2].startswith("pkg:nix/licensed@2.0?system="), refs
assert refs[1:] == [
    ("SECURITY", "cpe23Type", "cpe:2.3:a:example:licensed:2.0:*:*:*:*:*:*:*"),
    ("PACKAGE-MANAGER", "purl", "pkg:github/example/licensed@v2.0"),
    ("PACKAGE-MANAGER", "purl", "pkg:generic/licensed@2.0"),
], refs
assert not any("comment" in r for r in licensed["externalRefs"]), licensed["externalRefs"]
' "$work/licensed.spdx.json"
  check "... with no warning about them" bash -c "! grep -q 'meta.identifiers' '$work/build.log'"
  # The build-time closure, as the Dockerfile frontend scans build stages (here in the single plan,
  # the default plan above).
  check "BUILDKIT_SBOM_SCAN_STAGE=true builds" build "$dir" -f "$dir/default.nix" --target licensed --sbom=true \
    --build-arg BUILDKIT_SBOM_SCAN_STAGE=true --build-arg NIX_PLAN=single --output "type=oci,dest=$work/sbom-stage.tar"
  check "... the tool and the fetched source are build dependencies of the result, with license and URL" \
    python3 - "$work/sbom-stage.tar" "$work/stage.spdx.json" <<'PY'
import json, sys, tarfile
sys.path.insert(0, "tests/lib")
from sbom_check import statements
with tarfile.open(sys.argv[1]) as archive:
    document = [s for kind, _, s in statements(archive) if kind == "https://spdx.dev/Document"][0]["predicate"]
json.dump(document, open(sys.argv[2], "w"))
by_name = {p["packageFileName"].split("-", 1)[1]: p for p in document["packages"]}
tool, source, result = by_name["build-tool-1.5"], by_name["licensed-2.0.tar.gz"], by_name["licensed-2.0"]
assert tool["licenseDeclared"] == "GPL-3.0-only" and "checksums" not in tool, tool
[guess] = [r for r in tool["externalRefs"] if r["referenceType"] == "cpe23Type"]
assert guess["referenceLocator"] == "cpe:2.3:a:example:build-tool:1.5:*:*:*:*:*:*:*" and "guess" in guess["comment"], guess
assert source["downloadLocation"] == "https://example.org/releases/licensed-2.0.tar.gz", source
built_with = {r["spdxElementId"] for r in document["relationships"]
              if r["relationshipType"] == "BUILD_DEPENDENCY_OF" and r["relatedSpdxElement"] == result["SPDXID"]}
assert built_with == {tool["SPDXID"], source["SPDXID"]}, built_with
assert len(document["packages"]) == 4, [p["name"] for p in document["packages"]]
PY
  check "pyspdxtools validates it" "$validator" -i "$work/stage.spdx.json"
  check "BUILDKIT_SBOM_SCAN_STAGE=builder (stage names, as for Dockerfiles) builds" build "$dir" -f "$dir/default.nix" \
    --target licensed --sbom=true --build-arg BUILDKIT_SBOM_SCAN_STAGE=builder --output "type=oci,dest=$work/sbom-names.tar"
  check "... with a warning that it is taken as false" grep -q 'BUILDKIT_SBOM_SCAN_STAGE="builder" is taken as false' "$work/build.log"

  check "odd metadata (non-SPDX license, huge description, list homepage) still builds" \
    build "$dir" -f "$dir/default.nix" --target odd --sbom=true --output "type=oci,dest=$work/sbom-odd.tar"
  nix_path_info "$root/$dir" default.nix odd >"$work/odd-info.json"
  check "... with a LicenseRef for the unknown license" python3 tests/lib/sbom_check.py "$work/sbom-odd.tar" \
    "$work/odd-info.json" "$work/odd.spdx.json" --license "MIT AND LicenseRef-my-own-license--$(printf %s 'my own license!' | sha256sum | cut -c1-12)"
  check "pyspdxtools validates the odd document" "$validator" -i "$work/odd.spdx.json"
  check "... which carries only the well-formed meta.identifiers" python3 -c '
import json, sys
packages = json.load(open(sys.argv[1]))["packages"]
[odd] = [p for p in packages if p["name"] == "odd"]
refs = [(r["referenceType"], r["referenceLocator"]) for r in odd["externalRefs"]][1:]
assert refs == [("cpe23Type", "cpe:2.3:a:example:odd:1.0:*:*:*:*:*:*:*"), ("purl", "pkg:generic/odd@1.0")], refs
' "$work/odd.spdx.json"
  check "... and warns of the others, naming the package" bash -c \
    "grep -qF 'odd-1.0: meta.identifiers \"cpe:/a:example:odd:1.0\", not a CPE 2.3 string' '$work/build.log' &&
     grep -qF 'odd-1.0: meta.identifiers \"not a purl\", not a purl' '$work/build.log'"

  check "--provenance=mode=max with --sbom=true builds" build "$dir" -f "$dir/default.nix" --target licensed \
    --sbom=true --provenance=mode=max --output "type=oci,dest=$work/sbom-prov.tar"
  check "... and holds both attestations" python3 -c '
import json, sys, tarfile
sys.path.insert(0, "tests/lib")
from sbom_check import statements
with tarfile.open(sys.argv[1]) as archive:
    kinds = sorted(kind for kind, _, _ in statements(archive))
assert any("slsa.dev/provenance" in k for k in kinds) and "https://spdx.dev/Document" in kinds, kinds
' "$work/sbom-prov.tar"
  check "... whose provenance names the Nix file and the builder image (with its digest)" python3 -c '
import json, sys, tarfile
sys.path.insert(0, "tests/lib")
from sbom_check import statements
with tarfile.open(sys.argv[1]) as archive:
    found = [s for kind, _, s in statements(archive) if "slsa.dev/provenance" in kind]
predicate = found[0]["predicate"]
builder = sys.argv[2].split("@")[0].rsplit(":", 1)[0] if "@" in sys.argv[2] else sys.argv[2].split(":")[0]
if "invocation" in predicate:  # SLSA provenance v0.2 (BuildKit before 0.2x)
    assert predicate["invocation"]["configSource"]["entryPoint"] == "default.nix", predicate["invocation"]
    materials = predicate["materials"]
else:  # SLSA provenance v1
    external = predicate["buildDefinition"]["externalParameters"]
    assert external["configSource"]["path"] == "default.nix", external
    materials = predicate["buildDefinition"]["resolvedDependencies"]
assert any(builder in m["uri"] and m["digest"].get("sha256") for m in materials), materials
' "$work/sbom-prov.tar" "$NIX_IMAGE"
  build "$dir" -f "$dir/default.nix" --target licensed --output "type=oci,dest=$work/sbom-none.tar"
  check "without --sbom no SPDX attestation" bash -c \
    "! python3 tests/lib/sbom_check.py '$work/sbom-none.tar' '$work/licensed-info.json' /dev/null 2>/dev/null"

  if [ "${E2E_DOCKER:-}" = docker28 ]; then
    skip "push: the host's registry on 127.0.0.1 is out of reach of scripts/docker28's daemon"
  elif scripts/registry >/dev/null 2>&1; then
    check "pushed to the local registry" build "$dir" -f "$dir/default.nix" --target licensed --sbom=true \
      -t 127.0.0.1:5000/$T/sbom:latest --push
    check "imagetools inspect shows the SBOM's packages" bash -c \
      "docker buildx imagetools inspect 127.0.0.1:5000/$T/sbom:latest --format '{{json .SBOM}}' | grep -q 'licensed'"
  fi
}
