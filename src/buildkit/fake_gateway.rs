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

/// Solves return `ref-0`, `ref-1`, … in order; each ref reads only its own `Tree`, so a build
/// that reads a stale ref sees what that ref held.
#[derive(Default)]
pub struct FakeGateway {
    pub trees: HashMap<String, Tree>,
    /// Fail the Nth solve (0-based) with this message.
    pub fail_solve: Option<(usize, String)>,
    /// What the build called; behind a lock since the calls take `&self`.
    calls: Mutex<Calls>,
}

/// The record of the calls made.
#[derive(Default)]
struct Calls {
    solves: usize,
    warnings: Vec<String>,
    definitions: Vec<pb::Definition>,
    file_reads: usize,
}

impl FakeGateway {
    /// The ref id the Nth solve (0-based) returns.
    pub fn ref_of(solve: usize) -> String {
        format!("ref-{solve}")
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

    fn file(&self, reference: &str, path: &str) -> Result<&Vec<u8>, GatewayError> {
        self.trees
            .get(reference)
            .and_then(|tree| tree.files.get(path))
            .ok_or_else(|| not_found("read file", path))
    }

    /// What the Nth solve's ref holds.
    pub fn tree(&mut self, solve: usize) -> &mut Tree {
        self.trees.entry(Self::ref_of(solve)).or_default()
    }
}

/// The environment of a test build: linux/amd64, MergeOp and attestations, the frontend started
/// at `started_at`.
pub fn environment(started_at: i64) -> Environment {
    Environment {
        session_id: "s".into(),
        worker_platform: Platform::parse("linux/amd64").expect("a platform"),
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
        let n = {
            let mut calls = self.calls();
            calls.solves += 1;
            calls.definitions.push(definition);
            calls.solves - 1
        };
        // A solve takes time in BuildKit: let other platforms' builds run meanwhile.
        tokio::task::yield_now().await;
        match &self.fail_solve {
            Some((at, message)) if *at == n => Err(GatewayError {
                call: "solve",
                message: message.clone(),
            }),
            _ => Ok(Self::ref_of(n)),
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
        self.trees
            .get(reference)
            .and_then(|tree| tree.dirs.get(path))
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
