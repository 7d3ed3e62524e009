//! The image from the trees Nix left, over the gateway: the config from the derivation, the
//! Dockerfile and the options; the layers planned (`plan::image_stage`) and solved. Shared by
//! both plans (`frontend` for the single step, `graph_build` for the build steps).

use crate::buildkit::gateway::Gateway;
use crate::buildkit::llb;
use crate::buildkit::result::PlatformImage;
use crate::dockerui::spec::Spec;
use crate::error::UserError;
use crate::plan::config::{self, PackageImageConfig};
use crate::plan::{self, BuildResult};

/// The image from the trees Nix left: the config from the derivation, the Dockerfile and the
/// options, the layers planned and solved.
pub async fn assemble_image<G: Gateway>(
    gateway: &G,
    spec: &Spec,
    result: &BuildResult,
    trees: &plan::Trees,
    use_merge: bool,
) -> Result<PlatformImage, UserError> {
    let package = match &result.main.info.image_config {
        Some(json) => PackageImageConfig::parse(json)
            .map_err(|err| UserError::new(format!("{}: {err}", spec.describe_target())))?,
        None => PackageImageConfig::default(),
    };
    let effective = config::effective(spec, result, &package);
    let image = plan::image_stage(spec, result, trees, use_merge, &effective);
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
