//! The options reference (docs/options.md) against the code's table of build args
//! (`dockerui::options::args::TABLE`): every arg the frontend reads is documented, and every
//! build arg the page names is one the frontend reads (or one of BuildKit's own).

use std::collections::BTreeSet;

use nix_frontend::dockerui::options::args::TABLE;

/// Build args BuildKit and buildx themselves read, which the page may name too.
const BUILDKIT_ARGS: &[&str] = &["BUILDKIT_SYNTAX"];

fn options_page() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/options.md");
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// The build args the page names, inside code spans: `--build-arg NAME…`, and `NAME=…` where
/// NAME looks like one of the frontend's or BuildKit's (`NIX…`, `BUILDKIT_…`,
/// `SOURCE_DATE_EPOCH`), not an environment variable or a placeholder.
fn documented(page: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for span in page.split('`').skip(1).step_by(2) {
        let mut words = span.split_whitespace().peekable();
        while let Some(word) = words.next() {
            let candidate = if word == "--build-arg" {
                words.next().unwrap_or_default()
            } else {
                word
            };
            let name = candidate.split('=').next().unwrap_or_default();
            let is_arg_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                && (word == "--build-arg"
                    || (candidate.contains('=')
                        && (name.starts_with("NIX")
                            || name.starts_with("BUILDKIT_")
                            || name == "SOURCE_DATE_EPOCH")));
            if is_arg_name {
                names.insert(name.to_string());
            }
        }
    }
    names
}

#[test]
fn every_build_arg_the_frontend_reads_is_in_the_options_reference() {
    let documented = documented(&options_page());
    let missing: Vec<&str> = TABLE
        .iter()
        .map(|arg| arg.name)
        .filter(|name| !documented.contains(*name))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/options.md does not document {missing:?} (src/dockerui/options/args.rs reads them)"
    );
}

#[test]
fn every_build_arg_the_options_reference_names_is_read_by_the_frontend() {
    let known: BTreeSet<&str> = TABLE
        .iter()
        .map(|arg| arg.name)
        .chain(BUILDKIT_ARGS.iter().copied())
        .collect();
    let unknown: Vec<String> = documented(&options_page())
        .into_iter()
        .filter(|name| !known.contains(name.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/options.md names {unknown:?}, which src/dockerui/options/args.rs does not read"
    );
}
