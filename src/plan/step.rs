//! What every Nix step shares: the builder image (resolved and as a source), its environment
//! (`builder_env`; user values only ever as variables of their own), the credential, context and
//! push-secret mounts, the scripts' files (`tools`), and the single plan's one step (`nix_stage`).

use bollard_buildkit_proto::pb;
use serde_json::Value;

use crate::builder::contract::{self, scripts, vars};
use crate::buildkit::llb::{self, Meta, MountKind, Output};
use crate::buildkit::platform::Platform;
use crate::dockerui::spec::{Collisions, Emulation, Spec};

/// What a Nix step in the builder does (part of the builder contract: which script runs).
pub use crate::builder::contract::Task;
/// The ids of the secrets of a step that pushes to NIX_CACHE_PUSH (the contract's).
pub use crate::builder::contract::{AWS_SECRET, CACHE_KEY_SECRET};
/// Where the scripts are mounted and where `--secret id=netrc` appears (the contract's).
pub use crate::builder::contract::{NETRC_SECRET, SCRIPT_DIR};
/// Where `--ssh default` appears in the builder.
const SSH_SOCKET: &str = "/run/buildkit/ssh_agent.0";

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
    let step = format!("nix-build {}{}", spec.nix_file, spec.attr_arguments());
    platform_prefixed(spec, step) + &where_it_runs(spec, false)
}

/// Where the Nix steps for `spec.platform` run on a worker whose own platform is `worker` and
/// which runs `runnable` (natively or through an emulator BuildKit found). Natively when the
/// worker is that platform; otherwise with `NIX_EMULATE=builds` on the worker's own platform
/// (Nix evaluates and substitutes natively; builds for the target go through the host's binfmt,
/// or run natively for a 32-bit x86 target), with `NIX_EMULATE=all` on the target's (the
/// builder image emulated). A target that needs an emulator the worker lacks is an error saying
/// what to install.
pub fn nix_platform(
    spec: &Spec,
    worker: &Platform,
    runnable: &[Platform],
) -> Result<Platform, String> {
    let target = &spec.platform;
    let same_arch = |a: &Platform, b: &Platform| a.os == b.os && a.architecture == b.architecture;
    if same_arch(target, worker) {
        return Ok(target.clone());
    }
    let runs_natively = target.os == worker.os
        && matches!(
            (worker.architecture.as_str(), target.architecture.as_str()),
            ("amd64", "386")
        );
    let emulated = runnable.iter().any(|p| same_arch(p, target));
    if !runs_natively && !emulated {
        let arch = target.architecture.as_str();
        return Err(format!(
            "--platform {target}: this {worker} builder cannot run {target} programs, and the \
             build runs them; register QEMU's emulator on the host (`docker run --privileged --rm \
             tonistiigi/binfmt --install {arch}`, or Debian's qemu-user-static package), or build \
             on a {target} node (`docker buildx create --append`)"
        ));
    }
    match spec.emulate {
        Emulation::Builds if worker.nix_system().is_some() => Ok(worker.clone()),
        _ => Ok(target.clone()),
    }
}

/// The Nix system the steps run on when it is not the target's (`nix_platform`): Nix runs as
/// that system's, with the target's as its `system` so it evaluates and builds for it.
pub fn host_system(spec: &Spec) -> Option<&'static str> {
    if spec.nix_platform == spec.platform {
        None
    } else {
        spec.nix_platform.nix_system()
    }
}

/// Whether the target's own builds run through an emulator: Nix runs on another platform's
/// system, and it is not one whose CPU runs the target's programs (x86-64 runs 32-bit x86).
pub fn emulates_target(spec: &Spec) -> bool {
    host_system(spec).is_some()
        && !(spec.nix_platform.architecture == "amd64" && spec.platform.architecture == "386")
}

