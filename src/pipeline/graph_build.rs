//! One platform's image with Nix's work as BuildKit vertices (`NIX_PLAN=graph`, the default):
//! evaluate, plan the groups (`drvgraph`), solve them as one graph, read what each reported,
//! validate, and assemble the image from the trees the groups already produced.
//!
//! Every file read here was written inside a container that ran the user's build, so it is
//! untrusted: store paths are parsed strictly, the closure is validated as in single mode, and a
//! path that no step holds is refused rather than guessed.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::future::{join, join_all, try_join, try_join3, try_join_all};

use crate::builder::architecture;
use crate::builder::contract::{self, nix_error_text, Report, Status};
use crate::builder::report::{self, invalid, ReportFiles};
use crate::buildkit::gateway::{is_regular_file, read_whole_file, Gateway};
use crate::buildkit::llb::{self, Output};
use crate::buildkit::result::PlatformImage;
use crate::dockerui::options::Options;
use crate::dockerui::spec::Spec;
use crate::error::UserError;
use crate::nix::closure::{self, Limits, StorePath};
use crate::nix::drvgraph::{self, Graph};
use crate::nix::inline_inputs::{
    self, InlineInputs, DERIVATION_FILES, DERIVATION_SIZES, MAX_INLINE_SOURCE_BYTES, SOURCE_NAR_DIR,
};
use crate::pipeline::assemble::{assemble_image, debug_dump};
use crate::plan::graph::{
    self as graph_plan, GroupStep, PUSH_LOG_DIR, PUSH_STATUS_DIR, RESULT_DIR,
};
use crate::plan::{self, BuildResult, BuilderImage, Task, Trees};

/// Everything after the builder image is resolved and the context planned.
pub async fn build_platform<G: Gateway>(
    gateway: &G,
    options: &Options,
    spec: &Spec,
    builder: &BuilderImage,
    // What the evaluation reads: the contexts, and the inputs pinned by their hash.
    (context, pins): (crate::plan::Sources, &[crate::nix::pins::Pin]),
    build_file_text: &str,
    started_at: i64,
) -> Result<(PlatformImage, BuildResult), UserError> {
    let resolve_mode = options.image_resolve_mode.as_deref();
    let pinned = graph_plan::pin_stages(spec, builder, pins, resolve_mode);
    let evaluated = graph_plan::eval_stage(spec, builder, context, pinned, resolve_mode);
    debug_dump("evaluation", &evaluated);
    let eval_ref = solve(gateway, &evaluated, || {
        format!("running {}", graph_plan::eval_step_name(spec))
    })
    .await?;
    // The report and the graph in one round; the report is judged first (a failed evaluation
    // wrote no graph).
    let (report, graph) = join(
        report::read_report(gateway, &eval_ref),
        read_graph(gateway, &eval_ref, spec),
    )
    .await;
    report?.check(spec, Task::Build, build_file_text)?;
    let graph = graph?;
    eprintln!(
        "nix-frontend: {} build steps: {}",
        graph.groups.len(),
        graph
            .groups
            .iter()
            .map(|g| g.step_name())
            .collect::<Vec<_>>()
            .join("; ")
    );
    let inputs = read_inline_inputs(gateway, &eval_ref, &graph).await?;
    let steps = Steps {
        spec,
        builder,
        graph: &graph,
        inputs: &inputs,
        evaluated: &evaluated,
        resolve_mode,
    };
    // The image's empty /nix/store needs nothing of the build: solved while the steps run, it is
    // ready when they are (an error in it is the image's, reported there).
    let skeleton = plan::image::store_skeleton(spec);
    let (built, _) = join(
        steps.solve(gateway, started_at),
        solve(gateway, &skeleton, || "making /nix/store".into()),
    )
    .await;
    let (group_steps, final_ref) = built?;
    if spec.cache_push.is_some() {
        push(gateway, spec, builder, &graph, &group_steps).await?;
    }
    let final_index = graph.final_group();
    let final_root = group_steps[final_index].inputs.clone();
    let outputs: Vec<Output> = group_steps.into_iter().map(|s| s.out).collect();

    // What the final step reported, the builder image's ref and the tmp check, together.
    let manifest = async {
        let (results, made_by, ran_at) = try_join3(
            report::read_results(gateway, &final_ref, &format!("{RESULT_DIR}/results")),
            read_text(gateway, &final_ref, contract::MADE_BY),
            // Only for the progress: a list that cannot be read counts every step as cached.
            async {
                Ok(read_text(gateway, &final_ref, contract::STEPS_RAN_AT)
                    .await
                    .unwrap_or_default())
            },
        )
        .await?;
        let closure = report::read_closure(
            gateway,
            &final_ref,
            &format!("{RESULT_DIR}/closure.json"),
            &results,
        )
        .await?;
        Ok::<_, UserError>((results, closure, made_by, ran_at))
    };
    let image = plan::builder_image(spec, builder, resolve_mode);
    let ((results, closure, made_by, ran_at), image_ref, ()) = try_join3(
        manifest,
        solve(gateway, &image, || "reading the builder image".into()),
        report::check_empty_tmp(gateway, &final_ref, &format!("{RESULT_DIR}/tmp")),
    )
    .await?;

    // Which output holds each path, first match in this order: the final step, the steps
    // upstream of it (in build order, by what each listed as made), the evaluation (sources),
    // the builder image (paths it already had). An upstream step's files are read through the
    // final step's root, where they all are: only the final step was solved for its ref.
    let mut holders: Vec<Holder> = vec![Holder {
        out: outputs[final_index].clone(),
        read: Some(final_ref.clone()),
    }];
    let mut holder_of_group = vec![None; outputs.len()];
    for (i, out) in outputs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != final_index)
    {
        holder_of_group[i] = Some(holders.len());
        holders.push(Holder {
            out: out.clone(),
            read: None,
        });
    }
    holders.push(Holder {
        out: evaluated.clone(),
        read: Some(eval_ref.clone()),
    });
    holders.push(Holder {
        out: image.clone(),
        read: Some(image_ref),
    });
    let claims = parse_made_by(&made_by, &graph, &holder_of_group)?;
    let (holder_of, profile) = try_join(
        locate(gateway, &closure, &holders, &claims),
        report::read_profile(gateway, &final_ref, RESULT_DIR, &results, spec.attrs.len()),
    )
    .await?;
    let (main, others, packages) =
        report::read_root_packages(gateway, &eval_ref, &profile, spec.sbom.is_some()).await;
    let roots = profile.roots();
    // The final step's root, solved only when a file to read is upstream of it.
    let foreign = plan::host_system(spec).is_some();
    let read_upstream = foreign
        || std::iter::once(&main.path)
            .chain(roots.iter())
            .chain(
                closure
                    .paths
                    .keys()
                    .filter(|p| p.name().starts_with("nss-cacert")),
            )
            .any(|p| holders[holder_of[p]].read.is_none());
    let upstream_ref = if read_upstream {
        solve(gateway, &final_root, || {
            format!(
                "reading the inputs of {}",
                graph.groups[final_index].step_name()
            )
        })
        .await?
    } else {
        String::new()
    };
    let reference_of = |holder: usize| {
        holders[holder]
            .read
            .clone()
            .unwrap_or_else(|| upstream_ref.clone())
    };
    let executables = report::read_executables(
        gateway,
        &reference_of(holder_of[&main.path]),
        &format!("{}/bin", main.path),
        &profile.root_links,
    )
    .await;
    let locate = |path: &StorePath| reference_of(holder_of[path]);
    let (ca_bundle, tz_dir) = join(
        report::find_ca_bundle(gateway, &closure, &roots, locate),
        report::find_tz_dir(gateway, &roots, locate),
    )
    .await;
    eprintln!(
        "nix-frontend: closure of {} paths, {} bytes",
        closure.paths.len(),
        closure.total_nar_size()
    );
    let result = BuildResult {
        packages,
        closure,
        results,
        main,
        others,
        root_links: profile.root_links,
        executables,
        ca_bundle,
        tz_dir,
        collisions: profile.collisions,
        work: work_summary(&graph, &ran_at, started_at, pins),
    };
    if foreign {
        architecture::check_programs(gateway, &spec.platform, &result, |path| {
            holder_of.get(path).map(|h| reference_of(*h))
        })
        .await?;
    }
    let image_holder = holders.len() - 1;
    let trees = Trees::Providers {
        by_path: holder_of
            .iter()
            .filter(|(_, h)| **h != image_holder)
            .map(|(path, h)| (path.clone(), holders[*h].out.clone()))
            .collect(),
        in_image: holder_of
            .values()
            .any(|h| *h == image_holder)
            .then(|| image.clone()),
        manifest: outputs[final_index].clone(),
        origin: holder_of,
    };
    let image = assemble_image(gateway, spec, &result, &trees, true, &image).await?;
    Ok((image, result))
}

