//! The SBOM of an image: an SPDX 2.3 JSON document written from the validated closure and the
//! derivation's metadata (`--sbom=true`). Pure: what goes in is the closure, the results, the
//! image's packages with their `info.json` facts and the platform; what comes out is the
//! document's bytes.
//!
//! Every store path of the image is one package: its name and version split from the store
//! path's name as Nix's `builtins.parseDrvName` does, a stable SPDXID from the store path's hash,
//! the NAR hash as its SHA256 checksum, the store path itself as `packageFileName`, a
//! `pkg:nix/NAME@VERSION?system=SYSTEM` purl (the type proposed in package-url/purl-spec#877),
//! a `DEPENDS_ON` relationship per reference and `DESCRIBES` from the document to each result.
//! Each of the image's packages (one per attribute built) gets its own license, homepage and
//! description from what its evaluation said.
//! Metadata that is odd (not an SPDX id, too long, not a URL) becomes `NOASSERTION`, a
//! `LicenseRef-…` or is left out: the document stays valid and the build never fails over it.
//!
//! The derivations the result is built from (facts.nix's `packages`: reached through their attributes,
//! as SBOM tools for Nix walk them) give each store path they output its license, homepage and
//! `downloadLocation` (the URL its source is fetched from); with the build-time closure asked
//! for, the outputs they are built with that are not in the image become packages too, each a
//! `BUILD_DEPENDENCY_OF` the result (no checksum: they are not in the image).
//!
//! A derivation's `meta.identifiers` (as nixpkgs' stdenv fills it in) gives its packages the refs
//! scanners match on: its CPE 2.3 strings as `SECURITY`/`cpe23Type` refs and its purls as
//! `PACKAGE-MANAGER`/`purl` refs beside the `pkg:nix` one. Only well-formed ones of sane length
//! are carried, a few per package; what is left out is said in `Document::warnings`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::nix::closure::{hex, Closure, StorePath};
use crate::nix::facts::{PackageFacts, RootPackage};

mod identifiers;
mod licenses;

use identifiers::{identifier_refs, purl};
use licenses::licenses;

/// The predicate type of an SPDX document and where it lies in its ref: the result's attestation
/// facts, kept with the result.
pub use crate::buildkit::result::{
    SBOM_DOCUMENT_PATH as DOCUMENT_PATH, SBOM_PREDICATE_TYPE as PREDICATE_TYPE,
};
/// The largest document sent: it travels inside an LLB definition, and BuildKit before 0.15
/// (Docker 26) takes gateway messages of at most 4 MiB (16 MiB later).
pub const MAX_DOCUMENT_BYTES: usize = 3 << 20;
/// Free-text fields longer than this are cut (descriptions can be pages long).
const MAX_TEXT: usize = 1024;
/// More license ids than this in one `meta.license` are not asserted.
const MAX_LICENSE_IDS: usize = 32;
/// SPDX license ids (not deprecated), from the SPDX license list, one per line.
const SPDX_LICENSE_IDS: &str = include_str!("spdx-license-ids.txt");
/// At most this many CPEs, and as many purls, of one package's `meta.identifiers` are carried.
const MAX_IDENTIFIER_REFS: usize = 8;
/// A CPE or purl longer than this is not carried (real ones are well under 200 bytes).
const MAX_IDENTIFIER_BYTES: usize = 512;

/// What the document is written from.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub closure: &'a Closure,
    /// The build outputs; the first is the main result.
    pub results: &'a [StorePath],
    /// The image's packages, one per attribute, the main one first, with their facts.
    pub roots: &'a [&'a RootPackage],
    /// The Nix system the closure was built for, e.g. `x86_64-linux`.
    pub system: Option<&'a str>,
    /// Unix seconds of the document's creation.
    pub created: i64,
    /// The derivations the packages are built from (facts.nix's `packages`, each naming the
    /// package it was reached from), possibly none.
    pub packages: &'a [PackageFacts],
    /// Whether the build-time closure is listed too (`BUILDKIT_SBOM_SCAN_STAGE=true`).
    pub build_dependencies: bool,
}

/// The SPDX 2.3 document, and what of the builder's facts it leaves out.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub json: Value,
    /// One sentence per package and value left out (an identifier that is malformed, too long or
    /// one too many; a repeat is no value of its own), naming the package.
    pub warnings: Vec<String>,
}

impl Document {
    /// The document as compact JSON.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.json).unwrap_or_default()
    }
}

