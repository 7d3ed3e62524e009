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

use std::collections::BTreeMap;
use std::fmt;

/// Instructions that only make sense when the content comes from Dockerfile build steps.
const BUILD_STEP_INSTRUCTIONS: &[&str] = &["FROM", "RUN", "COPY", "ADD", "ONBUILD"];
const CONFIG_INSTRUCTIONS: &[&str] = &[
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

/// What the file says about the image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyntaxFile {
    pub directives: Directives,
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

/// The state of a parse: what the file said so far and what `$NAME` means at this point.
struct Parser<'a> {
    text: &'a str,
    escape: char,
    build_args: &'a BTreeMap<String, String>,
    declared_anywhere: Vec<String>,
    vars: BTreeMap<String, String>,
    parsed: SyntaxFile,
    /// The line of the last ENTRYPOINT.
    entrypoint_line: usize,
}

impl Parser<'_> {
    /// The line of an `ENTRYPOINT []` when no CMD gives a command either: an image that is
    /// known from the file alone to have nothing to run.
    fn empty_command_line(&self) -> Option<usize> {
        let empty_entrypoint = self.parsed.entrypoint.as_ref().is_some_and(Vec::is_empty);
        let no_cmd = self.parsed.cmd.as_ref().is_none_or(Vec::is_empty);
        (empty_entrypoint && no_cmd).then_some(self.entrypoint_line)
    }

    /// One instruction; the error is its message, the caller adds the line.
    fn instruction(&mut self, instruction: &Instruction) -> Result<(), String> {
        let rest = instruction.rest.as_str();
        match instruction.keyword.as_str() {
            "ARG" => self.arg(instruction),
            "ENTRYPOINT" => {
                self.parsed.entrypoint = Some(command(rest, self.parsed.shell.as_ref())?);
                self.entrypoint_line = instruction.line;
                Ok(())
            }
            "CMD" => {
                self.parsed.cmd = Some(command(rest, self.parsed.shell.as_ref())?);
                Ok(())
            }
            "SHELL" => {
                self.parsed.shell = Some(json_array("SHELL", rest)?);
                Ok(())
            }
            "ENV" => self.env(instruction),
            "LABEL" => {
                let pairs = self.words(instruction, rest)?;
                for (key, value) in key_values("LABEL", pairs)? {
                    self.parsed.labels.insert(key, value);
                }
                Ok(())
            }
            "MAINTAINER" => {
                let name = self.expand(instruction, rest)?;
                self.parsed.labels.insert("maintainer".into(), name);
                self.parsed.warnings.push((
                    instruction.line,
                    "MaintainerDeprecated",
                    "MAINTAINER is deprecated (as in Docker); use LABEL maintainer=\"...\"".into(),
                ));
                Ok(())
            }
            "EXPOSE" => {
                for word in self.words(instruction, rest)? {
                    let port = normalize_port(&word)?;
                    if !self.parsed.expose.contains(&port) {
                        self.parsed.expose.push(port);
                    }
                }
                Ok(())
            }
            "USER" => {
                let user = self.expand(instruction, rest.trim())?;
                if user.is_empty() || user.contains(char::is_whitespace) {
                    return Err(
                        "USER needs one user[:group], e.g. USER 1000:1000 or USER app".into(),
                    );
                }
                self.parsed.user = Some(user);
                Ok(())
            }
            "WORKDIR" => {
                let dir = self.expand(instruction, rest.trim())?;
                if dir.is_empty() {
                    return Err("WORKDIR needs a directory".into());
                }
                // Relative WORKDIRs are relative to the previous one, as in Docker.
                let base = self.parsed.workdir.clone().unwrap_or_else(|| "/".into());
                self.parsed.workdir = Some(clean_path(&base, &dir));
                Ok(())
            }
            "VOLUME" => self.volume(instruction),
            "STOPSIGNAL" => {
                let signal = self.expand(instruction, rest.trim())?;
                if !is_signal(&signal) {
                    return Err(format!("STOPSIGNAL {signal:?} is not a signal; use a name such as SIGTERM or a number"));
                }
                self.parsed.stop_signal = Some(signal);
                Ok(())
            }
            "HEALTHCHECK" => {
                self.parsed.healthcheck = Some(healthcheck(rest, self.parsed.shell.as_ref())?);
                Ok(())
            }
            keyword if BUILD_STEP_INSTRUCTIONS.contains(&keyword) => Err(format!(
                "{keyword} is not supported: the image content comes from Nix. \
                 Put build steps in the Nix file (default.nix) and keep only image settings here"
            )),
            keyword => {
                let hint = did_you_mean(keyword)
                    .map(|k| format!(" (did you mean {k}?)"))
                    .unwrap_or_default();
                Err(format!("unknown instruction {keyword}{hint}"))
            }
        }
    }

    fn undefined_message(&self, instruction: &Instruction, undefined: String) -> String {
        if self.declared_anywhere.contains(&undefined) {
            format!("${undefined} is used before its ARG {undefined} is declared; move the ARG above line {}", instruction.line)
        } else {
            format!("${undefined} is not defined; declare it with ARG {undefined} (and set it with --build-arg {undefined}=...) or ENV above")
        }
    }

    /// `text` with its variables expanded.
    fn expand(&self, instruction: &Instruction, text: &str) -> Result<String, String> {
        expand_variables(text, &self.vars, self.escape)
            .map_err(|undefined| self.undefined_message(instruction, undefined))
    }

    /// Words as Docker's lexer makes them: quotes removed, variables expanded outside single
    /// quotes, the escape character taken literally.
    fn words(&self, instruction: &Instruction, text: &str) -> Result<Vec<String>, String> {
        lex_words(text, &self.vars, self.escape).map_err(|err| match err {
            Lex::Undefined(name) => self.undefined_message(instruction, name),
            Lex::Unterminated => format!(
                "unterminated quote in {} {text}; close the quote",
                instruction.keyword
            ),
        })
    }

    fn arg(&mut self, instruction: &Instruction) -> Result<(), String> {
        for word in self.words(instruction, &instruction.rest)? {
            let (name, default) = match word.split_once('=') {
                Some((name, value)) => (name.to_string(), Some(value.to_string())),
                None => (word.clone(), None),
            };
            if !is_variable_name(&name) {
                return Err(format!(
                    "ARG {name:?} is not a valid name (letters, digits and _)"
                ));
            }
            let value = self
                .build_args
                .get(&name)
                .cloned()
                .or_else(|| default.clone());
            if let Some(value) = value {
                self.vars.insert(name.clone(), value);
            }
            self.parsed.args.push(ArgDecl {
                name,
                default,
                description: comment_above(self.text, instruction.line),
                line: instruction.line,
            });
        }
        Ok(())
    }

    fn env(&mut self, instruction: &Instruction) -> Result<(), String> {
        let rest = &instruction.rest;
        let first_word = rest.split_whitespace().next().unwrap_or_default();
        let pairs = if !rest.is_empty() && !first_word.contains('=') {
            // Docker's legacy form: `ENV KEY the rest of the line`.
            let (key, value) = rest.split_once(char::is_whitespace).ok_or_else(|| {
                format!("ENV {first_word} has no value; write ENV {first_word}=value")
            })?;
            vec![(key.to_string(), self.expand(instruction, value.trim())?)]
        } else {
            key_values("ENV", self.words(instruction, rest)?)?
        };
        for (key, value) in pairs {
            self.vars.insert(key.clone(), value.clone());
            self.parsed.env.retain(|(k, _)| *k != key);
            self.parsed.env.push((key, value));
        }
        Ok(())
    }

    fn volume(&mut self, instruction: &Instruction) -> Result<(), String> {
        let rest = instruction.rest.trim();
        let volumes = if rest.starts_with('[') {
            json_array("VOLUME", rest)?
                .iter()
                .map(|v| self.expand(instruction, v))
                .collect::<Result<Vec<_>, _>>()?
        } else {
            self.words(instruction, rest)?
        };
        if volumes.is_empty() {
            return Err("VOLUME needs at least one path".into());
        }
        for volume in volumes {
            if !self.parsed.volumes.contains(&volume) {
                self.parsed.volumes.push(volume);
            }
        }
        Ok(())
    }
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The `#` comment lines directly above line `line` (1-based), joined.
fn comment_above(text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut comments = Vec::new();
    let mut index = line.saturating_sub(1);
    while index > 0 {
        index -= 1;
        let Some(body) = lines[index].trim().strip_prefix('#') else {
            break;
        };
        if parse_directives(lines[index].trim()) != Directives::default() {
            break;
        }
        comments.push(body.trim());
    }
    comments.reverse();
    comments.join(" ")
}

