//! Inputs pinned by their hash, read before evaluating, so that each is fetched by a step of its
//! own keyed by that hash (cached and exported like any step, the same on every engine) and the
//! evaluation finds it in its store instead of downloading it again.
//!
//! Read here, all untrusted text from the build context or the build args:
//! - literal `builtins.fetchTarball { url = "…"; sha256 = "…"; }` (and `fetchTarball`, with an
//!   optional literal `name`) and `builtins.fetchurl { url = "…"; sha256 = "…"; }` calls in the
//!   Nix file, parsed by `rnix`; the same calls without a hash are reported as fetched on every
//!   evaluation;
//! - literal `builtins.fetchGit { url = "…"; rev = "<commit>"; }` calls (and `fetchGit`, with an
//!   optional literal `ref`, `name`, and `submodules`, `shallow`, `allRefs` as `true` or `false`);
//!   without a `rev` they are reported as fetched on every evaluation. Nix looks a commit up in
//!   its own git cache, not in the store, so the pin step hands the evaluation that cache's
//!   repository (pin.sh, eval.sh);
//! - a flake's `flake.lock`: every locked input with a `narHash` (but `path` inputs, which are
//!   the context's own), fetched by `builtins.fetchTree` with the locked attributes;
//! - niv's `nix/sources.json` (tarballs, named `<name>-src` as niv's sources.nix names them, and
//!   git sources) and npins' `npins/sources.json` (pins with a URL and a hash, as npins'
//!   default.nix fetches them, and git pins it fetches with `fetchGit`);
//! - the build args `NIXPKGS` (an http(s) tarball) and `NIXPKGS_SHA256` (`Pins::add_nixpkgs`).
//!
//! Nix itself checks every fetched input against its hash: a pin that is wrong, or names a store
//! path the evaluation does not ask for, only costs its step; the evaluation then fetches as it
//! would have.

use std::collections::BTreeSet;

use rnix::ast::{self, HasEntry};
use rnix::{SyntaxKind, SyntaxNode};
use serde_json::{Map, Value};

/// The most pins read from one build (each is a container start).
pub const MAX_PINS: usize = 32;
/// The most bytes of a URL, hash, name or attribute taken.
const MAX_FIELD: usize = 4096;

/// One input to fetch before evaluating: what `pin.sh` hands to Nix as JSON, and where it was
/// read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    /// `{"kind": "tarball" | "file" | "tree", …}`: the arguments of `builtins.fetchTarball`,
    /// `builtins.fetchurl` or `builtins.fetchTree`, with `kind`.
    pub json: String,
    /// Where it was read: `default.nix:3`, `flake.lock (nixpkgs)`, `nix/sources.json (nixpkgs)`.
    pub origin: String,
    /// What to call its step: the URL, or the flake input's type and name.
    pub label: String,
}

/// A fetch the evaluation makes every time: no hash to key a step by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unpinned {
    /// `default.nix:7`, `build arg NIXPKGS`.
    pub origin: String,
    pub url: String,
    pub pin_with: PinWith,
}

/// Where the pin goes that the input lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinWith {
    /// `sha256 = "…"` in a `fetchTarball` or `fetchurl` call.
    HashInCall,
    /// `--build-arg NIXPKGS_SHA256=…`.
    NixpkgsHashArg,
    /// `rev = "…"` in a `fetchGit` call.
    RevInCall,
}

impl Unpinned {
    /// What the build's warnings say of it, with how to pin it.
    pub fn warning(&self) -> String {
        let (lacks, again, how) = match self.pin_with {
            PinWith::HashInCall => (
                "hash",
                "downloads it again",
                format!(
                    "sha256 = \"…\" from `nix-prefetch-url --unpack {}`",
                    self.url
                ),
            ),
            PinWith::NixpkgsHashArg => (
                "hash",
                "downloads it again",
                format!(
                    "--build-arg NIXPKGS_SHA256=… from `nix-prefetch-url --unpack {}`",
                    self.url
                ),
            ),
            PinWith::RevInCall => (
                "rev",
                "fetches it again",
                format!("rev = \"…\", a commit from `git ls-remote {}`", self.url),
            ),
        };
        format!(
            "{}: {} has no {lacks}, so every evaluation {again}; pin it ({how}) and it is fetched once, in a step of its own",
            self.origin, self.url
        )
    }
}

