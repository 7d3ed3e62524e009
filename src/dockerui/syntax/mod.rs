//! The syntax file in Dockerfile mode: parser directives (`# syntax=`, `# escape=`, `# nix=`,
//! `# attr=`) and the configuration instructions, in Docker's own syntax (exec and shell forms,
//! line continuations with the escape character, comments). Every error names its line.
//!
//! Shell-form ENTRYPOINT/CMD are split into words (shell-words crate) instead of being wrapped in
//! `/bin/sh -c`, since the image has no shell; after a SHELL they are wrapped as Docker does.
//! Words of ENV, LABEL, ARG, EXPOSE and VOLUME go through `lex_words`, which follows Docker's
//! lexer: quotes, the escape character, and variables expanded outside single quotes. The
//! parser is ours (no maintained Rust crate parses Dockerfiles with source lines and Docker's
//! expansion rules), so it has property tests and runs under scripts/fuzz in CI.
//!
//! This file holds what the file says (the types), how it is read into instructions (directives,
//! logical lines) and `check`, which drives the rest: each instruction is handled in
//! `instructions.rs`, its arguments parsed in `values.rs`, and words lexed and variables expanded
//! as Docker does in `expand.rs`.

mod expand;
mod instructions;
mod values;

use std::collections::BTreeMap;
use std::fmt;

pub use expand::{expand_variables, lex_words, Lex};

use instructions::Parser;

/// Instructions that only make sense when the content comes from Dockerfile build steps.
const BUILD_STEP_INSTRUCTIONS: &[&str] = &["RUN", "COPY", "ADD", "ONBUILD"];
const CONFIG_INSTRUCTIONS: &[&str] = &[
    "FROM",
    "ENTRYPOINT",
    "CMD",
    "ENV",
    "LABEL",
    "ARG",
    "EXPOSE",
    "USER",
    "WORKDIR",
    "VOLUME",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
    "MAINTAINER",
];

/// Parser directives from the top of the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directives {
    pub syntax: Option<String>,
    pub escape: Option<char>,
    /// `# nix=FILE`: the Nix file in the build context.
    pub nix: Option<String>,
    /// `# attr=NAME`: the attribute to build.
    pub attr: Option<String>,
}

/// An argv-style command from ENTRYPOINT or CMD.
pub type Command = Vec<String>;

/// An `ARG` declaration, for `--print=outline` and substitution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
    /// The comment lines right above the declaration, as Docker's outline shows them.
    pub description: String,
    pub line: usize,
}

/// HEALTHCHECK, as Docker's image config holds it (durations in nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", "..."]`.
    pub test: Vec<String>,
    pub interval: Option<u64>,
    pub timeout: Option<u64>,
    pub start_period: Option<u64>,
    pub start_interval: Option<u64>,
    pub retries: Option<u64>,
}

/// `FROM [--platform=P] IMAGE [AS NAME]`: the base image under the closure (`scratch`: none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseImage {
    /// As written, variables expanded (a reference, or a `--build-context` name).
    pub image: String,
    pub platform: Option<String>,
    pub line: usize,
}

/// What the file says about the image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyntaxFile {
    pub directives: Directives,
    pub from: Option<BaseImage>,
    pub args: Vec<ArgDecl>,
    pub entrypoint: Option<Command>,
    pub cmd: Option<Command>,
    /// In order of appearance; later ones win.
    pub env: Vec<(String, String)>,
    pub labels: BTreeMap<String, String>,
    /// `8080/tcp` style, deduplicated.
    pub expose: Vec<String>,
    pub user: Option<String>,
    pub workdir: Option<String>,
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
    pub healthcheck: Option<Healthcheck>,
    pub shell: Option<Command>,
    /// Things that work but deserve a word: line, rule name (as `--check` reports it), message.
    pub warnings: Vec<(usize, &'static str, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// The rule `--check` reports it under: `UnsupportedInstruction`, `UnknownInstruction` or
    /// `InvalidInstruction`.
    pub rule: &'static str,
    pub file: String,
    /// The file's text, so that the error can show the line.
    pub text: String,
    pub line: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

impl std::error::Error for SyntaxError {}

/// Reads the directives at the top of any file whose comments start with `#`: a Dockerfile or
/// a `default.nix` used as the build file. Directives end at the first line that is not one.
pub fn parse_directives(text: &str) -> Directives {
    let mut directives = Directives::default();
    for line in text.lines() {
        let Some(body) = line.trim().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = body.split_once('=') else {
            break;
        };
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() || key.contains(char::is_whitespace) {
            break;
        }
        let value = value.trim().to_string();
        match key.as_str() {
            "syntax" => directives.syntax = Some(value),
            "escape" => directives.escape = value.chars().next().filter(|_| value.len() == 1),
            "nix" => directives.nix = Some(value),
            "attr" => directives.attr = Some(value),
            _ => {}
        }
    }
    directives
}

/// One instruction after joining continuation lines: its keyword, the text after it and the
/// line it starts on.
struct Instruction {
    line: usize,
    keyword: String,
    rest: String,
}

fn logical_lines(text: &str, escape: char) -> Vec<Instruction> {
    let mut instructions = Vec::new();
    let mut current: Option<(usize, String)> = None;
    let mut in_directives = true;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = raw.trim_start();
        if in_directives
            && trimmed.starts_with('#')
            && parse_directives(trimmed) != Directives::default()
        {
            continue;
        }
        in_directives = false;
        // Comment lines are dropped, also inside a continued instruction (Docker does the same).
        if trimmed.starts_with('#') {
            continue;
        }
        if current.is_none() && trimmed.trim().is_empty() {
            continue;
        }
        let trimmed_end = raw.trim_end();
        let (content, continues) = match trimmed_end.strip_suffix(escape) {
            Some(head) => (head, true),
            None => (trimmed_end, false),
        };
        let entry = current.get_or_insert_with(|| (number, String::new()));
        if !entry.1.is_empty() {
            entry.1.push(' ');
        }
        entry.1.push_str(content.trim_start());
        if !continues {
            let (line, body) = current.take().expect("set above");
            push_instruction(&mut instructions, line, &body);
        }
    }
    if let Some((line, body)) = current {
        push_instruction(&mut instructions, line, &body);
    }
    instructions
}

