//! One build, start to end: read the build file, plan and solve the Nix stage, validate what it
//! reports, plan and solve the image. Talks to BuildKit only through the `Gateway` trait.

use std::collections::BTreeMap;

use bollard_buildkit_proto::fsutil::types::Stat;
use serde_json::Value;

use crate::closure::{self, Limits, StorePath};
use crate::dockerignore;
use crate::error::UserError;
use crate::gateway::{Gateway, GatewayError};
use crate::llb::{self, Meta};
use crate::options::{Options, Platform};
use crate::plan::config::{self, DerivationInfo, PackageImageConfig};
use crate::plan::{self, BuildResult, BuilderImage, RootLink, MANIFEST_DIR};
use crate::spec::{Mode, Spec};
use crate::subrequests;

/// Go's `os.ModeDir` and `os.ModeSymlink`, as fsutil reports modes.
const MODE_DIR: u32 = 1 << 31;
const MODE_SYMLINK: u32 = 1 << 27;

/// The line of `file` that a Nix error names (`at /src/<file>:LINE:COL:`), if any.
fn nix_error_line(log: &str, file: &str) -> Option<usize> {
    let needle = format!("/src/{file}:");
    log.lines().find_map(|line| {
        let rest = &line[line.find(&needle)? + needle.len()..];
        rest.split(':').next()?.parse().ok()
    })
}

/// What the build returns to BuildKit.
#[derive(Debug, Clone)]
pub struct Built {
    /// One image per platform, in the order asked for.
    pub images: Vec<PlatformImage>,
    /// Several platforms were asked for: return a refs map under one index.
    pub multi_platform: bool,
}

#[derive(Debug, Clone)]
pub struct PlatformImage {
    pub platform: Platform,
    pub reference: String,
    pub config: Value,
}

/// What the frontend learnt about its environment.
#[derive(Debug, Clone)]
pub struct Environment {
    pub session_id: String,
    pub worker_platform: Platform,
    pub has_merge_op: bool,
    /// Unix seconds when this frontend started; older builder runs came from the cache.
    pub started_at: i64,
}

pub async fn build<G: Gateway>(
    gateway: &mut G,
    options: &Options,
    env: &Environment,
) -> Result<Built, UserError> {
    let text = read_build_file(gateway, options, env).await?;
    let spec = Spec::new(options, &text, &env.worker_platform)?;
    eprintln!("nix-frontend: {spec:?}");
    for warning in &spec.warnings {
        gateway.warn(warning).await;
    }
    let excludes = read_dockerignore(gateway, options, env).await;
    let mut images = Vec::new();
    for platform in &spec.platforms {
        let spec = spec.for_platform(platform);
        images.push(build_platform(gateway, options, env, &spec, &excludes, &text).await?);
    }
    Ok(Built {
        multi_platform: spec.platforms.len() > 1,
        images,
    })
}

