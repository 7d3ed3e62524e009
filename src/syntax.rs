//! The syntax file in Dockerfile mode: parser directives (`# syntax=`, `# escape=`, `# nix=`,
//! `# attr=`) and the configuration instructions, in Docker's own syntax (exec and shell forms,
//! line continuations with the escape character, comments). Every error names its line.
//!
//! Shell-form ENTRYPOINT/CMD are split into words (shell-words crate) instead of being wrapped in
//! `/bin/sh -c`: the image has no shell.

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

/// What the file says about the image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyntaxFile {
    pub directives: Directives,
    pub entrypoint: Option<Command>,
    pub cmd: Option<Command>,
    /// In order of appearance; later ones win.
    pub env: Vec<(String, String)>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub file: String,
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

/// Parses a Dockerfile-mode syntax file named `file` (for messages).
pub fn parse(file: &str, text: &str) -> Result<SyntaxFile, SyntaxError> {
    let directives = parse_directives(text);
    let escape = directives.escape.unwrap_or('\\');
    let mut parsed = SyntaxFile {
        directives,
        ..SyntaxFile::default()
    };
    for instruction in logical_lines(text, escape) {
        let error = |message: String| SyntaxError {
            file: file.to_string(),
            line: instruction.line,
            message,
        };
        let keyword = instruction.keyword.as_str();
        match keyword {
            "ENTRYPOINT" => parsed.entrypoint = Some(command(&instruction.rest).map_err(error)?),
            "CMD" => parsed.cmd = Some(command(&instruction.rest).map_err(error)?),
            "ENV" => parsed.env.extend(key_values(keyword, &instruction.rest, true).map_err(error)?),
            "LABEL" => parsed
                .labels
                .extend(key_values(keyword, &instruction.rest, false).map_err(error)?),
            _ if BUILD_STEP_INSTRUCTIONS.contains(&keyword) => {
                return Err(error(format!(
                    "{keyword} is not supported: the image content comes from Nix. \
                     Put build steps in the Nix file (default.nix) and keep only image settings \
                     (ENTRYPOINT, CMD, ENV, LABEL) here"
                )))
            }
            _ if CONFIG_INSTRUCTIONS.contains(&keyword) => {
                return Err(error(format!(
                    "{keyword} is not supported yet; this version accepts ENTRYPOINT, CMD, ENV and LABEL"
                )))
            }
            _ => {
                let hint = did_you_mean(keyword)
                    .map(|k| format!(" (did you mean {k}?)"))
                    .unwrap_or_default();
                return Err(error(format!("unknown instruction {keyword}{hint}")));
            }
        }
    }
    Ok(parsed)
}

/// An exec-form JSON array, or a shell-form line split into words.
fn command(rest: &str) -> Result<Command, String> {
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
    shell_words::split(rest).map_err(|_| {
        format!("unterminated quote in {rest:?}; close the quote or use the exec form [\"program\", \"arg\"]")
    })
}

/// `K=V K2="v 2"` pairs; with `legacy_space`, also Docker's old `ENV K some value`.
fn key_values(
    keyword: &str,
    rest: &str,
    legacy_space: bool,
) -> Result<Vec<(String, String)>, String> {
    if rest.is_empty() {
        return Err(format!("{keyword} needs at least one KEY=value"));
    }
    let first_word = rest.split_whitespace().next().unwrap_or_default();
    if legacy_space && !first_word.contains('=') {
        let (key, value) = rest.split_once(char::is_whitespace).ok_or_else(|| {
            format!("{keyword} {first_word} has no value; write {keyword} {first_word}=value")
        })?;
        return Ok(vec![(key.to_string(), value.trim().to_string())]);
    }
    let words =
        shell_words::split(rest).map_err(|_| format!("unterminated quote in {keyword} {rest}"))?;
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

    #[test]
    fn reads_directives_and_instructions() {
        let text = "# syntax=org/nix-frontend\n# nix=app.nix\n# attr=hello\n\n# a comment\nENTRYPOINT [\"hello\", \"--greeting\", \"hi\"]\nCMD --verbose \"two words\"\nENV LANG=C.UTF-8 A=\"b c\"\nENV LEGACY some value\nLABEL a=b \\\n  c=\"d e\"\n";
        let parsed = parse("Dockerfile", text).unwrap();
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
    fn escape_directive_changes_the_continuation_character() {
        let text = "# escape=`\nLABEL a=b `\n  c=d\n";
        let parsed = parse("Dockerfile", text).unwrap();
        assert_eq!(parsed.labels.len(), 2);
    }

    #[test]
    fn build_steps_are_errors_naming_the_line() {
        let err = parse(
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
    fn unknown_instructions_suggest_a_fix() {
        let err = parse("Dockerfile", "ENTRYPIONT [\"x\"]\n").unwrap_err();
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
            let err = parse("Dockerfile", text).unwrap_err();
            assert!(err.message.contains(needle), "{text:?}: {err}");
        }
        assert_eq!(
            parse("Dockerfile", "\n\nLABEL a=\"b\n").unwrap_err().line,
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
            let _ = parse("Dockerfile", &text);
        }

        #[test]
        fn never_panics_on_instruction_like_lines(
            lines in proptest::collection::vec(
                "(ENTRYPOINT|CMD|ENV|LABEL|RUN|#|) ?[\\[\\]\"'=a-z \\\\`]{0,20}", 0..8)
        ) {
            let _ = parse("Dockerfile", &lines.join("\n"));
        }
    }
}
