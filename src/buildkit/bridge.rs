//! The LLBBridge client over the process's stdin/stdout: every byte on the wire is here.
//!
//! BuildKit speaks HTTP/2 with prior knowledge over our stdin (to us) and stdout (from us); we
//! hand tonic a connector that yields that pair once. Nothing else may write to stdout.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use bollard_buildkit_proto::fsutil::types::Stat;
use bollard_buildkit_proto::moby::buildkit::v1::frontend::{
    self as gw, llb_bridge_client::LlbBridgeClient,
};
use bollard_buildkit_proto::pb;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tonic::transport::{Channel, Endpoint};

use crate::buildkit::gateway::CacheImport;
use crate::buildkit::gateway::{Gateway, GatewayError};
use crate::error::{SourceLocation, UserError};

/// BuildKit's gateway limit (containerd's default), both ways.
const MAX_MESSAGE_BYTES: usize = 16 << 20;

/// A failed call as the build sees it: BuildKit's message, never the raw status.
fn status_error(call: &'static str, status: tonic::Status) -> GatewayError {
    GatewayError {
        call,
        message: status.message().to_string(),
    }
}

/// stdin + stdout as one duplex stream.
struct Stdio {
    stdin: tokio::io::Stdin,
    stdout: tokio::io::Stdout,
}

impl AsyncRead for Stdio {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdin).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stdio {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stdout).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdout).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stdout).poll_shutdown(cx)
    }
}

/// The real bridge to BuildKit.
pub struct Bridge {
    client: LlbBridgeClient<Channel>,
    cache_imports: Vec<gw::CacheOptionsEntry>,
    /// Digest used for warnings; any vertex of ours will do. Set by the first solve; a lock
    /// because platforms solve concurrently (never held across an await).
    warn_digest: Mutex<String>,
}

impl Bridge {
    /// Connects over stdin/stdout.
    pub async fn connect_stdio() -> Result<Bridge, String> {
        let stdio = Mutex::new(Some(Stdio {
            stdin: tokio::io::stdin(),
            stdout: tokio::io::stdout(),
        }));
        let connector = tower::service_fn(move |_uri| {
            let stream = stdio.lock().ok().and_then(|mut s| s.take());
            async move {
                stream.map(TokioIo::new).ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::BrokenPipe,
                        "the stdio connection was already used",
                    )
                })
            }
        });
        let channel = Endpoint::from_static("http://localhost")
            .connect_with_connector(connector)
            .await
            .map_err(|err| format!("cannot talk to BuildKit over stdin/stdout: {err}"))?;
        Ok(Bridge::new(channel))
    }

    pub fn new(channel: Channel) -> Bridge {
        let client = LlbBridgeClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Bridge {
            client,
            cache_imports: Vec::new(),
            warn_digest: Mutex::new(String::new()),
        }
    }

    /// `--cache-from` only works if every Solve carries the imports.
    pub fn set_cache_imports(&mut self, imports: &[CacheImport]) {
        self.cache_imports = imports
            .iter()
            .map(|import| gw::CacheOptionsEntry {
                r#type: import.kind.clone(),
                attrs: import.attrs.clone().into_iter().collect(),
            })
            .collect();
    }

    pub async fn ping(&mut self) -> Result<gw::PongResponse, GatewayError> {
        self.client
            .ping(gw::PingRequest {})
            .await
            .map(|r| r.into_inner())
            .map_err(|s| status_error("ping", s))
    }

    /// Ends the build with a result: one ref, or refs keyed by platform id, and metadata.
    pub async fn return_result(
        &mut self,
        refs: Vec<(Option<String>, String)>,
        metadata: HashMap<String, Vec<u8>>,
        attestations: Vec<crate::buildkit::result::Attestation>,
    ) -> Result<(), GatewayError> {
        let mut by_platform: HashMap<String, gw::Attestations> = HashMap::new();
        for attestation in attestations {
            by_platform
                .entry(attestation.platform)
                .or_default()
                .attestation
                .push(gw::Attestation {
                    kind: gw::AttestationKind::InToto as i32,
                    metadata: attestation.metadata.into_iter().collect(),
                    r#ref: Some(gw::Ref {
                        id: attestation.reference,
                        def: None,
                    }),
                    path: attestation.path,
                    in_toto_predicate_type: attestation.predicate_type,
                    // No subjects: the exporter makes the image itself the subject.
                    in_toto_subjects: Vec::new(),
                });
        }
        let result = match refs.as_slice() {
            [(None, id)] => gw::result::Result::Ref(gw::Ref {
                id: id.clone(),
                def: None,
            }),
            _ => gw::result::Result::Refs(gw::RefMap {
                refs: refs
                    .into_iter()
                    .map(|(platform, id)| (platform.unwrap_or_default(), gw::Ref { id, def: None }))
                    .collect(),
            }),
        };
        let request = gw::ReturnRequest {
            result: Some(gw::Result {
                metadata,
                attestations: by_platform,
                result: Some(result),
            }),
            error: None,
        };
        self.client
            .r#return(request)
            .await
            .map(|_| ())
            .map_err(|s| status_error("return", s))
    }

    /// Ends the build with metadata only (subrequests).
    pub async fn return_metadata(
        &mut self,
        metadata: HashMap<String, Vec<u8>>,
    ) -> Result<(), GatewayError> {
        let request = gw::ReturnRequest {
            result: Some(gw::Result {
                metadata,
                ..Default::default()
            }),
            error: None,
        };
        self.client
            .r#return(request)
            .await
            .map(|_| ())
            .map_err(|s| status_error("return", s))
    }

    /// Ends the build with an error: its message is what `docker buildx build` prints; with a
    /// location, BuildKit's `errdefs.Source` detail makes the CLI print the lines of the file.
    pub async fn return_error(
        &mut self,
        code: tonic::Code,
        error: &UserError,
    ) -> Result<(), GatewayError> {
        let details = error
            .location
            .iter()
            // A file whose text could not be read shows no lines rather than empty ones.
            .filter(|location| !location.needs_text())
            .map(|location| bollard_buildkit_proto::google::protobuf::Any {
                type_url: "github.com/moby/buildkit/errdefs.Source+json".into(),
                value: source_detail(location),
            })
            .collect();
        let request = gw::ReturnRequest {
            result: None,
            error: Some(bollard_buildkit_proto::google::rpc::Status {
                code: code as i32,
                message: error.message.clone(),
                details,
            }),
        };
        self.client
            .r#return(request)
            .await
            .map(|_| ())
            .map_err(|s| status_error("return", s))
    }
}

