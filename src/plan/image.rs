//! The image stage: the closure's paths copied onto scratch from the outputs that hold their trees
//! (`Trees`), a layer for each result and large path and shared layers for the small ones
//! (`super::layers`), merged, plus a last small layer of root links and USER/WORKDIR files; and
//! the image config's entry points.

use std::collections::BTreeMap;

use bollard_buildkit_proto::pb;
use serde_json::Value;

use crate::builder::contract;
use crate::buildkit::llb::{self, Meta, Output};
use crate::dockerui::spec::Spec;
use crate::nix::closure::{Closure, StorePath, STORE_DIR};

use super::{base, config, graph, layers};

/// The Nix store's own timestamp for every path (1 second after the epoch), in nanoseconds.
const NIX_STORE_MTIME_NANOS: i64 = 1_000_000_000;

/// What the builder reported, validated: the image stage's input beyond the spec.
pub use crate::builder::report::{BuildResult, RootLink};

/// Where the image stage finds each store path's tree and the builder's manifest (root links,
/// `/tmp`).
#[derive(Debug, Clone)]
pub enum Trees {
    /// The single Nix step's output: the closure at its store paths, the manifest beside.
    SingleStep(Output),
    /// Per path the output holding it (a group's or the evaluation's, or the builder image's own
    /// store), and the final group's output with the manifest at `graph::RESULT_DIR`.
    Providers {
        /// Paths a build step or the evaluation holds in its `/nix/store`.
        by_path: BTreeMap<StorePath, Output>,
        /// The builder image, for paths only its store holds.
        in_image: Option<Output>,
        manifest: Output,
        /// Which step each path came from (an index), so that a layer never mixes steps.
        origin: BTreeMap<StorePath, usize>,
    },
}

impl Trees {
    /// The copy that puts `path` into `/nix/store`, owned by root and pinned in time: every
    /// output holds each of its paths at its own path (`pinned_store_dirs` pins the parents).
    pub fn copy_of(&self, path: &StorePath, timestamp: i64) -> (Output, llb::Copy) {
        let from = match self {
            Trees::SingleStep(built) => built.clone(),
            Trees::Providers {
                by_path,
                in_image,
                manifest,
                ..
            } => by_path
                .get(path)
                .or(in_image.as_ref())
                .unwrap_or(manifest)
                .clone(),
        };
        let copy = llb::Copy {
            src: path.to_string(),
            dest: format!("{STORE_DIR}/"),
            dir_contents: false,
            include_patterns: Vec::new(),
            owner: Some((0, 0)),
            timestamp: Some(timestamp),
        };
        (from, copy)
    }

    /// The build step `path` came from: 0 for all in single mode.
    fn origin(&self, path: &StorePath) -> usize {
        match self {
            Trees::SingleStep(_) => 0,
            Trees::Providers { origin, .. } => origin.get(path).copied().unwrap_or(0),
        }
    }

    pub fn manifest(&self) -> (Output, &'static str) {
        match self {
            Trees::SingleStep(built) => (built.clone(), contract::MANIFEST_DIR),
            Trees::Providers { manifest, .. } => (manifest.clone(), graph::RESULT_DIR),
        }
    }
}

/// The image stage: every closure path copied from `built` onto scratch, grouped into at most
/// `max_layers` layers (see `layers`), the last of them the root symlinks' and USER files'.
pub fn image_stage(
    spec: &Spec,
    result: &BuildResult,
    trees: &Trees,
    use_merge: bool,
    effective: &config::Effective,
    directories: &[config::MadeDirectory],
    base: Option<&base::Base>,
) -> Output {
    let max_layers = spec.max_layers;
    let platform = spec.platform.to_pb();
    let timestamp = spec
        .source_date_epoch
        .map(|s| s.saturating_mul(1_000_000_000))
        .unwrap_or(NIX_STORE_MTIME_NANOS);
    // Paths the base image holds are there already (a store path is the same bytes anywhere).
    let own_closure = match base {
        None => result.closure.clone(),
        Some(base) => Closure {
            paths: result
                .closure
                .paths
                .iter()
                .filter(|(path, _)| !base.store_paths.contains(path.base_name()))
                .map(|(path, info)| (path.clone(), info.clone()))
                .collect(),
        },
    };
    // The root links take a layer of their own.
    let groups = layers::group(
        &own_closure,
        &result.results,
        max_layers.saturating_sub(1).max(1),
        &|path| trees.origin(path),
    );
    let total = groups.len();
    let pin_store_dirs = pinned_store_dirs(&platform, timestamp);
    let mut layers: Vec<Output> = Vec::with_capacity(total + 2);
    if let Some(base) = base {
        layers.push(base.image.clone());
    }
    // With MergeOp every layer stands on scratch; without it each is copied onto the last.
    let previous = |layers: &[Output]| {
        if use_merge {
            None
        } else {
            layers.last().cloned()
        }
    };
    for (i, group) in groups.iter().enumerate() {
        let copies: Vec<(Output, llb::Copy)> = group
            .paths
            .iter()
            .map(|path| trees.copy_of(path, timestamp))
            .collect();
        let name = match group.paths.as_slice() {
            [one] => format!("layer {}/{total}: {one}", i + 1),
            many => format!(
                "layer {}/{total}: {} store paths, {}",
                i + 1,
                many.len(),
                human_bytes(group.nar_size)
            ),
        };
        let mut copies = copies;
        copies.push(pin_store_dirs.clone());
        let onto = previous(&layers);
        layers.push(llb::copy_from(onto, &copies, &platform, &Meta::named(name)));
    }
    let onto = previous(&layers);
    let settings = Settings {
        effective,
        directories,
        base,
    };
    if let Some(layer) = extras_layer(result, trees, &settings, timestamp, &platform, onto) {
        layers.push(layer);
    }
    if !use_merge {
        // Chained: the last copy holds every layer below it.
        return layers.pop().expect("a closure has at least one path");
    }
    let mut name = format!(
        "closure: {} paths, {}",
        result.closure.paths.len(),
        human_bytes(result.closure.total_nar_size())
    );
    if !result.work.is_empty() {
        name = format!("{name}; {}", result.work);
    }
    llb::merge(layers, &platform, &Meta::named(name))
}

