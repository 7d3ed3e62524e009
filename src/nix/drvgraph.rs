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
//! Paths Nix would fetch from a binary cache form one `substitute` step that every group reads.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::nix::closure::StorePath;

/// At most this many records or lines are accepted from the evaluation.
const MAX_RECORDS: usize = 200_000;
const MAX_REFERENCES: usize = 100_000;

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

/// What `nix-store --realise --dry-run` said Nix would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DryRun {
    pub build: BTreeSet<StorePath>,
    pub fetch: BTreeSet<StorePath>,
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
}

impl Graph {
    /// The index of the group that builds the result.
    pub fn final_group(&self) -> usize {
        self.groups.iter().position(|g| g.is_final).unwrap_or(0)
    }
}

/// Cuts the derivations Nix must build into at most about `max_groups` groups (see the module
/// doc). Refuses records that name paths outside the store, references outside the records and
/// cycles.
pub fn plan(
    roots: &[Root],
    records: Vec<Record>,
    dry_run: &DryRun,
    max_groups: usize,
) -> Result<Graph, GraphError> {
    let records: BTreeMap<StorePath, Record> =
        records.into_iter().map(|r| (r.path.clone(), r)).collect();
    validate(roots, &records, dry_run)?;
    let order = topological_order(&records)?;
    let planner = Planner {
        records: &records,
        to_build: &dry_run.build,
        roots: roots.iter().map(|r| &r.derivation).collect(),
        final_head: roots[0].derivation.clone(),
    };
    let mut members = planner.groups(&order);
    if members.len() > max_groups.max(2) {
        planner.join_siblings(&mut members, max_groups.max(2) - 1);
    }
    let ordered = planner.order(&members)?;
    let mut groups = Vec::with_capacity(ordered.len() + 1);
    if !dry_run.fetch.is_empty() {
        groups.push(Group {
            id: "substitute".into(),
            roots: dry_run.fetch.iter().map(|p| p.to_string()).collect(),
            members: dry_run.fetch.iter().cloned().collect(),
            upstream: Vec::new(),
            derivation_closure: Vec::new(),
            substitute: true,
            is_final: false,
        });
    }
    groups.extend(planner.describe(roots, &members, &ordered, &order, !dry_run.fetch.is_empty()));
    Ok(Graph { groups, records })
}

/// Derivations must be complete (every reference recorded; sources may refer to the builder
/// image's paths, which have no record here); roots and what is to be built must be recorded.
fn validate(
    roots: &[Root],
    records: &BTreeMap<StorePath, Record>,
    dry_run: &DryRun,
) -> Result<(), GraphError> {
    for record in records.values().filter(|r| r.is_derivation()) {
        if let Some(reference) = record
            .references
            .iter()
            .find(|r| !records.contains_key(*r) && **r != record.path)
        {
            return Err(invalid(format!(
                "{} refers to {reference}, which is not among the evaluated paths",
                record.path
            )));
        }
    }
    if let Some(root) = roots.iter().find(|r| !records.contains_key(&r.derivation)) {
        return Err(invalid(format!(
            "root {} is not among the evaluated paths",
            root.derivation
        )));
    }
    if let Some(path) = dry_run.build.iter().find(|p| !records.contains_key(*p)) {
        return Err(invalid(format!(
            "{path} is to be built but is not among the evaluated paths"
        )));
    }
    Ok(())
}

/// Groups by their head derivation, each with its members.
type Members = BTreeMap<StorePath, Vec<StorePath>>;

struct Planner<'a> {
    records: &'a BTreeMap<StorePath, Record>,
    to_build: &'a BTreeSet<StorePath>,
    roots: BTreeSet<&'a StorePath>,
    /// The head of the group that builds the roots.
    final_head: StorePath,
}

