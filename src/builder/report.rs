//! The builder's report, read back and checked: the status of the Nix step, the results and
//! their closure (validated by `closure`), the laid-out trees, the root links, the executables
//! of the result's `bin/`, the derivation's info and a CA bundle. Nothing the builder wrote is
//! trusted: every path is checked against what the closure allows. Where the builder writes
//! each file is `builder::contract`.

use bollard_buildkit_proto::fsutil::types::Stat;

use crate::builder::contract::{self, Report, Status};
use crate::buildkit::gateway::{read_whole_file, Gateway, MODE_DIR, MODE_SYMLINK};
use crate::error::UserError;
use crate::nix::closure::{self, Closure, Limits, StorePath};
use crate::nix::facts::DerivationInfo;

/// A symlink at the image root into the result, e.g. `/bin` → `/nix/store/…-hello/bin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootLink {
    /// The entry's name, at the image root and in the main result (the link's target is
    /// always `<main result>/<name>`, checked by `report`).
    pub name: String,
}

/// What the builder reported, validated: what the image stage needs beyond the spec.
#[derive(Debug, Clone)]
pub struct BuildResult {
    pub closure: Closure,
    /// The build outputs; the first is the main result.
    pub results: Vec<StorePath>,
    pub root_links: Vec<RootLink>,
    /// Executables in the main result's `bin/`, by name.
    pub executables: Vec<String>,
    /// Name, version, meta and passthru of the built value.
    pub info: DerivationInfo,
    /// `SSL_CERT_FILE` for a CA bundle in the closure (nixpkgs' cacert).
    pub ca_bundle: Option<String>,
    /// The derivations the result is built from (facts.nix's `packages`), with --sbom.
    pub packages: Vec<crate::nix::facts::PackageFacts>,
}

/// Where a Nix step's report lies in its output, and what to call the step in an error: one
/// layout per kind of step, read by one reader (`read_report_files`) for both plans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    status: String,
    log: String,
    ran_at: String,
    step: String,
}

impl ReportFiles {
    /// The single plan's step and the graph plan's evaluation: `contract::STATUS`, `LOG`,
    /// `RAN_AT`.
    pub fn of_nix_step() -> ReportFiles {
        ReportFiles {
            status: contract::STATUS.into(),
            log: contract::LOG.into(),
            ran_at: contract::RAN_AT.into(),
            step: "the Nix builder".into(),
        }
    }

    /// A graph build step's, per group under `contract::STATUS_DIR`, `LOG_DIR`, `RAN_AT_DIR`.
    pub fn of_group(id: &str, step_name: &str) -> ReportFiles {
        ReportFiles {
            status: format!("{}/{id}", contract::STATUS_DIR),
            log: format!("{}/{id}", contract::LOG_DIR),
            ran_at: format!("{}/{id}", contract::RAN_AT_DIR),
            step: format!("the build step {step_name:?}"),
        }
    }
}

/// The status, log and time of the Nix step whose output is `reference`.
pub async fn read_report<G: Gateway>(gateway: &G, reference: &str) -> Result<Report, UserError> {
    read_report_files(gateway, reference, &ReportFiles::of_nix_step()).await
}

/// The status, log and time a step left at `files` in its output `reference`: a step that wrote
/// no status stopped before it finished (its output is in the build log).
pub async fn read_report_files<G: Gateway>(
    gateway: &G,
    reference: &str,
    files: &ReportFiles,
) -> Result<Report, UserError> {
    let read = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).trim().to_string();
    let word = gateway
        .read_file(reference, &files.status)
        .await
        .map(read)
        .map_err(|_| {
            UserError::new(format!(
                "{} stopped before it finished (no status was written); its output is in the build log above",
                files.step
            ))
        })?;
    let status = Status::parse(&word)?;
    let log = gateway
        .read_file(reference, &files.log)
        .await
        .map(read)
        .unwrap_or_default();
    let ran_at = gateway
        .read_file(reference, &files.ran_at)
        .await
        .ok()
        .and_then(|b| read(b).parse().ok())
        .unwrap_or(0);
    Ok(Report {
        status,
        log,
        ran_at,
    })
}

