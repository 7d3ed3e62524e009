//! A binary cache's NAR files, downloaded by BuildKit rather than by Nix: what
//! `nix path-info --json --store <cache>` says of a path to fetch (its file's URL, SHA-256 and
//! compression, its signatures), validated as untrusted, and the `.narinfo` that lets a
//! substitute step's Nix take the downloaded file from a local cache (`file://`), checking the
//! signatures and the NAR hash as it does over HTTP.
//!
//! Which caches take this way: plain `http://` and `https://` caches. BuildKit fetches each file
//! once, keyed by its SHA-256 (the same key on every engine and from every mirror), in parallel
//! and with no container. Caches Nix alone can reach (`s3://`, `ssh://`, a `file://` path in
//! the builder, any cache when a netrc is given: BuildKit cannot send its credentials) and paths
//! with neither a signature nor a content address are substituted by Nix in the step itself.

use super::closure::{hex, parse_nar_hash};

/// Nix's default substituter, which the official image uses.
pub const NIX_DEFAULT_CACHE: &str = "https://cache.nixos.org";

/// The most signatures kept for one path (cache.nixos.org gives one).
const MAX_SIGNATURES: usize = 16;

/// One path's file in an HTTP binary cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NarFile {
    /// Where BuildKit downloads it: the cache's URL and the narinfo's relative `URL`.
    pub url: String,
    /// The SHA-256 of the file as served (compressed): BuildKit's checksum and cache key.
    pub file_sha256: [u8; 32],
    /// Its size as served, when the cache says.
    pub file_size: Option<u64>,
    /// `xz`, `zstd`, `bzip2`, `none`...: how Nix unpacks it.
    pub compression: String,
    /// `key-name:base64` signatures, which Nix checks against its trusted keys.
    pub signatures: Vec<String>,
    /// A content address (`fixed:r:sha256:…`, `text:sha256:…`), which Nix checks instead.
    pub content_address: Option<String>,
}

impl NarFile {
    /// The file of a path as cache `cache` (a substituter URL) describes it in one entry of
    /// `nix path-info --json`. None when the cache is not a plain HTTP(S) cache or the entry
    /// lacks a field or holds one of another shape: Nix then substitutes the path itself.
    pub fn from_path_info(cache: &str, info: &serde_json::Value) -> Option<NarFile> {
        let base = http_cache_base(cache)?;
        let field = |name: &str| info.get(name).and_then(|v| v.as_str());
        let relative = field("url").filter(|u| is_relative_file_url(u))?;
        let file_sha256 = field("downloadHash").and_then(parse_nar_hash)?;
        let compression = field("compression")
            .filter(|c| {
                !c.is_empty()
                    && c.len() <= 16
                    && c.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            })?
            .to_string();
        let listed = info.get("signatures").and_then(|s| s.as_array())?;
        if listed.len() > MAX_SIGNATURES {
            return None;
        }
        let signatures = listed
            .iter()
            .map(|s| s.as_str().filter(|s| is_signature(s)).map(str::to_string))
            .collect::<Option<Vec<String>>>()?;
        let content_address = match info.get("ca") {
            None | Some(serde_json::Value::Null) => None,
            Some(value) => Some(
                value
                    .as_str()
                    .filter(|ca| is_content_address(ca))?
                    .to_string(),
            ),
        };
        if signatures.is_empty() && content_address.is_none() {
            return None;
        }
        Some(NarFile {
            url: format!("{base}/{relative}"),
            file_sha256,
            file_size: info.get("downloadSize").and_then(|v| v.as_u64()),
            compression,
            signatures,
            content_address,
        })
    }

    /// BuildKit's `http.checksum`: `sha256:<hex>`.
    pub fn checksum(&self) -> String {
        format!("sha256:{}", hex(&self.file_sha256))
    }

    /// Where the downloaded file sits in the step's local cache, as the narinfo's `URL`: by its hash,
    /// so two paths never share a place.
    pub fn cache_relative_dir(&self) -> String {
        format!("nar/{}", hex(&self.file_sha256))
    }
}