/// The empty `/nix/store` the store paths' layers are pinned with (`pinned_store_dirs`), to solve
/// ahead of the image: it needs nothing of the build.
pub fn store_skeleton(spec: &Spec) -> Output {
    pinned_store_dirs(&spec.platform.to_pb(), NIX_STORE_MTIME_NANOS).0
}

/// The last copy of a store paths' layer: an empty `/nix/store` copied over the one the paths'
/// copies made, so that `/nix` and `/nix/store` are owned by root and pinned in time like the
/// paths in them. Parents made by a copy's createDestPath get the build's time in older
/// BuildKits, and a mkdir does not touch a directory that exists; a copy onto an existing
/// directory sets its metadata after its contents.
fn pinned_store_dirs(platform: &pb::Platform, timestamp: i64) -> (Output, llb::Copy) {
    let skeleton = llb::make_files(
        &[llb::MakeFile::Dir {
            path: STORE_DIR.to_string(),
            mode: 0o755,
        }],
        platform,
        &Meta::named("/nix/store"),
    );
    let copy = llb::Copy {
        src: "/".to_string(),
        dest: "/".to_string(),
        dir_contents: true,
        include_patterns: Vec::new(),
        owner: Some((0, 0)),
        timestamp: Some(timestamp),
    };
    (skeleton, copy)
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// What the last layer is made from beyond the result.
struct Settings<'a> {
    effective: &'a config::Effective,
    directories: &'a [config::MadeDirectory],
    base: Option<&'a base::Base>,
}