/// One platform's image: Nix in that platform's builder image, its closure, its layers.
async fn build_platform<G: Gateway>(
    gateway: &mut G,
    options: &Options,
    env: &Environment,
    spec: &Spec,
    excludes: &[String],
    build_file_text: &str,
) -> Result<PlatformImage, UserError> {
    let builder = resolve_builder(gateway, spec, options).await?;
    let context = context_local(options, env, excludes);
    let built = plan::build_stage(
        spec,
        &builder,
        context.clone(),
        options.image_resolve_mode.as_deref(),
    );
    debug_dump("build stage", &built);
    let mut built_ref = gateway
        .solve(llb::definition(&built))
        .await
        .map_err(|err| {
            UserError::gateway(&format!("running {}", plan::build_step_name(spec)), err)
        })?;

    let mut status = read_status(gateway, &built_ref).await?;
    if status.kind == "build-failed" && status.ran_at < env.started_at - 1 {
        // A build failure from the cache may have been transient (network, resources): run once
        // more rather than report a stale failure.
        gateway
            .warn("the cached Nix build had failed; building again")
            .await;
        let uncached = Spec {
            no_cache: true,
            ..spec.clone()
        };
        let rerun = plan::build_stage(
            &uncached,
            &builder,
            context,
            options.image_resolve_mode.as_deref(),
        );
        built_ref = gateway
            .solve(llb::definition(&rerun))
            .await
            .map_err(|err| {
                UserError::gateway(&format!("running {}", plan::build_step_name(spec)), err)
            })?;
        status = read_status(gateway, &built_ref).await?;
    }
    match status.kind.as_str() {
        "ok" => {}
        "missing-file" => {
            let hint = match spec.mode {
                Mode::Nix => "build from the directory that holds it (docker buildx build -f default.nix .), or name it with --build-arg NIX_FILE=path/in/context.nix",
                Mode::Dockerfile => "add it to the build context, or name another file with the `# nix=FILE` directive or --build-arg NIX_FILE=",
            };
            return Err(UserError::new(format!(
                "{}: no such file in the build context (is it excluded by .dockerignore?); {hint}",
                spec.nix_file
            )));
        }
        "eval-failed" => {
            let error = UserError::new(format!(
                "evaluating {} failed:\n{}",
                describe_target(spec),
                nix_error_text(&status.log)
            ));
            // In Nix mode the build file is the Nix file: point at the line Nix names.
            return Err(match nix_error_line(&status.log, &spec.nix_file) {
                Some(line) if spec.mode == Mode::Nix => {
                    error.at(&spec.build_file, build_file_text, line)
                }
                _ => error,
            });
        }
        "build-failed" => {
            return Err(UserError::new(format!(
                "building {} failed:\n{}",
                describe_target(spec),
                nix_error_text(&status.log)
            )))
        }
        other => {
            return Err(UserError::new(format!(
                "the Nix builder reported an unknown status {other:?}"
            )))
        }
    }

    let result = read_build_result(gateway, &built_ref).await?;
    eprintln!(
        "nix-frontend: closure of {} paths, {} bytes",
        result.closure.paths.len(),
        result.closure.total_nar_size()
    );
    if !env.has_merge_op {
        gateway
            .warn("this BuildKit has no MergeOp: layers are chained copies and not shared between images")
            .await;
    }
    let package = match &result.info.image_config {
        Some(json) => PackageImageConfig::parse(json)
            .map_err(|err| UserError::new(format!("{}: {err}", describe_target(spec))))?,
        None => PackageImageConfig::default(),
    };
    let effective = config::effective(spec, &result, &package);
    let image = plan::image_stage(spec, &result, built, env.has_merge_op, &effective);
    debug_dump("image stage", &image);
    let reference = gateway
        .solve(llb::definition(&image))
        .await
        .map_err(|err| UserError::gateway("assembling the image", err))?;
    if plan::default_program(&result).is_none()
        && spec.settings.entrypoint.is_none()
        && spec.settings.cmd.is_none()
    {
        gateway
            .warn("no entrypoint: the result has no meta.mainProgram and not exactly one program in bin/; set ENTRYPOINT or CMD")
            .await;
    }
    Ok(PlatformImage {
        platform: spec.platform.clone(),
        reference,
        config: plan::image_config(spec, &effective),
    })
}

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

/// Solves just `file` of the client directory `local_name` and returns the ref to read it from.
async fn solve_local_file<G: Gateway>(
    gateway: &mut G,
    options: &Options,
    env: &Environment,
    local_name: &str,
    file: &str,
    progress_name: String,
) -> Result<String, GatewayError> {
    let source = llb::Local {
        include_patterns: vec![file.to_string()],
        ..local_dir(options, env, local_name)
    };
    let local = llb::local(&source, &Meta::named(progress_name));
    gateway.solve(llb::definition(&local)).await
}

