//! How a Nix step ended: the status word the scripts write (`Status`), what a step reported
//! (`Report`), and the one mapping from a failed status to the error the user sees, with Nix's
//! own text cut to what explains it.

use crate::dockerui::spec::{Mode, Spec};
use crate::error::UserError;
use crate::nix::closure::StorePath;

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
    /// A build step did not run because a step it depends on failed (realise.sh).
    Skipped,
    /// Two of the image's packages provide the same name, and no rule settles it (builder.sh,
    /// realise.sh in the final group); the names are in the log as `COLLISIONS` has them.
    Collision,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Ok,
        Status::MissingFile,
        Status::EvalFailed,
        Status::BuildFailed,
        Status::Skipped,
        Status::Collision,
    ];

    /// The word the scripts write.
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::MissingFile => "missing-file",
            Status::EvalFailed => "eval-failed",
            Status::BuildFailed => "build-failed",
            Status::Skipped => "skipped",
            Status::Collision => "collision",
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

/// What a Nix step in the builder does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Build and lay out the closure (`builder.sh`).
    Build,
    /// List the buildable attributes (`targets.sh`), for `--print=targets`.
    Targets,
}

/// What a Nix step reported about itself. `log` and `ran_at` (Unix seconds) are read only when
/// the status is not `ok`: they explain or date a failure, and are empty and 0 otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub status: Status,
    pub log: String,
    pub ran_at: i64,
}

impl Report {
    /// The one rerun rule of both plans: a failure recorded before this frontend started (a
    /// second of slack) came from BuildKit's cache, and may have been transient (network,
    /// resources), so the step runs once more rather than report it.
    pub fn is_stale_failure(&self, started_at: i64) -> bool {
        matches!(self.status, Status::BuildFailed | Status::Skipped) && self.ran_at < started_at - 1
    }

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
            Status::Skipped => Err(UserError::new(format!(
                "building {target} stopped: a step it needs failed\n{}",
                nix_error_text(&self.log)
            ))),
            Status::Collision => Err(collision_error(&target, &self.log)),
        }
    }
}

/// Two packages of the image that provide the same name, as the scripts report it (a line of
/// `COLLISIONS`: `FIRST SECOND NAME`). Untrusted: the store paths are parsed, the name is text
/// without control characters, at most 4096 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    /// The package listed first, whose entry the image gets with `NIX_COLLISIONS=first`.
    pub first: StorePath,
    pub second: StorePath,
    /// The name inside both, e.g. `bin/sh`.
    pub name: String,
}

/// At most this many collisions are named in one message.
const MAX_COLLISIONS_SHOWN: usize = 10;

impl Collision {
    /// The lines of a `COLLISIONS` file; a malformed line is skipped.
    pub fn parse_all(text: &str) -> Vec<Collision> {
        text.lines()
            .filter_map(|line| {
                let mut parts = line.splitn(3, ' ');
                let first = StorePath::parse(parts.next()?).ok()?;
                let second = StorePath::parse(parts.next()?).ok()?;
                let name = parts.next()?;
                let plain = !name.is_empty()
                    && name.len() <= 4096
                    && !name.chars().any(char::is_control)
                    && !name
                        .split('/')
                        .any(|p| p.is_empty() || p == "." || p == "..");
                plain.then(|| Collision {
                    first,
                    second,
                    name: name.to_string(),
                })
            })
            .collect()
    }

    /// `bin/sh is in both /nix/store/…-a and /nix/store/…-b`.
    pub fn describe(&self) -> String {
        format!(
            "{} is in both {} and {}",
            self.name, self.first, self.second
        )
    }
}

/// The error of a build whose packages collide (`Status::Collision`), naming each collision
/// (`log` as `COLLISIONS` has them) and what settles it.
pub fn collision_error(target: &str, log: &str) -> UserError {
    let collisions = Collision::parse_all(log);
    let mut lines: Vec<String> = collisions
        .iter()
        .take(MAX_COLLISIONS_SHOWN)
        .map(Collision::describe)
        .collect();
    if collisions.len() > MAX_COLLISIONS_SHOWN {
        lines.push(format!(
            "and {} more",
            collisions.len() - MAX_COLLISIONS_SHOWN
        ));
    }
    if lines.is_empty() {
        lines.push(nix_error_text(log));
    }
    UserError::new(format!(
        "the packages of {target} collide in the image's root:\n{}\nbuild only one of them, or let the one listed first win with --build-arg NIX_COLLISIONS=first",
        lines.join("\n")
    ))
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
