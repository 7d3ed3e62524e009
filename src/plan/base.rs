//! `FROM IMAGE`: the base image under the closure. Its config (read from the registry, so
//! untrusted) is the lowest level of the image config: the Dockerfile, the package and what the
//! result implies all override it, and PATH keeps the base's directories after ours. Its layers
//! come first; a store path it already holds is not added again, and where it has a directory at
//! a top-level name the result also links (`/bin`, `/etc`, ...), the image gets one directory with
//! the base's entries and links to ours.

use std::collections::BTreeSet;

use serde_json::Value;

use bollard_buildkit_proto::pb;

use super::config::Effective;
use crate::builder::contract::{self, scripts};
use crate::buildkit::llb::{self, Meta, MountKind, Output};
use crate::buildkit::platform::Platform;
use crate::dockerui::spec::Spec;

/// What the image takes from its base.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BaseConfig {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
    pub env: Vec<(String, String)>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub labels: Vec<(String, String)>,
    pub exposed_ports: Vec<String>,
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
}

/// The base as the image stage uses it.
#[derive(Debug, Clone)]
pub struct Base {
    /// `FROM` as written, for step names.
    pub name: String,
    pub image: Output,
    /// Base names of the store paths under the base's `/nix/store`.
    pub store_paths: BTreeSet<String>,
    /// Top-level names that are directories in the base (`bin`, `etc`, ...).
    pub top_dirs: BTreeSet<String>,
    /// Top-level names that are symlinks in the base (`bin` → `usr/bin`, or into its store).
    pub top_links: BTreeSet<String>,
    /// Of the directories, the ones that are directories in the result too: the image gets the
    /// builder's links to each of the result's entries there (`contract::PROFILE`), checked,
    /// instead of one link that would hide the base's directory.
    pub merged_dirs: BTreeSet<String>,
    /// Of the symlinks, the ones that are directories in the result: `links_step` makes each a
    /// directory of links to the base's entries and ours.
    pub linked: Option<(Output, Vec<String>)>,
}

/// The step that makes a directory of links for each of `names`, top-level symlinks of the base
/// that the result has as directories too: to what the base's link leads, then the result's
/// links from `profile` (the manifest's `PROFILE`), which win a clash. It runs `links.sh` in the
/// builder image; the names are checked plain names and reach it as argv entries only.
pub fn links_step(
    spec: &Spec,
    builder_image: Output,
    base: &Output,
    profile: (Output, String),
    names: &[String],
) -> Output {
    let platform = spec.nix_platform.to_pb();
    let mut args = vec!["/bin/sh".to_string(), scripts::LINKS.path()];
    args.extend(names.iter().cloned());
    let mut exec = llb::Exec::new(args, Vec::new(), "/", "root");
    exec.output("/", Some(builder_image));
    exec.mount(
        super::SCRIPT_DIR,
        "",
        MountKind::ReadOnly(super::tools(&platform)),
    );
    exec.mount(contract::LINKS_BASE, "", MountKind::ReadOnly(base.clone()));
    let (manifest, profile_dir) = profile;
    exec.mount(
        contract::LINKS_OURS,
        &profile_dir,
        MountKind::ReadOnly(manifest),
    );
    exec.network = pb::NetMode::None;
    let out = exec.output(contract::OUT, None);
    let meta = Meta::named(super::platform_prefixed(
        spec,
        format!(
            "links in /{{{}}} of the base and the result",
            names.join(",")
        ),
    ));
    llb::exec(&exec, &platform, &meta).get(out)
}

/// Where `links_step`'s output holds the directories it made.
pub const LINKS_DIR: &str = contract::LINKS_DIR;

/// Longest string we take from a base's config; more is a broken or hostile registry.
const MAX_VALUE_BYTES: usize = 64 * 1024;
const MAX_ENTRIES: usize = 1000;

fn strings(value: &Value) -> Option<Vec<String>> {
    let list = value.as_array()?;
    Some(
        list.iter()
            .take(MAX_ENTRIES)
            .filter_map(|v| v.as_str())
            .filter(|s| s.len() <= MAX_VALUE_BYTES)
            .map(str::to_string)
            .collect(),
    )
}

