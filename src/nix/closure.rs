//! The runtime closure the builder reports, parsed and validated.
//!
//! `closure.json` is written by `nix path-info --json --recursive` inside a container that also
//! ran the user's build, so it is untrusted input: every path must be a well-formed store path
//! (`/nix/store/<32 base-32 chars>-<name>`), appear once, and every reference must stay inside
//! the closure. Nix changed the JSON shape across releases (a list of objects with `path` up to
//! 2.18, an object keyed by path since 2.19; newer ones may give references as base names), so
//! both forms are read.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

pub const STORE_DIR: &str = "/nix/store";
/// Nix's base-32 alphabet (no e, o, u, t).
pub const NIX_BASE32: &str = "0123456789abcdfghijklmnpqrsvwxyz";
const HASH_LEN: usize = 32;
/// Nix's own limit on store path names.
const MAX_NAME_LEN: usize = 211;

/// Limits on what we accept from the builder; beyond them the closure is refused, not truncated.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_paths: usize,
    pub max_total_nar_bytes: u64,
    pub max_manifest_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_paths: 100_000,
            max_total_nar_bytes: 1 << 40,
            max_manifest_bytes: Self::DEFAULT_MAX_MANIFEST_BYTES,
        }
    }
}

impl Limits {
    /// 64 MiB: past BuildKit's 16 MiB message limit, so such files are read in ranges.
    pub const DEFAULT_MAX_MANIFEST_BYTES: usize = 64 << 20;
}

/// A validated store path such as `/nix/store/0c8…-hello-2.12`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StorePath(String);

impl StorePath {
    /// Accepts exactly `/nix/store/<hash>-<name>`, nothing else (no `..`, no slashes in the name,
    /// no trailing slash).
    pub fn parse(text: &str) -> Result<StorePath, PathError> {
        let base = text
            .strip_prefix(STORE_DIR)
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or(PathError::NotInStore)?;
        validate_base_name(base)?;
        Ok(StorePath(text.to_string()))
    }

    /// Accepts a full path or, as newer Nix writes references, a bare `<hash>-<name>`.
    fn parse_lenient(text: &str) -> Result<StorePath, PathError> {
        if text.starts_with('/') {
            StorePath::parse(text)
        } else {
            validate_base_name(text)?;
            Ok(StorePath(format!("{STORE_DIR}/{text}")))
        }
    }

    /// `<hash>-<name>`, the entry in `/nix/store`.
    pub fn base_name(&self) -> &str {
        &self.0[STORE_DIR.len() + 1..]
    }

    /// The part after the hash, e.g. `hello-2.12`.
    pub fn name(&self) -> &str {
        &self.base_name()[HASH_LEN + 1..]
    }
}

impl fmt::Display for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn validate_base_name(base: &str) -> Result<(), PathError> {
    let (hash, name) = base.split_at_checked(HASH_LEN).ok_or(PathError::BadHash)?;
    if !hash.chars().all(|c| NIX_BASE32.contains(c)) {
        return Err(PathError::BadHash);
    }
    let name = name.strip_prefix('-').ok_or(PathError::BadHash)?;
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(PathError::BadName);
    }
    // Nix's allowed name characters; a leading dot is refused (so `.` and `..` cannot occur).
    if name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-._?=".contains(c))
    {
        return Err(PathError::BadName);
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    NotInStore,
    BadHash,
    BadName,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotInStore => "not directly inside /nix/store",
            PathError::BadHash => "no 32-character Nix base-32 hash after /nix/store/",
            PathError::BadName => "a name Nix never makes (empty, too long, leading dot, or a character outside [A-Za-z0-9+-._?=])",
        })
    }
}

/// One store path of the closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathInfo {
    pub path: StorePath,
    pub nar_size: u64,
    /// The SHA-256 of the path's NAR serialisation, when the builder reported a well-formed one.
    pub nar_hash: Option<[u8; 32]>,
    pub references: BTreeSet<StorePath>,
}

/// A validated runtime closure, sorted by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closure {
    pub paths: BTreeMap<StorePath, PathInfo>,
}

