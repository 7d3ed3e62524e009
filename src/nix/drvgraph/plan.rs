//! The planner: the parsed report validated and cut into groups, one build step each, by the
//! rules in the module doc.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::nix::closure::StorePath;

use super::{invalid, DryRun, Graph, GraphError, Group, Record, Root};

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
    let pieces = substitute_groups(dry_run);
    let mut groups = Vec::with_capacity(ordered.len() + pieces.len());
    let piece_count = pieces.len();
    groups.extend(pieces);
    groups.extend(planner.describe(roots, &members, &ordered, &order, piece_count));
    Ok(Graph {
        groups,
        records,
        fetch_records: dry_run.fetch_records.clone(),
        nar_files: dry_run.nar_files.clone(),
    })
}

/// How many buckets the fetched paths of one depth are hashed into: each non-empty bucket is a
/// substitute step. A path joining or leaving re-fetches about 1/16 of its depth's paths; a
/// closure of depth d costs at most 16·d container starts (about 175 ms each here), which run at
/// the same time. Measured with 300 libraries from a binary cache (`bench/compare.py --fixtures substitute`): 16
/// against 8 buckets, a new dependency downloads 18 paths, not 37 (8.3 s against 9.1 s), and the
/// cold build is no slower.
pub const SUBSTITUTE_BUCKETS: u64 = 16;

/// The substitute steps (see the module doc): one per non-empty (depth, bucket) when the caches
/// said what every path to fetch refers to, else one step for all of them.
fn substitute_groups(dry_run: &DryRun) -> Vec<Group> {
    let fetch = &dry_run.fetch;
    if fetch.is_empty() {
        return Vec::new();
    }
    let known = &dry_run.fetch_records;
    let depths = fetch
        .iter()
        .all(|p| known.contains_key(p))
        .then(|| fetch_depths(fetch, known))
        .flatten();
    let Some(depths) = depths else {
        return vec![Group {
            id: "substitute".into(),
            roots: fetch.iter().map(|p| p.to_string()).collect(),
            members: fetch.iter().cloned().collect(),
            upstream: Vec::new(),
            derivation_closure: Vec::new(),
            registered: Vec::new(),
            substitute: true,
            is_final: false,
        }];
    };
    // Paths whose files BuildKit downloads and paths Nix fetches go to pieces of their own: the
    // first run offline over the files, the others with the network.
    let mut pieces: BTreeMap<(usize, bool, u64), Vec<StorePath>> = BTreeMap::new();
    for path in fetch {
        let bucket = name_hash(path.name()) % SUBSTITUTE_BUCKETS;
        let downloaded = dry_run.nar_files.contains_key(path);
        pieces
            .entry((depths[path], downloaded, bucket))
            .or_default()
            .push(path.clone());
    }
    pieces
        .into_iter()
        .map(|((depth, downloaded, bucket), members)| {
            let own: BTreeSet<&StorePath> = members.iter().collect();
            let referenced: Vec<StorePath> = members
                .iter()
                .flat_map(|m| known[m].references.iter())
                .filter(|r| fetch.contains(*r) && !own.contains(r))
                .cloned()
                .collect();
            let registered = requisites(known, &referenced);
            Group {
                id: match downloaded {
                    true => format!("substitute-{depth}-{bucket}-files"),
                    false => format!("substitute-{depth}-{bucket}"),
                },
                roots: members.iter().map(|p| p.to_string()).collect(),
                members,
                upstream: Vec::new(),
                derivation_closure: Vec::new(),
                registered,
                substitute: true,
                is_final: false,
            }
        })
        .collect()
}

/// Each fetched path's depth among the fetched paths: 0 when it refers to none of them (but
/// itself), else one more than the deepest it refers to. None on a cycle (the caches' word is
/// untrusted), which keeps the substitution in one step.
fn fetch_depths(
    fetch: &BTreeSet<StorePath>,
    known: &BTreeMap<StorePath, Record>,
) -> Option<BTreeMap<StorePath, usize>> {
    let restricted: BTreeMap<StorePath, Record> = fetch
        .iter()
        .map(|p| {
            let mut record = known[p].clone();
            record.references.retain(|r| fetch.contains(r));
            (p.clone(), record)
        })
        .collect();
    let order = topological_order(&restricted).ok()?;
    let mut depths: BTreeMap<StorePath, usize> = BTreeMap::new();
    for path in order {
        let depth = restricted[&path]
            .references
            .iter()
            .filter(|r| **r != path)
            .map(|r| depths[r] + 1)
            .max()
            .unwrap_or(0);
        depths.insert(path, depth);
    }
    Some(depths)
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

    /// Joins sibling groups (heads with the same consumer group) into about `budget` steps
    /// besides the final one. A sibling's step is chosen by a hash of its name without the store
    /// hash, so a changed library (a new hash, the same name) stays in its step and no other
    /// sibling moves: only that step is built again.
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
            let mut buckets: BTreeMap<u64, Vec<&StorePath>> = BTreeMap::new();
            for head in family {
                buckets
                    .entry(name_hash(head.name()) % chunks as u64)
                    .or_default()
                    .push(head);
            }
            for bucket in buckets.values() {
                for other in &bucket[1..] {
                    let moved = members.remove(*other).unwrap_or_default();
                    members.entry(bucket[0].clone()).or_default().extend(moved);
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
        pieces: usize,
    ) -> Vec<Group> {
        let deps = self.dependencies(members);
        let position: BTreeMap<&StorePath, usize> =
            order.iter().enumerate().map(|(i, p)| (p, i)).collect();
        let index_of: BTreeMap<&StorePath, usize> =
            ordered.iter().enumerate().map(|(i, h)| (h, i)).collect();
        let offset = pieces;
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
            // Every substitute piece, since the caches' paths can be anyone's inputs.
            let upstream: Vec<usize> = (0..pieces)
                .chain(upstream.into_iter().map(|u| u + offset))
                .collect();
            groups.push(Group {
                id,
                roots: roots_here,
                members: list,
                upstream,
                derivation_closure: requisites(self.records, &seeds),
                registered: Vec::new(),
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

/// A stable hash of a store path's name (not its store hash): the same in every build.
fn name_hash(name: &str) -> u64 {
    let digest = Sha256::digest(name.as_bytes());
    u64::from_be_bytes(
        digest[..8]
            .try_into()
            .expect("a SHA-256 digest has 8 bytes"),
    )
}