fn string(value: &Value) -> Option<String> {
    value
        .as_str()
        .filter(|s| !s.is_empty() && s.len() <= MAX_VALUE_BYTES)
        .map(str::to_string)
}

fn keys(value: &Value) -> Vec<String> {
    value
        .as_object()
        .map(|set| set.keys().take(MAX_ENTRIES).cloned().collect())
        .unwrap_or_default()
}

impl BaseConfig {
    /// An OCI image config, as the registry returned it.
    pub fn parse(json: &[u8]) -> Result<BaseConfig, String> {
        let value: Value = serde_json::from_slice(json)
            .map_err(|err| format!("its image config is not JSON: {err}"))?;
        let section = &value["config"];
        Ok(BaseConfig {
            os: string(&value["os"]).unwrap_or_default(),
            architecture: string(&value["architecture"]).unwrap_or_default(),
            variant: string(&value["variant"]),
            env: strings(&section["Env"])
                .unwrap_or_default()
                .into_iter()
                .filter_map(|entry| {
                    let (k, v) = entry.split_once('=')?;
                    Some((k.to_string(), v.to_string()))
                })
                .collect(),
            entrypoint: strings(&section["Entrypoint"]).filter(|e| !e.is_empty()),
            cmd: strings(&section["Cmd"]).filter(|c| !c.is_empty()),
            user: string(&section["User"]),
            working_dir: string(&section["WorkingDir"]),
            labels: section["Labels"]
                .as_object()
                .map(|labels| {
                    labels
                        .iter()
                        .take(MAX_ENTRIES)
                        .filter_map(|(k, v)| Some((k.clone(), string(v)?)))
                        .collect()
                })
                .unwrap_or_default(),
            exposed_ports: keys(&section["ExposedPorts"]),
            volumes: keys(&section["Volumes"]),
            stop_signal: string(&section["StopSignal"]),
        })
    }

    /// A base for another OS or architecture than the build's is an error naming both.
    pub fn check_platform(&self, image: &str, platform: &Platform) -> Result<(), String> {
        let arch_matches = self.architecture == platform.architecture
            && (self.variant.is_none()
                || platform.variant.is_none()
                || self.variant == platform.variant);
        if self.os == platform.os && arch_matches {
            return Ok(());
        }
        let theirs = match &self.variant {
            Some(v) => format!("{}/{}/{v}", self.os, self.architecture),
            None => format!("{}/{}", self.os, self.architecture),
        };
        Err(format!(
            "FROM {image} is a {theirs} image, but this build is for {}; use a base for that \
             platform (or an index that has one)",
            platform
        ))
    }
}

/// The base's config under everything else: what `ours` leaves unset comes from the base, PATH
/// keeps the base's directories after ours, Env, labels, ports and volumes are merged under
/// ours. As in Docker, an ENTRYPOINT of ours drops the base's CMD.
pub fn inherit(ours: Effective, base: &BaseConfig) -> Effective {
    let mut e = ours;
    let mut env = base.env.clone();
    for (key, value) in &e.env {
        let value = if key == "PATH" {
            let base_path = base
                .env
                .iter()
                .find(|(k, _)| k == "PATH")
                .map(|(_, v)| v.as_str())
                .unwrap_or("");
            join_path(value, base_path)
        } else {
            value.clone()
        };
        match env.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value,
            None => env.push((key.clone(), value)),
        }
    }
    e.env = env;
    if e.entrypoint.is_none() {
        e.entrypoint = base.entrypoint.clone();
        if e.cmd.is_none() {
            e.cmd = base.cmd.clone();
        }
    }
    e.user = e.user.or_else(|| base.user.clone());
    e.working_dir = e.working_dir.or_else(|| base.working_dir.clone());
    e.stop_signal = e.stop_signal.or_else(|| base.stop_signal.clone());
    for (key, value) in &base.labels {
        e.labels.entry(key.clone()).or_insert_with(|| value.clone());
    }
    let mut ports = base.exposed_ports.clone();
    ports.extend(
        e.exposed_ports
            .iter()
            .filter(|p| !base.exposed_ports.contains(p))
            .cloned(),
    );
    e.exposed_ports = ports;
    let mut volumes = base.volumes.clone();
    volumes.extend(
        e.volumes
            .iter()
            .filter(|v| !base.volumes.contains(v))
            .cloned(),
    );
    e.volumes = volumes;
    e
}