/// With `NIX_FRONTEND_DEBUG=1` in the frontend's environment, the planned LLB goes to stderr
/// (dockerd's log) as readable JSON.
fn debug_dump(what: &str, output: &llb::Output) {
    if std::env::var_os("NIX_FRONTEND_DEBUG").is_some_and(|v| v == "1") {
        let json = llb::definition_to_json(&llb::definition(output));
        eprintln!("nix-frontend: {what}: {json:#}");
    }
}

fn describe_target(spec: &Spec) -> String {
    match &spec.attr {
        Some(attr) => format!("attribute {attr:?} of {}", spec.nix_file),
        None => spec.nix_file.clone(),
    }
}

async fn read_build_file<G: Gateway>(
    gateway: &mut G,
    options: &Options,
    env: &Environment,
) -> Result<String, UserError> {
    let file = &options.filename;
    let progress_name = format!("load build definition from {file}");
    let reference = solve_local_file(gateway, options, env, "dockerfile", file, progress_name)
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
async fn read_dockerignore<G: Gateway>(
    gateway: &mut G,
    options: &Options,
    env: &Environment,
) -> Vec<String> {
    let candidates = [
        ("dockerfile", format!("{}.dockerignore", options.filename)),
        ("context", ".dockerignore".to_string()),
    ];
    for (local_name, file) in candidates {
        let progress_name = format!("load {file}");
        let Ok(reference) =
            solve_local_file(gateway, options, env, local_name, &file, progress_name).await
        else {
            continue;
        };
        if let Ok(bytes) = gateway.read_file(&reference, &file).await {
            return dockerignore::parse(&String::from_utf8_lossy(&bytes));
        }
    }
    Vec::new()
}

async fn resolve_builder<G: Gateway>(
    gateway: &mut G,
    spec: &Spec,
    options: &Options,
) -> Result<BuilderImage, UserError> {
    let (digest, config) = gateway
        .resolve_image_config(&spec.nix_image, &spec.platform.to_pb(), options.image_resolve_mode.as_deref())
        .await
        .map_err(|err| {
            UserError::new(format!(
                "cannot use the Nix builder image {}: {}; set another with --build-arg NIX_IMAGE=<image>",
                spec.nix_image, err.message
            ))
        })?;
    Ok(BuilderImage::from_config(
        &spec.nix_image,
        Some(&digest),
        &config,
    ))
}

struct Status {
    kind: String,
    log: String,
    ran_at: i64,
}

async fn read_status<G: Gateway>(gateway: &mut G, reference: &str) -> Result<Status, UserError> {
    let read = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).trim().to_string();
    let kind = gateway
        .read_file(reference, &format!("{MANIFEST_DIR}/status"))
        .await
        .map(read)
        .map_err(|_| UserError::new("the Nix builder stopped before it finished (no status was written); its output is in the build log above"))?;
    let log = gateway
        .read_file(reference, &format!("{MANIFEST_DIR}/log"))
        .await
        .map(read)
        .unwrap_or_default();
    let ran_at = gateway
        .read_file(reference, &format!("{MANIFEST_DIR}/ran-at"))
        .await
        .ok()
        .and_then(|b| read(b).parse().ok())
        .unwrap_or(0);
    Ok(Status { kind, log, ran_at })
}

/// Nix's error text without the noise: progress lines and blank lines dropped, at most the last
/// 40 lines kept (Nix puts the file:line:column and the failing code last).
pub fn nix_error_text(log: &str) -> String {
    let lines: Vec<String> = log
        .lines()
        .filter(|line| {
            let t = line.trim();
            !t.is_empty()
                && !t.starts_with("evaluating ")
                && !t.starts_with("these ")
                && !t.starts_with("this derivation will be built")
                && !t.starts_with("warning: you did not specify '--add-root'")
                // Bare store path lines (lists of derivations) say nothing new.
                && (!t.starts_with("/nix/store/") || t.contains(' '))
        })
        // Nix names files by their path in the builder; the user knows them by the context's.
        .map(|line| line.replace(" /src/", " "))
        .collect();
    let start = lines.len().saturating_sub(40);
    let text = lines[start..].join("\n");
    if text.is_empty() {
        "(Nix printed nothing; see the build log above)".into()
    } else {
        text
    }
}