/// The single step's report; `packages.json` too when an SBOM was asked for.
pub async fn read_build_result<G: Gateway>(
    gateway: &G,
    reference: &str,
    sbom: bool,
) -> Result<BuildResult, UserError> {
    let results = read_results(gateway, reference, contract::RESULTS).await?;
    let closure = read_closure(gateway, reference, contract::CLOSURE, &results).await?;
    // The layer trees must be exactly the closure: nothing missing, nothing extra.
    let layer_dirs = gateway
        .read_dir(reference, contract::LAYERS)
        .await
        .map_err(|err| invalid(format!("no layer trees ({})", err.message)))?;
    let mut laid_out: Vec<&str> = layer_dirs.iter().map(|e| e.path.as_str()).collect();
    laid_out.sort_unstable();
    let expected: Vec<&str> = closure.paths.keys().map(StorePath::base_name).collect();
    if laid_out != expected {
        return Err(invalid(format!(
            "the copied store paths ({}) differ from the closure ({})",
            laid_out.len(),
            expected.len()
        )));
    }

    check_empty_tmp(gateway, reference, contract::TMP).await?;
    let main = &results[0];
    let root_links = read_root_links(gateway, reference, contract::ROOT, main).await?;
    let executables = read_executables(
        gateway,
        reference,
        &contract::in_layer_tree(main, "bin"),
        &root_links,
    )
    .await;
    let info = read_info(gateway, reference, contract::INFO).await;
    let packages = read_packages(gateway, reference, sbom).await;
    let ca_bundle = find_ca_bundle(gateway, &closure, |path| {
        (
            reference.to_string(),
            format!("{}{path}", contract::layer_tree(path)),
        )
    })
    .await;
    Ok(BuildResult {
        packages,
        closure,
        results,
        root_links,
        executables,
        info,
        ca_bundle,
    })
}

/// The build's results (`path` of `reference`), one store path a line; at least one.
pub async fn read_results<G: Gateway>(
    gateway: &G,
    reference: &str,
    path: &str,
) -> Result<Vec<StorePath>, UserError> {
    let text = read_whole_file(
        gateway,
        reference,
        path,
        Limits::default().max_manifest_bytes,
    )
    .await
    .map_err(|err| invalid(format!("no list of results ({err})")))?;
    parse_results(&String::from_utf8_lossy(&text))
}

/// The closure manifest (`nix path-info --json --recursive` at `path` of `reference`), read in
/// ranges up to the documented limit and validated against the results.
pub async fn read_closure<G: Gateway>(
    gateway: &G,
    reference: &str,
    path: &str,
    results: &[StorePath],
) -> Result<closure::Closure, UserError> {
    let limits = Limits::default();
    let manifest = read_whole_file(gateway, reference, path, limits.max_manifest_bytes)
        .await
        .map_err(|err| invalid(format!("no closure manifest ({err})")))?;
    Ok(closure::parse(&manifest, results, &limits)?)
}

/// The build's results, one store path a line; at least one.
fn parse_results(text: &str) -> Result<Vec<StorePath>, UserError> {
    let results: Vec<StorePath> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            StorePath::parse(line).map_err(|err| invalid(format!("result {line:?}: {err}")))
        })
        .collect::<Result<_, _>>()?;
    if results.is_empty() {
        return Err(invalid("the build produced no output path".into()));
    }
    Ok(results)
}

/// An untrusted report that fails validation, as the user sees it.
pub fn invalid(what: String) -> UserError {
    UserError::new(format!(
        "the Nix builder reported something invalid: {what}"
    ))
}

/// The /tmp the image may get (`dir` of `reference`) must arrive empty.
pub async fn check_empty_tmp<G: Gateway>(
    gateway: &G,
    reference: &str,
    dir: &str,
) -> Result<(), UserError> {
    let tmp = gateway
        .read_dir(reference, dir)
        .await
        .map_err(|err| invalid(format!("no tmp directory ({})", err.message)))?;
    if !tmp.is_empty() {
        return Err(invalid(format!(
            "{} unexpected entries in its tmp directory",
            tmp.len()
        )));
    }
    Ok(())
}

