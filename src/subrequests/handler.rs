//! Answers a subrequest (`docker buildx build --print=…`, `--call`, `--check`) over the gateway:
//! reads the build file, then either answers from the spec alone (outline, lint, describe) or
//! runs `targets.sh` in the builder and reads its report. The answers' shapes are in `super`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::context;
use crate::error::UserError;
use crate::frontend::resolve_builder;
use crate::gateway::{Environment, Gateway};
use crate::llb;
use crate::options::Options;
use crate::plan::{self, contract};
use crate::report;
use crate::spec::Spec;

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
            let check = crate::spec::check(options, &text, &env.worker_platform);
            let meta = super::lint(&check, &options.filename, &text);
            // An error is the request's error, the other findings after it: every buildx then
            // exits non-zero and shows the line (buildx before 0.14 ignores result.statuscode).
            return match check.errors.first() {
                Some(first) => {
                    let error = UserError::from(first.clone());
                    let others: String = String::from_utf8_lossy(&meta["result.txt"])
                        .lines()
                        .filter(|line| !line.starts_with("ERROR: "))
                        .map(|line| format!("{line}\n"))
                        .collect();
                    Err(UserError {
                        message: format!("{}\n\n{}", error.message, others.trim_end()),
                        location: error.location,
                    })
                }
                None => Ok(meta),
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
        return Err(context::attach_source(gateway, options, env, error).await);
    }
    let reported = match gateway.read_file(&reference, contract::TARGETS).await {
        Ok(bytes) => serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    Ok(super::targets(&reported, spec.attr.as_deref()))
}
