//! The evaluation's three texts (records, dry run, roots) parsed and checked: they come from a
//! build step, so they are untrusted, bounded, and refused rather than guessed at.

use std::collections::BTreeSet;

use crate::nix::closure::StorePath;

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