/// The pins and unpinned fetches of a build's files (any of them absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pins {
    pub pins: Vec<Pin>,
    pub unpinned: Vec<Unpinned>,
}

impl Pins {
    /// `NIXPKGS`: an http(s) URL is a tarball the evaluation fetches for `-I nixpkgs=`; with
    /// `NIXPKGS_SHA256` it is pinned as a literal `fetchTarball { url; sha256; }` is (the
    /// evaluation then asks `builtins.fetchTarball` for the same path, common.sh), without it it
    /// is named as fetched on every evaluation. A path or a channel name fetches nothing here.
    pub fn add_nixpkgs(&mut self, nixpkgs: &str, sha256: Option<&str>) {
        if !is_download_url(nixpkgs) || !field_ok(nixpkgs) {
            return;
        }
        let origin = "build arg NIXPKGS".to_string();
        match sha256.filter(|hash| field_ok(hash)) {
            Some(hash) => {
                let nixpkgs_pin = tarball_pin(nixpkgs, hash, None, origin);
                // First: the package set is the largest input, the last to leave at MAX_PINS.
                if !self.pins.iter().any(|p| p.json == nixpkgs_pin.json) {
                    self.pins.insert(0, nixpkgs_pin);
                    self.pins.truncate(MAX_PINS);
                }
            }
            None => self.unpinned.push(Unpinned {
                origin,
                url: nixpkgs.to_string(),
                pin_with: PinWith::NixpkgsHashArg,
            }),
        }
    }
}

/// An `http://` or `https://` URL: what Nix downloads for `-I nixpkgs=` (a path or `channel:`
/// is not).
pub fn is_download_url(text: &str) -> bool {
    text.starts_with("http://") || text.starts_with("https://")
}

/// Reads every source of pins: the Nix file `(name, text)`, `flake.lock`, niv's and npins'
/// `sources.json`. Duplicates are fetched once, and at most `MAX_PINS` in all.
pub fn find(
    nix_file: Option<(&str, &str)>,
    flake_lock: Option<&str>,
    niv: Option<&str>,
    npins: Option<&str>,
) -> Pins {
    let mut found = Pins::default();
    if let Some((name, text)) = nix_file {
        nix_calls(name, text, &mut found);
    }
    if let Some(text) = flake_lock {
        flake_lock_pins(text, &mut found.pins);
    }
    if let Some(text) = niv {
        niv_pins(text, &mut found.pins);
    }
    if let Some(text) = npins {
        npins_pins(text, &mut found.pins);
    }
    let mut seen = BTreeSet::new();
    found.pins.retain(|pin| seen.insert(pin.json.clone()));
    found.pins.truncate(MAX_PINS);
    found
}

fn pin(fields: Map<String, Value>, origin: String, label: String) -> Pin {
    Pin {
        json: Value::Object(fields).to_string(),
        origin,
        label,
    }
}

/// `builtins.fetchTarball { url; sha256; name?; }` as a pin, labelled by its URL.
fn tarball_pin(url: &str, sha256: &str, name: Option<String>, origin: String) -> Pin {
    let mut fields = Map::new();
    fields.insert("kind".into(), "tarball".into());
    fields.insert("url".into(), url.into());
    fields.insert("sha256".into(), sha256.into());
    if let Some(name) = name {
        fields.insert("name".into(), name.into());
    }
    pin(fields, origin, url.to_string())
}

/// `builtins.fetchGit { url; rev; ref?; submodules?; }` as a pin, labelled by its URL and
/// commit; none for a repository on disk or a `rev` that is no commit.
fn git_pin(
    url: &str,
    rev: &str,
    reference: Option<&str>,
    submodules: bool,
    origin: String,
) -> Option<Pin> {
    if !is_remote_git(url) || !is_commit(rev) || !field_ok(url) {
        return None;
    }
    let mut fields = Map::new();
    fields.insert("kind".into(), "git".into());
    fields.insert("url".into(), url.into());
    fields.insert("rev".into(), rev.into());
    if let Some(reference) = reference.filter(|r| field_ok(r)) {
        fields.insert("ref".into(), reference.into());
    }
    if submodules {
        fields.insert("submodules".into(), true.into());
    }
    Some(pin(fields, origin, git_label(url, rev)))
}