impl Closure {
    pub fn total_nar_size(&self) -> u64 {
        // Checked at parse time to stay within Limits, so this cannot overflow.
        self.paths.values().map(|info| info.nar_size).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClosureError {
    TooLarge { bytes: usize, limit: usize },
    Json(String),
    Shape(String),
    BadPath { path: String, error: PathError },
    Duplicate(String),
    DanglingReference { from: String, to: String },
    TooManyPaths { count: usize, limit: usize },
    TooManyBytes { limit: u64 },
    MissingResult(String),
}

impl fmt::Display for ClosureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClosureError::TooLarge { bytes, limit } => {
                write!(
                    f,
                    "the closure manifest is {bytes} bytes, over the limit of {limit}"
                )
            }
            ClosureError::Json(err) => write!(f, "the closure manifest is not valid JSON: {err}"),
            ClosureError::Shape(what) => {
                write!(f, "the closure manifest has an unexpected shape: {what}")
            }
            ClosureError::BadPath { path, error } => {
                write!(
                    f,
                    "the builder reported {path:?}, which is not a store path: {error}"
                )
            }
            ClosureError::Duplicate(path) => write!(f, "the builder reported {path} twice"),
            ClosureError::DanglingReference { from, to } => {
                write!(f, "{from} refers to {to}, which is not in the closure")
            }
            ClosureError::TooManyPaths { count, limit } => write!(
                f,
                "the closure has {count} store paths, over the limit of {limit}"
            ),
            ClosureError::TooManyBytes { limit } => write!(
                f,
                "the closure's NAR size is over the limit of {limit} bytes"
            ),
            ClosureError::MissingResult(path) => {
                write!(f, "the build result {path} is not in its own closure")
            }
        }
    }
}

impl std::error::Error for ClosureError {}

