//! The builder's report, read back and checked: the status of the Nix step, the results and
//! their closure (validated by `closure`), the laid-out trees, the image's packages and the root
//! links made from them, the executables of the main package's `bin/`, each attribute's info, a
//! CA bundle and time zone data. Nothing the builder wrote is trusted: every path is checked
//! against what the closure allows. Where the builder writes each file is `builder::contract`.

use bollard_buildkit_proto::fsutil::types::Stat;

use crate::builder::contract::{self, Collision, Report, Status};
use crate::builder::nixpkgs_files;
use crate::buildkit::gateway::{read_whole_file, Gateway, MODE_DIR, MODE_SYMLINK};
use crate::error::UserError;
use crate::nix::closure::{self, Closure, Limits, StorePath};
use crate::nix::facts::{DerivationInfo, PackageFacts, RootPackage};

/// A top-level entry of the image's root: a link into a package (`/bin` →
/// `/nix/store/…-hello/bin`), or with several packages a directory of such links.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootLink {
    /// The entry's name, at the image root and in the packages (every link below it points at
    /// the same relative path in one package, checked by `report`).
    pub name: String,
}

/// What the builder reported, validated: what the image stage needs beyond the spec.
#[derive(Debug, Clone)]
pub struct BuildResult {
    pub closure: Closure,
    /// The build outputs, every output of every attribute; the first is the main package's.
    pub results: Vec<StorePath>,
    /// The main package: the (first) attribute's first output. Its program is the entrypoint,
    /// its facts label the image.
    pub main: RootPackage,
    /// The packages of the other attributes, in the order given.
    pub others: Vec<RootPackage>,
    /// The image's root, from every package (see `nf_profile` in common.sh).
    pub root_links: Vec<RootLink>,
    /// Executables in the main package's `bin/`, by name.
    pub executables: Vec<String>,
    /// `SSL_CERT_FILE`: a CA bundle of a package, else nixpkgs' cacert in the closure.
    pub ca_bundle: Option<String>,
    /// `TZDIR`: a package's time zone database (nixpkgs' tzdata, `share/zoneinfo`).
    pub tz_dir: Option<String>,
    /// The derivations the packages are built from (facts.nix's `packages`), with --sbom.
    pub packages: Vec<PackageFacts>,
    /// Names two packages provide that `NIX_COLLISIONS=first` settled, for warnings.
    pub collisions: Vec<Collision>,
    /// What Nix did for the image, in the progress: built or substituted, in this build or
    /// taken from BuildKit's cache (the graph plan's; empty in the single plan).
    pub work: String,
}

impl BuildResult {
    /// Every package of the image, the main one first.
    pub fn roots(&self) -> impl Iterator<Item = &RootPackage> {
        std::iter::once(&self.main).chain(&self.others)
    }
}

/// The image's packages and root as the step that made the root reported them (the single step,
/// or the graph's final group, under `manifest_dir`), checked.
pub struct Profile {
    /// One store path per attribute, each a result: the main package's, then the others'.
    pub main: StorePath,
    pub others: Vec<StorePath>,
    pub root_links: Vec<RootLink>,
    pub collisions: Vec<Collision>,
}

/// Reads `profile-roots`, `root/` and `collisions` under `manifest_dir` of `reference`;
/// `attributes` is the number of attributes built (one package each; 1 for none).
pub async fn read_profile<G: Gateway>(
    gateway: &G,
    reference: &str,
    manifest_dir: &str,
    results: &[StorePath],
    attributes: usize,
) -> Result<Profile, UserError> {
    let file = format!("{manifest_dir}/profile-roots");
    let text = read_whole_file(gateway, reference, &file, 1 << 20)
        .await
        .map_err(|err| invalid(format!("no list of the image's packages ({err})")))?;
    let roots = parse_results(&String::from_utf8_lossy(&text))?;
    if let Some(stray) = roots.iter().find(|r| !results.contains(r)) {
        return Err(invalid(format!(
            "the image's package {stray} is not among the results"
        )));
    }
    if roots.len() != attributes.max(1) {
        return Err(invalid(format!(
            "{} packages for {} attributes",
            roots.len(),
            attributes.max(1)
        )));
    }
    let root_links =
        read_root_links(gateway, reference, &format!("{manifest_dir}/root"), &roots).await?;
    let collisions = gateway
        .read_file(reference, &format!("{manifest_dir}/collisions"))
        .await
        .map(|bytes| Collision::parse_all(&String::from_utf8_lossy(&bytes)))
        .unwrap_or_default();
    let mut roots = roots.into_iter();
    let main = roots.next().ok_or_else(|| invalid("no package".into()))?;
    Ok(Profile {
        main,
        others: roots.collect(),
        root_links,
        collisions,
    })
}

