//! The options and build args a `Spec` takes one by one, each read and checked on its own so
//! that a bad value is refused naming the option it came from.

use crate::dockerui::options::{args, Options, Platform};
use crate::dockerui::syntax;

use super::{
    option_error, Collisions, Emulation, NixPlan, SbomScope, SpecError, Warning,
    DEFAULT_MAX_LAYERS, DOCKER_MAX_LAYERS,
};

/// `--platform`'s platforms, else the worker's; each must have a Nix system.
pub(super) fn platforms(
    options: &Options,
    default_platform: &Platform,
) -> Result<Vec<Platform>, SpecError> {
    let platforms = if options.platforms.is_empty() {
        vec![default_platform.clone()]
    } else {
        options.platforms.clone()
    };
    match platforms.iter().find(|p| p.nix_system().is_none()) {
        None => Ok(platforms),
        Some(platform) => Err(option_error(
            "--platform",
            format!(
                "{platform} has no Nix system; nix-frontend builds linux/amd64, linux/arm64, \
                 linux/386, linux/arm/v7, linux/arm/v6, linux/riscv64, linux/ppc64le and linux/s390x"
            ),
        )),
    }
}

/// `BUILDKIT_SBOM_SCAN_STAGE` as true or false; None for anything else (the Dockerfile frontend
/// also takes stage names there, which mean nothing here).
fn sbom_scan_stage(options: &Options) -> Option<bool> {
    match options
        .build_arg(args::SBOM_SCAN_STAGE)?
        .to_ascii_lowercase()
        .as_str()
    {
        "1" | "true" | "t" => Some(true),
        "" | "0" | "false" | "f" => Some(false),
        _ => None,
    }
}

pub(super) fn sbom_scope(options: &Options) -> Option<SbomScope> {
    options.sbom.then(|| SbomScope {
        build_dependencies: sbom_scan_stage(options).unwrap_or(false),
    })
}

/// A `BUILDKIT_SBOM_SCAN_STAGE` that is neither true nor false (e.g. stage names, shared with
/// Dockerfile builds) is taken as false, and said.
pub(super) fn sbom_scan_stage_warning(options: &Options) -> Option<Warning> {
    let value = options.build_arg(args::SBOM_SCAN_STAGE)?;
    sbom_scan_stage(options).is_none().then(|| Warning {
        rule: "InvalidBuildArg",
        location: None,
        message: format!(
            "build arg BUILDKIT_SBOM_SCAN_STAGE={value:?} is taken as false: a Nix build has no stages to name; true adds the build-time closure to the SBOM"
        ),
    })
}

pub(super) fn source_date_epoch(options: &Options) -> Result<Option<i64>, SpecError> {
    let Some(text) = options.build_arg(args::SOURCE_DATE_EPOCH) else {
        return Ok(None);
    };
    text.parse::<i64>()
        .ok()
        .filter(|s| (0..=253_402_300_799).contains(s))
        .map(Some)
        .ok_or_else(|| {
            option_error(
                "build arg SOURCE_DATE_EPOCH",
                format!("{text:?} is not a Unix time in seconds (e.g. $(git log -1 --format=%ct))"),
            )
        })
}

pub(super) fn max_layers(options: &Options) -> Result<usize, SpecError> {
    let Some(text) = options.build_arg(args::NIX_MAX_LAYERS) else {
        return Ok(DEFAULT_MAX_LAYERS);
    };
    text.parse::<usize>()
        .ok()
        .filter(|n| (2..=DOCKER_MAX_LAYERS).contains(n))
        .ok_or_else(|| {
            option_error(
                "build arg NIX_MAX_LAYERS",
                format!(
                    "{text:?} is not a layer count from 2 to {DOCKER_MAX_LAYERS} (Docker's limit)"
                ),
            )
        })
}

pub(super) fn emulation(options: &Options) -> Result<Emulation, SpecError> {
    match options.build_arg(args::NIX_EMULATE) {
        None | Some("builds") => Ok(Emulation::Builds),
        Some("all") => Ok(Emulation::All),
        Some(other) => Err(option_error(
            "build arg NIX_EMULATE",
            format!("{other:?} is neither builds (Nix runs natively, only builds for the target platform are emulated) nor all (the whole builder image emulated)"),
        )),
    }
}

pub(super) fn nix_plan(options: &Options) -> Result<NixPlan, SpecError> {
    match options.build_arg(args::NIX_PLAN) {
        None | Some("graph") => Ok(NixPlan::Graph),
        Some("single") => Ok(NixPlan::Single),
        Some(other) => Err(option_error(
            "build arg NIX_PLAN",
            format!("{other:?} is not a plan: use graph (a build step per group of derivations, cached and exported by BuildKit) or single (one step over a persistent store)"),
        )),
    }
}