/// Parses and validates `nix path-info --json --recursive` output; `results` are the build
/// outputs, which must be in the closure.
pub fn parse(
    manifest: &[u8],
    results: &[StorePath],
    limits: &Limits,
) -> Result<Closure, ClosureError> {
    if manifest.len() > limits.max_manifest_bytes {
        return Err(ClosureError::TooLarge {
            bytes: manifest.len(),
            limit: limits.max_manifest_bytes,
        });
    }
    let value: Value =
        serde_json::from_slice(manifest).map_err(|err| ClosureError::Json(err.to_string()))?;
    let entries: Vec<(String, &Value)> = match &value {
        Value::Array(items) => items
            .iter()
            .map(|item| {
                let path = item.get("path").and_then(Value::as_str).ok_or_else(|| {
                    ClosureError::Shape("a list entry without a \"path\" string".into())
                })?;
                Ok((path.to_string(), item))
            })
            .collect::<Result<_, ClosureError>>()?,
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        _ => return Err(ClosureError::Shape("neither a list nor an object".into())),
    };
    if entries.len() > limits.max_paths {
        return Err(ClosureError::TooManyPaths {
            count: entries.len(),
            limit: limits.max_paths,
        });
    }
    let mut paths = BTreeMap::new();
    let mut total: u64 = 0;
    for (path_text, info) in entries {
        let path = StorePath::parse_lenient(&path_text).map_err(|error| ClosureError::BadPath {
            path: path_text.clone(),
            error,
        })?;
        if info.is_null() {
            return Err(ClosureError::Shape(format!(
                "{path} is not valid in the builder's store"
            )));
        }
        let nar_size = info.get("narSize").and_then(Value::as_u64).ok_or_else(|| {
            ClosureError::Shape(format!("{path} has no narSize that fits in 64 bits"))
        })?;
        total = total
            .checked_add(nar_size)
            .filter(|total| *total <= limits.max_total_nar_bytes)
            .ok_or(ClosureError::TooManyBytes {
                limit: limits.max_total_nar_bytes,
            })?;
        let references = match info.get("references") {
            None | Some(Value::Null) => BTreeSet::new(),
            Some(Value::Array(list)) => list
                .iter()
                .map(|reference| {
                    let text = reference.as_str().ok_or_else(|| {
                        ClosureError::Shape(format!("{path} has a reference that is not a string"))
                    })?;
                    StorePath::parse_lenient(text).map_err(|error| ClosureError::BadPath {
                        path: text.to_string(),
                        error,
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(ClosureError::Shape(format!(
                    "{path} has references that are not a list"
                )))
            }
        };
        // Only for the SBOM: a missing or malformed hash leaves the path without a checksum.
        let nar_hash = info
            .get("narHash")
            .and_then(Value::as_str)
            .and_then(parse_nar_hash);
        let info = PathInfo {
            path: path.clone(),
            nar_size,
            nar_hash,
            references,
        };
        if paths.insert(path.clone(), info).is_some() {
            return Err(ClosureError::Duplicate(path.to_string()));
        }
    }
    for info in paths.values() {
        if let Some(missing) = info.references.iter().find(|r| !paths.contains_key(*r)) {
            return Err(ClosureError::DanglingReference {
                from: info.path.to_string(),
                to: missing.to_string(),
            });
        }
    }
    if let Some(missing) = results.iter().find(|r| !paths.contains_key(*r)) {
        return Err(ClosureError::MissingResult(missing.to_string()));
    }
    Ok(Closure { paths })
}

/// Bytes as lowercase hex: how BuildKit's digests, `--load-db` records and SPDX checksums
/// write a SHA-256.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A NAR hash as `nix path-info --json` writes it: SRI `sha256-<base64>` (Nix 2.4 and later)
/// or `sha256:<nix base-32>` (older). Anything else is not a SHA-256 hash.
pub fn parse_nar_hash(text: &str) -> Option<[u8; 32]> {
    use base64::Engine;
    if let Some(b64) = text.strip_prefix("sha256-") {
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
        return bytes.try_into().ok();
    }
    let digits = text.strip_prefix("sha256:")?;
    match digits.len() {
        52 => nix_base32_decode(digits),
        64 => {
            let mut out = [0u8; 32];
            for (i, pair) in digits.as_bytes().chunks(2).enumerate() {
                let pair = std::str::from_utf8(pair).ok()?;
                out[i] = u8::from_str_radix(pair, 16).ok()?;
            }
            Some(out)
        }
        _ => None,
    }
}

/// Nix's base-32 (its own alphabet, least significant digit last) into 32 bytes.
fn nix_base32_decode(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    let chars = text.as_bytes();
    for n in 0..chars.len() {
        let c = chars[chars.len() - 1 - n];
        let digit = NIX_BASE32.as_bytes().iter().position(|a| *a == c)? as u16;
        let bit = n * 5;
        let (i, j) = (bit / 8, bit % 8);
        let value = digit << j;
        out[i] |= (value & 0xff) as u8;
        let carry = (value >> 8) as u8;
        if carry != 0 {
            *out.get_mut(i + 1)? |= carry;
        }
    }
    Some(out)
}

impl From<ClosureError> for crate::error::UserError {
    fn from(err: ClosureError) -> Self {
        crate::error::UserError::new(err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &str = "/nix/store/0c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-hello-2.12";
    const LIBC: &str = "/nix/store/9v5d40jyvmwgnq1nj8f19ji2rcc5dksd-glibc-2.40";

    fn limits() -> Limits {
        Limits::default()
    }

    #[test]
    fn reads_the_object_form() {
        let manifest = format!(
            r#"{{"{HELLO}":{{"narSize":100,"references":["{HELLO}","{LIBC}"]}},"{LIBC}":{{"narSize":2000,"references":[]}}}}"#
        );
        let closure = parse(
            manifest.as_bytes(),
            &[StorePath::parse(HELLO).unwrap()],
            &limits(),
        )
        .unwrap();
        assert_eq!(closure.paths.len(), 2);
        assert_eq!(closure.total_nar_size(), 2100);
    }

    #[test]
    fn reads_the_list_form_and_base_name_references() {
        let manifest = format!(
            r#"[{{"path":"{HELLO}","narSize":1,"references":["{}"]}},{{"path":"{LIBC}","narSize":2}}]"#,
            &LIBC["/nix/store/".len()..]
        );
        let closure = parse(manifest.as_bytes(), &[], &limits()).unwrap();
        let hello = &closure.paths[&StorePath::parse(HELLO).unwrap()];
        assert!(hello.references.contains(&StorePath::parse(LIBC).unwrap()));
    }

    #[test]
    fn refuses_hostile_paths() {
        for bad in [
            "/etc/passwd",
            "/nix/store/../x",
            "/nix/store/..",
            "/nix/store/0c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-a/b",
            "/nix/store/0c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-..",
            "/nix/store/0c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-",
            "/nix/store/0c8ss4yhh4rrqmjbdhdz6mhjn2k9yyzE-hello",
            "/nix/store/0c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-hello/",
            "/nix/store/0c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-he llo",
            "/nix/store/0c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-he\nllo",
            "/nix/store//0c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-hello",
            "/nix/storex/0c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-hello",
            "nix/store/0c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-hello",
            "/nix/store/0c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4",
            "/nix/store/0c8ss4yhh4rrqmjbdhdz6mhjn2k9yyé-hello",
        ] {
            assert!(StorePath::parse(bad).is_err(), "accepted {bad:?}");
            let manifest = serde_json::json!({ bad: { "narSize": 1, "references": [] } });
            let err = parse(manifest.to_string().as_bytes(), &[], &limits()).unwrap_err();
            assert!(
                matches!(err, ClosureError::BadPath { .. }),
                "{bad:?}: {err}"
            );
        }
        let long = format!(
            "/nix/store/0c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-{}",
            "a".repeat(212)
        );
        assert!(StorePath::parse(&long).is_err());
    }

    #[test]
    fn refuses_huge_numbers_and_totals() {
        let manifest =
            format!(r#"{{"{HELLO}":{{"narSize":184467440737095516150,"references":[]}}}}"#);
        assert!(matches!(
            parse(manifest.as_bytes(), &[], &limits()),
            Err(ClosureError::Shape(_))
        ));
        let manifest = format!(
            r#"{{"{HELLO}":{{"narSize":18446744073709551615}},"{LIBC}":{{"narSize":18446744073709551615}}}}"#
        );
        assert!(matches!(
            parse(manifest.as_bytes(), &[], &limits()),
            Err(ClosureError::TooManyBytes { .. })
        ));
        let manifest = format!(r#"{{"{HELLO}":{{"narSize":-1}}}}"#);
        assert!(parse(manifest.as_bytes(), &[], &limits()).is_err());
    }

    #[test]
    fn refuses_duplicates_dangling_references_and_missing_results() {
        let manifest =
            format!(r#"[{{"path":"{HELLO}","narSize":1}},{{"path":"{HELLO}","narSize":1}}]"#);
        assert_eq!(
            parse(manifest.as_bytes(), &[], &limits()),
            Err(ClosureError::Duplicate(HELLO.into()))
        );
        let manifest = format!(r#"{{"{HELLO}":{{"narSize":1,"references":["{LIBC}"]}}}}"#);
        assert!(matches!(
            parse(manifest.as_bytes(), &[], &limits()),
            Err(ClosureError::DanglingReference { .. })
        ));
        let manifest = format!(r#"{{"{HELLO}":{{"narSize":1}}}}"#);
        assert!(matches!(
            parse(
                manifest.as_bytes(),
                &[StorePath::parse(LIBC).unwrap()],
                &limits()
            ),
            Err(ClosureError::MissingResult(_))
        ));
    }

    #[test]
    fn refuses_too_many_paths_and_oversized_manifests() {
        let small = Limits {
            max_paths: 1,
            ..Limits::default()
        };
        let manifest = format!(r#"{{"{HELLO}":{{"narSize":1}},"{LIBC}":{{"narSize":1}}}}"#);
        assert_eq!(
            parse(manifest.as_bytes(), &[], &small),
            Err(ClosureError::TooManyPaths { count: 2, limit: 1 })
        );
        let tiny = Limits {
            max_manifest_bytes: 10,
            ..Limits::default()
        };
        assert!(matches!(
            parse(manifest.as_bytes(), &[], &tiny),
            Err(ClosureError::TooLarge { .. })
        ));
    }

    #[test]
    fn refuses_wrong_shapes() {
        for bad in [
            "",
            "3",
            "\"x\"",
            "[1]",
            "[{\"narSize\":1}]",
            "{\"/nix/store/x\":1}",
        ] {
            assert!(parse(bad.as_bytes(), &[], &limits()).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse(&bytes, &[], &limits());
        }

        #[test]
        fn accepted_paths_stay_inside_the_store((text, valid) in store_path_candidates()) {
            let parsed = StorePath::parse(&text);
            proptest::prop_assert_eq!(parsed.is_ok(), valid, "{:?}", text);
            if let Ok(path) = parsed {
                proptest::prop_assert!(!path.base_name().contains('/'));
                proptest::prop_assert!(!path.name().starts_with('.'));
                proptest::prop_assert!(path.to_string().starts_with("/nix/store/"));
                proptest::prop_assert_eq!(path.to_string(), text);
            }
        }
    }

    /// A store path Nix could make (a hash of its base-32 alphabet, a name of its characters),
    /// most often as it is, otherwise with a hostile suffix (a slash, `..`, a control character,
    /// a shell metacharacter, ...); with whether it is valid: no suffix and no leading dot.
    fn store_path_candidates() -> impl proptest::strategy::Strategy<Value = (String, bool)> {
        use proptest::prelude::*;
        let hash = proptest::collection::vec(proptest::sample::select(NIX_BASE32.as_bytes()), 32)
            .prop_map(|bytes| String::from_utf8(bytes).unwrap());
        let name = "[A-Za-z0-9+._?=-]{1,60}";
        // Each starts with a character no store path name has, so the whole is never valid.
        let suffix = prop_oneof![
            3 => Just(String::new()),
            1 => prop_oneof![
                Just("/".to_string()),
                Just("/..".to_string()),
                Just("/../../etc/passwd".to_string()),
                Just("\n".to_string()),
                Just("\0".to_string()),
                "[/ \t\n\x00$;|&`'\"\\*~!#%,:<>@^{}é\\[\\]](?s).{0,12}",
            ],
        ];
        (hash, name, suffix).prop_map(|(hash, name, suffix)| {
            let valid = suffix.is_empty() && !name.starts_with('.');
            (format!("{STORE_DIR}/{hash}-{name}{suffix}"), valid)
        })
    }

    /// The property above checks only what `parse` accepts: its generator must make a good share
    /// of valid store paths, or its assertions never run.
    #[test]
    fn store_path_candidates_are_often_valid() {
        use proptest::strategy::{Strategy, ValueTree};
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = store_path_candidates();
        let cases = 1000;
        let accepted = (0..cases)
            .filter(|_| {
                let (text, _) = strategy.new_tree(&mut runner).unwrap().current();
                StorePath::parse(&text).is_ok()
            })
            .count();
        assert!(
            accepted * 4 >= cases,
            "{accepted} of {cases} generated candidates are valid store paths"
        );
    }

    #[test]
    fn reads_nar_hashes_in_every_form() {
        const SRI: &str = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        const EMPTY_SHA256: &str =
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let expect = |h: Option<[u8; 32]>| h.map(|h| hex(&h));
        assert_eq!(expect(parse_nar_hash(SRI)).as_deref(), Some(EMPTY_SHA256));
        assert_eq!(
            expect(parse_nar_hash(&format!("sha256:{EMPTY_SHA256}"))).as_deref(),
            Some(EMPTY_SHA256)
        );
        // `nix-hash --type sha256 --to-base32` of the hash of the empty string.
        assert_eq!(
            expect(parse_nar_hash(
                "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
            ))
            .as_deref(),
            Some(EMPTY_SHA256)
        );
        for bad in [
            "",
            "sha256-",
            "sha256-AAAA",
            "md5-1B2M2Y8AsgTpgAmY7PhCfg==",
            "sha256:zz",
            "sha256:0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c7e",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g",
        ] {
            assert_eq!(parse_nar_hash(bad), None, "{bad:?}");
        }
    }
}
