//! Options parsed from BuildKit's key/value pairs: the keys we use, their defaults, and the
//! option named in every refusal.

use super::*;

fn raw(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn reads_env_pairs_splitting_on_the_first_equals() {
    let env = vec![
        (
            "BUILDKIT_FRONTEND_OPT_0".to_string(),
            "build-arg:X=a=b".to_string(),
        ),
        (
            "BUILDKIT_FRONTEND_OPT_1".to_string(),
            "filename=default.nix".to_string(),
        ),
        ("PATH".to_string(), "/bin".to_string()),
    ];
    let pairs = from_env_pairs(env.into_iter());
    assert_eq!(
        pairs,
        raw(&[("build-arg:X", "a=b"), ("filename", "default.nix")])
    );
}

#[test]
fn parses_the_options_we_use() {
    let options = Options::parse(&raw(&[
        ("filename", "default.nix"),
        ("target", "hello"),
        ("build-arg:NIX_ATTR", "x"),
        ("label:org.example", "v"),
        ("platform", "linux/amd64,linux/arm64/v8"),
        ("no-cache", ""),
        (
            "cache-imports",
            r#"[{"Type":"local","Attrs":{"src":"/tmp/c"}}]"#,
        ),
        ("local-sessionid:context", "abc"),
    ]))
    .unwrap();
    assert_eq!(options.filename, "default.nix");
    assert_eq!(options.target.as_deref(), Some("hello"));
    assert_eq!(options.build_arg("NIX_ATTR"), Some("x"));
    assert_eq!(options.labels["org.example"], "v");
    assert_eq!(options.platforms.len(), 2);
    assert_eq!(options.platforms[1].to_string(), "linux/arm64/v8");
    assert!(options.no_cache);
    assert_eq!(options.cache_imports[0].kind, "local");
    assert_eq!(options.local_sessions["context"], "abc");
}

#[test]
fn the_build_file_directory_inside_the_context() {
    let dir = |context: &str, dockerfile: &str| {
        Options::parse(&raw(&[
            ("vcs:localdir:context", context),
            ("vcs:localdir:dockerfile", dockerfile),
        ]))
        .unwrap()
        .build_file_dir_in_context
    };
    assert_eq!(dir(".", "sub"), Some("sub".into()));
    assert_eq!(dir("tests/x", "tests/x"), Some("".into()));
    assert_eq!(dir("a", "a/b/c"), Some("b/c".into()));
    assert_eq!(dir("a", "b"), None);
    assert_eq!(dir(".", "../x"), None);
    assert_eq!(
        Options::parse(&raw(&[("vcs:localdir:dockerfile", "sub")]))
            .unwrap()
            .build_file_dir_in_context,
        None
    );
}

#[test]
fn defaults() {
    let options = Options::parse(&BTreeMap::new()).unwrap();
    assert_eq!(options.filename, "Dockerfile");
    assert!(options.platforms.is_empty());
    assert!(!options.no_cache);
}

#[test]
fn bad_platform_names_the_option() {
    let err = Options::parse(&raw(&[("platform", "linux")])).unwrap_err();
    assert_eq!(err.option, "--platform");
    assert!(err.message.contains("os/arch"));
    assert!(Options::parse(&raw(&[("platform", "linux/amd64/v1/x")])).is_err());
    assert!(Options::parse(&raw(&[("platform", "linux/$(id)")])).is_err());
}

#[test]
fn bad_cache_imports_name_the_option() {
    let err = Options::parse(&raw(&[("cache-imports", "{")])).unwrap_err();
    assert_eq!(err.option, "--cache-from");
}

#[test]
fn sbom_is_asked_for_by_attest_sbom_unless_disabled() {
    assert!(!Options::parse(&BTreeMap::new()).unwrap().sbom);
    for (key, value, expect) in [
        ("attest:sbom", "", true),
        (
            "attest:sbom",
            "generator=docker/buildkit-syft-scanner",
            true,
        ),
        ("attest:sbom", "disabled=true", false),
        ("build-arg:BUILDKIT_ATTEST_SBOM", "true", true),
        ("attest:provenance", "mode=max", false),
    ] {
        assert_eq!(
            Options::parse(&raw(&[(key, value)])).unwrap().sbom,
            expect,
            "{key}={value}"
        );
    }
}

proptest::proptest! {
    #[test]
    fn never_panics(key in ".{0,20}", value in ".{0,40}") {
        let _ = Options::parse(&raw(&[(key.as_str(), value.as_str())]));
    }
}

#[test]
fn image_references_are_qualified() {
    for (given, want) in [
        ("nixos/nix:2.24.9", "docker.io/nixos/nix:2.24.9"),
        ("ubuntu", "docker.io/library/ubuntu:latest"),
        ("127.0.0.1:5000/nix", "127.0.0.1:5000/nix:latest"),
        ("ghcr.io/a/b@sha256:abc", "ghcr.io/a/b@sha256:abc"),
        ("localhost/x:1", "localhost/x:1"),
    ] {
        assert_eq!(normalize_image_reference(given).unwrap(), want);
    }
}

#[test]
fn named_contexts_are_read_and_bad_names_refused() {
    let raw = BTreeMap::from([
        ("context:nixpkgs".to_string(), "local:nixpkgs".to_string()),
        (
            "context:base".to_string(),
            "docker-image://alpine".to_string(),
        ),
    ]);
    let options = Options::parse(&raw).unwrap();
    assert_eq!(
        options.named_contexts["nixpkgs"],
        ContextSource::Local("nixpkgs".into())
    );
    assert_eq!(
        options.named_contexts["base"],
        ContextSource::Image("docker.io/library/alpine:latest".into())
    );
    for (name, value) in [
        ("a;b", "local:x"),
        ("../x", "local:x"),
        ("a/b", "local:x"),
        ("-I", "local:x"),
        ("$(x)", "local:x"),
        ("", "local:x"),
        ("ok", "https://example.org/x.git"),
    ] {
        let raw = BTreeMap::from([(format!("context:{name}"), value.to_string())]);
        let err = Options::parse(&raw).unwrap_err();
        assert_eq!(err.option, "--build-context", "{name}");
    }
}
