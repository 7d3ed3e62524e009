//! LLB for Nix's work as BuildKit vertices (see `crate::nix::drvgraph` for how groups are cut).
//!
//! ```text
//! context ─> evaluate (eval.sh) ─> the frontend reads the .drv files and sources, checks them
//!   builder image + Mkfiles of those (+ a content-keyed copy of any too large to carry)
//!     + the group's records + every upstream group's output (MergeOp)
//!     ─> realise.sh ─> /out: the group's new store paths, their records, its status
//!                      (─> push.sh with NIX_CACHE_PUSH: those paths to the binary cache)
//! ```
//!
//! The evaluation is no ancestor of a group's step: its .drv files and sources travel as FileOp
//! data (`crate::nix::inline_inputs`), so a step's key is a digest that every BuildKit release
//! computes alike, and a change elsewhere in the context re-runs the evaluation, not the builds
//! whose derivations did not change. The records travel as a Mkfile too (their text is in the
//! op, so in the key) and as files beside each group's output, never inside a store path's own
//! tree, so every path's image layer stays exactly that path.

use std::collections::BTreeSet;

use bollard_buildkit_proto::pb;

use super::nar_cache::nar_cache;
use super::step::realise_env;
use super::step::{host_system, network_mode, nix_exec, where_it_runs};
use super::{builder_image, evaluation_env, platform_prefixed, BuilderImage};
use crate::builder::contract::RESTORE_DIR;
use crate::builder::contract::{scripts, vars};
use crate::buildkit::llb::{self, Meta, Output};
use crate::dockerui::spec::Spec;
use crate::nix::closure::StorePath;
use crate::nix::derivation;
use crate::nix::drvgraph::{Graph, Group};
use crate::nix::inline_inputs::{InlineInputs, MAX_INLINE_SOURCE_BYTES};

/// Where realise.sh leaves the final group's manifest and each group's status, log, time and
/// records (the contract's).
pub use crate::builder::contract::{
    LOG_DIR, RAN_AT_DIR, RECORDS_DIR, REGISTERED_DIR, RESULT_DIR, STATUS_DIR,
};
/// Where every step's output is mounted.
const OUT: &str = super::contract::OUT;

/// The progress name of the evaluation step, e.g. `evaluate default.nix -A hello`.
pub fn eval_step_name(spec: &Spec) -> String {
    let step = format!("evaluate {}{}", spec.nix_file, spec.attr_arguments());
    platform_prefixed(spec, step) + &where_it_runs(spec, false)
}

/// The evaluation: the builder image (with its own store, no persistent one, so what it reports
/// valid is exactly what every builder has) and the context at /src run eval.sh; its /out is
/// returned.
pub fn eval_stage(
    spec: &Spec,
    builder: &BuilderImage,
    sources: super::Sources,
    pinned: Vec<Output>,
    resolve_mode: Option<&str>,
) -> Output {
    let platform = spec.nix_platform.to_pb();
    let mut image = builder_image(spec, builder, resolve_mode);
    // The inputs fetched ahead (`pin_stages`), merged into the store the evaluation runs over.
    if !pinned.is_empty() {
        let mut layers = vec![image];
        layers.extend(pinned);
        image = llb::merge(
            layers,
            &platform,
            &Meta::named(platform_prefixed(
                spec,
                "the evaluation's pinned inputs".into(),
            )),
        );
    }
    let mut env = evaluation_env(spec, builder);
    env.push(format!("{}={MAX_INLINE_SOURCE_BYTES}", vars::NAR_MAX_BYTES));
    env.push(format!(
        "{}={}",
        vars::NIX_CACHE_DIR,
        super::contract::NIX_CACHE_DIR
    ));
    let mut exec = nix_exec(spec, scripts::EVAL, env, "/src", image, network_mode(spec));
    // Shared by every evaluation on this builder: Nix's SQLite cache takes its own locks.
    exec.mount(
        super::contract::NIX_CACHE_DIR,
        "",
        llb::MountKind::Cache {
            id: "nix-frontend-nix-cache".into(),
            sharing: pb::CacheSharingOpt::Shared,
            from: None,
        },
    );
    super::mount_sources(&mut exec, sources);
    let out = exec.output(OUT, None);
    let meta = Meta::named(eval_step_name(spec)).ignoring_cache(spec.no_cache);
    llb::exec(&exec, &platform, &meta).get(out)
}

