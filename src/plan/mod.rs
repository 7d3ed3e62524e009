//! Pure planning: from a `Spec` and what the builder reported to LLB graphs and the image config.
//!
//! Nix's work is planned one of two ways. In the graph plan (`NIX_PLAN=graph`, the default; see
//! `graph`) an evaluation step reports the derivations, and each planned group of them is a
//! build step of its own, whose output holds the store paths it made, laid out one tree per path,
//! and, for the final group, the manifest. In the single plan (`NIX_PLAN=single`, and always on a
//! BuildKit without MergeOp) one step, `build_stage`, builds over a persistent store and lays out
//! the whole closure and the manifest in its output.
//!
//! Either way the image stage (`image_stage`) then copies each closure path from the output that
//! holds its tree (`Trees`) onto scratch as its own layer (grouped past the layer cap, see
//! `layers`) and merges them, so a store path's layer is the same bytes, and the same digest, in
//! every image that contains it; a last layer holds the root links and the USER and WORKDIR
//! files. Without MergeOp each layer is copied onto the one before. What every Nix step shares
//! is here too: the builder image, its environment (`builder_env`), the credential and context
//! mounts and the scripts' files (`tools`). `config` makes the image config.

pub mod config;
pub mod graph;
pub mod layers;

use std::collections::BTreeMap;

use bollard_buildkit_proto::pb;
use serde_json::Value;

use crate::builder::contract::{self, scripts, vars};
use crate::buildkit::llb::{self, Meta, MountKind, Output};
use crate::dockerui::spec::Spec;
use crate::nix::closure::{Closure, StorePath};

/// The ids of the secrets of a step that pushes to NIX_CACHE_PUSH (the contract's).
pub use crate::builder::contract::{AWS_SECRET, CACHE_KEY_SECRET};
/// Where the scripts are mounted and where `--secret id=netrc` appears (the contract's).
pub use crate::builder::contract::{NETRC_SECRET, SCRIPT_DIR};
/// Where `--ssh default` appears in the builder.
const SSH_SOCKET: &str = "/run/buildkit/ssh_agent.0";
/// The Nix store's own timestamp for every path (1 second after the epoch), in nanoseconds.
const NIX_STORE_MTIME_NANOS: i64 = 1_000_000_000;

/// The builder image as resolved: a pinned reference and the config its containers run with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuilderImage {
    pub reference: String,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
}