/// Docker's variable substitution: `$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME:+word}`; none
/// inside single quotes; the escape character makes `$` literal. An undefined name is an error
/// (the name is returned), except inside `:-`/`:+` forms.
pub fn expand_variables(
    text: &str,
    vars: &BTreeMap<String, String>,
    escape: char,
) -> Result<String, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut in_single = false;
    while i < chars.len() {
        let c = chars[i];
        if c == escape && !in_single && chars.get(i + 1) == Some(&'$') {
            out.push('$');
            i += 2;
            continue;
        }
        if c == '\'' {
            in_single = !in_single;
        }
        if c != '$' || in_single {
            out.push(c);
            i += 1;
            continue;
        }
        if chars.get(i + 1) == Some(&'{') {
            let Some(close) = chars[i + 2..].iter().position(|c| *c == '}') else {
                out.push_str(&chars[i..].iter().collect::<String>());
                break;
            };
            let inner: String = chars[i + 2..i + 2 + close].iter().collect();
            i += close + 3;
            let (name, modifier) = match inner.find(':') {
                Some(at) => (&inner[..at], Some(&inner[at..])),
                None => (inner.as_str(), None),
            };
            let value = vars.get(name).filter(|v| !v.is_empty());
            match modifier {
                None => out.push_str(vars.get(name).ok_or_else(|| name.to_string())?),
                Some(m) if m.starts_with(":-") => match value {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&expand_variables(&m[2..], vars, escape)?),
                },
                Some(m) if m.starts_with(":+") => {
                    if value.is_some() {
                        out.push_str(&expand_variables(&m[2..], vars, escape)?);
                    }
                }
                Some(_) => return Err(name.to_string()),
            }
            continue;
        }
        let name: String = chars[i + 1..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
            .collect();
        if name.is_empty() {
            out.push('$');
            i += 1;
            continue;
        }
        i += 1 + name.chars().count();
        out.push_str(vars.get(&name).ok_or(name)?);
    }
    Ok(out)
}