/// One step per input pinned by its hash (`nix::pins`): pin.sh fetches it with Nix, which checks
/// the hash, and keeps the store path and its record for the evaluation to merge. Its key is the
/// builder image and the pin, so it is cached and exported like any step, the same on every
/// engine, and a change elsewhere in the context never fetches it again.
pub fn pin_stages(
    spec: &Spec,
    builder: &BuilderImage,
    pins: &[crate::nix::pins::Pin],
    resolve_mode: Option<&str>,
) -> Vec<Output> {
    let platform = spec.nix_platform.to_pb();
    pins.iter()
        .map(|pin| {
            // An id from the pin itself (16 hex digits of its digest): the same whatever else
            // is pinned.
            let digest = llb::sha256_digest(pin.json.as_bytes());
            let id = &digest["sha256:".len().."sha256:".len() + 16];
            let mut env = realise_env(spec, builder, false);
            env.push(format!("{}=pin-{id}", vars::GROUP));
            env.push(format!("{}={}", vars::PIN, pin.json));
            let image = builder_image(spec, builder, resolve_mode);
            let mut exec = nix_exec(spec, scripts::PIN, env, "/", image, network_mode(spec));
            let out = exec.output(OUT, None);
            let name = platform_prefixed(
                spec,
                format!("fetch {} (pinned in {})", pin.label, pin.origin),
            );
            llb::exec(
                &exec,
                &platform,
                &Meta::named(name).ignoring_cache(spec.no_cache),
            )
            .get(out)
        })
        .collect()
}

/// Every group's vertex, in the graph's order; `rerun[i]` runs group i again even if cached.
/// `inputs` holds the .drv files and source NARs carried in the LLB (`crate::inline_inputs`);
/// a path of a derivation closure not in it is copied by content out of the evaluation.
pub fn group_stages(
    spec: &Spec,
    builder: &BuilderImage,
    graph: &Graph,
    inputs: &InlineInputs,
    evaluated: &Output,
    resolve_mode: Option<&str>,
    rerun: &[bool],
) -> Vec<GroupStep> {
    let platform = spec.nix_platform.to_pb();
    // Each group's .drv files that no group upstream of it needs, as one Mkfile: a step merges
    // its own and those of every group upstream of it, so each file is in the LLB once.
    let derivation_layers: Vec<Option<Output>> = graph
        .groups
        .iter()
        .map(|group| {
            let upstream: BTreeSet<&StorePath> = group
                .upstream
                .iter()
                .flat_map(|u| graph.groups[*u].derivation_closure.iter())
                .collect();
            let files: Vec<llb::MakeFile> = group
                .derivation_closure
                .iter()
                .filter(|p| !upstream.contains(p))
                .filter_map(|p| {
                    inputs.derivations.get(p).map(|data| llb::MakeFile::File {
                        path: p.to_string(),
                        mode: 0o444,
                        data: data.clone(),
                    })
                })
                .collect();
            (!files.is_empty()).then(|| {
                let mut steps = vec![llb::MakeFile::Dir {
                    path: "/nix/store".into(),
                    mode: 0o755,
                }];
                steps.extend(files);
                llb::make_files(
                    &steps,
                    &platform,
                    &Meta::named(platform_prefixed(
                        spec,
                        format!(
                            "derivations for {}",
                            group.step_name().trim_start_matches("build ")
                        ),
                    )),
                )
            })
        })
        .collect();
    let mut steps: Vec<GroupStep> = Vec::with_capacity(graph.groups.len());
    for (i, group) in graph.groups.iter().enumerate() {
        let mut layers: Vec<Output> = std::iter::once(i)
            .chain(group.upstream.iter().copied())
            .filter_map(|g| derivation_layers[g].clone())
            .collect();
        layers.extend(source_layers(spec, group, inputs, evaluated));
        let upstream: Vec<Output> = group
            .upstream
            .iter()
            .map(|u| steps[*u].out.clone())
            .collect();
        // A group that builds a derivation for the target's system (or one we cannot read) runs
        // it emulated when Nix runs on another platform; substituting needs no CPU of the target.
        let host = host_system(spec);
        let builds_for_target = !group.substitute
            && group.members.iter().any(|member| {
                inputs
                    .derivations
                    .get(member)
                    .and_then(|text| derivation::system(text))
                    != host
            });
        let name =
            platform_prefixed(spec, group.step_name()) + &where_it_runs(spec, builds_for_target);
        let rerun = rerun.get(i).copied().unwrap_or(false);
        let network = group_network(spec, graph, group, inputs);
        let step = group_stage(
            spec,
            builder,
            graph,
            group,
            layers,
            upstream,
            resolve_mode,
            (name, rerun, network),
        );
        steps.push(step);
    }
    steps
}

/// One group's build step: its output (`/out`) and the merged root it ran over.
#[derive(Debug, Clone)]
pub struct GroupStep {
    pub out: Output,
    pub inputs: Output,
}

