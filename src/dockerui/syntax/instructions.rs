//! The instructions taken one at a time: what each does to the parsed file and to the variables
//! later instructions see, and the message when it cannot be taken (with a suggestion for a
//! misspelt keyword).

use std::collections::BTreeMap;

use super::expand::{expand_variables, lex_words, Lex};
use super::values::{
    clean_path, command, healthcheck, is_signal, json_array, key_values, normalize_port,
};
use super::{
    parse_directives, ArgDecl, BaseImage, Directives, Instruction, SyntaxFile,
    BUILD_STEP_INSTRUCTIONS, CONFIG_INSTRUCTIONS,
};

/// The state of a parse: what the file said so far and what `$NAME` means at this point.
pub(super) struct Parser<'a> {
    pub(super) text: &'a str,
    pub(super) escape: char,
    pub(super) build_args: &'a BTreeMap<String, String>,
    pub(super) declared_anywhere: Vec<String>,
    pub(super) vars: BTreeMap<String, String>,
    pub(super) parsed: SyntaxFile,
    /// The line of the last ENTRYPOINT.
    pub(super) entrypoint_line: usize,
    /// The line of the FROM, 0 before one.
    pub(super) from_line: usize,
}

impl Parser<'_> {
    /// The line of an `ENTRYPOINT []` when no CMD gives a command either: an image that is
    /// known from the file alone to have nothing to run.
    pub(super) fn empty_command_line(&self) -> Option<usize> {
        let empty_entrypoint = self.parsed.entrypoint.as_ref().is_some_and(Vec::is_empty);
        let no_cmd = self.parsed.cmd.as_ref().is_none_or(Vec::is_empty);
        (empty_entrypoint && no_cmd).then_some(self.entrypoint_line)
    }

    /// One instruction; the error is its message, the caller adds the line.
    pub(super) fn instruction(&mut self, instruction: &Instruction) -> Result<(), String> {
        let rest = instruction.rest.as_str();
        match instruction.keyword.as_str() {
            "ARG" => self.arg(instruction),
            "FROM" => self.from(instruction),
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

    /// One FROM, whose image is the base: the Nix closure goes on top of it.
    fn from(&mut self, instruction: &Instruction) -> Result<(), String> {
        if self.from_line != 0 {
            return Err(format!(
                "a second FROM (the first is on line {}): the image is the Nix closure on one base; \
                 build other stages in the Nix file",
                self.from_line
            ));
        }
        self.from_line = instruction.line;
        let mut words = self.words(instruction, &instruction.rest)?.into_iter();
        let mut platform = None;
        let mut image = None;
        for word in words.by_ref() {
            if let Some(value) = word.strip_prefix("--platform=") {
                platform = Some(value.to_string());
            } else if word.starts_with("--") {
                return Err(format!(
                    "FROM {word}: the only flag FROM takes is --platform"
                ));
            } else {
                image = Some(word);
                break;
            }
        }
        let image = image.ok_or("FROM needs an image, e.g. FROM gcr.io/distroless/static")?;
        match words.next() {
            None => {}
            Some(word) if word.eq_ignore_ascii_case("as") && words.next().is_some() => {}
            Some(_) => {
                return Err(format!(
                    "FROM {image} takes at most `AS name` after the image"
                ))
            }
        }
        if words.next().is_some() {
            return Err(format!(
                "FROM {image} takes at most `AS name` after the image"
            ));
        }
        if image != "scratch" {
            self.parsed.from = Some(BaseImage {
                image,
                platform,
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
