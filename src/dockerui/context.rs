//! The build context and the build file, as BuildKit's dockerui reads them: the client's local
//! directories (`context`, `dockerfile`) as LLB sources, the build file and `.dockerignore` read
//! through single-file solves, and the context with the ignore patterns applied.
//!
//! A single-file solve asks for just that file (include pattern, and follow-paths so a symlinked
//! build file resolves); a `.dockerignore` probe carries a shared-key hint of its own, so its tiny
//! snapshot never stands in for, or competes with, the full context's.

use crate::buildkit::gateway::{Environment, Gateway, GatewayError};
use crate::buildkit::llb::{self, Meta, Output};
use crate::dockerui::dockerignore;
use crate::dockerui::options::{ContextSource, Options};
use crate::error::UserError;
use std::collections::BTreeMap;

/// A client directory (`context`, `dockerfile`) with its session; patterns left to the caller.
fn local_dir(options: &Options, env: &Environment, name: &str) -> llb::Local {
    llb::Local {
        name: name.into(),
        session_id: options
            .local_sessions
            .get(name)
            .cloned()
            .unwrap_or_else(|| env.session_id.clone()),
        shared_key_hint: name.into(),
        ..Default::default()
    }
}

fn context_local(options: &Options, env: &Environment, excludes: &[String]) -> llb::Output {
    let source = llb::Local {
        exclude_patterns: excludes.to_vec(),
        ..local_dir(options, env, "context")
    };
    llb::local(&source, &Meta::named("load build context"))
}

/// The `.dockerignore` patterns of the build context and of each named client directory (by
/// context name): like dockerui, a named directory's own `.dockerignore` applies to it.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ignores {
    pub context: Vec<String>,
    pub named: BTreeMap<String, Vec<String>>,
}

/// What a step that evaluates reads: the build context and the named contexts (in the spec's
/// order).
#[derive(Debug, Clone)]
pub struct Sources {
    pub context: Output,
    pub named: Vec<Output>,
}

impl From<Output> for Sources {
    fn from(context: Output) -> Sources {
        Sources {
            context,
            named: Vec::new(),
        }
    }
}

/// The build context and each named context of the spec (`--build-context NAME=…`), in the
/// spec's order: a client directory as its local source, an image as its filesystem.
pub fn sources(
    options: &Options,
    env: &Environment,
    ignores: &Ignores,
    spec: &crate::dockerui::spec::Spec,
) -> Sources {
    let named = spec
        .named_contexts
        .iter()
        .map(|(name, source)| match source {
            ContextSource::Local(local) => {
                let source = llb::Local {
                    shared_key_hint: format!("context:{name}"),
                    exclude_patterns: ignores.named.get(name).cloned().unwrap_or_default(),
                    ..local_dir(options, env, local)
                };
                llb::local(
                    &source,
                    &Meta::named(format!("[context {name}] load {local}")),
                )
            }
            ContextSource::Image(reference) => llb::image(
                reference,
                options.image_resolve_mode.as_deref(),
                &spec.platform.to_pb(),
                &Meta::named(format!("[context {name}] {reference}")),
            ),
        })
        .collect();
    Sources {
        context: context_local(options, env, &ignores.context),
        named,
    }
}

/// An error pointing at a file of the build context whose text is not read yet (a Nix file
/// other than the build file, e.g. an imported one): reads that file as the build sees it
/// (`excludes` applied: an ignored file is never read, whatever the error names), so the CLI
/// shows its own lines; when it cannot be read, or the line is not in it, the error points
/// nowhere.
pub async fn attach_source<G: Gateway>(
    gateway: &G,
    options: &Options,
    env: &Environment,
    excludes: &[String],
    mut error: UserError,
) -> UserError {
    let Some(location) = error.location.take() else {
        return error;
    };
    if !location.needs_text() {
        error.location = Some(location);
        return error;
    }
    let file = location.file.as_str();
    let progress_name = format!("load {file} for the error");
    match read_context_file(gateway, options, env, file, excludes, progress_name).await {
        Some(text) if !text.is_empty() => error.at(file, &text, location.line),
        _ => error,
    }
}

/// The text of one file of the build context, read without the rest of it; None when the
/// context has no such file or `excludes` leave it out.
pub async fn read_context_file<G: Gateway>(
    gateway: &G,
    options: &Options,
    env: &Environment,
    file: &str,
    excludes: &[String],
    progress_name: String,
) -> Option<String> {
    read_context_files(
        gateway,
        options,
        env,
        &[file.to_string()],
        excludes,
        progress_name,
    )
    .await
    .pop()
    .flatten()
}