/// With `NIX_CACHE_PUSH`: the step that copies what group `group` built to the binary cache. It
/// runs over the group's inputs and output merged, as a step downstream of it would, so the
/// build steps' own keys never depend on the push settings; push.sh writes a status and a log
/// per group (`PUSH_STATUS_DIR`, `PUSH_LOG_DIR`) and always ends successfully.
pub fn push_stage(spec: &Spec, builder: &BuilderImage, group: &Group, step: &GroupStep) -> Output {
    let platform = spec.nix_platform.to_pb();
    let root = llb::merge(
        vec![step.inputs.clone(), step.out.clone()],
        &platform,
        &Meta::named(platform_prefixed(
            spec,
            format!(
                "what {} built",
                group.step_name().trim_start_matches("build ")
            ),
        )),
    );
    let mut env = realise_env(spec, builder, false);
    env.push(format!("{}={}", vars::GROUP, group.id));
    if let Some(url) = &spec.cache_push {
        env.push(format!("{}={url}", vars::CACHE_PUSH));
    }
    let mut exec = nix_exec(spec, scripts::PUSH, env, "/", root, network_mode(spec));
    super::mount_push_secrets(&mut exec);
    let out = exec.output(OUT, None);
    let meta = Meta::named(platform_prefixed(
        spec,
        format!(
            "push {} to the Nix cache",
            group.step_name().trim_start_matches("build ")
        ),
    ));
    llb::exec(&exec, &platform, &meta).get(out)
}

/// Per-group push status (`ok` | `failed`) and Nix's log, in a push step's output (the
/// contract's).
pub use crate::builder::contract::{PUSH_LOG_DIR, PUSH_STATUS_DIR};

/// A group's sources: each carried one as a Mkfile of its NAR (one vertex per source, shared by
/// every group that needs it), the rest in one copy by content out of the evaluation.
fn source_layers(
    spec: &Spec,
    group: &Group,
    inputs: &InlineInputs,
    evaluated: &Output,
) -> Vec<Output> {
    let platform = spec.nix_platform.to_pb();
    let sources = group
        .derivation_closure
        .iter()
        .filter(|p| !inputs.derivations.contains_key(*p));
    let (carried, copied): (Vec<&StorePath>, Vec<&StorePath>) = sources
        .partition(|p| inputs.source_files.contains_key(*p) || inputs.source_nars.contains_key(*p));
    let mut layers: Vec<Output> = carried
        .into_iter()
        .map(|p| {
            // A file goes straight to its store path (no restore in the step); a tree as its NAR.
            let (dir, file) = match inputs.source_files.get(p) {
                Some(source) => (
                    "/nix/store",
                    llb::MakeFile::File {
                        path: p.to_string(),
                        mode: if source.executable { 0o555 } else { 0o444 },
                        data: source.contents.clone(),
                    },
                ),
                None => (
                    RESTORE_DIR,
                    llb::MakeFile::File {
                        path: format!("{RESTORE_DIR}/{}", p.base_name()),
                        mode: 0o444,
                        data: inputs.source_nars[p].clone(),
                    },
                ),
            };
            llb::make_files(
                &[
                    llb::MakeFile::Dir {
                        path: dir.into(),
                        mode: 0o755,
                    },
                    file,
                ],
                &platform,
                &Meta::named(platform_prefixed(spec, format!("source {}", p.name()))),
            )
        })
        .collect();
    if !copied.is_empty() {
        // Copied by content: the key of this copy is the bytes of these paths, not the
        // evaluation that wrote them (a checksum that differs between BuildKit releases).
        let copies = [llb::Copy {
            src: "/".into(),
            dest: "/".into(),
            dir_contents: true,
            include_patterns: copied
                .iter()
                .map(|p| format!("nix/store/{}", p.base_name()))
                .collect(),
            owner: None,
            timestamp: None,
        }];
        layers.push(llb::copy(
            None,
            evaluated.clone(),
            &copies,
            &platform,
            &Meta::named(platform_prefixed(
                spec,
                format!(
                    "sources for {}: {} paths",
                    group.step_name().trim_start_matches("build "),
                    copied.len()
                ),
            )),
        ));
    }
    layers
}

/// A group's network. Without `--network`, a step that only builds derivations Nix builds without
/// the network (input-addressed, not impure: what its sandbox cuts off) gets none, as under
/// Nix's sandbox; its container also starts sooner (no network namespace to set up, 0.13 s a step
/// on dockerd here). Substituting, fetching (fixed-output derivations) and a derivation the
/// frontend could not read keep BuildKit's default. Under `--network`, every step has what was
/// asked: `host` is also the way for a builder image whose Nix reaches out by itself (remote
/// builders, a post-build hook).
fn group_network(spec: &Spec, graph: &Graph, group: &Group, inputs: &InlineInputs) -> pb::NetMode {
    let offline = match group.substitute {
        // BuildKit downloaded every file: Nix unpacks them, offline.
        true => graph.nar_files_of(group).is_some(),
        false => group.members.iter().all(|member| {
            inputs
                .derivations
                .get(member)
                .is_some_and(|text| !derivation::needs_network(text))
        }),
    };
    if spec.network.is_none() && offline {
        pb::NetMode::None
    } else {
        network_mode(spec)
    }
}

