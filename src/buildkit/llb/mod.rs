//! A small typed LLB builder: the ops nix-frontend needs (image and local sources, exec with
//! mounts, file copies, merge), serialised into BuildKit's `pb::Definition`. An exec's mounts
//! are typed (`MountKind`) and its outputs are redeemed by the handles its output mounts return;
//! vertices declare the capabilities they need (cache, secret and SSH mounts, MergeOp) as
//! BuildKit's Go client does; a merge of one input is that input.
//!
//! A vertex is identified by the sha256 of its marshalled `pb::Op`, exactly as BuildKit does, so
//! equal graphs give equal digests and hit the same cache. prost encodes fields in tag order and
//! our maps are `BTreeMap`s, so marshalling is deterministic.

mod json;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use bollard_buildkit_proto::pb;
use prost::Message;
use sha2::{Digest, Sha256};

pub use json::definition_to_json;

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

/// `docker-image://REF`; `reference` must be fully qualified (`docker.io/library/x:tag`).
pub fn image(
    reference: &str,
    resolve_mode: Option<&str>,
    platform: &pb::Platform,
    meta: &Meta,
) -> Output {
    let mut attrs = BTreeMap::new();
    if let Some(mode) = resolve_mode {
        attrs.insert("image.resolvemode".to_string(), mode.to_string());
    }
    let op = pb::op::Op::Source(pb::SourceOp {
        identifier: format!("docker-image://{reference}"),
        attrs,
    });
    Output {
        vertex: vertex(op, Vec::new(), Some(platform), meta),
        index: 0,
    }
}

/// A local directory sent by the client (`context`, `dockerfile`).
#[derive(Debug, Clone, Default)]
pub struct Local {
    pub name: String,
    pub session_id: String,
    pub shared_key_hint: String,
    pub include_patterns: Vec<String>,
    pub exclude_patterns: Vec<String>,
    pub follow_paths: Vec<String>,
}

