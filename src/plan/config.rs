//! The OCI image config (`containerimage.config`), merged from four levels, each over the last:
//! what the result implies (Entrypoint from the main package's `meta.mainProgram` or its only
//! program in `bin/`, `PATH=/bin`, OCI labels from its `pname`/`version`/`meta` with the licenses
//! of every package, `SSL_CERT_FILE` for a CA bundle, `TZDIR` for time zone data), the
//! derivation's `passthru.imageConfig`, the Dockerfile's instructions, and `--label`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::BuildResult;
use crate::dockerui::spec::Spec;
pub use crate::nix::facts::DerivationInfo;

/// `passthru.imageConfig`: the image settings a package can carry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PackageImageConfig {
    #[serde(default)]
    pub env: Option<EnvSpec>,
    #[serde(default)]
    pub exposed_ports: Option<PortsSpec>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    #[serde(default)]
    pub volumes: Option<PortsSpec>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub stop_signal: Option<String>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    /// More directories the image should have, beyond WORKDIR and VOLUME (our extension).
    #[serde(default)]
    pub directories: Vec<DeclaredDirectory>,
}

/// One of `passthru.imageConfig.Directories`: `{ path = "/var/lib/app"; mode = "0750"; owner =
/// "app"; }`; the mode defaults to 0755 and the owner to USER.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredDirectory {
    pub path: String,
    pub mode: Option<String>,
    pub owner: Option<String>,
}

/// `Env` as a list of `K=V` or an attribute set.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum EnvSpec {
    List(Vec<String>),
    Set(BTreeMap<String, String>),
}

/// `ExposedPorts`/`Volumes` as a list or as Docker's `{"80/tcp": {}}` set.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum PortsSpec {
    List(Vec<String>),
    Set(BTreeMap<String, Value>),
}

impl PortsSpec {
    fn keys(&self) -> Vec<String> {
        match self {
            PortsSpec::List(list) => list.clone(),
            PortsSpec::Set(set) => set.keys().cloned().collect(),
        }
    }
}

impl PackageImageConfig {
    pub fn parse(json: &str) -> Result<PackageImageConfig, String> {
        serde_json::from_str(json).map_err(|err| {
            format!(
                "passthru.imageConfig is not usable: {err}; it takes Env, ExposedPorts, User, \
                 WorkingDir, Volumes, Labels, StopSignal, Entrypoint, Cmd and Directories"
            )
        })
    }
}

/// The settings after merging every level, before they become JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effective {
    pub env: Vec<(String, String)>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    pub exposed_ports: Vec<String>,
    pub user: Option<String>,
    pub working_dir: Option<String>,
    pub volumes: Vec<String>,
    pub stop_signal: Option<String>,
    pub directories: Vec<DeclaredDirectory>,
}

fn set_env(env: &mut Vec<(String, String)>, key: &str, value: &str) {
    match env.iter_mut().find(|(k, _)| k == key) {
        Some(entry) => entry.1 = value.to_string(),
        None => env.push((key.to_string(), value.to_string())),
    }
}

fn push_unique(list: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for item in items {
        if !list.contains(&item) {
            list.push(item);
        }
    }
}

/// Labels a derivation implies, by the OCI annotation keys.
pub fn derivation_labels(info: &DerivationInfo) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut put = |key: &str, value: &Option<String>| {
        if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
            labels.insert(format!("org.opencontainers.image.{key}"), value.clone());
        }
    };
    put("title", &info.pname.clone().or_else(|| info.name.clone()));
    put("description", &info.description);
    put("version", &info.version);
    put("licenses", &info.license);
    put("url", &info.homepage);
    let forge = info.homepage.as_ref().filter(|h| {
        ["github.com/", "gitlab.com/", "codeberg.org/", "sr.ht/"]
            .iter()
            .any(|f| h.contains(f))
    });
    put("source", &forge.cloned());
    put("revision", &info.revision);
    labels
}

