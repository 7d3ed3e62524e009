//! The contract between the builder scripts and Rust, in one place: the scripts themselves
//! (`scripts`, mounted at `SCRIPT_DIR`), the environment variables through which every value
//! reaches them (`vars`), where they leave what they report and what they read (the paths
//! below); the status word that says how a Nix step ended, and the error a failed one gives, are
//! in `status` (re-exported here, as every reader of a report names them).
//!
//! Paths are as the frontend reads them, relative to the output's root; in the builder the same
//! output is mounted at `OUT`, so `STATUS` is `/out/.nix-frontend/status` there. builder.sh,
//! eval.sh and targets.sh end by writing `status` (one word) and, on failure, Nix's stderr in
//! `log`; `ran-at` tells a cached run from a fresh one. realise.sh writes the same per group,
//! under `STATUS_DIR`, `LOG_DIR` and `RAN_AT_DIR`. The tests in `contract_tests` read every
//! script and fail on a variable, path or status word that only one side knows.

pub use super::status::{
    collision_error, nix_error_location, nix_error_text, Collision, Report, Status, Task,
};

/// Where the scripts are mounted in every Nix step (files of their own keep them out of argv,
/// error messages and `ps`).
pub const SCRIPT_DIR: &str = "/.nix-frontend";

/// One file of the scripts: its name in `SCRIPT_DIR`, its mode, its text, and the status words
/// it writes itself or through the common.sh functions it calls.
#[derive(Debug, Clone, Copy)]
pub struct Script {
    pub name: &'static str,
    pub mode: i32,
    pub text: &'static str,
    pub statuses: &'static [Status],
}

impl Script {
    /// Where it is in the builder.
    pub fn path(&self) -> String {
        format!("{SCRIPT_DIR}/{}", self.name)
    }
}

/// The scripts and expressions mounted at `SCRIPT_DIR`.
pub mod scripts {
    use super::{Script, Status};

    /// The single plan's Nix step: evaluate, build, lay out the closure.
    pub const BUILDER: Script = Script {
        name: "builder.sh",
        mode: 0o555,
        text: include_str!("builder.sh"),
        statuses: &[
            Status::Ok,
            Status::MissingFile,
            Status::EvalFailed,
            Status::BuildFailed,
            Status::Collision,
        ],
    };
    /// Shell functions the other scripts source.
    pub const COMMON: Script = Script {
        name: "common.sh",
        mode: 0o444,
        text: include_str!("common.sh"),
        statuses: &[
            Status::MissingFile,
            Status::EvalFailed,
            Status::BuildFailed,
            Status::Collision,
        ],
    };
    /// The graph plan's evaluation step.
    pub const EVAL: Script = Script {
        name: "eval.sh",
        mode: 0o555,
        text: include_str!("eval.sh"),
        statuses: &[Status::Ok, Status::MissingFile, Status::EvalFailed],
    };
    /// The graph plan's build step of one group.
    pub const REALISE: Script = Script {
        name: "realise.sh",
        mode: 0o555,
        text: include_str!("realise.sh"),
        statuses: &[
            Status::Ok,
            Status::BuildFailed,
            Status::Skipped,
            Status::Collision,
        ],
    };
    /// The graph plan's push step of one group (`NIX_CACHE_PUSH`): its own words,
    /// `PUSH_WORDS`, not a `Status`.
    pub const PUSH: Script = Script {
        name: "push.sh",
        mode: 0o555,
        text: include_str!("push.sh"),
        statuses: &[],
    };
    /// The graph plan's step that fetches an input pinned by its hash before the evaluation.
    pub const PIN: Script = Script {
        name: "pin.sh",
        mode: 0o555,
        text: include_str!("pin.sh"),
        statuses: &[],
    };
    /// The links step of a FROM base whose top-level directory is a symlink (`plan::base`).
    pub const LINKS: Script = Script {
        name: "links.sh",
        mode: 0o555,
        text: include_str!("links.sh"),
        statuses: &[],
    };
    /// Our expressions over the built value, applied with `nix eval --apply`: its facts for the
    /// image config (`info`), the derivations it is built from for the SBOM (`packages`), its
    /// buildable attributes (`targets`).
    pub const FACTS: Script = Script {
        name: "facts.nix",
        mode: 0o444,
        text: include_str!("facts.nix"),
        statuses: &[],
    };
    /// The `--print=targets` step.
    pub const TARGETS: Script = Script {
        name: "targets.sh",
        mode: 0o555,
        text: include_str!("targets.sh"),
        statuses: &[Status::Ok, Status::MissingFile, Status::EvalFailed],
    };
    /// Every file mounted at `SCRIPT_DIR`, in the order they are made.
    pub const ALL: [Script; 9] = [
        BUILDER, COMMON, EVAL, REALISE, PUSH, PIN, LINKS, FACTS, TARGETS,
    ];
}

