//! The image from the trees Nix left, over the gateway: the config from the derivation, the
//! Dockerfile and the options; the layers planned (`plan::image_stage`) and solved. Shared by
//! both plans (`frontend` for the single step, `graph_build` for the build steps).

use crate::buildkit::gateway::Gateway;
use crate::buildkit::llb;
use crate::buildkit::result::PlatformImage;
use std::collections::BTreeSet;

use crate::builder::report;
use crate::buildkit::gateway::{MODE_DIR, MODE_SYMLINK};
use crate::buildkit::platform::Platform;
use crate::dockerui::options::{normalize_image_reference, ContextSource};
use crate::dockerui::spec::Spec;
use crate::dockerui::syntax::BaseImage;
use crate::error::UserError;
use crate::nix::closure::StorePath;
use crate::plan::base::{Base, BaseConfig};
use crate::plan::config::{self, PackageImageConfig};
use crate::plan::{self, BuildResult};
use bollard_buildkit_proto::fsutil::types::Stat;

/// The image from the trees Nix left: the config from the derivation, the Dockerfile and the
/// options, the layers planned and solved.
pub async fn assemble_image<G: Gateway>(
    gateway: &G,
    spec: &Spec,
    result: &BuildResult,
    trees: &plan::Trees,
    use_merge: bool,
    builder_image: &llb::Output,
) -> Result<PlatformImage, UserError> {
    let package = match &result.main.info.image_config {
        Some(json) => PackageImageConfig::parse(json)
            .map_err(|err| UserError::new(format!("{}: {err}", spec.describe_target())))?,
        None => PackageImageConfig::default(),
    };
    let base = match &spec.settings.base {
        Some(from) => {
            let (mut base, config) = resolve_base(gateway, spec, from).await?;
            let mut shared = base.top_dirs.clone();
            shared.extend(base.top_links.iter().cloned());
            let with_profile = dirs_with_profile(gateway, result, trees, &shared).await?;
            base.merged_dirs = with_profile.intersection(&base.top_dirs).cloned().collect();
            let linked: Vec<String> = with_profile
                .intersection(&base.top_links)
                .cloned()
                .collect();
            if !linked.is_empty() {
                let (manifest, manifest_dir) = trees.manifest();
                let step = plan::base::links_step(
                    spec,
                    builder_image.clone(),
                    &base.image,
                    (manifest, format!("{manifest_dir}/profile")),
                    &linked,
                );
                base.linked = Some((step, linked));
            }
            Some((base, config))
        }
        None => None,
    };
    let mut effective = config::effective(spec, result, &package);
    if let Some((_, base_config)) = &base {
        effective = plan::base::inherit(effective, base_config);
    }
    let directories = config::made_directories(&effective)
        .map_err(|err| UserError::new(format!("{}: {err}", spec.describe_target())))?;
    let image = plan::image_stage(
        spec,
        result,
        trees,
        use_merge,
        &effective,
        &directories,
        base.as_ref().map(|(base, _)| base),
    );
    debug_dump("image stage", &image);
    let reference = gateway
        .solve(llb::definition(&image))
        .await
        .map_err(|err| UserError::gateway("assembling the image", err))?;
    warn_without_entrypoint(gateway, spec, result).await;
    warn_of_collisions(gateway, result).await;
    Ok(PlatformImage {
        platform: spec.platform.clone(),
        reference,
        config: plan::image_config(spec, &effective),
        sbom: None,
    })
}

/// The `FROM` image: its config (checked against the build's platform), its LLB source pinned by
/// digest, and what it holds under `/nix/store` and at `/`. A `--build-context NAME=docker-image://`
/// stands for `FROM NAME`, as in Docker.
async fn resolve_base<G: Gateway>(
    gateway: &G,
    spec: &Spec,
    from: &BaseImage,
) -> Result<(Base, BaseConfig), UserError> {
    let at =
        |message: String| UserError::new(format!("{}:{}: {message}", spec.build_file, from.line));
    if let Some(wanted) = &from.platform {
        let wanted = Platform::parse(wanted)
            .map_err(|err| at(format!("FROM --platform={wanted}: {err}")))?;
        if wanted != spec.platform {
            return Err(at(format!(
                "FROM --platform={wanted} differs from the platform this image is built for, {}; \
                 the closure and its base must share one",
                spec.platform
            )));
        }
    }
    let named = spec
        .named_contexts
        .iter()
        .find_map(|(name, source)| match source {
            ContextSource::Image(reference) if *name == from.image => Some(reference.clone()),
            _ => None,
        });
    let reference = match named {
        Some(reference) => reference,
        None => normalize_image_reference(&from.image)
            .map_err(|err| at(format!("FROM {}: {err}", from.image)))?,
    };
    let platform = spec.platform.to_pb();
    let (digest, config_json) = gateway
        .resolve_image_config(&reference, &platform, None)
        .await
        .map_err(|err| {
            at(format!(
                "FROM {}: cannot pull {reference} for {}: {}",
                from.image, spec.platform, err.message
            ))
        })?;
    let config =
        BaseConfig::parse(&config_json).map_err(|err| at(format!("FROM {}: {err}", from.image)))?;
    config
        .check_platform(&from.image, &spec.platform)
        .map_err(at)?;
    let pinned = if reference.contains('@') || !digest.starts_with("sha256:") {
        reference.clone()
    } else {
        format!("{reference}@{digest}")
    };
    let image = llb::image(
        &pinned,
        None,
        &platform,
        &llb::Meta::named(format!("FROM {}", from.image)),
    );
    let solved = gateway
        .solve(llb::definition(&image))
        .await
        .map_err(|err| UserError::gateway(&format!("pulling FROM {}", from.image), err))?;
    // Listings the base cannot give (no /nix/store) are empty: nothing is skipped or merged.
    let names = |stats: Vec<Stat>, dirs_only: bool| -> BTreeSet<String> {
        stats
            .into_iter()
            .filter(|stat| !dirs_only || stat.mode & MODE_DIR != 0)
            .map(|stat| stat.path)
            .filter(|name| !name.is_empty() && !name.contains('/'))
            .collect()
    };
    let store_paths = names(
        gateway
            .read_dir(&solved, "/nix/store")
            .await
            .unwrap_or_default(),
        false,
    );
    let top = gateway.read_dir(&solved, "/").await.unwrap_or_default();
    let links_on_top = top
        .iter()
        .filter(|stat| stat.mode & MODE_SYMLINK != 0)
        .map(|stat| stat.path.clone())
        .filter(|name| !name.is_empty() && !name.contains('/') && name != "." && name != "..")
        .collect();
    let top_dirs = names(top, true);
    Ok((
        Base {
            name: from.image.clone(),
            image,
            store_paths,
            top_dirs,
            top_links: links_on_top,
            merged_dirs: BTreeSet::new(),
            linked: None,
        },
        config,
    ))
}

