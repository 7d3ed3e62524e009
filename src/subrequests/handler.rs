//! Answers a subrequest (`docker buildx build --print=…`, `--call`, `--check`) over the gateway:
//! reads the build file, then either answers from the spec alone (outline, lint, describe) or
//! runs `targets.sh` in the builder and reads its report. The answers' shapes are in `super`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::builder::contract;
use crate::builder::report;
use crate::buildkit::gateway::{Environment, Gateway};
use crate::buildkit::llb;
use crate::dockerui::context;
use crate::dockerui::options::Options;
use crate::dockerui::spec::{Spec, SpecError, Warning};
use crate::dockerui::syntax::SyntaxError;
use crate::error::UserError;
use crate::nix::syntax::Checked;
use crate::pipeline::frontend::resolve_builder;
use crate::plan;

/// Answers a subrequest (`--print=…`); the metadata to return.
pub async fn subrequest<G: Gateway>(
    gateway: &G,
    options: &Options,
    env: &Environment,
    request: &str,
) -> Result<BTreeMap<String, Vec<u8>>, UserError> {
    match request {
        super::DESCRIBE => return Ok(super::describe()),
        super::LINT => {
            let text = context::read_build_file(gateway, options, env).await?;
            let (mut check, spec) =
                crate::dockerui::spec::check(options, &text, &env.worker_platform);
            if let Some(spec) = spec {
                check_nix_syntax(gateway, options, env, &spec, &text, &mut check).await;
            }
            let lint = super::lint(&check, &options.filename, &text);
            return match lint.error {
                Some(error) => Err(error),
                None => Ok(lint.metadata),
            };
        }
        super::OUTLINE | super::TARGETS => {}
        other => {
            return Err(UserError::new(format!(
                "unsupported request {other}: nix-frontend answers {}, {}, {} and {}",
                super::OUTLINE,
                super::TARGETS,
                super::LINT,
                super::DESCRIBE
            )))
        }
    }
    let text = context::read_build_file(gateway, options, env).await?;
    let spec = Spec::new(options, &text, &env.worker_platform)?;
    if request == super::OUTLINE {
        return Ok(super::outline(&spec.args, &options.build_args));
    }
    let builder = resolve_builder(gateway, &spec, options).await?;
    let ignores = context::read_ignores(gateway, options, env, &spec).await;
    let context = context::sources(options, env, &ignores, &spec);
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
    let checked =
        report::read_report(gateway, &reference)
            .await?
            .check(&spec, plan::Task::Targets, &text);
    if let Err(error) = checked {
        return Err(context::attach_source(gateway, options, env, &ignores.context, error).await);
    }
    let reported = match gateway.read_file(&reference, contract::TARGETS).await {
        Ok(bytes) => serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    Ok(super::targets(&reported, &spec.attrs))
}

/// The Nix file's first syntax error (rnix, no builder), at its own file and line: the build
/// file itself in Nix mode, else the Nix file it names, read from the context as the build
/// would see it (after `.dockerignore`). A file that cannot be read is left to the build; one
/// too big or too deep to check is a warning that says so.
async fn check_nix_syntax<G: Gateway>(
    gateway: &G,
    options: &Options,
    env: &Environment,
    spec: &Spec,
    build_file_text: &str,
    check: &mut crate::dockerui::spec::Check,
) {
    let (file, text) = if spec.build_file_in_context.is_some() {
        (options.filename.clone(), build_file_text.to_string())
    } else {
        let excludes = context::read_dockerignore(gateway, options, env).await;
        let file = spec.nix_file.clone();
        let progress_name = format!("load {file} for the check");
        let read =
            context::read_context_file(gateway, options, env, &file, &excludes, progress_name);
        let Some(text) = read.await else {
            return;
        };
        (file, text)
    };
    match crate::nix::syntax::check(&text) {
        Checked::Clean => {}
        Checked::Error(error) => check.errors.push(SpecError::Syntax(SyntaxError {
            rule: "NixSyntax",
            message: format!("syntax error, {} (column {})", error.message, error.column),
            file,
            text,
            line: error.line,
        })),
        Checked::Skipped(reason) => check.warnings.push(Warning {
            rule: "NixSyntax",
            location: None,
            message: format!("{file} was not checked: {reason}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buildkit::fake_gateway::{environment, FakeGateway};

    fn lint(g: &FakeGateway, options: &Options) -> Result<BTreeMap<String, Vec<u8>>, UserError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(subrequest(g, options, &environment(0), super::super::LINT))
    }

    #[test]
    fn check_reports_a_nix_build_files_syntax_error_at_its_line() {
        let options = Options::from_pairs(&[("filename", "default.nix")]);
        let mut g = FakeGateway::default();
        let text = "# syntax=org/nix-frontend\n{\n  a = 1\n  b = 2;\n}\n";
        g.tree("load build definition from default.nix")
            .file("default.nix", text);
        let error = lint(&g, &options).unwrap_err();
        assert!(
            error.message.starts_with(
                "default.nix:4: syntax error, unexpected '=', expecting ';' (column 5)"
            ),
            "{error:?}"
        );
        let location = error.location.unwrap();
        assert_eq!((location.file.as_str(), location.line), ("default.nix", 4));
        // Nothing but the build file was read: no builder image, no context.
        assert_eq!(g.solves(), 1);
    }

    #[test]
    fn check_reads_the_nix_file_a_dockerfile_names_and_points_at_it() {
        let options = Options::from_pairs(&[("filename", "Dockerfile")]);
        let mut g = FakeGateway::default();
        g.tree("load build definition from Dockerfile").file(
            "Dockerfile",
            "# syntax=org/nix-frontend\n# nix=app.nix\nENV A=b\n",
        );
        // Solves 1 and 2 are the .dockerignore probes; 3 the Nix file.
        g.tree("load app.nix for the check")
            .file("app.nix", "let\n  x = 1;\nin {\n");
        let error = lint(&g, &options).unwrap_err();
        assert!(
            error
                .message
                .starts_with("app.nix:3: syntax error, unexpected end of file"),
            "{error:?}"
        );
        assert_eq!(error.location.unwrap().file, "app.nix");
        let probe = &llb::definition_to_json(&g.definitions()[3])[0]["source"];
        assert_eq!(probe["attrs"]["local.includepattern"], r#"["app.nix"]"#);
    }

    #[test]
    fn check_says_when_a_nix_file_is_too_big_to_check() {
        let options = Options::from_pairs(&[("filename", "default.nix")]);
        let mut g = FakeGateway::default();
        let big = format!(
            "# syntax=org/nix-frontend\n{{ a = \"{}\"; }}\n",
            "x".repeat(300 << 10)
        );
        g.tree("load build definition from default.nix")
            .file("default.nix", big);
        let meta = lint(&g, &options).unwrap();
        let report = String::from_utf8_lossy(&meta["result.txt"]);
        assert!(
            report.contains("default.nix was not checked: it is over 256 KiB"),
            "{report}"
        );
    }

    /// The error carries every other finding as `result.txt` shows it, whatever its text (here
    /// a build arg's name with a line that looks like the error's own).
    #[test]
    fn check_error_carries_every_other_finding() {
        let options =
            Options::from_pairs(&[("filename", "Dockerfile"), ("build-arg:X\nERROR: Y", "1")]);
        let mut g = FakeGateway::default();
        g.tree("load build definition from Dockerfile")
            .file("Dockerfile", "# syntax=org/nix-frontend\nRUN make\n");
        let error = lint(&g, &options).unwrap_err();
        let (first, others) = error.message.split_once("\n\n").unwrap();
        assert!(
            first.starts_with("Dockerfile:2: RUN is not supported"),
            "{first}"
        );
        assert_eq!(
            others,
            "WARNING: UnusedBuildArgs\nbuild args not consumed: X\nERROR: Y (declare them with ARG in a Dockerfile, or pass Nix arguments with NIX_ARGS)\n\nCheck complete, 1 warning has been found!"
        );
        assert_eq!(error.location.unwrap().line, 2);
    }

    #[test]
    fn check_of_valid_nix_is_clean() {
        let options = Options::from_pairs(&[("filename", "default.nix")]);
        let mut g = FakeGateway::default();
        g.tree("load build definition from default.nix")
            .file("default.nix", "# syntax=org/nix-frontend\n{ a = 1; }\n");
        let meta = lint(&g, &options).unwrap();
        assert_eq!(meta["result.statuscode"], b"0");
    }
}
