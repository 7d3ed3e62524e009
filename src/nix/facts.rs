//! What the evaluation reports about the value being built and the derivations it is built
//! from: facts.nix's `info` as `DerivationInfo` (image config, labels, the SBOM's main package) and
//! its `packages` as `PackageFacts` (the SBOM's other packages). Untrusted, read leniently.

use serde::{Deserialize, Deserializer};
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
    #[serde(deserialize_with = "identifiers_leniently")]
    pub identifiers: Identifiers,
}

/// What a derivation's `meta.identifiers` holds (facts.nix's `identifiers`), as nixpkgs' stdenv
/// fills it in: strings as they came, checked where they are used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identifiers {
    /// `cpe`: the CPE 2.3 string made of all its cpeParts.
    pub cpe: Option<String>,
    /// The `cpe` of each of `possibleCPEs`: nixpkgs' guesses when some parts are not known.
    pub possible_cpes: Vec<String>,
    /// `purl`, then `purls`.
    pub purls: Vec<String>,
}

/// At most this many strings of each list in `identifiers` are read (facts.nix sends 32).
const MAX_LISTED_IDENTIFIERS: usize = 64;

impl Identifiers {
    pub fn is_empty(&self) -> bool {
        self.cpe.is_none() && self.possible_cpes.is_empty() && self.purls.is_empty()
    }

    /// `identifiers` as facts.nix writes it; anything but a string where one is expected is left
    /// out, so that an odd value costs only itself.
    pub fn from_value(value: &Value) -> Self {
        let strings = |key: &str| -> Vec<String> {
            value
                .get(key)
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .take(MAX_LISTED_IDENTIFIERS)
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        Identifiers {
            cpe: value.get("cpe").and_then(Value::as_str).map(String::from),
            possible_cpes: strings("possibleCPEs"),
            purls: strings("purls"),
        }
    }
}

/// `identifiers` of `info.json` read as `Identifiers::from_value` does: never an error that would
/// lose the rest of the facts.
fn identifiers_leniently<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Identifiers, D::Error> {
    Ok(Identifiers::from_value(&Value::deserialize(deserializer)?))
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
    pub identifiers: Identifiers,
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
                identifiers: entry
                    .get("identifiers")
                    .map(Identifiers::from_value)
                    .unwrap_or_default(),
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

    #[test]
    fn identifiers_are_read_leniently() {
        let cpe = "cpe:2.3:a:gnu:hello:2.12:*:*:*:*:*:*:*";
        let json = json!([
            { "path": TOP, "identifiers": {
                "cpe": cpe,
                "possibleCPEs": [cpe, 7, null, { "cpe": cpe }],
                "purls": ["pkg:github/gnu/hello", ["nested"]],
            } },
            { "path": LIBC, "identifiers": { "cpe": 42, "possibleCPEs": "not a list", "purls": null } },
            { "path": LIBC_DEV, "identifiers": "not an object" },
        ]);
        let facts = parse_packages(json.to_string().as_bytes());
        assert_eq!(
            facts[0].identifiers,
            Identifiers {
                cpe: Some(cpe.into()),
                possible_cpes: vec![cpe.into()],
                purls: vec!["pkg:github/gnu/hello".into()],
            }
        );
        assert!(facts[1].identifiers.is_empty());
        assert!(facts[2].identifiers.is_empty());

        // In info.json, odd identifiers cost only themselves, never the other facts.
        for identifiers in [json!(null), json!([1, 2]), json!({ "cpe": { "x": 1 } })] {
            let info: DerivationInfo =
                serde_json::from_value(json!({ "name": "hello-2.12", "identifiers": identifiers }))
                    .unwrap();
            assert_eq!(info.name.as_deref(), Some("hello-2.12"));
            assert!(info.identifiers.is_empty());
        }
        let info: DerivationInfo =
            serde_json::from_value(json!({ "identifiers": { "cpe": cpe } })).unwrap();
        assert_eq!(info.identifiers.cpe.as_deref(), Some(cpe));
    }

    proptest::proptest! {
        #[test]
        fn parse_packages_never_panics(text in "[\\[\\]{}\",:a-z/0-9 ]{0,120}") {
            let _ = parse_packages(text.as_bytes());
        }
    }
}