/// The SPDX 2.3 document of `input`.
pub fn document(input: &Input) -> Document {
    let results: BTreeSet<&StorePath> = input.results.iter().collect();
    let main = input
        .roots
        .first()
        .map(|root| &root.path)
        .or(input.results.first());
    let roots: HashMap<&StorePath, &RootPackage> =
        input.roots.iter().rev().map(|r| (&r.path, *r)).collect();
    // What the derivations say of each store path they output (the first report wins).
    let mut facts: HashMap<&StorePath, &PackageFacts> = HashMap::new();
    for package in input.packages {
        for output in package.outputs.iter().chain([&package.path]) {
            facts.entry(output).or_insert(package);
        }
    }
    let mut license_refs: BTreeMap<String, String> = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut packages = Vec::new();
    let mut relationships = Vec::new();
    for result in input.results {
        relationships.push(json!({
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": spdx_id(result),
        }));
    }
    for (path, info) in &input.closure.paths {
        let fact = facts.get(path).copied();
        let root = roots.get(path).copied();
        // A package of the image: its info.json (the value built) over the walk's facts where
        // it says anything.
        let root_facts = root.map(|root| PackageFacts {
            path: path.clone(),
            root: 0,
            outputs: Vec::new(),
            license: root
                .info
                .license
                .clone()
                .or_else(|| fact.and_then(|f| f.license.clone())),
            homepage: url(root.info.homepage.as_deref())
                .map(String::from)
                .or_else(|| fact.and_then(|f| f.homepage.clone())),
            download_location: fact.and_then(|f| f.download_location.clone()),
            identifiers: if root.info.identifiers.is_empty() {
                fact.map(|f| f.identifiers.clone()).unwrap_or_default()
            } else {
                root.info.identifiers.clone()
            },
        });
        let fact = root_facts.as_ref().or(fact);
        let mut package = package_of(path, fact, input.system, &mut license_refs, &mut warnings);
        if let Some(hash) = &info.nar_hash {
            package["checksums"] = json!([{ "algorithm": "SHA256", "checksumValue": hex(hash) }]);
        }
        if let Some(description) = root.and_then(|r| text(r.info.description.as_deref())) {
            package["description"] = json!(description);
        }
        if results.contains(path) {
            package["primaryPackagePurpose"] = json!("APPLICATION");
        }
        packages.push(package);
        for reference in info.references.iter().filter(|r| *r != path) {
            relationships.push(json!({
                "spdxElementId": spdx_id(path),
                "relationshipType": "DEPENDS_ON",
                "relatedSpdxElement": spdx_id(reference),
            }));
        }
    }
    if let (true, Some(main)) = (input.build_dependencies, main) {
        let mut listed: BTreeSet<&StorePath> = input.closure.paths.keys().collect();
        for fact in input.packages {
            if !listed.insert(&fact.path) {
                continue;
            }
            packages.push(package_of(
                &fact.path,
                Some(fact),
                input.system,
                &mut license_refs,
                &mut warnings,
            ));
            // A build dependency of the package whose walk reached it.
            let of = input.roots.get(fact.root).map_or(main, |root| &root.path);
            relationships.push(json!({
                "spdxElementId": spdx_id(&fact.path),
                "relationshipType": "BUILD_DEPENDENCY_OF",
                "relatedSpdxElement": spdx_id(of),
            }));
        }
    }
    let name = main.map(|m| m.name().to_string()).unwrap_or_default();
    let mut document = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": if name.is_empty() { "nix-image".to_string() } else { name },
        "documentNamespace": namespace(input),
        "creationInfo": {
            "created": iso8601(input.created),
            "creators": [format!("Tool: nix-frontend-{}", env!("CARGO_PKG_VERSION"))],
        },
        "comment": if input.build_dependencies {
            "One package per store path of the image's runtime closure, as Nix recorded it: checksums are the SHA-256 of each store path's NAR serialisation (Nix's narHash), DEPENDS_ON are the store path's references. Packages without a checksum are the build-time closure: outputs the result is built from that are not in the image (BUILD_DEPENDENCY_OF)."
        } else {
            "One package per store path of the image's runtime closure, as Nix recorded it: checksums are the SHA-256 of each store path's NAR serialisation (Nix's narHash), DEPENDS_ON are the store path's references."
        },
        "packages": packages,
        "relationships": relationships,
    });
    if !license_refs.is_empty() {
        document["hasExtractedLicensingInfos"] = Value::Array(
            license_refs
                .iter()
                .map(|(id, original)| {
                    json!({
                        "licenseId": id,
                        "name": original,
                        "extractedText": format!("The license {original:?} named in the package's meta.license, which is not an SPDX license id."),
                    })
                })
                .collect(),
        );
    }
    Document {
        json: document,
        warnings,
    }
}

