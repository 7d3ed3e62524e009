//! Frontend options as BuildKit passes them (`BUILDKIT_FRONTEND_OPT_<i>=<key>=<value>` in the
//! environment, see moby/buildkit frontend/dockerui/config.go for the keys), parsed into typed
//! values. Pure: takes the key/value pairs, not the environment.
//!
//! This file holds the option keys and `Options`; the build args nix-frontend reads are in
//! `args.rs`, the platform type in `platform.rs`.

pub mod args;

use std::collections::BTreeMap;
use std::fmt;

/// The platform of a build (`--platform`), BuildKit's notion.
pub use crate::buildkit::platform::Platform;

/// Option keys, as the Dockerfile frontend names them.
pub mod keys {
    pub const FILENAME: &str = "filename";
    pub const TARGET: &str = "target";
    pub const BUILD_ARG_PREFIX: &str = "build-arg:";
    pub const LABEL_PREFIX: &str = "label:";
    pub const PLATFORM: &str = "platform";
    pub const NO_CACHE: &str = "no-cache";
    pub const IMAGE_RESOLVE_MODE: &str = "image-resolve-mode";
    pub const CACHE_IMPORTS: &str = "cache-imports";
    pub const REQUEST_ID: &str = "requestid";
    /// `--network host|none|default`, applied to every step that runs Nix.
    pub const FORCE_NETWORK_MODE: &str = "force-network-mode";
    pub const LOCAL_SESSION_PREFIX: &str = "local-sessionid:";
    /// `--build-context NAME=…`: `context:NAME` = `local:DIR`, `docker-image://REF`, ...
    pub const CONTEXT_PREFIX: &str = "context:";
    /// buildx, in a git checkout: the context and build-file directories, relative to its root.
    pub const VCS_CONTEXT_DIR: &str = "vcs:localdir:context";
    pub const VCS_DOCKERFILE_DIR: &str = "vcs:localdir:dockerfile";
    /// `--sbom=true` (`--attest type=sbom`); the build arg is BuildKit's other spelling.
    pub const ATTEST_SBOM: &str = "attest:sbom";
    pub const ATTEST_SBOM_ARG: &str = "build-arg:BUILDKIT_ATTEST_SBOM";
}

/// What the user asked for through BuildKit options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// The build file in the `dockerfile` local (default `Dockerfile`).
    pub filename: String,
    pub target: Option<String>,
    pub build_args: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub platforms: Vec<Platform>,
    /// `--no-cache` given (for every vertex; per-stage names mean nothing here).
    pub no_cache: bool,
    pub image_resolve_mode: Option<String>,
    /// The `cache-imports` JSON, to hand to every Solve.
    pub cache_imports: Vec<CacheImport>,
    pub request_id: Option<String>,
    /// Session ids per local name (`local-sessionid:NAME`).
    pub local_sessions: BTreeMap<String, String>,
    /// Where the build file's directory lies inside the context (`sub` for `-f sub/default.nix
    /// .`), when buildx said so through its vcs options.
    pub build_file_dir_in_context: Option<String>,
    /// `--network`: the network of every step that runs Nix (`None`: BuildKit's sandbox).
    pub network: Option<NetworkMode>,
    /// An SBOM attestation was asked for (`attest:sbom` present and not `disabled=true`).
    pub sbom: bool,
    /// `--build-context NAME=…`, by name: a Nix search-path entry (`<NAME>`), or for a flake
    /// the override of its input NAME.
    pub named_contexts: BTreeMap<String, ContextSource>,
}

/// Where a named context comes from, as BuildKit's dockerui names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextSource {
    /// `local:NAME`: a directory the client sends under that local name.
    Local(String),
    /// `docker-image://REF`: an image's filesystem (REF fully qualified).
    Image(String),
}

/// A named context's name: it becomes `-I NAME=…` and a flake input name, so only letters,
/// digits, `_`, `-` and `.` (not first), never shell or path syntax.
fn parse_named_context(name: &str, value: &str) -> Result<(String, ContextSource), OptionError> {
    let error = |message: String| OptionError {
        option: "--build-context".into(),
        message,
    };
    let valid_name = name.len() <= 100
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if !valid_name {
        return Err(error(format!(
            "{name:?} is not a context name: use letters, digits, _, - and . (it becomes the Nix search path entry <NAME> or the flake input NAME)"
        )));
    }
    let source = if let Some(local) = value.strip_prefix("local:") {
        ContextSource::Local(local.to_string())
    } else if let Some(reference) = value.strip_prefix("docker-image://") {
        ContextSource::Image(
            normalize_image_reference(reference).map_err(|m| error(format!("{name}: {m}")))?,
        )
    } else {
        return Err(error(format!(
            "{name}={value}: nix-frontend takes a directory (NAME=DIR) or an image (NAME=docker-image://REF) as a named context"
        )));
    };
    Ok((name.to_string(), source))
}

/// `docker buildx build --network`, as the Dockerfile frontend applies it to RUN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkMode {
    /// The build host's network (the `network.host` entitlement): a binary cache or mirror on
    /// the host's 127.0.0.1.
    Host,
    /// No network at all.
    None,
}

/// A cache to import (`--cache-from`), BuildKit's notion.
pub use crate::buildkit::gateway::CacheImport;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionError {
    pub option: String,
    pub message: String,
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "option {}: {}", self.option, self.message)
    }
}

impl std::error::Error for OptionError {}

/// Reads options from the process environment's `BUILDKIT_FRONTEND_OPT_*` variables.
pub fn from_env_pairs(env: impl Iterator<Item = (String, String)>) -> BTreeMap<String, String> {
    env.filter(|(name, _)| name.starts_with("BUILDKIT_FRONTEND_OPT_"))
        .filter_map(|(_, value)| {
            // Split on the first '=': values may contain '='.
            let (key, value) = value.split_once('=')?;
            Some((key.to_string(), value.to_string()))
        })
        .collect()
}