/// facts.nix's expressions, as the scripts name them (`nf_apply NAME`).
pub const FACTS_EXPRESSIONS: [&str; 4] = ["info", "evaluated", "packages", "targets"];

/// The environment variables the scripts read: every user value and every fact of the plan
/// arrives in one of them, never in a script's text. A name ending in `_` is a family, one
/// variable per index (`indexed`).
pub mod vars {
    /// The Nix file, relative to the context.
    pub const FILE: &str = "NF_FILE";
    /// 1 when no file was named (then a flake.nix may stand in for a missing default.nix).
    pub const FILE_DEFAULTED: &str = "NF_FILE_DEFAULTED";
    /// 1 to build a flake.
    pub const FLAKE: &str = "NF_FLAKE";
    /// The attribute (`-A`) or the flake's output, when there is one; with several, their
    /// number and each one (NF_ATTR is then set by the scripts to each in turn).
    pub const ATTR: &str = "NF_ATTR";
    pub const ATTR_COUNT: &str = "NF_ATTR_COUNT";
    pub const ATTRS: &str = "NF_ATTR_";
    /// The Nix system of the platform (targets.sh: a flake's `packages.<system>`).
    pub const SYSTEM: &str = "NF_SYSTEM";
    /// The Nix system the step runs on when it is not `SYSTEM`'s (`NIX_EMULATE=builds` for a
    /// platform the worker emulates): Nix's `system` becomes `SYSTEM` and this one an
    /// `extra-platforms` (common.sh).
    pub const HOST_SYSTEM: &str = "NF_HOST_SYSTEM";
    /// The number of Nix arguments, and each one (`--arg`/`--argstr` triples, word by word).
    pub const ARG_COUNT: &str = "NF_ARG_COUNT";
    pub const ARG: &str = "NF_ARG_";
    /// The path of `-I nixpkgs=`.
    pub const NIXPKGS: &str = "NF_NIXPKGS";
    /// The hash of `NIXPKGS`'s tarball: the scripts pass `-I nixpkgs=` the store path
    /// `builtins.fetchTarball` gives for it, found in the store when its pin step fetched it.
    pub const NIXPKGS_SHA256: &str = "NF_NIXPKGS_SHA256";
    /// Extra Nix settings, one `name = value` per line.
    pub const NIX_SETTINGS: &str = "NF_NIX_SETTINGS";
    /// The number of named contexts, and each one's name (mounted at `CONTEXTS_DIR/<index>`).
    pub const CONTEXT_COUNT: &str = "NF_CONTEXT_COUNT";
    pub const CONTEXT: &str = "NF_CONTEXT_";
    /// 1 to write `PACKAGES` too (only steps that evaluate).
    pub const SBOM: &str = "NF_SBOM";
    /// eval.sh: the largest source written as a NAR for the build steps to carry.
    pub const NAR_MAX_BYTES: &str = "NF_NAR_MAX_BYTES";
    /// eval.sh: where Nix keeps its cache of what the binary caches hold (`XDG_CACHE_HOME`), a
    /// BuildKit cache mount (`NIX_CACHE_DIR` outside `vars`).
    pub const NIX_CACHE_DIR: &str = "NF_NIX_CACHE_DIR";
    /// realise.sh: the group's id, the number of its roots and each root, 1 for the final group.
    pub const GROUP: &str = "NF_GROUP";
    /// pin.sh: the input to fetch, as JSON (`nix::pins::Pin::json`); NF_GROUP is its number.
    pub const PIN: &str = "NF_PIN";
    pub const ROOT_COUNT: &str = "NF_ROOT_COUNT";
    pub const ROOT: &str = "NF_ROOT_";
    pub const FINAL: &str = "NF_FINAL";
    /// realise.sh: 1 when the build step has no network; Nix then asks no binary cache
    /// (common.sh).
    pub const OFFLINE: &str = "NF_OFFLINE";
    /// realise.sh: 1 when a substitute step's files were downloaded by BuildKit into
    /// `NAR_CACHE_DIR`; Nix substitutes from there alone (common.sh).
    pub const NAR_CACHE: &str = "NF_NAR_CACHE";
    /// `NIX_CACHE_PUSH`: the binary cache to copy what was built to (builder.sh, push.sh).
    pub const CACHE_PUSH: &str = "NF_CACHE_PUSH";
    /// `first` when the package listed first wins a collision in the root links (builder.sh,
    /// and realise.sh in the final group); unset, a collision is an error.
    pub const COLLISIONS: &str = "NF_COLLISIONS";