impl Planner<'_> {
    /// The derivations `drv` needs built (its inputs among those to build).
    fn inputs_of(&self, drv: &StorePath) -> Vec<StorePath> {
        self.records[drv]
            .references
            .iter()
            .filter(|r| *r != drv && self.to_build.contains(*r))
            .cloned()
            .collect()
    }

    /// For each derivation to build, the ones to build that need it.
    fn consumers(&self) -> BTreeMap<StorePath, Vec<StorePath>> {
        let mut consumers: BTreeMap<StorePath, Vec<StorePath>> = BTreeMap::new();
        for drv in self.to_build {
            for input in self.inputs_of(drv) {
                consumers.entry(input).or_default().push(drv.clone());
            }
        }
        consumers
    }

    /// Heads are the roots (all in the final group), shared derivations and those whose only
    /// consumer is a root; every other derivation joins its only consumer's group.
    fn groups(&self, order: &[StorePath]) -> Members {
        let consumers = self.consumers();
        let mut head_of: BTreeMap<&StorePath, StorePath> = BTreeMap::new();
        let build_order: Vec<&StorePath> = order
            .iter()
            .filter(|p| self.to_build.contains(*p))
            .collect();
        // Consumers come later in the order: walk it backwards so each one's head is known.
        for drv in build_order.iter().rev() {
            let head = match consumers.get(*drv).map(Vec::as_slice) {
                _ if self.roots.contains(*drv) => self.final_head.clone(),
                Some([only]) if !self.roots.contains(only) => head_of[only].clone(),
                _ => (*drv).clone(),
            };
            head_of.insert(drv, head);
        }
        let mut members: Members = BTreeMap::new();
        for drv in build_order {
            members
                .entry(head_of[drv].clone())
                .or_default()
                .push(drv.clone());
        }
        // A root already valid still needs the final step, which writes the manifest.
        members.entry(self.final_head.clone()).or_default();
        members
    }

    /// Joins sibling groups (heads with the same consumer group) in even chunks, so that a wide
    /// fan costs about `budget` steps besides the final one.
    fn join_siblings(&self, members: &mut Members, budget: usize) {
        let consumers = self.consumers();
        let group_of = group_index(members);
        let mut families: BTreeMap<Option<StorePath>, Vec<StorePath>> = BTreeMap::new();
        for head in members.keys().filter(|h| **h != self.final_head) {
            let consumer = consumers
                .get(head)
                .and_then(|c| c.first())
                .map(|c| group_of[c].clone());
            families.entry(consumer).or_default().push(head.clone());
        }
        let chunks = (budget / families.len().max(1)).max(1);
        for family in families.values() {
            let size = family.len().div_ceil(chunks).max(1);
            for chunk in family.chunks(size) {
                for other in &chunk[1..] {
                    let moved = members.remove(other).unwrap_or_default();
                    members.entry(chunk[0].clone()).or_default().extend(moved);
                }
            }
        }
    }

    /// Heads in an order where every group comes after those it reads, the final one last.
    /// Joined groups could in principle depend on each other, and a group could read the final
    /// one: both refused rather than built wrong.
    fn order(&self, members: &Members) -> Result<Vec<StorePath>, GraphError> {
        let deps = self.dependencies(members);
        let mut ordered: Vec<StorePath> = Vec::new();
        let mut placed: BTreeSet<&StorePath> = BTreeSet::new();
        while ordered.len() < members.len() {
            let ready: Vec<&StorePath> = members
                .keys()
                .filter(|h| !placed.contains(h) && deps[*h].iter().all(|d| placed.contains(d)))
                .collect();
            if ready.is_empty() {
                return Err(invalid(
                    "the planned groups depend on each other in a cycle".into(),
                ));
            }
            for head in ready {
                placed.insert(head);
                ordered.push(head.clone());
            }
        }
        // The final group goes last; a group that reads it (a derivation to build that needs a
        // root but that no root needs: nothing Nix's dry run of the roots reports) cannot.
        if let Some(head) = members.keys().find(|h| deps[*h].contains(&self.final_head)) {
            return Err(invalid(format!(
                "{head} is to be built from the result's outputs, but the result does not need it"
            )));
        }
        ordered.retain(|h| *h != self.final_head);
        ordered.push(self.final_head.clone());
        Ok(ordered)
    }

    /// The groups each group reads from directly.
    fn dependencies(&self, members: &Members) -> BTreeMap<StorePath, BTreeSet<StorePath>> {
        let group_of = group_index(members);
        members
            .iter()
            .map(|(head, list)| {
                let set = list
                    .iter()
                    .flat_map(|m| self.inputs_of(m))
                    .map(|input| group_of[&input].clone())
                    .filter(|other| other != head)
                    .collect();
                (head.clone(), set)
            })
            .collect()
    }

    /// The groups as vertices: what each realises, builds, reads and needs from the evaluation.
    fn describe(
        &self,
        roots: &[Root],
        members: &Members,
        ordered: &[StorePath],
        order: &[StorePath],
        substitute: bool,
    ) -> Vec<Group> {
        let deps = self.dependencies(members);
        let position: BTreeMap<&StorePath, usize> =
            order.iter().enumerate().map(|(i, p)| (p, i)).collect();
        let index_of: BTreeMap<&StorePath, usize> =
            ordered.iter().enumerate().map(|(i, h)| (h, i)).collect();
        let offset = usize::from(substitute);
        let mut upstream_of: Vec<BTreeSet<usize>> = Vec::new();
        let mut groups = Vec::with_capacity(ordered.len());
        for (i, head) in ordered.iter().enumerate() {
            let mut list = members[head].clone();
            list.sort_by_key(|p| position.get(p).copied().unwrap_or(0));
            // Every group upstream, since an input's runtime closure can reach any of them.
            let mut upstream: BTreeSet<usize> = BTreeSet::new();
            for dep in &deps[head] {
                upstream.insert(index_of[dep]);
                upstream.extend(upstream_of[index_of[dep]].iter().copied());
            }
            upstream_of.push(upstream.clone());
            let is_final = *head == self.final_head;
            let roots_here: Vec<String> = if is_final {
                roots.iter().map(Root::argument).collect()
            } else {
                // Joined groups realise the members no other member needs.
                let needed: BTreeSet<StorePath> =
                    list.iter().flat_map(|m| self.inputs_of(m)).collect();
                list.iter()
                    .filter(|m| !needed.contains(*m))
                    .map(|m| m.to_string())
                    .collect()
            };
            let mut seeds = list.clone();
            if is_final {
                seeds.extend(roots.iter().map(|r| r.derivation.clone()));
            }
            let id = roots_here
                .first()
                .and_then(|first| first.split('!').next())
                .and_then(|p| p.strip_prefix("/nix/store/"))
                .map(str::to_string)
                .unwrap_or_else(|| format!("group-{i}"));
            let mut upstream: Vec<usize> = upstream.into_iter().map(|u| u + offset).collect();
            if substitute {
                upstream.insert(0, 0);
            }
            groups.push(Group {
                id,
                roots: roots_here,
                members: list,
                upstream,
                derivation_closure: requisites(self.records, &seeds),
                substitute: false,
                is_final,
            });
        }
        groups
    }
}