/// BuildKit's attestation attributes are `k=v` pairs separated by commas
/// (frontend/attestations/parse.go); `disabled=true` turns the attestation off.
fn sbom_enabled(value: &str) -> bool {
    !value
        .split(',')
        .any(|field| field.trim().eq_ignore_ascii_case("disabled=true"))
}

/// `dir` relative to `base` when it lies inside it (both relative to one root, `.` for the root).
fn relative_dir(base: &str, dir: &str) -> Option<String> {
    let parts = |path: &str| -> Option<Vec<String>> {
        let parts: Vec<String> = path
            .split('/')
            .filter(|p| !p.is_empty() && *p != ".")
            .map(str::to_string)
            .collect();
        (!parts
            .iter()
            .any(|p| p == ".." || p.chars().any(char::is_control)))
        .then_some(parts)
    };
    let (base, dir) = (parts(base)?, parts(dir)?);
    let rest = dir.strip_prefix(base.as_slice())?;
    Some(rest.join("/"))
}

impl Options {
    /// Options from `(key, value)` pairs, for tests; panics on options it refuses.
    #[cfg(test)]
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Options {
        let raw = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Options::parse(&raw).unwrap()
    }

    pub fn parse(raw: &BTreeMap<String, String>) -> Result<Options, OptionError> {
        let mut options = Options {
            filename: "Dockerfile".to_string(),
            ..Options::default()
        };
        for (key, value) in raw {
            if let Some(name) = key.strip_prefix(keys::BUILD_ARG_PREFIX) {
                options.build_args.insert(name.to_string(), value.clone());
            } else if let Some(name) = key.strip_prefix(keys::LABEL_PREFIX) {
                options.labels.insert(name.to_string(), value.clone());
            } else if let Some(name) = key.strip_prefix(keys::CONTEXT_PREFIX) {
                let (name, source) = parse_named_context(name, value)?;
                options.named_contexts.insert(name, source);
            } else if let Some(name) = key.strip_prefix(keys::LOCAL_SESSION_PREFIX) {
                options
                    .local_sessions
                    .insert(name.to_string(), value.clone());
            } else {
                match key.as_str() {
                    keys::FILENAME if !value.trim().is_empty() => {
                        options.filename = value.trim().to_string()
                    }
                    keys::TARGET if !value.is_empty() => options.target = Some(value.clone()),
                    keys::PLATFORM if !value.trim().is_empty() => {
                        options.platforms = value
                            .split(',')
                            .map(Platform::parse)
                            .collect::<Result<_, _>>()
                            .map_err(|message| OptionError {
                                option: "--platform".into(),
                                message,
                            })?;
                    }
                    keys::NO_CACHE => options.no_cache = true,
                    keys::IMAGE_RESOLVE_MODE if !value.is_empty() => {
                        options.image_resolve_mode = Some(value.clone())
                    }
                    keys::CACHE_IMPORTS if !value.is_empty() => {
                        options.cache_imports =
                            serde_json::from_str(value).map_err(|err| OptionError {
                                option: "--cache-from".into(),
                                message: format!("cannot read the cache imports: {err}"),
                            })?;
                    }
                    keys::REQUEST_ID if !value.is_empty() => {
                        options.request_id = Some(value.clone())
                    }
                    keys::FORCE_NETWORK_MODE => {
                        options.network = match value.as_str() {
                            "" | "default" | "sandbox" => None,
                            "host" => Some(NetworkMode::Host),
                            "none" => Some(NetworkMode::None),
                            other => {
                                return Err(OptionError {
                                    option: "--network".into(),
                                    message: format!(
                                        "{other:?} is not a network mode: use default, host or none"
                                    ),
                                })
                            }
                        }
                    }
                    keys::VCS_DOCKERFILE_DIR => {
                        options.build_file_dir_in_context = raw
                            .get(keys::VCS_CONTEXT_DIR)
                            .and_then(|context| relative_dir(context, value));
                    }
                    _ => {}
                }
            }
        }
        options.sbom = [keys::ATTEST_SBOM, keys::ATTEST_SBOM_ARG]
            .iter()
            .filter_map(|key| raw.get(*key))
            .any(|value| sbom_enabled(value));
        Ok(options)
    }

    pub fn build_arg(&self, name: &str) -> Option<&str> {
        self.build_args
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// `nixos/nix:2.24` → `docker.io/nixos/nix:2.24`, `ubuntu` → `docker.io/library/ubuntu:latest`:
/// BuildKit's image source needs fully qualified references.
pub fn normalize_image_reference(reference: &str) -> Result<String, String> {
    let reference = reference.trim();
    let valid = !reference.is_empty()
        && reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c));
    if !valid {
        return Err(format!("{reference:?} is not an image reference"));
    }
    let (first, rest) = reference.split_once('/').unwrap_or(("", reference));
    let has_domain = first.contains('.') || first.contains(':') || first == "localhost";
    let mut qualified = if has_domain {
        reference.to_string()
    } else if first.is_empty() {
        format!("docker.io/library/{rest}")
    } else {
        format!("docker.io/{reference}")
    };
    let last = qualified.rsplit('/').next().unwrap_or_default();
    if !last.contains(':') && !last.contains('@') {
        qualified.push_str(":latest");
    }
    Ok(qualified)
}

/// An option error as the user sees it.
impl From<OptionError> for crate::error::UserError {
    fn from(err: OptionError) -> Self {
        crate::error::UserError::new(err.to_string())
    }
}

#[cfg(test)]
mod tests;
