//! What to build: the options and the build file turned into one `Spec`. Pure.
//!
//! Two modes: the build file is a Nix file (`-f default.nix`, name ends in `.nix`), or it is a
//! Dockerfile-style syntax file naming a Nix file in the context (default `default.nix`).
//!
//! This file holds the `Spec` and how it is made; which Nix file and attribute to build is read
//! in `target.rs`, every other option and build arg in `build_args.rs`.

mod build_args;
mod target;

use std::collections::BTreeMap;
use std::fmt;

use crate::dockerui::options::{args, Options, Platform};
use crate::dockerui::syntax::{self, SyntaxError};

use build_args::{
    cache_id, cache_push, collisions, download_min_bytes, emulation, max_build_steps, max_layers,
    nix_plan, nix_settings, nixpkgs, nixpkgs_sha256, parse_nix_args, platforms,
    sbom_scan_stage_warning, sbom_scope, source_date_epoch, unused_build_args_warning,
};
use target::nix_target;

pub use crate::dockerui::options::args::{DEFAULT_MAX_LAYERS, DEFAULT_NIX_IMAGE};
pub const DEFAULT_NIX_FILE: &str = "default.nix";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The build file is the Nix file itself.
    Nix,
    /// The build file is a Dockerfile-style syntax file.
    Dockerfile,
}

/// Image settings the user gave (Dockerfile instructions and `--label`); they override what the
/// derivation implies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageSettings {
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub env: Vec<(String, String)>,
    pub labels: BTreeMap<String, String>,
    pub expose: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
    pub healthcheck: Option<syntax::Healthcheck>,
    /// `FROM IMAGE`: the base under the closure (none is `scratch`).
    pub base: Option<syntax::BaseImage>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub mode: Mode,
    /// The build file's name, for messages.
    pub build_file: String,
    /// The Nix file, relative to the build context.
    pub nix_file: String,
    /// Where the build file lies in the build context, when it is the Nix file (`-f x.nix`
    /// without NIX_FILE): a Nix error in it is shown on the build file's text.
    pub build_file_in_context: Option<String>,
    /// `nix_file` is a flake (`flake.nix`): built with `nix build path:<dir>#<attr>`.
    pub flake: bool,
    /// No file was named: `default.nix`, or `flake.nix` when the context has no default.nix.
    pub nix_file_defaulted: bool,
    /// The attributes to build (`-A`; a flake's packages), in the order given: the image is the
    /// closure of all of them, the first one's program its entrypoint. None: the file's value.
    pub attrs: Vec<String>,
    /// Fully qualified builder image reference.
    pub nix_image: String,
    /// The platform this spec builds (one of `platforms`).
    pub platform: Platform,
    /// Where the Nix steps run: `platform`, or the worker's own when it would emulate
    /// `platform` and `emulate` is `Emulation::Builds` (set by the pipeline, which knows the
    /// worker).
    pub nix_platform: Platform,
    /// `NIX_EMULATE`: what runs emulated for a platform the worker does not run natively.
    pub emulate: Emulation,
    /// Every platform asked for (`--platform a,b`): one image each, under one index.
    pub platforms: Vec<Platform>,
    pub settings: ImageSettings,
    /// Warnings for the build summary: deprecated instructions, build args nothing used.
    pub warnings: Vec<Warning>,
    /// The build file's ARG declarations (Dockerfile mode), for `--print=outline`.
    pub args: Vec<syntax::ArgDecl>,
    pub no_cache: bool,
    /// Timestamp for every file of the image, Unix seconds.
    pub source_date_epoch: Option<i64>,
    /// At most this many layers (Docker's hard limit is 125).
    pub max_layers: usize,
    /// The id of the persistent Nix store cache mount, when the user chose one.
    pub cache_id: Option<String>,
    /// How Nix's work is planned (`NIX_PLAN`).
    pub plan: NixPlan,
    /// At most about this many build steps in graph mode (`NIX_MAX_BUILD_STEPS`).
    pub max_build_steps: usize,
    /// Paths whose file in an HTTP binary cache is at least this big are downloaded by BuildKit
    /// (`NIX_DOWNLOAD_MIN_BYTES`).
    pub download_min_bytes: u64,
    /// `--arg NAME EXPR` / `--argstr NAME VALUE` for Nix, from NIX_ARGS, as argv entries.
    pub nix_args: Vec<String>,
    /// `-I nixpkgs=…` from NIXPKGS.
    pub nixpkgs: Option<String>,
    /// NIXPKGS_SHA256: NIXPKGS's tarball pinned by its hash (fetched ahead, `nix::pins`).
    pub nixpkgs_sha256: Option<String>,
    /// Extra Nix settings (substituters, trusted-public-keys), one `name = value` line each.
    pub nix_settings: Vec<String>,
    /// `NIX_CACHE_PUSH`: the Nix binary cache each build step pushes what it built to.
    pub cache_push: Option<String>,
    /// `--network` for every step that runs Nix (`None`: BuildKit's sandbox network).
    pub network: Option<crate::dockerui::options::NetworkMode>,
    /// `--build-context NAME=…`, sorted by name: mounted at `/nf-contexts/<index>` in every
    /// step that evaluates.
    pub named_contexts: Vec<(String, crate::dockerui::options::ContextSource)>,
    /// `--sbom=true`: the SBOM is written, and what it covers.
    pub sbom: Option<SbomScope>,
    /// With several attributes, what a name two of them provide does (`NIX_COLLISIONS`).
    pub collisions: Collisions,
}