async fn read_build_result<G: Gateway>(
    gateway: &mut G,
    reference: &str,
) -> Result<BuildResult, UserError> {
    let invalid = |what: String| {
        UserError::new(format!(
            "the Nix builder reported something invalid: {what}"
        ))
    };
    let results_text = gateway
        .read_file(reference, &format!("{MANIFEST_DIR}/results"))
        .await
        .map_err(|err| invalid(format!("no list of results ({})", err.message)))?;
    let results: Vec<StorePath> = String::from_utf8_lossy(&results_text)
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            StorePath::parse(line).map_err(|err| invalid(format!("result {line:?}: {err}")))
        })
        .collect::<Result<_, _>>()?;
    if results.is_empty() {
        return Err(invalid("the build produced no output path".into()));
    }
    let manifest = gateway
        .read_file(reference, &format!("{MANIFEST_DIR}/closure.json"))
        .await
        .map_err(|err| invalid(format!("no closure manifest ({})", err.message)))?;
    let closure = closure::parse(&manifest, &results, &Limits::default())?;
    // The layer trees must be exactly the closure: nothing missing, nothing extra.
    let layer_dirs = gateway
        .read_dir(reference, "/layers")
        .await
        .map_err(|err| invalid(format!("no layer trees ({})", err.message)))?;
    let mut laid_out: Vec<&str> = layer_dirs.iter().map(|e| e.path.as_str()).collect();
    laid_out.sort_unstable();
    let expected: Vec<&str> = closure.paths.keys().map(StorePath::base_name).collect();
    if laid_out != expected {
        return Err(invalid(format!(
            "the copied store paths ({}) differ from the closure ({})",
            laid_out.len(),
            expected.len()
        )));
    }

    // The /tmp the image may get must arrive empty.
    let tmp = gateway
        .read_dir(reference, &format!("{MANIFEST_DIR}/tmp"))
        .await
        .map_err(|err| invalid(format!("no tmp directory ({})", err.message)))?;
    if !tmp.is_empty() {
        return Err(invalid(format!(
            "{} unexpected entries in its tmp directory",
            tmp.len()
        )));
    }

    let main = &results[0];
    let root_entries = gateway
        .read_dir(reference, &format!("{MANIFEST_DIR}/root"))
        .await
        .unwrap_or_default();
    let root_links = validate_root_links(main, &root_entries)?;

    let executables = if root_links.iter().any(|l| l.name == "bin") {
        let entries = gateway
            .read_dir(
                reference,
                &format!("/layers/{}{main}/bin", main.base_name()),
            )
            .await
            .unwrap_or_default();
        executables(&entries)
    } else {
        Vec::new()
    };
    let info: DerivationInfo = match gateway
        .read_file(reference, &format!("{MANIFEST_DIR}/info.json"))
        .await
    {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
        Err(_) => DerivationInfo::default(),
    };
    let info = DerivationInfo {
        main_program: info.main_program.filter(|p| is_plain_name(p)),
        ..info
    };
    let ca_bundle = find_ca_bundle(gateway, reference, &closure).await;
    Ok(BuildResult {
        closure,
        results,
        root_links,
        executables,
        info,
        ca_bundle,
    })
}

