//! Which output holds each path of the closure, and the refs to read a path's files from.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::future::join_all;

use crate::builder::contract;
use crate::builder::report::invalid;
use crate::buildkit::gateway::Gateway;
use crate::buildkit::llb::Output;
use crate::error::UserError;
use crate::nix::closure::{self, StorePath};
use crate::nix::drvgraph::Graph;
use crate::plan::Trees;

use super::evaluation::Evaluation;
use super::steps::Built;
use super::{solve, Manifest};

/// The outputs the image's paths are copied from, in this order: the final step, the steps
/// upstream of it (in build order, by what each listed as made), the evaluation (sources), the
/// builder image (paths it already had); and per closure path, the first that holds it.
pub(super) struct Holders {
    list: Vec<Holder>,
    holder_of: BTreeMap<StorePath, usize>,
}

impl Holders {
    pub async fn locate<G: Gateway>(
        gateway: &G,
        evaluation: &Evaluation,
        built: &Built,
        image: &Output,
        manifest: &Manifest,
    ) -> Result<Holders, UserError> {
        let outputs: Vec<&Output> = built.steps.iter().map(|s| &s.out).collect();
        let mut list = vec![Holder {
            out: outputs[built.final_index].clone(),
            read: Some(built.final_ref.clone()),
        }];
        let mut holder_of_group = vec![None; outputs.len()];
        for (i, out) in outputs.iter().enumerate() {
            if i != built.final_index {
                holder_of_group[i] = Some(list.len());
                list.push(Holder {
                    out: (*out).clone(),
                    read: None,
                });
            }
        }
        list.push(Holder {
            out: evaluation.evaluated.clone(),
            read: Some(evaluation.eval_ref.clone()),
        });
        list.push(Holder {
            out: image.clone(),
            read: Some(manifest.image_ref.clone()),
        });
        let claims = parse_made_by(&manifest.made_by, &evaluation.graph, &holder_of_group)?;
        let holder_of = locate(gateway, &manifest.closure, &list, &claims).await?;
        Ok(Holders { list, holder_of })
    }

    /// The refs to read the paths' files from. A step upstream of the final one is read through
    /// the final step's root, where every such path is: solved only when one of `to_read` (or,
    /// with `all`, any path) is held upstream.
    pub async fn reader<G: Gateway>(
        &self,
        gateway: &G,
        built: &Built,
        graph: &Graph,
        all: bool,
        to_read: &[&StorePath],
    ) -> Result<Reader<'_>, UserError> {
        let upstream = all
            || to_read.iter().any(|p| {
                self.holder_of
                    .get(*p)
                    .is_some_and(|h| self.list[*h].read.is_none())
            });
        let upstream_ref = if upstream {
            let root = &built.steps[built.final_index].inputs;
            solve(gateway, root, || {
                format!(
                    "reading the inputs of {}",
                    graph.groups[built.final_index].step_name()
                )
            })
            .await?
        } else {
            String::new()
        };
        Ok(Reader {
            holders: self,
            upstream_ref,
        })
    }

    /// Where the image stage finds each path's tree (the builder image's paths from the image).
    pub fn trees(&self, built: &Built) -> Trees {
        let image_holder = self.list.len() - 1;
        Trees::Providers {
            by_path: self
                .holder_of
                .iter()
                .filter(|(_, h)| **h != image_holder)
                .map(|(path, h)| (path.clone(), self.list[*h].out.clone()))
                .collect(),
            in_image: self
                .holder_of
                .values()
                .any(|h| *h == image_holder)
                .then(|| self.list[image_holder].out.clone()),
            manifest: built.steps[built.final_index].out.clone(),
            origin: self.holder_of.clone(),
        }
    }
}

/// The ref to read each closure path's files from.
pub(super) struct Reader<'a> {
    holders: &'a Holders,
    upstream_ref: String,
}

impl Reader<'_> {
    /// A closure path's ref (every path of the closure has a holder).
    pub fn reference(&self, path: &StorePath) -> String {
        self.try_reference(path).unwrap_or_default()
    }

    pub fn try_reference(&self, path: &StorePath) -> Option<String> {
        let holder = &self.holders.list[*self.holders.holder_of.get(path)?];
        Some(
            holder
                .read
                .clone()
                .unwrap_or_else(|| self.upstream_ref.clone()),
        )
    }
}

