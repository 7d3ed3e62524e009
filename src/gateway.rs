//! The seam between a build and BuildKit: the calls a build makes (`Gateway`) and how one fails
//! (`GatewayError`). The real LLBBridge client (`bridge`) and the unit tests' fake
//! (`fake_gateway`) implement it; the build (`frontend` and its rooms) uses only this.

use std::fmt;

use bollard_buildkit_proto::fsutil::types::Stat;
use bollard_buildkit_proto::pb;

use crate::options::Platform;

/// A failed gateway call: which call, and what BuildKit said (its message, never the raw status).
#[derive(Debug, Clone)]
pub struct GatewayError {
    pub call: &'static str,
    pub message: String,
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.call, self.message)
    }
}

impl std::error::Error for GatewayError {}

/// The calls the frontend makes; the real bridge and the test fake implement it.
#[allow(async_fn_in_trait)]
pub trait Gateway {
    /// Solves `definition` and returns the result's ref id.
    async fn solve(&mut self, definition: pb::Definition) -> Result<String, GatewayError>;
    async fn read_file(&mut self, reference: &str, path: &str) -> Result<Vec<u8>, GatewayError>;
    async fn read_dir(&mut self, reference: &str, path: &str) -> Result<Vec<Stat>, GatewayError>;
    /// The image's manifest digest and config JSON.
    async fn resolve_image_config(
        &mut self,
        reference: &str,
        platform: &pb::Platform,
        resolve_mode: Option<&str>,
    ) -> Result<(String, Vec<u8>), GatewayError>;
    /// A warning for the build summary; failures to warn are not errors.
    async fn warn(&mut self, message: &str);
}

/// What the frontend learnt about its environment.
#[derive(Debug, Clone)]
pub struct Environment {
    pub session_id: String,
    pub worker_platform: Platform,
    pub has_merge_op: bool,
    /// The gateway takes attestations in a Result (cap `reference.attestations`).
    pub has_attestations: bool,
    /// Unix seconds when this frontend started; older builder runs came from the cache.
    pub started_at: i64,
}
