//! FileOps: copies from other outputs, and directories and files made from nothing. One FileOp is
//! one vertex, so one layer, however many actions it holds.

use bollard_buildkit_proto::pb;

use super::{vertex, Meta, Output};

/// One copy of a FileOp: `src` of `from` onto `dest`.
#[derive(Debug, Clone)]
pub struct Copy {
    pub src: String,
    pub dest: String,
    /// Copy the contents of a source directory rather than the directory itself.
    pub dir_contents: bool,
    /// Copy only these base-relative patterns (with `dir_contents`).
    pub include_patterns: Vec<String>,
    /// Owner uid/gid of everything copied; `None` keeps the source's.
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
                    owner: copy.owner.map(|(uid, gid)| owner_by_id(uid, gid)),
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

fn owner_by_id(uid: u32, gid: u32) -> pb::ChownOpt {
    pb::ChownOpt {
        user: Some(pb::UserOpt {
            user: Some(pb::user_opt::User::ById(uid)),
        }),
        group: Some(pb::UserOpt {
            user: Some(pb::user_opt::User::ById(gid)),
        }),
    }
}

/// A step of `make_files`.
#[derive(Debug, Clone)]
pub enum MakeFile {
    Dir {
        path: String,
        mode: i32,
    },
    /// A directory owned by `uid:gid` (parents it has to make get the same owner).
    OwnedDir {
        path: String,
        mode: i32,
        uid: u32,
        gid: u32,
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
                MakeFile::OwnedDir {
                    path,
                    mode,
                    uid,
                    gid,
                } => pb::file_action::Action::Mkdir(pb::FileActionMkDir {
                    path: path.clone(),
                    mode: *mode,
                    make_parents: true,
                    owner: Some(owner_by_id(*uid, *gid)),
                    timestamp: -1,
                }),
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