/// Each member's head.
fn group_index(members: &Members) -> BTreeMap<StorePath, StorePath> {
    members
        .iter()
        .flat_map(|(head, list)| list.iter().map(move |m| (m.clone(), head.clone())))
        .collect()
}

/// Paths in an order where every path comes after what it refers to; cycles are refused.
fn topological_order(records: &BTreeMap<StorePath, Record>) -> Result<Vec<StorePath>, GraphError> {
    // 0 = unvisited, 1 = on the stack, 2 = done.
    let mut state: BTreeMap<&StorePath, u8> = BTreeMap::new();
    let mut order = Vec::with_capacity(records.len());
    for start in records.keys() {
        if state.get(start).copied().unwrap_or(0) != 0 {
            continue;
        }
        let mut stack: Vec<(&StorePath, usize)> = vec![(start, 0)];
        state.insert(start, 1);
        while let Some((path, next)) = stack.pop() {
            let refs = &records[path].references;
            if next < refs.len() {
                stack.push((path, next + 1));
                let reference = &refs[next];
                if reference == path || !records.contains_key(reference) {
                    continue;
                }
                match state.get(reference).copied().unwrap_or(0) {
                    0 => {
                        state.insert(reference, 1);
                        stack.push((reference, 0));
                    }
                    1 => {
                        return Err(invalid(format!(
                            "{path} and {reference} refer to each other (a cycle)"
                        )))
                    }
                    _ => {}
                }
            } else {
                state.insert(path, 2);
                order.push(path.clone());
            }
        }
    }
    Ok(order)
}

