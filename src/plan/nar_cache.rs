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
use crate::nix::drvgraph::Record;
use crate::nix::narinfo::{narinfo_name, NarFile};

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
            data: nar.narinfo(record, FILE_NAME).into_bytes(),
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