/// A repository's step names the commit too: one URL can be pinned at several.
fn git_label(url: &str, rev: &str) -> String {
    format!("{url} at {}", rev.get(..12).unwrap_or(rev))
}

fn field_ok(text: &str) -> bool {
    !text.is_empty() && text.len() <= MAX_FIELD && !text.chars().any(char::is_control)
}

/// A string literal without interpolation.
fn literal(expr: &ast::Expr) -> Option<String> {
    let ast::Expr::Str(string) = expr else {
        return None;
    };
    let mut text = String::new();
    for part in string.normalized_parts() {
        match part {
            ast::InterpolPart::Literal(piece) => text.push_str(&piece),
            ast::InterpolPart::Interpolation(_) => return None,
        }
    }
    field_ok(&text).then_some(text)
}

fn strip_parens(expr: ast::Expr) -> Option<ast::Expr> {
    match expr {
        ast::Expr::Paren(paren) => strip_parens(paren.expr()?),
        other => Some(other),
    }
}

/// `builtins.fetchTarball`, `fetchTarball`, `builtins.fetchurl`, `builtins.fetchGit` and
/// `fetchGit` calls.
fn nix_calls(file: &str, text: &str, found: &mut Pins) {
    if text.len() > crate::nix::syntax::MAX_CHECKED_BYTES {
        return;
    }
    let root = rnix::Root::parse(text).syntax();
    for node in root
        .descendants()
        .filter(|n| n.kind() == SyntaxKind::NODE_APPLY)
    {
        nix_call(file, text, &node, found);
    }
}

fn nix_call(file: &str, text: &str, node: &SyntaxNode, found: &mut Pins) {
    use rowan::ast::AstNode;
    let Some(apply) = ast::Apply::cast(node.clone()) else {
        return;
    };
    let Some(function) = apply.lambda() else {
        return;
    };
    let name: String = function
        .syntax()
        .text()
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let kind = match name.as_str() {
        "builtins.fetchTarball" | "fetchTarball" => "tarball",
        "builtins.fetchurl" => "file",
        "builtins.fetchGit" | "fetchGit" => "git",
        _ => return,
    };
    let pin_with = if kind == "git" {
        PinWith::RevInCall
    } else {
        PinWith::HashInCall
    };
    let line = text[..usize::from(node.text_range().start())]
        .matches('\n')
        .count()
        + 1;
    let origin = format!("{file}:{line}");
    let Some(argument) = apply.argument().and_then(strip_parens) else {
        return;
    };
    // `builtins.fetchTarball "https://…"`: no hash, fetched on every evaluation.
    if let Some(url) = literal(&argument) {
        if kind == "git" && !is_remote_git(&url) {
            return;
        }
        found.unpinned.push(Unpinned {
            origin,
            url,
            pin_with,
        });
        return;
    }
    let ast::Expr::AttrSet(set) = argument else {
        return;
    };
    // `inherit rev;` is a value only evaluation knows: the call is left to the evaluation.
    if set.inherits().next().is_some() {
        return;
    }
    let mut fields = Map::new();
    fields.insert("kind".into(), kind.into());
    let mut url = None;
    for entry in set.attrpath_values() {
        let Some(key) = entry.attrpath().map(|p| p.syntax().text().to_string()) else {
            return;
        };
        let Some(value) = entry.value() else {
            return;
        };
        let key = key.trim();
        let text_field = matches!(key, "url" | "name")
            || if kind == "git" {
                matches!(key, "rev" | "ref")
            } else {
                key == "sha256"
            };
        if text_field {
            // A value that is not a literal (a variable, an interpolation): not read ahead.
            let Some(value) = literal(&value) else {
                return;
            };
            if key == "url" {
                url = Some(value.clone());
            }
            fields.insert(key.into(), value.into());
        } else if kind == "git" && matches!(key, "submodules" | "shallow" | "allRefs") {
            let Some(flag) = boolean(&value) else {
                return;
            };
            fields.insert(key.into(), flag.into());
        } else {
            // Anything else (`narHash`, `lfs`, …) is not what these pins read.
            return;
        }
    }
    let Some(url) = url else {
        return;
    };
    // A repository in the context or on the builder's disk is read, not downloaded.
    if kind == "git" && !is_remote_git(&url) {
        return;
    }
    let pinned = match kind {
        "git" => fields
            .get("rev")
            .and_then(Value::as_str)
            .is_some_and(is_commit),
        _ => fields.contains_key("sha256"),
    };
    if pinned {
        let label = match fields.get("rev").and_then(Value::as_str) {
            Some(rev) if kind == "git" => git_label(&url, rev),
            _ => url,
        };
        found.pins.push(pin(fields, origin, label));
    } else if !(kind == "git" && fields.contains_key("rev")) {
        found.unpinned.push(Unpinned {
            origin,
            url,
            pin_with,
        });
    }
}