/// Why `lex_words` failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lex {
    Unterminated,
    Undefined(String),
}

/// Splits `text` into words as Docker's shell lexer does for ENV, LABEL, ARG, EXPOSE and
/// VOLUME: whitespace separates words outside quotes, quotes are removed, `$NAME`/`${…}` expand
/// outside single quotes, and the escape character makes the next character literal.
pub fn lex_words(
    text: &str,
    vars: &BTreeMap<String, String>,
    escape: char,
) -> Result<Vec<String>, Lex> {
    let chars: Vec<char> = text.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let (mut single, mut double) = (false, false);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if single {
            if c == '\'' {
                single = false;
            } else {
                word.push(c);
            }
            i += 1;
            continue;
        }
        match c {
            c if c == escape && i + 1 < chars.len() => {
                word.push(chars[i + 1]);
                in_word = true;
                i += 2;
            }
            '\'' if !double => {
                single = true;
                in_word = true;
                i += 1;
            }
            '"' => {
                double = !double;
                in_word = true;
                i += 1;
            }
            '$' => {
                // Expand one variable reference: the text up to its end goes to expand_variables.
                let end = variable_end(&chars, i);
                let reference: String = chars[i..end].iter().collect();
                word.push_str(&expand_variables(&reference, vars, escape).map_err(Lex::Undefined)?);
                in_word = true;
                i = end;
            }
            c if c.is_whitespace() && !double => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
                i += 1;
            }
            c => {
                word.push(c);
                in_word = true;
                i += 1;
            }
        }
    }
    if single || double {
        return Err(Lex::Unterminated);
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Where the variable reference starting at `chars[start] == '$'` ends.
fn variable_end(chars: &[char], start: usize) -> usize {
    match chars.get(start + 1) {
        Some('{') => chars[start..]
            .iter()
            .position(|c| *c == '}')
            .map_or(chars.len(), |close| start + close + 1),
        _ => {
            start
                + 1
                + chars[start + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_alphanumeric() || **c == '_')
                    .count()
        }
    }
}

fn json_array(keyword: &str, rest: &str) -> Result<Vec<String>, String> {
    serde_json::from_str::<Vec<String>>(rest).map_err(|_| {
        format!("{keyword} needs a JSON array of strings with double quotes, e.g. {keyword} [\"/bin/sh\", \"-c\"]; got {rest}")
    })
}

/// An exec-form JSON array, or a shell-form line: with a SHELL, `SHELL + [line]` as Docker
/// does; without one (the image has no shell) the line split into words.
fn command(rest: &str, shell: Option<&Command>) -> Result<Command, String> {
    if rest.starts_with('[') {
        if let Ok(words) = serde_json::from_str::<Vec<String>>(rest) {
            return Ok(words);
        }
        if serde_json::from_str::<serde_json::Value>(rest).is_ok() {
            return Err("the exec form must be a JSON array of strings, e.g. [\"hello\", \"--greeting\", \"hi\"]".into());
        }
        return Err(format!(
            "{rest} is not a valid JSON array; write the exec form as [\"program\", \"arg\"] with double quotes"
        ));
    }
    if let Some(shell) = shell {
        let mut command = shell.clone();
        command.push(rest.to_string());
        return Ok(command);
    }
    shell_words::split(rest).map_err(|_| {
        format!("unterminated quote in {rest:?}; close the quote or use the exec form [\"program\", \"arg\"]")
    })
}

fn normalize_port(word: &str) -> Result<String, String> {
    let (port, proto) = word.split_once('/').unwrap_or((word, "tcp"));
    let proto = proto.to_ascii_lowercase();
    let valid_number = |p: &str| p.parse::<u16>().is_ok_and(|n| n > 0);
    let valid = match port.split_once('-') {
        Some((a, b)) => valid_number(a) && valid_number(b),
        None => valid_number(port),
    };
    if !valid || !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
        return Err(format!(
            "EXPOSE {word:?} is not a port; write 8080, 8080/tcp or 53/udp"
        ));
    }
    Ok(format!("{port}/{proto}"))
}