/// `ours:base` without repeats and empty entries.
fn join_path(ours: &str, base: &str) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for dir in ours.split(':').chain(base.split(':')) {
        if !dir.is_empty() && !seen.contains(&dir) {
            seen.push(dir);
        }
    }
    seen.join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DISTROLESS: &str = r#"{"architecture":"amd64","os":"linux","config":{
        "Env":["PATH=/usr/local/bin:/usr/bin:/bin","SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt","TZ=UTC"],
        "User":"65532","WorkingDir":"/home/nonroot","Cmd":["/bin/sh"],
        "Labels":{"org.opencontainers.image.vendor":"base","org.opencontainers.image.title":"base"},
        "ExposedPorts":{"443/tcp":{}}}}"#;

    fn ours() -> Effective {
        Effective {
            env: vec![
                ("PATH".into(), "/bin".into()),
                ("GREETING".into(), "hi".into()),
                ("TZ".into(), "Europe/Paris".into()),
            ],
            entrypoint: Some(vec!["/nix/store/x-app/bin/app".into()]),
            labels: [(
                "org.opencontainers.image.title".to_string(),
                "app".to_string(),
            )]
            .into(),
            exposed_ports: vec!["8080/tcp".into()],
            ..Default::default()
        }
    }

    #[test]
    fn the_base_is_the_lowest_level() {
        let base = BaseConfig::parse(DISTROLESS.as_bytes()).unwrap();
        let e = inherit(ours(), &base);
        assert_eq!(
            e.env,
            [
                (
                    "PATH".to_string(),
                    "/bin:/usr/local/bin:/usr/bin".to_string()
                ),
                (
                    "SSL_CERT_FILE".to_string(),
                    "/etc/ssl/certs/ca-certificates.crt".to_string()
                ),
                ("TZ".to_string(), "Europe/Paris".to_string()),
                ("GREETING".to_string(), "hi".to_string()),
            ]
        );
        // Our entrypoint drops the base's CMD; USER and WORKDIR come from the base.
        assert_eq!(e.entrypoint.unwrap(), ["/nix/store/x-app/bin/app"]);
        assert_eq!(e.cmd, None);
        assert_eq!(e.user.as_deref(), Some("65532"));
        assert_eq!(e.working_dir.as_deref(), Some("/home/nonroot"));
        assert_eq!(e.labels["org.opencontainers.image.title"], "app");
        assert_eq!(e.labels["org.opencontainers.image.vendor"], "base");
        assert_eq!(e.exposed_ports, ["443/tcp", "8080/tcp"]);
        // Without an entrypoint of ours the base's command stays.
        let e = inherit(
            Effective {
                entrypoint: None,
                ..ours()
            },
            &base,
        );
        assert_eq!(e.cmd.unwrap(), ["/bin/sh"]);
    }

    #[test]
    fn a_base_of_another_platform_is_named() {
        let base =
            BaseConfig::parse(br#"{"architecture":"arm64","os":"linux","variant":"v8"}"#).unwrap();
        let amd64 = Platform::parse("linux/amd64").unwrap();
        let err = base.check_platform("example/base", &amd64).unwrap_err();
        assert!(
            err.contains(
                "FROM example/base is a linux/arm64/v8 image, but this build is for linux/amd64"
            ),
            "{err}"
        );
        let arm64 = Platform::parse("linux/arm64").unwrap();
        assert!(base.check_platform("example/base", &arm64).is_ok());
        let windows = BaseConfig::parse(br#"{"architecture":"amd64","os":"windows"}"#).unwrap();
        assert!(windows.check_platform("w", &amd64).is_err());
        assert!(BaseConfig::parse(b"not json").is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_a_registry_config(text in "(?s).{0,300}") {
            if let Ok(base) = BaseConfig::parse(text.as_bytes()) {
                let _ = inherit(ours(), &base);
            }
        }
    }
}