pub fn local(source: &Local, meta: &Meta) -> Output {
    let mut attrs = BTreeMap::new();
    let json = |list: &Vec<String>| serde_json::to_string(list).expect("a list of strings");
    if !source.session_id.is_empty() {
        attrs.insert("local.session".to_string(), source.session_id.clone());
    }
    if !source.shared_key_hint.is_empty() {
        attrs.insert(
            "local.sharedkeyhint".to_string(),
            source.shared_key_hint.clone(),
        );
    }
    if !source.include_patterns.is_empty() {
        attrs.insert(
            "local.includepattern".to_string(),
            json(&source.include_patterns),
        );
    }
    if !source.exclude_patterns.is_empty() {
        attrs.insert(
            "local.excludepatterns".to_string(),
            json(&source.exclude_patterns),
        );
    }
    if !source.follow_paths.is_empty() {
        attrs.insert("local.followpaths".to_string(), json(&source.follow_paths));
    }
    let op = pb::op::Op::Source(pb::SourceOp {
        identifier: format!("local://{}", source.name),
        attrs,
    });
    Output {
        vertex: vertex(op, Vec::new(), None, meta),
        index: 0,
    }
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

/// What is mounted at a path of an exec.
#[derive(Debug, Clone)]
pub enum MountKind {
    /// An input, read-only.
    ReadOnly(Output),
    /// A writable input (`None`: empty) whose final content is an output of the exec.
    Output(Option<Output>),
    /// A BuildKit cache mount, optionally seeded from `from`.
    Cache {
        id: String,
        sharing: pb::CacheSharingOpt,
        from: Option<Output>,
    },
    /// A client secret (`--secret id=…`), as a read-only file; skipped when not given.
    Secret { id: String, mode: u32 },
    /// A forwarded SSH agent socket (`--ssh id`); skipped when not given.
    Ssh { id: String },
}

#[derive(Debug, Clone)]
pub struct Mount {
    pub dest: String,
    pub selector: String,
    pub kind: MountKind,
}

/// An exec: argv, environment and mounts; the first mount must be the root (`/`).
#[derive(Debug, Clone)]
pub struct Exec {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: String,
    pub network: pb::NetMode,
    mounts: Vec<Mount>,
}

/// Names the output of an `Exec`'s `MountKind::Output` mount; redeemed with `ExecOutputs::get`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputHandle(i64);

impl Exec {
    pub fn new(args: Vec<String>, env: Vec<String>, cwd: &str, user: &str) -> Exec {
        Exec {
            args,
            env,
            cwd: cwd.to_string(),
            user: user.to_string(),
            network: pb::NetMode::Unset,
            mounts: Vec::new(),
        }
    }

    /// Adds a mount at `dest` (of `selector` inside its input, `""` for all of it). Use
    /// `output` for a mount whose content is wanted afterwards.
    pub fn mount(&mut self, dest: &str, selector: &str, kind: MountKind) {
        self.mounts.push(Mount {
            dest: dest.to_string(),
            selector: selector.to_string(),
            kind,
        });
    }

    /// Adds a writable mount whose content is an output; the handle names that output.
    pub fn output(&mut self, dest: &str, input: Option<Output>) -> OutputHandle {
        let before = self
            .mounts
            .iter()
            .filter(|m| matches!(m.kind, MountKind::Output(_)))
            .count();
        self.mounts.push(Mount {
            dest: dest.to_string(),
            selector: String::new(),
            kind: MountKind::Output(input),
        });
        OutputHandle(before as i64)
    }
}

/// The outputs of an exec vertex, one per `MountKind::Output` mount.
#[derive(Debug, Clone)]
pub struct ExecOutputs {
    vertex: Arc<Vertex>,
}

impl ExecOutputs {
    /// The output of the mount `handle` names.
    pub fn get(&self, handle: OutputHandle) -> Output {
        Output {
            vertex: self.vertex.clone(),
            index: handle.0,
        }
    }
}

/// Builds the exec vertex. Cache, secret and SSH mounts declare their capabilities in the
/// vertex's metadata.
///
/// No mount names input 0 or output 0: BuildKit keys an exec by the JSON of its mounts, where
/// releases before 0.15 write `"input":0` and `"output":0` and later ones omit them, so such a
/// mount would make the step miss another release's cache. Input 0 is a second, unused reference
/// to the first input; outputs are numbered from 1 in the op (BuildKit returns the outputs in
/// mount order whatever their numbers, so `ExecOutputs::get` still counts from 0).
pub fn exec(spec: &Exec, platform: &pb::Platform, meta: &Meta) -> ExecOutputs {
    let mut inputs: Vec<Output> = Vec::new();
    let mut index_of = |output: Option<&Output>| -> i64 {
        match output {
            None => -1,
            Some(output) => {
                if inputs.is_empty() {
                    inputs.push(output.clone());
                }
                let position = inputs
                    .iter()
                    .skip(1)
                    .position(|seen| {
                        seen.vertex.digest == output.vertex.digest && seen.index == output.index
                    })
                    .map(|p| p + 1)
                    .unwrap_or_else(|| {
                        inputs.push(output.clone());
                        inputs.len() - 1
                    });
                position as i64
            }
        }
    };
    let mut meta = meta.clone();
    let mut need = |cap: &'static str| {
        if !meta.caps.contains(&cap) {
            meta.caps.push(cap);
        }
    };
    if spec.network != pb::NetMode::Unset {
        need(caps::EXEC_META_NETWORK);
    }
    let mut next_output = 0i64;
    let mut mounts = Vec::new();
    for mount in &spec.mounts {
        let mut pb_mount = pb::Mount {
            dest: mount.dest.clone(),
            selector: mount.selector.clone(),
            output: -1,
            mount_type: pb::MountType::Bind as i32,
            ..Default::default()
        };
        match &mount.kind {
            MountKind::ReadOnly(input) => {
                pb_mount.input = index_of(Some(input));
                pb_mount.readonly = true;
            }
            MountKind::Output(input) => {
                pb_mount.input = index_of(input.as_ref());
                next_output += 1;
                pb_mount.output = next_output;
            }
            MountKind::Cache { id, sharing, from } => {
                need(caps::EXEC_MOUNT_CACHE);
                if *sharing != pb::CacheSharingOpt::Shared {
                    need(caps::EXEC_MOUNT_CACHE_SHARING);
                }
                pb_mount.input = index_of(from.as_ref());
                pb_mount.mount_type = pb::MountType::Cache as i32;
                pb_mount.cache_opt = Some(pb::CacheOpt {
                    id: id.clone(),
                    sharing: *sharing as i32,
                });
            }
            MountKind::Secret { id, mode } => {
                need(caps::EXEC_MOUNT_SECRET);
                pb_mount.input = -1;
                pb_mount.mount_type = pb::MountType::Secret as i32;
                pb_mount.secret_opt = Some(pb::SecretOpt {
                    id: id.clone(),
                    uid: 0,
                    gid: 0,
                    mode: *mode,
                    optional: true,
                });
            }
            MountKind::Ssh { id } => {
                need(caps::EXEC_MOUNT_SSH);
                pb_mount.input = -1;
                pb_mount.mount_type = pb::MountType::Ssh as i32;
                pb_mount.ssh_opt = Some(pb::SshOpt {
                    id: id.clone(),
                    uid: 0,
                    gid: 0,
                    mode: 0o600,
                    optional: true,
                });
            }
        }
        mounts.push(pb_mount);
    }
    let op = pb::op::Op::Exec(pb::ExecOp {
        meta: Some(pb::Meta {
            args: spec.args.clone(),
            env: spec.env.clone(),
            cwd: spec.cwd.clone(),
            user: spec.user.clone(),
            ..Default::default()
        }),
        mounts,
        network: spec.network as i32,
        ..Default::default()
    });
    ExecOutputs {
        vertex: vertex(op, inputs, Some(platform), &meta),
    }
}

