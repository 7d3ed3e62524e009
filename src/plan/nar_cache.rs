//! A substitute step's paths downloaded by BuildKit (`crate::nix::narinfo`): one HTTP source per
//! file, keyed by the file's SHA-256, and a local binary cache of their narinfos that Nix
//! substitutes from, offline, checking signatures and NAR hashes as it does over HTTP.
//!
//! A path that joins or leaves the set to fetch changes which files a piece mounts, so the
//! piece runs again and unpacks its files; only a file not downloaded before is downloaded.

use std::collections::BTreeMap;

use bollard_buildkit_proto::pb;

use crate::builder::contract::NAR_CACHE_DIR;
use crate::buildkit::llb::{self, Meta, Output};
use crate::nix::closure::StorePath;
use crate::nix::drvgraph::Record;
use crate::nix::narinfo::NarFile;

/// The name of each downloaded file (the key is its checksum and this name).
const FILE_NAME: &str = "file";

/// What a substitute step needs to substitute from downloaded files: the local cache's
/// narinfos (a layer of the step's root) and each file's download with where it is mounted.
pub struct NarCache {
    pub narinfos: Output,
    pub downloads: Vec<(String, Output)>,
}

/// The local cache for `files` (each path's record and file).
pub fn nar_cache(files: &[(&Record, &NarFile)], platform: &pb::Platform, step: &str) -> NarCache {
    let mut steps = vec![
        llb::MakeFile::Dir {
            path: NAR_CACHE_DIR.into(),
            mode: 0o755,
        },
        llb::MakeFile::File {
            path: format!("{NAR_CACHE_DIR}/nix-cache-info"),
            mode: 0o444,
            data: b"StoreDir: /nix/store\n".to_vec(),
        },
    ];
    // By the file's place: two paths with the same file share one download.
    let mut downloads: BTreeMap<String, Output> = BTreeMap::new();
    for (record, nar) in files {
        steps.push(llb::MakeFile::File {
            path: format!("{NAR_CACHE_DIR}/{}", narinfo_name(&record.path)),
            mode: 0o444,
            data: narinfo(record, nar, FILE_NAME).into_bytes(),
        });
        downloads
            .entry(format!("{NAR_CACHE_DIR}/{}", nar.cache_relative_dir()))
            .or_insert_with(|| {
                llb::http_file(
                    &nar.url,
                    &nar.checksum(),
                    FILE_NAME,
                    &Meta::named(format!("download {}", record.path.name())),
                )
            });
    }
    NarCache {
        narinfos: llb::make_files(
            &steps,
            platform,
            &Meta::named(format!("narinfos for {step}")),
        ),
        downloads: downloads.into_iter().collect(),
    }
}

/// The narinfo of `record`'s path with its file at `<cache_relative_dir>/<file_name>`. Every
/// field comes from a validated value; the signatures are the cache's own, so Nix checks them
/// against its trusted keys.
fn narinfo(record: &Record, nar: &NarFile, file_name: &str) -> String {
    let references: Vec<&str> = record.references.iter().map(|r| r.base_name()).collect();
    let mut text = format!(
        "StorePath: {}\nURL: {}/{file_name}\nCompression: {}\nNarHash: {}\nNarSize: {}\nReferences: {}\n",
        record.path,
        nar.cache_relative_dir(),
        nar.compression,
        record.nar_hash,
        record.nar_size,
        references.join(" "),
    );
    for signature in &nar.signatures {
        text.push_str(&format!("Sig: {signature}\n"));
    }
    if let Some(ca) = &nar.content_address {
        text.push_str(&format!("CA: {ca}\n"));
    }
    text
}

/// The narinfo file name of `path` in a binary cache: `<hash part>.narinfo`.
fn narinfo_name(path: &StorePath) -> String {
    let hash = path.base_name().split('-').next().unwrap_or_default();
    format!("{hash}.narinfo")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_narinfo_carries_the_caches_signature_and_points_at_the_download() {
        let path = StorePath::parse("/nix/store/ccanbp0brs758hic2z1krdbv17y2rf98-x").unwrap();
        let dep = StorePath::parse("/nix/store/aaaabp0brs758hic2z1krdbv17y2rf98-dep").unwrap();
        let record = Record {
            path: path.clone(),
            nar_hash: "sha256:00".into(),
            nar_size: 120,
            deriver: None,
            references: vec![dep],
        };
        let nar = NarFile {
            url: "https://cache.example.org/nar/09kx.nar.xz".into(),
            file_sha256: [0xcd; 32],
            file_size: Some(124),
            compression: "xz".into(),
            signatures: vec!["k-1:c2ln".into()],
            content_address: None,
        };
        let hex = "cd".repeat(32);
        assert_eq!(
            narinfo(&record, &nar, "file"),
            format!(
                "StorePath: {path}\nURL: nar/{hex}/file\nCompression: xz\nNarHash: sha256:00\n\
                 NarSize: 120\nReferences: aaaabp0brs758hic2z1krdbv17y2rf98-dep\nSig: k-1:c2ln\n"
            )
        );
        assert_eq!(
            narinfo_name(&path),
            "ccanbp0brs758hic2z1krdbv17y2rf98.narinfo"
        );
    }
}
