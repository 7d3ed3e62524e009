//! Frontend options as BuildKit passes them (`BUILDKIT_FRONTEND_OPT_<i>=<key>=<value>` in the
//! environment, see moby/buildkit frontend/dockerui/config.go for the keys), parsed into typed
//! values. Pure: takes the key/value pairs, not the environment.

use std::collections::BTreeMap;
use std::fmt;

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

/// Build args with a meaning to nix-frontend: their names, and one table of what each means and
/// its default, read by `spec` (which args are known) and by `--print=outline`.
pub mod args {
    pub const NIX_IMAGE: &str = "NIX_IMAGE";
    pub const NIX_ATTR: &str = "NIX_ATTR";
    pub const NIX_FILE: &str = "NIX_FILE";
    pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";
    /// Docker's build arg for scanning build stages into the SBOM: here the build-time closure.
    pub const SBOM_SCAN_STAGE: &str = "BUILDKIT_SBOM_SCAN_STAGE";
    pub const NIX_MAX_LAYERS: &str = "NIX_MAX_LAYERS";
    pub const NIX_CACHE_ID: &str = "NIX_CACHE_ID";
    pub const NIX_PLAN: &str = "NIX_PLAN";
    pub const NIX_MAX_BUILD_STEPS: &str = "NIX_MAX_BUILD_STEPS";
    pub const NIX_ARGS: &str = "NIX_ARGS";
    pub const NIXPKGS: &str = "NIXPKGS";
    pub const NIX_SUBSTITUTERS: &str = "NIX_SUBSTITUTERS";
    pub const NIX_TRUSTED_PUBLIC_KEYS: &str = "NIX_TRUSTED_PUBLIC_KEYS";
    pub const NIX_CACHE_PUSH: &str = "NIX_CACHE_PUSH";

    /// The builder image used when `NIX_IMAGE` is not given: the newest release of Nix by its
    /// tag. Every release tag since 2.23 is amd64 and arm64: NixOS/nix's
    /// maintainers/upload-release.pl pushes both images and a manifest list for the tag, and
    /// dies if either is missing (commit 6df07f3e81, after NixOS/nix#10648), before it tags the
    /// release in git; the 2.35.2 git tag is that script's. No public source here shows the
    /// digest verbatim, so it is not pinned by one (a wrong pin would fail every first build).
    /// The resolved digest is shown in the progress (`builder image …@sha256:…`) and keys the
    /// caches; pin your own with `NIX_IMAGE=nixos/nix:TAG@sha256:…`.
    pub const DEFAULT_NIX_IMAGE: &str = "docker.io/nixos/nix:2.35.2";
    /// Layers when `NIX_MAX_LAYERS` is not given: room is left for images built on ours.
    pub const DEFAULT_MAX_LAYERS: usize = 100;

    /// A build arg nix-frontend reads.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct BuildArg {
        pub name: &'static str,
        pub meaning: &'static str,
        /// What applies when it is not given, if anything.
        pub default: Option<&'static str>,
    }

    const fn arg(
        name: &'static str,
        meaning: &'static str,
        default: Option<&'static str>,
    ) -> BuildArg {
        BuildArg {
            name,
            meaning,
            default,
        }
    }

    /// Every build arg nix-frontend reads.
    pub const TABLE: &[BuildArg] = &[
        arg(NIX_ATTR, "attribute to build (-A); --target wins", None),
        arg(NIX_FILE, "Nix file in the build context", None),
        arg(NIX_IMAGE, "Nix builder image", Some(DEFAULT_NIX_IMAGE)),
        arg(
            NIX_ARGS,
            "arguments for Nix: --arg NAME EXPR / --argstr NAME VALUE",
            None,
        ),
        arg(
            NIXPKGS,
            "the nixpkgs search path entry (-I nixpkgs=…)",
            None,
        ),
        arg(
            NIX_SUBSTITUTERS,
            "extra binary caches for Nix, separated by spaces",
            None,
        ),
        arg(
            NIX_TRUSTED_PUBLIC_KEYS,
            "keys the binary caches sign with, separated by spaces",
            None,
        ),
        arg(
            NIX_CACHE_PUSH,
            "a Nix binary cache (http, https or s3 URL) every build step pushes what it built to",
            None,
        ),
        arg(NIX_MAX_LAYERS, "most layers in the image", Some("100")),
        arg(
            NIX_CACHE_ID,
            "id of the persistent Nix store cache mount (NIX_PLAN=single)",
            None,
        ),
        arg(
            NIX_PLAN,
            "graph: a build step per group of derivations, cached and exported by BuildKit; single: one step over a persistent store",
            Some("graph"),
        ),
        arg(
            NIX_MAX_BUILD_STEPS,
            "most build steps in graph mode",
            Some("8"),
        ),
        arg(
            SOURCE_DATE_EPOCH,
            "timestamp of every file in the image",
            None,
        ),
        arg(
            SBOM_SCAN_STAGE,
            "with --sbom=true: true adds the build-time closure to the SBOM",
            Some("false"),
        ),
    ];

    /// Build args Docker predefines: any build may carry them without declaring them.
    pub const DOCKER_PREDEFINED: &[&str] = &[
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "FTP_PROXY",
        "ftp_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    ];

    /// `name` may be given without an ARG declaring it: one of ours, Docker's or BuildKit's.
    pub fn is_known(name: &str) -> bool {
        TABLE.iter().any(|arg| arg.name == name)
            || DOCKER_PREDEFINED.contains(&name)
            || name.starts_with("BUILDKIT_")
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn the_table_holds_every_arg_once_with_its_default() {
            for name in [
                NIX_IMAGE,
                NIX_ATTR,
                NIX_FILE,
                SOURCE_DATE_EPOCH,
                NIX_MAX_LAYERS,
                NIX_CACHE_ID,
                NIX_PLAN,
                NIX_MAX_BUILD_STEPS,
                NIX_ARGS,
                NIXPKGS,
                NIX_SUBSTITUTERS,
                NIX_TRUSTED_PUBLIC_KEYS,
                NIX_CACHE_PUSH,
            ] {
                assert_eq!(TABLE.iter().filter(|a| a.name == name).count(), 1, "{name}");
            }
            let layers = TABLE.iter().find(|a| a.name == NIX_MAX_LAYERS).unwrap();
            assert_eq!(
                layers.default,
                Some(DEFAULT_MAX_LAYERS.to_string().as_str())
            );
            assert!(is_known("https_proxy") && is_known("BUILDKIT_INLINE_CACHE"));
            assert!(!is_known("VERSION"));
        }
    }
}