impl BuilderImage {
    /// Reads Env and WorkingDir from the image config JSON; `digest` pins the reference.
    pub fn from_config(reference: &str, digest: Option<&str>, config: &[u8]) -> BuilderImage {
        let value: Value = serde_json::from_slice(config).unwrap_or(Value::Null);
        let section = &value["config"];
        let env = section["Env"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(|e| e.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let working_dir = section["WorkingDir"]
            .as_str()
            .filter(|d| !d.is_empty())
            .map(str::to_string);
        let reference = match digest {
            Some(digest) if !reference.contains('@') && digest.starts_with("sha256:") => {
                format!("{reference}@{digest}")
            }
            _ => reference.to_string(),
        };
        BuilderImage {
            reference,
            env,
            working_dir,
        }
    }
}

/// The id of the persistent Nix store: per builder image (pinned by digest) and platform, so a
/// store is only ever reused with the Nix and the architecture that made it.
pub fn nix_cache_id(spec: &Spec, builder: &BuilderImage) -> String {
    match &spec.cache_id {
        Some(id) => format!("nix-frontend:{id}"),
        None => {
            let key = format!("{}\n{}", builder.reference, spec.platform);
            let digest = llb::sha256_digest(key.as_bytes());
            format!(
                "nix-frontend:{}",
                &digest["sha256:".len().."sha256:".len() + 24]
            )
        }
    }
}

/// The progress name of the Nix step, e.g. `nix-build default.nix -A hello`.
pub fn build_step_name(spec: &Spec) -> String {
    let step = match &spec.attr {
        Some(attr) => format!("nix-build {} -A {attr}", spec.nix_file),
        None => format!("nix-build {}", spec.nix_file),
    };
    platform_prefixed(spec, step)
}

/// A step's progress name with its platform in front when several are built (`[linux/arm64] …`).
pub fn platform_prefixed(spec: &Spec, step: String) -> String {
    if spec.platforms.len() > 1 {
        format!("[{}] {step}", spec.platform)
    } else {
        step
    }
}

/// The build stage: the builder image with the context at /src runs the builder script; the
/// returned output is its /out mount.
pub fn build_stage(
    spec: &Spec,
    builder: &BuilderImage,
    sources: Sources,
    resolve_mode: Option<&str>,
) -> Output {
    nix_stage(spec, builder, sources, resolve_mode, Task::Build)
}

/// What a Nix step in the builder does (part of the builder contract: which script runs).
pub use crate::builder::contract::Task;

/// A Nix step: the builder image with the persistent store at /nix, the context at /src, our
/// tools at /.nix-frontend, and an output at /out, which is returned.
pub fn nix_stage(
    spec: &Spec,
    builder: &BuilderImage,
    sources: Sources,
    resolve_mode: Option<&str>,
    task: Task,
) -> Output {
    let platform = spec.platform.to_pb();
    let image = builder_image(spec, builder, resolve_mode);
    let mut env = match task {
        Task::Build => evaluation_env(spec, builder),
        Task::Targets => builder_env(spec, builder),
    };
    if let (Task::Build, Some(url)) = (task, &spec.cache_push) {
        env.push(format!("{}={url}", vars::CACHE_PUSH));
    }
    let script = tools(&platform);
    let cache_id = nix_cache_id(spec, builder);
    let args = vec![
        "/bin/sh".into(),
        match task {
            Task::Build => scripts::BUILDER.path(),
            Task::Targets => scripts::TARGETS.path(),
        },
    ];
    let mut exec = llb::Exec::new(args, env, "/src", "root");
    // BuildKit mounts a root without an output read-only; Nix writes /nix, /tmp.
    exec.output("/", Some(image.clone()));
    // The persistent Nix store: what an earlier build made is not built again. Seeded from the
    // image's own /nix on first use; Nix's locks make sharing it safe. The seed is the image with
    // /nix made if it has none (Debian's or Ubuntu's nix-bin without a store yet): BuildKit
    // cannot seed a cache from a directory that does not exist, and Nix creates its store in an
    // empty /nix.
    let seed = llb::mkdir_in(
        image,
        "/nix",
        0o755,
        &platform,
        &Meta::named(format!("/nix of {}", builder.reference)),
    );
    exec.mount(
        "/nix",
        "/nix",
        MountKind::Cache {
            id: cache_id,
            sharing: pb::CacheSharingOpt::Shared,
            from: Some(seed),
        },
    );
    exec.mount(SCRIPT_DIR, "", MountKind::ReadOnly(script));
    mount_credentials(&mut exec);
    if task == Task::Build && spec.cache_push.is_some() {
        // The single plan pushes from its one step, whose key then holds the URL.
        mount_push_secrets(&mut exec);
    }
    mount_sources(&mut exec, sources);
    exec.network = network_mode(spec);
    let out = exec.output(contract::OUT, None);
    let meta = Meta::named(match task {
        Task::Build => build_step_name(spec),
        Task::Targets => format!("list the attributes of {}", spec.nix_file),
    })
    .ignoring_cache(spec.no_cache);
    llb::exec(&exec, &platform, &meta).get(out)
}

/// The exec network of a Nix step: `--network host|none`, else BuildKit's sandbox.
pub fn network_mode(spec: &Spec) -> pb::NetMode {
    match spec.network {
        None => pb::NetMode::Unset,
        Some(crate::dockerui::options::NetworkMode::Host) => pb::NetMode::Host,
        Some(crate::dockerui::options::NetworkMode::None) => pb::NetMode::None,
    }
}

/// The builder image as a source vertex.
pub fn builder_image(spec: &Spec, builder: &BuilderImage, resolve_mode: Option<&str>) -> Output {
    llb::image(
        &builder.reference,
        resolve_mode,
        &spec.platform.to_pb(),
        &Meta::named(format!("builder image {}", builder.reference)),
    )
}

/// The secrets of a step that pushes to NIX_CACHE_PUSH, at `/run/secrets/<id>`.
pub fn mount_push_secrets(exec: &mut llb::Exec) {
    for id in [CACHE_KEY_SECRET, AWS_SECRET] {
        exec.mount(
            &format!("/run/secrets/{id}"),
            "",
            MountKind::Secret {
                id: id.into(),
                mode: 0o400,
            },
        );
    }
}

/// The secret and SSH mounts of every Nix step: private caches and fetches behind auth see the
/// client's netrc (never in any layer), `builtins.fetchGit` over SSH the agent.
pub fn mount_credentials(exec: &mut llb::Exec) {
    exec.mount(
        NETRC_SECRET,
        "",
        MountKind::Secret {
            id: "netrc".into(),
            mode: 0o400,
        },
    );
    exec.mount(
        SSH_SOCKET,
        "",
        MountKind::Ssh {
            id: "default".into(),
        },
    );
}

/// The builder's environment: the image's own (with PATH and HOME if it lacks them), then every
/// user value as a variable of its own for the scripts, never spliced into their text.
pub fn builder_env(spec: &Spec, builder: &BuilderImage) -> Vec<String> {
    let mut env = builder.env.clone();
    for (name, default) in [
        (
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        ),
        ("HOME", "/root"),
    ] {
        if !env
            .iter()
            .any(|e| e.split_once('=').map(|(k, _)| k) == Some(name))
        {
            env.push(format!("{name}={default}"));
        }
    }
    env.push("NO_COLOR=1".into());
    env.push(format!("{}={}", vars::FILE, spec.nix_file));
    if let Some(attr) = &spec.attr {
        env.push(format!("{}={attr}", vars::ATTR));
    }
    if spec.flake {
        env.push(format!("{}=1", vars::FLAKE));
    }
    if spec.nix_file_defaulted {
        env.push(format!("{}=1", vars::FILE_DEFAULTED));
    }
    if let Some(system) = spec.platform.nix_system() {
        env.push(format!("{}={system}", vars::SYSTEM));
    }
    // Each Nix argument is an environment variable of its own, read back one by one.
    env.push(format!("{}={}", vars::ARG_COUNT, spec.nix_args.len()));
    for (i, arg) in spec.nix_args.iter().enumerate() {
        env.push(format!("{}={arg}", vars::indexed(vars::ARG, i)));
    }
    if let Some(nixpkgs) = &spec.nixpkgs {
        env.push(format!("{}={nixpkgs}", vars::NIXPKGS));
    }
    if !spec.nix_settings.is_empty() {
        env.push(format!(
            "{}={}",
            vars::NIX_SETTINGS,
            spec.nix_settings.join("\n")
        ));
    }
    // Each named context's name is a variable of its own; its path is /nf-contexts/<index>.
    if !spec.named_contexts.is_empty() {
        env.push(format!(
            "{}={}",
            vars::CONTEXT_COUNT,
            spec.named_contexts.len()
        ));
    }
    for (i, (name, _)) in spec.named_contexts.iter().enumerate() {
        env.push(format!("{}={name}", vars::indexed(vars::CONTEXT, i)));
    }
    env.push(format!("SSH_AUTH_SOCK={SSH_SOCKET}"));
    env
}

/// The environment of a step that evaluates the result: the builder's, and with --sbom the
/// request for `packages.json`. Only such steps see it, so that asking for an SBOM never changes
/// a build step's cache key.
pub fn evaluation_env(spec: &Spec, builder: &BuilderImage) -> Vec<String> {
    let mut env = builder_env(spec, builder);
    if spec.sbom.is_some() {
        env.push(format!("{}=1", vars::SBOM));
    }
    env
}

/// Where named context `index` is mounted in a step that evaluates.
pub fn named_context_dir(index: usize) -> String {
    format!("{}/{index}", contract::CONTEXTS_DIR)
}

/// What a step that evaluates reads: the build context and the named contexts (in the spec's
/// order).
#[derive(Debug, Clone)]
pub struct Sources {
    pub context: Output,
    pub named: Vec<Output>,
}

impl From<Output> for Sources {
    fn from(context: Output) -> Sources {
        Sources {
            context,
            named: Vec::new(),
        }
    }
}

/// Mounts the build context at /src and each named context read-only at its directory.
pub fn mount_sources(exec: &mut llb::Exec, sources: Sources) {
    exec.mount("/src", "", MountKind::ReadOnly(sources.context));
    for (i, named) in sources.named.into_iter().enumerate() {
        exec.mount(&named_context_dir(i), "", MountKind::ReadOnly(named));
    }
}

/// Our scripts and expressions, as files on scratch (mounted at `SCRIPT_DIR`).
pub fn tools(platform: &pb::Platform) -> Output {
    let files: Vec<llb::MakeFile> = scripts::ALL
        .iter()
        .map(|script| llb::MakeFile::File {
            path: format!("/{}", script.name),
            mode: script.mode,
            data: script.text.as_bytes().to_vec(),
        })
        .collect();
    llb::make_files(
        &files,
        platform,
        &Meta::named("nix-frontend builder script"),
    )
}

/// A symlink at the image root into the result, e.g. `/bin` → `/nix/store/…-hello/bin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootLink {
    /// The entry's name, at the image root and in the main result (the link's target is
    /// always `<main result>/<name>`, checked by `report`).
    pub name: String,
}

/// What the image stage needs beyond the spec, all validated by the caller.
#[derive(Debug, Clone)]
pub struct BuildResult {
    pub closure: Closure,
    /// The build outputs; the first is the main result.
    pub results: Vec<StorePath>,
    pub root_links: Vec<RootLink>,
    /// Executables in the main result's `bin/`, by name.
    pub executables: Vec<String>,
    /// Name, version, meta and passthru of the built value.
    pub info: config::DerivationInfo,
    /// `SSL_CERT_FILE` for a CA bundle in the closure (nixpkgs' cacert).
    pub ca_bundle: Option<String>,
    /// The derivations the result is built from (facts.nix's `packages`), with --sbom.
    pub packages: Vec<crate::nix::facts::PackageFacts>,
}

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

/// The last, small layer: links from `/` into the result, and for a non-root USER minimal
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
        what.push(format!(
            "links /{{{}}} into {}",
            names.join(","),
            result.results[0]
        ));
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

/// `meta.mainProgram` when the result has it in `bin/`, else the only executable there.
pub fn default_program(result: &BuildResult) -> Option<&str> {
    if let Some(main) = &result.info.main_program {
        if result.executables.iter().any(|e| e == main) {
            return Some(main.as_str());
        }
    }
    match result.executables.as_slice() {
        [only] => Some(only.as_str()),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
