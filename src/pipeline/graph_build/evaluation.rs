//! The evaluation step and what it reported: the report, the derivation graph planned into
//! groups, what the binary caches said of the paths to fetch, and the .drv files and sources the
//! build steps carry in their LLB.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::future::{join, try_join, try_join3, try_join_all};

use crate::builder::contract;
use crate::builder::contract::{DERIVATION_FILES, DERIVATION_SIZES, SOURCE_NAR_DIR};
use crate::builder::report::{self, invalid};
use crate::buildkit::gateway::{is_regular_file, read_whole_file, Gateway};
use crate::buildkit::llb::Output;
use crate::dockerui::options::NetworkMode;
use crate::dockerui::spec::Spec;
use crate::error::UserError;
use crate::nix::closure::{Limits, StorePath};
use crate::nix::drvgraph::{self, Graph};
use crate::nix::inline_inputs::{self, InlineInputs, MAX_INLINE_SOURCE_BYTES};
use crate::nix::narinfo;
use crate::nix::pins::Pin;
use crate::pipeline::assemble::debug_dump;
use crate::plan::graph as graph_plan;
use crate::plan::{self, BuilderImage, Task};

use super::solve;

/// The evaluation step's output and what it reported, checked.
pub(super) struct Evaluation {
    pub evaluated: Output,
    pub eval_ref: String,
    pub graph: Graph,
    pub inputs: InlineInputs,
}

/// Fetches the pinned inputs and evaluates over them, then reads the report and the graph in
/// one round (the report judged first: a failed evaluation wrote no graph), then the inputs the
/// steps carry.
pub(super) async fn evaluate<G: Gateway>(
    gateway: &G,
    spec: &Spec,
    builder: &BuilderImage,
    (context, pins): (plan::Sources, &[Pin]),
    build_file_text: &str,
    resolve_mode: Option<&str>,
) -> Result<Evaluation, UserError> {
    let pinned = graph_plan::pin_stages(spec, builder, pins, resolve_mode);
    let evaluated = graph_plan::eval_stage(spec, builder, context, pinned, resolve_mode);
    debug_dump("evaluation", &evaluated);
    let eval_ref = solve(gateway, &evaluated, || {
        format!("running {}", graph_plan::eval_step_name(spec))
    })
    .await?;
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
    Ok(Evaluation {
        evaluated,
        eval_ref,
        graph,
        inputs,
    })
}

/// The most a builder report read as text may hold: the closure manifest's limit.
const REPORT_LIMIT: usize = Limits::DEFAULT_MAX_MANIFEST_BYTES;

pub(super) async fn read_text<G: Gateway>(
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
    let fetched = drvgraph::parse_fetch_info(&fetch_info, &dry_run.fetch).map_err(graph_error)?;
    dry_run.fetch_records = fetched.records;
    // Over `--network none` nothing may be downloaded, by Nix or by BuildKit; small files are
    // Nix's to fetch (`NIX_DOWNLOAD_MIN_BYTES`); and the evaluation's word is untrusted, so
    // BuildKit downloads only from caches the user named or Nix's default.
    if spec.network != Some(NetworkMode::None) {
        let allowed = download_caches(spec);
        dry_run.nar_files = fetched
            .nar_files
            .into_iter()
            .filter(|(_, nar)| nar.file_size.unwrap_or(0) >= spec.download_min_bytes)
            .filter(|(_, nar)| {
                allowed
                    .iter()
                    .any(|base| nar.url.starts_with(&format!("{base}/")))
            })
            .collect();
    }
    drvgraph::plan(&roots, records, &dry_run, spec.max_build_steps).map_err(graph_error)
}

/// The HTTP caches BuildKit may download from: `NIX_SUBSTITUTERS`'s and Nix's default.
fn download_caches(spec: &Spec) -> Vec<String> {
    spec.named_substituters()
        .chain([narinfo::NIX_DEFAULT_CACHE])
        .filter_map(narinfo::http_cache_base)
        .collect()
}

/// What the binary caches said of the paths to fetch (`contract::FETCH_INFO_DIR`), one text per
/// cache in Nix's order with the cache's URL (`contract::SUBSTITUTERS`; empty when not
/// written); none when the evaluation fetches nothing or no cache could be asked.
async fn read_fetch_info<G: Gateway>(
    gateway: &G,
    eval_ref: &str,
) -> Result<Vec<(String, String)>, UserError> {
    let (entries, substituters) = join(
        gateway.read_dir(eval_ref, contract::FETCH_INFO_DIR),
        read_text(gateway, eval_ref, contract::SUBSTITUTERS),
    )
    .await;
    let Ok(entries) = entries else {
        return Ok(Vec::new());
    };
    let substituters = substituters.unwrap_or_default();
    let substituters: Vec<&str> = substituters.split_whitespace().collect();
    let mut indices: Vec<usize> = entries
        .iter()
        .filter(|entry| is_regular_file(entry.mode))
        .filter_map(|entry| entry.path.parse().ok())
        .collect();
    indices.sort_unstable();
    let substituters = &substituters;
    try_join_all(indices.into_iter().map(|i| async move {
        let text = read_text(
            gateway,
            eval_ref,
            &format!("{}/{i}", contract::FETCH_INFO_DIR),
        )
        .await?;
        let substituter = substituters.get(i).copied().unwrap_or_default();
        Ok::<_, UserError>((substituter.to_string(), text))
    }))
    .await
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerui::options::{Options, Platform};

    #[test]
    fn buildkit_downloads_only_from_caches_the_user_named_or_nixs_default() {
        let spec = |pairs: &[(&str, &str)]| {
            Spec::new(
                &Options::from_pairs(pairs),
                "",
                &Platform::parse("linux/amd64").unwrap(),
            )
            .unwrap()
        };
        assert_eq!(
            download_caches(&spec(&[("filename", "default.nix")])),
            ["https://cache.nixos.org"]
        );
        let named = spec(&[
            ("filename", "default.nix"),
            (
                "build-arg:NIX_SUBSTITUTERS",
                "http://127.0.0.1:8080/ s3://bucket https://mirror.example.org/nix?priority=10",
            ),
        ]);
        assert_eq!(
            download_caches(&named),
            [
                "http://127.0.0.1:8080",
                "https://mirror.example.org/nix",
                "https://cache.nixos.org"
            ]
        );
    }
}
