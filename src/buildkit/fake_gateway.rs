//! A fake BuildKit for unit tests of `frontend`: canned files and directories per solved ref,
//! scripted failures. It answers the `Gateway` trait, the same seam the real LLBBridge client
//! sits behind.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use bollard_buildkit_proto::fsutil::types::Stat;
use bollard_buildkit_proto::pb;

use crate::buildkit::gateway::{Environment, Gateway, GatewayError};
use crate::buildkit::platform::Platform;

/// What one solved ref holds: files and directory listings by path.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub files: HashMap<String, Vec<u8>>,
    pub dirs: HashMap<String, Vec<Stat>>,
}

impl Tree {
    pub fn file(&mut self, path: &str, data: impl Into<Vec<u8>>) -> &mut Self {
        self.files.insert(path.to_string(), data.into());
        self
    }

    pub fn dir(&mut self, path: &str, entries: Vec<Stat>) -> &mut Self {
        self.dirs.insert(path.to_string(), entries);
        self
    }
}

/// Refs are keyed by what was solved: the progress name of the solved output's vertex
/// (`solved_name`), so one more solve elsewhere in a build renumbers nothing. A test fills
/// `tree(name)` for every solve of that output, or `tree_nth(name, k)` for its k-th solve only
/// (a step run again after a cached failure); each ref reads only its own `Tree`.
#[derive(Default)]
pub struct FakeGateway {
    trees: HashMap<String, Tree>,
    /// Fail every solve of the output of this name, with this message.
    pub fail_solve: Option<(String, String)>,
    /// What the build called; behind a lock since the calls take `&self`.
    calls: Mutex<Calls>,
}

/// The record of the calls made.
#[derive(Default)]
struct Calls {
    solves: usize,
    /// How often each name was solved.
    solved: HashMap<String, usize>,
    warnings: Vec<String>,
    definitions: Vec<pb::Definition>,
    file_reads: usize,
}

impl FakeGateway {
    /// The ref of every solve of the output named `name` (what `tree(name)` fills).
    pub fn ref_of(name: &str) -> String {
        format!("ref:{name}")
    }

    fn calls(&self) -> MutexGuard<'_, Calls> {
        // A test that panicked while holding the lock already failed; its record is still usable.
        self.calls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many solves were made.
    pub fn solves(&self) -> usize {
        self.calls().solves
    }

    /// The warnings, in order.
    pub fn warnings(&self) -> Vec<String> {
        self.calls().warnings.clone()
    }

    /// The definitions solved, in order.
    pub fn definitions(&self) -> Vec<pb::Definition> {
        self.calls().definitions.clone()
    }

    /// ReadFile calls made (whole or ranged).
    pub fn file_reads(&self) -> usize {
        self.calls().file_reads
    }

    pub fn reset_file_reads(&self) {
        self.calls().file_reads = 0;
    }

    /// The trees a ref reads: its own solve's (`name#k`) first, then every solve's (`name`).
    fn trees_of(&self, reference: &str) -> impl Iterator<Item = &Tree> {
        let name = reference.strip_prefix("ref:").unwrap_or(reference);
        let all = name.rsplit_once('#').map(|(all, _)| all.to_string());
        [Some(name.to_string()), all]
            .into_iter()
            .flatten()
            .filter_map(|key| self.trees.get(&key))
    }

    fn file(&self, reference: &str, path: &str) -> Result<&Vec<u8>, GatewayError> {
        self.trees_of(reference)
            .find_map(|tree| tree.files.get(path))
            .ok_or_else(|| not_found("read file", path))
    }

    /// What every solve of the output named `name` holds.
    pub fn tree(&mut self, name: &str) -> &mut Tree {
        self.trees.entry(name.to_string()).or_default()
    }

    /// What only the k-th solve (0-based) of the output named `name` holds.
    pub fn tree_nth(&mut self, name: &str, k: usize) -> &mut Tree {
        self.trees.entry(format!("{name}#{k}")).or_default()
    }
}

/// The environment of a test build: linux/amd64, MergeOp and attestations, the frontend started
/// at `started_at`.
pub fn environment(started_at: i64) -> Environment {
    Environment {
        session_id: "s".into(),
        worker_platform: Platform::parse("linux/amd64").expect("a platform"),
        worker_platforms: vec![
            Platform::parse("linux/amd64").expect("a platform"),
            Platform::parse("linux/arm64").expect("a platform"),
        ],
        has_merge_op: true,
        has_attestations: true,
        started_at,
    }
}

pub fn entry(name: &str, mode: u32, linkname: &str) -> Stat {
    Stat {
        path: name.to_string(),
        mode,
        linkname: linkname.to_string(),
        ..Default::default()
    }
}

/// BuildKit's gateway messages are at most 16 MiB: a bigger ReadFile answer fails as the real
/// one does (gRPC's message-size error), not silently.
pub const MAX_MESSAGE: usize = 16 << 20;