/// What a name that two of the image's packages provide (`bin/sh` in both) does in its root
/// links, where directories are merged as nixpkgs' buildEnv merges them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Collisions {
    /// The build stops with an error naming both store paths (the default, as in buildEnv).
    #[default]
    Error,
    /// The package listed first wins; each collision is a warning.
    First,
}

/// What the SBOM covers besides the image's closure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SbomScope {
    /// The build-time closure too (`BUILDKIT_SBOM_SCAN_STAGE=true`, the build arg with which the
    /// Dockerfile frontend scans build stages): every derivation the result is built from.
    pub build_dependencies: bool,
}

/// A warning about the build file or the options: shown in the build summary and by `--check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The rule name `--check` reports (`MaintainerDeprecated`, `UnusedBuildArgs`, ...).
    pub rule: &'static str,
    /// The file and line it points at, when it points at one.
    pub location: Option<(String, usize)>,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some((file, line)) => write!(f, "{file}:{line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Everything the build would refuse or warn about, from the options and the build file alone
/// (`--check`): the same decisions `Spec::new` makes, without stopping at the first error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// The build file's errors in file order, then an option's error.
    pub errors: Vec<SpecError>,
    pub warnings: Vec<Warning>,
}

/// Checks the build: what `Spec::new` would refuse (every error of the build file, then the
/// first option error) and warn about.
/// The spec comes back too when nothing was refused.
pub fn check(options: &Options, text: &str, default_platform: &Platform) -> (Check, Option<Spec>) {
    let (spec, syntax_errors, warnings) = Spec::checked(options, text, default_platform);
    let mut errors: Vec<SpecError> = syntax_errors.into_iter().map(SpecError::Syntax).collect();
    let spec = spec.map_err(|err| errors.push(err)).ok();
    let spec = spec.filter(|_| errors.is_empty());
    (Check { errors, warnings }, spec)
}

/// Docker refuses images with more layers than this.
pub const DOCKER_MAX_LAYERS: usize = 125;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpecError {
    Syntax(SyntaxError),
    Option { option: String, message: String },
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpecError::Syntax(err) => err.fmt(f),
            SpecError::Option { option, message } => write!(f, "{option}: {message}"),
        }
    }
}

impl std::error::Error for SpecError {}

fn option_error(option: &str, message: impl Into<String>) -> SpecError {
    SpecError::Option {
        option: option.to_string(),
        message: message.into(),
    }
}