/// What Nix did for the image, for the progress: how many paths the substitute steps fetched
/// and how many derivations the build steps built, each split into this build's (a step that
/// ran at or after `started_at`, by the final step's `STEPS_RAN_AT` list) and BuildKit's cache,
/// and the pinned inputs. The list is untrusted and only counted: a line naming no step, or
/// not a time, counts for nothing.
pub(super) fn work_summary(
    graph: &Graph,
    ran_at: &str,
    started_at: i64,
    pins: &[crate::nix::pins::Pin],
) -> String {
    let ran_now: BTreeSet<&str> = ran_at
        .lines()
        .filter_map(|line| line.split_once(' '))
        .filter(|(_, seconds)| seconds.trim().parse::<i64>().is_ok_and(|t| t >= started_at))
        .map(|(id, _)| id)
        .collect();
    // (substituted, built), each (now, cached).
    let mut counts = [[0usize; 2]; 2];
    for group in &graph.groups {
        let kind = usize::from(!group.substitute);
        let when = usize::from(!ran_now.contains(group.id.as_str()));
        counts[kind][when] += group.members.len();
    }
    let mut parts = Vec::new();
    for (kind, [now, cached]) in ["substituted", "built"].iter().zip(counts) {
        if now + cached > 0 {
            let what = if *kind == "built" {
                "derivations"
            } else {
                "paths"
            };
            parts.push(format!(
                "{kind} {} {what} ({now} in this build, {cached} from BuildKit's cache)",
                now + cached
            ));
        }
    }
    if !pins.is_empty() {
        let labels: Vec<&str> = pins.iter().map(|p| p.label.as_str()).collect();
        parts.push(format!("pinned inputs: {}", labels.join(", ")));
    }
    parts.join("; ")
}

/// An output the image's paths are copied from, and the ref its files are read from: `None`
/// for a step upstream of the final one, read through the final step's root.
struct Holder {
    out: Output,
    read: Option<String>,
}

/// The final step's `MADE_BY` list: per store path, the holder index of the first step (in
/// build order) that says it made it. Untrusted: every line must name a step of this graph and
/// a store path.
fn parse_made_by(
    text: &str,
    graph: &Graph,
    holder_of_group: &[Option<usize>],
) -> Result<BTreeMap<StorePath, usize>, UserError> {
    let index_of: BTreeMap<&str, usize> = graph
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.id.as_str(), i))
        .collect();
    let mut claims: BTreeMap<StorePath, usize> = BTreeMap::new();
    let prefix = format!("{}/", contract::NEW_DIR);
    for (number, line) in text.lines().enumerate() {
        let bad = || {
            invalid(format!(
                "line {} of {} is not `{prefix}<step>:<store path>`: {line:?}",
                number + 1,
                contract::MADE_BY
            ))
        };
        let (id, path) = line
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split_once(':'))
            .ok_or_else(bad)?;
        let holder = index_of
            .get(id)
            .and_then(|i| holder_of_group[*i])
            .ok_or_else(bad)?;
        let path = StorePath::parse(path).map_err(|_| bad())?;
        let claim = claims.entry(path).or_insert(holder);
        *claim = (*claim).min(holder);
    }
    Ok(claims)
}

/// Per closure path, the index of the first holder that has it: in its `/nix/store` for those
/// read by ref, by `claims` (`parse_made_by`) for the steps upstream of the final one. A path
/// none holds is refused.
async fn locate<G: Gateway>(
    gateway: &G,
    closure: &closure::Closure,
    holders: &[Holder],
    claims: &BTreeMap<StorePath, usize>,
) -> Result<BTreeMap<StorePath, usize>, UserError> {
    let listings = join_all(holders.iter().map(|holder| async move {
        match &holder.read {
            Some(reference) => gateway
                .read_dir(reference, "/nix/store")
                .await
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }))
    .await;
    let mut held: Vec<BTreeSet<StorePath>> = vec![BTreeSet::new(); holders.len()];
    for (index, entries) in listings.into_iter().enumerate() {
        held[index].extend(
            entries
                .into_iter()
                .filter_map(|entry| StorePath::parse(&format!("/nix/store/{}", entry.path)).ok()),
        );
    }
    for (path, index) in claims {
        held[*index].insert(path.clone());
    }
    let mut holder: BTreeMap<StorePath, usize> = BTreeMap::new();
    for (index, paths) in held.iter().enumerate() {
        for path in paths.iter().filter(|p| closure.paths.contains_key(*p)) {
            holder.entry(path.clone()).or_insert(index);
        }
    }
    if let Some(missing) = closure.paths.keys().find(|p| !holder.contains_key(*p)) {
        return Err(invalid(format!(
            "{missing} is in the closure but no build step holds it"
        )));
    }
    Ok(holder)
}