async fn solve<G: Gateway>(
    gateway: &G,
    output: &Output,
    what: impl Fn() -> String,
) -> Result<String, UserError> {
    gateway
        .solve(llb::definition(output))
        .await
        .map_err(|err| UserError::gateway(&what(), err))
}

/// The build steps of one graph, as planned.
struct Steps<'a> {
    spec: &'a Spec,
    builder: &'a BuilderImage,
    graph: &'a Graph,
    inputs: &'a InlineInputs,
    evaluated: &'a Output,
    resolve_mode: Option<&'a str>,
}

impl Steps<'_> {
    /// Solves the final step, which runs every step upstream of it (BuildKit runs a step shared
    /// by several solves once), and returns its ref. When it did not build, every step is
    /// solved for its ref to find the first that failed; a step that failed in an earlier
    /// build, from the cache, runs once more with every step after it.
    async fn solve<G: Gateway>(
        &self,
        gateway: &G,
        started_at: i64,
    ) -> Result<(Vec<GroupStep>, String), UserError> {
        let what = || format!("building {}", self.spec.describe_target());
        let mut rerun = vec![false; self.graph.groups.len()];
        let final_index = self.graph.final_group();
        let final_group = &self.graph.groups[final_index];
        let final_files = ReportFiles::of_group(&final_group.id, &final_group.step_name());
        loop {
            let steps = graph_plan::group_stages(
                self.spec,
                self.builder,
                self.graph,
                self.inputs,
                self.evaluated,
                self.resolve_mode,
                &rerun,
            );
            let outputs: Vec<Output> = steps.iter().map(|s| s.out.clone()).collect();
            debug_dump("build steps", &outputs[final_index]);
            // The final step alone: a step whose input failed reports `skipped`, so when the
            // final step built, every step did. Each other step's definition would carry again
            // every source and .drv file upstream of it (megabytes, for a no-change rebuild
            // most of its time).
            let final_ref = solve(gateway, &outputs[final_index], what).await?;
            let report = report::read_report_files(gateway, &final_ref, &final_files).await?;
            if report.status == Status::Ok {
                return Ok((steps, final_ref));
            }
            let refs = join_all(outputs.iter().map(|output| solve(gateway, output, what)))
                .await
                .into_iter()
                .collect::<Result<Vec<String>, UserError>>()?;
            let Some((index, report)) = first_failure(gateway, self.graph, &refs).await? else {
                return Ok((steps, final_ref));
            };
            if report.status == Status::Collision {
                return Err(contract::collision_error(
                    &self.spec.describe_target(),
                    &report.log,
                ));
            }
            let step = self.graph.groups[index].step_name();
            if !report.is_stale_failure(started_at) || rerun[index] {
                return Err(UserError::new(format!(
                    "building {} failed in step {step:?}:\n{}",
                    self.spec.describe_target(),
                    nix_error_text(&report.log)
                )));
            }
            gateway
                .warn(&format!(
                    "the cached step {step:?} had failed; building again"
                ))
                .await;
            for (i, group) in self.graph.groups.iter().enumerate() {
                if i == index || group.upstream.contains(&index) {
                    rerun[i] = true;
                }
            }
        }
    }
}

/// What Nix did for the image, for the progress: how many paths the substitute steps fetched
/// and how many derivations the build steps built, each split into this build's (a step that
/// ran at or after `started_at`, by the final step's `STEPS_RAN_AT` list) and BuildKit's cache,
/// and the pinned inputs. The list is untrusted and only counted: a line naming no step, or
/// not a time, counts for nothing.
fn work_summary(
    graph: &Graph,
    ran_at: &str,
    started_at: i64,
    pins: &[crate::nix::pins::Pin],
) -> String {
    let ran_now: BTreeSet<&str> = ran_at
        .lines()
        .filter_map(|line| line.split_once(' '))
        .filter(|(_, seconds)| seconds.trim().parse::<i64>().is_ok_and(|t| t >= started_at))
        .map(|(id, _)| id)
        .collect();
    // (substituted, built), each (now, cached).
    let mut counts = [[0usize; 2]; 2];
    for group in &graph.groups {
        let kind = usize::from(!group.substitute);
        let when = usize::from(!ran_now.contains(group.id.as_str()));
        counts[kind][when] += group.members.len();
    }
    let mut parts = Vec::new();
    for (kind, [now, cached]) in ["substituted", "built"].iter().zip(counts) {
        if now + cached > 0 {
            let what = if *kind == "built" {
                "derivations"
            } else {
                "paths"
            };
            parts.push(format!(
                "{kind} {} {what} ({now} in this build, {cached} from BuildKit's cache)",
                now + cached
            ));
        }
    }
    if !pins.is_empty() {
        let labels: Vec<&str> = pins.iter().map(|p| p.label.as_str()).collect();
        parts.push(format!("pinned inputs: {}", labels.join(", ")));
    }
    parts.join("; ")
}