/// The root links the builder left in `dir` of `reference`, each checked to point into `main`.
pub async fn read_root_links<G: Gateway>(
    gateway: &G,
    reference: &str,
    dir: &str,
    main: &StorePath,
) -> Result<Vec<RootLink>, UserError> {
    let entries = gateway.read_dir(reference, dir).await.unwrap_or_default();
    validate_root_links(main, &entries)
}

/// The programs in the main result's `bin/` (at `bin_dir` of `reference`), when it has one.
pub async fn read_executables<G: Gateway>(
    gateway: &G,
    reference: &str,
    bin_dir: &str,
    root_links: &[RootLink],
) -> Vec<String> {
    if !root_links.iter().any(|l| l.name == "bin") {
        return Vec::new();
    }
    let entries = gateway
        .read_dir(reference, bin_dir)
        .await
        .unwrap_or_default();
    executables(&entries)
}

/// The derivations the result is built from (facts.nix's `packages`, written only with --sbom):
/// none when no SBOM was asked for, or it is missing, too big or not readable.
pub async fn read_packages<G: Gateway>(
    gateway: &G,
    reference: &str,
    sbom: bool,
) -> Vec<crate::nix::facts::PackageFacts> {
    if !sbom {
        return Vec::new();
    }
    let path = contract::PACKAGES;
    match crate::buildkit::gateway::read_whole_file(gateway, reference, path, MAX_PACKAGES_BYTES)
        .await
    {
        Ok(bytes) => crate::nix::facts::parse_packages(&bytes),
        Err(_) => Vec::new(),
    }
}

/// The largest `packages.json` read (a few hundred bytes per derivation).
const MAX_PACKAGES_BYTES: usize = 64 << 20;

/// Name, version and meta of the result (facts.nix's `info` at `path`), empty when missing;
/// a `meta.mainProgram` that is no plain file name is dropped.
pub async fn read_info<G: Gateway>(gateway: &G, reference: &str, path: &str) -> DerivationInfo {
    let info: DerivationInfo = match gateway.read_file(reference, path).await {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(_) => DerivationInfo::default(),
    };
    DerivationInfo {
        main_program: info.main_program.filter(|p| is_plain_name(p)),
        ..info
    }
}

/// nixpkgs' CA bundle (`nss-cacert`), when the closure holds it and it has the usual file;
/// `locate` says which ref holds a path and where the path's own tree lies in it.
pub async fn find_ca_bundle<G: Gateway>(
    gateway: &G,
    closure: &closure::Closure,
    locate: impl Fn(&StorePath) -> (String, String),
) -> Option<String> {
    const BUNDLE: &str = "etc/ssl/certs/ca-bundle.crt";
    for path in closure
        .paths
        .keys()
        .filter(|p| p.name().starts_with("nss-cacert"))
    {
        let (reference, tree) = locate(path);
        if let Ok(entries) = gateway
            .read_dir(&reference, &format!("{tree}/etc/ssl/certs"))
            .await
        {
            if entries.iter().any(|e| e.path == "ca-bundle.crt") {
                return Some(format!("{path}/{BUNDLE}"));
            }
        }
    }
    None
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.chars().any(char::is_control)
}

/// Each root entry must be a symlink named `N` pointing at exactly `<main result>/N`.
pub fn validate_root_links(main: &StorePath, entries: &[Stat]) -> Result<Vec<RootLink>, UserError> {
    let mut links = Vec::new();
    for entry in entries {
        let name = entry.path.rsplit('/').next().unwrap_or_default();
        let expected = format!("{main}/{name}");
        if !is_plain_name(name) || entry.mode & MODE_SYMLINK == 0 || entry.linkname != expected {
            return Err(UserError::new(format!(
                "the Nix builder reported an unexpected root entry {:?} (link to {:?}); only links into {main} are allowed",
                entry.path, entry.linkname
            )));
        }
        links.push(RootLink {
            name: name.to_string(),
        });
    }
    links.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(links)
}