/// `os/arch[/variant]`, as in `--platform`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(text: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = text.trim().split('/').collect();
        let valid = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        match parts.as_slice() {
            [os, arch] if valid(os) && valid(arch) => Ok(Platform {
                os: os.to_string(),
                architecture: normalize_arch(arch).to_string(),
                variant: None,
            }),
            [os, arch, variant] if valid(os) && valid(arch) && valid(variant) => Ok(Platform {
                os: os.to_string(),
                architecture: normalize_arch(arch).to_string(),
                variant: Some(variant.to_string()),
            }),
            _ => Err(format!(
                "{text:?} is not a platform; write it as os/arch[/variant], e.g. linux/amd64"
            )),
        }
    }

    /// The Nix system for this platform, e.g. `x86_64-linux` for linux/amd64.
    pub fn nix_system(&self) -> Option<&'static str> {
        if self.os != "linux" {
            return None;
        }
        Some(
            match (self.architecture.as_str(), self.variant.as_deref()) {
                ("amd64", _) => "x86_64-linux",
                ("arm64", _) => "aarch64-linux",
                ("386", _) => "i686-linux",
                ("arm", Some("v7") | None) => "armv7l-linux",
                ("arm", Some("v6")) => "armv6l-linux",
                ("riscv64", _) => "riscv64-linux",
                ("ppc64le", _) => "powerpc64le-linux",
                ("s390x", _) => "s390x-linux",
                _ => return None,
            },
        )
    }

    pub fn to_pb(&self) -> bollard_buildkit_proto::pb::Platform {
        bollard_buildkit_proto::pb::Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone().unwrap_or_default(),
            ..Default::default()
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

fn normalize_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
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

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct CacheImport {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Attrs", default)]
    pub attrs: BTreeMap<String, String>,
}

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

#[cfg(test)]
mod named_context_tests {
    use super::*;

    #[test]
    fn named_contexts_are_read_and_bad_names_refused() {
        let raw = BTreeMap::from([
            ("context:nixpkgs".to_string(), "local:nixpkgs".to_string()),
            (
                "context:base".to_string(),
                "docker-image://alpine".to_string(),
            ),
        ]);
        let options = Options::parse(&raw).unwrap();
        assert_eq!(
            options.named_contexts["nixpkgs"],
            ContextSource::Local("nixpkgs".into())
        );
        assert_eq!(
            options.named_contexts["base"],
            ContextSource::Image("docker.io/library/alpine:latest".into())
        );
        for (name, value) in [
            ("a;b", "local:x"),
            ("../x", "local:x"),
            ("a/b", "local:x"),
            ("-I", "local:x"),
            ("$(x)", "local:x"),
            ("", "local:x"),
            ("ok", "https://example.org/x.git"),
        ] {
            let raw = BTreeMap::from([(format!("context:{name}"), value.to_string())]);
            let err = Options::parse(&raw).unwrap_err();
            assert_eq!(err.option, "--build-context", "{name}");
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_env_pairs_splitting_on_the_first_equals() {
        let env = vec![
            (
                "BUILDKIT_FRONTEND_OPT_0".to_string(),
                "build-arg:X=a=b".to_string(),
            ),
            (
                "BUILDKIT_FRONTEND_OPT_1".to_string(),
                "filename=default.nix".to_string(),
            ),
            ("PATH".to_string(), "/bin".to_string()),
        ];
        let pairs = from_env_pairs(env.into_iter());
        assert_eq!(
            pairs,
            raw(&[("build-arg:X", "a=b"), ("filename", "default.nix")])
        );
    }

    #[test]
    fn parses_the_options_we_use() {
        let options = Options::parse(&raw(&[
            ("filename", "default.nix"),
            ("target", "hello"),
            ("build-arg:NIX_ATTR", "x"),
            ("label:org.example", "v"),
            ("platform", "linux/amd64,linux/arm64/v8"),
            ("no-cache", ""),
            (
                "cache-imports",
                r#"[{"Type":"local","Attrs":{"src":"/tmp/c"}}]"#,
            ),
            ("local-sessionid:context", "abc"),
        ]))
        .unwrap();
        assert_eq!(options.filename, "default.nix");
        assert_eq!(options.target.as_deref(), Some("hello"));
        assert_eq!(options.build_arg("NIX_ATTR"), Some("x"));
        assert_eq!(options.labels["org.example"], "v");
        assert_eq!(options.platforms.len(), 2);
        assert_eq!(options.platforms[1].to_string(), "linux/arm64/v8");
        assert!(options.no_cache);
        assert_eq!(options.cache_imports[0].kind, "local");
        assert_eq!(options.local_sessions["context"], "abc");
    }

    #[test]
    fn the_build_file_directory_inside_the_context() {
        let dir = |context: &str, dockerfile: &str| {
            Options::parse(&raw(&[
                ("vcs:localdir:context", context),
                ("vcs:localdir:dockerfile", dockerfile),
            ]))
            .unwrap()
            .build_file_dir_in_context
        };
        assert_eq!(dir(".", "sub"), Some("sub".into()));
        assert_eq!(dir("tests/x", "tests/x"), Some("".into()));
        assert_eq!(dir("a", "a/b/c"), Some("b/c".into()));
        assert_eq!(dir("a", "b"), None);
        assert_eq!(dir(".", "../x"), None);
        assert_eq!(
            Options::parse(&raw(&[("vcs:localdir:dockerfile", "sub")]))
                .unwrap()
                .build_file_dir_in_context,
            None
        );
    }

    #[test]
    fn defaults() {
        let options = Options::parse(&BTreeMap::new()).unwrap();
        assert_eq!(options.filename, "Dockerfile");
        assert!(options.platforms.is_empty());
        assert!(!options.no_cache);
    }

    #[test]
    fn bad_platform_names_the_option() {
        let err = Options::parse(&raw(&[("platform", "linux")])).unwrap_err();
        assert_eq!(err.option, "--platform");
        assert!(err.message.contains("os/arch"));
        assert!(Options::parse(&raw(&[("platform", "linux/amd64/v1/x")])).is_err());
        assert!(Options::parse(&raw(&[("platform", "linux/$(id)")])).is_err());
    }

    #[test]
    fn bad_cache_imports_name_the_option() {
        let err = Options::parse(&raw(&[("cache-imports", "{")])).unwrap_err();
        assert_eq!(err.option, "--cache-from");
    }

    #[test]
    fn sbom_is_asked_for_by_attest_sbom_unless_disabled() {
        assert!(!Options::parse(&BTreeMap::new()).unwrap().sbom);
        for (key, value, expect) in [
            ("attest:sbom", "", true),
            (
                "attest:sbom",
                "generator=docker/buildkit-syft-scanner",
                true,
            ),
            ("attest:sbom", "disabled=true", false),
            ("build-arg:BUILDKIT_ATTEST_SBOM", "true", true),
            ("attest:provenance", "mode=max", false),
        ] {
            assert_eq!(
                Options::parse(&raw(&[(key, value)])).unwrap().sbom,
                expect,
                "{key}={value}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(key in ".{0,20}", value in ".{0,40}") {
            let _ = Options::parse(&raw(&[(key.as_str(), value.as_str())]));
        }
    }

    #[test]
    fn image_references_are_qualified() {
        for (given, want) in [
            ("nixos/nix:2.24.9", "docker.io/nixos/nix:2.24.9"),
            ("ubuntu", "docker.io/library/ubuntu:latest"),
            ("127.0.0.1:5000/nix", "127.0.0.1:5000/nix:latest"),
            ("ghcr.io/a/b@sha256:abc", "ghcr.io/a/b@sha256:abc"),
            ("localhost/x:1", "localhost/x:1"),
        ] {
            assert_eq!(normalize_image_reference(given).unwrap(), want);
        }
    }
}