impl Profile {
    /// Every package, the main one first.
    pub fn roots(&self) -> Vec<StorePath> {
        std::iter::once(&self.main)
            .chain(&self.others)
            .cloned()
            .collect()
    }
}

/// The packages of the image with each attribute's facts (`info_of`), and with --sbom the
/// derivations each is built from (`packages_of`), read from the step that evaluated.
pub async fn read_root_packages<G: Gateway>(
    gateway: &G,
    reference: &str,
    profile: &Profile,
    sbom: bool,
) -> (RootPackage, Vec<RootPackage>, Vec<PackageFacts>) {
    let mut facts = Vec::new();
    let mut described = Vec::new();
    for (index, path) in profile.roots().into_iter().enumerate() {
        let info = read_info(gateway, reference, &contract::info_of(index)).await;
        described.push(RootPackage { path, info });
        let reached = read_packages(gateway, reference, &contract::packages_of(index), sbom).await;
        facts.extend(reached.into_iter().map(|fact| PackageFacts {
            root: index,
            ..fact
        }));
    }
    let mut described = described.into_iter();
    // `roots()` starts with the main package: the fallback is never taken.
    let main = described.next().unwrap_or_else(|| RootPackage {
        path: profile.main.clone(),
        info: DerivationInfo::default(),
    });
    (main, described.collect(), facts)
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
    // Only a failure is explained or rerun: a step that succeeded costs one read, not three
    // (each read mounts the step's output in BuildKit).
    if status == Status::Ok {
        return Ok(Report {
            status,
            log: String::new(),
            ran_at: 0,
        });
    }
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

/// The single step's report; the `packages` facts too when an SBOM was asked for.
/// `attributes` is the number of attributes built.
pub async fn read_build_result<G: Gateway>(
    gateway: &G,
    reference: &str,
    sbom: bool,
    attributes: usize,
) -> Result<BuildResult, UserError> {
    let results = read_results(gateway, reference, contract::RESULTS).await?;
    let closure = read_closure(gateway, reference, contract::CLOSURE, &results).await?;
    // The copied store must be exactly the closure: nothing missing, nothing extra.
    let store_entries = gateway
        .read_dir(reference, contract::STORE_DIR)
        .await
        .map_err(|err| invalid(format!("no copied store paths ({})", err.message)))?;
    let mut copied: Vec<&str> = store_entries.iter().map(|e| e.path.as_str()).collect();
    copied.sort_unstable();
    let expected: Vec<&str> = closure.paths.keys().map(StorePath::base_name).collect();
    if copied != expected {
        return Err(invalid(format!(
            "the copied store paths ({}) differ from the closure ({})",
            copied.len(),
            expected.len()
        )));
    }

    check_empty_tmp(gateway, reference, contract::TMP).await?;
    let profile = read_profile(
        gateway,
        reference,
        contract::MANIFEST_DIR,
        &results,
        attributes,
    )
    .await?;
    let locate = |_: &StorePath| reference.to_string();
    Ok(read_result(
        gateway,
        (results, closure, profile),
        reference,
        sbom,
        locate,
    )
    .await)
}

/// The rest of a build's result, read alike in both plans once the results, the closure and the
/// profile are known: the packages' facts (from `packages_ref`, the step that evaluated them),
/// the main package's programs, the CA bundle and the time zones, each file read from the ref
/// `locate` gives for its store path.
pub async fn read_result<G: Gateway>(
    gateway: &G,
    (results, closure, profile): (Vec<StorePath>, closure::Closure, Profile),
    packages_ref: &str,
    sbom: bool,
    locate: impl Fn(&StorePath) -> String + Copy,
) -> BuildResult {
    let (main, others, packages) = read_root_packages(gateway, packages_ref, &profile, sbom).await;
    let executables = read_executables(
        gateway,
        &locate(&main.path),
        &format!("{}/bin", main.path),
        &profile.root_links,
    )
    .await;
    let roots = profile.roots();
    let (ca_bundle, tz_dir) = futures_util::future::join(
        nixpkgs_files::find_ca_bundle(gateway, &closure, &roots, locate),
        nixpkgs_files::find_tz_dir(gateway, &roots, locate),
    )
    .await;
    BuildResult {
        work: String::new(),
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
    }
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

/// The most directories of the image's root read back (each is one ReadDir), and how deep.
const MAX_ROOT_DIRS: usize = 4096;
const MAX_ROOT_DEPTH: usize = 16;

/// The image's root the builder left in `dir` of `reference`: every link checked to point at its
/// own path in one of `roots`, every directory (only where several packages are merged) read
/// and checked the same way. Its top-level entries, sorted.
pub async fn read_root_links<G: Gateway>(
    gateway: &G,
    reference: &str,
    dir: &str,
    roots: &[StorePath],
) -> Result<Vec<RootLink>, UserError> {
    let entries = gateway.read_dir(reference, dir).await.unwrap_or_default();
    let mut pending = validate_root_entries(roots, "", &entries)?;
    let mut links: Vec<RootLink> = entries
        .iter()
        .map(|entry| RootLink {
            name: base_name(&entry.path).to_string(),
        })
        .collect();
    links.sort_by(|a, b| a.name.cmp(&b.name));
    let mut read = 0;
    while let Some(relative) = pending.pop() {
        read += 1;
        if read > MAX_ROOT_DIRS || relative.split('/').count() > MAX_ROOT_DEPTH {
            return Err(invalid(format!(
                "the image's root has more than {MAX_ROOT_DIRS} merged directories or deeper than {MAX_ROOT_DEPTH} levels"
            )));
        }
        let entries = gateway
            .read_dir(reference, &format!("{dir}/{relative}"))
            .await
            .map_err(|err| invalid(format!("root directory {relative:?} ({})", err.message)))?;
        pending.extend(validate_root_entries(roots, &relative, &entries)?);
    }
    Ok(links)
}

/// The last part of a path as ReadDir names an entry.
fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or_default()
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

/// The derivations a package is built from (facts.nix's `packages` at `path`, written only with
/// --sbom): none when no SBOM was asked for, or it is missing, too big or not readable.
pub async fn read_packages<G: Gateway>(
    gateway: &G,
    reference: &str,
    path: &str,
    sbom: bool,
) -> Vec<PackageFacts> {
    if !sbom {
        return Vec::new();
    }
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

fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.chars().any(char::is_control)
}

/// The entries of the image's root at `relative` (`""`: the top) must each be a link at
/// `relative/N` pointing at exactly `<package>/relative/N` for one of `roots`, or, with several
/// packages, a directory: returned, to be read in turn.
pub fn validate_root_entries(
    roots: &[StorePath],
    relative: &str,
    entries: &[Stat],
) -> Result<Vec<String>, UserError> {
    let several = roots.iter().any(|r| Some(r) != roots.first());
    let mut directories = Vec::new();
    for entry in entries {
        let name = base_name(&entry.path);
        let path = if relative.is_empty() {
            name.to_string()
        } else {
            format!("{relative}/{name}")
        };
        let is_link = entry.mode & MODE_SYMLINK != 0;
        let into_a_root = roots
            .iter()
            .any(|root| entry.linkname == format!("{root}/{path}"));
        if is_plain_name(name) && is_link && into_a_root {
            continue;
        }
        if is_plain_name(name) && !is_link && entry.mode & MODE_DIR != 0 && several {
            directories.push(path);
            continue;
        }
        let into: Vec<String> = roots.iter().map(ToString::to_string).collect();
        return Err(UserError::new(format!(
            "the Nix builder reported an unexpected root entry {path:?} (link to {:?}); only links into {} are allowed",
            entry.linkname,
            into.join(", ")
        )));
    }
    Ok(directories)
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

    /// A graph build step's report for the group `abc-app.drv`, as realise.sh writes it.
    fn group_report(status: &str, log: &str, ran_at: &str) -> FakeGateway {
        let mut group = FakeGateway::default();
        group
            .tree("report")
            .file("/nf/status/abc-app.drv", status)
            .file("/nf/log/abc-app.drv", log)
            .file("/nf/ran-at/abc-app.drv", ran_at);
        group
    }

    #[test]
    fn a_step_that_succeeded_costs_one_read() {
        // Its log and time are never read: they only explain or date a failure.
        let group = group_report("ok\n", "warning: something", "50");
        let report = read(&group, &ReportFiles::of_group("abc-app.drv", "build app")).unwrap();
        assert_eq!(
            (report.status, report.log.as_str(), report.ran_at),
            (Status::Ok, "", 0)
        );
        assert_eq!(group.file_reads(), 1);
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
        let group = group_report("skipped\n", "skipped: dep did not build", "50");
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
    use crate::buildkit::fake_gateway::FakeGateway;

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
        let roots = std::slice::from_ref(&main);
        let good = [stat("bin", MODE_SYMLINK | 0o777, &format!("{MAIN}/bin"))];
        assert_eq!(
            validate_root_entries(roots, "", &good).unwrap(),
            Vec::<String>::new()
        );
        for bad in [
            stat("bin", MODE_SYMLINK | 0o777, "/etc"),
            stat("bin", MODE_SYMLINK | 0o777, &format!("{MAIN}/../x")),
            stat("etc", MODE_SYMLINK | 0o777, &format!("{MAIN}/bin")),
            stat("bin", 0o755, &format!("{MAIN}/bin")),
            stat("..", MODE_SYMLINK, &format!("{MAIN}/..")),
            // One package: nothing is merged, so no directory.
            stat("bin", MODE_DIR | 0o755, ""),
        ] {
            let err = validate_root_entries(roots, "", std::slice::from_ref(&bad)).unwrap_err();
            assert!(err.message.contains("only links into"), "{bad:?}: {err}");
        }
    }

    const BUSYBOX: &str = "/nix/store/4wyqq71kp9g4lz3dhpmy0d35kk63qb30-busybox-1.36";

    #[test]
    fn merged_directories_hold_links_each_at_its_own_path_in_a_package() {
        let roots = [
            StorePath::parse(MAIN).unwrap(),
            StorePath::parse(BUSYBOX).unwrap(),
        ];
        let top = [
            stat("bin", MODE_DIR | 0o755, ""),
            stat("share", MODE_SYMLINK | 0o777, &format!("{BUSYBOX}/share")),
        ];
        assert_eq!(validate_root_entries(&roots, "", &top).unwrap(), ["bin"]);
        let bin = [
            stat("hello", MODE_SYMLINK | 0o777, &format!("{MAIN}/bin/hello")),
            stat("sh", MODE_SYMLINK | 0o777, &format!("{BUSYBOX}/bin/sh")),
        ];
        assert!(validate_root_entries(&roots, "bin", &bin)
            .unwrap()
            .is_empty());
        for bad in [
            // Not at its own path in the package.
            stat("sh", MODE_SYMLINK | 0o777, &format!("{BUSYBOX}/sbin/sh")),
            stat("sh", MODE_SYMLINK | 0o777, &format!("{BUSYBOX}/sh")),
            // Into no package.
            stat(
                "sh",
                MODE_SYMLINK | 0o777,
                "/nix/store/00000000000000000000000000000000-x/bin/sh",
            ),
            // A file of the builder's.
            stat("sh", 0o755, ""),
        ] {
            assert!(
                validate_root_entries(&roots, "bin", std::slice::from_ref(&bad)).is_err(),
                "{bad:?}"
            );
        }
    }

    fn read_links(g: &FakeGateway, roots: &[StorePath]) -> Result<Vec<RootLink>, UserError> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(read_root_links(
                g,
                &FakeGateway::ref_of("report"),
                "/root",
                roots,
            ))
    }

    #[test]
    fn the_whole_merged_root_is_read_and_checked() {
        let roots = [
            StorePath::parse(MAIN).unwrap(),
            StorePath::parse(BUSYBOX).unwrap(),
        ];
        let mut g = FakeGateway::default();
        g.tree("report")
            .dir(
                "/root",
                vec![
                    stat("share", MODE_DIR | 0o755, ""),
                    stat("bin", MODE_SYMLINK | 0o777, &format!("{MAIN}/bin")),
                ],
            )
            .dir("/root/share", vec![stat("doc", MODE_DIR | 0o755, "")])
            .dir(
                "/root/share/doc",
                vec![
                    stat(
                        "hello",
                        MODE_SYMLINK | 0o777,
                        &format!("{MAIN}/share/doc/hello"),
                    ),
                    stat(
                        "busybox",
                        MODE_SYMLINK | 0o777,
                        &format!("{BUSYBOX}/share/doc/busybox"),
                    ),
                ],
            );
        let names: Vec<String> = read_links(&g, &roots)
            .unwrap()
            .into_iter()
            .map(|l| l.name)
            .collect();
        assert_eq!(names, ["bin", "share"]);
        // A planted link two levels down is found.
        g.tree("report").dir(
            "/root/share/doc",
            vec![stat("shadow", MODE_SYMLINK | 0o777, "/etc/shadow")],
        );
        let err = read_links(&g, &roots).unwrap_err();
        assert!(err.message.contains("\"share/doc/shadow\""), "{err}");
        // A directory that cannot be read is refused, not skipped.
        g.tree("report").dirs.remove("/root/share/doc");
        assert!(read_links(&g, &roots).is_err());
    }

    #[test]
    fn collisions_are_read_leniently_and_named_with_both_paths() {
        let text = format!(
            "{MAIN} {BUSYBOX} bin/sh\n{MAIN} {BUSYBOX} share/a b\nnot a line\n{MAIN} /etc bin/x\n{MAIN} {BUSYBOX} ../x\n"
        );
        let collisions = Collision::parse_all(&text);
        assert_eq!(collisions.len(), 2);
        assert_eq!(collisions[1].name, "share/a b");
        let err = contract::collision_error("attributes \"a\", \"b\" of default.nix", &text);
        assert!(
            err.message
                .contains(&format!("bin/sh is in both {MAIN} and {BUSYBOX}")),
            "{err}"
        );
        assert!(err.message.contains("NIX_COLLISIONS=first"), "{err}");
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
