//! The error a user sees: `UserError`, the one message `docker buildx build` prints, with the
//! line of the user's file it points at (`SourceLocation`), so the CLI can show that line.
//! Every error of the parts below converts into it explicitly, keeping its location.

use std::fmt;

/// A build that ended in an error the user can act on: the text `docker buildx build` prints,
/// and where it points in the user's file, so that the CLI shows the lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserError {
    pub message: String,
    pub location: Option<SourceLocation>,
}

/// A line of a file the user wrote (1-based), with the file's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLocation {
    pub file: String,
    pub text: String,
    pub line: usize,
}

impl SourceLocation {
    /// Whether the file's text is still to be read from the build context.
    pub fn needs_text(&self) -> bool {
        self.text.is_empty()
    }

    /// The language BuildKit labels the source with: Nix for `*.nix`, else the Dockerfile
    /// dialect.
    pub fn language(&self) -> &'static str {
        if self.file.ends_with(".nix") {
            "Nix"
        } else {
            "Dockerfile"
        }
    }
}

impl UserError {
    pub fn new(message: impl Into<String>) -> Self {
        UserError {
            message: message.into(),
            location: None,
        }
    }

    /// The same error pointing at `line` of `file` (whose text is `text`); a line outside the
    /// text points nowhere.
    pub fn at(mut self, file: &str, text: &str, line: usize) -> Self {
        if line > 0 && line <= text.lines().count().max(1) {
            self.location = Some(SourceLocation {
                file: file.to_string(),
                text: text.to_string(),
                line,
            });
        }
        self
    }

    /// The same error pointing at `line` of `file`, a file of the build context whose text is
    /// not read yet (`context::attach_source` reads it; until then it shows no lines).
    pub fn in_context_file(mut self, file: &str, line: usize) -> Self {
        if line > 0 {
            self.location = Some(SourceLocation {
                file: file.to_string(),
                text: String::new(),
                line,
            });
        }
        self
    }
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerui::spec::SpecError;
    use crate::dockerui::syntax::SyntaxError;

    #[test]
    fn spec_errors_keep_their_line() {
        let err = SpecError::Syntax(SyntaxError {
            rule: "UnsupportedInstruction",
            file: "Dockerfile".into(),
            text: "# syntax=x\nRUN true\n".into(),
            line: 2,
            message: "RUN is not supported".into(),
        });
        let user = UserError::from(err);
        assert_eq!(user.message, "Dockerfile:2: RUN is not supported");
        let location = user.location.unwrap();
        assert_eq!((location.file.as_str(), location.line), ("Dockerfile", 2));
        assert_eq!(location.language(), "Dockerfile");
    }

    #[test]
    fn lines_outside_the_text_point_nowhere() {
        assert!(UserError::new("x").at("f", "a\n", 3).location.is_none());
        assert!(UserError::new("x").at("f", "a\n", 0).location.is_none());
        let nix = UserError::new("x").at("default.nix", "a\n", 1).location;
        assert_eq!(nix.unwrap().language(), "Nix");
    }
}
