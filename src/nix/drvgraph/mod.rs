//! Nix's work as a graph of groups: what the evaluation step reports, parsed, validated and cut
//! into the groups of derivations that become BuildKit vertices.
//!
//! The evaluation reports three texts, all untrusted: the roots to realise (`drv!output` lines),
//! the registration records of the derivations' closure (`nix-store --dump-db`: path, hash, size,
//! deriver, reference count, references) and `nix-store --realise --dry-run` (what Nix would
//! build and what it would fetch). From them `plan` cuts the derivations that must be built into
//! groups, each realised by one vertex over its inputs' outputs:
//!
//! - the roots (the image's result) form a group of their own, so that a change to the result's
//!   own source re-runs only that vertex;
//! - a derivation that several others need (or none: a root of another group) starts a group;
//! - a derivation only one other needs joins that one's group, unless that one is a root, so
//!   that chains of cheap derivations cost one container start, not one each;
//! - past `max_groups`, sibling groups (the same consumer) are joined in even chunks, so that a
//!   wide fan of libraries costs a bounded number of container starts (about 175 ms each here).
//!
//! Paths Nix would fetch from a binary cache are substituted in pieces that every group reads, so
//! that a path joining or leaving the set re-runs only its own piece (`plan::substitute_groups`):
//! a piece is the paths of one depth in the fetched paths' reference graph whose name (without
//! the store hash) hashes to one of `SUBSTITUTE_BUCKETS` buckets. A piece registers the records
//! the caches gave of what its paths refer to, without their content, so that Nix fetches only
//! the piece's own paths and the piece's key depends on nothing else; those referenced paths are
//! all of lower depth, so none is in the piece itself. When a cache did not say what a path
//! refers to, every path is substituted in one step.
//!
//! This file holds the types the parsers and the planner share; the three parsers of the
//! evaluation's texts are in `parse.rs`, the planner in `plan.rs`.

mod parse;
mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::nix::closure::StorePath;
use crate::nix::narinfo::NarFile;

pub use parse::{parse_dry_run, parse_fetch_info, parse_records, parse_roots, FetchInfo};
pub use plan::{plan, SUBSTITUTE_BUCKETS};

/// One registration record, as `nix-store --dump-db` prints it and `--load-db` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub path: StorePath,
    pub nar_hash: String,
    pub nar_size: u64,
    pub deriver: Option<StorePath>,
    pub references: Vec<StorePath>,
}

impl Record {
    /// The record in `--load-db`'s format.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{}\n{}\n{}\n{}\n{}\n",
            self.path,
            self.nar_hash,
            self.nar_size,
            self.deriver
                .as_ref()
                .map(|d| d.to_string())
                .unwrap_or_default(),
            self.references.len()
        );
        for reference in &self.references {
            text.push_str(&format!("{reference}\n"));
        }
        text
    }

    fn is_derivation(&self) -> bool {
        self.path.base_name().ends_with(".drv")
    }
}

/// What the evaluation reported that the graph cannot be planned from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError(pub String);

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GraphError {}

fn invalid(what: String) -> GraphError {
    GraphError(format!(
        "the Nix evaluation reported something invalid: {what}"
    ))
}

/// What `nix-store --realise --dry-run` said Nix would do, and what the binary caches said of
/// the paths to fetch (`parse_fetch_info`; empty when they were not asked).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DryRun {
    pub build: BTreeSet<StorePath>,
    pub fetch: BTreeSet<StorePath>,
    pub fetch_records: BTreeMap<StorePath, Record>,
    /// The paths to fetch whose files BuildKit downloads (`nix::narinfo`).
    pub nar_files: BTreeMap<StorePath, NarFile>,
}

/// A root to realise: a derivation with an output (`drv!out`) or all its outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    pub derivation: StorePath,
    pub outputs: Option<String>,
}

impl Root {
    /// The argument `nix-store --realise` takes.
    pub fn argument(&self) -> String {
        match &self.outputs {
            Some(outputs) => format!("{}!{outputs}", self.derivation),
            None => self.derivation.to_string(),
        }
    }
}

/// One vertex of Nix's work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// A stable id: the base name of its first root (a store path, so unique and safe as a
    /// file name).
    pub id: String,
    /// What the vertex realises.
    pub roots: Vec<String>,
    /// The derivations it builds (roots and the ones folded into it), in build order.
    pub members: Vec<StorePath>,
    /// Groups (indices into `Graph::groups`, all earlier) whose outputs it may read: every group
    /// upstream of it, since an input's runtime closure can reach any of them.
    pub upstream: Vec<usize>,
    /// The .drv files and sources its members need, closed under references.
    pub derivation_closure: Vec<StorePath>,
    /// A substitute piece's: the fetched paths its own refer to (closed under references), whose
    /// records it registers without their content; other pieces fetch them.
    pub registered: Vec<StorePath>,
    /// Whether it fetches from binary caches rather than building.
    pub substitute: bool,
    /// The group that builds the image's result.
    pub is_final: bool,
}

impl Group {
    /// The progress name: `build app-1.0`, `build chain-150 and 149 more`, `substitute 3 paths`.
    pub fn step_name(&self) -> String {
        if self.substitute {
            let names: Vec<&str> = self.members.iter().take(3).map(|p| p.name()).collect();
            let more = self.members.len().saturating_sub(3);
            let tail = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            return format!("substitute {}{tail}", names.join(", "));
        }
        let first = self
            .members
            .last()
            .map(|p| p.name().trim_end_matches(".drv").to_string())
            .unwrap_or_default();
        match self.members.len() {
            0 | 1 => format!("build {first}"),
            n => format!("build {first} and {} more", n - 1),
        }
    }
}

/// The planned graph: groups in an order where every group comes after those it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graph {
    pub groups: Vec<Group>,
    /// Records by path, to give each vertex the records of what it copies from the evaluation.
    pub records: BTreeMap<StorePath, Record>,
    /// The caches' records of the paths to fetch, which substitute pieces register.
    pub fetch_records: BTreeMap<StorePath, Record>,
    /// The paths to fetch whose files BuildKit downloads.
    pub nar_files: BTreeMap<StorePath, NarFile>,
}

impl Graph {
    /// The files of substitute piece `group`'s paths, when BuildKit downloads every one of
    /// them (then Nix substitutes from them alone, offline); None when Nix fetches them.
    pub fn nar_files_of(&self, group: &Group) -> Option<Vec<(&Record, &NarFile)>> {
        if !group.substitute {
            return None;
        }
        group
            .members
            .iter()
            .map(|p| Some((self.fetch_records.get(p)?, self.nar_files.get(p)?)))
            .collect()
    }
}

impl Graph {
    /// The index of the group that builds the result.
    pub fn final_group(&self) -> usize {
        self.groups.iter().position(|g| g.is_final).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests;