/// One layer of read-only report files, each `(directory, file name, bytes)`.
fn report_files(spec: &Spec, files: Vec<(&str, String, Vec<u8>)>, name: String) -> Output {
    let mut steps = Vec::with_capacity(files.len() * 2);
    for (dir, file, data) in files {
        steps.push(llb::MakeFile::Dir {
            path: dir.into(),
            mode: 0o755,
        });
        steps.push(llb::MakeFile::File {
            path: format!("{dir}/{file}"),
            mode: 0o444,
            data,
        });
    }
    llb::make_files(
        &steps,
        &spec.nix_platform.to_pb(),
        &Meta::named(platform_prefixed(spec, name)),
    )
}

#[allow(clippy::too_many_arguments)]
fn group_stage(
    spec: &Spec,
    builder: &BuilderImage,
    graph: &Graph,
    group: &Group,
    inputs: Vec<Output>,
    upstream: Vec<Output>,
    resolve_mode: Option<&str>,
    (name, rerun, network): (String, bool, pb::NetMode),
) -> GroupStep {
    let platform = spec.nix_platform.to_pb();
    let mut layers = vec![builder_image(spec, builder, resolve_mode)];
    layers.extend(inputs);
    if !group.derivation_closure.is_empty() {
        let records: String = group
            .derivation_closure
            .iter()
            .filter_map(|p| graph.records.get(p))
            .map(|r| r.to_text())
            .collect();
        layers.push(report_files(
            spec,
            vec![(
                RECORDS_DIR,
                format!("eval-{}", group.id),
                records.into_bytes(),
            )],
            format!(
                "records for {}",
                group.step_name().trim_start_matches("build ")
            ),
        ));
    }
    // A substitute piece registers what its paths refer to, without their content (other
    // pieces fetch it), and lists those paths so that they do not count as its own.
    if !group.registered.is_empty() {
        let records: String = group
            .registered
            .iter()
            .filter_map(|p| graph.fetch_records.get(p))
            .map(|r| r.to_text())
            .collect();
        let listed: String = group.registered.iter().map(|p| format!("{p}\n")).collect();
        layers.push(report_files(
            spec,
            vec![
                (
                    RECORDS_DIR,
                    format!("registered-{}", group.id),
                    records.into_bytes(),
                ),
                (REGISTERED_DIR, group.id.clone(), listed.into_bytes()),
            ],
            format!("what {} refers to", group.step_name()),
        ));
    }
    // Paths BuildKit downloaded: their narinfos in the root, each file mounted beside them.
    let nar_cache = graph
        .nar_files_of(group)
        .map(|files| nar_cache(&files, &platform, &group.step_name()));
    if let Some(cache) = &nar_cache {
        layers.push(cache.narinfos.clone());
    }
    layers.extend(upstream);
    let root = llb::merge(
        layers,
        &platform,
        &Meta::named(platform_prefixed(
            spec,
            format!("inputs of {}", group.step_name()),
        )),
    );
    let mut env = realise_env(spec, builder, group.is_final);
    env.push(format!("{}={}", vars::GROUP, group.id));
    env.push(format!("{}={}", vars::ROOT_COUNT, group.roots.len()));
    for (i, root) in group.roots.iter().enumerate() {
        env.push(format!("{}{i}={root}", vars::ROOT));
    }
    if group.is_final {
        env.push(format!("{}=1", vars::FINAL));
        env.extend(super::step::profile_env(spec));
    }
    // A build (not a substitution) without the network: Nix asks no binary cache. A
    // substitution from downloaded files asks only their local cache.
    if nar_cache.is_some() {
        env.push(format!("{}=1", vars::NAR_CACHE));
    } else if network == pb::NetMode::None && !group.substitute {
        env.push(format!("{}=1", vars::OFFLINE));
    }
    let mut exec = nix_exec(spec, scripts::REALISE, env, "/", root.clone(), network);
    for (dest, download) in nar_cache.into_iter().flat_map(|cache| cache.downloads) {
        exec.mount(&dest, "", llb::MountKind::ReadOnly(download));
    }
    let out = exec.output(OUT, None);
    let meta = Meta::named(name).ignoring_cache(spec.no_cache || rerun);
    GroupStep {
        out: llb::exec(&exec, &platform, &meta).get(out),
        inputs: root,
    }
}
