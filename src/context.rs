//! The build context and the build file, as BuildKit's dockerui reads them: the client's local
//! directories (`context`, `dockerfile`) as LLB sources, the build file and `.dockerignore` read
//! through single-file solves, and the context with the ignore patterns applied.
//!
//! A single-file solve asks for just that file (include pattern, and follow-paths so a symlinked
//! build file resolves); a `.dockerignore` probe carries a shared-key hint of its own, so its tiny
//! snapshot never stands in for, or competes with, the full context's.

use crate::dockerignore;
use crate::error::UserError;
use crate::gateway::{Environment, Gateway, GatewayError};
use crate::llb::{self, Meta};
use crate::options::Options;

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

pub fn context_local(options: &Options, env: &Environment, excludes: &[String]) -> llb::Output {
    let source = llb::Local {
        exclude_patterns: excludes.to_vec(),
        ..local_dir(options, env, "context")
    };
    llb::local(&source, &Meta::named("load build context"))
}

/// The build context and each named context of the spec (`--build-context NAME=…`), in the
/// spec's order: a client directory as its local source, an image as its filesystem.
pub fn sources(
    options: &Options,
    env: &Environment,
    excludes: &[String],
    spec: &crate::spec::Spec,
) -> crate::plan::Sources {
    use crate::options::ContextSource;
    let named = spec
        .named_contexts
        .iter()
        .map(|(name, source)| match source {
            ContextSource::Local(local) => {
                let source = llb::Local {
                    shared_key_hint: format!("context:{name}"),
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
    crate::plan::Sources {
        context: context_local(options, env, excludes),
        named,
    }
}

/// An error pointing at a file of the build context whose text is not read yet (a Nix file
/// other than the build file, e.g. an imported one): reads that file, so the CLI shows its own
/// lines; when it cannot be read, or the line is not in it, the error points nowhere.
pub async fn attach_source<G: Gateway>(
    gateway: &G,
    options: &Options,
    env: &Environment,
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
    let text = match solve_local_file(
        gateway,
        options,
        env,
        ("context", file),
        SingleFile::Probe,
        progress_name,
    )
    .await
    {
        Ok(reference) => gateway.read_file(&reference, file).await.ok(),
        Err(_) => None,
    };
    match text.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()) {
        Some(text) if !text.is_empty() => error.at(file, &text, location.line),
        _ => error,
    }
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

/// `.dockerignore` patterns: `<file>.dockerignore` next to the build file, else the context's.
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
        let Ok(reference) = solve_local_file(
            gateway,
            options,
            env,
            (local_name, &file),
            SingleFile::Probe,
            progress_name,
        )
        .await
        else {
            continue;
        };
        if let Ok(bytes) = gateway.read_file(&reference, &file).await {
            return dockerignore::parse(&String::from_utf8_lossy(&bytes));
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_gateway::FakeGateway;
    use serde_json::Value;

    fn source_attrs(definition: &bollard_buildkit_proto::pb::Definition) -> Value {
        let json = llb::definition_to_json(definition);
        json[0]["source"]["attrs"].clone()
    }

    #[test]
    fn single_file_solves_follow_the_file_and_probes_keep_their_own_snapshot() {
        let raw = [("filename", "default.nix")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let options = Options::parse(&raw).unwrap();
        let env = crate::fake_gateway::environment(0);
        let mut g = FakeGateway::default();
        g.tree(0).file("default.nix", "{ }");
        // The build file's solve holds a .dockerignore too: only the probe's ref counts.
        g.tree(0).file(".dockerignore", "/wrong\n");
        g.tree(2).file(".dockerignore", "/x\n");
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
}