impl Spec {
    /// The same build for another of its platforms.
    pub fn for_platform(&self, platform: &Platform) -> Spec {
        Spec {
            platform: platform.clone(),
            nix_platform: platform.clone(),
            ..self.clone()
        }
    }

    /// The binary caches `NIX_SUBSTITUTERS` names, as its setting in `nix_settings` holds them.
    pub fn named_substituters(&self) -> impl Iterator<Item = &str> {
        let prefix = format!("{} = ", build_args::SUBSTITUTERS_SETTING);
        self.nix_settings
            .iter()
            .filter_map(move |line| line.strip_prefix(prefix.as_str()))
            .flat_map(str::split_whitespace)
    }

    /// What is built, for messages: `attribute "x" of default.nix`, `attributes "x", "y" of
    /// default.nix` or the file.
    pub fn describe_target(&self) -> String {
        match self.attrs.as_slice() {
            [] => self.nix_file.clone(),
            [attr] => format!("attribute {attr:?} of {}", self.nix_file),
            attrs => {
                let names: Vec<String> = attrs.iter().map(|a| format!("{a:?}")).collect();
                format!("attributes {} of {}", names.join(", "), self.nix_file)
            }
        }
    }

    /// The attributes as `-A` arguments for progress names: ` -A x -A y`, or nothing.
    pub fn attr_arguments(&self) -> String {
        self.attrs.iter().map(|a| format!(" -A {a}")).collect()
    }

    /// `text` is the build file named by `options.filename`; `default_platform` the worker's.
    /// The build file's first error, else the first option error, is the error.
    pub fn new(
        options: &Options,
        text: &str,
        default_platform: &Platform,
    ) -> Result<Spec, SpecError> {
        let (spec, syntax_errors, _) = Spec::checked(options, text, default_platform);
        match syntax_errors.into_iter().next() {
            Some(err) => Err(SpecError::Syntax(err)),
            None => spec,
        }
    }

    /// The spec as if the build file's instructions in error were absent, those errors, and the
    /// warnings: the one place both the build and `--check` decide them.
    fn checked(
        options: &Options,
        text: &str,
        default_platform: &Platform,
    ) -> (Result<Spec, SpecError>, Vec<SyntaxError>, Vec<Warning>) {
        let (mut file, syntax_errors) = read_build_file(options, text);
        file.warnings
            .extend(unused_build_args_warning(options, &file.args));
        file.warnings.extend(sbom_scan_stage_warning(options));
        let warnings = file.warnings.clone();
        (
            Spec::from_file(options, file, default_platform),
            syntax_errors,
            warnings,
        )
    }

