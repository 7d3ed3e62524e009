//! Specs made from options and build files: both modes, which option names the target, hostile
//! values refused with the option named, and the warnings.

use super::*;

fn options(pairs: &[(&str, &str)]) -> Options {
    Options::from_pairs(pairs)
}

fn amd64() -> Platform {
    Platform::parse("linux/amd64").unwrap()
}

#[test]
fn a_nix_cache_to_push_to_is_an_http_https_or_s3_url() {
    for url in [
        "http://127.0.0.1:5000",
        "https://cache.example/x",
        "s3://bucket?region=eu",
    ] {
        let spec = Spec::new(
            &options(&[
                ("filename", "default.nix"),
                ("build-arg:NIX_CACHE_PUSH", url),
            ]),
            "{ }",
            &amd64(),
        )
        .unwrap();
        assert_eq!(spec.cache_push.as_deref(), Some(url));
    }
}

#[test]
fn nix_mode_builds_the_file_itself() {
    let spec = Spec::new(
        &options(&[("filename", "default.nix"), ("target", "hello")]),
        "# syntax=org/nix-frontend\n{ hello = 1; }",
        &amd64(),
    )
    .unwrap();
    assert_eq!(spec.mode, Mode::Nix);
    assert_eq!(spec.nix_file, "default.nix");
    assert_eq!(spec.attrs, ["hello"]);
    assert_eq!(spec.nix_image, DEFAULT_NIX_IMAGE);
}

#[test]
fn dockerfile_mode_takes_directives_and_settings() {
    let spec = Spec::new(
        &options(&[
            ("label:b", "from-cli"),
            ("build-arg:NIX_IMAGE", "nix-frontend-test/nix:local"),
        ]),
        "# syntax=org/nix-frontend\n# nix=app.nix\n# attr=hello\nCMD [\"x\"]\nLABEL a=1 b=2\n",
        &amd64(),
    )
    .unwrap();
    assert_eq!(spec.mode, Mode::Dockerfile);
    assert_eq!(spec.nix_file, "app.nix");
    assert_eq!(spec.attrs, ["hello"]);
    assert_eq!(spec.settings.cmd, Some(vec!["x".to_string()]));
    assert_eq!(spec.settings.labels["b"], "from-cli");
    assert_eq!(spec.nix_image, "docker.io/nix-frontend-test/nix:local");
}

#[test]
fn target_wins_over_build_arg_and_directive() {
    let spec = Spec::new(
        &options(&[("target", "t"), ("build-arg:NIX_ATTR", "a")]),
        "# attr=d\n",
        &amd64(),
    )
    .unwrap();
    assert_eq!(spec.attrs, ["t"]);
    let spec = Spec::new(
        &options(&[("build-arg:NIX_ATTR", "a")]),
        "# attr=d\n",
        &amd64(),
    )
    .unwrap();
    assert_eq!(spec.attrs, ["a"]);
}