/// One copy of a FileOp: `src` of `from` onto `dest`.
#[derive(Debug, Clone)]
pub struct Copy {
    pub src: String,
    pub dest: String,
    /// Copy the contents of a source directory rather than the directory itself.
    pub dir_contents: bool,
    /// Copy only these base-relative patterns (with `dir_contents`).
    pub include_patterns: Vec<String>,
    /// Owner uid/gid of everything copied.
    pub owner: Option<(u32, u32)>,
    /// Modification time of everything copied, Unix nanoseconds.
    pub timestamp: Option<i64>,
}

/// A FileOp of copies from `from`, applied in order onto `onto` (`None` = scratch).
pub fn copy(
    onto: Option<Output>,
    from: Output,
    copies: &[Copy],
    platform: &pb::Platform,
    meta: &Meta,
) -> Output {
    let sourced: Vec<(Output, Copy)> = copies.iter().map(|c| (from.clone(), c.clone())).collect();
    copy_from(onto, &sourced, platform, meta)
}

/// A FileOp of copies, each from its own source, applied in order onto `onto` (`None` =
/// scratch): one vertex, so one layer.
pub fn copy_from(
    onto: Option<Output>,
    copies: &[(Output, Copy)],
    platform: &pb::Platform,
    meta: &Meta,
) -> Output {
    let mut inputs: Vec<Output> = Vec::new();
    let base = match onto {
        Some(onto) => {
            inputs.push(onto);
            0
        }
        None => -1,
    };
    let mut source_index = Vec::with_capacity(copies.len());
    for (source, _) in copies {
        let position = inputs
            .iter()
            .position(|i| i.vertex.digest == source.vertex.digest && i.index == source.index)
            .unwrap_or_else(|| {
                inputs.push(source.clone());
                inputs.len() - 1
            });
        source_index.push(position as i64);
    }
    let input_count = inputs.len() as i64;
    let last = copies.len().saturating_sub(1);
    let actions = copies
        .iter()
        .enumerate()
        .map(|(i, (_, copy))| {
            // Each action after the first writes onto the previous action's result, which
            // BuildKit addresses as (number of inputs + action index).
            let input = if i == 0 {
                base
            } else {
                input_count + i as i64 - 1
            };
            pb::FileAction {
                input,
                secondary_input: source_index[i],
                output: if i == last { 0 } else { -1 },
                action: Some(pb::file_action::Action::Copy(pb::FileActionCopy {
                    src: copy.src.clone(),
                    dest: copy.dest.clone(),
                    owner: copy.owner.map(|(uid, gid)| pb::ChownOpt {
                        user: Some(pb::UserOpt {
                            user: Some(pb::user_opt::User::ById(uid)),
                        }),
                        group: Some(pb::UserOpt {
                            user: Some(pb::user_opt::User::ById(gid)),
                        }),
                    }),
                    mode: -1,
                    follow_symlink: false,
                    dir_copy_contents: copy.dir_contents,
                    create_dest_path: true,
                    allow_wildcard: false,
                    allow_empty_wildcard: false,
                    timestamp: copy.timestamp.unwrap_or(-1),
                    include_patterns: copy.include_patterns.clone(),
                    ..Default::default()
                })),
            }
        })
        .collect();
    let op = pb::op::Op::File(pb::FileOp { actions });
    Output {
        vertex: vertex(op, inputs, Some(platform), meta),
        index: 0,
    }
}

