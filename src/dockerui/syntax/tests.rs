//! The dialect on small files: directives, shell and exec forms, substitution, every error with
//! its line, and property tests that no input panics.

use super::values::healthcheck;
use super::*;

fn parse_plain(file: &str, text: &str) -> Result<SyntaxFile, SyntaxError> {
    parse(file, text, &BTreeMap::new())
}

#[test]
fn reads_directives_and_instructions() {
    let text = "# syntax=org/nix-frontend\n# nix=app.nix\n# attr=hello\n\n# a comment\nENTRYPOINT [\"hello\", \"--greeting\", \"hi\"]\nCMD --verbose \"two words\"\nENV LANG=C.UTF-8 A=\"b c\"\nENV LEGACY some value\nLABEL a=b \\\n  c=\"d e\"\n";
    let parsed = parse_plain("Dockerfile", text).unwrap();
    assert_eq!(
        parsed.directives.syntax.as_deref(),
        Some("org/nix-frontend")
    );
    assert_eq!(parsed.directives.nix.as_deref(), Some("app.nix"));
    assert_eq!(parsed.directives.attr.as_deref(), Some("hello"));
    assert_eq!(parsed.entrypoint.unwrap(), ["hello", "--greeting", "hi"]);
    assert_eq!(parsed.cmd.unwrap(), ["--verbose", "two words"]);
    assert_eq!(
        parsed.env,
        [
            ("LANG".into(), "C.UTF-8".into()),
            ("A".into(), "b c".into()),
            ("LEGACY".into(), "some value".into())
        ]
    );
    assert_eq!(parsed.labels["a"], "b");
    assert_eq!(parsed.labels["c"], "d e");
}

#[test]
fn shell_wraps_shell_forms_as_docker_does() {
    let parsed = parse_plain(
        "Dockerfile",
        "CMD run --fast\nSHELL [\"/bin/sh\", \"-c\"]\nENTRYPOINT exec app \"$X\"\nHEALTHCHECK CMD curl -f localhost || exit 1\n",
    )
    .unwrap();
    assert_eq!(parsed.cmd.unwrap(), ["run", "--fast"]);
    assert_eq!(
        parsed.entrypoint.unwrap(),
        ["/bin/sh", "-c", "exec app \"$X\""]
    );
    assert_eq!(
        parsed.healthcheck.unwrap().test,
        ["CMD-SHELL", "curl -f localhost || exit 1"]
    );
    let err = parse_plain("Dockerfile", "SHELL /bin/sh -c\n").unwrap_err();
    assert!(err.message.contains("JSON array"), "{err}");
}

#[test]
fn arg_substitution_forms() {
    let args = BTreeMap::from([("FROM_CLI".to_string(), "cli".to_string())]);
    let text = "ARG FROM_CLI\nARG WITH_DEFAULT=d\nARG EMPTY\nENV A=$FROM_CLI B=${WITH_DEFAULT} C=${EMPTY:-fallback} D=${WITH_DEFAULT:+set} E=\\$literal\nLABEL l=${FROM_CLI}-x\n";
    let parsed = parse("Dockerfile", text, &args).unwrap();
    let env: BTreeMap<_, _> = parsed.env.into_iter().collect();
    assert_eq!(env["A"], "cli");
    assert_eq!(env["B"], "d");
    assert_eq!(env["C"], "fallback");
    assert_eq!(env["D"], "set");
    assert_eq!(env["E"], "$literal");
    assert_eq!(parsed.labels["l"], "cli-x");
    assert_eq!(parsed.args.len(), 3);
}

#[test]
fn escape_directive_changes_the_continuation_character() {
    let text = "# escape=`\nLABEL a=b `\n  c=d\n";
    let parsed = parse_plain("Dockerfile", text).unwrap();
    assert_eq!(parsed.labels.len(), 2);
}

#[test]
fn build_steps_are_errors_naming_the_line() {
    let err = parse_plain(
        "Dockerfile",
        "# syntax=org/nix-frontend\nENV A=b\nRUN make\n",
    )
    .unwrap_err();
    assert_eq!(err.line, 3);
    assert!(err.message.contains("RUN is not supported"), "{err}");
    assert!(err.message.contains("default.nix"), "{err}");
    assert_eq!(
        err.to_string().split(':').take(2).collect::<Vec<_>>(),
        ["Dockerfile", "3"]
    );
}

