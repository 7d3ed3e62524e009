//! One platform's image with Nix's work as BuildKit vertices (`NIX_PLAN=graph`, the default):
//! evaluate, plan the groups (`drvgraph`), solve them as one graph, read what the final step
//! reported, validate, and assemble the image from the trees the groups already produced.
//!
//! Every file read here was written inside a container that ran the user's build, so it is
//! untrusted: store paths are parsed strictly, the closure is validated as in single mode, and a
//! path that no step holds is refused rather than guessed.
//!
//! `evaluation`: the evaluation step and what it reported; `steps`: the build steps, their
//! rerun and push; `holders`: which output holds each path of the closure.

mod evaluation;
mod holders;
mod steps;
#[cfg(test)]
mod tests;

use futures_util::future::try_join3;

use crate::builder::architecture;
use crate::builder::contract;
use crate::builder::report;
use crate::buildkit::gateway::Gateway;
use crate::buildkit::llb::{self, Output};
use crate::buildkit::result::PlatformImage;
use crate::dockerui::options::Options;
use crate::dockerui::spec::Spec;
use crate::error::UserError;
use crate::nix::closure::{Closure, StorePath};
use crate::nix::pins::Pin;
use crate::pipeline::assemble::assemble_image;
use crate::plan::graph::RESULT_DIR;
use crate::plan::{self, BuildResult, BuilderImage};

use evaluation::Evaluation;
use holders::Holders;
use steps::Built;

/// Everything after the builder image is resolved and the context planned, phase by phase.
pub async fn build_platform<G: Gateway>(
    gateway: &G,
    options: &Options,
    spec: &Spec,
    builder: &BuilderImage,
    // What the evaluation reads: the contexts, and the inputs pinned by their hash.
    (context, pins): (plan::Sources, &[Pin]),
    build_file_text: &str,
    started_at: i64,
) -> Result<(PlatformImage, BuildResult), UserError> {
    let resolve_mode = options.image_resolve_mode.as_deref();
    let evaluation = evaluation::evaluate(
        gateway,
        spec,
        builder,
        (context, pins),
        build_file_text,
        resolve_mode,
    )
    .await?;
    let built = steps::build(
        gateway,
        spec,
        builder,
        &evaluation,
        resolve_mode,
        started_at,
    )
    .await?;
    let image = plan::builder_image(spec, builder, resolve_mode);
    let manifest = read_manifest(gateway, &built, &image).await?;
    let holders = Holders::locate(gateway, &evaluation, &built, &image, &manifest).await?;
    let result = read_result(
        gateway,
        spec,
        &evaluation,
        &built,
        &holders,
        manifest,
        pins,
        started_at,
    )
    .await?;
    let trees = holders.trees(&built);
    let image = assemble_image(gateway, spec, &result, &trees, true, &image).await?;
    Ok((image, result))
}

/// What the final step reported: the results, the closure, which upstream step made each path
/// and when each step ran; with the builder image's ref (the paths it already had).
struct Manifest {
    results: Vec<StorePath>,
    closure: Closure,
    made_by: String,
    ran_at: String,
    image_ref: String,
}

/// The final step's manifest, the builder image's ref and the check of its tmp/, together.
async fn read_manifest<G: Gateway>(
    gateway: &G,
    built: &Built,
    image: &Output,
) -> Result<Manifest, UserError> {
    let final_ref = &built.final_ref;
    let reports = async {
        let (results, made_by, ran_at) = try_join3(
            report::read_results(gateway, final_ref, &format!("{RESULT_DIR}/results")),
            evaluation::read_text(gateway, final_ref, contract::MADE_BY),
            // Only for the progress: a list that cannot be read counts every step as cached.
            async {
                Ok(
                    evaluation::read_text(gateway, final_ref, contract::STEPS_RAN_AT)
                        .await
                        .unwrap_or_default(),
                )
            },
        )
        .await?;
        let closure = report::read_closure(
            gateway,
            final_ref,
            &format!("{RESULT_DIR}/closure.json"),
            &results,
        )
        .await?;
        Ok::<_, UserError>((results, closure, made_by, ran_at))
    };
    let ((results, closure, made_by, ran_at), image_ref, ()) = try_join3(
        reports,
        solve(gateway, image, || "reading the builder image".into()),
        report::check_empty_tmp(gateway, final_ref, &format!("{RESULT_DIR}/tmp")),
    )
    .await?;
    Ok(Manifest {
        results,
        closure,
        made_by,
        ran_at,
        image_ref,
    })
}

/// The build's result from the final step's manifest and the packages' own files: the image's
/// root, the packages' facts, the main package's programs, the CA bundle and time zones, and
/// (for a foreign platform) the programs' machine.
#[allow(clippy::too_many_arguments)]
async fn read_result<G: Gateway>(
    gateway: &G,
    spec: &Spec,
    evaluation: &Evaluation,
    built: &Built,
    holders: &Holders,
    manifest: Manifest,
    pins: &[Pin],
    started_at: i64,
) -> Result<BuildResult, UserError> {
    let Manifest {
        results,
        closure,
        ran_at,
        ..
    } = manifest;
    let profile = report::read_profile(
        gateway,
        &built.final_ref,
        RESULT_DIR,
        &results,
        spec.attrs.len(),
    )
    .await?;
    // The final step's root is solved only when a file to read is upstream of it: the main
    // package's, a root package's, a cacert's (or, for a foreign platform, any program's).
    let foreign = plan::host_system(spec).is_some();
    let roots = profile.roots();
    let cacerts = crate::builder::nixpkgs_files::cacert_paths(&closure);
    let to_read: Vec<&StorePath> = results
        .iter()
        .take(1)
        .chain(roots.iter())
        .chain(cacerts)
        .collect();
    let reader = holders
        .reader(gateway, built, &evaluation.graph, foreign, &to_read)
        .await?;
    let locate = |path: &StorePath| reader.reference(path);
    let mut result = report::read_result(
        gateway,
        (results, closure, profile),
        &evaluation.eval_ref,
        spec.sbom.is_some(),
        locate,
    )
    .await;
    result.work = holders::work_summary(&evaluation.graph, &ran_at, started_at, pins);
    eprintln!(
        "nix-frontend: closure of {} paths, {} bytes",
        result.closure.paths.len(),
        result.closure.total_nar_size()
    );
    if foreign {
        architecture::check_programs(gateway, &spec.platform, &result, |path| {
            reader.try_reference(path)
        })
        .await?;
    }
    Ok(result)
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