/// A step of `make_files`.
#[derive(Debug, Clone)]
pub enum MakeFile {
    Dir {
        path: String,
        mode: i32,
    },
    File {
        path: String,
        mode: i32,
        data: Vec<u8>,
    },
}

/// A FileOp that makes directories (with parents) and files on scratch, in order.
pub fn make_files(steps: &[MakeFile], platform: &pb::Platform, meta: &Meta) -> Output {
    let last = steps.len().saturating_sub(1);
    let actions = steps
        .iter()
        .enumerate()
        .map(|(i, step)| pb::FileAction {
            // Each step works on the previous step's result (no inputs: index = action index).
            input: if i == 0 { -1 } else { i as i64 - 1 },
            secondary_input: -1,
            output: if i == last { 0 } else { -1 },
            action: Some(match step {
                MakeFile::Dir { path, mode } => {
                    pb::file_action::Action::Mkdir(pb::FileActionMkDir {
                        path: path.clone(),
                        mode: *mode,
                        make_parents: true,
                        owner: None,
                        timestamp: -1,
                    })
                }
                MakeFile::File { path, mode, data } => {
                    pb::file_action::Action::Mkfile(pb::FileActionMkFile {
                        path: path.clone(),
                        mode: *mode,
                        data: data.clone(),
                        owner: None,
                        timestamp: -1,
                    })
                }
            }),
        })
        .collect();
    let op = pb::op::Op::File(pb::FileOp { actions });
    Output {
        vertex: vertex(op, Vec::new(), Some(platform), meta),
        index: 0,
    }
}

/// A FileOp that makes the directory `path` (with parents) in `onto`; an existing directory is
/// left as it is.
pub fn mkdir_in(
    onto: Output,
    path: &str,
    mode: i32,
    platform: &pb::Platform,
    meta: &Meta,
) -> Output {
    let action = pb::FileAction {
        input: 0,
        secondary_input: -1,
        output: 0,
        action: Some(pb::file_action::Action::Mkdir(pb::FileActionMkDir {
            path: path.to_string(),
            mode,
            make_parents: true,
            owner: None,
            timestamp: -1,
        })),
    };
    let op = pb::op::Op::File(pb::FileOp {
        actions: vec![action],
    });
    Output {
        vertex: vertex(op, vec![onto], Some(platform), meta),
        index: 0,
    }
}

/// MergeOp: the inputs stacked as independent layers, later ones on top. A merge of one
/// input is that input (BuildKit's client does the same).
pub fn merge(mut layers: Vec<Output>, platform: &pb::Platform, meta: &Meta) -> Output {
    if layers.len() == 1 {
        if let Some(only) = layers.pop() {
            return only;
        }
    }
    // BuildKit merges the vertex's inputs in their order and reads these indices only for the
    // cache key, which it takes from their JSON: releases before 0.15 write `"input":0` where
    // later ones omit it, so an index 0 here would make every merge (and every step on it) miss
    // another release's cache. The list names each input but the first, and the last in its place.
    let count = layers.len() as i64;
    let op = pb::op::Op::Merge(pb::MergeOp {
        inputs: (0..count)
            .map(|i| pb::MergeInput {
                input: if i == 0 { count - 1 } else { i },
            })
            .collect(),
    });
    let mut meta = meta.clone();
    meta.caps.push(caps::MERGE_OP);
    Output {
        vertex: vertex(op, layers, Some(platform), &meta),
        index: 0,
    }
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