#[test]
fn check_collects_every_error_and_warning_in_order() {
    let text = "# syntax=org/nix-frontend\nRUN make\nENV A=b\nCOPY . /\nEXPOSE 99999\nMAINTAINER me\nENTRYPIONT [\"x\"]\nHEALTHCHECK --interval=3x CMD [\"a\"]\nCMD [\"a\"\nLABEL l=$NOPE\nENTRYPOINT []\n";
    let (parsed, errors) = check("Dockerfile", text, &BTreeMap::new());
    let found: Vec<(usize, &str)> = errors.iter().map(|e| (e.line, e.rule)).collect();
    assert_eq!(
        found,
        [
            (2, "UnsupportedInstruction"),
            (4, "UnsupportedInstruction"),
            (5, "InvalidInstruction"),
            (7, "UnknownInstruction"),
            (8, "InvalidInstruction"),
            (9, "InvalidInstruction"),
            (10, "InvalidInstruction"),
        ]
    );
    assert_eq!(parsed.env, [("A".to_string(), "b".to_string())]);
    let warnings: Vec<(usize, &str)> = parsed.warnings.iter().map(|(l, r, _)| (*l, *r)).collect();
    assert_eq!(
        warnings,
        [(6, "MaintainerDeprecated"), (11, "NoEntrypoint")]
    );
    assert_eq!(
        parse_plain("Dockerfile", text).unwrap_err(),
        errors[0],
        "the build stops at the check's first error"
    );
}

#[test]
fn unknown_instructions_suggest_a_fix() {
    let err = parse_plain("Dockerfile", "ENTRYPIONT [\"x\"]\n").unwrap_err();
    assert!(err.message.contains("did you mean ENTRYPOINT"), "{err}");
}

#[test]
fn bad_values_name_the_line() {
    for (text, needle) in [
        ("CMD [\"a\", 1]\n", "JSON array of strings"),
        ("CMD [\"a\"\n", "not a valid JSON array"),
        ("ENTRYPOINT hello \"unterminated\n", "unterminated quote"),
        ("LABEL nokey\n", "has no value"),
        ("ENV\n", "at least one"),
        ("\n\nLABEL a=\"b\n", "unterminated quote"),
    ] {
        let err = parse_plain("Dockerfile", text).unwrap_err();
        assert!(err.message.contains(needle), "{text:?}: {err}");
    }
    assert_eq!(
        parse_plain("Dockerfile", "\n\nLABEL a=\"b\n")
            .unwrap_err()
            .line,
        3
    );
}

#[test]
fn directives_of_a_nix_file() {
    let directives = parse_directives("# syntax=org/nix-frontend\n# attr=hello\n{ x = 1; }\n");
    assert_eq!(directives.attr.as_deref(), Some("hello"));
    let none = parse_directives("{ x = 1; }\n# attr=hello\n");
    assert_eq!(none, Directives::default());
}

proptest::proptest! {
    #[test]
    fn never_panics(text in "(?s).{0,200}") {
        let _ = parse_plain("Dockerfile", &text);
    }

    #[test]
    fn never_panics_expanding_variables(text in "[$a-zA-Z{}:+\\-_'\\\\ ]{0,40}") {
        let vars = BTreeMap::from([("A".to_string(), "1".to_string())]);
        let _ = expand_variables(&text, &vars, '\\');
    }

    #[test]
    fn never_panics_lexing_words(text in "[$a-zA-Z{}:+=\\-_'\"\\\\` ]{0,40}") {
        let vars = BTreeMap::from([("A".to_string(), "1 2".to_string())]);
        let _ = lex_words(&text, &vars, '\\');
        let _ = lex_words(&text, &vars, '`');
    }

    #[test]
    fn never_panics_on_healthchecks(text in "(--[a-z-]{0,14}=[0-9a-z]{0,6} ){0,3}(CMD|NONE|cmd)? ?.{0,20}") {
        let _ = healthcheck(&text, None);
    }

    #[test]
    fn never_panics_on_instruction_like_lines(
        lines in proptest::collection::vec(
            "(ENTRYPOINT|CMD|ENV|LABEL|RUN|#|) ?[\\[\\]\"'=a-z \\\\`]{0,20}", 0..8)
    ) {
        let _ = parse_plain("Dockerfile", &lines.join("\n"));
    }
}

#[test]
fn from_names_the_base_with_args_and_platform() {
    let args = BTreeMap::from([("BASE".to_string(), "gcr.io/distroless/static".to_string())]);
    let (parsed, errors) = check(
        "Dockerfile",
        "# syntax=org/nix-frontend\nARG BASE\nFROM --platform=linux/amd64 ${BASE}:nonroot AS app\n",
        &args,
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        parsed.from,
        Some(BaseImage {
            image: "gcr.io/distroless/static:nonroot".into(),
            platform: Some("linux/amd64".into()),
            line: 3,
        })
    );
    let (scratch, errors) = check("Dockerfile", "FROM scratch\n", &BTreeMap::new());
    assert!(errors.is_empty() && scratch.from.is_none());
    for (text, expected) in [
        ("FROM a\nFROM b\n", "a second FROM (the first is on line 1)"),
        ("FROM\n", "FROM needs an image"),
        ("FROM --quiet a\n", "the only flag FROM takes is --platform"),
        ("FROM a b c\n", "takes at most `AS name`"),
    ] {
        let (_, errors) = check("Dockerfile", text, &BTreeMap::new());
        assert!(
            errors.iter().any(|e| e.message.contains(expected)),
            "{text}: {errors:?}"
        );
    }
}
