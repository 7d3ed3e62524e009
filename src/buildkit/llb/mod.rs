//! A small typed LLB builder: the ops nix-frontend needs (image and local sources, exec with
//! mounts, file copies, merge), serialised into BuildKit's `pb::Definition`. An exec's mounts
//! are typed (`MountKind`) and its outputs are redeemed by the handles its output mounts return;
//! vertices declare the capabilities they need (cache, secret and SSH mounts, MergeOp) as
//! BuildKit's Go client does; a merge of one input is that input.
//!
//! A vertex is identified by the sha256 of its marshalled `pb::Op`, exactly as BuildKit does, so
//! equal graphs give equal digests and hit the same cache. prost encodes fields in tag order and
//! our maps are `BTreeMap`s, so marshalling is deterministic.
//!
//! This file holds what every op shares (vertices, outputs, metadata, digests, capabilities) and
//! the definition made from them; each kind of op has a file of its own: `source.rs`, `exec.rs`,
//! `file.rs`, `merge.rs`.

mod exec;
mod file;
mod json;
mod merge;
mod source;

use std::collections::HashSet;
use std::sync::Arc;

use bollard_buildkit_proto::pb;
use prost::Message;
use sha2::{Digest, Sha256};

pub use exec::{exec, Exec, ExecOutputs, Mount, MountKind, OutputHandle};
pub use file::{copy, copy_from, make_files, mkdir_in, Copy, MakeFile};
pub use json::definition_to_json;
pub use merge::merge;
pub use source::{http_file, image, local, Local};

/// The `llb.customname` description key: the vertex name shown in progress output.
const CUSTOM_NAME: &str = "llb.customname";

/// A marshalled vertex with the vertices it reads from.
#[derive(Debug)]
struct Vertex {
    digest: String,
    bytes: Vec<u8>,
    metadata: pb::OpMetadata,
    inputs: Vec<Output>,
}

/// One output of a vertex: what an op reads from or a definition ends with.
#[derive(Debug, Clone)]
pub struct Output {
    vertex: Arc<Vertex>,
    index: i64,
}

/// Per-vertex settings that are not part of its digest.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// The progress name (`llb.customname`).
    pub name: Option<String>,
    /// Run again even when cached.
    pub ignore_cache: bool,
    /// LLB capabilities the vertex needs, so BuildKit can fail early with a clear message: added
    /// here by the op that needs them, never by the caller.
    caps: Vec<&'static str>,
}

impl Meta {
    pub fn named(name: impl Into<String>) -> Self {
        Meta {
            name: Some(name.into()),
            ..Meta::default()
        }
    }

    /// The same, run again even when cached if `ignore_cache`.
    pub fn ignoring_cache(self, ignore_cache: bool) -> Self {
        Meta {
            ignore_cache,
            ..self
        }
    }

    fn to_pb(&self) -> pb::OpMetadata {
        let mut metadata = pb::OpMetadata {
            ignore_cache: self.ignore_cache,
            ..Default::default()
        };
        if let Some(name) = &self.name {
            metadata
                .description
                .insert(CUSTOM_NAME.to_string(), name.clone());
        }
        for cap in &self.caps {
            metadata.caps.insert((*cap).to_string(), true);
        }
        metadata
    }
}

fn vertex(
    op: pb::op::Op,
    inputs: Vec<Output>,
    platform: Option<&pb::Platform>,
    meta: &Meta,
) -> Arc<Vertex> {
    let message = pb::Op {
        inputs: inputs
            .iter()
            .map(|input| pb::Input {
                digest: input.vertex.digest.clone(),
                index: input.index,
            })
            .collect(),
        platform: platform.cloned(),
        constraints: None,
        op: Some(op),
    };
    let bytes = message.encode_to_vec();
    Arc::new(Vertex {
        digest: sha256_digest(&bytes),
        bytes,
        metadata: meta.to_pb(),
        inputs,
    })
}