/// What a name that two of the image's packages provide does (`NIX_COLLISIONS`).
pub(super) fn collisions(options: &Options) -> Result<Collisions, SpecError> {
    match options.build_arg(args::NIX_COLLISIONS) {
        None | Some("error") => Ok(Collisions::Error),
        Some("first") => Ok(Collisions::First),
        Some(other) => Err(option_error(
            "build arg NIX_COLLISIONS",
            format!("{other:?} is no rule: use error (a name two packages provide stops the build) or first (the package listed first wins, with a warning)"),
        )),
    }
}

/// Build steps when `NIX_MAX_BUILD_STEPS` is not given: a container start costs about 175 ms on
/// a small builder, so a wide graph is joined into a few steps rather than hundreds.
const DEFAULT_MAX_BUILD_STEPS: usize = 8;
const MAX_BUILD_STEPS: usize = 256;

pub(super) fn max_build_steps(options: &Options) -> Result<usize, SpecError> {
    let Some(text) = options.build_arg(args::NIX_MAX_BUILD_STEPS) else {
        return Ok(DEFAULT_MAX_BUILD_STEPS);
    };
    text.parse::<usize>()
        .ok()
        .filter(|n| (2..=MAX_BUILD_STEPS).contains(n))
        .ok_or_else(|| {
            option_error(
                "build arg NIX_MAX_BUILD_STEPS",
                format!("{text:?} is not a step count from 2 to {MAX_BUILD_STEPS}"),
            )
        })
}

/// `NIX_DOWNLOAD_MIN_BYTES` when not given. Each file BuildKit downloads is a vertex of every
/// build, which BuildKit 0.13 (Docker 26) pays 2-4 ms for after the export even when cached
/// (0.3 ms on 0.32), and a cold build with BuildKit downloading 300 files of 0.8 MB took 2-3 s
/// longer than with Nix downloading them (`bench/compare.py --fixtures substitute`). A file is
/// worth it when fetching it again, each time its piece runs, costs more: at 50 MB/s a 4 MiB
/// file costs 80 ms, twenty to forty no-change rebuilds' worth on Docker 26.
pub const DEFAULT_DOWNLOAD_MIN_BYTES: u64 = 4 * 1024 * 1024;

pub(super) fn download_min_bytes(options: &Options) -> Result<u64, SpecError> {
    let Some(text) = options.build_arg(args::NIX_DOWNLOAD_MIN_BYTES) else {
        return Ok(DEFAULT_DOWNLOAD_MIN_BYTES);
    };
    text.parse::<u64>().map_err(|_| {
        option_error(
            "build arg NIX_DOWNLOAD_MIN_BYTES",
            format!("{text:?} is not a number of bytes (0: every file)"),
        )
    })
}

pub(super) fn cache_id(options: &Options) -> Result<Option<String>, SpecError> {
    match options.build_arg(args::NIX_CACHE_ID) {
        None => Ok(None),
        Some(id) if id.len() <= 200 && !id.chars().any(char::is_control) => {
            Ok(Some(id.to_string()))
        }
        Some(_) => Err(option_error(
            "build arg NIX_CACHE_ID",
            "use at most 200 printable characters",
        )),
    }
}

pub(super) fn nixpkgs(options: &Options) -> Result<Option<String>, SpecError> {
    match options.build_arg(args::NIXPKGS) {
        None => Ok(None),
        Some(value) if !value.chars().any(char::is_control) && !value.starts_with('-') => {
            Ok(Some(value.to_string()))
        }
        Some(_) => Err(option_error(
            "build arg NIXPKGS",
            "give a path or URL, e.g. https://github.com/NixOS/nixpkgs/archive/<rev>.tar.gz",
        )),
    }
}

/// NIXPKGS_SHA256: the hash `builtins.fetchTarball` checks NIXPKGS's tarball against (nix32,
/// base16 or SRI, as `nix-prefetch-url --unpack` or `nix hash` print it), given only with an
/// http(s) NIXPKGS.
pub(super) fn nixpkgs_sha256(options: &Options) -> Result<Option<String>, SpecError> {
    let Some(hash) = options.build_arg(args::NIXPKGS_SHA256) else {
        return Ok(None);
    };
    if !options
        .build_arg(args::NIXPKGS)
        .is_some_and(crate::nix::pins::is_download_url)
    {
        return Err(option_error(
            "build arg NIXPKGS_SHA256",
            "it is the hash of NIXPKGS's tarball: give NIXPKGS=https://…/nixpkgs.tar.gz too",
        ));
    }
    if !is_sha256_text(hash) {
        return Err(option_error(
            "build arg NIXPKGS_SHA256",
            "give the tarball's sha256 as `nix-prefetch-url --unpack URL` prints it (or sha256-… SRI)",
        ));
    }
    Ok(Some(hash.to_string()))
}

