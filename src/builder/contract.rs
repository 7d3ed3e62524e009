//! The contract between the builder scripts (`builder.sh`, `targets.sh`) and Rust: where the
//! scripts leave what they report in the Nix stage's output, the status word that says how the
//! Nix step ended, and the one mapping from a failed status to the error the user sees.
//!
//! Paths are as the frontend reads them, relative to the output's root; in the builder the same
//! output is mounted at `OUT`, so `STATUS` is `/out/.nix-frontend/status` there. Both scripts end
//! by writing `status` (one word) and, on failure, Nix's stderr in `log`; `ran-at` tells a cached
//! run from a fresh one.

use crate::dockerui::spec::{Mode, Spec};
use crate::error::UserError;
use crate::nix::closure::StorePath;

use crate::plan::Task;

/// Where the Nix stage's output is mounted in the builder.
pub const OUT: &str = "/out";
/// The directory of the report (single mode and evaluation); the manifest entries below.
pub const MANIFEST_DIR: &str = "/.nix-frontend";
/// The status word: `ok`, `missing-file`, `eval-failed` or `build-failed`.
pub const STATUS: &str = "/.nix-frontend/status";
/// Nix's stderr of the failing step.
pub const LOG: &str = "/.nix-frontend/log";
/// When the step ran, Unix seconds.
pub const RAN_AT: &str = "/.nix-frontend/ran-at";
/// The build's output paths, one per line (builder.sh).
pub const RESULTS: &str = "/.nix-frontend/results";
/// `nix path-info --json --recursive` of the results (builder.sh).
pub const CLOSURE: &str = "/.nix-frontend/closure.json";
/// Name, version, meta, outputName and passthru.imageConfig of the result (facts.nix's `info`).
pub const INFO: &str = "/.nix-frontend/info.json";
/// The derivations the result is built from, for the SBOM (facts.nix's `packages`, only with --sbom).
pub const PACKAGES: &str = "/.nix-frontend/packages.json";
/// Symlinks to the main result's top-level entries, for the image root.
pub const ROOT: &str = "/.nix-frontend/root";
/// An empty directory with mode 1777, the image's `/tmp` when it gets one.
pub const TMP: &str = "/.nix-frontend/tmp";
/// The buildable attributes with their descriptions (targets.sh).
pub const TARGETS: &str = "/.nix-frontend/targets.json";
/// One tree per closure path: `/layers/<base>/nix/store/<base>`.
pub const LAYERS: &str = "/layers";

/// The tree of one closure path, whose contents are that path's layer.
pub fn layer_tree(path: &StorePath) -> String {
    format!("{LAYERS}/{}", path.base_name())
}

/// `sub` inside the store path `path` as laid out in its layer tree.
pub fn in_layer_tree(path: &StorePath, sub: &str) -> String {
    format!("{}{path}/{sub}", layer_tree(path))
}

/// How a Nix step ended, from the status word the scripts write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// The Nix file is not in the build context.
    MissingFile,
    /// Nix could not evaluate the file or attribute.
    EvalFailed,
    /// A derivation failed to build (or the closure could not be read).
    BuildFailed,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Ok,
        Status::MissingFile,
        Status::EvalFailed,
        Status::BuildFailed,
    ];

    /// The word the scripts write.
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::MissingFile => "missing-file",
            Status::EvalFailed => "eval-failed",
            Status::BuildFailed => "build-failed",
        }
    }

    /// The status a word names (surrounding whitespace ignored); an unknown word is an error.
    pub fn parse(word: &str) -> Result<Status, UserError> {
        let word = word.trim();
        Status::ALL
            .into_iter()
            .find(|status| status.word() == word)
            .ok_or_else(|| {
                UserError::new(format!(
                    "the Nix builder reported an unknown status {word:?}"
                ))
            })
    }
}

/// What a Nix step reported about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub status: Status,
    pub log: String,
    pub ran_at: i64,
}