/// A store path's package without its checksum: name and version from the store path's name,
/// and what the walk says of it (license, homepage, the URL its source comes from, the
/// identifiers of its meta).
fn package_of(
    path: &StorePath,
    fact: Option<&PackageFacts>,
    system: Option<&str>,
    license_refs: &mut BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Value {
    let (name, version) = parse_drv_name(path.name());
    let download = url(fact.and_then(|f| f.download_location.as_deref())).unwrap_or("NOASSERTION");
    let nix_purl = purl(name, version, system);
    let mut external_refs = vec![json!({
        "referenceCategory": "PACKAGE-MANAGER",
        "referenceType": "purl",
        "referenceLocator": nix_purl,
    })];
    if let Some(fact) = fact {
        external_refs.extend(identifier_refs(
            path,
            &fact.identifiers,
            &nix_purl,
            warnings,
        ));
    }
    let mut package = json!({
        "name": name,
        "SPDXID": spdx_id(path),
        "downloadLocation": download,
        "filesAnalyzed": false,
        "packageFileName": path.to_string(),
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "externalRefs": external_refs,
    });
    if let Some(license) = fact.and_then(|f| f.license.as_deref()) {
        let (expression, refs) = licenses(Some(license));
        license_refs.extend(refs);
        package["licenseConcluded"] = json!(expression);
        package["licenseDeclared"] = json!(expression);
    }
    if let Some(homepage) = url(fact.and_then(|f| f.homepage.as_deref())) {
        package["homepage"] = json!(homepage);
    }
    if !version.is_empty() {
        package["versionInfo"] = json!(version);
    }
    package
}

/// `SPDXRef-<hash>-<name>` (SPDXIDs allow letters, digits, `.` and `-`).
fn spdx_id(path: &StorePath) -> String {
    let base = path.base_name();
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("SPDXRef-{clean}")
}

/// Nix's `builtins.parseDrvName`: the name ends at the first `-` followed by a non-letter.
pub fn parse_drv_name(full: &str) -> (&str, &str) {
    let bytes = full.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'-' && bytes.get(i + 1).is_some_and(|n| !n.is_ascii_alphabetic()) {
            return (&full[..i], &full[i + 1..]);
        }
    }
    (full, "")
}

/// Free text, cut to MAX_TEXT characters; nothing for an empty text.
fn text(value: Option<&str>) -> Option<String> {
    let value = value?.trim();
    if value.is_empty() {
        return None;
    }
    Some(value.chars().take(MAX_TEXT).collect())
}

/// An http(s) URL without whitespace or control characters, or nothing.
fn url(value: Option<&str>) -> Option<&str> {
    let value = value?;
    let plausible = (value.starts_with("https://") || value.starts_with("http://"))
        && value.len() > "https://".len()
        && value.len() <= MAX_TEXT
        && value.chars().all(|c| c.is_ascii_graphic());
    plausible.then_some(value)
}

/// A namespace unique to this closure and platform.
fn namespace(input: &Input) -> String {
    let mut hasher = Sha256::new();
    for path in input.closure.paths.keys() {
        hasher.update(path.to_string().as_bytes());
        hasher.update(b"\n");
    }
    hasher.update(input.system.unwrap_or("").as_bytes());
    let digest = hex(&hasher.finalize());
    let base = input
        .results
        .first()
        .map(|r| r.base_name().to_string())
        .unwrap_or_else(|| "image".into());
    format!("https://nix-frontend.invalid/spdx/{base}-{}", &digest[..32])
}

/// Unix seconds as `YYYY-MM-DDThh:mm:ssZ` (UTC), clamped to years 1970..=9999.
pub fn iso8601(seconds: i64) -> String {
    crate::timestamp::rfc3339(seconds.clamp(0, 253_402_300_799))
}

#[cfg(test)]
mod tests {
    use super::identifiers::*;
    use super::licenses::*;
    use super::*;
    use crate::nix::closure::{self, Limits};
    use crate::nix::facts::DerivationInfo;
    use crate::nix::facts::Identifiers;

    const TOP: &str = "/nix/store/0c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-hello-2.12";
    const LIBC: &str = "/nix/store/9v5d40jyvmwgnq1nj8f19ji2rcc5dksd-glibc-2.40";
    const SRI: &str = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn closure() -> Closure {
        let manifest = json!({
            TOP: { "narSize": 10, "narHash": SRI, "references": [TOP, LIBC] },
            LIBC: { "narSize": 20, "references": [LIBC] },
        });
        closure::parse(
            manifest.to_string().as_bytes(),
            &[StorePath::parse(TOP).unwrap()],
            &Limits::default(),
        )
        .unwrap()
    }