/// Names of executables (or symlinks, as Nix wrappers often are) among `entries`, sorted.
pub fn executables(entries: &[Stat]) -> Vec<String> {
    let mut names: Vec<String> = entries
        .iter()
        .filter(|e| e.mode & MODE_DIR == 0 && (e.mode & MODE_SYMLINK != 0 || e.mode & 0o111 != 0))
        .map(|e| e.path.rsplit('/').next().unwrap_or_default().to_string())
        .filter(|n| is_plain_name(n))
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod report_tests {
    use super::*;
    use crate::buildkit::fake_gateway::FakeGateway;

    fn read(g: &FakeGateway, files: &ReportFiles) -> Result<Report, UserError> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(read_report_files(g, &FakeGateway::ref_of("report"), files))
    }

    #[test]
    fn both_plans_reports_are_read_by_one_reader() {
        // The single plan's step (and the evaluation) and a graph build step, as the scripts
        // write them.
        let mut single = FakeGateway::default();
        single
            .tree("report")
            .file("/.nix-frontend/status", "build-failed\n")
            .file("/.nix-frontend/log", "error: builder failed")
            .file("/.nix-frontend/ran-at", "100");
        let mut group = FakeGateway::default();
        group
            .tree("report")
            .file("/nf/status/abc-app.drv", "skipped\n")
            .file("/nf/log/abc-app.drv", "skipped: dep did not build")
            .file("/nf/ran-at/abc-app.drv", "50");
        let single = read(&single, &ReportFiles::of_nix_step()).unwrap();
        let group = read(&group, &ReportFiles::of_group("abc-app.drv", "build app")).unwrap();
        assert_eq!(
            (single.status, single.ran_at, single.log.as_str()),
            (Status::BuildFailed, 100, "error: builder failed")
        );
        assert_eq!((group.status, group.ran_at), (Status::Skipped, 50));
        // One rerun rule: a failure recorded before the frontend started came from the cache.
        assert!(single.is_stale_failure(200) && !single.is_stale_failure(100));
        assert!(group.is_stale_failure(200));
        let none = FakeGateway::default();
        let err = read(&none, &ReportFiles::of_group("abc-app.drv", "build app")).unwrap_err();
        assert!(err
            .message
            .contains("the build step \"build app\" stopped before it finished"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(path: &str, mode: u32, linkname: &str) -> Stat {
        Stat {
            path: path.into(),
            mode,
            linkname: linkname.into(),
            ..Default::default()
        }
    }

    const MAIN: &str = "/nix/store/8rdhvmrp4a21j859nhvq50qvgwx6lf9l-hello-1.0";

    #[test]
    fn root_links_must_point_into_the_result() {
        let main = StorePath::parse(MAIN).unwrap();
        let good = [stat("bin", MODE_SYMLINK | 0o777, &format!("{MAIN}/bin"))];
        assert_eq!(validate_root_links(&main, &good).unwrap()[0].name, "bin");
        for bad in [
            stat("bin", MODE_SYMLINK | 0o777, "/etc"),
            stat("bin", MODE_SYMLINK | 0o777, &format!("{MAIN}/../x")),
            stat("etc", MODE_SYMLINK | 0o777, &format!("{MAIN}/bin")),
            stat("bin", 0o755, &format!("{MAIN}/bin")),
            stat("..", MODE_SYMLINK, &format!("{MAIN}/..")),
        ] {
            assert!(
                validate_root_links(&main, std::slice::from_ref(&bad)).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn executables_are_files_with_an_x_bit_or_links() {
        let entries = [
            stat("hello", 0o555, ""),
            stat("data", 0o444, ""),
            stat("sub", MODE_DIR | 0o755, ""),
            stat("wrapped", MODE_SYMLINK | 0o777, "/nix/store/x"),
        ];
        assert_eq!(executables(&entries), ["hello", "wrapped"]);
    }
}