/// The closure of `seeds` under the records' references, sorted.
fn requisites(records: &BTreeMap<StorePath, Record>, seeds: &[StorePath]) -> Vec<StorePath> {
    let mut seen: BTreeSet<StorePath> = BTreeSet::new();
    let mut stack: Vec<StorePath> = seeds.to_vec();
    while let Some(path) = stack.pop() {
        if !records.contains_key(&path) || !seen.insert(path.clone()) {
            continue;
        }
        stack.extend(records[&path].references.iter().cloned());
    }
    seen.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(name: &str) -> String {
        // A valid hash that differs per name.
        let alphabet: Vec<char> = "0123456789abcdfghijklmnpqrsvwxyz".chars().collect();
        let mut seed: u64 = name.bytes().fold(1469598103934665603, |h, b| {
            (h ^ b as u64).wrapping_mul(1099511628211)
        });
        let hash: String = (0..32)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                alphabet[(seed >> 59) as usize]
            })
            .collect();
        format!("/nix/store/{hash}-{name}")
    }

    fn record(name: &str, refs: &[&str]) -> String {
        let mut text = format!("{}\nsha256:0000\n100\n\n{}\n", path(name), refs.len());
        for r in refs {
            text.push_str(&path(r));
            text.push('\n');
        }
        text
    }

    fn dry(build: &[&str]) -> DryRun {
        DryRun {
            build: build
                .iter()
                .map(|n| StorePath::parse(&path(n)).unwrap())
                .collect(),
            fetch: BTreeSet::new(),
        }
    }

    fn roots(name: &str) -> Vec<Root> {
        parse_roots(&format!("{}!out\n", path(name))).unwrap()
    }

    fn names(group: &Group) -> Vec<String> {
        group.members.iter().map(|m| m.name().to_string()).collect()
    }

    #[test]
    fn records_round_trip_and_bad_records_are_refused() {
        let text = record("a.drv", &["src"]) + &record("src", &[]);
        let records = parse_records(&text).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(
            records.iter().map(Record::to_text).collect::<String>(),
            text
        );
        for bad in [
            "/etc/passwd\nh\n1\n\n0\n".to_string(),
            format!("{}\nh\nx\n\n0\n", path("a")),
            format!("{}\nh\n1\n\n2\n{}\n", path("a"), path("b")),
            format!("{}\nh\n1\n\n1\n../x\n", path("a")),
            format!("{}\nh\n1\n\n0\n{}\nh\n1\n\n0\n", path("a"), path("a")),
            format!("{}\nh;rm\n1\n\n0\n", path("a")),
        ] {
            assert!(parse_records(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn dry_run_lists_are_read_in_both_wordings() {
        let text = format!(
            "these 2 derivations will be built:\n  {}\n  {}\nthis path will be fetched (0.01 MiB download, 0.02 MiB unpacked):\n  {}\nwarning: x\n",
            path("a.drv"),
            path("b.drv"),
            path("glibc")
        );
        let run = parse_dry_run(&text).unwrap();
        assert_eq!(run.build.len(), 2);
        assert_eq!(run.fetch.len(), 1);
        assert!(parse_dry_run("these 1 derivations will be built:\n  /etc/x\n").is_err());
    }

    #[test]
    fn a_leaf_over_an_expensive_dependency_is_two_groups() {
        let text = record("busybox", &[])
            + &record("dep-src", &[])
            + &record("dep.drv", &["busybox", "dep-src"])
            + &record("app-src", &[])
            + &record("app.drv", &["busybox", "app-src", "dep.drv"]);
        let graph = plan(
            &roots("app.drv"),
            parse_records(&text).unwrap(),
            &dry(&["dep.drv", "app.drv"]),
            8,
        )
        .unwrap();
        assert_eq!(graph.groups.len(), 2);
        assert_eq!(names(&graph.groups[0]), ["dep.drv"]);
        assert_eq!(names(&graph.groups[1]), ["app.drv"]);
        assert!(graph.groups[1].is_final);
        assert_eq!(graph.groups[1].upstream, [0]);
        assert_eq!(graph.groups[1].roots, [format!("{}!out", path("app.drv"))]);
        assert_eq!(graph.groups[0].roots, [path("dep.drv")]);
        // The app's vertex gets its own source and the dependency's derivation, not more.
        let closure: Vec<&str> = graph.groups[1]
            .derivation_closure
            .iter()
            .map(|p| p.name())
            .collect();
        assert_eq!(closure.len(), 5);
        let closure: Vec<&str> = graph.groups[0]
            .derivation_closure
            .iter()
            .map(|p| p.name())
            .collect();
        assert!(!closure.contains(&"app-src"), "{closure:?}");
        assert_eq!(graph.groups[1].step_name(), "build app");
    }

    #[test]
    fn a_chain_is_one_group_under_the_result() {
        let mut text = record("busybox", &[]);
        let mut build = Vec::new();
        let names_: Vec<String> = (1..=150).map(|i| format!("chain-{i}.drv")).collect();
        for (i, name) in names_.iter().enumerate() {
            let refs: Vec<&str> = if i == 0 {
                vec!["busybox"]
            } else {
                vec!["busybox", &names_[i - 1]]
            };
            text += &record(name, &refs);
            build.push(name.as_str());
        }
        text += &record("top.drv", &["busybox", "chain-150.drv"]);
        build.push("top.drv");
        let graph = plan(
            &roots("top.drv"),
            parse_records(&text).unwrap(),
            &dry(&build),
            8,
        )
        .unwrap();
        assert_eq!(graph.groups.len(), 2);
        assert_eq!(graph.groups[0].members.len(), 150);
        assert_eq!(graph.groups[0].roots, [path("chain-150.drv")]);
        assert_eq!(graph.groups[0].step_name(), "build chain-150 and 149 more");
        assert_eq!(graph.groups[0].members[0].name(), "chain-1.drv");
    }

    #[test]
    fn a_wide_fan_is_bounded_and_shared_paths_start_groups() {
        let mut text = record("busybox", &[]) + &record("common.drv", &["busybox"]);
        let mut build = vec!["common.drv".to_string()];
        let mut app_refs = vec!["busybox".to_string()];
        for i in 0..300 {
            text += &record(&format!("lib-{i}.drv"), &["busybox", "common.drv"]);
            build.push(format!("lib-{i}.drv"));
            app_refs.push(format!("lib-{i}.drv"));
        }
        let refs: Vec<&str> = app_refs.iter().map(String::as_str).collect();
        text += &record("app.drv", &refs);
        build.push("app.drv".into());
        let build: Vec<&str> = build.iter().map(String::as_str).collect();
        let graph = plan(
            &roots("app.drv"),
            parse_records(&text).unwrap(),
            &dry(&build),
            8,
        )
        .unwrap();
        assert!(graph.groups.len() <= 9, "{} groups", graph.groups.len());
        let total: usize = graph.groups.iter().map(|g| g.members.len()).sum();
        assert_eq!(total, 302);
        // common is shared by all libraries: a group of its own, before them.
        assert_eq!(names(&graph.groups[0]), ["common.drv"]);
        let last = graph.groups.last().unwrap();
        assert_eq!(names(last), ["app.drv"]);
        assert_eq!(last.upstream.len(), graph.groups.len() - 1);
    }

    #[test]
    fn substitutable_paths_are_one_step_everyone_reads() {
        let text = record("app.drv", &[]);
        let mut run = dry(&["app.drv"]);
        run.fetch
            .insert(StorePath::parse(&path("glibc-2.39")).unwrap());
        let graph = plan(&roots("app.drv"), parse_records(&text).unwrap(), &run, 8).unwrap();
        assert_eq!(graph.groups.len(), 2);
        assert!(graph.groups[0].substitute);
        assert_eq!(graph.groups[0].step_name(), "substitute glibc-2.39");
        assert_eq!(graph.groups[1].upstream, [0]);
    }

    #[test]
    fn bad_graphs_are_refused_with_the_path() {
        // A cycle.
        let text = record("a.drv", &["b.drv"]) + &record("b.drv", &["a.drv"]);
        let err = plan(
            &roots("a.drv"),
            parse_records(&text).unwrap(),
            &dry(&["a.drv", "b.drv"]),
            8,
        )
        .unwrap_err();
        assert!(err.0.contains("cycle"), "{err}");
        // A derivation referring outside the records.
        let text = record("a.drv", &["missing.drv"]);
        let err = plan(
            &roots("a.drv"),
            parse_records(&text).unwrap(),
            &dry(&["a.drv"]),
            8,
        )
        .unwrap_err();
        assert!(err.0.contains("missing.drv"), "{err}");
        // A root that was not evaluated; something to build that was not evaluated.
        let text = record("a.drv", &[]);
        assert!(plan(
            &roots("b.drv"),
            parse_records(&text).unwrap(),
            &dry(&["a.drv"]),
            8
        )
        .is_err());
        assert!(plan(
            &roots("a.drv"),
            parse_records(&text).unwrap(),
            &dry(&["x.drv"]),
            8
        )
        .is_err());
        // Something to build that reads the result but that the result does not need.
        let text = record("app.drv", &[]) + &record("extra.drv", &["app.drv"]);
        let err = plan(
            &roots("app.drv"),
            parse_records(&text).unwrap(),
            &dry(&["app.drv", "extra.drv"]),
            8,
        )
        .unwrap_err();
        assert!(err.0.contains("extra.drv"), "{err}");
        assert!(parse_roots("/nix/store/x\n").is_err());
        assert!(parse_roots(&format!("{}!out;rm\n", path("a.drv"))).is_err());
        assert!(parse_roots("").is_err());
    }

    /// Names of the store paths the generated reports speak of: derivations, then other paths.
    const POOL: [&str; 11] = [
        "a.drv",
        "b.drv",
        "c.drv",
        "d.drv",
        "e.drv",
        "f.drv",
        "g.drv",
        "h.drv",
        "src",
        "busybox",
        "glibc-2.39",
    ];
    const DERIVATIONS: usize = 8;

    /// A line as a hostile evaluation might write it: a store path (bare, indented, with
    /// outputs), a number, a hash, a dry-run heading, or anything.
    fn report_line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let pool = || proptest::sample::select(POOL.to_vec()).prop_map(path);
        prop_oneof![
            pool(),
            pool().prop_map(|p| format!("  {p}")),
            (pool(), "(out|dev,out|,|out;rm|!)").prop_map(|(p, o)| format!("{p}!{o}")),
            "[0-9]{1,3}",
            Just("18446744073709551616".to_string()),
            Just("100001".to_string()),
            Just("sha256:0000".to_string()),
            Just(String::new()),
            Just("these 2 derivations will be built:".to_string()),
            Just("this path will be fetched (0.01 MiB download, 0.02 MiB unpacked):".to_string()),
            Just("  /etc/passwd".to_string()),
            "(?s).{0,30}",
        ]
    }

    fn report_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        proptest::collection::vec(report_line(), 0..40).prop_map(|lines| lines.join("\n"))
    }

    /// What an evaluation could report about `POOL`, well formed enough that the parsers mostly
    /// accept it, but with any references (missing, cycles, self), any paths to build or fetch,
    /// any roots: records, dry run, roots, and the cap on groups.
    fn evaluation_reports(
    ) -> impl proptest::strategy::Strategy<Value = (String, String, String, usize)> {
        use proptest::prelude::*;
        use proptest::sample::subsequence;
        let all: Vec<usize> = (0..POOL.len()).collect();
        let derivations: Vec<usize> = (0..DERIVATIONS).collect();
        let recorded = prop_oneof![
            3 => Just(all.clone()),
            1 => subsequence(all.clone(), 0..=POOL.len()),
        ];
        // Mostly references to later entries of the pool (no cycle), sometimes to any.
        let references = proptest::collection::vec(
            (
                proptest::bool::weighted(0.1),
                proptest::collection::vec(0..POOL.len(), 0..4),
            ),
            POOL.len(),
        );
        let build = prop_oneof![
            4 => subsequence(derivations, 0..=DERIVATIONS),
            1 => subsequence(all.clone(), 0..=POOL.len()),
        ];
        let fetch = subsequence(all, 0..3);
        let roots = proptest::collection::vec(
            (0..DERIVATIONS, proptest::option::of("(out|dev|out,dev)")),
            1..3,
        );
        (recorded, references, build, fetch, roots, 0..10usize).prop_map(
            |(recorded, references, build, fetch, roots, max_groups)| {
                let records: String = recorded
                    .iter()
                    .map(|&i| {
                        let (anywhere, targets) = &references[i];
                        let refs: Vec<&str> = targets
                            .iter()
                            .filter_map(|&r| match anywhere {
                                true => Some(POOL[r]),
                                false => POOL
                                    .get(i + 1 + r % POOL.len().saturating_sub(i + 1).max(1))
                                    .copied(),
                            })
                            .collect();
                        record(POOL[i], &refs)
                    })
                    .collect();
                let mut dry_run = format!("these {} derivations will be built:\n", build.len());
                for i in &build {
                    dry_run += &format!("  {}\n", path(POOL[*i]));
                }
                if !fetch.is_empty() {
                    dry_run += "these paths will be fetched (1 MiB download, 2 MiB unpacked):\n";
                    for i in &fetch {
                        dry_run += &format!("  {}\n", path(POOL[*i]));
                    }
                }
                let roots: String = roots
                    .iter()
                    .map(|(i, outputs)| match outputs {
                        Some(outputs) => format!("{}!{outputs}\n", path(POOL[*i])),
                        None => format!("{}\n", path(POOL[*i])),
                    })
                    .collect();
                (records, dry_run, roots, max_groups)
            },
        )
    }

    /// Parses and plans the reports as `graph_build` does, stopping at the first refusal.
    fn plan_reports(
        (records, dry_run, roots, max_groups): &(String, String, String, usize),
    ) -> Result<Graph, GraphError> {
        let roots = parse_roots(roots)?;
        let records = parse_records(records)?;
        let dry_run = parse_dry_run(dry_run)?;
        plan(&roots, records, &dry_run, *max_groups)
    }

    proptest::proptest! {
        #[test]
        fn parse_records_never_panics(text in report_text()) {
            let _ = parse_records(&text);
        }

        #[test]
        fn parse_dry_run_never_panics(text in report_text()) {
            let _ = parse_dry_run(&text);
        }

        #[test]
        fn parse_roots_never_panics(text in report_text()) {
            let _ = parse_roots(&text);
        }

        /// `plan` on whatever the parsers accept: no panic, and a graph in the order it
        /// promises (every group after those it reads, exactly one final group).
        #[test]
        fn plan_never_panics(reports in evaluation_reports()) {
            if let Ok(graph) = plan_reports(&reports) {
                for (i, group) in graph.groups.iter().enumerate() {
                    proptest::prop_assert!(group.upstream.iter().all(|u| *u < i), "{:?}", group);
                }
                proptest::prop_assert_eq!(graph.groups.iter().filter(|g| g.is_final).count(), 1);
            }
        }
    }

    /// `plan_never_panics` checks only what the parsers accept: its generator must reach `plan`
    /// and come out with a graph often, or the property says little.
    #[test]
    fn evaluation_reports_are_often_planned() {
        use proptest::strategy::{Strategy, ValueTree};
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = evaluation_reports();
        let cases = 1000;
        let planned = (0..cases)
            .filter(|_| plan_reports(&strategy.new_tree(&mut runner).unwrap().current()).is_ok())
            .count();
        assert!(
            planned * 4 >= cases,
            "{planned} of {cases} generated reports are planned"
        );
    }
}
