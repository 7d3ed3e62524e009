//! What the evaluation reports about the value being built and the derivations it is built
//! from: facts.nix's `info` as `DerivationInfo` (image config, labels, the SBOM's main package) and
//! its `packages` as `PackageFacts` (the SBOM's other packages). Untrusted, read leniently.

use serde::Deserialize;
use serde_json::Value;

use crate::nix::closure::StorePath;

/// What facts.nix's `info` reports about the built value (all optional). Not read here: its
/// `outputName`, which the scripts' evaluation (`nf_evaluate` in common.sh, for builder.sh and
/// eval.sh) reads to realise only the selected output, and `derivation` (whether the value is
/// one), which nothing reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DerivationInfo {
    pub name: Option<String>,
    pub pname: Option<String>,
    pub version: Option<String>,
    pub description: Option<String>,
    pub homepage: Option<String>,
    pub license: Option<String>,
    pub main_program: Option<String>,
    pub revision: Option<String>,
    /// `passthru.imageConfig` as JSON text.
    pub image_config: Option<String>,
}

/// One package the image is of (an attribute's first output; the image's root links point into
/// them), with what facts.nix's `info` says of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootPackage {
    pub path: StorePath,
    pub info: DerivationInfo,
}

/// What facts.nix's `packages` reports of one derivation output the result is built from. Untrusted:
/// every field is checked where it is used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFacts {
    /// The output referenced.
    pub path: StorePath,
    /// Which of the image's packages (`RootPackage`, by index) it was reached from.
    pub root: usize,
    /// Every output of its derivation.
    pub outputs: Vec<StorePath>,
    pub license: Option<String>,
    pub homepage: Option<String>,
    pub download_location: Option<String>,
}

/// At most this many derivations are taken from `packages.json`.
const MAX_PACKAGES: usize = 200_000;

/// `packages.json` as facts.nix's `packages` writes it: entries that are not objects, or whose paths
/// are no store paths, are skipped; strings where they are expected, or nothing.
pub fn parse_packages(json: &[u8]) -> Vec<PackageFacts> {
    let Ok(Value::Array(entries)) = serde_json::from_slice::<Value>(json) else {
        return Vec::new();
    };
    let string =
        |entry: &Value, key: &str| entry.get(key).and_then(Value::as_str).map(String::from);
    entries
        .iter()
        .take(MAX_PACKAGES)
        .filter_map(|entry| {
            let path = StorePath::parse(entry.get("path")?.as_str()?).ok()?;
            let outputs = entry
                .get("outputs")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(|o| StorePath::parse(o.as_str()?).ok())
                        .take(64)
                        .collect()
                })
                .unwrap_or_default();
            Some(PackageFacts {
                path,
                root: 0,
                outputs,
                license: string(entry, "license"),
                homepage: string(entry, "homepage"),
                download_location: string(entry, "downloadLocation"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TOP: &str = "/nix/store/0c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-hello-2.12";
    const LIBC: &str = "/nix/store/9v5d40jyvmwgnq1nj8f19ji2rcc5dksd-glibc-2.40";
    const LIBC_DEV: &str = "/nix/store/2v5d40jyvmwgnq1nj8f19ji2rcc5dksd-glibc-2.40-dev";

    #[test]
    fn packages_json_is_read_leniently() {
        let json = json!([
            { "path": TOP, "outputs": [TOP], "license": "MIT", "downloadLocation": "https://e.org/h.tgz" },
            { "path": "/etc/passwd", "outputs": [] },
            { "path": LIBC, "outputs": [LIBC, LIBC_DEV, "../x", 7], "license": ["not", "a string"] },
            "not an object",
            { "outputs": [TOP] },
        ]);
        let facts = parse_packages(json.to_string().as_bytes());
        assert_eq!(facts.len(), 2);
        assert_eq!(
            facts[0].download_location.as_deref(),
            Some("https://e.org/h.tgz")
        );
        assert_eq!(facts[1].outputs.len(), 2);
        assert_eq!(facts[1].license, None);
        assert!(parse_packages(b"{}").is_empty());
        assert!(parse_packages(b"not json").is_empty());
    }

    proptest::proptest! {
        #[test]
        fn parse_packages_never_panics(text in "[\\[\\]{}\",:a-z/0-9 ]{0,120}") {
            let _ = parse_packages(text.as_bytes());
        }
    }
}