    /// Every name the scripts read.
    pub const ALL: [&str; 27] = [
        FILE,
        FILE_DEFAULTED,
        FLAKE,
        ATTR,
        ATTR_COUNT,
        ATTRS,
        COLLISIONS,
        SYSTEM,
        HOST_SYSTEM,
        ARG_COUNT,
        ARG,
        NIXPKGS,
        NIXPKGS_SHA256,
        NIX_SETTINGS,
        CONTEXT_COUNT,
        CONTEXT,
        SBOM,
        NAR_MAX_BYTES,
        NIX_CACHE_DIR,
        GROUP,
        ROOT_COUNT,
        ROOT,
        FINAL,
        OFFLINE,
        NAR_CACHE,
        CACHE_PUSH,
        PIN,
    ];

    /// The variable `index` of a family such as `ARG`.
    pub fn indexed(family: &str, index: usize) -> String {
        format!("{family}{index}")
    }
}

/// Where a Nix step's output is mounted in the builder.
pub const OUT: &str = "/out";
/// The directory of the report (single mode and evaluation); the manifest entries below.
pub const MANIFEST_DIR: &str = "/.nix-frontend";
/// The status word (`Status`).
pub const STATUS: &str = "/.nix-frontend/status";
/// Nix's stderr of the failing step.
pub const LOG: &str = "/.nix-frontend/log";
/// When the step ran, Unix seconds.
pub const RAN_AT: &str = "/.nix-frontend/ran-at";
/// The build's output paths, one per line (builder.sh).
pub const RESULTS: &str = "/.nix-frontend/results";
/// `nix path-info --json --recursive` of the results (builder.sh).
pub const CLOSURE: &str = "/.nix-frontend/closure.json";
/// Name, version, meta, outputName and passthru.imageConfig of the result (facts.nix's `info`):
/// of the first attribute; of attribute `i` of several at `INFO_OF<i>.json` (`info_of`).
pub const INFO: &str = "/.nix-frontend/info.json";
pub const INFO_OF: &str = "/.nix-frontend/info-";
/// The derivations the result is built from, for the SBOM (facts.nix's `packages`, only with
/// --sbom): of the first attribute; of attribute `i` of several at `PACKAGES_OF<i>.json`.
pub const PACKAGES: &str = "/.nix-frontend/packages.json";
pub const PACKAGES_OF: &str = "/.nix-frontend/packages-";
/// The image's root: links to the top-level entries of each package (the first output of each
/// attribute), and where several have the same directory, a directory of links (`nf_profile`).
pub const ROOT: &str = "/.nix-frontend/root";
/// `profile/<dir>/<entry>`: symlinks to the entries of the main result's top-level directories,
/// for the directories a FROM base has too.
pub const PROFILE: &str = "/.nix-frontend/profile";
/// links.sh: `<dir>/<entry>` links for each top-level directory a FROM base has as a symlink.
pub const LINKS_DIR: &str = "/links";
/// links.sh: where the base image and the manifest's `PROFILE` are mounted.
pub const LINKS_BASE: &str = "/base";
pub const LINKS_OURS: &str = "/ours";
/// The packages `ROOT` is made of, one store path a line, in the order of the attributes.
pub const PROFILE_ROOTS: &str = "/.nix-frontend/profile-roots";
/// The names two packages provide, one per line: `FIRST SECOND NAME` (the store paths of both
/// packages and the name in them); ROOT holds the first's.
pub const COLLISIONS: &str = "/.nix-frontend/collisions";
/// An empty directory with mode 1777, the image's `/tmp` when it gets one.
pub const TMP: &str = "/.nix-frontend/tmp";
/// The buildable attributes with their descriptions (targets.sh).
pub const TARGETS: &str = "/.nix-frontend/targets.json";
/// eval.sh: what to realise, one `drv!outputs` (or drv) per line.
pub const ROOTS: &str = "/.nix-frontend/roots";
/// eval.sh: `nix-store --dump-db` of the derivations' closure.
pub const RECORDS: &str = "/.nix-frontend/records";
/// eval.sh: `nix-store --realise --dry-run` of the roots (its stderr).
pub const DRY_RUN: &str = "/.nix-frontend/dry-run";
/// eval.sh: `nix path-info --json` of the paths to fetch, `<dir>/<i>` from substituter `i` in
/// Nix's order, where that cache could be asked.
pub const FETCH_INFO_DIR: &str = "/.nix-frontend/fetch-info";
/// eval.sh: the substituters in Nix's order (`fetch-info/<i>` is the answer of the `i`-th),
/// separated by spaces; absent when a netrc was given (BuildKit cannot download with it).
pub const SUBSTITUTERS: &str = "/.nix-frontend/substituters";
/// eval.sh: a source's NAR, `<dir>/<base name>`; the .drv files in one file (concatenated), and
/// their sizes (see `nix::inline_inputs::split_derivations`).
pub const SOURCE_NAR_DIR: &str = "/.nix-frontend/nar";
pub const DERIVATION_FILES: &str = "/.nix-frontend/drv-files";
pub const DERIVATION_SIZES: &str = "/.nix-frontend/drv-sizes";
/// builder.sh: Nix's stderr of a failed push to `NIX_CACHE_PUSH` (a warning in the build log;
/// the frontend does not read it).
pub const PUSH_LOG: &str = "/.nix-frontend/push-log";
/// Scratch files of the scripts the frontend does not read: the evaluated derivations, and the
/// requisites of the roots (eval.sh) or of the results (builder.sh).
pub const DERIVATIONS: &str = "/.nix-frontend/derivations";
pub const REQUISITES: &str = "/.nix-frontend/requisites";
/// eval.sh and realise.sh: the store paths they made valid, builder.sh: the closure, each at its
/// store path (and each path's image layer is copied from there).
pub use crate::nix::closure::STORE_DIR;
/// The graph plan's reports in a step's output, each under a directory below (push.sh's `$meta`,
/// for the common.sh functions it calls).
pub const GROUP_REPORT_DIR: &str = "/nf";
/// realise.sh, in a group's output: the final group's manifest (`results`, `closure.json`,
/// `root/`, `profile-roots`, `collisions`, `tmp/`, as in `MANIFEST_DIR`).
pub const RESULT_DIR: &str = "/nf/result";
/// realise.sh, in the final group's manifest: every upstream group's `NEW_DIR` list, as
/// `<NEW_DIR>/<group id>:<store path>` lines.
pub const MADE_BY: &str = "/nf/result/made-by";
/// realise.sh, in the final group's manifest: when each group ran, `<group id> <Unix seconds>`
/// lines (its own and every upstream group's).
pub const STEPS_RAN_AT: &str = "/nf/result/ran-at";
/// realise.sh, per group (`<dir>/<group id>`): its status word, Nix's stderr, when it ran, and
/// the records of the paths it made. Merged into the groups after it, where realise.sh reads
/// the statuses and records at the same paths.
pub const STATUS_DIR: &str = "/nf/status";
pub const LOG_DIR: &str = "/nf/log";
pub const RAN_AT_DIR: &str = "/nf/ran-at";
pub const RECORDS_DIR: &str = "/nf/records";
/// pin.sh, in its output: the record of the pinned input it fetched, `<dir>/<pin id>`; merged
/// into the evaluation's root, where eval.sh registers it before evaluating.
pub const PIN_RECORDS_DIR: &str = "/nf/pin-records";
/// pin.sh, in its output, for a git repository: Nix's git cache of it, `<dir>/<pin id>/<the
/// cache's name for it>`; merged into the evaluation's root, where eval.sh adds it to Nix's git
/// cache (Nix looks a commit up there, not in the store).
pub const PIN_GIT_DIR: &str = "/nf/pin-git";
/// realise.sh's input in a substitute step: the paths the frontend's records register without
/// their content (what the step's own paths refer to, which other steps fetch), one per line in
/// `<dir>/<group id>`, so that they do not count as the step's own.
pub const REGISTERED_DIR: &str = "/nf/registered";
/// realise.sh, per group: the store paths it made, one per line, which its push step reads.
pub const NEW_DIR: &str = "/nf/new";
/// push.sh, per group: its word (`PUSH_WORDS`) and Nix's stderr.
pub const PUSH_STATUS_DIR: &str = "/nf/push";
pub const PUSH_LOG_DIR: &str = "/nf/push-log";
/// The words push.sh writes: a failed push is a warning, never a failed build.
pub const PUSH_WORDS: [&str; 2] = ["ok", "failed"];
/// realise.sh's input: the sources' NARs to restore, `<dir>/<base name>`.
pub const RESTORE_DIR: &str = "/nf/nar";
/// realise.sh's input in a substitute step whose files BuildKit downloaded: a `file://` binary
/// cache (`nix-cache-info`, the paths' narinfos, each file under `nar/<its SHA-256>/`).
pub const NAR_CACHE_DIR: &str = "/nf/nar-cache";
/// The evaluation's cache mount for Nix's own cache (`vars::NIX_CACHE_DIR`): what the binary
/// caches said of each path, kept across evaluations on one builder.
pub const NIX_CACHE_DIR: &str = "/nf-nix-cache";
/// Where named context `<index>` is mounted in a step that evaluates.
pub const CONTEXTS_DIR: &str = "/nf-contexts";
/// Where `--secret id=netrc` appears in the builder (common.sh adds it to Nix's settings).
pub const NETRC_SECRET: &str = "/run/secrets/netrc";
/// The ids of the secrets of a step that pushes, at `SECRETS_DIR/<id>`: the key that signs what
/// `NIX_CACHE_PUSH` pushes (`--secret id=nix-cache-key,src=FILE`) and AWS credentials for an
/// s3:// cache (`--secret id=aws,src=$HOME/.aws/credentials`).
pub const SECRETS_DIR: &str = "/run/secrets";
pub const CACHE_KEY_SECRET: &str = "nix-cache-key";
pub const AWS_SECRET: &str = "aws";