    fn from_file(
        options: &Options,
        mut file: BuildFile,
        default_platform: &Platform,
    ) -> Result<Spec, SpecError> {
        let build_file = options.filename.clone();
        let base_name = build_file
            .rsplit('/')
            .next()
            .unwrap_or(&build_file)
            .to_string();
        let mode = file.mode;
        file.settings
            .labels
            .extend(options.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        let target = nix_target(options, mode, &base_name, &file.directives)?;
        let nix_image = match options.build_arg(args::NIX_IMAGE) {
            Some(image) => crate::dockerui::options::normalize_image_reference(image)
                .map_err(|message| option_error("build arg NIX_IMAGE", message))?,
            None => DEFAULT_NIX_IMAGE.to_string(),
        };
        let platforms = platforms(options, default_platform)?;
        Ok(Spec {
            mode,
            build_file,
            build_file_in_context: (target.source == target::FileSource::File)
                .then(|| target.nix_file.clone()),
            nix_file: target.nix_file,
            flake: target.flake,
            nix_file_defaulted: target.source == target::FileSource::Default,
            attrs: target.attrs,
            nix_image,
            platform: platforms[0].clone(),
            nix_platform: platforms[0].clone(),
            emulate: emulation(options)?,
            platforms,
            settings: file.settings,
            warnings: file.warnings,
            args: file.args,
            no_cache: options.no_cache,
            source_date_epoch: source_date_epoch(options)?,
            max_layers: max_layers(options)?,
            cache_id: cache_id(options)?,
            plan: nix_plan(options)?,
            max_build_steps: max_build_steps(options)?,
            download_min_bytes: download_min_bytes(options)?,
            nix_args: match options.build_arg(args::NIX_ARGS) {
                None => Vec::new(),
                Some(text) => parse_nix_args(text)
                    .map_err(|message| option_error("build arg NIX_ARGS", message))?,
            },
            nixpkgs: nixpkgs(options)?,
            nixpkgs_sha256: nixpkgs_sha256(options)?,
            nix_settings: nix_settings(options)?,
            cache_push: cache_push(options)?,
            network: options.network,
            named_contexts: options
                .named_contexts
                .iter()
                .map(|(name, source)| (name.clone(), source.clone()))
                .collect(),
            sbom: sbom_scope(options),
            collisions: collisions(options)?,
        })
    }
}

/// What the build file says: its directives, and in Dockerfile mode the image settings, the
/// ARGs and the warnings of its instructions.
struct BuildFile {
    mode: Mode,
    directives: syntax::Directives,
    settings: ImageSettings,
    args: Vec<syntax::ArgDecl>,
    warnings: Vec<Warning>,
}

/// The build file read in its mode (a `.nix` name is Nix mode), with every error it has.
fn read_build_file(options: &Options, text: &str) -> (BuildFile, Vec<SyntaxError>) {
    let build_file = options.filename.as_str();
    let base_name = build_file.rsplit('/').next().unwrap_or(build_file);
    if base_name.ends_with(".nix") {
        let file = BuildFile {
            mode: Mode::Nix,
            directives: syntax::parse_directives(text),
            settings: ImageSettings::default(),
            args: Vec::new(),
            warnings: Vec::new(),
        };
        return (file, Vec::new());
    }
    let (parsed, errors) = syntax::check(build_file, text, &options.build_args);
    let file = BuildFile {
        mode: Mode::Dockerfile,
        warnings: parsed
            .warnings
            .into_iter()
            .map(|(line, rule, message)| Warning {
                rule,
                location: Some((build_file.to_string(), line)),
                message,
            })
            .collect(),
        args: parsed.args,
        settings: ImageSettings {
            entrypoint: parsed.entrypoint,
            cmd: parsed.cmd,
            env: parsed.env,
            labels: parsed.labels,
            expose: parsed.expose,
            user: parsed.user,
            workdir: parsed.workdir,
            volumes: parsed.volumes,
            stop_signal: parsed.stop_signal,
            healthcheck: parsed.healthcheck,
            base: parsed.from,
        },
        directives: parsed.directives,
    };
    (file, errors)
}

/// What runs emulated when the worker does not run the target platform natively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emulation {
    /// Nix runs natively, evaluating and substituting for the target's system; only the builds
    /// of the target's derivations run emulated (Nix's `extra-platforms` and the host's binfmt).
    Builds,
    /// The whole builder image of the target platform runs emulated: for expressions that take
    /// files from the builder image itself (a `builtins.path` of its `/usr/bin`).
    All,
}

/// How Nix's work is planned as BuildKit steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NixPlan {
    /// A build step per planned group of derivations, cached and exported by BuildKit (the
    /// default; needs MergeOp).
    Graph,
    /// One step over a persistent Nix store (a cache mount).
    Single,
}

/// A spec error as the user sees it, with the build file's line where it has one.
impl From<SpecError> for crate::error::UserError {
    fn from(err: SpecError) -> Self {
        let error = crate::error::UserError::new(err.to_string());
        match err {
            SpecError::Syntax(syntax) => error.at(&syntax.file, &syntax.text, syntax.line),
            SpecError::Option { .. } => error,
        }
    }
}

#[cfg(test)]
mod tests;
