//! The image stage: each closure path copied onto scratch as its own layer from the output that
//! holds its tree (`Trees`), grouped past the layer cap (`super::layers`), merged, plus a last small
//! layer of root links and USER/WORKDIR files; and the image config's entry points.

use std::collections::BTreeMap;

use bollard_buildkit_proto::pb;
use serde_json::Value;

use crate::builder::contract;
use crate::buildkit::llb::{self, Meta, Output};
use crate::dockerui::spec::Spec;
use crate::nix::closure::StorePath;

use super::{config, graph, layers};

/// The Nix store's own timestamp for every path (1 second after the epoch), in nanoseconds.
const NIX_STORE_MTIME_NANOS: i64 = 1_000_000_000;

/// What the builder reported, validated: the image stage's input beyond the spec.
pub use crate::builder::report::{BuildResult, RootLink};

/// Where the image stage finds each store path's tree and the builder's manifest (root links,
/// `/tmp`).
#[derive(Debug, Clone)]
pub enum Trees {
    /// The single Nix step's output: `contract::layer_tree` per path, the manifest beside.
    LaidOut(Output),
    /// Per path the output holding it (a group's or the evaluation's, laid out the same way, or
    /// the builder image's own store), and the final group's output with the manifest at
    /// `graph::RESULT_DIR`.
    Providers {
        /// Paths a build step or the evaluation laid out under `/layers`.
        by_path: BTreeMap<StorePath, Output>,
        /// The builder image, for paths only its store holds.
        in_image: Option<Output>,
        manifest: Output,
        /// Which step each path came from (an index), so that a layer never mixes steps.
        origin: BTreeMap<StorePath, usize>,
    },
}

impl Trees {
    /// The copy that puts `path` (with /nix and /nix/store) onto scratch, owned by root and
    /// pinned in time. Copying a layer tree's contents creates /nix and /nix/store in the copy
    /// itself, so they get the pinned timestamp too (parents made by createDestPath, or implied
    /// by include patterns, get the build's time).
    pub fn copy_of(&self, path: &StorePath, timestamp: i64) -> (Output, llb::Copy) {
        let (from, src, include_patterns) = match self {
            Trees::LaidOut(built) => (built.clone(), contract::layer_tree(path), Vec::new()),
            Trees::Providers {
                by_path,
                in_image,
                manifest,
                ..
            } => match by_path.get(path) {
                Some(output) => (output.clone(), contract::layer_tree(path), Vec::new()),
                None => (
                    in_image.clone().unwrap_or_else(|| manifest.clone()),
                    "/".to_string(),
                    vec![format!("nix/store/{}", path.base_name())],
                ),
            },
        };
        let copy = llb::Copy {
            src,
            dest: "/".to_string(),
            dir_contents: true,
            include_patterns,
            owner: Some((0, 0)),
            timestamp: Some(timestamp),
        };
        (from, copy)
    }

    /// The build step `path` came from: 0 for all in single mode.
    fn origin(&self, path: &StorePath) -> usize {
        match self {
            Trees::LaidOut(_) => 0,
            Trees::Providers { origin, .. } => origin.get(path).copied().unwrap_or(0),
        }
    }

    fn manifest(&self) -> (Output, &'static str) {
        match self {
            Trees::LaidOut(built) => (built.clone(), contract::MANIFEST_DIR),
            Trees::Providers { manifest, .. } => (manifest.clone(), graph::RESULT_DIR),
        }
    }
}

/// The image stage: every closure path copied from `built` onto scratch, grouped into at most
/// `max_layers` layers (one per path below that), plus a last layer with the root symlinks.
pub fn image_stage(
    spec: &Spec,
    result: &BuildResult,
    trees: &Trees,
    use_merge: bool,
    effective: &config::Effective,
) -> Output {
    let max_layers = spec.max_layers;
    let platform = spec.platform.to_pb();
    let timestamp = spec
        .source_date_epoch
        .map(|s| s.saturating_mul(1_000_000_000))
        .unwrap_or(NIX_STORE_MTIME_NANOS);
    // The root links take a layer of their own.
    let groups = layers::group(
        &result.closure,
        &result.results,
        max_layers.saturating_sub(1).max(1),
        &|path| trees.origin(path),
    );
    let total = groups.len();
    let mut layers: Vec<Output> = Vec::with_capacity(total + 1);
    // With MergeOp every layer stands on scratch; without it each is copied onto the last.
    let base = |layers: &[Output]| {
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
        let onto = base(&layers);
        layers.push(llb::copy_from(onto, &copies, &platform, &Meta::named(name)));
    }
    let onto = base(&layers);
    if let Some(layer) = extras_layer(result, trees, effective, timestamp, &platform, onto) {
        layers.push(layer);
    }
    if !use_merge {
        // Chained: the last copy holds every layer below it.
        return layers.pop().expect("a closure has at least one path");
    }
    let name = format!(
        "closure: {} paths, {}",
        result.closure.paths.len(),
        human_bytes(result.closure.total_nar_size())
    );
    llb::merge(layers, &platform, &Meta::named(name))
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

/// The last, small layer: links from `/` into the packages (directories of links where several
/// have the same directory, as the builder merged them), and for a non-root USER minimal
/// accounts and `/tmp`, and the WORKDIR. Everything in it is owned by root and pinned in time.
fn extras_layer(
    result: &BuildResult,
    trees: &Trees,
    effective: &config::Effective,
    timestamp: i64,
    platform: &pb::Platform,
    onto: Option<Output>,
) -> Option<Output> {
    let home = effective.working_dir.as_deref().unwrap_or("/");
    let accounts = effective
        .user
        .as_deref()
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
    if let Some(dir) = effective.working_dir.as_deref().filter(|d| *d != "/") {
        steps.push(llb::MakeFile::Dir {
            path: dir.into(),
            mode: 0o755,
        });
    }
    // A link must not stand where a made directory goes (`/etc` of the result vs /etc/passwd).
    let mut made_tops: Vec<&str> = steps
        .iter()
        .map(|step| match step {
            llb::MakeFile::Dir { path, .. } | llb::MakeFile::File { path, .. } => path.as_str(),
        })
        .filter_map(|path| path.trim_start_matches('/').split('/').next())
        .collect();
    if accounts.is_some() {
        made_tops.push("tmp");
    }
    let links: Vec<&RootLink> = result
        .root_links
        .iter()
        .filter(|l| !made_tops.contains(&l.name.as_str()))
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
    if accounts.is_some() {
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
    if let Some(dir) = effective.working_dir.as_deref().filter(|d| *d != "/") {
        what.push(format!("WORKDIR {dir}"));
    }
    if !steps.is_empty() {
        let staging = llb::make_files(&steps, platform, &Meta::named("image settings files"));
        // Copied rather than made in place, so that directories get the pinned timestamp too.
        copies.push((staging, pinned("/".into(), "/", true, Vec::new())));
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