/// An output the image's paths are copied from, and the ref its files are read from: `None`
/// for a step upstream of the final one, read through the final step's root.
struct Holder {
    out: Output,
    read: Option<String>,
}

/// The final step's `MADE_BY` list: per store path, the holder index of the first step (in
/// build order) that says it made it. Untrusted: every line must name a step of this graph and
/// a store path.
fn parse_made_by(
    text: &str,
    graph: &Graph,
    holder_of_group: &[Option<usize>],
) -> Result<BTreeMap<StorePath, usize>, UserError> {
    let index_of: BTreeMap<&str, usize> = graph
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| (g.id.as_str(), i))
        .collect();
    let mut claims: BTreeMap<StorePath, usize> = BTreeMap::new();
    let prefix = format!("{}/", contract::NEW_DIR);
    for (number, line) in text.lines().enumerate() {
        let bad = || {
            invalid(format!(
                "line {} of {} is not `{prefix}<step>:<store path>`: {line:?}",
                number + 1,
                contract::MADE_BY
            ))
        };
        let (id, path) = line
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split_once(':'))
            .ok_or_else(bad)?;
        let holder = index_of
            .get(id)
            .and_then(|i| holder_of_group[*i])
            .ok_or_else(bad)?;
        let path = StorePath::parse(path).map_err(|_| bad())?;
        let claim = claims.entry(path).or_insert(holder);
        *claim = (*claim).min(holder);
    }
    Ok(claims)
}

