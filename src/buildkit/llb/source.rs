//! Source ops: where a build's content comes from, an image from a registry or a local directory
//! the client sends.

use std::collections::BTreeMap;

use bollard_buildkit_proto::pb;

use super::{vertex, Meta, Output};

/// `docker-image://REF`; `reference` must be fully qualified (`docker.io/library/x:tag`).
pub fn image(
    reference: &str,
    resolve_mode: Option<&str>,
    platform: &pb::Platform,
    meta: &Meta,
) -> Output {
    let mut attrs = BTreeMap::new();
    if let Some(mode) = resolve_mode {
        attrs.insert("image.resolvemode".to_string(), mode.to_string());
    }
    let op = pb::op::Op::Source(pb::SourceOp {
        identifier: format!("docker-image://{reference}"),
        attrs,
    });
    Output {
        vertex: vertex(op, Vec::new(), Some(platform), meta),
        index: 0,
    }
}

/// A local directory sent by the client (`context`, `dockerfile`).
#[derive(Debug, Clone, Default)]
pub struct Local {
    pub name: String,
    pub session_id: String,
    pub shared_key_hint: String,
    pub include_patterns: Vec<String>,
    pub exclude_patterns: Vec<String>,
    pub follow_paths: Vec<String>,
}

pub fn local(source: &Local, meta: &Meta) -> Output {
    let mut attrs = BTreeMap::new();
    let json = |list: &Vec<String>| serde_json::to_string(list).expect("a list of strings");
    if !source.session_id.is_empty() {
        attrs.insert("local.session".to_string(), source.session_id.clone());
    }
    if !source.shared_key_hint.is_empty() {
        attrs.insert(
            "local.sharedkeyhint".to_string(),
            source.shared_key_hint.clone(),
        );
    }
    if !source.include_patterns.is_empty() {
        attrs.insert(
            "local.includepattern".to_string(),
            json(&source.include_patterns),
        );
    }
    if !source.exclude_patterns.is_empty() {
        attrs.insert(
            "local.excludepatterns".to_string(),
            json(&source.exclude_patterns),
        );
    }
    if !source.follow_paths.is_empty() {
        attrs.insert("local.followpaths".to_string(), json(&source.follow_paths));
    }
    let op = pb::op::Op::Source(pb::SourceOp {
        identifier: format!("local://{}", source.name),
        attrs,
    });
    Output {
        vertex: vertex(op, Vec::new(), None, meta),
        index: 0,
    }
}

/// A file BuildKit downloads over HTTP(S) (`https://…`), checked against `checksum`
/// (`sha256:<hex>`) and keyed by it and `file_name` alone: the same key from any URL, on every
/// engine, with no request while it is cached. The output holds the file at `/<file_name>`.
pub fn http_file(url: &str, checksum: &str, file_name: &str, meta: &Meta) -> Output {
    let attrs = BTreeMap::from([
        ("http.checksum".to_string(), checksum.to_string()),
        ("http.filename".to_string(), file_name.to_string()),
    ]);
    let op = pb::op::Op::Source(pb::SourceOp {
        identifier: url.to_string(),
        attrs,
    });
    Output {
        vertex: vertex(op, Vec::new(), None, meta),
        index: 0,
    }
}
