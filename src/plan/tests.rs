//! Snapshot tests of the planned LLB, rendered as readable JSON (src/plan/snapshots/).

use super::*;
use crate::closure::{self, Limits};
use crate::options::{Options, Platform};

const HELLO: &str = "/nix/store/8rdhvmrp4a21j859nhvq50qvgwx6lf9l-hello-1.0";
const BUSYBOX: &str = "/nix/store/4wyqq71kp9g4lz3dhpmy0d35kk63qb30-busybox-static";

fn spec(pairs: &[(&str, &str)], text: &str) -> Spec {
    let raw = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let options = Options::parse(&raw).unwrap();
    Spec::new(&options, text, &Platform::parse("linux/amd64").unwrap()).unwrap()
}

fn builder() -> BuilderImage {
    BuilderImage::from_config(
        "docker.io/nixos/nix:2.28.3",
        Some("sha256:0000000000000000000000000000000000000000000000000000000000000000"),
        br#"{"config":{"Env":["PATH=/root/.nix-profile/bin:/usr/bin","USER=root"],"WorkingDir":"/root"}}"#,
    )
}

fn context() -> Output {
    llb::local(
        &llb::Local {
            name: "context".into(),
            session_id: "session".into(),
            shared_key_hint: "context".into(),
            exclude_patterns: vec!["target".into()],
            ..Default::default()
        },
        &Meta::named("load build context"),
    )
}

fn hello_result() -> BuildResult {
    let manifest = format!(
        r#"{{"{HELLO}":{{"narSize":1000,"references":["{BUSYBOX}"]}},"{BUSYBOX}":{{"narSize":2000000,"references":[]}}}}"#
    );
    let results = vec![StorePath::parse(HELLO).unwrap()];
    BuildResult {
        closure: closure::parse(manifest.as_bytes(), &results, &Limits::default()).unwrap(),
        results,
        root_links: vec![RootLink {
            name: "bin".into(),
            target: format!("{HELLO}/bin"),
        }],
        executables: vec!["hello".into()],
        main_program: None,
    }
}

fn render(output: &Output) -> String {
    serde_json::to_string_pretty(&llb::definition_to_json(&llb::definition(output))).unwrap()
}

#[test]
fn build_stage_passes_user_values_as_environment_only() {
    let spec = spec(
        &[("filename", "default.nix"), ("target", "hello; rm -rf /")],
        "",
    );
    let out = build_stage(&spec, &builder(), context(), None);
    let rendered = render(&out);
    // The attribute is one environment entry, never part of the script or argv.
    assert!(rendered.contains("\"NF_ATTR=hello; rm -rf /\""));
    assert!(!BUILDER_SCRIPT.contains("hello; rm"));
    insta::assert_snapshot!("build_stage", rendered);
}

#[test]
fn image_stage_one_layer_per_path_then_links() {
    let spec = spec(&[("filename", "default.nix")], "");
    let built = build_stage(&spec, &builder(), context(), None);
    let image = image_stage(&spec, &hello_result(), built, true);
    insta::assert_snapshot!("image_stage", render(&image));
}

#[test]
fn image_stage_without_merge_op_chains_copies() {
    let spec = spec(&[("filename", "default.nix")], "");
    let built = build_stage(&spec, &builder(), context(), None);
    let image = image_stage(&spec, &hello_result(), built, false);
    let json = llb::definition_to_json(&llb::definition(&image));
    assert!(json
        .as_array()
        .unwrap()
        .iter()
        .all(|v| v.get("merge").is_none()));
}

#[test]
fn equal_paths_give_equal_layer_vertices_in_different_images() {
    let spec = spec(&[("filename", "default.nix")], "");
    let built = build_stage(&spec, &builder(), context(), None);
    let a = render(&image_stage(
        &spec,
        &hello_result(),
        built.clone(),
        100,
        true,
    ));
    let b = render(&image_stage(&spec, &hello_result(), built, true));
    assert_eq!(a, b);
}

#[test]
fn image_config_defaults_and_overrides() {
    let spec_nix = spec(&[("filename", "default.nix")], "");
    insta::assert_snapshot!(
        "image_config_default",
        serde_json::to_string_pretty(&image_config(&spec_nix, &hello_result())).unwrap()
    );
    let spec_df = spec(
        &[("label:from-cli", "yes"), ("build-arg:SOURCE_DATE_EPOCH", "1700000000")],
        "ENTRYPOINT [\"hello\", \"--greeting\", \"hi\"]\nCMD [\"world\"]\nENV PATH=/custom LANG=C.UTF-8\nLABEL a=b\n",
    );
    insta::assert_snapshot!(
        "image_config_dockerfile",
        serde_json::to_string_pretty(&image_config(&spec_df, &hello_result())).unwrap()
    );
}

#[test]
fn main_program_wins_over_a_single_executable_only_when_present() {
    let mut result = hello_result();
    result.executables = vec!["a".into(), "b".into()];
    assert_eq!(default_program(&result), None);
    result.main_program = Some("b".into());
    assert_eq!(default_program(&result), Some("b"));
    result.main_program = Some("missing".into());
    assert_eq!(default_program(&result), None);
}

#[test]
fn rfc3339_times() {
    assert_eq!(chrono_like_rfc3339(1), "1970-01-01T00:00:01Z");
    assert_eq!(chrono_like_rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(chrono_like_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
}