/// A SHA-256 as Nix reads one: nix32 (52 characters, `nix-prefetch-url`'s), base16 (64), either
/// after `sha256:`, or base64 (44) bare or after `sha256-` (SRI).
fn is_sha256_text(hash: &str) -> bool {
    use crate::nix::closure::NIX_BASE32;
    let bare = hash.strip_prefix("sha256:").unwrap_or(hash);
    let nix32 = bare.len() == 52 && bare.chars().all(|c| NIX_BASE32.contains(c));
    let base16 = bare.len() == 64 && bare.chars().all(|c| c.is_ascii_hexdigit());
    let base64 = hash.strip_prefix("sha256-").unwrap_or(hash);
    let base64 = base64.len() == 44
        && base64.is_ascii()
        && base64.ends_with('=')
        && base64[..43]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/');
    nix32 || base16 || base64
}

/// The Nix binary cache of NIX_CACHE_PUSH: an http, https or s3 URL (Nix's store URL, query
/// parameters allowed), one line without spaces.
pub(super) fn cache_push(options: &Options) -> Result<Option<String>, SpecError> {
    let Some(url) = options.build_arg(args::NIX_CACHE_PUSH) else {
        return Ok(None);
    };
    let scheme_ok = ["http://", "https://", "s3://"]
        .iter()
        .any(|scheme| url.starts_with(scheme) && url.len() > scheme.len());
    if !scheme_ok || url.len() > 2000 || url.chars().any(|c| c.is_control() || c == ' ') {
        return Err(option_error(
            &format!("build arg {}", args::NIX_CACHE_PUSH),
            "give the binary cache's http://, https:// or s3:// URL (sign with --secret id=nix-cache-key,src=KEYFILE)",
        ));
    }
    Ok(Some(url.to_string()))
}

/// The Nix setting NIX_SUBSTITUTERS becomes (`<name> = <value>` in `nix_settings`).
pub(super) const SUBSTITUTERS_SETTING: &str = "substituters";

/// Extra Nix settings from NIX_SUBSTITUTERS and NIX_TRUSTED_PUBLIC_KEYS, one line each.
pub(super) fn nix_settings(options: &Options) -> Result<Vec<String>, SpecError> {
    let mut settings = Vec::new();
    for (arg, setting) in [
        (args::NIX_SUBSTITUTERS, SUBSTITUTERS_SETTING),
        (args::NIX_TRUSTED_PUBLIC_KEYS, "trusted-public-keys"),
    ] {
        if let Some(value) = options.build_arg(arg) {
            // A Nix setting's value ends at the line's end: no control character may pass, or
            // a value could add settings of its own.
            if value.chars().any(char::is_control) {
                return Err(option_error(
                    &format!("build arg {arg}"),
                    "separate entries with spaces; no newlines or control characters",
                ));
            }
            settings.push(format!("{setting} = {value}"));
        }
    }
    Ok(settings)
}

/// A warning naming the build args given that nothing reads: not ours, Docker's or declared.
pub(super) fn unused_build_args_warning(
    options: &Options,
    declared: &[syntax::ArgDecl],
) -> Option<Warning> {
    let unused: Vec<&str> = options
        .build_args
        .keys()
        .map(String::as_str)
        .filter(|name| !args::is_known(name) && !declared.iter().any(|arg| arg.name == *name))
        .collect();
    (!unused.is_empty()).then(|| Warning {
        rule: "UnusedBuildArgs",
        location: None,
        message: format!(
            "build args not consumed: {} (declare them with ARG in a Dockerfile, or pass Nix arguments with NIX_ARGS)",
            unused.join(", ")
        ),
    })
}

/// `--arg NAME EXPR` and `--argstr NAME VALUE` triples, shell-quoted as on a command line.
pub(super) fn parse_nix_args(text: &str) -> Result<Vec<String>, String> {
    let words = shell_words::split(text).map_err(|_| format!("unterminated quote in {text:?}"))?;
    let mut chunks = words.chunks(3);
    let mut out = Vec::new();
    for chunk in &mut chunks {
        match chunk {
            [flag, name, value] if (flag == "--arg" || flag == "--argstr") && is_nix_identifier(name) => {
                out.extend([flag.clone(), name.clone(), value.clone()]);
            }
            _ => {
                return Err(format!(
                    "{:?} is not `--arg NAME EXPR` or `--argstr NAME VALUE`; e.g. NIX_ARGS='--argstr version 1.2 --arg debug true'",
                    chunk.join(" ")
                ))
            }
        }
    }
    Ok(out)
}

fn is_nix_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_-'".contains(c))
}