fn push_instruction(instructions: &mut Vec<Instruction>, line: usize, body: &str) {
    let body = body.trim();
    if body.is_empty() {
        return;
    }
    let (keyword, rest) = body.split_once(char::is_whitespace).unwrap_or((body, ""));
    instructions.push(Instruction {
        line,
        keyword: keyword.to_ascii_uppercase(),
        rest: rest.trim().to_string(),
    });
}

/// The tests' shorthand for `check`: the parsed file, or its first error.
#[cfg(test)]
pub fn parse(
    file: &str,
    text: &str,
    build_args: &BTreeMap<String, String>,
) -> Result<SyntaxFile, SyntaxError> {
    let (parsed, errors) = check(file, text, build_args);
    match errors.into_iter().next() {
        Some(error) => Err(error),
        None => Ok(parsed),
    }
}

/// Parses a Dockerfile-mode syntax file named `file` (for messages) whole, collecting every
/// instruction's error in file order (an instruction in error changes nothing); `build_args` are
/// the `--build-arg` values, which set declared ARGs. The build (`Spec::new`) refuses the first
/// error, `--check` reports them all.
pub fn check(
    file: &str,
    text: &str,
    build_args: &BTreeMap<String, String>,
) -> (SyntaxFile, Vec<SyntaxError>) {
    let directives = parse_directives(text);
    let escape = directives.escape.unwrap_or('\\');
    let instructions = logical_lines(text, escape);
    let mut parser = Parser {
        text,
        escape,
        build_args,
        // Names every ARG declares anywhere, to tell "declared later" from "never declared".
        declared_anywhere: instructions
            .iter()
            .filter(|i| i.keyword == "ARG")
            .filter_map(|i| i.rest.split(['=', ' ']).next().map(str::to_string))
            .collect(),
        // What `$NAME` means at this point: declared ARGs and earlier ENVs. PATH is the image's.
        vars: BTreeMap::from([("PATH".to_string(), "/bin".to_string())]),
        parsed: SyntaxFile {
            directives,
            ..SyntaxFile::default()
        },
        entrypoint_line: 0,
        from_line: 0,
    };
    let mut errors = Vec::new();
    for instruction in &instructions {
        if let Err(message) = parser.instruction(instruction) {
            errors.push(SyntaxError {
                rule: rule_of(&instruction.keyword),
                file: file.to_string(),
                text: text.to_string(),
                line: instruction.line,
                message,
            });
        }
    }
    if let Some(line) = parser.empty_command_line() {
        parser.parsed.warnings.push((
            line,
            "NoEntrypoint",
            "ENTRYPOINT [] with no CMD: the image has no command to run; name a program (ENTRYPOINT [\"prog\"]) or drop the empty ENTRYPOINT".into(),
        ));
    }
    (parser.parsed, errors)
}

/// The rule an instruction's error is reported under.
fn rule_of(keyword: &str) -> &'static str {
    if BUILD_STEP_INSTRUCTIONS.contains(&keyword) {
        "UnsupportedInstruction"
    } else if CONFIG_INSTRUCTIONS.contains(&keyword) {
        "InvalidInstruction"
    } else {
        "UnknownInstruction"
    }
}

#[cfg(test)]
mod tests;