/// The licenses of every package of the image as one SPDX expression (each id once, joined
/// with AND, as facts.nix joins a package's own), when there are several packages.
fn combined_licenses(result: &BuildResult) -> Option<String> {
    if result.others.is_empty() {
        return None;
    }
    let mut ids: Vec<&str> = Vec::new();
    for license in result
        .roots()
        .filter_map(|root| root.info.license.as_deref())
    {
        for id in license
            .split(" AND ")
            .map(str::trim)
            .filter(|id| !id.is_empty())
        {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    (!ids.is_empty()).then(|| ids.join(" AND "))
}

pub fn effective(spec: &Spec, result: &BuildResult, package: &PackageImageConfig) -> Effective {
    let main = &result.main.path;
    let has_bin = result.root_links.iter().any(|l| l.name == "bin");
    let mut e = Effective::default();

    // 1. What the result implies.
    set_env(&mut e.env, "PATH", if has_bin { "/bin" } else { "/" });
    if let Some(bundle) = result.ca_bundle.as_ref() {
        set_env(&mut e.env, "SSL_CERT_FILE", bundle);
    }
    if let Some(zoneinfo) = result.tz_dir.as_ref() {
        set_env(&mut e.env, "TZDIR", zoneinfo);
    }
    e.entrypoint =
        super::default_program(result).map(|program| vec![format!("{main}/bin/{program}")]);
    e.labels = derivation_labels(&result.main.info);
    if let Some(licenses) = combined_licenses(result) {
        e.labels
            .insert("org.opencontainers.image.licenses".into(), licenses);
    }

    // 2. passthru.imageConfig.
    match &package.env {
        Some(EnvSpec::List(list)) => {
            for entry in list {
                let (k, v) = entry.split_once('=').unwrap_or((entry, ""));
                set_env(&mut e.env, k, v);
            }
        }
        Some(EnvSpec::Set(set)) => {
            for (k, v) in set {
                set_env(&mut e.env, k, v);
            }
        }
        None => {}
    }
    if let Some(ports) = &package.exposed_ports {
        push_unique(&mut e.exposed_ports, ports.keys());
    }
    if let Some(volumes) = &package.volumes {
        push_unique(&mut e.volumes, volumes.keys());
    }
    e.labels.extend(package.labels.clone());
    apply_command(&mut e, package.entrypoint.clone(), package.cmd.clone());
    e.user = package.user.clone().or(e.user);
    e.working_dir = package.working_dir.clone().or(e.working_dir);
    e.stop_signal = package.stop_signal.clone().or(e.stop_signal);
    e.directories = package.directories.clone();

    // 3. The Dockerfile (and --label, already merged into its labels).
    let settings = &spec.settings;
    for (k, v) in &settings.env {
        set_env(&mut e.env, k, v);
    }
    push_unique(&mut e.exposed_ports, settings.expose.clone());
    push_unique(&mut e.volumes, settings.volumes.clone());
    e.labels.extend(settings.labels.clone());
    apply_command(&mut e, settings.entrypoint.clone(), settings.cmd.clone());
    e.user = settings.user.clone().or(e.user);
    e.working_dir = settings.workdir.clone().or(e.working_dir);
    e.stop_signal = settings.stop_signal.clone().or(e.stop_signal);
    e
}

/// As in Docker: a new ENTRYPOINT drops the CMD of the level below.
fn apply_command(e: &mut Effective, entrypoint: Option<Vec<String>>, cmd: Option<Vec<String>>) {
    if let Some(entrypoint) = entrypoint {
        e.entrypoint = Some(entrypoint);
        e.cmd = None;
    }
    if let Some(cmd) = cmd {
        e.cmd = Some(cmd);
    }
}

/// The OCI image config with Docker's extensions (`Healthcheck`), as BuildKit's exporter takes
/// it in `containerimage.config`. Serialised through `serde_json::Value`, so keys come out sorted
/// and equal configs are equal bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageConfig {
    pub architecture: String,
    pub os: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    pub created: String,
    pub config: ContainerConfig,
    pub rootfs: RootFs,
}

/// The `config` section: how a container of the image runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    pub env: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub exposed_ports: BTreeMap<String, Empty>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Empty>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
}

