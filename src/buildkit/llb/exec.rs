//! The exec op and its mounts: the only op that runs a program, so the one whose mounts decide
//! what it reads, what it writes and which capabilities it needs.

use std::sync::Arc;

use bollard_buildkit_proto::pb;

use super::{caps, vertex, Meta, Output, Vertex};

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