/// Where a Nix step runs, for its progress name: `(on linux/amd64)` when that is not the target
/// platform, `(emulated)` when it builds the target's derivations through an emulator.
pub fn where_it_runs(spec: &Spec, builds_for_target: bool) -> String {
    if host_system(spec).is_none() {
        String::new()
    } else if builds_for_target && emulates_target(spec) {
        " (emulated)".to_string()
    } else {
        format!(" (on {})", spec.nix_platform)
    }
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

/// A Nix step: the builder image with the persistent store at /nix, the context at /src, our
/// tools at /.nix-frontend, and an output at /out, which is returned.
pub fn nix_stage(
    spec: &Spec,
    builder: &BuilderImage,
    sources: Sources,
    resolve_mode: Option<&str>,
    task: Task,
) -> Output {
    let platform = spec.nix_platform.to_pb();
    let image = builder_image(spec, builder, resolve_mode);
    let mut env = match task {
        Task::Build => evaluation_env(spec, builder),
        Task::Targets => builder_env(spec, builder),
    };
    if let (Task::Build, Some(url)) = (task, &spec.cache_push) {
        env.push(format!("{}={url}", vars::CACHE_PUSH));
    }
    if task == Task::Build {
        env.extend(profile_env(spec));
    }
    let cache_id = nix_cache_id(spec, builder);
    let script = match task {
        Task::Build => scripts::BUILDER,
        Task::Targets => scripts::TARGETS,
    };
    let mut exec = nix_exec(spec, script, env, "/src", image.clone(), network_mode(spec));
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
    if task == Task::Build && spec.cache_push.is_some() {
        // The single plan pushes from its one step, whose key then holds the URL.
        mount_push_secrets(&mut exec);
    }
    mount_sources(&mut exec, sources);
    let out = exec.output(contract::OUT, None);
    let meta = Meta::named(match task {
        Task::Build => build_step_name(spec),
        Task::Targets => format!("list the attributes of {}", spec.nix_file),
    })
    .ignoring_cache(spec.no_cache);
    llb::exec(&exec, &platform, &meta).get(out)
}

/// The exec every Nix step of both plans starts from: `script` of ours run by `/bin/sh` in `cwd`
/// as root over `root` (an output, since BuildKit mounts a root without one read-only and Nix
/// writes /nix and /tmp), our scripts at `SCRIPT_DIR`, `network` (`network_mode` but for a build
/// step Nix runs offline) and with it the netrc and SSH mounts. The caller adds its own mounts
/// and the `/out` output.
pub fn nix_exec(
    spec: &Spec,
    script: contract::Script,
    env: Vec<String>,
    cwd: &str,
    root: Output,
    network: pb::NetMode,
) -> llb::Exec {
    let mut exec = llb::Exec::new(vec!["/bin/sh".into(), script.path()], env, cwd, "root");
    exec.output("/", Some(root));
    exec.mount(
        SCRIPT_DIR,
        "",
        MountKind::ReadOnly(tools(&spec.nix_platform.to_pb())),
    );
    // Without a network, netrc and an SSH agent serve nothing (each costs the client a round trip).
    if network != pb::NetMode::None {
        mount_credentials(&mut exec);
    }
    exec.network = network;
    exec
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
        &spec.nix_platform.to_pb(),
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

/// What every Nix step's environment holds: the builder image's (with PATH and HOME defaults)
/// and what common.sh reads of the platform and Nix's settings, none of which names the file, the
/// attribute or the arguments.
fn nix_env(spec: &Spec, builder: &BuilderImage) -> Vec<String> {
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
    if let Some(system) = spec.platform.nix_system() {
        env.push(format!("{}={system}", vars::SYSTEM));
    }
    if let Some(system) = host_system(spec) {
        env.push(format!("{}={system}", vars::HOST_SYSTEM));
    }
    if !spec.nix_settings.is_empty() {
        env.push(format!(
            "{}={}",
            vars::NIX_SETTINGS,
            spec.nix_settings.join("\n")
        ));
    }
    env.push(format!("SSH_AUTH_SOCK={SSH_SOCKET}"));
    env
}

/// The environment of a step that evaluates (or runs the single plan): `nix_env` and what the
/// user asked to evaluate, each user value a variable of its own.
pub fn builder_env(spec: &Spec, builder: &BuilderImage) -> Vec<String> {
    let mut env = nix_env(spec, builder);
    env.push(format!("{}={}", vars::FILE, spec.nix_file));
    // One attribute in NF_ATTR; several each in a variable of its own, read back one by one.
    match spec.attrs.as_slice() {
        [] => {}
        [attr] => env.push(format!("{}={attr}", vars::ATTR)),
        attrs => {
            env.push(format!("{}={}", vars::ATTR_COUNT, attrs.len()));
            for (i, attr) in attrs.iter().enumerate() {
                env.push(format!("{}={attr}", vars::indexed(vars::ATTRS, i)));
            }
        }
    }
    if spec.flake {
        env.push(format!("{}=1", vars::FLAKE));
    }
    if spec.nix_file_defaulted {
        env.push(format!("{}=1", vars::FILE_DEFAULTED));
    }
    // Each Nix argument is an environment variable of its own, read back one by one.
    env.push(format!("{}={}", vars::ARG_COUNT, spec.nix_args.len()));
    for (i, arg) in spec.nix_args.iter().enumerate() {
        env.push(format!("{}={arg}", vars::indexed(vars::ARG, i)));
    }
    if let Some(nixpkgs) = &spec.nixpkgs {
        env.push(format!("{}={nixpkgs}", vars::NIXPKGS));
    }
    if let Some(hash) = &spec.nixpkgs_sha256 {
        env.push(format!("{}={hash}", vars::NIXPKGS_SHA256));
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
    env
}

/// The environment of a graph plan's build or substitute step: `nix_env` only, so that its key
/// does not change with the file's name, the attribute, `NIX_ARGS`, `NIXPKGS` or the named
/// contexts (it realises store paths, which already say all of that); the final step also gets
/// the number of packages, whose roots it links into the image's root.
pub fn realise_env(spec: &Spec, builder: &BuilderImage, is_final: bool) -> Vec<String> {
    let mut env = nix_env(spec, builder);
    if is_final && spec.attrs.len() > 1 {
        env.push(format!("{}={}", vars::ATTR_COUNT, spec.attrs.len()));
    }
    env
}

/// The environment of the step that makes the image's root links (the single step, the graph's
/// final group): `NIX_COLLISIONS=first` when several packages could collide. Only there, so that
/// the rule never changes another step's cache key.
pub fn profile_env(spec: &Spec) -> Option<String> {
    (spec.attrs.len() > 1 && spec.collisions == Collisions::First)
        .then(|| format!("{}=first", vars::COLLISIONS))
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

/// What a step that evaluates reads (the build context and the named contexts).
pub use crate::dockerui::context::Sources;

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