/// `true` or `false`, as Nix spells them.
fn boolean(expr: &ast::Expr) -> Option<bool> {
    use rowan::ast::AstNode;
    let ast::Expr::Ident(ident) = expr else {
        return None;
    };
    match ident.syntax().text().to_string().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// A repository git fetches over the network: `scheme://…` but `file://`, or `user@host:path`.
fn is_remote_git(url: &str) -> bool {
    match url.split_once("://") {
        Some((scheme, _)) => !scheme.ends_with("file"),
        None => url
            .split_once(':')
            .is_some_and(|(host, _)| host.contains('@') && !host.contains('/')),
    }
}

/// A git commit as fetchGit's `rev` takes it: 40 hex digits.
fn is_commit(text: &str) -> bool {
    text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Every locked input of a flake with a `narHash`, but `path` inputs.
fn flake_lock_pins(text: &str, pins: &mut Vec<Pin>) {
    let Ok(Value::Object(lock)) = serde_json::from_str::<Value>(text) else {
        return;
    };
    let Some(Value::Object(nodes)) = lock.get("nodes") else {
        return;
    };
    for (name, node) in nodes {
        let Some(Value::Object(locked)) = node.get("locked") else {
            continue;
        };
        let Some(kind) = locked.get("type").and_then(Value::as_str) else {
            continue;
        };
        if kind == "path"
            || !locked
                .get("narHash")
                .and_then(Value::as_str)
                .is_some_and(field_ok)
        {
            continue;
        }
        // Only plain values, as fetchTree takes them.
        let mut tree = Map::new();
        for (key, value) in locked {
            match value {
                Value::String(s) if field_ok(s) && field_ok(key) => {}
                Value::Number(_) | Value::Bool(_) if field_ok(key) => {}
                _ => continue,
            }
            tree.insert(key.clone(), value.clone());
        }
        let mut fields = Map::new();
        fields.insert("kind".into(), "tree".into());
        fields.insert("tree".into(), Value::Object(tree));
        pins.push(pin(
            fields,
            format!("flake.lock ({name})"),
            format!("{kind} input {name}"),
        ));
    }
}

/// niv: `{"<name>": {"type": "tarball", "url": …, "sha256": …}}`, fetched as `<name>-src`, and
/// `{"type": "git", "repo": …, "rev": …, "branch"|"tag"|"ref": …}`, fetched with `fetchGit` as
/// niv's sources.nix does.
fn niv_pins(text: &str, pins: &mut Vec<Pin>) {
    let Ok(Value::Object(sources)) = serde_json::from_str::<Value>(text) else {
        return;
    };
    for (name, spec) in sources {
        let kind = spec
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("tarball");
        let text_of = |key: &str| {
            spec.get(key)
                .and_then(Value::as_str)
                .filter(|t| field_ok(t))
        };
        if kind == "git" {
            // sources.nix's `ref`: given, or the branch's or the tag's (without any, niv stops).
            let reference = text_of("ref").map(str::to_string).or_else(|| {
                text_of("branch")
                    .map(|b| format!("refs/heads/{b}"))
                    .or_else(|| text_of("tag").map(|t| format!("refs/tags/{t}")))
            });
            if let (Some(url), Some(rev), Some(_)) =
                (text_of("repo"), text_of("rev"), reference.as_ref())
            {
                let submodules = spec.get("submodules").and_then(Value::as_bool) == Some(true);
                let origin = format!("nix/sources.json ({name})");
                pins.extend(git_pin(url, rev, reference.as_deref(), submodules, origin));
            }
            continue;
        }
        let (Some(url), Some(sha256)) = (
            spec.get("url").and_then(Value::as_str),
            spec.get("sha256").and_then(Value::as_str),
        ) else {
            continue;
        };
        let plain_name = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-._?=".contains(c))
            && !name.starts_with('.');
        if kind != "tarball" || !field_ok(url) || !field_ok(sha256) || !plain_name {
            continue;
        }
        pins.push(tarball_pin(
            url,
            sha256,
            Some(format!("{name}-src")),
            format!("nix/sources.json ({name})"),
        ));
    }
}

/// npins: `{"pins": {"<name>": {"url"|"locked_url": …, "hash": …}}}`, fetched as tarballs, and
/// `Git` pins with no tarball URL or with submodules, which npins' default.nix fetches with
/// `fetchGit` from the repository (a plain URL, or GitHub's and GitLab's `.git`).
fn npins_pins(text: &str, pins: &mut Vec<Pin>) {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return;
    };
    let Some(Value::Object(entries)) = value.get("pins") else {
        return;
    };
    for (name, spec) in entries {
        let submodules = spec.get("submodules").and_then(Value::as_bool) == Some(true);
        let tarball = spec.get("url").and_then(Value::as_str).is_some();
        let git_kind = matches!(
            spec.get("type").and_then(Value::as_str),
            Some("Git" | "GitRelease")
        );
        if git_kind && (submodules || !tarball) {
            let repository = spec.get("repository");
            let field = |key: &str| {
                repository
                    .and_then(|r| r.get(key))
                    .and_then(Value::as_str)
                    .filter(|t| field_ok(t))
            };
            // Spelt as npins spells it: Nix's git cache is named by the URL's exact text (npins
            // joins a server ending in `/` with another `/`).
            let url = match repository
                .and_then(|r| r.get("type"))
                .and_then(Value::as_str)
            {
                Some("Git") => field("url").map(str::to_string),
                Some("GitHub") => field("owner")
                    .zip(field("repo"))
                    .map(|(owner, repo)| format!("https://github.com/{owner}/{repo}.git")),
                Some("GitLab") => field("server")
                    .zip(field("repo_path"))
                    .map(|(server, path)| format!("{server}/{path}.git")),
                Some("Forgejo") => field("server")
                    .zip(field("owner"))
                    .zip(field("repo"))
                    .map(|((server, owner), repo)| format!("{server}/{owner}/{repo}.git")),
                _ => None,
            };
            let rev = spec.get("revision").and_then(Value::as_str);
            if let (Some(url), Some(rev)) = (url, rev) {
                let origin = format!("npins/sources.json ({name})");
                pins.extend(git_pin(&url, rev, None, submodules, origin));
            }
            continue;
        }
        let url = spec
            .get("locked_url")
            .or_else(|| spec.get("url"))
            .and_then(Value::as_str);
        let hash = spec.get("hash").and_then(Value::as_str);
        let (Some(url), Some(hash)) = (url, hash) else {
            continue;
        };
        if !field_ok(url) || !field_ok(hash) {
            continue;
        }
        pins.push(tarball_pin(
            url,
            hash,
            None,
            format!("npins/sources.json ({name})"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(pin: &Pin) -> Value {
        serde_json::from_str(&pin.json).unwrap()
    }

    #[test]
    fn literal_fetches_with_a_hash_are_pins_and_without_one_are_named() {
        let text = r#"# syntax=org/nix-frontend
let
  nixpkgs = builtins.fetchTarball {
    url = "https://example.org/nixpkgs.tar.gz";
    sha256 = "0a1b";
  };
  named = fetchTarball { name = "src"; url = "https://example.org/src.tgz"; sha256 = "0c"; };
  file = (builtins.fetchurl { url = "https://example.org/f.txt"; sha256 = "0d"; });
  loose = builtins.fetchTarball "https://example.org/loose.tgz";
  noHash = builtins.fetchTarball { url = "https://example.org/nohash.tgz"; };
  dynamic = builtins.fetchTarball { url = "https://example.org/${v}.tgz"; sha256 = "0e"; };
  other = builtins.fetchTarball { url = u; sha256 = "0f"; };
in nixpkgs
"#;
        let found = find(Some(("default.nix", text)), None, None, None);
        let pins: Vec<Value> = found.pins.iter().map(json).collect();
        assert_eq!(pins.len(), 3, "{pins:?}");
        assert_eq!(
            pins[0],
            serde_json::json!({"kind": "tarball", "url": "https://example.org/nixpkgs.tar.gz", "sha256": "0a1b"})
        );
        assert_eq!(found.pins[0].origin, "default.nix:3");
        assert_eq!(pins[1]["name"], "src");
        assert_eq!(pins[2]["kind"], "file");
        let unpinned: Vec<(&str, &str)> = found
            .unpinned
            .iter()
            .map(|u| (u.origin.as_str(), u.url.as_str()))
            .collect();
        assert_eq!(
            unpinned,
            [
                ("default.nix:9", "https://example.org/loose.tgz"),
                ("default.nix:10", "https://example.org/nohash.tgz")
            ]
        );
    }

    #[test]
    fn fetch_git_with_a_commit_is_a_pin_and_without_a_rev_is_named() {
        let rev = "0123456789abcdef0123456789abcdef01234567";
        let rev_tail = "0123456789abcdef01234567";
        let text = format!(
            r#"{{
  lib = builtins.fetchGit {{ url = "https://example.org/lib.git"; rev = "{rev}"; ref = "main"; submodules = true; }};
  bare = fetchGit {{ url = "git@example.org:team/bare.git"; rev = "{rev}"; }};
  moving = builtins.fetchGit {{ url = "https://example.org/moving.git"; ref = "main"; }};
  loose = builtins.fetchGit "ssh://git@example.org/loose.git";
  tag = builtins.fetchGit {{ url = "https://example.org/tag.git"; rev = "v1.0"; }};
  local = builtins.fetchGit {{ url = "file:///srv/repo"; }};
  here = builtins.fetchGit {{ url = "/src/sub"; }};
  flag = builtins.fetchGit {{ url = "https://example.org/f.git"; rev = "{rev}"; shallow = x; }};
  lfs = builtins.fetchGit {{ url = "https://example.org/l.git"; rev = "{rev}"; lfs = true; }};
  inherited = builtins.fetchGit {{ url = "https://example.org/i.git"; inherit rev; }};
  sha256rev = builtins.fetchGit {{ url = "https://example.org/s.git"; rev = "{rev}{rev_tail}"; }};
}}"#
        );
        let found = find(Some(("default.nix", &text)), None, None, None);
        let pins: Vec<Value> = found.pins.iter().map(json).collect();
        assert_eq!(
            pins,
            [
                serde_json::json!({"kind": "git", "url": "https://example.org/lib.git", "rev": rev,
                    "ref": "main", "submodules": true}),
                serde_json::json!({"kind": "git", "url": "git@example.org:team/bare.git", "rev": rev}),
            ]
        );
        assert_eq!(found.pins[0].origin, "default.nix:2");
        assert_eq!(
            found.pins[1].label,
            "git@example.org:team/bare.git at 0123456789ab"
        );
        let named: Vec<String> = found.unpinned.iter().map(Unpinned::warning).collect();
        assert_eq!(named.len(), 2, "{named:?}");
        assert_eq!(
            named[0],
            "default.nix:4: https://example.org/moving.git has no rev, so every evaluation fetches it again; pin it (rev = \"…\", a commit from `git ls-remote https://example.org/moving.git`) and it is fetched once, in a step of its own"
        );
        assert!(named[1].starts_with("default.nix:5: ssh://git@example.org/loose.git has no rev"));
    }

    #[test]
    fn nixpkgs_with_a_hash_is_a_tarball_pin_and_without_one_is_named() {
        // The same tarball as a literal call in the file: fetched once.
        let text = r#"builtins.fetchTarball { url = "https://example.org/nixpkgs.tar.gz"; sha256 = "0a1b"; }"#;
        let mut found = find(Some(("default.nix", text)), None, None, None);
        found.add_nixpkgs("https://example.org/nixpkgs.tar.gz", Some("0a1b"));
        assert_eq!(found.pins.len(), 1);
        assert_eq!(
            json(&found.pins[0]),
            serde_json::json!({"kind": "tarball", "url": "https://example.org/nixpkgs.tar.gz", "sha256": "0a1b"})
        );
        assert_eq!(found.pins[0].origin, "default.nix:1");
        found.add_nixpkgs("https://example.org/other.tar.gz", None);
        // A path or a channel is fetched by nobody here, so it is neither.
        found.add_nixpkgs("/nixpkgs", Some("0a1b"));
        found.add_nixpkgs("channel:nixos-24.05", None);
        assert_eq!(found.pins.len(), 1);
        assert_eq!(found.unpinned.len(), 1);
        // Another tarball goes first, ahead of the file's pins.
        found.add_nixpkgs("https://example.org/nixpkgs-2.tar.gz", Some("0c"));
        assert_eq!(found.pins[0].origin, "build arg NIXPKGS");
        assert_eq!(found.pins.len(), 2);
        assert_eq!(
            found.unpinned[0].warning(),
            "build arg NIXPKGS: https://example.org/other.tar.gz has no hash, so every evaluation downloads it again; pin it (--build-arg NIXPKGS_SHA256=… from `nix-prefetch-url --unpack https://example.org/other.tar.gz`) and it is fetched once, in a step of its own"
        );
    }

    #[test]
    fn a_flake_lock_pins_every_locked_input_but_paths() {
        let lock = r#"{"nodes": {
  "nixpkgs": {"locked": {"lastModified": 1700000000, "narHash": "sha256-AAAA", "owner": "NixOS",
              "repo": "nixpkgs", "rev": "abc", "type": "github"}, "original": {}},
  "tools": {"locked": {"path": "./tools", "type": "path", "narHash": "sha256-BBBB"}},
  "nohash": {"locked": {"type": "github", "owner": "a", "repo": "b", "rev": "c"}},
  "root": {"inputs": {"nixpkgs": "nixpkgs"}}
}, "root": "root", "version": 7}"#;
        let found = find(None, Some(lock), None, None);
        assert_eq!(found.pins.len(), 1);
        assert_eq!(
            json(&found.pins[0]),
            serde_json::json!({"kind": "tree", "tree": {"lastModified": 1700000000,
                "narHash": "sha256-AAAA", "owner": "NixOS", "repo": "nixpkgs", "rev": "abc",
                "type": "github"}})
        );
        assert_eq!(found.pins[0].origin, "flake.lock (nixpkgs)");
    }

    #[test]
    fn niv_and_npins_sources_are_pins() {
        let niv = r#"{"nixpkgs": {"type": "tarball", "url": "https://example.org/n.tar.gz",
                      "sha256": "1abc", "url_template": "x"},
                      "odd name": {"type": "tarball", "url": "u", "sha256": "s"},
                      "file": {"type": "file", "url": "u2", "sha256": "s2"}}"#;
        let npins = r#"{"pins": {"nixpkgs": {"type": "Channel", "url": "https://example.org/c.tar.xz",
                        "hash": "0xyz"}, "bare": {"type": "Git"}}, "version": 5}"#;
        let found = find(None, None, Some(niv), Some(npins));
        let pins: Vec<Value> = found.pins.iter().map(json).collect();
        assert_eq!(pins.len(), 2, "{pins:?}");
        assert_eq!(pins[0]["name"], "nixpkgs-src");
        assert_eq!(pins[1]["sha256"], "0xyz");
        assert_eq!(found.pins[1].origin, "npins/sources.json (nixpkgs)");
    }

    #[test]
    fn git_sources_of_niv_and_npins_are_git_pins() {
        let rev = "0123456789abcdef0123456789abcdef01234567";
        let niv = format!(
            r#"{{"lib": {{"type": "git", "repo": "https://example.org/lib.git", "rev": "{rev}", "branch": "main"}},
                "tagged": {{"type": "git", "repo": "git@example.org:t.git", "rev": "{rev}", "tag": "v1", "submodules": true}},
                "local": {{"type": "git", "repo": "/srv/lib", "rev": "{rev}", "branch": "main"}},
                "short": {{"type": "git", "repo": "https://example.org/s.git", "rev": "abc", "branch": "main"}},
                "noref": {{"type": "git", "repo": "https://example.org/n.git", "rev": "{rev}"}}}}"#
        );
        let npins = format!(
            r#"{{"pins": {{
              "plain": {{"type": "Git", "repository": {{"type": "Git", "url": "https://example.org/p.git"}},
                        "branch": "main", "submodules": false, "revision": "{rev}", "url": null, "hash": "sha256-x"}},
              "hub": {{"type": "Git", "repository": {{"type": "GitHub", "owner": "o", "repo": "r"}},
                      "branch": "main", "submodules": true, "revision": "{rev}",
                      "url": "https://github.com/o/r/archive/{rev}.tar.gz", "hash": "sha256-y"}},
              "lab": {{"type": "GitRelease", "repository": {{"type": "GitLab", "server": "https://gitlab.com/", "repo_path": "g/r"}},
                      "submodules": true, "revision": "{rev}", "url": "https://gitlab.com/t.tar.gz", "hash": "sha256-w"}},
              "forge": {{"type": "Git", "repository": {{"type": "Forgejo", "server": "https://codeberg.org/", "owner": "f", "repo": "r"}},
                        "branch": "main", "submodules": false, "revision": "{rev}", "url": null, "hash": "sha256-v"}},
              "tarball": {{"type": "Git", "repository": {{"type": "GitHub", "owner": "o", "repo": "t"}},
                          "branch": "main", "submodules": false, "revision": "{rev}",
                          "url": "https://github.com/o/t/archive/{rev}.tar.gz", "hash": "sha256-z"}}}},
              "version": 5}}"#
        );
        let found = find(None, None, Some(&niv), Some(&npins));
        let pins: Vec<Value> = found.pins.iter().map(json).collect();
        assert_eq!(
            pins,
            [
                serde_json::json!({"kind": "git", "url": "https://example.org/lib.git", "rev": rev,
                    "ref": "refs/heads/main"}),
                serde_json::json!({"kind": "git", "url": "git@example.org:t.git", "rev": rev,
                    "ref": "refs/tags/v1", "submodules": true}),
                serde_json::json!({"kind": "git", "url": "https://codeberg.org//f/r.git", "rev": rev}),
                serde_json::json!({"kind": "git", "url": "https://github.com/o/r.git", "rev": rev,
                    "submodules": true}),
                serde_json::json!({"kind": "git", "url": "https://gitlab.com//g/r.git", "rev": rev,
                    "submodules": true}),
                serde_json::json!({"kind": "git", "url": "https://example.org/p.git", "rev": rev}),
                serde_json::json!({"kind": "tarball",
                    "url": format!("https://github.com/o/t/archive/{rev}.tar.gz"), "sha256": "sha256-z"}),
            ]
        );
        assert_eq!(found.pins[0].origin, "nix/sources.json (lib)");
        assert_eq!(
            found.pins[5].label,
            "https://example.org/p.git at 0123456789ab"
        );
    }

    #[test]
    fn hostile_text_gives_no_pins_and_no_panic() {
        for text in [
            "",
            "{",
            "[1,2]",
            "{\"nodes\": 3}",
            "\u{0}",
            "builtins.fetchTarball {",
        ] {
            let found = find(
                Some(("default.nix", text)),
                Some(text),
                Some(text),
                Some(text),
            );
            assert!(found.pins.is_empty(), "{text:?}");
        }
        let control = "builtins.fetchTarball { url = \"https://a\\nb\"; sha256 = \"0\"; }";
        assert!(find(Some(("d.nix", control)), None, None, None)
            .pins
            .is_empty());
        let many: String = (0..100)
            .map(|i| {
                format!("(builtins.fetchTarball {{ url = \"https://e/{i}\"; sha256 = \"0\"; }})\n")
            })
            .collect();
        let many = format!("[\n{many}]");
        assert_eq!(
            find(Some(("d.nix", &many)), None, None, None).pins.len(),
            MAX_PINS
        );
    }
}