/// The last, small layer: links from `/` into the packages (directories of links where several
/// have the same directory, as the builder merged them), and for a non-root USER minimal
/// accounts and `/tmp`, and the WORKDIR, VOLUME and declared directories with their owners
/// (`config::made_directories`). Everything else in it is owned by root; all is pinned in time.
fn extras_layer(
    result: &BuildResult,
    trees: &Trees,
    settings: &Settings,
    timestamp: i64,
    platform: &pb::Platform,
    onto: Option<Output>,
) -> Option<Output> {
    let Settings {
        effective,
        directories,
        base,
    } = *settings;
    let home = effective.working_dir.as_deref().unwrap_or("/");
    // A base with an /etc has its own accounts (distroless' nonroot, a company's users), and
    // one with a /tmp its own /tmp: ours would replace them.
    let base_has = |dir: &str| base.is_some_and(|b| b.top_dirs.contains(dir));
    let accounts = effective
        .user
        .as_deref()
        .filter(|_| !base_has("etc"))
        .and_then(|user| config::accounts(user, home));
    let mut steps = Vec::new();
    if let Some(accounts) = &accounts {
        steps.push(llb::MakeFile::Dir {
            path: "/etc".into(),
            mode: 0o755,
        });
        steps.push(llb::MakeFile::File {
            path: "/etc/passwd".into(),
            mode: 0o644,
            data: accounts.passwd.clone().into_bytes(),
        });
        steps.push(llb::MakeFile::File {
            path: "/etc/group".into(),
            mode: 0o644,
            data: accounts.group.clone().into_bytes(),
        });
    }
    // Parents a directory needs are made first, owned by root: a mkdir's parents would get its
    // owner.
    for dir in directories {
        let mut parent = String::new();
        let components: Vec<&str> = dir.path.trim_start_matches('/').split('/').collect();
        for component in &components[..components.len().saturating_sub(1)] {
            parent.push('/');
            parent.push_str(component);
            let made = steps.iter().any(|step| step_path(step) == parent)
                || directories.iter().any(|d| d.path == parent);
            if !made {
                steps.push(llb::MakeFile::Dir {
                    path: parent.clone(),
                    mode: 0o755,
                });
            }
        }
        steps.push(llb::MakeFile::OwnedDir {
            path: dir.path.clone(),
            mode: dir.mode as i32,
            uid: dir.uid,
            gid: dir.gid,
        });
    }
    // A link must not stand where a made directory goes (`/etc` of the result vs /etc/passwd).
    let mut made_tops: Vec<&str> = steps
        .iter()
        .map(step_path)
        .filter_map(|path| path.trim_start_matches('/').split('/').next())
        .collect();
    let make_tmp = accounts.is_some() && !base_has("tmp");
    if make_tmp {
        made_tops.push("tmp");
    }
    let merged_dirs = base.map(|b| &b.merged_dirs);
    let linked = base.and_then(|b| b.linked.as_ref()).map(|(_, names)| names);
    let is_merged = |name: &str| {
        merged_dirs.is_some_and(|m| m.contains(name))
            || linked.is_some_and(|l| l.iter().any(|n| n == name))
    };
    let links: Vec<&RootLink> = result
        .root_links
        .iter()
        .filter(|l| !made_tops.contains(&l.name.as_str()) && !is_merged(&l.name))
        .collect();
    let merged: Vec<String> = result
        .root_links
        .iter()
        .filter(|l| {
            !made_tops.contains(&l.name.as_str())
                && merged_dirs.is_some_and(|m| m.contains(&l.name))
        })
        .map(|l| l.name.clone())
        .collect();

    let pinned = |src: String, dest: &str, dir_contents: bool, include: Vec<String>| llb::Copy {
        src,
        dest: dest.into(),
        dir_contents,
        include_patterns: include,
        owner: Some((0, 0)),
        timestamp: Some(timestamp),
    };
    let (built, manifest_dir) = trees.manifest();
    let mut copies = Vec::new();
    let mut what = Vec::new();
    if !links.is_empty() {
        let names: Vec<String> = links.iter().map(|l| l.name.clone()).collect();
        what.push(if result.others.is_empty() {
            format!("links /{{{}}} into {}", names.join(","), result.main.path)
        } else {
            format!(
                "links /{{{}}} into {} packages",
                names.join(","),
                result.others.len() + 1
            )
        });
        copies.push((
            built.clone(),
            pinned(format!("{manifest_dir}/root"), "/", true, names),
        ));
    }
    if !merged.is_empty() {
        what.push(format!(
            "links in the base's /{{{}}} into {}",
            merged.join(","),
            result.results[0]
        ));
        copies.push((
            built.clone(),
            pinned(format!("{manifest_dir}/profile"), "/", true, merged),
        ));
    }
    if let Some((links, names)) = base.and_then(|b| b.linked.as_ref()) {
        let names: Vec<String> = names
            .iter()
            .filter(|n| !made_tops.contains(&n.as_str()))
            .cloned()
            .collect();
        what.push(format!(
            "links in /{{{}}} to the base's and {}",
            names.join(","),
            result.results[0]
        ));
        copies.push((
            links.clone(),
            pinned(base::LINKS_DIR.into(), "/", true, names),
        ));
    }
    if make_tmp {
        // /tmp comes from the builder, where chmod 1777 is real: a FileOp mkdir cannot set
        // the sticky bit.
        copies.push((
            built.clone(),
            pinned(format!("{manifest_dir}/tmp"), "/tmp", false, Vec::new()),
        ));
        what.push(format!(
            "USER {}: /etc/passwd, /etc/group, /tmp",
            effective.user.as_deref().unwrap_or_default()
        ));
    }
    if !directories.is_empty() {
        let dirs: Vec<String> = directories
            .iter()
            .map(|d| format!("{} ({}:{} {:o})", d.path, d.uid, d.gid, d.mode))
            .collect();
        what.push(format!("directories {}", dirs.join(", ")));
    }
    if !steps.is_empty() {
        let staging = llb::make_files(&steps, platform, &Meta::named("image settings files"));
        // Copied rather than made in place, so that directories get the pinned timestamp too;
        // the copy keeps the owners they were made with (root unless USER's).
        let mut copy = pinned("/".into(), "/", true, Vec::new());
        copy.owner = None;
        copies.push((staging, copy));
    }
    if copies.is_empty() {
        return onto;
    }
    Some(llb::copy_from(
        onto,
        &copies,
        platform,
        &Meta::named(what.join("; ")),
    ))
}

fn step_path(step: &llb::MakeFile) -> &str {
    match step {
        llb::MakeFile::Dir { path, .. }
        | llb::MakeFile::OwnedDir { path, .. }
        | llb::MakeFile::File { path, .. } => path.as_str(),
    }
}

/// The OCI image config (`containerimage.config`); see `config` for the merge order.
pub fn image_config(spec: &Spec, effective: &config::Effective) -> Value {
    config::to_json(spec, effective)
}

/// The main package's `meta.mainProgram` when it has it in `bin/`, else the only executable
/// there.
pub fn default_program(result: &BuildResult) -> Option<&str> {
    if let Some(main) = &result.main.info.main_program {
        if result.executables.iter().any(|e| e == main) {
            return Some(main.as_str());
        }
    }
    match result.executables.as_slice() {
        [only] => Some(only.as_str()),
        _ => None,
    }
}
