//! The seam between a build and BuildKit: the calls a build makes (`Gateway`) and how one fails
//! (`GatewayError`). The real LLBBridge client (`bridge`) and the unit tests' fake
//! (`fake_gateway`) implement it; the build (`pipeline`) uses only this.

use std::fmt;

use bollard_buildkit_proto::fsutil::types::Stat;
use bollard_buildkit_proto::pb;

use crate::buildkit::platform::Platform;

/// Go's `os.ModeDir` and `os.ModeSymlink`, as fsutil reports modes in `read_dir`'s entries.
pub const MODE_DIR: u32 = 1 << 31;
pub const MODE_SYMLINK: u32 = 1 << 27;

/// Whether a `read_dir` entry's mode is a regular file: none of Go's `os.ModeType` bits (dir,
/// symlink, device, named pipe, socket, char device, irregular).
pub fn is_regular_file(mode: u32) -> bool {
    const MODE_TYPE: u32 =
        MODE_DIR | MODE_SYMLINK | 1 << 26 | 1 << 25 | 1 << 24 | 1 << 21 | 1 << 19;
    mode & MODE_TYPE == 0
}

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

/// The calls the frontend makes; the real bridge and the test fake implement it. Every call
/// takes `&self`, so one build's platforms call it concurrently.
#[allow(async_fn_in_trait)]
pub trait Gateway {
    /// Solves `definition` and returns the result's ref id.
    async fn solve(&self, definition: pb::Definition) -> Result<String, GatewayError>;
    async fn read_file(&self, reference: &str, path: &str) -> Result<Vec<u8>, GatewayError>;
    /// At most `length` bytes of the file from `offset` (fewer at its end, none past it).
    async fn read_file_range(
        &self,
        reference: &str,
        path: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>, GatewayError>;
    async fn read_dir(&self, reference: &str, path: &str) -> Result<Vec<Stat>, GatewayError>;
    /// The image's manifest digest and config JSON.
    async fn resolve_image_config(
        &self,
        reference: &str,
        platform: &pb::Platform,
        resolve_mode: Option<&str>,
    ) -> Result<(String, Vec<u8>), GatewayError>;
    /// A warning for the build summary; failures to warn are not errors.
    async fn warn(&self, message: &str);
}

/// What the frontend learnt about its environment.
#[derive(Debug, Clone)]
pub struct Environment {
    pub session_id: String,
    pub worker_platform: Platform,
    /// Every platform the workers run, natively or through an emulator BuildKit found.
    pub worker_platforms: Vec<Platform>,
    pub has_merge_op: bool,
    /// The gateway takes attestations in a Result (cap `reference.attestations`).
    pub has_attestations: bool,
    /// Unix seconds when this frontend started; older builder runs came from the cache.
    pub started_at: i64,
}

impl Environment {
    /// What BuildKit's Ping answered: MergeOp (LLB cap `mergeop`), attestations in a result
    /// (frontend cap `reference.attestations`) and the workers' platforms, the first one the
    /// worker's own (this binary's platform when BuildKit names none).
    pub fn from_pong(
        pong: &bollard_buildkit_proto::moby::buildkit::v1::frontend::PongResponse,
        session_id: String,
        started_at: i64,
    ) -> Environment {
        let enabled = |caps: &[bollard_buildkit_proto::moby::buildkit::v1::apicaps::ApiCap],
                       id: &str| caps.iter().any(|c| c.id == id && c.enabled);
        let worker_platforms: Vec<Platform> = pong
            .workers
            .iter()
            .flat_map(|w| w.platforms.iter())
            .map(Platform::from_pb)
            .collect();
        Environment {
            session_id,
            worker_platform: worker_platforms
                .first()
                .cloned()
                .unwrap_or_else(Platform::host),
            worker_platforms,
            has_merge_op: enabled(&pong.llb_caps, "mergeop"),
            has_attestations: enabled(&pong.frontend_api_caps, "reference.attestations"),
            started_at,
        }
    }
}

/// BuildKit's gateway messages are at most 16 MiB (containerd's default), so a ReadFile of a
/// bigger file fails; files that can be large are read in ranges of this size.
pub const READ_CHUNK: u64 = 8 << 20;

/// Why a file read in chunks could not be read.
#[derive(Debug, Clone)]
pub enum ReadError {
    Gateway(GatewayError),
    /// The file holds more than `limit` bytes.
    TooLarge {
        limit: usize,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Gateway(err) => write!(f, "{}", err.message),
            ReadError::TooLarge { limit } => write!(f, "it is over the limit of {limit} bytes"),
        }
    }
}

/// The whole of the file at `path` in `reference`, read `READ_CHUNK` bytes per call; a file of
/// more than `limit` bytes is refused once that much is read, never held whole.
pub async fn read_whole_file<G: Gateway>(
    gateway: &G,
    reference: &str,
    path: &str,
    limit: usize,
) -> Result<Vec<u8>, ReadError> {
    let mut data: Vec<u8> = Vec::new();
    loop {
        let chunk = gateway
            .read_file_range(reference, path, data.len() as u64, READ_CHUNK)
            .await
            .map_err(ReadError::Gateway)?;
        let short = (chunk.len() as u64) < READ_CHUNK;
        if chunk.len() as u64 > READ_CHUNK {
            return Err(ReadError::Gateway(GatewayError {
                call: "read file",
                message: format!("{path}: more bytes than the range asked for"),
            }));
        }
        data.extend_from_slice(&chunk);
        if data.len() > limit {
            return Err(ReadError::TooLarge { limit });
        }
        if short {
            return Ok(data);
        }
    }
}

