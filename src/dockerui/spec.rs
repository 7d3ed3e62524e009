//! What to build: the options and the build file turned into one `Spec`. Pure.
//!
//! Two modes: the build file is a Nix file (`-f default.nix`, name ends in `.nix`), or it is a
//! Dockerfile-style syntax file naming a Nix file in the context (default `default.nix`).

use std::collections::BTreeMap;
use std::fmt;

use crate::dockerui::options::{args, Options, Platform};
use crate::dockerui::syntax::{self, SyntaxError};

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
    pub attr: Option<String>,
    /// Fully qualified builder image reference.
    pub nix_image: String,
    /// The platform this spec builds (one of `platforms`).
    pub platform: Platform,
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
    /// `--arg NAME EXPR` / `--argstr NAME VALUE` for Nix, from NIX_ARGS, as argv entries.
    pub nix_args: Vec<String>,
    /// `-I nixpkgs=…` from NIXPKGS.
    pub nixpkgs: Option<String>,
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
            ..self.clone()
        }
    }

    /// What is built, for messages: `attribute "x" of default.nix` or the file.
    pub fn describe_target(&self) -> String {
        match &self.attr {
            Some(attr) => format!("attribute {attr:?} of {}", self.nix_file),
            None => self.nix_file.clone(),
        }
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
            build_file_in_context: (target.source == "--file").then(|| target.nix_file.clone()),
            nix_file: target.nix_file,
            flake: target.flake,
            nix_file_defaulted: target.defaulted,
            attr: target.attr,
            nix_image,
            platform: platforms[0].clone(),
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
            nix_args: match options.build_arg(args::NIX_ARGS) {
                None => Vec::new(),
                Some(text) => parse_nix_args(text)
                    .map_err(|message| option_error("build arg NIX_ARGS", message))?,
            },
            nixpkgs: nixpkgs(options)?,
            nix_settings: nix_settings(options)?,
            cache_push: cache_push(options)?,
            network: options.network,
            named_contexts: options
                .named_contexts
                .iter()
                .map(|(name, source)| (name.clone(), source.clone()))
                .collect(),
            sbom: sbom_scope(options),
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
        },
        directives: parsed.directives,
    };
    (file, errors)
}

/// Which Nix file and attribute to build.
struct NixTarget {
    nix_file: String,
    /// Which option named the file.
    source: &'static str,
    flake: bool,
    defaulted: bool,
    attr: Option<String>,
}

/// The Nix file from NIX_FILE, `-f` or `# nix=` (a `dir#attr` there names a flake and its
/// attribute); the attribute from `--target`, NIX_ATTR, `# attr=` or that flake reference.
fn nix_target(
    options: &Options,
    mode: Mode,
    base_name: &str,
    directives: &syntax::Directives,
) -> Result<NixTarget, SpecError> {
    let (mut nix_file, source) = match (options.build_arg(args::NIX_FILE), mode) {
        (Some(file), _) => (file.to_string(), "build arg NIX_FILE"),
        // buildx sends only the base name of `-f`; where it also said which directory of the
        // context holds the file (in a git checkout), that directory is used.
        (None, Mode::Nix) => match options.build_file_dir_in_context.as_deref() {
            Some(dir) if !dir.is_empty() => (format!("{dir}/{base_name}"), "--file"),
            _ => (base_name.to_string(), "--file"),
        },
        (None, Mode::Dockerfile) => match &directives.nix {
            Some(file) => (file.clone(), "the # nix= directive"),
            None => (DEFAULT_NIX_FILE.to_string(), "the default"),
        },
    };
    // `# nix=.#attr` (or `sub/dir#attr`): the flake in that directory, that attribute.
    let mut flake_attr = None;
    if let Some((dir, attr)) = nix_file.clone().split_once('#') {
        let dir = dir.trim_end_matches('/');
        nix_file = if dir.is_empty() || dir == "." {
            "flake.nix".to_string()
        } else {
            format!("{dir}/flake.nix")
        };
        flake_attr = Some(attr.to_string()).filter(|a| !a.is_empty());
    }
    validate_relative_path(&nix_file).map_err(|message| option_error(source, message))?;
    let attr = match (
        &options.target,
        options.build_arg(args::NIX_ATTR),
        &directives.attr,
    ) {
        (Some(target), _, _) => Some((target.clone(), "--target")),
        (None, Some(attr), _) => Some((attr.to_string(), "build arg NIX_ATTR")),
        (None, None, Some(attr)) => Some((attr.clone(), "the # attr= directive")),
        _ => flake_attr.map(|attr| (attr, "the # nix= directive")),
    };
    if let Some((attr, source)) = &attr {
        validate_attr(attr).map_err(|message| option_error(source, message))?;
    }
    Ok(NixTarget {
        flake: nix_file == "flake.nix" || nix_file.ends_with("/flake.nix"),
        defaulted: source == "the default",
        source,
        nix_file,
        attr: attr.map(|(attr, _)| attr),
    })
}