fn refuse_over_limit(data: &[u8]) -> Result<(), GatewayError> {
    if data.len() > MAX_MESSAGE {
        return Err(GatewayError {
            call: "read file",
            message: format!(
                "grpc: received message larger than max ({} vs. {MAX_MESSAGE})",
                data.len()
            ),
        });
    }
    Ok(())
}

fn not_found(call: &'static str, path: &str) -> GatewayError {
    GatewayError {
        call,
        message: format!("open {path}: no such file or directory"),
    }
}

impl Gateway for FakeGateway {
    async fn solve(&self, definition: pb::Definition) -> Result<String, GatewayError> {
        let name = solved_name(&definition);
        let k = {
            let mut calls = self.calls();
            calls.solves += 1;
            calls.definitions.push(definition);
            let count = calls.solved.entry(name.clone()).or_default();
            *count += 1;
            *count - 1
        };
        // A solve takes time in BuildKit: let other platforms' builds run meanwhile.
        tokio::task::yield_now().await;
        match &self.fail_solve {
            Some((failing, message)) if *failing == name => Err(GatewayError {
                call: "solve",
                message: message.clone(),
            }),
            _ => Ok(format!("ref:{name}#{k}")),
        }
    }

    async fn read_file(&self, reference: &str, path: &str) -> Result<Vec<u8>, GatewayError> {
        self.calls().file_reads += 1;
        let data = self.file(reference, path)?;
        refuse_over_limit(data)?;
        Ok(data.clone())
    }

    async fn read_file_range(
        &self,
        reference: &str,
        path: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>, GatewayError> {
        self.calls().file_reads += 1;
        let data = self.file(reference, path)?;
        // As BuildKit's io.NewSectionReader: a range past the end reads nothing.
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let end = start
            .saturating_add(usize::try_from(length).unwrap_or(usize::MAX))
            .min(data.len());
        let chunk = &data[start..end];
        refuse_over_limit(chunk)?;
        Ok(chunk.to_vec())
    }

    async fn read_dir(&self, reference: &str, path: &str) -> Result<Vec<Stat>, GatewayError> {
        self.trees_of(reference)
            .find_map(|tree| tree.dirs.get(path))
            .cloned()
            .ok_or_else(|| not_found("read directory", path))
    }

    async fn resolve_image_config(
        &self,
        _reference: &str,
        _platform: &pb::Platform,
        _resolve_mode: Option<&str>,
    ) -> Result<(String, Vec<u8>), GatewayError> {
        Ok((
            "sha256:1111111111111111111111111111111111111111111111111111111111111111".into(),
            br#"{"config":{"Env":["PATH=/usr/bin"]}}"#.to_vec(),
        ))
    }

    async fn warn(&self, message: &str) {
        self.calls().warnings.push(message.to_string());
    }
}

/// What a definition solves, by name: the progress name of its result's vertex, or its digest
/// when it has none.
pub fn solved_name(definition: &pb::Definition) -> String {
    use prost::Message;
    let input = definition
        .def
        .last()
        .and_then(|last| pb::Op::decode(last.as_slice()).ok())
        .and_then(|op| op.inputs.into_iter().next());
    let Some(input) = input else {
        return String::new();
    };
    definition
        .metadata
        .get(&input.digest)
        .and_then(|meta| meta.description.get("llb.customname"))
        .cloned()
        .unwrap_or(input.digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buildkit::llb::{self, Meta};

    fn named(name: &str) -> pb::Definition {
        let platform = pb::Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            ..Default::default()
        };
        let dir = llb::MakeFile::Dir {
            path: format!("/{}", name.len()),
            mode: 0o755,
        };
        llb::definition(&llb::make_files(&[dir], &platform, &Meta::named(name)))
    }

    /// Refs follow what was solved, not the order: a solve added before another changes nothing
    /// of what that other one reads; a step solved again can get a tree of its own.
    #[test]
    fn refs_are_keyed_by_what_was_solved() {
        let mut g = FakeGateway::default();
        g.tree("evaluate").file("/status", "ok");
        g.tree_nth("build", 1).file("/status", "rerun");
        g.tree("build").file("/status", "first");
        let read = |g: &FakeGateway, names: &[&str]| -> Vec<String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            names
                .iter()
                .map(|name| {
                    let reference = runtime.block_on(g.solve(named(name))).unwrap();
                    let data = runtime.block_on(g.read_file(&reference, "/status"));
                    String::from_utf8(data.unwrap_or_default()).unwrap()
                })
                .collect()
        };
        assert_eq!(
            read(&g, &["evaluate", "build", "build"]),
            ["ok", "first", "rerun"]
        );
        let g2 = FakeGateway {
            trees: g.trees.clone(),
            ..Default::default()
        };
        assert_eq!(
            read(&g2, &["probe", "evaluate", "build"]),
            ["", "ok", "first"]
        );
    }
}