/// Directories of links read per top-level name of the profile: more is a hostile builder.
const MAX_PROFILE_DIRS: usize = 1024;

/// The result's top-level directories whose names the base has too and whose profile of links
/// the builder made, checked (`checked_profile`).
async fn dirs_with_profile<G: Gateway>(
    gateway: &G,
    result: &BuildResult,
    trees: &plan::Trees,
    base_dirs: &BTreeSet<String>,
) -> Result<BTreeSet<String>, UserError> {
    let clashing: Vec<&str> = result
        .root_links
        .iter()
        .map(|link| link.name.as_str())
        .filter(|name| base_dirs.contains(*name))
        .collect();
    let mut merged = BTreeSet::new();
    if clashing.is_empty() {
        return Ok(merged);
    }
    let (manifest, manifest_dir) = trees.manifest();
    let reference = gateway
        .solve(llb::definition(&manifest))
        .await
        .map_err(|err| UserError::gateway("reading the result's links", err))?;
    let roots: Vec<StorePath> = result.roots().map(|root| root.path.clone()).collect();
    for dir in clashing {
        if checked_profile(gateway, &reference, manifest_dir, dir, &roots).await? {
            merged.insert(dir.to_string());
        }
    }
    Ok(merged)
}

/// Whether the result has a profile of links for `dir` (a result entry that is not a directory
/// has none: its link stays as it is), checked as the root is: each entry a link to its own
/// path in a package, or (with several) a directory of such links.
async fn checked_profile<G: Gateway>(
    gateway: &G,
    reference: &str,
    manifest_dir: &str,
    dir: &str,
    roots: &[StorePath],
) -> Result<bool, UserError> {
    let mut pending = vec![dir.to_string()];
    let mut read = 0;
    while let Some(relative) = pending.pop() {
        read += 1;
        if read > MAX_PROFILE_DIRS {
            return Err(UserError::new(format!(
                "the Nix builder reported more than {MAX_PROFILE_DIRS} directories of links in /{dir}"
            )));
        }
        let entries = match gateway
            .read_dir(reference, &format!("{manifest_dir}/profile/{relative}"))
            .await
        {
            Ok(entries) => entries,
            Err(_) if relative == dir => return Ok(false),
            Err(err) => return Err(UserError::gateway("reading the result's links", err)),
        };
        pending.extend(report::validate_root_entries(roots, &relative, &entries)?);
    }
    Ok(true)
}

async fn warn_without_entrypoint<G: Gateway>(gateway: &G, spec: &Spec, result: &BuildResult) {
    if plan::default_program(result).is_none()
        && spec.settings.entrypoint.is_none()
        && spec.settings.cmd.is_none()
    {
        gateway
            .warn("no entrypoint: the result (the first attribute's package) has no meta.mainProgram and not exactly one program in bin/; set ENTRYPOINT or CMD")
            .await;
    }
}

/// Names two packages provide that `NIX_COLLISIONS=first` settled: the first package's entry is
/// in the image.
async fn warn_of_collisions<G: Gateway>(gateway: &G, result: &BuildResult) {
    const SHOWN: usize = 10;
    for collision in result.collisions.iter().take(SHOWN) {
        gateway
            .warn(&format!(
                "{}; the image has {}'s (NIX_COLLISIONS=first)",
                collision.describe(),
                collision.first
            ))
            .await;
    }
    if result.collisions.len() > SHOWN {
        gateway
            .warn(&format!(
                "and {} more names two packages provide (NIX_COLLISIONS=first)",
                result.collisions.len() - SHOWN
            ))
            .await;
    }
}

/// With `NIX_FRONTEND_DEBUG=1` in the frontend's environment, the planned LLB goes to stderr
/// (dockerd's log) as readable JSON.
pub fn debug_dump(what: &str, output: &llb::Output) {
    if std::env::var_os("NIX_FRONTEND_DEBUG").is_some_and(|v| v == "1") {
        let json = llb::definition_to_json(&llb::definition(output));
        eprintln!("nix-frontend: {what}: {json:#}");
    }
}