/// A cache to import (`--cache-from` / `cache-imports`), as the client sends it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct CacheImport {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(rename = "Attrs", default)]
    pub attrs: std::collections::BTreeMap<String, String>,
}

/// How a failed gateway call reads to the user (an inherent method of `UserError`, kept with the
/// error it converts so that `error` depends on no layer).
impl crate::error::UserError {
    /// A failed gateway call while doing `what`: BuildKit's message, never the raw status.
    pub fn gateway(what: &str, err: GatewayError) -> Self {
        crate::error::UserError::new(format!("{what}: {}", err.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buildkit::fake_gateway::{FakeGateway, MAX_MESSAGE};
    use bollard_buildkit_proto::moby::buildkit::v1::{apicaps::ApiCap, frontend, types};

    fn cap(id: &str, enabled: bool) -> ApiCap {
        ApiCap {
            id: id.into(),
            enabled,
            ..Default::default()
        }
    }

    fn platform(os: &str, architecture: &str, variant: &str) -> pb::Platform {
        pb::Platform {
            os: os.into(),
            architecture: architecture.into(),
            variant: variant.into(),
            ..Default::default()
        }
    }

    #[test]
    fn the_environment_is_read_from_buildkits_ping() {
        let pong = frontend::PongResponse {
            frontend_api_caps: vec![cap("reference.attestations", true)],
            llb_caps: vec![cap("mergeop", false), cap("diffop", true)],
            workers: vec![types::WorkerRecord {
                platforms: vec![
                    platform("linux", "x86_64", ""),
                    platform("linux", "arm", "v7"),
                ],
                ..Default::default()
            }],
        };
        let env = Environment::from_pong(&pong, "s".into(), 7);
        assert!(env.has_attestations);
        // A cap BuildKit names but disables is not there.
        assert!(!env.has_merge_op);
        assert_eq!(env.worker_platform, Platform::parse("linux/amd64").unwrap());
        assert_eq!(
            env.worker_platforms,
            [
                Platform::parse("linux/amd64").unwrap(),
                Platform::parse("linux/arm/v7").unwrap()
            ]
        );
        assert_eq!((env.session_id.as_str(), env.started_at), ("s", 7));
        // No worker named: this binary's own platform, no caps.
        let env = Environment::from_pong(&frontend::PongResponse::default(), String::new(), 0);
        assert_eq!(env.worker_platform, Platform::host());
        assert!(env.worker_platforms.is_empty() && !env.has_merge_op && !env.has_attestations);
        assert!(
            ["amd64", "arm64"].contains(&Platform::host().architecture.as_str())
                || !cfg!(any(target_arch = "x86_64", target_arch = "aarch64"))
        );
    }

    /// Go's mode bits (as `read_dir` reports them) have one definition, which every other file
    /// uses by name.
    #[test]
    fn mode_bits_are_defined_once() {
        fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for (i, line) in text.lines().enumerate() {
                        let line = line.trim_start().trim_start_matches("pub ");
                        if line.starts_with("const MODE_DIR")
                            || line.starts_with("const MODE_SYMLINK")
                        {
                            found.push(format!("{}:{}", path.display(), i + 1));
                        }
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        assert_eq!(found.len(), 2, "{found:#?}");
    }

    fn read(g: &mut FakeGateway, limit: usize) -> Result<Vec<u8>, ReadError> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(read_whole_file(
                g,
                &FakeGateway::ref_of("big"),
                "/big",
                limit,
            ))
    }

    fn gateway_with(data: Vec<u8>) -> FakeGateway {
        let mut g = FakeGateway::default();
        g.tree("big").file("/big", data);
        g
    }

    #[test]
    fn a_file_over_the_message_limit_is_read_in_ranges() {
        let data: Vec<u8> = (0..MAX_MESSAGE + 5_000_000)
            .map(|i| (i % 251) as u8)
            .collect();
        let mut g = gateway_with(data.clone());
        // One ReadFile of it fails as BuildKit's does.
        let whole = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(g.read_file(&FakeGateway::ref_of("big"), "/big"));
        assert!(whole.unwrap_err().message.contains("larger than max"));
        g.reset_file_reads();
        assert_eq!(read(&mut g, 64 << 20).unwrap(), data);
        assert_eq!(g.file_reads(), 3);
    }

    #[test]
    fn sizes_at_chunk_boundaries_read_exactly() {
        for size in [
            0,
            1,
            READ_CHUNK as usize - 1,
            READ_CHUNK as usize,
            2 * READ_CHUNK as usize,
        ] {
            let data = vec![7u8; size];
            let mut g = gateway_with(data.clone());
            assert_eq!(read(&mut g, 64 << 20).unwrap(), data, "{size}");
            assert_eq!(g.file_reads(), size / READ_CHUNK as usize + 1, "{size}");
        }
    }

    #[test]
    fn a_file_over_the_limit_is_refused_without_reading_it_all() {
        let mut g = gateway_with(vec![0u8; 5 * READ_CHUNK as usize]);
        match read(&mut g, READ_CHUNK as usize + 10) {
            Err(ReadError::TooLarge { limit }) => assert_eq!(limit, READ_CHUNK as usize + 10),
            other => panic!("{other:?}"),
        }
        assert_eq!(g.file_reads(), 2);
    }

    #[test]
    fn a_missing_file_is_the_gateway_error() {
        let mut g = FakeGateway::default();
        match read(&mut g, 10) {
            Err(ReadError::Gateway(err)) => assert!(err.message.contains("no such file")),
            other => panic!("{other:?}"),
        }
    }
}
