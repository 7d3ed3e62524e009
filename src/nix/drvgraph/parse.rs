//! The evaluation's three texts (records, dry run, roots) parsed and checked: they come from a
//! build step, so they are untrusted, bounded, and refused rather than guessed at.

use std::collections::{BTreeMap, BTreeSet};

use crate::nix::closure::StorePath;
use crate::nix::narinfo::NarFile;

use super::{invalid, DryRun, GraphError, Record, Root};

/// At most this many records or lines are accepted from the evaluation.
const MAX_RECORDS: usize = 200_000;
const MAX_REFERENCES: usize = 100_000;

fn store_path(text: &str, what: &str) -> Result<StorePath, GraphError> {
    StorePath::parse(text).map_err(|err| invalid(format!("{what} {text:?}: {err}")))
}

/// Parses `nix-store --dump-db` output; every path once, every reference a store path.
pub fn parse_records(text: &str) -> Result<Vec<Record>, GraphError> {
    let mut lines = text.lines();
    let mut records = Vec::new();
    let mut seen = BTreeSet::new();
    while let Some(first) = lines.next() {
        if first.is_empty() {
            continue;
        }
        if records.len() >= MAX_RECORDS {
            return Err(invalid(format!("more than {MAX_RECORDS} records")));
        }
        let path = store_path(first, "record path")?;
        let mut next = |what: &str| {
            lines
                .next()
                .ok_or_else(|| invalid(format!("the record of {path} ends before its {what}")))
        };
        let nar_hash = next("hash")?.to_string();
        if nar_hash.is_empty()
            || nar_hash.len() > 128
            || !nar_hash
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+/=:-".contains(c))
        {
            return Err(invalid(format!(
                "the record of {path} has a malformed hash"
            )));
        }
        let nar_size = next("size")?
            .parse::<u64>()
            .map_err(|_| invalid(format!("the record of {path} has a malformed size")))?;
        let deriver = match next("deriver")? {
            "" => None,
            d => Some(store_path(d, "deriver")?),
        };
        let count = next("reference count")?
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= MAX_REFERENCES)
            .ok_or_else(|| {
                invalid(format!(
                    "the record of {path} has a malformed reference count"
                ))
            })?;
        let mut references = Vec::with_capacity(count);
        for _ in 0..count {
            references.push(store_path(next("references")?, "reference")?);
        }
        if !seen.insert(path.clone()) {
            return Err(invalid(format!("{path} is recorded twice")));
        }
        records.push(Record {
            path,
            nar_hash,
            nar_size,
            deriver,
            references,
        });
    }
    Ok(records)
}

/// Reads the "will be built" and "will be fetched" lists (Nix 2.x wording, singular or plural);
/// every other line is ignored.
pub fn parse_dry_run(text: &str) -> Result<DryRun, GraphError> {
    let mut dry_run = DryRun::default();
    let mut section: Option<bool> = None; // Some(true): built, Some(false): fetched
    for line in text.lines() {
        if let Some(indented) = line.strip_prefix("  ") {
            if let Some(building) = section {
                let path = store_path(indented.trim(), "path in the dry run")?;
                if building {
                    dry_run.build.insert(path);
                } else {
                    dry_run.fetch.insert(path);
                }
            }
            continue;
        }
        section = if line.contains(" will be built:") {
            Some(true)
        } else if line.contains(" will be fetched") {
            Some(false)
        } else {
            None
        };
    }
    Ok(dry_run)
}

pub fn parse_roots(text: &str) -> Result<Vec<Root>, GraphError> {
    let mut roots = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let (path, outputs) = match line.split_once('!') {
            Some((path, outputs)) => (path, Some(outputs)),
            None => (line, None),
        };
        let derivation = store_path(path, "root")?;
        if !derivation.base_name().ends_with(".drv") {
            return Err(invalid(format!("root {line:?} is not a derivation")));
        }
        if let Some(outputs) = outputs {
            if outputs.is_empty()
                || !outputs.split(',').all(|o| {
                    !o.is_empty()
                        && o.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_+.-".contains(c))
                })
            {
                return Err(invalid(format!("root {line:?} names malformed outputs")));
            }
        }
        roots.push(Root {
            derivation,
            outputs: outputs.map(str::to_string),
        });
    }
    if roots.is_empty() {
        return Err(invalid("no derivation to build".into()));
    }
    Ok(roots)
}