    fn doc(info: &DerivationInfo) -> Value {
        doc_with(info, &[]).json
    }

    fn package<'a>(doc: &'a Value, path: &str) -> &'a Value {
        doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["packageFileName"] == path)
            .unwrap()
    }

    #[test]
    fn parses_names_as_nix_does() {
        assert_eq!(parse_drv_name("hello-2.12"), ("hello", "2.12"));
        assert_eq!(parse_drv_name("busybox-static"), ("busybox-static", ""));
        assert_eq!(
            parse_drv_name("python3.12-numpy-1.26.4"),
            ("python3.12-numpy", "1.26.4")
        );
        assert_eq!(
            parse_drv_name("glibc-2.40-36-bin"),
            ("glibc", "2.40-36-bin")
        );
        assert_eq!(parse_drv_name("chain-150"), ("chain", "150"));
        assert_eq!(parse_drv_name("x-"), ("x-", ""));
        assert_eq!(parse_drv_name("-1"), ("", "1"));
    }

    #[test]
    fn one_package_per_path_with_checksum_purl_and_relationships() {
        let info = DerivationInfo {
            license: Some("MIT".into()),
            homepage: Some("https://example.org/hello".into()),
            description: Some("says hello".into()),
            ..Default::default()
        };
        let doc = doc(&info);
        assert_eq!(doc["spdxVersion"], "SPDX-2.3");
        assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z");
        assert_eq!(doc["packages"].as_array().unwrap().len(), 2);
        let top = package(&doc, TOP);
        assert_eq!(top["name"], "hello");
        assert_eq!(top["versionInfo"], "2.12");
        assert_eq!(
            top["SPDXID"],
            "SPDXRef-0c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-hello-2.12"
        );
        assert_eq!(top["checksums"][0]["checksumValue"], EMPTY_SHA256);
        assert_eq!(top["licenseDeclared"], "MIT");
        assert_eq!(top["homepage"], "https://example.org/hello");
        assert_eq!(
            top["externalRefs"][0]["referenceLocator"],
            "pkg:nix/hello@2.12?system=x86_64-linux"
        );
        let libc = package(&doc, LIBC);
        assert_eq!(libc["licenseDeclared"], "NOASSERTION");
        assert!(libc.get("checksums").is_none());
        let relationships = doc["relationships"].as_array().unwrap();
        assert_eq!(
            relationships,
            &vec![
                json!({"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "DESCRIBES", "relatedSpdxElement": top["SPDXID"]}),
                json!({"spdxElementId": top["SPDXID"], "relationshipType": "DEPENDS_ON", "relatedSpdxElement": libc["SPDXID"]}),
            ]
        );
        // Stable: the same input gives the same bytes.
        assert_eq!(doc, self::doc(&info));
    }

    #[test]
    fn odd_metadata_still_gives_a_valid_document() {
        let cases = [
            (Some("mit AND Apache-2.0"), "MIT AND Apache-2.0", 0),
            (Some("unfree"), "LicenseRef-unfree", 1),
            (
                Some("GPL-2.0-only AND my license!"),
                "GPL-2.0-only AND LicenseRef-my-license--",
                1,
            ),
            (Some(""), "NOASSERTION", 0),
            (Some(" AND "), "NOASSERTION", 0),
            (None, "NOASSERTION", 0),
        ];
        for (license, expect, refs) in cases {
            let info = DerivationInfo {
                license: license.map(str::to_string),
                homepage: Some("javascript:alert(1) x".into()),
                description: Some("d".repeat(100_000)),
                ..Default::default()
            };
            let doc = doc(&info);
            let top = package(&doc, TOP);
            let declared = top["licenseDeclared"].as_str().unwrap();
            assert!(declared.starts_with(expect), "{license:?}: {declared}");
            assert!(top.get("homepage").is_none());
            assert_eq!(top["description"].as_str().unwrap().len(), MAX_TEXT);
            let extracted = doc["hasExtractedLicensingInfos"]
                .as_array()
                .map_or(0, Vec::len);
            assert_eq!(extracted, refs, "{license:?}");
        }
        let huge = DerivationInfo {
            license: Some("x".repeat(1 << 20)),
            ..Default::default()
        };
        assert_eq!(package(&doc(&huge), TOP)["licenseDeclared"], "NOASSERTION");
    }

    #[test]
    fn dates_are_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(-5), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(i64::MAX), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn the_license_list_is_spdx_ids() {
        assert_eq!(spdx_license_id("mit"), Some("MIT"));
        assert_eq!(
            spdx_license_id("GPL-3.0-or-later"),
            Some("GPL-3.0-or-later")
        );
        assert_eq!(spdx_license_id("unfree"), None);
        assert!(SPDX_LICENSE_IDS.lines().count() > 400);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_odd_metadata(
            license in "\\PC{0,80}",
            homepage in "\\PC{0,40}",
            hash in "(sha256[-:])?[0-9a-zA-Z+/=]{0,70}",
            name in "[a-z0-9+._?=-]{1,30}",
        ) {
            let _ = crate::nix::closure::parse_nar_hash(&hash);
            let (n, v) = parse_drv_name(&name);
            let joined = if v.is_empty() { n.to_string() } else { format!("{n}-{v}") };
            proptest::prop_assert_eq!(joined, name.clone());
            let info = DerivationInfo { license: Some(license), homepage: Some(homepage), ..Default::default() };
            let doc = doc(&info);
            let declared = package(&doc, TOP)["licenseDeclared"].as_str().unwrap_or("").to_string();
            proptest::prop_assert!(declared == "NOASSERTION" || declared.split(" AND ").all(|t| spdx_license_id(t).is_some() || t.starts_with("LicenseRef-")));
        }
    }

    const TOOL: &str = "/nix/store/1c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-tool-1.5";
    const LIBC_DEV: &str = "/nix/store/2v5d40jyvmwgnq1nj8f19ji2rcc5dksd-glibc-2.40-dev";

    #[test]
    fn facts_give_every_package_its_license_and_source_and_build_dependencies_their_own() {
        let closure = closure();
        let results = [StorePath::parse(TOP).unwrap()];
        let fact = |path: &str, outputs: &[&str], license: &str, download: &str| PackageFacts {
            path: StorePath::parse(path).unwrap(),
            root: 0,
            outputs: outputs
                .iter()
                .map(|o| StorePath::parse(o).unwrap())
                .collect(),
            license: Some(license.into()),
            homepage: Some("https://example.org".into()),
            download_location: Some(download.into()),
            identifiers: Identifiers::default(),
        };
        let packages = [
            fact(TOP, &[TOP], "MIT", "https://e.org/hello.tgz"),
            // Reached as the dev output; the runtime closure holds the out output.
            fact(
                LIBC_DEV,
                &[LIBC, LIBC_DEV],
                "my libc licence",
                "ftp://not-http",
            ),
            fact(TOOL, &[TOOL], "GPL-3.0-only", "https://e.org/tool.tgz"),
        ];
        let top = RootPackage {
            path: results[0].clone(),
            info: DerivationInfo::default(),
        };
        let roots = [&top];
        let input = |build_dependencies| Input {
            closure: &closure,
            results: &results,
            roots: &roots,
            system: Some("x86_64-linux"),
            created: 1_700_000_000,
            packages: &packages,
            build_dependencies,
        };
        let runtime = document(&input(false)).json;
        assert_eq!(runtime["packages"].as_array().unwrap().len(), 2);
        assert_eq!(
            package(&runtime, TOP)["downloadLocation"],
            "https://e.org/hello.tgz"
        );
        let libc = package(&runtime, LIBC);
        assert_eq!(libc["downloadLocation"], "NOASSERTION");
        assert!(libc["licenseDeclared"]
            .as_str()
            .unwrap()
            .starts_with("LicenseRef-my-libc-licence-"));
        assert_eq!(libc["homepage"], "https://example.org");
        assert_eq!(
            runtime["hasExtractedLicensingInfos"][0]["name"],
            "my libc licence"
        );

        let with_build = document(&input(true)).json;
        let names: Vec<&str> = with_build["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["packageFileName"].as_str().unwrap())
            .collect();
        assert_eq!(names, [TOP, LIBC, LIBC_DEV, TOOL]);
        let tool = package(&with_build, TOOL);
        assert_eq!(tool["licenseDeclared"], "GPL-3.0-only");
        assert!(tool.get("checksums").is_none());
        let built_with: Vec<&Value> = with_build["relationships"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["relationshipType"] == "BUILD_DEPENDENCY_OF")
            .collect();
        assert_eq!(built_with.len(), 2);
        assert!(built_with
            .iter()
            .all(|r| r["relatedSpdxElement"] == spdx_id(&results[0])));
    }

    const CPE: &str = "cpe:2.3:a:gnu:hello:2.12:*:*:*:*:*:*:*";
    const GUESS: &str = "cpe:2.3:a:gnu:hello:2.12:-:*:*:*:*:*:*";

    /// The document of `closure()` with `info` for the result and `packages` for the rest, and
    /// its warnings.
    fn doc_with(info: &DerivationInfo, packages: &[PackageFacts]) -> Document {
        let closure = closure();
        let results = [StorePath::parse(TOP).unwrap()];
        let top = RootPackage {
            path: results[0].clone(),
            info: info.clone(),
        };
        document(&Input {
            closure: &closure,
            results: &results,
            roots: &[&top],
            system: Some("x86_64-linux"),
            created: 1_700_000_000,
            packages,
            build_dependencies: false,
        })
    }

    fn identifiers(cpe: Option<&str>, possible: &[&str], purls: &[&str]) -> Identifiers {
        let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        Identifiers {
            cpe: cpe.map(String::from),
            possible_cpes: strings(possible),
            purls: strings(purls),
        }
    }

    #[test]
    fn identifiers_become_the_refs_scanners_match_on() {
        let info = DerivationInfo {
            // As nixpkgs fills it in: possibleCPEs holds the CPE itself when it is complete;
            // the pkg:nix purl and a repeat are said once.
            identifiers: identifiers(
                Some(CPE),
                &[CPE, GUESS],
                &[
                    "pkg:github/gnu/hello@v2.12",
                    "pkg:nix/hello@2.12?system=x86_64-linux",
                    "pkg:generic/hello@2.12?download_url=https%3A%2F%2Fftp.gnu.org%2Fhello.tgz",
                    "pkg:github/gnu/hello@v2.12",
                ],
            ),
            ..Default::default()
        };
        // The walk's facts of the result give way to info.json's; glibc has its own.
        let fact = |path: &str, ids: Identifiers| PackageFacts {
            path: StorePath::parse(path).unwrap(),
            root: 0,
            outputs: vec![StorePath::parse(path).unwrap()],
            license: None,
            homepage: None,
            download_location: None,
            identifiers: ids,
        };
        let packages = [
            fact(
                TOP,
                identifiers(Some("cpe:2.3:a:other:x:1:*:*:*:*:*:*:*"), &[], &[]),
            ),
            fact(
                LIBC,
                identifiers(None, &["cpe:2.3:a:gnu:glibc:2.40:*:*:*:*:*:*:*"], &[]),
            ),
        ];
        let document = doc_with(&info, &packages);
        assert_eq!(document.warnings, Vec::<String>::new());
        let doc = &document.json;
        assert_eq!(
            package(doc, TOP)["externalRefs"],
            json!([
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": "pkg:nix/hello@2.12?system=x86_64-linux",
                },
                {
                    "referenceCategory": "SECURITY",
                    "referenceType": "cpe23Type",
                    "referenceLocator": CPE,
                },
                {
                    "referenceCategory": "SECURITY",
                    "referenceType": "cpe23Type",
                    "referenceLocator": GUESS,
                    "comment": GUESSED_CPE,
                },
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": "pkg:github/gnu/hello@v2.12",
                },
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": "pkg:generic/hello@2.12?download_url=https%3A%2F%2Fftp.gnu.org%2Fhello.tgz",
                },
            ])
        );
        let libc = &package(doc, LIBC)["externalRefs"];
        assert_eq!(libc.as_array().unwrap().len(), 2);
        assert_eq!(
            libc[1]["referenceLocator"],
            "cpe:2.3:a:gnu:glibc:2.40:*:*:*:*:*:*:*"
        );
        assert_eq!(libc[1]["comment"], GUESSED_CPE);
        // Without info.json's, the walk's are the result's.
        let walked = doc_with(&DerivationInfo::default(), &packages);
        assert_eq!(
            package(&walked.json, TOP)["externalRefs"][1]["referenceLocator"],
            "cpe:2.3:a:other:x:1:*:*:*:*:*:*:*"
        );
        // Stable: the same input gives the same bytes.
        assert_eq!(document.to_bytes(), doc_with(&info, &packages).to_bytes());
    }

    #[test]
    fn malformed_identifiers_are_left_out_with_a_warning_naming_the_package() {
        let bad_cpes = [
            "cpe:/a:gnu:hello:2.12",                        // CPE 2.2 URI binding
            "cpe:2.3:a:gnu:hello:2.12:*:*:*:*:*:*",         // 10 components
            "cpe:2.3:a:gnu:hello:2.12:*:*:*:*:*:*:*:*",     // 12 components
            "cpe:2.3:x:gnu:hello:2.12:*:*:*:*:*:*:*",       // no such part
            "cpe:2.3:a:gnu:hello world:2.12:*:*:*:*:*:*:*", // a space
            "cpe:2.3:a:gnu::2.12:*:*:*:*:*:*:*",            // an empty product
            "cpe:2.3:a:gnu:hello:2.12:*:*:english:*:*:*:*", // not a language tag
            "cpe:2.3:a:gnu:he*llo:2.12:*:*:*:*:*:*:*",      // a wildcard inside
            "cpe:2.3:a:gnu:hello:2.12:*:*:*:*:*:*:*\n",     // a newline
            "CPE:2.3:a:gnu:hello:2.12:*:*:*:*:*:*:*",       // the prefix is lower case
            "cpe:2.3:a:gnu:héllo:2.12:*:*:*:*:*:*:*",       // not ASCII
        ];
        let long_cpe = format!("cpe:2.3:a:gnu:{}:2.12:*:*:*:*:*:*:*", "x".repeat(600));
        let long_purl = format!("pkg:generic/{}", "x".repeat(600));
        let bad_purls = [
            "https://example.org/hello",
            "pkg:hello",
            "pkg:/hello",
            "pkg:github/",
            "pkg:github/gnu/@1.0",
            "pkg:1github/gnu/hello",
            "pkg:generic/hello world",
            "pkg:generic/hello\u{7}",
            long_purl.as_str(),
        ];
        let mut cpes: Vec<&str> = bad_cpes.to_vec();
        cpes.push(&long_cpe);
        let info = DerivationInfo {
            identifiers: identifiers(Some("not a cpe"), &cpes, &bad_purls),
            ..Default::default()
        };
        let document = doc_with(&info, &[]);
        assert_eq!(
            package(&document.json, TOP)["externalRefs"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(document.warnings.len(), 1 + cpes.len() + bad_purls.len());
        // A repeat is said once.
        let info = DerivationInfo {
            identifiers: identifiers(Some("x"), &["x", "x"], &["y", "y"]),
            ..Default::default()
        };
        assert_eq!(doc_with(&info, &[]).warnings.len(), 2);
        assert!(document
            .warnings
            .iter()
            .all(|w| w.starts_with("SBOM: hello-2.12: meta.identifiers ") && w.len() < 200));
        assert_eq!(
            document.warnings[0],
            "SBOM: hello-2.12: meta.identifiers \"not a cpe\", not a CPE 2.3 string, left out"
        );

        // A few of each are carried; the rest is said.
        let many_cpes: Vec<String> = (0..20)
            .map(|i| format!("cpe:2.3:a:gnu:hello:2.{i}:*:*:*:*:*:*:*"))
            .collect();
        let many_purls: Vec<String> = (0..20)
            .map(|i| format!("pkg:generic/hello@2.{i}"))
            .collect();
        let info = DerivationInfo {
            identifiers: Identifiers {
                cpe: None,
                possible_cpes: many_cpes,
                purls: many_purls,
            },
            ..Default::default()
        };
        let document = doc_with(&info, &[]);
        let refs = package(&document.json, TOP)["externalRefs"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(refs.len(), 1 + 2 * MAX_IDENTIFIER_REFS);
        assert_eq!(document.warnings.len(), 2 * (20 - MAX_IDENTIFIER_REFS));
        assert!(document.warnings[0].contains("2.8:*:*:*:*:*:*:*\", over 8 CPEs,"));
    }

    #[test]
    fn cpes_are_checked_as_spdxs_cpe23type_pattern_does() {
        let good = [
            "cpe:2.3:a:gnu:hello:2.12:*:*:*:*:*:*:*",
            "cpe:2.3:o:linux:linux_kernel:6.6.1:-:*:*:*:*:*:*",
            "cpe:2.3:h:*:*:*:*:*:*:*:*:*:*",
            "cpe:2.3:a:nodejs:node.js:20.1.0:*:*:en-us:*:*:*:*",
            "cpe:2.3:a:x:y:1:*:*:fra-123:*:*:*:*",
            "cpe:2.3:a:x:y:1:*:*:de:*:*:*:*",
            "cpe:2.3:a:microsoft:internet_explorer:8.\\*:sp?:*:*:*:*:*:*",
            "cpe:2.3:a:x:c\\+\\+:1:*:*:*:*:*:*:*",
            "cpe:2.3:a:x:a\\:b:1:*:*:*:*:*:*:*",
            "cpe:2.3:a:x:*y*:??1??:*:*:*:*:*:*:*",
        ];
        for cpe in good {
            assert!(is_cpe23(cpe), "{cpe}");
        }
        let bad = [
            "cpe:2.3:a:x:y:1:*:*:*:*:*:*:",
            "cpe:2.3:a:x:y:1:*:*:*:*:*:*:*\\",
            "cpe:2.3:a:x:y:1:*:*:e:*:*:*:*",
            "cpe:2.3:a:x:y:1:*:*:en-u:*:*:*:*",
            "cpe:2.3:a:x:y:1:*:*:en-us-x:*:*:*:*",
            "cpe:2.3:a:x:y:1:*:*:*:*:*:*:**",
            "cpe:2.3:a:x:y:?:*:*:*:*:*:*:*",
            "cpe:2.3:a:x:*?y:1:*:*:*:*:*:*:*",
            "cpe:2.3:a:x:y\\.z:1:*:*:*:*:*:*:*",
            "cpe:2.3:a:x:y\\ z:1:*:*:*:*:*:*:*",
            "cpe:2.3:ab:x:y:1:*:*:*:*:*:*:*",
            "cpe:2.3:a:x:y:1:*:*:*:*:*:*:*:",
            "cpe:2.3:",
            "",
        ];
        for cpe in bad {
            assert!(!is_cpe23(cpe), "{cpe}");
        }
    }

    proptest::proptest! {
        #[test]
        fn identifier_checks_never_panic(
            text in "(cpe:2\\.3:|pkg:)?[a-z0-9*?\\\\:/@.+#-]{0,60}\\PC{0,4}",
        ) {
            let _ = is_cpe23(&text);
            let _ = is_purl(&text);
            let info = DerivationInfo {
                identifiers: identifiers(Some(&text), &[&text], &[&text]),
                ..Default::default()
            };
            let document = doc_with(&info, &[]);
            let carried = package(&document.json, TOP)["externalRefs"].as_array().unwrap().len() - 1;
            // Each value is carried or said, once: `possibleCPEs` repeats `cpe`.
            let expected = match (is_cpe23(&text), is_purl(&text)) {
                (false, false) => (0, 2),
                _ => (1, 1),
            };
            proptest::prop_assert_eq!((carried, document.warnings.len()), expected);
        }
    }

    #[test]
    fn every_package_of_the_image_is_described_with_its_own_facts() {
        let manifest = json!({
            TOP: { "narSize": 10, "references": [LIBC] },
            LIBC: { "narSize": 20, "references": [] },
            TOOL: { "narSize": 30, "references": [LIBC] },
        });
        let results = [
            StorePath::parse(TOP).unwrap(),
            StorePath::parse(TOOL).unwrap(),
        ];
        let closure = closure::parse(
            manifest.to_string().as_bytes(),
            &results,
            &Limits::default(),
        )
        .unwrap();
        let describe = |path: &StorePath, license: &str, description: &str| RootPackage {
            path: path.clone(),
            info: DerivationInfo {
                license: Some(license.into()),
                description: Some(description.into()),
                ..Default::default()
            },
        };
        let top = describe(&results[0], "MIT", "says hello");
        let tool = describe(&results[1], "GPL-3.0-only", "a tool");
        let dev = PackageFacts {
            path: StorePath::parse(LIBC_DEV).unwrap(),
            root: 1,
            outputs: Vec::new(),
            license: None,
            homepage: None,
            download_location: None,
            identifiers: Identifiers::default(),
        };
        let doc = document(&Input {
            closure: &closure,
            results: &results,
            roots: &[&top, &tool],
            system: None,
            created: 0,
            packages: std::slice::from_ref(&dev),
            build_dependencies: true,
        })
        .json;
        assert_eq!(doc["name"], "hello-2.12");
        for (path, license, description) in
            [(TOP, "MIT", "says hello"), (TOOL, "GPL-3.0-only", "a tool")]
        {
            let package = package(&doc, path);
            assert_eq!(package["licenseDeclared"], license);
            assert_eq!(package["description"], description);
            assert_eq!(package["primaryPackagePurpose"], "APPLICATION");
        }
        assert!(package(&doc, LIBC).get("description").is_none());
        let relationships = doc["relationships"].as_array().unwrap();
        let described: Vec<&Value> = relationships
            .iter()
            .filter(|r| r["relationshipType"] == "DESCRIBES")
            .map(|r| &r["relatedSpdxElement"])
            .collect();
        assert_eq!(
            described,
            [&json!(spdx_id(&results[0])), &json!(spdx_id(&results[1]))]
        );
        // A build dependency belongs to the package whose derivations reached it.
        let built_with = relationships
            .iter()
            .find(|r| r["relationshipType"] == "BUILD_DEPENDENCY_OF")
            .unwrap();
        assert_eq!(built_with["relatedSpdxElement"], spdx_id(&results[1]));
    }
}
