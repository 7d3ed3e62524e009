//! Which Nix file and attributes to build: several options can name them, and whichever named
//! them is the one an error about them points at.

use crate::dockerui::options::{args, Options};
use crate::dockerui::syntax;

use super::{option_error, Mode, SpecError, DEFAULT_NIX_FILE};

/// Which Nix file and attributes to build.
pub(super) struct NixTarget {
    pub(super) nix_file: String,
    /// Which option named the file.
    pub(super) source: FileSource,
    pub(super) flake: bool,
    /// The attributes, in the order given (none: the file's value itself).
    pub(super) attrs: Vec<String>,
}

/// What named the Nix file: a decision other parts act on (a defaulted file that is missing is
/// explained differently, the `-f` file is read from the context as it is), and the option an
/// error about it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FileSource {
    BuildArg,
    File,
    Directive,
    Default,
}

impl FileSource {
    /// The option as an error names it.
    pub(super) fn label(self) -> &'static str {
        match self {
            FileSource::BuildArg => "build arg NIX_FILE",
            FileSource::File => "--file",
            FileSource::Directive => "the # nix= directive",
            FileSource::Default => "the default",
        }
    }
}

/// The Nix file from NIX_FILE, `-f` or `# nix=` (a `dir#attr` there names a flake and its
/// attribute, `dir#a dir#b` several); the attributes from `--target`, NIX_ATTR, `# attr=` (a list
/// separated by spaces) or that flake reference.
pub(super) fn nix_target(
    options: &Options,
    mode: Mode,
    base_name: &str,
    directives: &syntax::Directives,
) -> Result<NixTarget, SpecError> {
    let (mut nix_file, source) = match (options.build_arg(args::NIX_FILE), mode) {
        (Some(file), _) => (file.to_string(), FileSource::BuildArg),
        // buildx sends only the base name of `-f`; where it also said which directory of the
        // context holds the file (in a git checkout), that directory is used.
        (None, Mode::Nix) => match options.build_file_dir_in_context.as_deref() {
            Some(dir) if !dir.is_empty() => (format!("{dir}/{base_name}"), FileSource::File),
            _ => (base_name.to_string(), FileSource::File),
        },
        (None, Mode::Dockerfile) => match &directives.nix {
            Some(file) => (file.clone(), FileSource::Directive),
            None => (DEFAULT_NIX_FILE.to_string(), FileSource::Default),
        },
    };
    // `# nix=.#attr` (or `sub/dir#attr`, or several installables of one flake, `.#a .#b`): the
    // flake in that directory, those attributes.
    let mut flake_attrs = Vec::new();
    if nix_file.contains('#') {
        let (dir, attrs) = flake_installables(&nix_file)
            .map_err(|message| option_error(source.label(), message))?;
        nix_file = if dir.is_empty() || dir == "." {
            "flake.nix".to_string()
        } else {
            format!("{dir}/flake.nix")
        };
        flake_attrs = attrs;
    }
    validate_relative_path(&nix_file).map_err(|message| option_error(source.label(), message))?;
    let named = match (
        &options.target,
        options.build_arg(args::NIX_ATTR),
        &directives.attr,
    ) {
        (Some(target), _, _) => Some((target.as_str(), "--target")),
        (None, Some(attr), _) => Some((attr, "build arg NIX_ATTR")),
        (None, None, Some(attr)) => Some((attr.as_str(), "the # attr= directive")),
        _ => None,
    };
    let attrs = match named {
        Some((text, option)) => {
            let attrs = split_attrs(text);
            if attrs.is_empty() {
                return Err(option_error(option, "the attribute name is empty"));
            }
            validate_attrs(&attrs).map_err(|message| option_error(option, message))?;
            attrs
        }
        None => {
            validate_attrs(&flake_attrs)
                .map_err(|message| option_error(source.label(), message))?;
            flake_attrs
        }
    };
    Ok(NixTarget {
        flake: nix_file == "flake.nix" || nix_file.ends_with("/flake.nix"),
        source,
        nix_file,
        attrs,
    })
}

/// The attributes of a list separated by spaces, in order. A space inside Nix's double quotes
/// (`"a b".c`, an attribute name with a space) separates nothing; every other character,
/// tabs and newlines included, is part of a name (and refused by `validate_attr`).
fn split_attrs(text: &str) -> Vec<String> {
    let mut attrs = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            ' ' if !quoted => {
                if !current.is_empty() {
                    attrs.push(std::mem::take(&mut current));
                }
            }
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        attrs.push(current);
    }
    attrs
}

/// `DIR#ATTR` (one flake reference, `# nix=.#app`) or several of the same flake separated by
/// spaces (`.#app .#busybox`): the flake's directory and the attributes (none for `DIR#`).
fn flake_installables(text: &str) -> Result<(String, Vec<String>), String> {
    let words = split_attrs(text);
    let mut dir: Option<String> = None;
    let mut attrs = Vec::new();
    for word in &words {
        let Some((word_dir, attr)) = word.split_once('#') else {
            return Err(format!(
                "{word:?} is no flake reference; name several attributes of one flake as DIR#ATTR each (.#app .#busybox)"
            ));
        };
        let word_dir = match word_dir.trim_end_matches('/') {
            "" => ".",
            d => d,
        };
        match &dir {
            Some(first) if first != word_dir => {
                return Err(format!(
                    "{text:?} names two flakes, {first:?} and {word_dir:?}; the attributes of one image come from one flake"
                ))
            }
            Some(_) => {}
            None => dir = Some(word_dir.to_string()),
        }
        if attr.is_empty() && words.len() > 1 {
            return Err(format!("{word:?} names no attribute"));
        }
        if !attr.is_empty() {
            attrs.push(attr.to_string());
        }
    }
    let dir = dir.ok_or_else(|| "the Nix file name is empty".to_string())?;
    Ok((dir, attrs))
}

/// Each attribute as `validate_attr` wants it, and none listed twice.
fn validate_attrs(attrs: &[String]) -> Result<(), String> {
    for (i, attr) in attrs.iter().enumerate() {
        validate_attr(attr)?;
        if attrs[..i].contains(attr) {
            return Err(format!("{attr:?} is listed twice"));
        }
    }
    Ok(())
}

/// A path inside the build context: relative, no `..`, no NUL or newline.
fn validate_relative_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the Nix file name is empty".into());
    }
    if path.starts_with('/') {
        return Err(format!(
            "{path:?} is absolute; name a file relative to the build context"
        ));
    }
    if path.split('/').any(|part| part == "..") {
        return Err(format!("{path:?} leaves the build context"));
    }
    if path.chars().any(|c| c == '\0' || c == '\n' || c == '\r') {
        return Err(format!("{path:?} contains a control character"));
    }
    Ok(())
}

/// An attribute path: passed to Nix as one argv entry, so only what can never be meant is refused.
fn validate_attr(attr: &str) -> Result<(), String> {
    if attr.trim().is_empty() {
        return Err("the attribute name is empty".into());
    }
    if attr.chars().any(char::is_control) {
        return Err(format!("{attr:?} contains a control character"));
    }
    if attr.starts_with('-') {
        return Err(format!(
            "{attr:?} starts with '-', which Nix would read as an option"
        ));
    }
    Ok(())
}