/// Reads `nix path-info --json` of the paths to fetch, one text per substituter in Nix's order,
/// into records of those paths (the first cache that knows a path wins): what the substitute
/// pieces register of the paths their own refer to. Nix writes an object keyed by path (a path
/// the cache lacks is `null`; 2.19 and later) or a list of objects with `path` (earlier);
/// references are store paths or, in newer formats, their base names. Only paths in `fetch` are
/// kept; a text of another shape is refused.
///
/// Each text comes with its substituter's URL (empty when unknown): a path an HTTP cache holds
/// also gets its `NarFile`, which BuildKit downloads (`nix::narinfo`).
pub fn parse_fetch_info(
    answers: &[(String, String)],
    fetch: &BTreeSet<StorePath>,
) -> Result<FetchInfo, GraphError> {
    let mut records = BTreeMap::new();
    let mut nar_files = BTreeMap::new();
    for (substituter, text) in answers {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|err| invalid(format!("a binary cache's path info is not JSON: {err}")))?;
        let entries: Vec<(String, &serde_json::Value)> = match &value {
            serde_json::Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
            serde_json::Value::Array(list) => list
                .iter()
                .map(|v| {
                    let path = v.get("path").and_then(|p| p.as_str()).unwrap_or_default();
                    (path.to_string(), v)
                })
                .collect(),
            _ => {
                return Err(invalid(
                    "a binary cache's path info is no object or list".into(),
                ))
            }
        };
        if entries.len() > MAX_RECORDS {
            return Err(invalid(format!(
                "more than {MAX_RECORDS} paths of path info"
            )));
        }
        for (key, info) in entries {
            let path = store_path(&key, "path info of")?;
            if !fetch.contains(&path) || records.contains_key(&path) || info.is_null() {
                continue;
            }
            if info.get("valid").and_then(|v| v.as_bool()) == Some(false) {
                continue;
            }
            if let Some(nar) = NarFile::from_path_info(substituter, info) {
                nar_files.insert(path.clone(), nar);
            }
            records.insert(path.clone(), fetch_record(path, info)?);
        }
    }
    Ok(FetchInfo { records, nar_files })
}

/// What the binary caches said of the paths to fetch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchInfo {
    /// Each path's record, from the first cache (in Nix's order) that holds it.
    pub records: BTreeMap<StorePath, Record>,
    /// The path's file in that cache, when BuildKit can download it.
    pub nar_files: BTreeMap<StorePath, NarFile>,
}

fn fetch_record(path: StorePath, info: &serde_json::Value) -> Result<Record, GraphError> {
    let hash = info
        .get("narHash")
        .and_then(|h| h.as_str())
        .and_then(crate::nix::closure::parse_nar_hash)
        .ok_or_else(|| invalid(format!("the path info of {path} has no SHA-256 narHash")))?;
    let nar_size = info
        .get("narSize")
        .and_then(|s| s.as_u64())
        .ok_or_else(|| invalid(format!("the path info of {path} has no narSize")))?;
    let listed = info
        .get("references")
        .and_then(|r| r.as_array())
        .ok_or_else(|| invalid(format!("the path info of {path} has no references")))?;
    if listed.len() > MAX_REFERENCES {
        return Err(invalid(format!(
            "the path info of {path} has too many references"
        )));
    }
    let mut references = Vec::with_capacity(listed.len());
    for reference in listed {
        let text = reference.as_str().ok_or_else(|| {
            invalid(format!(
                "the path info of {path} has a reference that is no string"
            ))
        })?;
        let full = if text.starts_with('/') {
            text.to_string()
        } else {
            format!("{}/{text}", crate::nix::closure::STORE_DIR)
        };
        references.push(store_path(&full, "reference")?);
    }
    references.sort();
    references.dedup();
    Ok(Record {
        path,
        nar_hash: format!("sha256:{}", crate::nix::closure::hex(&hash)),
        nar_size,
        deriver: None,
        references,
    })
}
