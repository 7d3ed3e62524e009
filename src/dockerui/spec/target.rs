//! Which Nix file and attribute to build: several options can name them, and whichever named
//! them is the one an error about them points at.

use crate::dockerui::options::{args, Options};
use crate::dockerui::syntax;

use super::{option_error, Mode, SpecError, DEFAULT_NIX_FILE};

/// Which Nix file and attribute to build.
pub(super) struct NixTarget {
    pub(super) nix_file: String,
    /// Which option named the file.
    pub(super) source: &'static str,
    pub(super) flake: bool,
    pub(super) defaulted: bool,
    pub(super) attr: Option<String>,
}

/// The Nix file from NIX_FILE, `-f` or `# nix=` (a `dir#attr` there names a flake and its
/// attribute); the attribute from `--target`, NIX_ATTR, `# attr=` or that flake reference.
pub(super) fn nix_target(
    options: &Options,
    mode: Mode,
    base_name: &str,
    directives: &syntax::Directives,
) -> Result<NixTarget, SpecError> {
    let (mut nix_file, source) = match (options.build_arg(args::NIX_FILE), mode) {
        (Some(file), _) => (file.to_string(), "build arg NIX_FILE"),
        // buildx sends only the base name of `-f`; where it also said which directory of the
        // context holds the file (in a git checkout), that directory is used.
        (None, Mode::Nix) => match options.build_file_dir_in_context.as_deref() {
            Some(dir) if !dir.is_empty() => (format!("{dir}/{base_name}"), "--file"),
            _ => (base_name.to_string(), "--file"),
        },
        (None, Mode::Dockerfile) => match &directives.nix {
            Some(file) => (file.clone(), "the # nix= directive"),
            None => (DEFAULT_NIX_FILE.to_string(), "the default"),
        },
    };
    // `# nix=.#attr` (or `sub/dir#attr`): the flake in that directory, that attribute.
    let mut flake_attr = None;
    if let Some((dir, attr)) = nix_file.clone().split_once('#') {
        let dir = dir.trim_end_matches('/');
        nix_file = if dir.is_empty() || dir == "." {
            "flake.nix".to_string()
        } else {
            format!("{dir}/flake.nix")
        };
        flake_attr = Some(attr.to_string()).filter(|a| !a.is_empty());
    }
    validate_relative_path(&nix_file).map_err(|message| option_error(source, message))?;
    let attr = match (
        &options.target,
        options.build_arg(args::NIX_ATTR),
        &directives.attr,
    ) {
        (Some(target), _, _) => Some((target.clone(), "--target")),
        (None, Some(attr), _) => Some((attr.to_string(), "build arg NIX_ATTR")),
        (None, None, Some(attr)) => Some((attr.clone(), "the # attr= directive")),
        _ => flake_attr.map(|attr| (attr, "the # nix= directive")),
    };
    if let Some((attr, source)) = &attr {
        validate_attr(attr).map_err(|message| option_error(source, message))?;
    }
    Ok(NixTarget {
        flake: nix_file == "flake.nix" || nix_file.ends_with("/flake.nix"),
        defaulted: source == "the default",
        source,
        nix_file,
        attr: attr.map(|(attr, _)| attr),
    })
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