/// `{}`: the value of each key of Docker's sets (`ExposedPorts`, `Volumes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Empty {}

/// Docker's `Healthcheck`; durations in nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    pub test: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<String>,
}

fn set_of(keys: &[String]) -> BTreeMap<String, Empty> {
    keys.iter().map(|k| (k.clone(), Empty {})).collect()
}

/// The image config of `spec`'s platform with the merged settings `e`.
pub fn image_config(spec: &Spec, e: &Effective) -> ImageConfig {
    ImageConfig {
        architecture: spec.platform.architecture.clone(),
        os: spec.platform.os.clone(),
        variant: spec.platform.variant.clone(),
        created: crate::timestamp::rfc3339(spec.source_date_epoch.unwrap_or(1)),
        config: ContainerConfig {
            env: e.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
            entrypoint: e.entrypoint.clone(),
            cmd: e.cmd.clone(),
            labels: e.labels.clone(),
            exposed_ports: set_of(&e.exposed_ports),
            volumes: set_of(&e.volumes),
            user: e.user.clone(),
            working_dir: e.working_dir.clone(),
            stop_signal: e.stop_signal.clone(),
            healthcheck: spec
                .settings
                .healthcheck
                .as_ref()
                .map(|check| HealthConfig {
                    test: check.test.clone(),
                    interval: check.interval,
                    timeout: check.timeout,
                    start_period: check.start_period,
                    start_interval: check.start_interval,
                    retries: check.retries,
                }),
        },
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids: Vec::new(),
        },
    }
}

/// `image_config` as JSON (keys sorted).
pub fn to_json(spec: &Spec, e: &Effective) -> Value {
    serde_json::to_value(image_config(spec, e)).expect("an image config serialises")
}

/// A non-root USER gets these accounts; `None` for root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accounts {
    pub passwd: String,
    pub group: String,
}

/// USER `name`, `uid`, `name:group` or `uid:gid` as names and numbers. Names without a number
/// get 1000; a group given by name gets the user's number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserIds {
    pub user_name: String,
    pub uid: u32,
    pub group_name: String,
    pub gid: u32,
}

impl UserIds {
    pub const ROOT: UserIds = UserIds {
        user_name: String::new(),
        uid: 0,
        group_name: String::new(),
        gid: 0,
    };

    pub fn of(user: &str) -> UserIds {
        let (user_part, group_part) = match user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (user, None),
        };
        let (user_name, uid) = match user_part {
            "root" => ("root".to_string(), 0),
            _ => match user_part.parse::<u32>() {
                Ok(0) => ("root".to_string(), 0),
                Ok(uid) => (format!("user{uid}"), uid),
                Err(_) => (user_part.to_string(), 1000),
            },
        };
        let (group_name, gid) = match group_part {
            None => (user_name.clone(), uid),
            Some(g) => match g.parse::<u32>() {
                Ok(gid) => (format!("group{gid}"), gid),
                Err(_) => (g.to_string(), uid),
            },
        };
        UserIds {
            user_name,
            uid,
            group_name,
            gid,
        }
    }

    pub fn is_root(&self) -> bool {
        self.uid == 0
    }
}