#[test]
fn hostile_values_are_refused_with_the_option_named() {
    for (pairs, option) in [
        (
            vec![("build-arg:NIX_FILE", "../etc/passwd")],
            "build arg NIX_FILE",
        ),
        (
            vec![("build-arg:NIX_FILE", "/etc/passwd")],
            "build arg NIX_FILE",
        ),
        (vec![("target", "--eval")], "--target"),
        (vec![("target", "a\nb")], "--target"),
        (
            vec![("build-arg:NIX_IMAGE", "x; rm -rf /")],
            "build arg NIX_IMAGE",
        ),
        (
            vec![("build-arg:SOURCE_DATE_EPOCH", "yesterday")],
            "build arg SOURCE_DATE_EPOCH",
        ),
        (
            vec![("build-arg:NIX_MAX_LAYERS", "126")],
            "build arg NIX_MAX_LAYERS",
        ),
        (
            vec![("build-arg:NIX_MAX_LAYERS", "1")],
            "build arg NIX_MAX_LAYERS",
        ),
        (
            vec![("build-arg:NIX_CACHE_ID", "a\nb")],
            "build arg NIX_CACHE_ID",
        ),
        (vec![("build-arg:NIX_ARGS", "--arg")], "build arg NIX_ARGS"),
        (
            vec![("build-arg:NIX_ARGS", "--eval-store x y")],
            "build arg NIX_ARGS",
        ),
        (
            vec![("build-arg:NIX_ARGS", "--arg a;b 1")],
            "build arg NIX_ARGS",
        ),
        (
            vec![(
                "build-arg:NIX_SUBSTITUTERS",
                "https://x\nbuild-hook = /evil",
            )],
            "build arg NIX_SUBSTITUTERS",
        ),
        (vec![("build-arg:NIXPKGS", "--impure")], "build arg NIXPKGS"),
        // The hash of a tarball, so only with an http(s) NIXPKGS, and only a hash's characters.
        (
            vec![("build-arg:NIXPKGS_SHA256", "0a1b")],
            "build arg NIXPKGS_SHA256",
        ),
        (
            vec![
                ("build-arg:NIXPKGS", "/nixpkgs"),
                ("build-arg:NIXPKGS_SHA256", "0a1b"),
            ],
            "build arg NIXPKGS_SHA256",
        ),
        (
            vec![
                ("build-arg:NIXPKGS", "https://example.org/n.tar.gz"),
                ("build-arg:NIXPKGS_SHA256", "0a1b\"; builtins.abort \"x"),
            ],
            "build arg NIXPKGS_SHA256",
        ),
        // A mistyped hash: one character short of nix32's 52.
        (
            vec![
                ("build-arg:NIXPKGS", "https://example.org/n.tar.gz"),
                (
                    "build-arg:NIXPKGS_SHA256",
                    "1qgpvh172a42vabzw7ls32lmybivw7zd02l05v4ygysd3lklkqp",
                ),
            ],
            "build arg NIXPKGS_SHA256",
        ),
        // 44 bytes, one character of them two bytes long, where base64's 43rd would be.
        (
            vec![
                ("build-arg:NIXPKGS", "https://example.org/n.tar.gz"),
                (
                    "build-arg:NIXPKGS_SHA256",
                    "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAé",
                ),
            ],
            "build arg NIXPKGS_SHA256",
        ),
        (
            vec![("build-arg:NIX_CACHE_PUSH", "file:///etc")],
            "build arg NIX_CACHE_PUSH",
        ),
        (
            vec![("build-arg:NIX_CACHE_PUSH", "https://x\nbuild-hook = /evil")],
            "build arg NIX_CACHE_PUSH",
        ),
        (
            vec![("build-arg:NIX_CACHE_PUSH", "https://")],
            "build arg NIX_CACHE_PUSH",
        ),
    ] {
        let err = Spec::new(&options(&pairs), "", &amd64()).unwrap_err();
        match err {
            SpecError::Option { option: got, .. } => assert_eq!(got, option),
            other => panic!("{other}"),
        }
    }
}

#[test]
fn warnings_for_deprecated_instructions_and_unused_build_args() {
    let spec = Spec::new(
        &options(&[
            ("build-arg:PORT", "1"),
            ("build-arg:TYPO", "2"),
            ("build-arg:NIX_IMAGE", "x"),
            ("build-arg:BUILDKIT_INLINE_CACHE", "1"),
        ]),
        "ARG PORT\nMAINTAINER me\n",
        &amd64(),
    )
    .unwrap();
    assert_eq!(
        spec.warnings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "Dockerfile:2: MAINTAINER is deprecated (as in Docker); use LABEL maintainer=\"...\"",
            "build args not consumed: TYPO (declare them with ARG in a Dockerfile, or pass Nix arguments with NIX_ARGS)",
        ]
    );
}

#[test]
fn attribute_names_with_shell_characters_are_data() {
    let spec = Spec::new(&options(&[("target", "a;$(id)'\"")]), "", &amd64()).unwrap();
    assert_eq!(spec.attrs, ["a;$(id)'\""]);
}

#[test]
fn several_attributes_are_separated_by_spaces_in_every_option() {
    let attrs = |pairs: &[(&str, &str)], text: &str| {
        Spec::new(&options(pairs), text, &amd64()).map(|spec| spec.attrs)
    };
    assert_eq!(
        attrs(&[("target", " app  busybox ")], "").unwrap(),
        ["app", "busybox"]
    );
    assert_eq!(
        attrs(&[("build-arg:NIX_ATTR", "app cacert")], "").unwrap(),
        ["app", "cacert"]
    );
    assert_eq!(
        attrs(&[], "# attr=app cacert tzdata busybox\n").unwrap(),
        ["app", "cacert", "tzdata", "busybox"]
    );
    // A name with a space is written in Nix's quotes, as -A takes it.
    assert_eq!(
        attrs(&[("target", "app \"my tools\".x")], "").unwrap(),
        ["app", "\"my tools\".x"]
    );
    let spec = Spec::new(&options(&[("target", "app busybox")]), "", &amd64()).unwrap();
    assert_eq!(
        spec.describe_target(),
        "attributes \"app\", \"busybox\" of default.nix"
    );
    assert_eq!(spec.attr_arguments(), " -A app -A busybox");
}

