//! Files the image's settings come from, where nixpkgs puts them: a CA bundle
//! (`SSL_CERT_FILE`) and a time zone database (`TZDIR`), looked up in the packages' own trees.

use crate::buildkit::gateway::{Gateway, MODE_DIR, MODE_SYMLINK};
use crate::nix::closure::{self, StorePath};

/// `SSL_CERT_FILE`: the CA bundle of the first package that has one at nixpkgs' place
/// (`etc/ssl/certs/ca-bundle.crt`), else of nixpkgs' cacert (`nss-cacert`) anywhere in the
/// closure. `locate` says which ref holds a path (at its own path).
pub async fn find_ca_bundle<G: Gateway>(
    gateway: &G,
    closure: &closure::Closure,
    roots: &[StorePath],
    locate: impl Fn(&StorePath) -> String,
) -> Option<String> {
    const BUNDLE: &str = "etc/ssl/certs/ca-bundle.crt";
    let cacerts = cacert_paths(closure);
    for path in roots.iter().chain(cacerts) {
        if let Ok(entries) = gateway
            .read_dir(&locate(path), &format!("{path}/etc/ssl/certs"))
            .await
        {
            if entries.iter().any(|e| e.path == "ca-bundle.crt") {
                return Some(format!("{path}/{BUNDLE}"));
            }
        }
    }
    None
}

/// `TZDIR`: the time zone database of the first package that has one at nixpkgs' place
/// (tzdata's `share/zoneinfo`, a directory or a link to one).
pub async fn find_tz_dir<G: Gateway>(
    gateway: &G,
    roots: &[StorePath],
    locate: impl Fn(&StorePath) -> String,
) -> Option<String> {
    for path in roots {
        if let Ok(entries) = gateway
            .read_dir(&locate(path), &format!("{path}/share"))
            .await
        {
            let zoneinfo = entries.iter().any(|e| {
                e.path == "zoneinfo" && (e.mode & MODE_DIR != 0 || e.mode & MODE_SYMLINK != 0)
            });
            if zoneinfo {
                return Some(format!("{path}/share/zoneinfo"));
            }
        }
    }
    None
}

/// nixpkgs' cacert packages (`nss-cacert`) in the closure, where `find_ca_bundle` looks after
/// the roots.
pub fn cacert_paths(closure: &closure::Closure) -> impl Iterator<Item = &StorePath> {
    closure
        .paths
        .keys()
        .filter(|p| p.name().starts_with("nss-cacert"))
}