fn is_signal(signal: &str) -> bool {
    signal.parse::<u32>().is_ok_and(|n| (1..=64).contains(&n))
        || (signal.starts_with("SIG")
            && signal.len() > 3
            && signal[3..]
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '+' || c == '-'))
}

/// `/a` + `b/../c` → `/a/c`.
fn clean_path(base: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{base}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// `HEALTHCHECK [--interval=..] [--timeout=..] [--start-period=..] [--start-interval=..]
/// [--retries=N] CMD ...` or `HEALTHCHECK NONE`.
fn healthcheck(rest: &str, shell: Option<&Command>) -> Result<Healthcheck, String> {
    let rest = rest.trim();
    if rest.eq_ignore_ascii_case("NONE") {
        return Ok(Healthcheck {
            test: vec!["NONE".into()],
            ..Healthcheck::default()
        });
    }
    let mut check = Healthcheck::default();
    let mut remaining = rest;
    while let Some(option) = remaining.strip_prefix("--") {
        let (flag, after) = option
            .split_once(char::is_whitespace)
            .unwrap_or((option, ""));
        let (name, value) = flag.split_once('=').ok_or_else(|| {
            format!("HEALTHCHECK option --{flag} needs a value, e.g. --{flag}=30s")
        })?;
        match name {
            "interval" => check.interval = Some(duration(name, value)?),
            "timeout" => check.timeout = Some(duration(name, value)?),
            "start-period" => check.start_period = Some(duration(name, value)?),
            "start-interval" => check.start_interval = Some(duration(name, value)?),
            "retries" => {
                check.retries = Some(value.parse().map_err(|_| format!("HEALTHCHECK --retries={value} is not a number"))?)
            }
            other => return Err(format!("HEALTHCHECK has no option --{other}; it takes --interval, --timeout, --start-period, --start-interval and --retries")),
        }
        remaining = after.trim_start();
    }
    let (keyword, command_text) = remaining
        .split_once(char::is_whitespace)
        .unwrap_or((remaining, ""));
    if !keyword.eq_ignore_ascii_case("CMD") || command_text.trim().is_empty() {
        return Err("HEALTHCHECK needs CMD and a command, or NONE".into());
    }
    let command_text = command_text.trim();
    check.test = if command_text.starts_with('[') {
        let mut test = vec!["CMD".to_string()];
        test.extend(command(command_text, None)?);
        test
    } else {
        match shell {
            Some(_) => vec!["CMD-SHELL".to_string(), command_text.to_string()],
            None => {
                let mut test = vec!["CMD".to_string()];
                test.extend(command(command_text, None)?);
                test
            }
        }
    };
    Ok(check)
}

/// Go-style durations as Docker takes them: `30s`, `1m30s`, `500ms`, `1h`; in nanoseconds.
fn duration(name: &str, text: &str) -> Result<u64, String> {
    let bad =
        || format!("HEALTHCHECK --{name}={text} is not a duration; write e.g. 30s, 1m30s or 500ms");
    let mut total: u64 = 0;
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let number: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let (unit, size) = [
            ("ms", 1_000_000u64),
            ("us", 1_000),
            ("ns", 1),
            ("h", 3_600_000_000_000),
            ("m", 60_000_000_000),
            ("s", 1_000_000_000),
        ]
        .into_iter()
        .find(|(unit, _)| rest.starts_with(unit))
        .ok_or_else(bad)?;
        rest = &rest[unit.len()..];
        total = number
            .checked_mul(size)
            .and_then(|n| total.checked_add(n))
            .ok_or_else(bad)?;
    }
    Ok(total)
}