/// The base URL of a plain HTTP(S) cache (its `?priority=…` parameters dropped, no trailing
/// slash), or None for any other kind of substituter, or one with credentials in its URL.
pub fn http_cache_base(substituter: &str) -> Option<String> {
    let without_query = substituter.split(['?', '#']).next().unwrap_or_default();
    let rest = without_query
        .strip_prefix("https://")
        .or_else(|| without_query.strip_prefix("http://"))?;
    let host = rest.split('/').next().unwrap_or_default();
    let plain = |c: char| c.is_ascii_alphanumeric() || "-._~/:%[]".contains(c);
    if host.is_empty() || host.contains('@') || !without_query.chars().all(plain) {
        return None;
    }
    Some(without_query.trim_end_matches('/').to_string())
}

fn is_relative_file_url(url: &str) -> bool {
    !url.is_empty()
        && url.len() <= 512
        && !url.starts_with('/')
        && url
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..")
        && url
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._+/".contains(&b))
}

fn is_signature(text: &str) -> bool {
    let Some((key, value)) = text.split_once(':') else {
        return false;
    };
    !key.is_empty()
        && !value.is_empty()
        && text.len() <= 512
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
}

fn is_content_address(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 256
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":-_+/=".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(url: &str, sigs: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "url": url,
            "compression": "xz",
            "downloadHash": "sha256-zXBBtlUs4SBjNLuNm7a1RCcQh7xD6BrPpN6KhkzzfSY=",
            "downloadSize": 124,
            "narHash": "sha256-EFUdrtf6Rn0LWIJufrmg8q99aT3jGfLvd1//zaJEufY=",
            "narSize": 120,
            "references": [],
            "signatures": sigs,
            "ca": null,
        })
    }

    #[test]
    fn an_http_cache_gives_a_file_and_its_checksum() {
        let nar = NarFile::from_path_info(
            "https://cache.example.org/?priority=40",
            &info("nar/09kx.nar.xz", serde_json::json!(["k-1:c2ln"])),
        )
        .unwrap();
        assert_eq!(nar.url, "https://cache.example.org/nar/09kx.nar.xz");
        assert_eq!(nar.file_size, Some(124));
        assert_eq!(
            nar.checksum(),
            "sha256:cd7041b6552ce1206334bb8d9bb6b544271087bc43e81acfa4de8a864cf37d26"
        );
    }

    #[test]
    fn other_caches_and_odd_entries_leave_the_path_to_nix() {
        let signed = serde_json::json!(["k-1:c2ln"]);
        for cache in [
            "s3://bucket",
            "ssh://host",
            "file:///cache",
            "https://user:pw@cache.example.org",
            "https://cache.example.org/a b",
            "https://",
        ] {
            assert_eq!(
                NarFile::from_path_info(cache, &info("nar/a.nar", signed.clone())),
                None,
                "{cache}"
            );
        }
        for url in [
            "/etc/passwd",
            "nar/../x",
            "nar/a b",
            "",
            "nar//a",
            "nar/a\nSig: x",
        ] {
            assert_eq!(
                NarFile::from_path_info("http://c", &info(url, signed.clone())),
                None,
                "{url:?}"
            );
        }
        // Unsigned and not content-addressed: only Nix's own rules (trusted caches) may take it.
        assert_eq!(
            NarFile::from_path_info("http://c", &info("nar/a", serde_json::json!([]))),
            None
        );
        // A signature that would add a line to the narinfo.
        assert_eq!(
            NarFile::from_path_info(
                "http://c",
                &info("nar/a", serde_json::json!(["k:a\nCA: x"]))
            ),
            None
        );
        let mut no_hash = info("nar/a", signed.clone());
        no_hash["downloadHash"] = serde_json::json!("md5-abc");
        assert_eq!(NarFile::from_path_info("http://c", &no_hash), None);
        let mut content_addressed = info("nar/a", serde_json::json!([]));
        content_addressed["ca"] = serde_json::json!(
            "fixed:r:sha256:1xmr8jicvzszfzpz46g37mlpvbzjl2wpwvl2b05psipssyp1sm8h"
        );
        let nar = NarFile::from_path_info("http://c/", &content_addressed).unwrap();
        assert_eq!(nar.url, "http://c/nar/a");
    }
}