/// Every path under a Nix step's output that a script writes, as the frontend names it.
pub fn output_paths() -> Vec<String> {
    let mut paths: Vec<String> = [
        MANIFEST_DIR,
        STATUS,
        LOG,
        RAN_AT,
        RESULTS,
        CLOSURE,
        INFO,
        INFO_OF,
        PACKAGES,
        PACKAGES_OF,
        ROOT,
        PROFILE,
        LINKS_DIR,
        PROFILE_ROOTS,
        COLLISIONS,
        TMP,
        TARGETS,
        ROOTS,
        RECORDS,
        DRY_RUN,
        FETCH_INFO_DIR,
        SUBSTITUTERS,
        SOURCE_NAR_DIR,
        DERIVATION_FILES,
        DERIVATION_SIZES,
        DERIVATIONS,
        REQUISITES,
        STORE_DIR,
        GROUP_REPORT_DIR,
        RESULT_DIR,
        STATUS_DIR,
        LOG_DIR,
        RAN_AT_DIR,
        RECORDS_DIR,
        NEW_DIR,
        PUSH_STATUS_DIR,
        PUSH_LOG_DIR,
        PUSH_LOG,
        PIN_RECORDS_DIR,
        PIN_GIT_DIR,
        MADE_BY,
        STEPS_RAN_AT,
    ]
    .map(str::to_string)
    .to_vec();
    for manifest_entry in [
        RESULTS,
        CLOSURE,
        ROOT,
        PROFILE,
        PROFILE_ROOTS,
        COLLISIONS,
        TMP,
    ] {
        let name = &manifest_entry[MANIFEST_DIR.len()..];
        paths.push(format!("{RESULT_DIR}{name}"));
    }
    paths
}

/// Every path outside its output that a script reads: what earlier steps and the frontend
/// mount or merge in.
pub fn input_paths() -> Vec<String> {
    let mut paths: Vec<String> = [
        STATUS_DIR,
        RAN_AT_DIR,
        RECORDS_DIR,
        REGISTERED_DIR,
        PIN_RECORDS_DIR,
        PIN_GIT_DIR,
        NEW_DIR,
        RESTORE_DIR,
        NAR_CACHE_DIR,
        CONTEXTS_DIR,
        NETRC_SECRET,
    ]
    .map(str::to_string)
    .to_vec();
    for secret in [CACHE_KEY_SECRET, AWS_SECRET] {
        paths.push(format!("{SECRETS_DIR}/{secret}"));
    }
    paths
}

/// facts.nix's `info` of attribute `index` (0: the first, or the only one).
pub fn info_of(index: usize) -> String {
    match index {
        0 => INFO.to_string(),
        i => format!("{INFO_OF}{i}.json"),
    }
}

/// facts.nix's `packages` of attribute `index` (0: the first, or the only one).
pub fn packages_of(index: usize) -> String {
    match index {
        0 => PACKAGES.to_string(),
        i => format!("{PACKAGES_OF}{i}.json"),
    }
}
