//! `.dockerignore` as Docker's client reads it: the text of the file in, the exclude patterns
//! BuildKit's local source takes out. BuildKit matches the patterns (fsutil's pattern matcher);
//! this module only normalises them the way the Docker CLI does before sending them, so that a
//! root-anchored `/secret.txt` means `secret.txt` and never silently matches nothing.
//!
//! The rules (moby's `dockerignore`/`ignorefile` reader): a UTF-8 byte-order mark at the start is
//! dropped; a line whose first character is `#` is a comment; lines are trimmed and blank ones
//! skipped; a leading `!` marks an exception and the rest is normalised like any pattern: the
//! path is cleaned (Go's `filepath.Clean`: `//` collapsed, `.` dropped, `..` resolved) and a
//! leading `/` removed; a name that then starts with `!` is escaped (`\!`) so that BuildKit does
//! not read it as an exception. Patterns that clean to nothing (`/`, `.`, a lone `!`) match no file and
//! are dropped here, so BuildKit never has to reject them.

const BOM: char = '\u{feff}';

/// The exclude patterns of a `.dockerignore` file's text, in order.
pub fn parse(text: &str) -> Vec<String> {
    let text = text.strip_prefix(BOM).unwrap_or(text);
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(normalise)
        .collect()
}

/// One line as a pattern, or `None` for a line that holds none.
fn normalise(line: &str) -> Option<String> {
    let line = line.trim();
    let (exception, pattern) = match line.strip_prefix('!') {
        Some(rest) => (true, rest.trim()),
        None => (false, line),
    };
    if pattern.is_empty() {
        return None;
    }
    let cleaned = clean(pattern);
    let relative = cleaned.strip_prefix('/').unwrap_or(&cleaned);
    if relative.is_empty() || relative == "." {
        return None;
    }
    // BuildKit reads a leading `!` as an exception again: a file whose name starts with `!`
    // (`/!x`) is matched literally through the pattern escape.
    let escaped = match relative.strip_prefix('!') {
        Some(rest) => format!("\\!{rest}"),
        None => relative.to_string(),
    };
    Some(if exception {
        format!("!{escaped}")
    } else {
        escaped
    })
}

/// Go's `path.Clean`: the shortest path equal to `path` by purely lexical processing.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                // `/..` is `/`; a relative path keeps its leading `..`s.
                _ if rooted => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn root_anchored_patterns_are_relative_to_the_context() {
        assert_eq!(parse("/secret.txt\n"), ["secret.txt"]);
        assert_eq!(parse("//a//b/\n"), ["a/b"]);
        assert_eq!(parse("/../secret\n"), ["secret"]);
    }

    #[test]
    fn exceptions_keep_their_mark_and_are_normalised() {
        assert_eq!(parse("*.txt\n!/keep.txt\n"), ["*.txt", "!keep.txt"]);
        assert_eq!(parse("! ./keep.txt \n"), ["!keep.txt"]);
        // A name that starts with `!` stays a name.
        assert_eq!(parse("/!x\n!/!y\n"), ["\\!x", "!\\!y"]);
    }

    #[test]
    fn paths_are_cleaned_and_globs_kept() {
        assert_eq!(parse("./a/../b\n"), ["b"]);
        assert_eq!(parse("**/*.log\n"), ["**/*.log"]);
        assert_eq!(parse("a/**/b/./c\n"), ["a/**/b/c"]);
        assert_eq!(parse("../outside\n"), ["../outside"]);
        assert_eq!(parse("a/../../x\n"), ["../x"]);
    }

    #[test]
    fn bom_comments_and_blank_lines_hold_no_pattern() {
        assert_eq!(
            parse("\u{feff}# c\n\n  target \n!keep\r\n#x\n"),
            ["target", "!keep"]
        );
        assert_eq!(parse("\u{feff}secret\n"), ["secret"]);
        // Only a `#` in the first column starts a comment, as in Docker.
        assert_eq!(parse("  #x\n"), ["#x"]);
    }

    #[test]
    fn patterns_that_match_nothing_are_dropped() {
        assert!(parse("/\n.\n./\n!\n! \n!/\n/./\n").is_empty());
    }

    #[test]
    fn clean_is_go_path_clean() {
        for (input, want) in [
            ("", "."),
            ("/", "/"),
            ("a/b/", "a/b"),
            ("a//b", "a/b"),
            ("a/./b", "a/b"),
            ("a/b/..", "a"),
            ("..", ".."),
            ("../..", "../.."),
            ("/../..", "/"),
            ("a/../..", ".."),
        ] {
            assert_eq!(clean(input), want, "{input:?}");
        }
    }

    proptest! {
        #[test]
        fn patterns_are_relative_and_clean(text in "[a-z./!#* \n\u{feff}]{0,60}") {
            for pattern in parse(&text) {
                let body = pattern.strip_prefix('!').unwrap_or(&pattern);
                prop_assert!(!body.starts_with('!'), "{pattern:?}");
                prop_assert!(!body.is_empty() && body != ".");
                prop_assert!(!body.starts_with('/'), "{pattern:?}");
                prop_assert!(!body.split('/').any(|p| p.is_empty() || p == "."), "{pattern:?}");
            }
        }
    }
}