/// nixpkgs' CA bundle (`nss-cacert`), when the closure holds it and it has the usual file.
async fn find_ca_bundle<G: Gateway>(
    gateway: &mut G,
    reference: &str,
    closure: &closure::Closure,
) -> Option<String> {
    const BUNDLE: &str = "etc/ssl/certs/ca-bundle.crt";
    for path in closure
        .paths
        .keys()
        .filter(|p| p.base_name()[33..].starts_with("nss-cacert"))
    {
        let base = path.base_name();
        let dir = format!("/layers/{base}{path}/etc/ssl/certs");
        if let Ok(entries) = gateway.read_dir(reference, &dir).await {
            if entries.iter().any(|e| e.path == "ca-bundle.crt") {
                return Some(format!("{path}/{BUNDLE}"));
            }
        }
    }
    None
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.chars().any(char::is_control)
}

/// Each root entry must be a symlink named `N` pointing at exactly `<main result>/N`.
pub fn validate_root_links(main: &StorePath, entries: &[Stat]) -> Result<Vec<RootLink>, UserError> {
    let mut links = Vec::new();
    for entry in entries {
        let name = entry.path.rsplit('/').next().unwrap_or_default();
        let expected = format!("{main}/{name}");
        if !is_plain_name(name) || entry.mode & MODE_SYMLINK == 0 || entry.linkname != expected {
            return Err(UserError::new(format!(
                "the Nix builder reported an unexpected root entry {:?} (link to {:?}); only links into {main} are allowed",
                entry.path, entry.linkname
            )));
        }
        links.push(RootLink {
            name: name.to_string(),
            target: expected,
        });
    }
    links.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(links)
}

/// Names of executables (or symlinks, as Nix wrappers often are) among `entries`, sorted.
pub fn executables(entries: &[Stat]) -> Vec<String> {
    let mut names: Vec<String> = entries
        .iter()
        .filter(|e| e.mode & MODE_DIR == 0 && (e.mode & MODE_SYMLINK != 0 || e.mode & 0o111 != 0))
        .map(|e| e.path.rsplit('/').next().unwrap_or_default().to_string())
        .filter(|n| is_plain_name(n))
        .collect();
    names.sort();
    names
}

/// Answers a subrequest (`--print=…`); the metadata to return.
pub async fn subrequest<G: Gateway>(
    gateway: &mut G,
    options: &Options,
    env: &Environment,
    request: &str,
) -> Result<BTreeMap<String, Vec<u8>>, UserError> {
    match request {
        subrequests::DESCRIBE => return Ok(subrequests::describe()),
        subrequests::LINT => return Ok(subrequests::lint()),
        subrequests::OUTLINE | subrequests::TARGETS => {}
        other => {
            return Err(UserError::new(format!(
                "unsupported request {other}: nix-frontend answers {}, {}, {} and {}",
                subrequests::OUTLINE,
                subrequests::TARGETS,
                subrequests::LINT,
                subrequests::DESCRIBE
            )))
        }
    }
    let text = read_build_file(gateway, options, env).await?;
    let spec = Spec::new(options, &text, &env.worker_platform)?;
    if request == subrequests::OUTLINE {
        let args = match spec.mode {
            Mode::Dockerfile => crate::syntax::parse(&spec.build_file, &text, &options.build_args)
                .map(|parsed| parsed.args)
                .unwrap_or_default(),
            Mode::Nix => Vec::new(),
        };
        return Ok(subrequests::outline(&args, &options.build_args));
    }
    let builder = resolve_builder(gateway, &spec, options).await?;
    let excludes = read_dockerignore(gateway, options, env).await;
    let context = context_local(options, env, &excludes);
    let stage = plan::nix_stage(
        &spec,
        &builder,
        context,
        options.image_resolve_mode.as_deref(),
        plan::Task::Targets,
    );
    let reference = gateway
        .solve(llb::definition(&stage))
        .await
        .map_err(|err| UserError::gateway("listing the attributes", err))?;
    let reported = match gateway.read_file(&reference, "/targets.json").await {
        Ok(bytes) => serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
        Err(_) => {
            let log = gateway
                .read_file(&reference, "/log")
                .await
                .unwrap_or_default();
            return Err(UserError::new(format!(
                "evaluating {} failed:\n{}",
                spec.nix_file,
                nix_error_text(&String::from_utf8_lossy(&log))
            )));
        }
    };
    Ok(subrequests::targets(&reported, spec.attr.as_deref()))
}

