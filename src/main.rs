//! nix-frontend: a BuildKit frontend that builds `default.nix` / a Dockerfile naming it into an
//! image holding exactly the runtime closure of the result. This file only wires the parts.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use nix_frontend::buildkit::bridge::Bridge;
use nix_frontend::buildkit::gateway::Environment;
use nix_frontend::buildkit::result;
use nix_frontend::dockerui::options::{self, Options};
use nix_frontend::pipeline::frontend;
use nix_frontend::{error, subrequests};

fn main() {
    // stdout is the gRPC channel: everything we say goes to stderr or through BuildKit.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("nix-frontend: cannot start: {err}");
            std::process::exit(1);
        }
    };
    let code = runtime.block_on(run());
    // tokio's stdin reader thread blocks forever: exit explicitly, or the runtime waits on that
    // read and the user's build hangs.
    std::process::exit(code);
}

async fn run() -> i32 {
    let started_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut bridge = match Bridge::connect_stdio().await {
        Ok(bridge) => bridge,
        Err(err) => {
            eprintln!("nix-frontend: {err}");
            return 1;
        }
    };
    let raw = options::from_env_pairs(std::env::vars());
    eprintln!("nix-frontend: options {raw:?}");
    let outcome = async {
        let options = Options::parse(&raw)?;
        bridge.set_cache_imports(&options.cache_imports);
        let pong = bridge.ping().await.map_err(|err| {
            error::UserError::new(format!("BuildKit did not answer: {}", err.message))
        })?;
        let env = Environment::from_pong(
            &pong,
            std::env::var("BUILDKIT_SESSION_ID").unwrap_or_default(),
            started_at,
        );
        match &options.request_id {
            Some(request) => subrequests::subrequest(&bridge, &options, &env, request)
                .await
                .map(Outcome::Metadata),
            None => frontend::build(&bridge, &options, &env)
                .await
                .map(Outcome::Image),
        }
    }
    .await;
    let returned = match outcome {
        Ok(Outcome::Metadata(metadata)) => {
            bridge.return_metadata(metadata.into_iter().collect()).await
        }
        Ok(Outcome::Image(built)) => {
            let metadata: HashMap<String, Vec<u8>> =
                result::result_metadata(&built).into_iter().collect();
            bridge
                .return_result(
                    result::result_refs(&built),
                    metadata,
                    result::result_attestations(&built),
                )
                .await
        }
        Err(err) => {
            eprintln!("nix-frontend: {err}");
            bridge.return_error(tonic::Code::Unknown, &err).await
        }
    };
    match returned {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("nix-frontend: could not return the result to BuildKit: {err}");
            1
        }
    }
}

enum Outcome {
    Image(result::Built),
    Metadata(std::collections::BTreeMap<String, Vec<u8>>),
}