/// The texts of several files of the build context, as the build sees them (`excludes`
/// applied), in one snapshot of their own (a symlinked file read through its link): None for
/// each the context does not have.
pub async fn read_context_files<G: Gateway>(
    gateway: &G,
    options: &Options,
    env: &Environment,
    files: &[String],
    excludes: &[String],
    progress_name: String,
) -> Vec<Option<String>> {
    if files.is_empty() {
        return Vec::new();
    }
    let source = llb::Local {
        include_patterns: files.to_vec(),
        follow_paths: files.to_vec(),
        exclude_patterns: excludes.to_vec(),
        shared_key_hint: format!("context-{}", files.join(",")),
        ..local_dir(options, env, "context")
    };
    let local = llb::local(&source, &Meta::named(progress_name));
    let Ok(reference) = gateway.solve(llb::definition(&local)).await else {
        return vec![None; files.len()];
    };
    let reads = files.iter().map(|file| {
        let reference = &reference;
        async move {
            let bytes = gateway.read_file(reference, file).await.ok()?;
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
    });
    futures_util::future::join_all(reads).await
}

/// Which single file of a client directory is solved.
enum SingleFile {
    /// The build file: shares its snapshot with every read of the `dockerfile` directory.
    BuildFile,
    /// A `.dockerignore` probe: a snapshot of its own, never taken for the full directory's.
    Probe,
}

/// Solves just `file` of the client directory `local_name` and returns the ref to read it from.
async fn solve_local_file<G: Gateway>(
    gateway: &G,
    options: &Options,
    env: &Environment,
    (local_name, file): (&str, &str),
    kind: SingleFile,
    progress_name: String,
) -> Result<String, GatewayError> {
    let directory = local_dir(options, env, local_name);
    let shared_key_hint = match kind {
        SingleFile::BuildFile => directory.shared_key_hint.clone(),
        SingleFile::Probe => format!("{local_name}-{file}"),
    };
    let source = llb::Local {
        include_patterns: vec![file.to_string()],
        // A symlinked build file is read through its link, as dockerui does.
        follow_paths: vec![file.to_string()],
        shared_key_hint,
        ..directory
    };
    let local = llb::local(&source, &Meta::named(progress_name));
    gateway.solve(llb::definition(&local)).await
}

pub async fn read_build_file<G: Gateway>(
    gateway: &G,
    options: &Options,
    env: &Environment,
) -> Result<String, UserError> {
    let file = &options.filename;
    let progress_name = format!("load build definition from {file}");
    let reference = solve_local_file(
        gateway,
        options,
        env,
        ("dockerfile", file),
        SingleFile::BuildFile,
        progress_name,
    )
    .await
    .map_err(|err| UserError::gateway(&format!("reading {file}"), err))?;
    let bytes = gateway
        .read_file(&reference, &options.filename)
        .await
        .map_err(|_| {
            UserError::new(format!(
                "{}: cannot read the build file; check the name given with -f",
                options.filename
            ))
        })?;
    String::from_utf8(bytes)
        .map_err(|_| UserError::new(format!("{}: not UTF-8 text", options.filename)))
}

/// The `.dockerignore` patterns of the build context and of every named client directory.
pub async fn read_ignores<G: Gateway>(
    gateway: &G,
    options: &Options,
    env: &Environment,
    spec: &crate::dockerui::spec::Spec,
) -> Ignores {
    let mut ignores = Ignores {
        context: read_dockerignore(gateway, options, env).await,
        named: BTreeMap::new(),
    };
    for (name, source) in &spec.named_contexts {
        if let ContextSource::Local(local) = source {
            let probe = (local.as_str(), ".dockerignore");
            let progress_name = format!("[context {name}] load .dockerignore");
            let patterns = read_ignore_file(gateway, options, env, probe, progress_name).await;
            ignores
                .named
                .insert(name.clone(), patterns.unwrap_or_default());
        }
    }
    ignores
}

/// The build context's patterns: `<file>.dockerignore` next to the build file, else the
/// context's `.dockerignore`.
pub async fn read_dockerignore<G: Gateway>(
    gateway: &G,
    options: &Options,
    env: &Environment,
) -> Vec<String> {
    let candidates = [
        ("dockerfile", format!("{}.dockerignore", options.filename)),
        ("context", ".dockerignore".to_string()),
    ];
    for (local_name, file) in candidates {
        let progress_name = format!("load {file}");
        if let Some(patterns) =
            read_ignore_file(gateway, options, env, (local_name, &file), progress_name).await
        {
            return patterns;
        }
    }
    Vec::new()
}

/// The patterns of one ignore file of a client directory, or None when it has none.
async fn read_ignore_file<G: Gateway>(
    gateway: &G,
    options: &Options,
    env: &Environment,
    (local_name, file): (&str, &str),
    progress_name: String,
) -> Option<Vec<String>> {
    let probe = (local_name, file);
    let reference = solve_local_file(
        gateway,
        options,
        env,
        probe,
        SingleFile::Probe,
        progress_name,
    )
    .await
    .ok()?;
    let bytes = gateway.read_file(&reference, file).await.ok()?;
    Some(dockerignore::parse(&String::from_utf8_lossy(&bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buildkit::fake_gateway::FakeGateway;
    use serde_json::Value;

    fn source_attrs(definition: &bollard_buildkit_proto::pb::Definition) -> Value {
        let json = llb::definition_to_json(definition);
        json[0]["source"]["attrs"].clone()
    }

    #[test]
    fn single_file_solves_follow_the_file_and_probes_keep_their_own_snapshot() {
        let options = Options::from_pairs(&[("filename", "default.nix")]);
        let env = crate::buildkit::fake_gateway::environment(0);
        let mut g = FakeGateway::default();
        g.tree("load build definition from default.nix")
            .file("default.nix", "{ }");
        // The build file's solve holds a .dockerignore too: only the probe's ref counts.
        g.tree("load build definition from default.nix")
            .file(".dockerignore", "/wrong\n");
        g.tree("load .dockerignore").file(".dockerignore", "/x\n");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime
            .block_on(read_build_file(&g, &options, &env))
            .unwrap();
        let excludes = runtime.block_on(read_dockerignore(&g, &options, &env));
        assert_eq!(excludes, ["x"]);
        let build_file = source_attrs(&g.definitions()[0]);
        assert_eq!(build_file["local.followpaths"], r#"["default.nix"]"#);
        assert_eq!(build_file["local.includepattern"], r#"["default.nix"]"#);
        assert_eq!(build_file["local.sharedkeyhint"], "dockerfile");
        let probes: Vec<Value> = g.definitions()[1..].iter().map(source_attrs).collect();
        assert_eq!(
            probes[0]["local.sharedkeyhint"],
            "dockerfile-default.nix.dockerignore"
        );
        assert_eq!(probes[1]["local.sharedkeyhint"], "context-.dockerignore");
    }

    #[test]
    fn a_named_directory_takes_its_own_dockerignore() {
        let options = Options::from_pairs(&[
            ("filename", "default.nix"),
            ("context:deps", "local:deps"),
            ("context:plain", "local:plain"),
        ]);
        let env = crate::buildkit::fake_gateway::environment(0);
        let spec = crate::dockerui::spec::Spec::new(&options, "{ }", &env.worker_platform).unwrap();
        let mut g = FakeGateway::default();
        // Solves: the build file's .dockerignore, the context's, then deps' and plain's.
        g.tree("load .dockerignore").file(".dockerignore", "/x\n");
        g.tree("[context deps] load .dockerignore")
            .file(".dockerignore", "# secrets\n**/*.key\n");
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let ignores = runtime.block_on(read_ignores(&g, &options, &env, &spec));
        assert_eq!(ignores.context, ["x"]);
        assert_eq!(ignores.named["deps"], ["**/*.key"]);
        assert!(ignores.named["plain"].is_empty());
        let probe = &llb::definition_to_json(&g.definitions()[2])[0]["source"];
        assert_eq!(probe["identifier"], "local://deps");
        assert_eq!(
            probe["attrs"]["local.includepattern"],
            r#"[".dockerignore"]"#
        );
        let sources = sources(&options, &env, &ignores, &spec);
        let named: Vec<Value> = sources
            .named
            .iter()
            .map(|output| source_attrs(&llb::definition(output)))
            .collect();
        assert_eq!(named[0]["local.excludepatterns"], r#"["**/*.key"]"#);
        assert_eq!(named[0]["local.sharedkeyhint"], "context:deps");
        assert!(named[1].get("local.excludepatterns").is_none());
        let context = source_attrs(&llb::definition(&sources.context));
        assert_eq!(context["local.excludepatterns"], r#"["x"]"#);
    }
}