impl Bridge {
    /// ReadFile of a whole file (`range` None) or of a range of it.
    async fn read(
        &self,
        reference: &str,
        path: &str,
        range: Option<gw::FileRange>,
    ) -> Result<Vec<u8>, GatewayError> {
        let request = gw::ReadFileRequest {
            r#ref: reference.to_string(),
            file_path: path.to_string(),
            range,
            mount_index: 0,
        };
        self.client
            .clone()
            .read_file(request)
            .await
            .map(|r| r.into_inner().data)
            .map_err(|s| status_error("read file", s))
    }
}

/// `errdefs.Source` as BuildKit reads it from JSON: the file and the line's range.
fn source_detail(location: &SourceLocation) -> Vec<u8> {
    use base64::Engine;
    let width = location
        .text
        .lines()
        .nth(location.line.saturating_sub(1))
        .map(|l| l.chars().count())
        .unwrap_or(0);
    let detail = serde_json::json!({
        "info": {
            "filename": location.file,
            "data": base64::engine::general_purpose::STANDARD.encode(location.text.as_bytes()),
            "language": location.language(),
        },
        "ranges": [{
            "start": { "line": location.line, "character": 0 },
            "end": { "line": location.line, "character": width },
        }],
    });
    serde_json::to_vec(&detail).expect("JSON serialises")
}

impl Gateway for Bridge {
    async fn solve(&self, definition: pb::Definition) -> Result<String, GatewayError> {
        if let Some(first) = definition.def.first() {
            if let Ok(mut digest) = self.warn_digest.lock() {
                if digest.is_empty() {
                    *digest = crate::buildkit::llb::sha256_digest(first);
                }
            }
        }
        let request = gw::SolveRequest {
            definition: Some(definition),
            allow_result_return: true,
            allow_result_array_ref: true,
            // Build now, so failures surface here and not in a later ReadFile.
            evaluate: true,
            cache_imports: self.cache_imports.clone(),
            ..Default::default()
        };
        let response = self
            .client
            .clone()
            .solve(request)
            .await
            .map_err(|s| status_error("solve", s))?
            .into_inner();
        match response.result.and_then(|r| r.result) {
            Some(gw::result::Result::Ref(reference)) => Ok(reference.id),
            Some(gw::result::Result::RefDeprecated(id)) => Ok(id),
            _ if !response.r#ref.is_empty() => Ok(response.r#ref),
            _ => Err(GatewayError {
                call: "solve",
                message: "BuildKit returned no single result".into(),
            }),
        }
    }

    async fn read_file(&self, reference: &str, path: &str) -> Result<Vec<u8>, GatewayError> {
        self.read(reference, path, None).await
    }

    async fn read_file_range(
        &self,
        reference: &str,
        path: &str,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>, GatewayError> {
        let out_of_range = || GatewayError {
            call: "read file",
            message: format!("{path}: range {offset}+{length} is out of range"),
        };
        let range = gw::FileRange {
            offset: i64::try_from(offset).map_err(|_| out_of_range())?,
            length: i64::try_from(length).map_err(|_| out_of_range())?,
        };
        self.read(reference, path, Some(range)).await
    }

    async fn read_dir(&self, reference: &str, path: &str) -> Result<Vec<Stat>, GatewayError> {
        let request = gw::ReadDirRequest {
            r#ref: reference.to_string(),
            dir_path: path.to_string(),
            include_pattern: String::new(),
            mount_index: 0,
        };
        self.client
            .clone()
            .read_dir(request)
            .await
            .map(|r| r.into_inner().entries)
            .map_err(|s| status_error("read directory", s))
    }

    async fn resolve_image_config(
        &self,
        reference: &str,
        platform: &pb::Platform,
        resolve_mode: Option<&str>,
    ) -> Result<(String, Vec<u8>), GatewayError> {
        let request = gw::ResolveImageConfigRequest {
            r#ref: reference.to_string(),
            platform: Some(platform.clone()),
            resolve_mode: resolve_mode.unwrap_or_default().to_string(),
            log_name: format!("resolve builder image {reference}"),
            ..Default::default()
        };
        self.client
            .clone()
            .resolve_image_config(request)
            .await
            .map(|r| {
                let r = r.into_inner();
                (r.digest, r.config)
            })
            .map_err(|s| status_error("resolve image", s))
    }

    async fn warn(&self, message: &str) {
        let request = gw::WarnRequest {
            digest: self
                .warn_digest
                .lock()
                .map(|d| d.clone())
                .unwrap_or_default(),
            level: 1,
            short: message.as_bytes().to_vec(),
            ..Default::default()
        };
        if let Err(status) = self.client.clone().warn(request).await {
            eprintln!(
                "nix-frontend: warning not delivered ({}): {message}",
                status.message()
            );
        }
    }
}