/// `sha256:<hex>` of `bytes`, the digest format BuildKit uses everywhere.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let mut out = String::with_capacity(71);
    out.push_str("sha256:");
    for byte in hash {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// LLB capabilities (solver/pb/caps.go) a vertex declares in its metadata, as BuildKit's Go
/// client does, so that a daemon without them fails early with a clear message.
pub mod caps {
    pub const EXEC_MOUNT_CACHE: &str = "exec.mount.cache";
    pub const EXEC_MOUNT_CACHE_SHARING: &str = "exec.mount.cache.sharing";
    pub const EXEC_MOUNT_SECRET: &str = "exec.mount.secret";
    pub const EXEC_MOUNT_SSH: &str = "exec.mount.ssh";
    pub const MERGE_OP: &str = "mergeop";
    pub const EXEC_META_NETWORK: &str = "exec.meta.network";
}

/// The definition whose result is `result`: every vertex it depends on, dependencies first,
/// each once, then the terminal op that names the result.
pub fn definition(result: &Output) -> pb::Definition {
    let mut definition = pb::Definition::default();
    let mut seen = HashSet::new();
    // Iterative post-order walk: closures can make graphs wide, never recurse per vertex.
    let mut stack: Vec<(Arc<Vertex>, bool)> = vec![(result.vertex.clone(), false)];
    while let Some((vertex, expanded)) = stack.pop() {
        if expanded {
            if seen.insert(vertex.digest.clone()) {
                definition.def.push(vertex.bytes.clone());
                definition
                    .metadata
                    .insert(vertex.digest.clone(), vertex.metadata.clone());
            }
            continue;
        }
        if seen.contains(&vertex.digest) {
            continue;
        }
        stack.push((vertex.clone(), true));
        for input in vertex.inputs.iter().rev() {
            if !seen.contains(&input.vertex.digest) {
                stack.push((input.vertex.clone(), false));
            }
        }
    }
    let terminal = pb::Op {
        inputs: vec![pb::Input {
            digest: result.vertex.digest.clone(),
            index: result.index,
        }],
        ..Default::default()
    };
    definition.def.push(terminal.encode_to_vec());
    definition
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform() -> pb::Platform {
        pb::Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            ..Default::default()
        }
    }

    fn file(path: &str) -> Output {
        make_files(
            &[MakeFile::Dir {
                path: path.into(),
                mode: 0o755,
            }],
            &platform(),
            &Meta::default(),
        )
    }

    #[test]
    fn a_merge_of_one_input_is_that_input() {
        let only = file("/a");
        let merged = merge(vec![only.clone()], &platform(), &Meta::default());
        assert_eq!(merged.vertex.digest, only.vertex.digest);
        let two = merge(vec![only, file("/b")], &platform(), &Meta::default());
        assert!(two.vertex.metadata.caps.contains_key(caps::MERGE_OP));
    }

    #[test]
    fn exec_outputs_are_named_by_their_mount_and_caps_declared() {
        let mut exec = Exec::new(vec!["/bin/true".into()], Vec::new(), "/", "root");
        let root = exec.output("/", Some(file("/root")));
        exec.mount("/src", "", MountKind::ReadOnly(file("/src")));
        exec.mount(
            "/cache",
            "",
            MountKind::Cache {
                id: "c".into(),
                sharing: pb::CacheSharingOpt::Locked,
                from: None,
            },
        );
        exec.mount(
            "/run/secret",
            "",
            MountKind::Secret {
                id: "s".into(),
                mode: 0o400,
            },
        );
        exec.mount(
            "/run/ssh",
            "",
            MountKind::Ssh {
                id: "default".into(),
            },
        );
        let out = exec.output("/out", None);
        let outputs = super::exec(&exec, &platform(), &Meta::default());
        assert_eq!(outputs.get(root).index, 0);
        assert_eq!(outputs.get(out).index, 1);
        let vertex = &outputs.get(out).vertex;
        let caps: Vec<&str> = vertex.metadata.caps.keys().map(String::as_str).collect();
        assert_eq!(
            caps,
            [
                caps::EXEC_MOUNT_CACHE,
                caps::EXEC_MOUNT_CACHE_SHARING,
                caps::EXEC_MOUNT_SECRET,
                caps::EXEC_MOUNT_SSH
            ]
        );
        let op = pb::Op::decode(vertex.bytes.as_slice()).unwrap();
        let Some(pb::op::Op::Exec(exec_op)) = op.op else {
            panic!("not an exec")
        };
        let outputs: Vec<(&str, i64, i64, bool)> = exec_op
            .mounts
            .iter()
            .map(|m| (m.dest.as_str(), m.input, m.output, m.readonly))
            .collect();
        // No mount names input 0 or output 0 (their JSON differs between BuildKit releases);
        // input 0 is an unused second reference to input 1.
        assert_eq!(
            outputs,
            [
                ("/", 1, 1, false),
                ("/src", 2, -1, true),
                ("/cache", -1, -1, false),
                ("/run/secret", -1, -1, false),
                ("/run/ssh", -1, -1, false),
                ("/out", -1, 2, false)
            ]
        );
        assert_eq!(op.inputs[0], op.inputs[1]);
    }
}
