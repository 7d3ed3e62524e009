//! A Nix file's syntax, checked without Nix by `rnix` (the parser of nixpkgs-fmt and nil):
//! `--check` reports a syntax error at its line and column without a builder image, as the
//! Dockerfile frontend lints without pulling a base image. Evaluation errors stay Nix's.

use rnix::ParseError;
use rnix::SyntaxKind;

/// The first syntax error of a Nix file (the others mostly follow from it, and Nix itself
/// stops at the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NixSyntaxError {
    /// 1-based, as Nix prints them.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Files larger than this are not checked (left to Nix): rnix's time grows with the square of
/// some nestings (100,000 nested lists take 9 s), and its stack with their depth.
pub const MAX_CHECKED_BYTES: usize = 256 << 10;
/// How long the check may take before it is given up (left to Nix).
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);
/// The parser's own thread's stack (reserved, not used until needed): rnix's recursion limit does
/// not cover every construct (nested lists, chains of `!`), and an overflow would end the
/// process. 65,536 nested lists need under 32 MiB in a release build.
const PARSER_STACK_BYTES: usize = 1 << 30;

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    Clean,
    Error(NixSyntaxError),
    /// Not checked, and why (too big, too slow): Nix checks it when it builds.
    Skipped(String),
}

/// Checks `text` on a thread of its own with a large stack, for at most `CHECK_TIMEOUT`.
pub fn check(text: &str) -> Checked {
    if text.len() > MAX_CHECKED_BYTES {
        return Checked::Skipped(format!(
            "it is over {} KiB, so its syntax is left to Nix",
            MAX_CHECKED_BYTES >> 10
        ));
    }
    let owned = text.to_string();
    let (sender, receiver) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("nix-syntax".into())
        .stack_size(PARSER_STACK_BYTES)
        .spawn(move || {
            let _ = sender.send(parse_first_error(&owned));
        });
    if spawned.is_err() {
        return Checked::Skipped("the syntax check could not start".into());
    }
    // A check that takes too long is left running; the frontend exits after answering.
    match receiver.recv_timeout(CHECK_TIMEOUT) {
        Ok(Some(error)) => Checked::Error(error),
        Ok(None) => Checked::Clean,
        Err(_) => Checked::Skipped(format!(
            "its syntax check took over {} s (deep nesting), so it is left to Nix",
            CHECK_TIMEOUT.as_secs()
        )),
    }
}

fn parse_first_error(text: &str) -> Option<NixSyntaxError> {
    let parsed = rnix::Root::parse(text);
    let error = parsed.errors().first()?;
    let (offset, message) = match error {
        ParseError::Unexpected(range) | ParseError::UnexpectedExtra(range) => (
            usize::from(range.start()),
            format!("unexpected {}", quoted(text, range.start(), range.end())),
        ),
        ParseError::UnexpectedWanted(_, range, wanted) => (
            usize::from(range.start()),
            format!(
                "unexpected {}, expecting {}",
                quoted(text, range.start(), range.end()),
                expected(wanted)
            ),
        ),
        ParseError::UnexpectedDoubleBind(range) => (
            usize::from(range.start()),
            format!(
                "{} binds a pattern twice",
                quoted(text, range.start(), range.end())
            ),
        ),
        ParseError::DuplicatedArgs(range, name) => (
            usize::from(range.start()),
            format!("duplicate formal function argument '{name}'"),
        ),
        // At the end of the last line with text, so that the line shown is one the file has.
        ParseError::UnexpectedEOF => (text.trim_end().len(), "unexpected end of file".to_string()),
        ParseError::UnexpectedEOFWanted(wanted) => (
            text.trim_end().len(),
            format!("unexpected end of file, expecting {}", expected(wanted)),
        ),
        ParseError::RecursionLimitExceeded => (0, "the file nests too deeply".to_string()),
        _ => (0, error.to_string()),
    };
    let (line, column) = line_and_column(text, offset);
    Some(NixSyntaxError {
        line,
        column,
        message,
    })
}

/// The first word of the source between two offsets, quoted, or "end of file" when empty.
fn quoted(text: &str, start: rnix::TextSize, end: rnix::TextSize) -> String {
    let slice = text
        .get(usize::from(start)..usize::from(end))
        .unwrap_or_default()
        .split_whitespace()
        .next()
        .unwrap_or_default();
    match slice.chars().count() {
        0 => "end of file".to_string(),
        1..=40 => format!("'{slice}'"),
        _ => format!("'{}…'", slice.chars().take(40).collect::<String>()),
    }
}