/// Minimal /etc/passwd and /etc/group for USER `user` (see `UserIds`), so that programs that
/// look themselves up find an entry; `home` is its home directory.
pub fn accounts(user: &str, home: &str) -> Option<Accounts> {
    let ids = UserIds::of(user);
    if ids.is_root() {
        return None;
    }
    let UserIds {
        user_name,
        uid,
        group_name,
        gid,
    } = ids;
    let passwd = format!(
        "root:x:0:0:root:/root:/sbin/nologin\n{user_name}:x:{uid}:{gid}::{home}:/sbin/nologin\nnobody:x:65534:65534:nobody:/:/sbin/nologin\n"
    );
    let mut group = "root:x:0:\n".to_string();
    if gid != 0 {
        group.push_str(&format!("{group_name}:x:{gid}:\n"));
    }
    group.push_str("nogroup:x:65534:\n");
    Some(Accounts { passwd, group })
}

/// A directory the image gets in its last layer, with its owner and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MadeDirectory {
    pub path: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The directories USER must own or a package declares, as Docker makes them: WORKDIR and each
/// VOLUME owned by USER (mode 0755), then `Directories`, which win on the same path. Ones inside
/// the Nix store are not made (the store is the closure's, read-only); a declared one there, a
/// relative or unclean path, a bad mode or an owner that is neither USER nor numeric is an error
/// naming it. Sorted by path, so a parent comes before what it holds.
pub fn made_directories(e: &Effective) -> Result<Vec<MadeDirectory>, String> {
    let user = e.user.as_deref().map(UserIds::of).unwrap_or(UserIds::ROOT);
    let mut made: BTreeMap<String, MadeDirectory> = BTreeMap::new();
    let usable =
        |path: &str| path.starts_with('/') && path != "/" && path != "/nix" && !in_nix_store(path);
    let workdir = e.working_dir.iter();
    for path in workdir.chain(e.volumes.iter()) {
        let path = path.trim_end_matches('/');
        if usable(path) && clean_absolute(path) {
            made.insert(
                path.to_string(),
                MadeDirectory {
                    path: path.to_string(),
                    mode: 0o755,
                    uid: user.uid,
                    gid: user.gid,
                },
            );
        }
    }
    for declared in &e.directories {
        let path = declared.path.trim_end_matches('/');
        let named = |what: &str| {
            format!(
                "passthru.imageConfig.Directories: {:?} {what}",
                declared.path
            )
        };
        if !clean_absolute(path) || path == "/" {
            return Err(named(
                "is not a clean absolute path below / (like /var/lib/app)",
            ));
        }
        if path == "/nix" || in_nix_store(path) {
            return Err(named(
                "is inside /nix: the store holds the closure only, read-only",
            ));
        }
        let mode = match declared.mode.as_deref() {
            None => 0o755,
            Some(text) => u32::from_str_radix(text, 8)
                .ok()
                .filter(|m| *m <= 0o777 && !text.is_empty() && text.len() <= 4)
                .ok_or_else(|| {
                    named(&format!(
                        "has mode {text:?}: give octal permission bits as a string, \"0750\" (at most \"0777\")"
                    ))
                })?,
        };
        let (uid, gid) = match declared.owner.as_deref() {
            None => (user.uid, user.gid),
            Some(owner) => owner_ids(owner, &user, e.user.as_deref()).ok_or_else(|| {
                named(&format!(
                    "has owner {owner:?}, which is neither USER ({}) nor a numeric uid[:gid]: the image has no other accounts",
                    e.user.as_deref().unwrap_or("root")
                ))
            })?,
        };
        made.insert(
            path.to_string(),
            MadeDirectory {
                path: path.to_string(),
                mode,
                uid,
                gid,
            },
        );
    }
    Ok(made.into_values().collect())
}

fn in_nix_store(path: &str) -> bool {
    path == "/nix/store" || path.starts_with("/nix/store/")
}

/// `/a/b`: absolute, without empty, `.` or `..` components.
fn clean_absolute(path: &str) -> bool {
    path == "/"
        || (path.starts_with('/')
            && path[1..]
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".."))
}