impl Report {
    /// `Ok(())` for `ok`, else the error the user sees: what failed, Nix's own text, and in Nix
    /// mode the line of the build file Nix names (`build_file_text` is the build file).
    pub fn check(&self, spec: &Spec, task: Task, build_file_text: &str) -> Result<(), UserError> {
        let target = match task {
            Task::Build => spec.describe_target(),
            Task::Targets => spec.nix_file.clone(),
        };
        match self.status {
            Status::Ok => Ok(()),
            Status::MissingFile => {
                let hint = match spec.mode {
                    Mode::Nix => "build from the directory that holds it (docker buildx build -f default.nix .), or name it with --build-arg NIX_FILE=path/in/context.nix",
                    Mode::Dockerfile => "add it to the build context, or name another file with the `# nix=FILE` directive or --build-arg NIX_FILE=",
                };
                Err(UserError::new(format!(
                    "{}: no such file in the build context (is it excluded by .dockerignore?); {hint}",
                    spec.nix_file
                )))
            }
            Status::EvalFailed => {
                let error = UserError::new(format!(
                    "evaluating {target} failed:\n{}",
                    nix_error_text(&self.log)
                ));
                // Point at the line Nix names, in the file it names: the build file's own text
                // when that is the file, else that file of the context (read by the caller).
                Err(match nix_error_location(&self.log) {
                    Some((file, line)) if spec.build_file_in_context.as_deref() == Some(&file) => {
                        error.at(&spec.build_file, build_file_text, line)
                    }
                    Some((file, line)) => error.in_context_file(&file, line),
                    None => error,
                })
            }
            Status::BuildFailed => Err(UserError::new(format!(
                "building {target} failed:\n{}",
                nix_error_text(&self.log)
            ))),
        }
    }
}

/// The file (its path in the build context) and line of the innermost position a Nix error
/// names (`at /src/<file>:LINE:COL:`; the last one, as Nix prints its trace outermost first).
pub fn nix_error_location(log: &str) -> Option<(String, usize)> {
    log.lines().rev().find_map(|line| {
        let start = if line.trim_start().starts_with("/src/") {
            line.find("/src/")?
        } else {
            line.find(" /src/")? + 1
        };
        let mut parts = line[start + "/src/".len()..].splitn(3, ':');
        let file = parts.next()?;
        let number: usize = parts.next()?.parse().ok()?;
        let valid = !file.is_empty()
            && !file.chars().any(|c| c.is_whitespace() || c.is_control())
            && !file.split('/').any(|p| p == ".." || p.is_empty());
        valid.then(|| (file.to_string(), number))
    })
}