#[test]
fn each_of_several_attributes_is_checked_naming_the_option() {
    for (pairs, text, option, needle) in [
        (
            vec![("target", "app --eval")],
            "",
            "--target",
            "starts with '-'",
        ),
        (
            vec![("target", "app app")],
            "",
            "--target",
            "\"app\" is listed twice",
        ),
        (
            vec![("target", "app\tx")],
            "",
            "--target",
            "control character",
        ),
        (
            vec![("target", "   ")],
            "",
            "--target",
            "the attribute name is empty",
        ),
        (
            vec![("build-arg:NIX_ATTR", "a -b")],
            "",
            "build arg NIX_ATTR",
            "starts with '-'",
        ),
        (
            vec![],
            "# attr=a a\n",
            "the # attr= directive",
            "listed twice",
        ),
        (
            vec![],
            "# nix=.#a sub#b\n",
            "the # nix= directive",
            "names two flakes",
        ),
        (
            vec![],
            "# nix=.#a b\n",
            "the # nix= directive",
            "no flake reference",
        ),
        (
            vec![],
            "# nix=.#a .#a\n",
            "the # nix= directive",
            "listed twice",
        ),
    ] {
        let err = Spec::new(&options(&pairs), text, &amd64()).unwrap_err();
        match err {
            SpecError::Option {
                option: got,
                message,
            } => {
                assert_eq!(got, option, "{pairs:?} {text:?}");
                assert!(message.contains(needle), "{message}");
            }
            other => panic!("{other}"),
        }
    }
}

#[test]
fn a_flake_takes_several_installables_of_itself() {
    let spec = Spec::new(&options(&[]), "# nix=sub/#app sub#busybox\n", &amd64()).unwrap();
    assert_eq!(spec.nix_file, "sub/flake.nix");
    assert!(spec.flake);
    assert_eq!(spec.attrs, ["app", "busybox"]);
    let spec = Spec::new(&options(&[]), "# nix=.#app\n", &amd64()).unwrap();
    assert_eq!(
        (spec.nix_file.as_str(), spec.attrs.as_slice()),
        ("flake.nix", &["app".to_string()][..])
    );
    // --target wins over the installables, as over one.
    let spec = Spec::new(
        &options(&[("target", "x y")]),
        "# nix=.#app .#busybox\n",
        &amd64(),
    )
    .unwrap();
    assert_eq!(spec.attrs, ["x", "y"]);
}

#[test]
fn nix_collisions_is_error_or_first() {
    let rule = |value: Option<&str>| {
        let mut pairs = vec![("target", "a b")];
        if let Some(value) = value {
            pairs.push(("build-arg:NIX_COLLISIONS", value));
        }
        Spec::new(&options(&pairs), "", &amd64()).map(|spec| spec.collisions)
    };
    assert_eq!(rule(None).unwrap(), Collisions::Error);
    assert_eq!(rule(Some("error")).unwrap(), Collisions::Error);
    assert_eq!(rule(Some("first")).unwrap(), Collisions::First);
    match rule(Some("last")).unwrap_err() {
        SpecError::Option { option, .. } => assert_eq!(option, "build arg NIX_COLLISIONS"),
        other => panic!("{other}"),
    }
}

#[test]
fn nixpkgs_sha256_takes_each_form_nix_reads() {
    for hash in [
        "1qgpvh172a42vabzw7ls32lmybivw7zd02l05v4ygysd3lklkqpy",
        "sha256:1qgpvh172a42vabzw7ls32lmybivw7zd02l05v4ygysd3lklkqpy",
        "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    ] {
        let spec = Spec::new(
            &options(&[
                ("build-arg:NIXPKGS", "https://example.org/n.tar.gz"),
                ("build-arg:NIXPKGS_SHA256", hash),
            ]),
            "",
            &amd64(),
        )
        .unwrap();
        assert_eq!(spec.nixpkgs_sha256.as_deref(), Some(hash));
    }
}