/// `--platform`'s platforms, else the worker's; each must have a Nix system.
fn platforms(options: &Options, default_platform: &Platform) -> Result<Vec<Platform>, SpecError> {
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

fn sbom_scope(options: &Options) -> Option<SbomScope> {
    options.sbom.then(|| SbomScope {
        build_dependencies: sbom_scan_stage(options).unwrap_or(false),
    })
}

/// A `BUILDKIT_SBOM_SCAN_STAGE` that is neither true nor false (e.g. stage names, shared with
/// Dockerfile builds) is taken as false, and said.
fn sbom_scan_stage_warning(options: &Options) -> Option<Warning> {
    let value = options.build_arg(args::SBOM_SCAN_STAGE)?;
    sbom_scan_stage(options).is_none().then(|| Warning {
        rule: "InvalidBuildArg",
        location: None,
        message: format!(
            "build arg BUILDKIT_SBOM_SCAN_STAGE={value:?} is taken as false: a Nix build has no stages to name; true adds the build-time closure to the SBOM"
        ),
    })
}

fn source_date_epoch(options: &Options) -> Result<Option<i64>, SpecError> {
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

fn max_layers(options: &Options) -> Result<usize, SpecError> {
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

/// How Nix's work is planned as BuildKit steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NixPlan {
    /// A build step per planned group of derivations, cached and exported by BuildKit (the
    /// default; needs MergeOp).
    Graph,
    /// One step over a persistent Nix store (a cache mount).
    Single,
}

fn nix_plan(options: &Options) -> Result<NixPlan, SpecError> {
    match options.build_arg(args::NIX_PLAN) {
        None | Some("graph") => Ok(NixPlan::Graph),
        Some("single") => Ok(NixPlan::Single),
        Some(other) => Err(option_error(
            "build arg NIX_PLAN",
            format!("{other:?} is not a plan: use graph (a build step per group of derivations, cached and exported by BuildKit) or single (one step over a persistent store)"),
        )),
    }
}

/// Build steps when `NIX_MAX_BUILD_STEPS` is not given: a container start costs about 175 ms on
/// a small builder, so a wide graph is joined into a few steps rather than hundreds.
const DEFAULT_MAX_BUILD_STEPS: usize = 8;
const MAX_BUILD_STEPS: usize = 256;

fn max_build_steps(options: &Options) -> Result<usize, SpecError> {
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

fn cache_id(options: &Options) -> Result<Option<String>, SpecError> {
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

fn nixpkgs(options: &Options) -> Result<Option<String>, SpecError> {
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

/// The Nix binary cache of NIX_CACHE_PUSH: an http, https or s3 URL (Nix's store URL, query
/// parameters allowed), one line without spaces.
fn cache_push(options: &Options) -> Result<Option<String>, SpecError> {
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

/// Extra Nix settings from NIX_SUBSTITUTERS and NIX_TRUSTED_PUBLIC_KEYS, one line each.
fn nix_settings(options: &Options) -> Result<Vec<String>, SpecError> {
    let mut settings = Vec::new();
    for (arg, setting) in [
        (args::NIX_SUBSTITUTERS, "substituters"),
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
fn unused_build_args_warning(options: &Options, declared: &[syntax::ArgDecl]) -> Option<Warning> {
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
fn parse_nix_args(text: &str) -> Result<Vec<String>, String> {
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

/// A path inside the build context: relative, no `..`, no NUL or newline.
fn validate_relative_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the Nix file name is empty".into());
    }
    if path.starts_with('/') {
        return Err(format!(
            "{path:?} is absolute; name a file relative to the build context"
        ));
    }
    if path.split('/').any(|part| part == "..") {
        return Err(format!("{path:?} leaves the build context"));
    }
    if path.chars().any(|c| c == '\0' || c == '\n' || c == '\r') {
        return Err(format!("{path:?} contains a control character"));
    }
    Ok(())
}

/// An attribute path: passed to Nix as one argv entry, so only what can never be meant is refused.
fn validate_attr(attr: &str) -> Result<(), String> {
    if attr.trim().is_empty() {
        return Err("the attribute name is empty".into());
    }
    if attr.chars().any(char::is_control) {
        return Err(format!("{attr:?} contains a control character"));
    }
    if attr.starts_with('-') {
        return Err(format!(
            "{attr:?} starts with '-', which Nix would read as an option"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> Options {
        Options::from_pairs(pairs)
    }

    fn amd64() -> Platform {
        Platform::parse("linux/amd64").unwrap()
    }

    #[test]
    fn a_nix_cache_to_push_to_is_an_http_https_or_s3_url() {
        for url in [
            "http://127.0.0.1:5000",
            "https://cache.example/x",
            "s3://bucket?region=eu",
        ] {
            let spec = Spec::new(
                &options(&[
                    ("filename", "default.nix"),
                    ("build-arg:NIX_CACHE_PUSH", url),
                ]),
                "{ }",
                &amd64(),
            )
            .unwrap();
            assert_eq!(spec.cache_push.as_deref(), Some(url));
        }
    }

    #[test]
    fn nix_mode_builds_the_file_itself() {
        let spec = Spec::new(
            &options(&[("filename", "default.nix"), ("target", "hello")]),
            "# syntax=org/nix-frontend\n{ hello = 1; }",
            &amd64(),
        )
        .unwrap();
        assert_eq!(spec.mode, Mode::Nix);
        assert_eq!(spec.nix_file, "default.nix");
        assert_eq!(spec.attr.as_deref(), Some("hello"));
        assert_eq!(spec.nix_image, DEFAULT_NIX_IMAGE);
    }

    #[test]
    fn dockerfile_mode_takes_directives_and_settings() {
        let spec = Spec::new(
            &options(&[
                ("label:b", "from-cli"),
                ("build-arg:NIX_IMAGE", "nix-frontend-test/nix:local"),
            ]),
            "# syntax=org/nix-frontend\n# nix=app.nix\n# attr=hello\nCMD [\"x\"]\nLABEL a=1 b=2\n",
            &amd64(),
        )
        .unwrap();
        assert_eq!(spec.mode, Mode::Dockerfile);
        assert_eq!(spec.nix_file, "app.nix");
        assert_eq!(spec.attr.as_deref(), Some("hello"));
        assert_eq!(spec.settings.cmd, Some(vec!["x".to_string()]));
        assert_eq!(spec.settings.labels["b"], "from-cli");
        assert_eq!(spec.nix_image, "docker.io/nix-frontend-test/nix:local");
    }

    #[test]
    fn target_wins_over_build_arg_and_directive() {
        let spec = Spec::new(
            &options(&[("target", "t"), ("build-arg:NIX_ATTR", "a")]),
            "# attr=d\n",
            &amd64(),
        )
        .unwrap();
        assert_eq!(spec.attr.as_deref(), Some("t"));
        let spec = Spec::new(
            &options(&[("build-arg:NIX_ATTR", "a")]),
            "# attr=d\n",
            &amd64(),
        )
        .unwrap();
        assert_eq!(spec.attr.as_deref(), Some("a"));
    }

    #[test]
    fn hostile_values_are_refused_with_the_option_named() {
        for (pairs, option) in [
            (
                vec![("build-arg:NIX_FILE", "../etc/passwd")],
                "build arg NIX_FILE",
            ),
            (
                vec![("build-arg:NIX_FILE", "/etc/passwd")],
                "build arg NIX_FILE",
            ),
            (vec![("target", "--eval")], "--target"),
            (vec![("target", "a\nb")], "--target"),
            (
                vec![("build-arg:NIX_IMAGE", "x; rm -rf /")],
                "build arg NIX_IMAGE",
            ),
            (
                vec![("build-arg:SOURCE_DATE_EPOCH", "yesterday")],
                "build arg SOURCE_DATE_EPOCH",
            ),
            (
                vec![("build-arg:NIX_MAX_LAYERS", "126")],
                "build arg NIX_MAX_LAYERS",
            ),
            (
                vec![("build-arg:NIX_MAX_LAYERS", "1")],
                "build arg NIX_MAX_LAYERS",
            ),
            (
                vec![("build-arg:NIX_CACHE_ID", "a\nb")],
                "build arg NIX_CACHE_ID",
            ),
            (vec![("build-arg:NIX_ARGS", "--arg")], "build arg NIX_ARGS"),
            (
                vec![("build-arg:NIX_ARGS", "--eval-store x y")],
                "build arg NIX_ARGS",
            ),
            (
                vec![("build-arg:NIX_ARGS", "--arg a;b 1")],
                "build arg NIX_ARGS",
            ),
            (
                vec![(
                    "build-arg:NIX_SUBSTITUTERS",
                    "https://x\nbuild-hook = /evil",
                )],
                "build arg NIX_SUBSTITUTERS",
            ),
            (vec![("build-arg:NIXPKGS", "--impure")], "build arg NIXPKGS"),
            (
                vec![("build-arg:NIX_CACHE_PUSH", "file:///etc")],
                "build arg NIX_CACHE_PUSH",
            ),
            (
                vec![("build-arg:NIX_CACHE_PUSH", "https://x\nbuild-hook = /evil")],
                "build arg NIX_CACHE_PUSH",
            ),
            (
                vec![("build-arg:NIX_CACHE_PUSH", "https://")],
                "build arg NIX_CACHE_PUSH",
            ),
        ] {
            let err = Spec::new(&options(&pairs), "", &amd64()).unwrap_err();
            match err {
                SpecError::Option { option: got, .. } => assert_eq!(got, option),
                other => panic!("{other}"),
            }
        }
    }

    #[test]
    fn warnings_for_deprecated_instructions_and_unused_build_args() {
        let spec = Spec::new(
            &options(&[
                ("build-arg:PORT", "1"),
                ("build-arg:TYPO", "2"),
                ("build-arg:NIX_IMAGE", "x"),
                ("build-arg:BUILDKIT_INLINE_CACHE", "1"),
            ]),
            "ARG PORT\nMAINTAINER me\n",
            &amd64(),
        )
        .unwrap();
        assert_eq!(
            spec.warnings
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "Dockerfile:2: MAINTAINER is deprecated (as in Docker); use LABEL maintainer=\"...\"",
                "build args not consumed: TYPO (declare them with ARG in a Dockerfile, or pass Nix arguments with NIX_ARGS)",
            ]
        );
    }

    #[test]
    fn attribute_names_with_shell_characters_are_data() {
        let spec = Spec::new(&options(&[("target", "a;$(id)'\"")]), "", &amd64()).unwrap();
        assert_eq!(spec.attr.as_deref(), Some("a;$(id)'\""));
    }
}