/// Nix's error text without the noise: progress lines and blank lines dropped, at most the last
/// 40 lines kept (Nix puts the file:line:column and the failing code last).
pub fn nix_error_text(log: &str) -> String {
    let lines: Vec<String> = log
        .lines()
        .filter(|line| {
            let t = line.trim();
            !t.is_empty()
                && !t.starts_with("evaluating ")
                && !t.starts_with("these ")
                && !t.starts_with("this derivation will be built")
                && !t.starts_with("warning: you did not specify '--add-root'")
                // Bare store path lines (lists of derivations) say nothing new.
                && (!t.starts_with("/nix/store/") || t.contains(' '))
        })
        // Nix names files by their path in the builder; the user knows them by the context's.
        .map(|line| line.replace(" /src/", " "))
        .collect();
    let start = lines.len().saturating_sub(40);
    let text = lines[start..].join("\n");
    if text.is_empty() {
        "(Nix printed nothing; see the build log above)".into()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_words_round_trip_and_unknown_ones_are_errors() {
        for status in Status::ALL {
            assert_eq!(Status::parse(&format!("{}\n", status.word())), Ok(status));
        }
        let err = Status::parse("exploded").unwrap_err();
        assert!(err.message.contains("unknown status \"exploded\""), "{err}");
    }

    /// Both scripts write the report where Rust reads it, with the words Rust knows.
    #[test]
    fn the_scripts_keep_the_contract() {
        // Both source common.sh, which writes the status and the log.
        let common = crate::plan::COMMON_SCRIPT;
        let builder = &format!("{}{common}", crate::plan::BUILDER_SCRIPT);
        let targets = &format!("{}{common}", crate::plan::TARGETS_SCRIPT);
        let report_dir = STATUS.rsplit_once('/').unwrap().0;
        assert!([LOG, RAN_AT, RESULTS, CLOSURE, INFO, ROOT, TMP, TARGETS]
            .iter()
            .all(|path| path.rsplit_once('/').unwrap().0 == report_dir));
        let meta = format!("meta={OUT}{report_dir}");
        assert!(builder.contains(&meta) && targets.contains(&meta));
        for path in [STATUS, LOG, RAN_AT] {
            let name = path.rsplit('/').next().unwrap();
            for script in [builder.as_str(), targets.as_str()] {
                assert!(script.contains(&format!("$meta/{name}")), "{name}");
            }
        }
        for path in [RESULTS, CLOSURE, INFO, ROOT, TMP] {
            let name = path.rsplit('/').next().unwrap();
            assert!(builder.contains(&format!("$meta/{name}")), "{name}");
        }
        assert!(builder.contains(&format!("{OUT}{LAYERS}/")));
        assert!(targets.contains("$meta/targets.json"));
        for status in Status::ALL {
            let word = status.word();
            assert!(
                builder.contains(&format!("finish {word}")),
                "builder.sh never says {word}"
            );
        }
        for word in ["ok", "missing-file", "eval-failed"] {
            assert!(targets.contains(&format!("finish {word}")), "{word}");
        }
    }

    /// The `NF_*` names in `text`, an indexed family (`NF_ARG_$i`, `NF_ARG_<i>`, `NF_ARG_0`) as
    /// `NF_ARG_<i>`.
    fn nf_names(text: &str) -> std::collections::BTreeSet<String> {
        text.match_indices("NF_")
            .filter(|(at, _)| {
                !text[..*at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            })
            .map(|(at, _)| {
                let name: String = text[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
                match stem.strip_suffix('_') {
                    Some(family) => format!("{family}_<i>"),
                    None => name,
                }
            })
            .collect()
    }

    /// A script's opening comment and the rest of its code (comment lines dropped).
    fn header_and_code(script: &str) -> (String, String) {
        let header: String = script
            .lines()
            .take_while(|line| line.starts_with('#'))
            .map(|line| format!("{line}\n"))
            .collect();
        let code: String = script
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .map(|line| format!("{line}\n"))
            .collect();
        (header, code)
    }

    /// builder.sh's opening comment names every variable it and common.sh read.
    #[test]
    fn builder_header_names_every_variable_it_reads() {
        let (header, code) = header_and_code(crate::plan::BUILDER_SCRIPT);
        let (_, common) = header_and_code(crate::plan::COMMON_SCRIPT);
        let read: Vec<String> = nf_names(&(code + &common)).into_iter().collect();
        assert!(read.len() >= 10, "{read:?}");
        let named = nf_names(&header);
        let missing: Vec<&String> = read.iter().filter(|v| !named.contains(*v)).collect();
        assert!(missing.is_empty(), "builder.sh's header lacks {missing:?}");
    }

    #[test]
    fn nix_errors_keep_file_line_and_context_without_noise() {
        let log = "evaluating default.nix -A hello\nwarning: you did not specify '--add-root'; the result might be removed\nthese 2 derivations will be built:\n  /nix/store/702kgf9xcpdiskn0ig6d0dya1l7j8nlb-failing.drv\nerror: syntax error, unexpected ';'\n       at /src/default.nix:2:14:\n            2| { hello = 1 +; }\n";
        let text = nix_error_text(log);
        assert_eq!(
            text,
            "error: syntax error, unexpected ';'\n       at default.nix:2:14:\n            2| { hello = 1 +; }"
        );
        assert!(nix_error_text("").contains("printed nothing"));
        let long: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(nix_error_text(&long).lines().count(), 40);
        assert_eq!(
            nix_error_location(log),
            Some(("default.nix".to_string(), 2))
        );
        let imported = "error:\n       … while evaluating the attribute 'hello'\n         at /src/default.nix:3:3:\n       error: broken\n       at /src/lib/broken.nix:2:5:\n";
        assert_eq!(
            nix_error_location(imported),
            Some(("lib/broken.nix".to_string(), 2))
        );
        assert_eq!(
            nix_error_location("at /nix/store/x-src/src/a.nix:1:1"),
            None
        );
        assert_eq!(nix_error_location("at /src/../etc/passwd:1:1"), None);
    }
}