/// `K=V K2="v 2"` pairs from words already lexed (quotes removed, variables expanded).
fn key_values(keyword: &str, words: Vec<String>) -> Result<Vec<(String, String)>, String> {
    if words.is_empty() {
        return Err(format!("{keyword} needs at least one KEY=value"));
    }
    words
        .into_iter()
        .map(|word| match word.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
            _ => Err(format!(
                "{keyword} {word:?} has no value; write {keyword} KEY=value"
            )),
        })
        .collect()
}

fn did_you_mean(keyword: &str) -> Option<&'static str> {
    CONFIG_INSTRUCTIONS
        .iter()
        .chain(BUILD_STEP_INSTRUCTIONS)
        .map(|candidate| (levenshtein(keyword, candidate), *candidate))
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, candidate)| candidate)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_plain(file: &str, text: &str) -> Result<SyntaxFile, SyntaxError> {
        parse(file, text, &BTreeMap::new())
    }

    #[test]
    fn reads_directives_and_instructions() {
        let text = "# syntax=org/nix-frontend\n# nix=app.nix\n# attr=hello\n\n# a comment\nENTRYPOINT [\"hello\", \"--greeting\", \"hi\"]\nCMD --verbose \"two words\"\nENV LANG=C.UTF-8 A=\"b c\"\nENV LEGACY some value\nLABEL a=b \\\n  c=\"d e\"\n";
        let parsed = parse_plain("Dockerfile", text).unwrap();
        assert_eq!(
            parsed.directives.syntax.as_deref(),
            Some("org/nix-frontend")
        );
        assert_eq!(parsed.directives.nix.as_deref(), Some("app.nix"));
        assert_eq!(parsed.directives.attr.as_deref(), Some("hello"));
        assert_eq!(parsed.entrypoint.unwrap(), ["hello", "--greeting", "hi"]);
        assert_eq!(parsed.cmd.unwrap(), ["--verbose", "two words"]);
        assert_eq!(
            parsed.env,
            [
                ("LANG".into(), "C.UTF-8".into()),
                ("A".into(), "b c".into()),
                ("LEGACY".into(), "some value".into())
            ]
        );
        assert_eq!(parsed.labels["a"], "b");
        assert_eq!(parsed.labels["c"], "d e");
    }

    #[test]
    fn shell_wraps_shell_forms_as_docker_does() {
        let parsed = parse_plain(
            "Dockerfile",
            "CMD run --fast\nSHELL [\"/bin/sh\", \"-c\"]\nENTRYPOINT exec app \"$X\"\nHEALTHCHECK CMD curl -f localhost || exit 1\n",
        )
        .unwrap();
        assert_eq!(parsed.cmd.unwrap(), ["run", "--fast"]);
        assert_eq!(
            parsed.entrypoint.unwrap(),
            ["/bin/sh", "-c", "exec app \"$X\""]
        );
        assert_eq!(
            parsed.healthcheck.unwrap().test,
            ["CMD-SHELL", "curl -f localhost || exit 1"]
        );
        let err = parse_plain("Dockerfile", "SHELL /bin/sh -c\n").unwrap_err();
        assert!(err.message.contains("JSON array"), "{err}");
    }

    #[test]
    fn arg_substitution_forms() {
        let args = BTreeMap::from([("FROM_CLI".to_string(), "cli".to_string())]);
        let text = "ARG FROM_CLI\nARG WITH_DEFAULT=d\nARG EMPTY\nENV A=$FROM_CLI B=${WITH_DEFAULT} C=${EMPTY:-fallback} D=${WITH_DEFAULT:+set} E=\\$literal\nLABEL l=${FROM_CLI}-x\n";
        let parsed = parse("Dockerfile", text, &args).unwrap();
        let env: BTreeMap<_, _> = parsed.env.into_iter().collect();
        assert_eq!(env["A"], "cli");
        assert_eq!(env["B"], "d");
        assert_eq!(env["C"], "fallback");
        assert_eq!(env["D"], "set");
        assert_eq!(env["E"], "$literal");
        assert_eq!(parsed.labels["l"], "cli-x");
        assert_eq!(parsed.args.len(), 3);
    }

    #[test]
    fn escape_directive_changes_the_continuation_character() {
        let text = "# escape=`\nLABEL a=b `\n  c=d\n";
        let parsed = parse_plain("Dockerfile", text).unwrap();
        assert_eq!(parsed.labels.len(), 2);
    }

    #[test]
    fn build_steps_are_errors_naming_the_line() {
        let err = parse_plain(
            "Dockerfile",
            "# syntax=org/nix-frontend\nENV A=b\nRUN make\n",
        )
        .unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("RUN is not supported"), "{err}");
        assert!(err.message.contains("default.nix"), "{err}");
        assert_eq!(
            err.to_string().split(':').take(2).collect::<Vec<_>>(),
            ["Dockerfile", "3"]
        );
    }

    #[test]
    fn check_collects_every_error_and_warning_in_order() {
        let text = "# syntax=org/nix-frontend\nRUN make\nENV A=b\nCOPY . /\nEXPOSE 99999\nMAINTAINER me\nENTRYPIONT [\"x\"]\nHEALTHCHECK --interval=3x CMD [\"a\"]\nCMD [\"a\"\nLABEL l=$NOPE\nENTRYPOINT []\n";
        let (parsed, errors) = check("Dockerfile", text, &BTreeMap::new());
        let found: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.rule)).collect();
        assert_eq!(
            found,
            [
                (2, "UnsupportedInstruction"),
                (4, "UnsupportedInstruction"),
                (5, "InvalidInstruction"),
                (7, "UnknownInstruction"),
                (8, "InvalidInstruction"),
                (9, "InvalidInstruction"),
                (10, "InvalidInstruction"),
            ]
        );
        assert_eq!(parsed.env, [("A".to_string(), "b".to_string())]);
        let warnings: Vec<(usize, &str)> =
            parsed.warnings.iter().map(|(l, r, _)| (*l, *r)).collect();
        assert_eq!(
            warnings,
            [(6, "MaintainerDeprecated"), (11, "NoEntrypoint")]
        );
        assert_eq!(
            parse_plain("Dockerfile", text).unwrap_err(),
            errors[0],
            "the build stops at the check's first error"
        );
    }

    #[test]
    fn unknown_instructions_suggest_a_fix() {
        let err = parse_plain("Dockerfile", "ENTRYPIONT [\"x\"]\n").unwrap_err();
        assert!(err.message.contains("did you mean ENTRYPOINT"), "{err}");
    }

    #[test]
    fn bad_values_name_the_line() {
        for (text, needle) in [
            ("CMD [\"a\", 1]\n", "JSON array of strings"),
            ("CMD [\"a\"\n", "not a valid JSON array"),
            ("ENTRYPOINT hello \"unterminated\n", "unterminated quote"),
            ("LABEL nokey\n", "has no value"),
            ("ENV\n", "at least one"),
            ("\n\nLABEL a=\"b\n", "unterminated quote"),
        ] {
            let err = parse_plain("Dockerfile", text).unwrap_err();
            assert!(err.message.contains(needle), "{text:?}: {err}");
        }
        assert_eq!(
            parse_plain("Dockerfile", "\n\nLABEL a=\"b\n")
                .unwrap_err()
                .line,
            3
        );
    }

    #[test]
    fn directives_of_a_nix_file() {
        let directives = parse_directives("# syntax=org/nix-frontend\n# attr=hello\n{ x = 1; }\n");
        assert_eq!(directives.attr.as_deref(), Some("hello"));
        let none = parse_directives("{ x = 1; }\n# attr=hello\n");
        assert_eq!(none, Directives::default());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in "(?s).{0,200}") {
            let _ = parse_plain("Dockerfile", &text);
        }

        #[test]
        fn never_panics_expanding_variables(text in "[$a-zA-Z{}:+\\-_'\\\\ ]{0,40}") {
            let vars = BTreeMap::from([("A".to_string(), "1".to_string())]);
            let _ = expand_variables(&text, &vars, '\\');
        }

        #[test]
        fn never_panics_lexing_words(text in "[$a-zA-Z{}:+=\\-_'\"\\\\` ]{0,40}") {
            let vars = BTreeMap::from([("A".to_string(), "1 2".to_string())]);
            let _ = lex_words(&text, &vars, '\\');
            let _ = lex_words(&text, &vars, '`');
        }

        #[test]
        fn never_panics_on_healthchecks(text in "(--[a-z-]{0,14}=[0-9a-z]{0,6} ){0,3}(CMD|NONE|cmd)? ?.{0,20}") {
            let _ = healthcheck(&text, None);
        }

        #[test]
        fn never_panics_on_instruction_like_lines(
            lines in proptest::collection::vec(
                "(ENTRYPOINT|CMD|ENV|LABEL|RUN|#|) ?[\\[\\]\"'=a-z \\\\`]{0,20}", 0..8)
        ) {
            let _ = parse_plain("Dockerfile", &lines.join("\n"));
        }
    }
}