/// What the parser wanted, as Nix's own messages spell tokens.
fn expected(wanted: &[SyntaxKind]) -> String {
    let names: Vec<String> = wanted.iter().map(|kind| token_name(*kind)).collect();
    match names.as_slice() {
        [] => "something else".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

fn token_name(kind: SyntaxKind) -> String {
    use SyntaxKind::*;
    let symbol = match kind {
        TOKEN_SEMICOLON => ";",
        TOKEN_COLON => ":",
        TOKEN_COMMA => ",",
        TOKEN_DOT => ".",
        TOKEN_ASSIGN => "=",
        TOKEN_L_BRACE => "{",
        TOKEN_R_BRACE => "}",
        TOKEN_L_BRACK => "[",
        TOKEN_R_BRACK => "]",
        TOKEN_L_PAREN => "(",
        TOKEN_R_PAREN => ")",
        TOKEN_IN => "in",
        TOKEN_THEN => "then",
        TOKEN_ELSE => "else",
        TOKEN_ELLIPSIS => "...",
        TOKEN_AT => "@",
        TOKEN_QUESTION => "?",
        TOKEN_INTERPOL_END => "}",
        TOKEN_STRING_END => "end of string",
        TOKEN_IDENT => return "an identifier".to_string(),
        _ => {
            let name = format!("{kind:?}");
            let name = name
                .trim_start_matches("TOKEN_")
                .trim_start_matches("NODE_")
                .to_lowercase()
                .replace('_', " ");
            return name;
        }
    };
    format!("'{symbol}'")
}

/// 1-based line and column of a byte offset (columns in characters).
fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_error(text: &str) -> Option<NixSyntaxError> {
        match check(text) {
            Checked::Error(error) => Some(error),
            Checked::Clean => None,
            Checked::Skipped(reason) => panic!("not checked: {reason}"),
        }
    }

    #[test]
    fn valid_nix_has_no_error() {
        let text = "# syntax=org/nix-frontend\n{ pkgs ? import <nixpkgs> { } }:\nlet x = 1; in { a = x; b = \"${toString x}\"; }\n";
        assert_eq!(first_error(text), None);
    }

    #[test]
    fn a_missing_semicolon_is_found_at_its_line() {
        let text = "{\n  a = 1\n  b = 2;\n}\n";
        let error = first_error(text).unwrap();
        assert_eq!(error.line, 3, "{error:?}");
        assert!(error.message.contains("expecting ';'"), "{error:?}");
    }

    #[test]
    fn an_unclosed_set_is_the_end_of_file() {
        let text = "let\n  a = {\n    b = 1;\n";
        let error = first_error(text).unwrap();
        assert_eq!((error.line, error.column), (3, 11), "{error:?}");
        assert!(
            error.message.starts_with("unexpected end of file"),
            "{error:?}"
        );
    }

    #[test]
    fn a_stray_token_is_quoted() {
        let error = first_error("{ a = 1; }; }\n").unwrap();
        assert_eq!((error.line, error.column), (1, 11), "{error:?}");
        assert_eq!(error.message, "unexpected ';'");
    }

    #[test]
    fn deep_nesting_neither_overflows_nor_hangs() {
        // Constructs rnix's recursion limit does not cover, 5,000 deep: a result or a skip, in
        // bounded time, never a crash.
        for (unit, valid) in [("[", false), ("!", false), ("-", false), ("f ", true)] {
            let text = unit.repeat(5_000);
            let started = std::time::Instant::now();
            match check(&text) {
                Checked::Skipped(_) => {}
                Checked::Clean => assert!(valid, "{unit:?} nested is no valid Nix"),
                Checked::Error(error) => assert!(!valid, "{unit:?}: {error:?}"),
            }
            assert!(started.elapsed() < CHECK_TIMEOUT + std::time::Duration::from_secs(1));
        }
        assert!(matches!(
            check(&"[".repeat(MAX_CHECKED_BYTES + 1)),
            Checked::Skipped(reason) if reason.contains("256 KiB")
        ));
    }

    #[test]
    fn columns_count_characters_and_lines_start_at_one() {
        assert_eq!(line_and_column("ab\ncdé f", 9), (2, 6));
        assert_eq!(line_and_column("x", 0), (1, 1));
        assert_eq!(line_and_column("é", 1), (1, 1));
    }

    proptest::proptest! {
        #[test]
        fn first_error_never_panics(text in "[a-z0-9 {}()\\[\\];:=.,?@'\"$\n\u{e9}/<>|&!+*-]{0,80}") {
            if let Some(error) = first_error(&text) {
                proptest::prop_assert!(error.line >= 1 && error.column >= 1);
                proptest::prop_assert!(error.line <= text.lines().count().max(1), "{error:?}");
            }
        }
    }
}