/// The ids of a declared owner: `root`, numbers, or USER's own name (with its group).
fn owner_ids(owner: &str, user: &UserIds, user_setting: Option<&str>) -> Option<(u32, u32)> {
    let (name, group) = match owner.split_once(':') {
        Some((n, g)) => (n, Some(g)),
        None => (owner, None),
    };
    let uid = match name {
        "" => return None,
        "root" => 0,
        _ if name == user.user_name || Some(name) == user_setting => user.uid,
        _ => name.parse::<u32>().ok()?,
    };
    let gid = match group {
        None if uid == user.uid => user.gid,
        None => uid,
        Some("root") => 0,
        Some(g) if g == user.group_name => user.gid,
        Some(g) => g.parse::<u32>().ok()?,
    };
    Some((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_for_names_and_numbers() {
        assert_eq!(accounts("root", "/"), None);
        assert_eq!(accounts("0:0", "/"), None);
        let a = accounts("app", "/data").unwrap();
        assert!(a.passwd.contains("app:x:1000:1000::/data:/sbin/nologin"));
        assert!(a.group.contains("app:x:1000:"));
        let b = accounts("1234:99", "/").unwrap();
        assert!(b.passwd.contains("user1234:x:1234:99::/:"));
        assert!(b.group.contains("group99:x:99:"));
    }

    fn with_dirs(user: Option<&str>, workdir: Option<&str>, dirs: &str) -> Effective {
        let package = PackageImageConfig::parse(&format!(r#"{{"Directories":{dirs}}}"#)).unwrap();
        Effective {
            user: user.map(String::from),
            working_dir: workdir.map(String::from),
            volumes: vec!["/data/cache/".into(), "/nix/store/x-vol".into()],
            directories: package.directories,
            ..Default::default()
        }
    }

    fn made(path: &str, mode: u32, uid: u32, gid: u32) -> MadeDirectory {
        MadeDirectory {
            path: path.into(),
            mode,
            uid,
            gid,
        }
    }

    #[test]
    fn user_owns_workdir_volumes_and_declared_directories() {
        let e = with_dirs(
            Some("app:99"),
            Some("/data"),
            r#"[{"path":"/var/lib/app","mode":"0750"},{"path":"/var/log/app","owner":"root"},
                {"path":"/srv","owner":"2000:3000"},{"path":"/data","owner":"app","mode":"700"}]"#,
        );
        assert_eq!(
            made_directories(&e).unwrap(),
            [
                made("/data", 0o700, 1000, 99),
                made("/data/cache", 0o755, 1000, 99),
                made("/srv", 0o755, 2000, 3000),
                made("/var/lib/app", 0o750, 1000, 99),
                made("/var/log/app", 0o755, 0, 0),
            ]
        );
        // Root and numeric users.
        let root = with_dirs(None, Some("/work"), "[]");
        assert_eq!(
            made_directories(&root).unwrap(),
            [made("/data/cache", 0o755, 0, 0), made("/work", 0o755, 0, 0)]
        );
        let numeric = with_dirs(Some("1234"), None, r#"[{"path":"/x","owner":"1234"}]"#);
        assert_eq!(
            made_directories(&numeric).unwrap(),
            [
                made("/data/cache", 0o755, 1234, 1234),
                made("/x", 0o755, 1234, 1234)
            ]
        );
    }

    #[test]
    fn bad_declared_directories_are_named() {
        for (dirs, expected) in [
            (
                r#"[{"path":"/nix/store/abc-x"}]"#,
                "\"/nix/store/abc-x\" is inside /nix",
            ),
            (
                r#"[{"path":"var/lib"}]"#,
                "\"var/lib\" is not a clean absolute path",
            ),
            (
                r#"[{"path":"/a/../etc"}]"#,
                "\"/a/../etc\" is not a clean absolute path",
            ),
            (r#"[{"path":"/"}]"#, "\"/\" is not a clean absolute path"),
            (r#"[{"path":"/a","mode":"1777"}]"#, "has mode \"1777\""),
            (r#"[{"path":"/a","mode":"rwx"}]"#, "has mode \"rwx\""),
            (
                r#"[{"path":"/a","owner":"postgres"}]"#,
                "has owner \"postgres\", which is neither USER (app) nor a numeric uid[:gid]",
            ),
        ] {
            let err = made_directories(&with_dirs(Some("app"), None, dirs)).unwrap_err();
            assert!(err.contains(expected), "{dirs}: {err}");
            assert!(
                err.starts_with("passthru.imageConfig.Directories: "),
                "{err}"
            );
        }
    }

    #[test]
    fn package_image_config_in_both_shapes() {
        let a = PackageImageConfig::parse(
            r#"{"Env":{"A":"1"},"ExposedPorts":{"80/tcp":{}},"User":"app"}"#,
        )
        .unwrap();
        assert_eq!(a.exposed_ports.unwrap().keys(), ["80/tcp"]);
        let b = PackageImageConfig::parse(
            r#"{"Env":["A=1"],"ExposedPorts":["80/tcp"],"Volumes":["/data"]}"#,
        )
        .unwrap();
        assert_eq!(b.volumes.unwrap().keys(), ["/data"]);
        let err = PackageImageConfig::parse(r#"{"Cmdd":["x"]}"#).unwrap_err();
        assert!(err.contains("unknown field"), "{err}");
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_image_config_json(text in "(?s).{0,200}") {
            let _ = PackageImageConfig::parse(&text);
        }

        #[test]
        fn never_panics_on_image_config_shapes(
            key in "(Env|ExposedPorts|User|WorkingDir|Volumes|Labels|StopSignal|Cmd|X)",
            value in "(\\[\\]|\\{\\}|\"[a-z=/]{0,8}\"|1|null|\\[\"a=b\"\\]|\\{\"a\":\\{\\}\\})",
        ) {
            let _ = PackageImageConfig::parse(&format!("{{\"{key}\":{value}}}"));
        }

        #[test]
        fn never_panics_on_derivation_info(text in "(?s).{0,200}") {
            let _ = serde_json::from_str::<DerivationInfo>(&text);
        }

        #[test]
        fn never_panics_on_accounts(user in "[a-z0-9:]{0,12}") {
            let _ = accounts(&user, "/");
        }

        #[test]
        fn made_directories_never_panic_and_stay_out_of_the_store(
            user in "[a-z0-9:]{0,8}",
            path in "[/a-z.]{0,12}",
            mode in "[0-9a-z]{0,5}",
            owner in "[a-z0-9:]{0,8}",
        ) {
            let e = Effective {
                user: Some(user),
                working_dir: Some(path.clone()),
                volumes: vec![path.clone()],
                directories: vec![DeclaredDirectory { path, mode: Some(mode), owner: Some(owner) }],
                ..Default::default()
            };
            if let Ok(dirs) = made_directories(&e) {
                for dir in dirs {
                    proptest::prop_assert!(dir.path.starts_with('/') && dir.path != "/");
                    proptest::prop_assert!(!dir.path.starts_with("/nix/store"));
                    proptest::prop_assert!(dir.mode <= 0o777);
                }
            }
        }
    }

    #[test]
    fn labels_from_meta() {
        let info = DerivationInfo {
            pname: Some("hello".into()),
            version: Some("2.12".into()),
            description: Some("A program that greets".into()),
            homepage: Some("https://github.com/example/hello".into()),
            license: Some("GPL-3.0-or-later".into()),
            ..Default::default()
        };
        let labels = derivation_labels(&info);
        assert_eq!(labels["org.opencontainers.image.title"], "hello");
        assert_eq!(
            labels["org.opencontainers.image.licenses"],
            "GPL-3.0-or-later"
        );
        assert_eq!(
            labels["org.opencontainers.image.source"],
            "https://github.com/example/hello"
        );
        assert_eq!(labels.len(), 6);
    }
}