/// Per closure path, the index of the first holder that has it: in its `/nix/store` for those
/// read by ref, by `claims` (`parse_made_by`) for the steps upstream of the final one. A path
/// none holds is refused.
async fn locate<G: Gateway>(
    gateway: &G,
    closure: &closure::Closure,
    holders: &[Holder],
    claims: &BTreeMap<StorePath, usize>,
) -> Result<BTreeMap<StorePath, usize>, UserError> {
    let listings = join_all(holders.iter().map(|holder| async move {
        match &holder.read {
            Some(reference) => gateway
                .read_dir(reference, "/nix/store")
                .await
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }))
    .await;
    let mut held: Vec<BTreeSet<StorePath>> = vec![BTreeSet::new(); holders.len()];
    for (index, entries) in listings.into_iter().enumerate() {
        held[index].extend(
            entries
                .into_iter()
                .filter_map(|entry| StorePath::parse(&format!("/nix/store/{}", entry.path)).ok()),
        );
    }
    for (path, index) in claims {
        held[*index].insert(path.clone());
    }
    let mut holder: BTreeMap<StorePath, usize> = BTreeMap::new();
    for (index, paths) in held.iter().enumerate() {
        for path in paths.iter().filter(|p| closure.paths.contains_key(*p)) {
            holder.entry(path.clone()).or_insert(index);
        }
    }
    if let Some(missing) = closure.paths.keys().find(|p| !holder.contains_key(*p)) {
        return Err(invalid(format!(
            "{missing} is in the closure but no build step holds it"
        )));
    }
    Ok(holder)
}

/// The most a builder report read as text may hold: the closure manifest's limit.
const REPORT_LIMIT: usize = Limits::DEFAULT_MAX_MANIFEST_BYTES;

async fn read_text<G: Gateway>(
    gateway: &G,
    reference: &str,
    file: &str,
) -> Result<String, UserError> {
    // Reports (the evaluation's records above all) can be larger than one gRPC message.
    let bytes = read_whole_file(gateway, reference, file, REPORT_LIMIT)
        .await
        .map_err(|err| invalid(format!("no {file} ({err})")))?;
    String::from_utf8(bytes).map_err(|_| invalid(format!("{file} is not UTF-8 text")))
}

/// The evaluation's roots, records and dry run, planned into groups.
async fn read_graph<G: Gateway>(
    gateway: &G,
    eval_ref: &str,
    spec: &Spec,
) -> Result<Graph, UserError> {
    let ((roots, records, dry_run), fetch_info) = try_join(
        try_join3(
            read_text(gateway, eval_ref, contract::ROOTS),
            read_text(gateway, eval_ref, contract::RECORDS),
            read_text(gateway, eval_ref, contract::DRY_RUN),
        ),
        read_fetch_info(gateway, eval_ref),
    )
    .await?;
    let graph_error = |err: drvgraph::GraphError| UserError::new(err.to_string());
    let roots = drvgraph::parse_roots(&roots).map_err(graph_error)?;
    let records = drvgraph::parse_records(&records).map_err(graph_error)?;
    let mut dry_run = drvgraph::parse_dry_run(&dry_run).map_err(graph_error)?;
    dry_run.fetch_records =
        drvgraph::parse_fetch_info(&fetch_info, &dry_run.fetch).map_err(graph_error)?;
    drvgraph::plan(&roots, records, &dry_run, spec.max_build_steps).map_err(graph_error)
}

/// What the binary caches said of the paths to fetch (`contract::FETCH_INFO_DIR`), one text per
/// cache in Nix's order; none when the evaluation fetches nothing or no cache could be asked.
async fn read_fetch_info<G: Gateway>(
    gateway: &G,
    eval_ref: &str,
) -> Result<Vec<String>, UserError> {
    let Ok(entries) = gateway.read_dir(eval_ref, contract::FETCH_INFO_DIR).await else {
        return Ok(Vec::new());
    };
    let mut indices: Vec<usize> = entries
        .iter()
        .filter(|entry| is_regular_file(entry.mode))
        .filter_map(|entry| entry.path.parse().ok())
        .collect();
    indices.sort_unstable();
    try_join_all(indices.into_iter().map(|i| async move {
        read_text(
            gateway,
            eval_ref,
            &format!("{}/{i}", contract::FETCH_INFO_DIR),
        )
        .await
    }))
    .await
}

/// `NIX_CACHE_PUSH`: every build step's new paths copied to the binary cache, one push step per
/// group that builds (what a `substitute` step fetched is in a cache already). A push that fails
/// is a warning with Nix's text: the image is still right, only the cache lacks those paths.
async fn push<G: Gateway>(
    gateway: &G,
    spec: &Spec,
    builder: &BuilderImage,
    graph: &Graph,
    steps: &[GroupStep],
) -> Result<(), UserError> {
    for (group, step) in graph.groups.iter().zip(steps) {
        if group.substitute {
            continue;
        }
        let pushed = graph_plan::push_stage(spec, builder, group, step);
        let reference = solve(gateway, &pushed, || {
            format!("pushing {} to the Nix cache", group.step_name())
        })
        .await?;
        let status = gateway
            .read_file(&reference, &format!("{PUSH_STATUS_DIR}/{}", group.id))
            .await
            .map(|b| String::from_utf8_lossy(&b).trim().to_string())
            .unwrap_or_default();
        if status != "ok" {
            let log = gateway
                .read_file(&reference, &format!("{PUSH_LOG_DIR}/{}", group.id))
                .await
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            gateway
                .warn(&format!(
                    "pushing what {:?} built to NIX_CACHE_PUSH failed: {}",
                    group.step_name(),
                    nix_error_text(&log)
                ))
                .await;
        }
    }
    Ok(())
}

/// The .drv files and source NARs the build steps carry in their LLB (`crate::inline_inputs`),
/// read from the evaluation and each checked against its record's NAR hash.
async fn read_inline_inputs<G: Gateway>(
    gateway: &G,
    eval_ref: &str,
    graph: &Graph,
) -> Result<InlineInputs, UserError> {
    let needed: BTreeSet<&StorePath> = graph
        .groups
        .iter()
        .flat_map(|g| g.derivation_closure.iter())
        .collect();
    let records: Vec<&drvgraph::Record> = needed
        .iter()
        .filter_map(|p| graph.records.get(*p))
        .collect();
    let chosen = inline_inputs::choose(&records);
    // The .drv files in one read (a report of hundreds of small files), and which sources are
    // files (the evaluation dumps only trees), read together.
    let derivations = async {
        if !chosen.iter().any(|p| p.base_name().ends_with(".drv")) {
            return Ok(BTreeMap::new());
        }
        let (sizes, files) = try_join(read_text(gateway, eval_ref, DERIVATION_SIZES), async {
            read_whole_file(
                gateway,
                eval_ref,
                DERIVATION_FILES,
                inline_inputs::INLINE_BUDGET_BYTES as usize,
            )
            .await
            .map_err(|err| invalid(format!("no {DERIVATION_FILES} ({err})")))
        })
        .await?;
        inline_inputs::split_derivations(&sizes, &files).map_err(invalid)
    };
    let store_modes = async {
        if !chosen.iter().any(|p| !p.base_name().ends_with(".drv")) {
            return Ok(BTreeMap::new());
        }
        Ok(gateway
            .read_dir(eval_ref, "/nix/store")
            .await
            .map_err(|err| invalid(format!("no /nix/store in the evaluation ({})", err.message)))?
            .into_iter()
            .map(|entry| (entry.path, entry.mode))
            .collect::<BTreeMap<String, u32>>())
    };
    let (mut derivations, store_modes) = try_join(derivations, store_modes).await?;
    let mut inputs = InlineInputs::default();
    let mut sources = Vec::new();
    for path in chosen {
        let record = &graph.records[&path];
        if path.base_name().ends_with(".drv") {
            let bytes = derivations
                .remove(&path)
                .ok_or_else(|| invalid(format!("{path} is not among the derivation files")))?;
            inline_inputs::verify(record, &inline_inputs::regular_file_nar(&bytes))
                .map_err(invalid)?;
            inputs.derivations.insert(path, bytes);
            continue;
        }
        let file_mode = store_modes
            .get(path.base_name())
            .copied()
            .filter(|mode| is_regular_file(*mode));
        sources.push(read_source(gateway, eval_ref, record, path, file_mode));
    }
    // The sources, all at once.
    for (path, source) in try_join_all(sources).await? {
        match source {
            Source::File(file) => {
                inputs.source_files.insert(path, file);
            }
            Source::Nar(nar) => {
                inputs.source_nars.insert(path, nar);
            }
        }
    }
    Ok(inputs)
}

/// A source as it is carried: a file's bytes, or a tree's NAR.
enum Source {
    File(inline_inputs::SourceFile),
    Nar(Vec<u8>),
}

/// One source read from the evaluation and checked against its record: a regular file (its
/// mode in the evaluation's store given) from its store path, any other as its NAR.
async fn read_source<G: Gateway>(
    gateway: &G,
    eval_ref: &str,
    record: &drvgraph::Record,
    path: StorePath,
    file_mode: Option<u32>,
) -> Result<(StorePath, Source), UserError> {
    let limit = usize::try_from(record.nar_size)
        .unwrap_or(usize::MAX)
        .min(MAX_INLINE_SOURCE_BYTES as usize);
    if let Some(mode) = file_mode {
        let file = path.to_string();
        let bytes = read_whole_file(gateway, eval_ref, &file, limit)
            .await
            .map_err(|err| invalid(format!("no {file} in the evaluation ({err})")))?;
        // Nix's rule: executable when the owner may execute it.
        let executable = mode & 0o100 != 0;
        inline_inputs::verify(record, &inline_inputs::file_nar(&bytes, executable))
            .map_err(invalid)?;
        let source = inline_inputs::SourceFile {
            executable,
            contents: bytes,
        };
        return Ok((path, Source::File(source)));
    }
    let file = format!("{SOURCE_NAR_DIR}/{}", path.base_name());
    let bytes = read_whole_file(gateway, eval_ref, &file, limit)
        .await
        .map_err(|err| invalid(format!("no {file} ({err})")))?;
    inline_inputs::verify(record, &bytes).map_err(invalid)?;
    Ok((path, Source::Nar(bytes)))
}

/// The first step (in build order) that did not build, with its report, read by the reader of
/// both plans.
async fn first_failure<G: Gateway>(
    gateway: &G,
    graph: &Graph,
    refs: &[String],
) -> Result<Option<(usize, Report)>, UserError> {
    // Read together (one read each, and each read mounts a step's output: in turn they were
    // most of a no-change rebuild's reading), judged in build order.
    let reports = join_all(
        graph
            .groups
            .iter()
            .enumerate()
            .map(|(i, group)| async move {
                let files = ReportFiles::of_group(&group.id, &group.step_name());
                report::read_report_files(gateway, &refs[i], &files).await
            }),
    )
    .await;
    let mut skipped = None;
    for (i, (group, report)) in graph.groups.iter().zip(reports).enumerate() {
        let report = report?;
        match report.status {
            Status::Ok => {}
            Status::BuildFailed => return Ok(Some((i, report))),
            // Only the final group makes the image's root, where packages can collide.
            Status::Collision if group.is_final => return Ok(Some((i, report))),
            Status::Skipped => skipped = skipped.or(Some((i, report))),
            other => {
                return Err(invalid(format!(
                    "step {:?} reported {:?}, which no build step writes",
                    group.step_name(),
                    other.word()
                )))
            }
        }
    }
    Ok(skipped)
}

#[cfg(test)]
mod tests {
    use crate::buildkit::fake_gateway::{entry, environment, FakeGateway, Tree};
    use crate::buildkit::gateway::{MODE_DIR, MODE_SYMLINK};
    use crate::buildkit::result::Built;
    use crate::dockerui::options::Options;
    use crate::error::UserError;
    use crate::pipeline::frontend::build;

    const BUSYBOX: &str = "/nix/store/4wyqq71kp9g4lz3dhpmy0d35kk63qb30-busybox-static";
    const DEP_DRV: &str = "/nix/store/niv1nxk8hbjdx1pq5kiqxhwi86vfd2dh-expensive-dep-1.0.drv";
    const APP_DRV: &str = "/nix/store/1bl67hf2wwxc62cma5v79haljhysc17y-app-1.0.drv";
    const DEP: &str = "/nix/store/d49g8ixfsf79ydjy0qwl3cgfhfcf53ja-expensive-dep-1.0";
    const APP: &str = "/nix/store/dirm4ad3r1rdnvd63cmffyibp09h7kap-app-1.0";

    /// Solves of a graph build: the build file, two .dockerignore probes, the evaluation, each
    /// step for its ref (made together, in build order), the builder image, the image.
    const EVAL: &str = "evaluate default.nix -A app";
    const DEP_STEP: &str = "build expensive-dep-1.0";
    const APP_STEP: &str = "build app-1.0";
    /// Which of the definitions solved (in order) is the final step's: the first that holds
    /// the step marked final (the image's, solved later, holds it too).
    fn final_solve(g: &FakeGateway) -> usize {
        let marker = format!("{}=1", crate::builder::contract::vars::FINAL);
        g.definitions()
            .iter()
            .position(|d| {
                crate::buildkit::llb::definition_to_json(d)
                    .to_string()
                    .contains(&marker)
            })
            .expect("a solve of the final step")
    }

    fn base(path: &str) -> String {
        path["/nix/store/".len()..].to_string()
    }

    fn record(path: &str, refs: &[&str]) -> String {
        let mut text = format!("{path}\nsha256:00\n100\n\n{}\n", refs.len());
        for r in refs {
            text.push_str(r);
            text.push('\n');
        }
        text
    }

    /// A record whose hash and size are those of `nar`.
    fn record_of(path: &str, nar: &[u8], refs: &[&str]) -> String {
        use sha2::Digest;
        let hash: String = sha2::Sha256::digest(nar)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let text = record(path, refs);
        text.replacen("sha256:00\n100\n", &format!("{hash}\n{}\n", nar.len()), 1)
    }

    const DEP_DRV_TEXT: &str = "Derive([(\"out\",\"dep\")])";
    const APP_DRV_TEXT: &str = "Derive([(\"out\",\"app\")])";
    const BUSYBOX_NAR: &[u8] = b"a NAR of busybox";

    fn evaluation(tree: &mut Tree) {
        let drv_nar = |text: &str| crate::nix::inline_inputs::regular_file_nar(text.as_bytes());
        let records = record_of(BUSYBOX, BUSYBOX_NAR, &[])
            + &record_of(DEP_DRV, &drv_nar(DEP_DRV_TEXT), &[BUSYBOX])
            + &record_of(APP_DRV, &drv_nar(APP_DRV_TEXT), &[BUSYBOX, DEP_DRV]);
        tree.file(DEP_DRV, DEP_DRV_TEXT)
            .file(APP_DRV, APP_DRV_TEXT)
            .file(
                "/.nix-frontend/drv-sizes",
                format!(
                    "{} {DEP_DRV}\n{} {APP_DRV}\n{} total\n",
                    DEP_DRV_TEXT.len(),
                    APP_DRV_TEXT.len(),
                    DEP_DRV_TEXT.len() + APP_DRV_TEXT.len()
                ),
            )
            .file(
                "/.nix-frontend/drv-files",
                format!("{DEP_DRV_TEXT}{APP_DRV_TEXT}"),
            )
            .file(
                &format!("/.nix-frontend/nar/{}", base(BUSYBOX)),
                BUSYBOX_NAR,
            )
            .file("/.nix-frontend/status", "ok\n")
            .file("/.nix-frontend/roots", format!("{APP_DRV}!out\n"))
            .file("/.nix-frontend/records", records)
            .file(
                "/.nix-frontend/dry-run",
                format!("these 2 derivations will be built:\n  {DEP_DRV}\n  {APP_DRV}\n"),
            )
            .dir("/nix/store", vec![entry(&base(BUSYBOX), MODE_DIR, "")]);
    }

    fn step(tree: &mut Tree, id: &str, paths: &[&str]) {
        tree.file(&format!("/nf/status/{id}"), "ok\n")
            .file(&format!("/nf/ran-at/{id}"), "10")
            .dir(
                "/nix/store",
                paths
                    .iter()
                    .map(|p| entry(&base(p), MODE_DIR, ""))
                    .collect(),
            );
    }

    fn good() -> FakeGateway {
        let mut g = FakeGateway::default();
        g.tree("load build definition from default.nix")
            .file("default.nix", "# syntax=org/nix-frontend\n{ app = ...; }");
        evaluation(g.tree(EVAL));
        step(g.tree(DEP_STEP), &base(DEP_DRV), &[DEP]);
        step(g.tree(APP_STEP), &base(APP_DRV), &[APP]);
        g.tree(APP_STEP)
            .file("/nf/result/results", format!("{APP}\n"))
            .file(
                "/nf/result/made-by",
                format!("/nf/new/{}:{DEP}\n", base(DEP_DRV)),
            )
            .file("/nf/result/profile-roots", format!("{APP}\n"))
            .file(
                "/nf/result/closure.json",
                format!(r#"{{"{APP}":{{"narSize":100,"references":["{BUSYBOX}","{DEP}"]}},"{DEP}":{{"narSize":4000,"references":[]}},"{BUSYBOX}":{{"narSize":2000,"references":[]}}}}"#),
            )
            .dir("/nf/result/tmp", vec![])
            .dir(
                "/nf/result/root",
                vec![entry("bin", MODE_SYMLINK | 0o777, &format!("{APP}/bin"))],
            )
            .dir(&format!("{APP}/bin"), vec![entry("app", 0o555, "")]);
        g
    }

    /// Builds `-f default.nix --target app` in graph mode; the frontend started at `started_at`.
    fn run_at(g: &mut FakeGateway, started_at: i64) -> Result<Built, UserError> {
        let options = Options::from_pairs(&[("filename", "default.nix"), ("target", "app")]);
        let env = environment(started_at);
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(build(g, &options, &env))
    }

    fn run(g: &mut FakeGateway) -> Result<Built, UserError> {
        run_at(g, 0)
    }

    /// A good build with these options: the exec of each step by name (a step's own cache key)
    /// and the warnings.
    fn execs_by_step(
        pairs: &[(&str, &str)],
    ) -> (std::collections::BTreeMap<String, String>, Vec<String>) {
        let g = good();
        let options = Options::from_pairs(pairs);
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(build(&g, &options, &environment(0)))
            .unwrap();
        let mut execs = std::collections::BTreeMap::new();
        for definition in g.definitions() {
            let json = crate::buildkit::llb::definition_to_json(&definition);
            for vertex in json.as_array().unwrap() {
                if let (Some(name), Some(exec)) = (vertex["name"].as_str(), vertex.get("exec")) {
                    execs.insert(name.to_string(), exec.to_string());
                }
            }
        }
        (execs, g.warnings())
    }

    const EVAL_TWO: &str = "evaluate default.nix -A app -A dep";
    const FINAL_TWO: &str = "build app-1.0 and 1 more";

    /// `--target "app dep"`: two packages, both built in the final step, whose root merges their
    /// `bin/` (and has dep's `share/`).
    fn good_two() -> FakeGateway {
        let mut g = FakeGateway::default();
        g.tree("load build definition from default.nix")
            .file("default.nix", "# syntax=org/nix-frontend\n{ app = ...; }");
        evaluation(g.tree(EVAL_TWO));
        g.tree(EVAL_TWO)
            .file(
                "/.nix-frontend/roots",
                format!("{APP_DRV}!out\n{DEP_DRV}!out\n"),
            )
            .file(
                "/.nix-frontend/info.json",
                r#"{"pname":"app","license":"MIT","mainProgram":"app"}"#,
            )
            .file(
                "/.nix-frontend/info-1.json",
                r#"{"pname":"dep","license":"GPL-2.0-only AND MIT"}"#,
            );
        step(g.tree(FINAL_TWO), &base(APP_DRV), &[APP, DEP]);
        g.tree(FINAL_TWO)
            .file("/nf/result/results", format!("{APP}\n{DEP}\n"))
            .file("/nf/result/made-by", "")
            .file("/nf/result/profile-roots", format!("{APP}\n{DEP}\n"))
            .file(
                "/nf/result/closure.json",
                format!(r#"{{"{APP}":{{"narSize":100,"references":["{BUSYBOX}","{DEP}"]}},"{DEP}":{{"narSize":4000,"references":[]}},"{BUSYBOX}":{{"narSize":2000,"references":[]}}}}"#),
            )
            .dir("/nf/result/tmp", vec![])
            .dir(
                "/nf/result/root",
                vec![
                    entry("bin", MODE_DIR | 0o755, ""),
                    entry("share", MODE_SYMLINK | 0o777, &format!("{DEP}/share")),
                ],
            )
            .dir(
                "/nf/result/root/bin",
                vec![
                    entry("app", MODE_SYMLINK | 0o777, &format!("{APP}/bin/app")),
                    entry("dep", MODE_SYMLINK | 0o777, &format!("{DEP}/bin/dep")),
                ],
            )
            .dir(&format!("{APP}/bin"), vec![entry("app", 0o555, "")])
            .dir(&format!("{DEP}/share"), vec![entry("zoneinfo", MODE_DIR, "")]);
        g
    }

    fn run_two(g: &FakeGateway, pairs: &[(&str, &str)]) -> Result<Built, UserError> {
        let mut options = vec![("filename", "default.nix"), ("target", "app dep")];
        options.extend_from_slice(pairs);
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(build(g, &Options::from_pairs(&options), &environment(0)))
    }

    #[test]
    fn several_attributes_make_one_image_of_every_package() {
        let g = good_two();
        let built = run_two(&g, &[("build-arg:NIX_COLLISIONS", "first")]).unwrap();
        let config = &built.images[0].config["config"];
        // The first attribute's program, its labels with the licenses of both.
        assert_eq!(config["Entrypoint"][0], format!("{APP}/bin/app"));
        assert_eq!(config["Labels"]["org.opencontainers.image.title"], "app");
        assert_eq!(
            config["Labels"]["org.opencontainers.image.licenses"],
            "MIT AND GPL-2.0-only"
        );
        let env: Vec<&str> = config["Env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert_eq!(
            env,
            [
                "PATH=/bin".to_string(),
                format!("TZDIR={DEP}/share/zoneinfo")
            ]
        );
        // Every attribute reaches the evaluation; the collision rule only the final step.
        let definitions = g.definitions();
        let steps =
            crate::buildkit::llb::definition_to_json(&definitions[final_solve(&g)]).to_string();
        assert!(steps.contains("NF_COLLISIONS=first"), "{steps}");
        assert!(steps.contains("NF_ATTR_COUNT=2"), "{steps}");
        assert!(definitions
            .iter()
            .any(|d| crate::buildkit::llb::definition_to_json(d)
                .to_string()
                .contains("NF_ATTR_1=dep")));
        // The build steps realise store paths: no attribute names in their keys.
        assert!(!steps.contains("NF_ATTR_1=dep"), "{steps}");
        let image =
            crate::buildkit::llb::definition_to_json(definitions.last().unwrap()).to_string();
        assert!(
            image.contains("links /{bin,share} into 2 packages"),
            "{image}"
        );
        assert!(image.contains("/nf/result/root"), "{image}");
    }

    #[test]
    fn colliding_packages_stop_the_build_naming_both() {
        let mut g = good_two();
        g.tree(FINAL_TWO)
            .file(&format!("/nf/status/{}", base(APP_DRV)), "collision\n")
            .file(
                &format!("/nf/log/{}", base(APP_DRV)),
                format!("{APP} {DEP} bin/sh\n"),
            );
        let err = run_two(&g, &[]).unwrap_err();
        assert!(
            err.message
                .contains(&format!("bin/sh is in both {APP} and {DEP}")),
            "{err}"
        );
        assert!(
            err.message
                .contains("the packages of attributes \"app\", \"dep\" of default.nix collide"),
            "{err}"
        );
        // A wrong number of packages for the attributes is refused.
        let mut g = good_two();
        g.tree(FINAL_TWO)
            .file("/nf/result/profile-roots", format!("{APP}\n"));
        let err = run_two(&g, &[]).unwrap_err();
        assert!(err.message.contains("1 packages for 2 attributes"), "{err}");
    }

    #[test]
    fn pushing_to_a_nix_cache_adds_push_steps_and_changes_no_build_step() {
        let (plain, _) = execs_by_step(&[("filename", "default.nix"), ("target", "app")]);
        let (pushing, warnings) = execs_by_step(&[
            ("filename", "default.nix"),
            ("target", "app"),
            ("build-arg:NIX_CACHE_PUSH", "https://cache.example"),
        ]);
        for step in ["build expensive-dep-1.0", "build app-1.0"] {
            assert_eq!(plain[step], pushing[step], "{step}");
        }
        for step in ["expensive-dep-1.0", "app-1.0"] {
            let push = &pushing[&format!("push {step} to the Nix cache")];
            assert!(
                push.contains("NF_CACHE_PUSH=https://cache.example"),
                "{push}"
            );
            assert!(push.contains("nix-cache-key"), "{push}");
            assert!(!plain.contains_key(&format!("push {step} to the Nix cache")));
        }
        // The fake's push steps report no status: each is a warning, never a failed build.
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].starts_with("pushing what \"build expensive-dep-1.0\" built"));
    }

    #[test]
    fn asking_for_an_sbom_changes_the_evaluation_and_no_build_step() {
        // The exec of each step by name: a build step's own cache key (the evaluation is no
        // ancestor of a build step: its .drv files and sources travel in the LLB).
        let execs = |pairs: &[(&str, &str)]| execs_by_step(pairs).0;
        let plain = execs(&[("filename", "default.nix"), ("target", "app")]);
        let sbom = execs(&[
            ("filename", "default.nix"),
            ("target", "app"),
            ("attest:sbom", ""),
        ]);
        let evaluate = "evaluate default.nix -A app";
        assert!(!plain[evaluate].contains("NF_SBOM=1") && sbom[evaluate].contains("NF_SBOM=1"));
        for step in ["build expensive-dep-1.0", "build app-1.0"] {
            assert_eq!(plain[step], sbom[step], "{step}");
        }
    }

    fn expect_error(g: &mut FakeGateway, needle: &str) {
        match run(g) {
            Ok(_) => panic!("built despite: {needle}"),
            Err(UserError { message, .. }) => {
                assert!(message.contains(needle), "{message:?} lacks {needle:?}");
            }
        }
    }

    /// The names of the vertices of the Nth solve's definition.
    fn step_names(g: &FakeGateway, solve: usize) -> Vec<String> {
        let mut names: Vec<String> = g.definitions()[solve]
            .metadata
            .values()
            .filter_map(|m| m.description.get("llb.customname").cloned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_graph_build_takes_each_path_from_the_step_that_made_it() {
        let mut g = good();
        let built = run(&mut g).unwrap();
        assert_eq!(
            built.images[0].config["config"]["Entrypoint"][0],
            format!("{APP}/bin/app")
        );
        // The build file, two .dockerignore probes, the evaluation, the final step (which runs
        // the other), the empty /nix/store (with the steps), the builder image, the image.
        assert_eq!(g.solves(), 8);
        let names = step_names(&g, final_solve(&g));
        // The .drv files and sources are carried in the LLB: the evaluation is no ancestor of
        // any build step, so their keys never depend on BuildKit's content checksums.
        assert!(
            !names.iter().any(|n| n.starts_with("evaluate")),
            "{names:?}"
        );
        for expected in [
            "build expensive-dep-1.0",
            "build app-1.0",
            "derivations for app-1.0",
            "source busybox-static",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} not in {names:?}"
            );
        }
        // The image's layers copy each path out of the step that holds it.
        let image =
            crate::buildkit::llb::definition_to_json(g.definitions().last().unwrap()).to_string();
        for path in [BUSYBOX, DEP, APP] {
            assert!(image.contains(&format!("\"{path}\"")), "{path}");
        }
    }

    #[test]
    fn a_source_that_is_one_file_goes_to_its_store_path_without_a_nar() {
        let mut g = good();
        // busybox as one executable file in the evaluation's store, with no NAR beside it.
        let program: &[u8] = b"\x7fELF a busybox";
        let nar = crate::nix::inline_inputs::file_nar(program, true);
        let drv_nar = |text: &str| crate::nix::inline_inputs::regular_file_nar(text.as_bytes());
        let records = record_of(BUSYBOX, &nar, &[])
            + &record_of(DEP_DRV, &drv_nar(DEP_DRV_TEXT), &[BUSYBOX])
            + &record_of(APP_DRV, &drv_nar(APP_DRV_TEXT), &[BUSYBOX, DEP_DRV]);
        let eval = g.tree(EVAL);
        eval.files
            .remove(&format!("/.nix-frontend/nar/{}", base(BUSYBOX)));
        eval.file(BUSYBOX, program)
            .file("/.nix-frontend/records", records)
            .dir("/nix/store", vec![entry(&base(BUSYBOX), 0o555, "")]);
        run(&mut g).unwrap();
        let steps = crate::buildkit::llb::definition_to_json(&g.definitions()[final_solve(&g)]);
        let text = steps.to_string();
        assert!(
            text.contains(&format!(
                "\"mode\":\"555\",\"output\":0,\"owner\":null,\"path\":\"{BUSYBOX}\""
            )),
            "{text}"
        );
        assert!(!text.contains("/nf/nar"), "{text}");

        // Bytes that are not what the record says are refused, naming the path.
        let mut g = good();
        let eval = g.tree(EVAL);
        eval.files
            .remove(&format!("/.nix-frontend/nar/{}", base(BUSYBOX)));
        eval.file(BUSYBOX, program)
            .dir("/nix/store", vec![entry(&base(BUSYBOX), 0o555, "")]);
        let err = run(&mut g).unwrap_err();
        assert!(err.message.contains(BUSYBOX), "{}", err.message);
    }

    #[test]
    fn reports_over_one_grpc_message_are_read_in_ranges() {
        let mut g = good();
        // The evaluation's records: the same graph after 17 MiB of unrelated source records.
        let mut records = String::new();
        let mut i = 0u32;
        while records.len() < 17 << 20 {
            records.push_str(&record(
                &format!("/nix/store/{i:0>32}-source-{}", "x".repeat(100)),
                &[],
            ));
            i += 1;
        }
        let key = "/.nix-frontend/records";
        let mut tail = String::from_utf8(g.tree(EVAL).files[key].clone()).unwrap();
        records.push_str(&std::mem::take(&mut tail));
        g.tree(EVAL).file(key, records);
        // The final step's closure manifest, padded with JSON whitespace past 16 MiB.
        let key = "/nf/result/closure.json";
        let mut manifest = g.tree(APP_STEP).files[key].clone();
        manifest.resize(20 << 20, b'\n');
        g.tree(APP_STEP).file(key, manifest);
        run(&mut g).unwrap();
    }

    #[test]
    fn a_closure_path_no_step_holds_is_refused() {
        let mut g = good();
        g.tree(APP_STEP).file("/nf/result/made-by", "");
        expect_error(
            &mut g,
            &format!("{DEP} is in the closure but no build step holds it"),
        );
    }

    #[test]
    fn a_failed_step_is_reported_with_its_name_and_nix_text() {
        let mut g = good();
        g.tree(DEP_STEP)
            .file(&format!("/nf/status/{}", base(DEP_DRV)), "build-failed\n")
            .file(
                &format!("/nf/log/{}", base(DEP_DRV)),
                "error: builder for '/nix/store/x.drv' failed with exit code 1",
            );
        g.tree(APP_STEP)
            .file(&format!("/nf/status/{}", base(APP_DRV)), "skipped\n");
        expect_error(&mut g, "failed in step \"build expensive-dep-1.0\"");
        expect_error(&mut good_with_failure(), "failed with exit code 1");
    }

    fn good_with_failure() -> FakeGateway {
        let mut g = good();
        g.tree(DEP_STEP)
            .file(&format!("/nf/status/{}", base(DEP_DRV)), "build-failed\n")
            .file(
                &format!("/nf/log/{}", base(DEP_DRV)),
                "failed with exit code 1",
            );
        g.tree(APP_STEP)
            .file(&format!("/nf/status/{}", base(APP_DRV)), "skipped\n");
        g
    }

    #[test]
    fn the_progress_says_what_ran_in_this_build_and_what_came_from_the_cache() {
        let mut g = good();
        // The dependency's step ran in this build (started at 100), the app's long before; a
        // line naming no step counts for nothing.
        g.tree(APP_STEP).file(
            "/nf/result/ran-at",
            format!(
                "{} 100\n{} 7\nnosuch.drv 100\n",
                base(DEP_DRV),
                base(APP_DRV)
            ),
        );
        run_at(&mut g, 100).unwrap();
        let names = step_names(&g, g.solves() - 1);
        let expected = "built 2 derivations (1 in this build, 1 from BuildKit's cache)";
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("closure: ") && n.ends_with(expected)),
            "{names:?}"
        );
    }

    #[test]
    fn a_made_by_list_naming_no_step_or_no_store_path_is_refused() {
        for line in [
            format!("/nf/new/nosuch-step.drv:{DEP}"),
            format!("/nf/new/{}:/etc/passwd", base(DEP_DRV)),
            format!("/nf/new/{}:/nix/store/../../etc", base(DEP_DRV)),
            format!("/nix/store/{}:{DEP}", base(DEP_DRV)),
            DEP.to_string(),
        ] {
            let mut g = good();
            g.tree(APP_STEP)
                .file("/nf/result/made-by", format!("{line}\n"));
            expect_error(&mut g, "line 1 of /nf/result/made-by is not");
        }
    }

    #[test]
    fn a_cached_failure_is_built_again() {
        let mut g = good_with_failure();
        let result = run_at(&mut g, 100);
        assert!(result.is_err());
        assert_eq!(
            g.warnings(),
            ["the cached step \"build expensive-dep-1.0\" had failed; building again"]
        );
        // The second round runs the failed step and the one after it regardless of the cache.
        let definitions = g.definitions();
        let rerun = definitions.last().unwrap();
        assert!(rerun.metadata.values().any(|m| m.ignore_cache));
    }

    #[test]
    fn a_cached_failure_that_then_builds_gives_the_image_of_the_rerun() {
        let mut g = good();
        // From the cache: the final step alone says skipped, then with every step the
        // dependency's failure (long before the frontend started at 100). The rerun builds.
        let failed = format!("/nf/status/{}", base(DEP_DRV));
        let skipped = format!("/nf/status/{}", base(APP_DRV));
        g.tree_nth(DEP_STEP, 0).file(&failed, "build-failed\n");
        g.tree_nth(APP_STEP, 0).file(&skipped, "skipped\n");
        g.tree_nth(APP_STEP, 1).file(&skipped, "skipped\n");
        let built = run_at(&mut g, 100);
        assert!(built.is_ok(), "{built:?}");
        assert_eq!(
            g.warnings(),
            ["the cached step \"build expensive-dep-1.0\" had failed; building again"]
        );
        // The image's layers come from the rerun's steps, which ignore the cache.
        let image = g.definitions().last().unwrap().clone();
        let json = crate::buildkit::llb::definition_to_json(&image);
        let rerun_steps: Vec<&str> = json
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["name"].as_str().is_some_and(|n| n.starts_with("build ")))
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert!(!rerun_steps.is_empty());
        assert!(
            image.metadata.values().filter(|m| m.ignore_cache).count() >= 2,
            "the image copies from the cached steps: {rerun_steps:?}"
        );
    }

    #[test]
    fn hostile_evaluation_reports_are_refused_with_the_path() {
        let cases = [
            ("/.nix-frontend/roots", "/etc/passwd\n".to_string(), "root \"/etc/passwd\""),
            (
                "/.nix-frontend/records",
                record(APP_DRV, &[APP_DRV, DEP_DRV]) + &record(DEP_DRV, &[APP_DRV]),
                "a cycle",
            ),
            (
                "/.nix-frontend/records",
                record(APP_DRV, &["/nix/store/../etc"]),
                "reference \"/nix/store/../etc\"",
            ),
            (
                "/.nix-frontend/dry-run",
                "these 1 derivations will be built:\n  /nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-evil.drv\n".to_string(),
                "is to be built but is not among the evaluated paths",
            ),
        ];
        for (file, content, needle) in cases {
            let mut g = good();
            g.tree(EVAL).file(file, content);
            expect_error(&mut g, needle);
        }
    }
}
