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

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::nix::closure::{Closure, StorePath};
use crate::nix::facts::{PackageFacts, RootPackage};

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

/// The SPDX 2.3 JSON document, compact.
pub fn document(input: &Input) -> Vec<u8> {
    serde_json::to_vec(&document_value(input)).unwrap_or_default()
}

pub fn document_value(input: &Input) -> Value {
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
        });
        let fact = root_facts.as_ref().or(fact);
        let mut package = package_of(path, fact, input.system, &mut license_refs);
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
    document
}

/// A store path's package without its checksum: name and version from the store path's name,
/// and what the walk says of it (license, homepage, the URL its source comes from).
fn package_of(
    path: &StorePath,
    fact: Option<&PackageFacts>,
    system: Option<&str>,
    license_refs: &mut BTreeMap<String, String>,
) -> Value {
    let (name, version) = parse_drv_name(path.name());
    let download = url(fact.and_then(|f| f.download_location.as_deref())).unwrap_or("NOASSERTION");
    let mut package = json!({
        "name": name,
        "SPDXID": spdx_id(path),
        "downloadLocation": download,
        "filesAnalyzed": false,
        "packageFileName": path.to_string(),
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
        "externalRefs": [{
            "referenceCategory": "PACKAGE-MANAGER",
            "referenceType": "purl",
            "referenceLocator": purl(name, version, system),
        }],
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

/// `pkg:nix/NAME@VERSION?system=SYSTEM`, percent-encoded as package-url requires.
fn purl(name: &str, version: &str, system: Option<&str>) -> String {
    let name = if name.is_empty() { "unnamed" } else { name };
    let mut purl = format!("pkg:nix/{}", percent_encode(name));
    if !version.is_empty() {
        purl.push('@');
        purl.push_str(&percent_encode(version));
    }
    if let Some(system) = system {
        purl.push_str("?system=");
        purl.push_str(&percent_encode(system));
    }
    purl
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The license expression of `meta.license` (`info.json` joins ids with " AND "): SPDX ids as
/// they are, anything else as a `LicenseRef-` declared in the document, NOASSERTION when there
/// is nothing usable. Returns the expression and the LicenseRefs (id, original text).
fn licenses(license: Option<&str>) -> (String, Vec<(String, String)>) {
    let noassertion = || ("NOASSERTION".to_string(), Vec::new());
    let Some(license) = license.filter(|l| !l.trim().is_empty() && l.len() <= 4 * MAX_TEXT) else {
        return noassertion();
    };
    let ids: Vec<&str> = license.split(" AND ").map(str::trim).collect();
    if ids.len() > MAX_LICENSE_IDS || ids.iter().any(|id| id.is_empty()) {
        return noassertion();
    }
    let mut terms = Vec::new();
    let mut refs: Vec<(String, String)> = Vec::new();
    for id in ids {
        if let Some(known) = spdx_license_id(id) {
            terms.push(known.to_string());
            continue;
        }
        let reference = format!("LicenseRef-{}", sanitize_ref(id));
        if !refs.iter().any(|(r, _)| *r == reference) {
            refs.push((reference.clone(), id.chars().take(MAX_TEXT).collect()));
        }
        terms.push(reference);
    }
    terms.dedup();
    (terms.join(" AND "), refs)
}

/// `id` as it is spelled in the SPDX license list (ids match case-insensitively).
fn spdx_license_id(id: &str) -> Option<&'static str> {
    SPDX_LICENSE_IDS
        .lines()
        .map(str::trim)
        .find(|known| !known.is_empty() && known.eq_ignore_ascii_case(id))
}

/// A LicenseRef's idstring: letters, digits, `.` and `-` only; a hash keeps distinct ones apart.
fn sanitize_ref(id: &str) -> String {
    let clean: String = id
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    if clean == id {
        clean
    } else {
        let digest = Sha256::digest(id.as_bytes());
        format!("{clean}-{}", &hex(&digest)[..12])
    }
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

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Unix seconds as `YYYY-MM-DDThh:mm:ssZ` (UTC), clamped to years 1970..=9999.
pub fn iso8601(seconds: i64) -> String {
    crate::timestamp::rfc3339(seconds.clamp(0, 253_402_300_799))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nix::closure::{self, Limits};
    use crate::nix::facts::DerivationInfo;

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
        let closure = closure();
        let results = [StorePath::parse(TOP).unwrap()];
        let top = RootPackage {
            path: results[0].clone(),
            info: info.clone(),
        };
        document_value(&Input {
            closure: &closure,
            results: &results,
            roots: &[&top],
            system: Some("x86_64-linux"),
            created: 1_700_000_000,
            packages: &[],
            build_dependencies: false,
        })
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
        let runtime = document_value(&input(false));
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

        let with_build = document_value(&input(true));
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
        };
        let doc = document_value(&Input {
            closure: &closure,
            results: &results,
            roots: &[&top, &tool],
            system: None,
            created: 0,
            packages: std::slice::from_ref(&dev),
            build_dependencies: true,
        });
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