/// Metadata for the Return of the built images: `containerimage.config` for one platform; per
/// platform id keys and `refs.platforms` for several (exporter/containerimage/exptypes).
pub fn result_metadata(built: &Built) -> BTreeMap<String, Vec<u8>> {
    let config =
        |image: &PlatformImage| serde_json::to_vec(&image.config).expect("JSON values serialise");
    if !built.multi_platform {
        return BTreeMap::from([(
            "containerimage.config".to_string(),
            config(&built.images[0]),
        )]);
    }
    let mut metadata = BTreeMap::new();
    let mut platforms = Vec::new();
    for image in &built.images {
        let id = image.platform.to_string();
        metadata.insert(format!("containerimage.config/{id}"), config(image));
        let mut platform = serde_json::json!({ "architecture": image.platform.architecture, "os": image.platform.os });
        if let Some(variant) = &image.platform.variant {
            platform["variant"] = serde_json::json!(variant);
        }
        platforms.push(serde_json::json!({ "ID": id, "Platform": platform }));
    }
    metadata.insert(
        "refs.platforms".to_string(),
        serde_json::to_vec(&serde_json::json!({ "Platforms": platforms }))
            .expect("JSON values serialise"),
    );
    metadata
}

/// The refs to return: one unnamed ref, or one per platform id.
pub fn result_refs(built: &Built) -> Vec<(Option<String>, String)> {
    built
        .images
        .iter()
        .map(|image| {
            let id = built.multi_platform.then(|| image.platform.to_string());
            (id, image.reference.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(path: &str, mode: u32, linkname: &str) -> Stat {
        Stat {
            path: path.into(),
            mode,
            linkname: linkname.into(),
            ..Default::default()
        }
    }

    const MAIN: &str = "/nix/store/8rdhvmrp4a21j859nhvq50qvgwx6lf9l-hello-1.0";

    #[test]
    fn nix_errors_keep_file_line_and_context_without_noise() {
        let log = "evaluating default.nix -A hello\nwarning: you did not specify '--add-root'; the result might be removed\nthese 2 derivations will be built:\n  /nix/store/702kgf9xcpdiskn0ig6d0dya1l7j8nlb-failing.drv\nerror: syntax error, unexpected ';'\n       at /src/default.nix:2:14:\n            2| { hello = 1 +; }\n";
        let text = nix_error_text(log);
        assert_eq!(
            text,
            "error: syntax error, unexpected ';'\n       at default.nix:2:14:\n            2| { hello = 1 +; }"
        );
        assert!(nix_error_text("").contains("printed nothing"));
        let long: String = (0..100).map(|i| format!("line {i}\n")).collect();
        assert_eq!(nix_error_text(&long).lines().count(), 40);
    }

    #[test]
    fn root_links_must_point_into_the_result() {
        let main = StorePath::parse(MAIN).unwrap();
        let good = [stat("bin", MODE_SYMLINK | 0o777, &format!("{MAIN}/bin"))];
        assert_eq!(validate_root_links(&main, &good).unwrap()[0].name, "bin");
        for bad in [
            stat("bin", MODE_SYMLINK | 0o777, "/etc"),
            stat("bin", MODE_SYMLINK | 0o777, &format!("{MAIN}/../x")),
            stat("etc", MODE_SYMLINK | 0o777, &format!("{MAIN}/bin")),
            stat("bin", 0o755, &format!("{MAIN}/bin")),
            stat("..", MODE_SYMLINK, &format!("{MAIN}/..")),
        ] {
            assert!(
                validate_root_links(&main, std::slice::from_ref(&bad)).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn executables_are_files_with_an_x_bit_or_links() {
        let entries = [
            stat("hello", 0o555, ""),
            stat("data", 0o444, ""),
            stat("sub", MODE_DIR | 0o755, ""),
            stat("wrapped", MODE_SYMLINK | 0o777, "/nix/store/x"),
        ];
        assert_eq!(executables(&entries), ["hello", "wrapped"]);
    }

    mod with_fake_gateway {
        use super::*;
        use crate::fake_gateway::{entry, FakeGateway};

        const HELLO: &str = "/nix/store/8rdhvmrp4a21j859nhvq50qvgwx6lf9l-hello-1.0";
        const BUSYBOX: &str = "/nix/store/4wyqq71kp9g4lz3dhpmy0d35kk63qb30-busybox-static";

        fn options() -> Options {
            let raw = [("filename", "default.nix"), ("target", "hello")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Options::parse(&raw).unwrap()
        }

        fn env() -> Environment {
            Environment {
                session_id: "s".into(),
                worker_platform: Platform::parse("linux/amd64").unwrap(),
                has_merge_op: true,
                started_at: 0,
            }
        }

        /// A gateway whose builder reported a good hello build.
        fn good() -> FakeGateway {
            let mut g = FakeGateway::default();
            let base = |p: &str| p["/nix/store/".len()..].to_string();
            g.file("default.nix", "# syntax=org/nix-frontend\n{ hello = ...; }")
                .file("/.nix-frontend/status", "ok\n")
                .file("/.nix-frontend/ran-at", "10")
                .file("/.nix-frontend/results", format!("{HELLO}\n"))
                .file(
                    "/.nix-frontend/closure.json",
                    format!(r#"{{"{HELLO}":{{"narSize":100,"references":["{BUSYBOX}"]}},"{BUSYBOX}":{{"narSize":2000,"references":[]}}}}"#),
                )
                .dir("/layers", vec![entry(&base(BUSYBOX), 1 << 31, ""), entry(&base(HELLO), 1 << 31, "")])
                .dir("/.nix-frontend/tmp", vec![])
                .dir("/.nix-frontend/root", vec![entry("bin", MODE_SYMLINK | 0o777, &format!("{HELLO}/bin"))])
                .dir(&format!("/layers/{}{HELLO}/bin", base(HELLO)), vec![entry("hello", 0o555, "")]);
            g
        }

        fn run(g: &mut FakeGateway) -> Result<Built, UserError> {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(build(g, &options(), &env()))
        }

        #[test]
        fn a_good_build_returns_the_image_config() {
            let mut g = good();
            let built = run(&mut g).unwrap();
            assert_eq!(
                built.images[0].config["config"]["Entrypoint"][0],
                format!("{HELLO}/bin/hello")
            );
            // build file, two .dockerignore reads, the Nix stage, the image.
            assert_eq!(g.solves, 5);
        }

        fn expect_error(g: &mut FakeGateway, needle: &str) {
            match run(g) {
                Ok(_) => panic!("built despite: {needle}"),
                Err(UserError { message, .. }) => {
                    assert!(message.contains(needle), "{message:?} lacks {needle:?}");
                    assert!(!message.contains("status:"), "raw status in {message:?}");
                }
            }
        }

        #[test]
        fn hostile_manifests_are_refused() {
            let cases: Vec<(&str, String, &str)> = vec![
                (
                    "closure.json",
                    r#"{"/etc/passwd":{"narSize":1}}"#.into(),
                    "not a store path",
                ),
                (
                    "closure.json",
                    format!(r#"{{"{HELLO}":{{"narSize":1,"references":["{BUSYBOX}"]}}}}"#),
                    "which is not in the closure",
                ),
                (
                    "closure.json",
                    format!(
                        r#"[{{"path":"{HELLO}","narSize":1}},{{"path":"{HELLO}","narSize":1}}]"#
                    ),
                    "twice",
                ),
                (
                    "closure.json",
                    format!(r#"{{"{BUSYBOX}":{{"narSize":1}}}}"#),
                    "not in its own closure",
                ),
                ("closure.json", "not json".into(), "not valid JSON"),
                (
                    "results",
                    "/nix/store/../etc\n".into(),
                    "result \"/nix/store/../etc\"",
                ),
                ("results", "".into(), "no output path"),
            ];
            for (file, content, needle) in cases {
                let mut g = good();
                g.file(&format!("/.nix-frontend/{file}"), content);
                expect_error(&mut g, needle);
            }
        }

        #[test]
        fn too_many_paths_are_refused_with_the_numbers() {
            let mut g = good();
            let mut manifest = String::from("{");
            for i in 0..100_001u32 {
                let hash: String = format!("{i:0>32}");
                manifest.push_str(&format!(r#""/nix/store/{hash}-p":{{"narSize":1}},"#));
            }
            manifest.pop();
            manifest.push('}');
            g.file("/.nix-frontend/closure.json", manifest);
            expect_error(&mut g, "100001 store paths, over the limit of 100000");
        }

        #[test]
        fn laid_out_trees_must_match_the_closure() {
            let mut g = good();
            g.dirs
                .get_mut("/layers")
                .unwrap()
                .push(entry("extra", 1 << 31, ""));
            expect_error(&mut g, "differ from the closure");
        }

        #[test]
        fn root_links_outside_the_result_are_refused() {
            let mut g = good();
            g.dir(
                "/.nix-frontend/root",
                vec![entry("etc", MODE_SYMLINK | 0o777, "/etc")],
            );
            expect_error(&mut g, "only links into");
        }

        #[test]
        fn a_tmp_with_content_is_refused() {
            let mut g = good();
            g.dir("/.nix-frontend/tmp", vec![entry("planted", 0o644, "")]);
            expect_error(&mut g, "unexpected entries in its tmp directory");
        }

        #[test]
        fn nix_failures_carry_nix_text() {
            let mut g = good();
            g.file("/.nix-frontend/status", "eval-failed").file(
                "/.nix-frontend/log",
                "error: undefined variable 'x'\n       at /src/default.nix:3:5:",
            );
            expect_error(&mut g, "at default.nix:3:5:");
        }

        #[test]
        fn a_crashed_builder_and_failed_solves_are_clear() {
            let mut g = good();
            g.files.remove("/.nix-frontend/status");
            expect_error(&mut g, "stopped before it finished");
            let mut g = good();
            g.fail_solve = Some((3, "context canceled".into()));
            expect_error(
                &mut g,
                "running nix-build default.nix -A hello: context canceled",
            );
            let mut g = good();
            g.fail_solve = Some((4, "no space left on device".into()));
            expect_error(&mut g, "assembling the image: no space left on device");
        }

        #[test]
        fn dockerignore_patterns_reach_the_context_normalised() {
            let mut g = good();
            g.file(
                ".dockerignore",
                "\u{feff}# c\n/secret.txt\n*.txt\n!/keep.txt\n",
            );
            run(&mut g).unwrap();
            let nix_stage = llb::definition_to_json(&g.definitions[3]);
            let context = nix_stage
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["source"]["identifier"] == "local://context")
                .unwrap();
            assert_eq!(
                context["source"]["attrs"]["local.excludepatterns"],
                r#"["secret.txt","*.txt","!keep.txt"]"#
            );
        }

        #[test]
        fn a_stale_cached_build_failure_is_built_again() {
            let mut g = good();
            g.file("/.nix-frontend/status", "build-failed")
                .file("/.nix-frontend/ran-at", "0");
            let mut env = env();
            env.started_at = 100;
            let result = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(build(&mut g, &options(), &env));
            assert!(result.is_err());
            assert_eq!(
                g.warnings,
                ["the cached Nix build had failed; building again"]
            );
            // The second Nix stage ignores the cache.
            let last = g.definitions.last().unwrap();
            assert!(last.metadata.values().any(|m| m.ignore_cache));
        }
    }
}
