//! The build steps: solved through the final one, the first failure found and a cached one run
//! again, and with `NIX_CACHE_PUSH` the push steps.

use futures_util::future::{join, join_all};

use crate::builder::contract::{self, nix_error_text, Report, Status};
use crate::builder::report::{self, invalid, ReportFiles};
use crate::buildkit::gateway::Gateway;
use crate::buildkit::llb::Output;
use crate::dockerui::spec::Spec;
use crate::error::UserError;
use crate::nix::drvgraph::Graph;
use crate::nix::inline_inputs::InlineInputs;
use crate::pipeline::assemble::debug_dump;
use crate::plan::graph::{self as graph_plan, GroupStep, PUSH_LOG_DIR, PUSH_STATUS_DIR};
use crate::plan::{self, BuilderImage};

use super::evaluation::Evaluation;
use super::solve;

/// The steps as solved: each group's step (the rerun's, after a rerun) and the final step's ref.
pub(super) struct Built {
    pub steps: Vec<GroupStep>,
    pub final_index: usize,
    pub final_ref: String,
}

/// Solves the steps, with the image's empty /nix/store beside them (it needs nothing of the
/// build, so it is ready when they are; an error in it is the image's, reported there), then
/// pushes what they built when asked.
pub(super) async fn build<G: Gateway>(
    gateway: &G,
    spec: &Spec,
    builder: &BuilderImage,
    evaluation: &Evaluation,
    resolve_mode: Option<&str>,
    started_at: i64,
) -> Result<Built, UserError> {
    let steps = Steps {
        spec,
        builder,
        graph: &evaluation.graph,
        inputs: &evaluation.inputs,
        evaluated: &evaluation.evaluated,
        resolve_mode,
    };
    let skeleton = plan::image::store_skeleton(spec);
    let (built, _) = join(
        steps.solve(gateway, started_at),
        solve(gateway, &skeleton, || "making /nix/store".into()),
    )
    .await;
    let (group_steps, final_ref) = built?;
    if spec.cache_push.is_some() {
        push(gateway, spec, builder, &evaluation.graph, &group_steps).await?;
    }
    Ok(Built {
        steps: group_steps,
        final_index: evaluation.graph.final_group(),
        final_ref,
    })
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
            let final_ref = solve(gateway, &outputs[final_index], what)
                .await
                .map_err(|err| download_error(self.graph, err))?;
            let report = report::read_report_files(gateway, &final_ref, &final_files).await?;
            if report.status == Status::Ok {
                return Ok((steps, final_ref));
            }
            let refs = join_all(outputs.iter().map(|output| solve(gateway, output, what)))
                .await
                .into_iter()
                .collect::<Result<Vec<String>, UserError>>()
                .map_err(|err| download_error(self.graph, err))?;
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

/// A solve that failed on a binary cache's file BuildKit downloads (a damaged or changed file
/// whose SHA-256 is not its narinfo's, one the cache no longer serves, a cache out of reach),
/// said with the store path; any other error as it is.
fn download_error(graph: &Graph, err: UserError) -> UserError {
    let Some((path, nar)) = graph
        .nar_files
        .iter()
        // BuildKit names the file by its URL, or (before 0.15) by its checksum alone.
        .find(|(_, nar)| err.message.contains(&nar.url) || err.message.contains(&nar.checksum()))
    else {
        return err;
    };
    let why = if err.message.contains("digest mismatch") {
        "the file's SHA-256 is not the one the cache's narinfo gives: it is damaged or was \
         changed"
    } else {
        "the cache did not serve it"
    };
    // BuildKit's own words, without what the frontend was doing (said above).
    let said = ["digest mismatch", "invalid response"]
        .iter()
        .find_map(|start| err.message.find(start))
        .map_or(err.message.as_str(), |at| &err.message[at..]);
    UserError::new(format!(
        "downloading {path} from the binary cache failed: {why}.\n  file: {}\n  BuildKit said: {}",
        nar.url,
        said.trim()
    ))
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

#[cfg(test)]
mod download_tests {
    use super::*;
    use crate::nix::closure::StorePath;
    use crate::nix::narinfo::NarFile;

    #[test]
    fn a_failed_download_names_the_store_path_and_why() {
        let path = StorePath::parse("/nix/store/3c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-lib").unwrap();
        let nar = NarFile {
            url: "http://cache/nar/a.nar".into(),
            file_sha256: [0xab; 32],
            file_size: None,
            compression: "none".into(),
            signatures: vec!["k:c2ln".into()],
            content_address: None,
        };
        let graph = Graph {
            groups: Vec::new(),
            records: Default::default(),
            fetch_records: Default::default(),
            nar_files: [(path, nar.clone())].into(),
        };
        // BuildKit 0.13 names only the checksums; later releases the URL.
        for said in [
            format!("digest mismatch sha256:00: {}", nar.checksum()),
            "digest mismatch for http://cache/nar/a.nar: sha256:00".to_string(),
        ] {
            let err = download_error(&graph, UserError::new(format!("building x: {said}")));
            assert!(
                err.message.starts_with(
                    "downloading /nix/store/3c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-lib from the binary \
                     cache failed: the file's SHA-256 is not"
                ),
                "{}",
                err.message
            );
        }
        let missing = download_error(
            &graph,
            UserError::new("building x: invalid response status 404 for http://cache/nar/a.nar"),
        );
        assert!(
            missing.message.contains("the cache did not serve it"),
            "{}",
            missing.message
        );
        let other = download_error(&graph, UserError::new("building x: no space left"));
        assert_eq!(other.message, "building x: no space left");
    }
}
