//! Build args with a meaning to nix-frontend: their names, and one table of what each means and
//! its default, read by `spec` (which args are known) and by `--print=outline`.

pub const NIX_IMAGE: &str = "NIX_IMAGE";
pub const NIX_ATTR: &str = "NIX_ATTR";
pub const NIX_FILE: &str = "NIX_FILE";
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";
/// Docker's build arg for scanning build stages into the SBOM: here the build-time closure.
pub const SBOM_SCAN_STAGE: &str = "BUILDKIT_SBOM_SCAN_STAGE";
pub const NIX_MAX_LAYERS: &str = "NIX_MAX_LAYERS";
pub const NIX_CACHE_ID: &str = "NIX_CACHE_ID";
pub const NIX_PLAN: &str = "NIX_PLAN";
pub const NIX_EMULATE: &str = "NIX_EMULATE";
pub const NIX_MAX_BUILD_STEPS: &str = "NIX_MAX_BUILD_STEPS";
pub const NIX_DOWNLOAD_MIN_BYTES: &str = "NIX_DOWNLOAD_MIN_BYTES";
pub const NIX_ARGS: &str = "NIX_ARGS";
pub const NIXPKGS: &str = "NIXPKGS";
pub const NIXPKGS_SHA256: &str = "NIXPKGS_SHA256";
pub const NIX_SUBSTITUTERS: &str = "NIX_SUBSTITUTERS";
pub const NIX_TRUSTED_PUBLIC_KEYS: &str = "NIX_TRUSTED_PUBLIC_KEYS";
pub const NIX_CACHE_PUSH: &str = "NIX_CACHE_PUSH";
pub const NIX_COLLISIONS: &str = "NIX_COLLISIONS";

/// The builder image used when `NIX_IMAGE` is not given: the newest release of Nix by its
/// tag. Every release tag since 2.23 is amd64 and arm64: NixOS/nix's
/// maintainers/upload-release.pl pushes both images and a manifest list for the tag, and
/// dies if either is missing (commit 6df07f3e81, after NixOS/nix#10648), before it tags the
/// release in git; the 2.35.2 git tag is that script's. It is not pinned by a digest: none
/// could be checked from here, and a wrong pin would fail every first build.
/// The resolved digest is shown in the progress (`builder image …@sha256:…`) and keys the
/// caches; pin your own with `NIX_IMAGE=nixos/nix:TAG@sha256:…`.
pub const DEFAULT_NIX_IMAGE: &str = "docker.io/nixos/nix:2.35.2";
/// Layers when `NIX_MAX_LAYERS` is not given. Docker refuses an image of more than 125 layers
/// (overlayfs stops near 128 lower layers), and an image built FROM ours adds its own: at 100
/// (nixpkgs' buildLayeredImage default) only 25 were left, and the nixos/nix image went from 100
/// to 70 for that reason (NixOS/nix#13155). 70 leaves 55, the same room as nixos/nix, which users
/// already build on; with small paths sharing layers (`plan::layers`) most closures need fewer.
pub const DEFAULT_MAX_LAYERS: usize = 70;

/// A build arg nix-frontend reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildArg {
    pub name: &'static str,
    pub meaning: &'static str,
    /// What applies when it is not given, if anything.
    pub default: Option<&'static str>,
}

const fn arg(name: &'static str, meaning: &'static str, default: Option<&'static str>) -> BuildArg {
    BuildArg {
        name,
        meaning,
        default,
    }
}

/// Every build arg nix-frontend reads.
pub const TABLE: &[BuildArg] = &[
    arg(
        NIX_ATTR,
        "attributes to build (-A), separated by spaces; --target wins",
        None,
    ),
    arg(
        NIX_COLLISIONS,
        "with several attributes, a file two of them provide: error, or first (the one listed first wins, with a warning)",
        Some("error"),
    ),
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
        NIXPKGS_SHA256,
        "the hash of NIXPKGS's tarball (nix-prefetch-url --unpack): fetched once, in a cached step",
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
    arg(NIX_MAX_LAYERS, "most layers in the image", Some("70")),
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
        NIX_EMULATE,
        "for a platform the builder does not run natively: builds (Nix runs natively and only builds for that platform are emulated) or all (the whole builder image emulated)",
        Some("builds"),
    ),
    arg(
        NIX_MAX_BUILD_STEPS,
        "most build steps in graph mode",
        Some("8"),
    ),
    arg(
        NIX_DOWNLOAD_MIN_BYTES,
        "a path whose file in an HTTP binary cache is at least this big is downloaded by BuildKit, cached per file; smaller ones by Nix in the substitute step",
        Some("4194304"),
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
            NIX_EMULATE,
            NIX_MAX_BUILD_STEPS,
            NIX_DOWNLOAD_MIN_BYTES,
            NIX_ARGS,
            NIXPKGS,
            NIXPKGS_SHA256,
            NIX_SUBSTITUTERS,
            NIX_TRUSTED_PUBLIC_KEYS,
            NIX_CACHE_PUSH,
            NIX_COLLISIONS,
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
