//! Snapshot tests of the planned LLB, rendered as readable JSON (src/plan/snapshots/).

use super::*;
use bollard_buildkit_proto::pb;

use crate::builder::contract::scripts;
use crate::buildkit::llb::{self, Meta, Output};
use crate::dockerui::options::{Options, Platform};
use crate::dockerui::spec::Spec;
use crate::nix::closure::{self, Limits, StorePath};
use crate::nix::facts::RootPackage;

const HELLO: &str = "/nix/store/8rdhvmrp4a21j859nhvq50qvgwx6lf9l-hello-1.0";
const BUSYBOX: &str = "/nix/store/4wyqq71kp9g4lz3dhpmy0d35kk63qb30-busybox-static";

fn spec(pairs: &[(&str, &str)], text: &str) -> Spec {
    let options = Options::from_pairs(pairs);
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
        work: String::new(),
        packages: Vec::new(),
        closure: closure::parse(manifest.as_bytes(), &results, &Limits::default()).unwrap(),
        main: RootPackage {
            path: results[0].clone(),
            info: config::DerivationInfo::default(),
        },
        others: Vec::new(),
        results,
        root_links: vec![RootLink { name: "bin".into() }],
        executables: vec!["hello".into()],
        ca_bundle: None,
        tz_dir: None,
        collisions: Vec::new(),
    }
}

fn effective(spec: &Spec, result: &BuildResult) -> config::Effective {
    config::effective(spec, result, &config::PackageImageConfig::default())
}

fn stage(spec: &Spec, result: &BuildResult, use_merge: bool) -> Output {
    let built = build_stage(spec, &builder(), context().into(), None);
    image_stage(
        spec,
        result,
        &Trees::SingleStep(built),
        use_merge,
        &effective(spec, result),
        &config::made_directories(&effective(spec, result)).unwrap(),
        None,
    )
}

fn config_json(spec: &Spec, result: &BuildResult) -> String {
    serde_json::to_string_pretty(&image_config(spec, &effective(spec, result))).unwrap()
}

fn render(output: &Output) -> String {
    serde_json::to_string_pretty(&llb::definition_to_json(&llb::definition(output))).unwrap()
}

#[test]
fn build_stage_passes_user_values_as_environment_only() {
    let spec = spec(
        &[
            ("filename", "default.nix"),
            ("target", "\"hello; rm -rf /\""),
        ],
        "",
    );
    let out = build_stage(&spec, &builder(), context().into(), None);
    let rendered = render(&out);
    // The attribute (a name with spaces in Nix's quotes) is one environment entry, never part
    // of the script or argv.
    assert!(
        rendered.contains(r#""NF_ATTR=\"hello; rm -rf /\"""#),
        "{rendered}"
    );
    assert!(!scripts::BUILDER.text.contains("hello; rm"));
    insta::assert_snapshot!("build_stage", rendered);
}

#[test]
fn image_stage_one_layer_per_path_then_links() {
    let spec = spec(&[("filename", "default.nix")], "");
    let image = stage(&spec, &hello_result(), true);
    insta::assert_snapshot!("image_stage", render(&image));
}

#[test]
fn image_stage_without_merge_op_chains_copies() {
    let spec = spec(&[("filename", "default.nix")], "");
    let image = stage(&spec, &hello_result(), false);
    let json = llb::definition_to_json(&llb::definition(&image));
    let vertices = json.as_array().unwrap();
    assert!(vertices.iter().all(|v| v.get("merge").is_none()));
    // The copies of the image: FileOps whose copies read the Nix stage's output (a store
    // path's layer first makes /nix/store).
    let layers: Vec<&serde_json::Value> = vertices
        .iter()
        .filter(|v| {
            v["file"]
                .as_array()
                .is_some_and(|actions| actions.iter().any(|a| a.get("copy").is_some()))
        })
        .collect();
    let first_input = |layer: &serde_json::Value| {
        let action = &layer["file"][0];
        action
            .get("copy")
            .or_else(|| action.get("mkdir"))
            .map(|a| a["input"].clone())
    };
    // busybox, hello, the root links: each copied onto the one before.
    assert_eq!(layers.len(), 3);
    assert_eq!(
        first_input(layers[0]),
        Some((-1).into()),
        "the first is on scratch"
    );
    for pair in layers.windows(2) {
        let below = format!("#{}:0", pair[0]["vertex"]);
        assert_eq!(pair[1]["inputs"][0], below.as_str(), "{:#}", pair[1]);
        assert_eq!(first_input(pair[1]), Some(0.into()));
    }
    // The image is the last copy.
    let last = vertices.last().unwrap();
    assert_eq!(last["terminal"], true);
    assert_eq!(
        last["inputs"][0],
        format!("#{}:0", layers[2]["vertex"]).as_str()
    );
}

/// The digest of the vertex that copies `path`, in `definition`.
fn layer_digest(definition: &pb::Definition, path: &str) -> Option<String> {
    let tree = StorePath::parse(path).unwrap().to_string();
    definition.def.iter().find_map(|bytes| {
        let op = <pb::Op as prost::Message>::decode(bytes.as_slice()).ok()?;
        match op.op? {
            pb::op::Op::File(file) => file.actions.iter().any(
                |a| matches!(&a.action, Some(pb::file_action::Action::Copy(c)) if c.src == tree),
            ),
            _ => false,
        }
        .then(|| llb::sha256_digest(bytes))
    })
}

#[test]
fn equal_paths_give_equal_layer_vertices_in_different_images() {
    // A leaf change: the same Nix stage reports a new hello on the same busybox.
    const HELLO_2: &str = "/nix/store/9sdhvmrp4a21j859nhvq50qvgwx6lf9l-hello-1.1";
    let spec = spec(&[("filename", "default.nix")], "");
    let first = hello_result();
    let manifest = format!(
        r#"{{"{HELLO_2}":{{"narSize":1000,"references":["{BUSYBOX}"]}},"{BUSYBOX}":{{"narSize":2000000,"references":[]}}}}"#
    );
    let results = vec![StorePath::parse(HELLO_2).unwrap()];
    let second = BuildResult {
        work: String::new(),
        closure: closure::parse(manifest.as_bytes(), &results, &Limits::default()).unwrap(),
        main: RootPackage {
            path: results[0].clone(),
            info: config::DerivationInfo::default(),
        },
        results,
        ..hello_result()
    };
    let a = llb::definition(&stage(&spec, &first, true));
    let b = llb::definition(&stage(&spec, &second, true));
    assert_ne!(a.def, b.def, "two different images");
    let busybox_a = layer_digest(&a, BUSYBOX).unwrap();
    assert_eq!(Some(busybox_a), layer_digest(&b, BUSYBOX));
    assert!(layer_digest(&b, HELLO).is_none());
    assert_ne!(layer_digest(&a, HELLO), layer_digest(&b, HELLO_2));
}

#[test]
fn image_config_defaults_and_overrides() {
    let spec_nix = spec(&[("filename", "default.nix")], "");
    insta::assert_snapshot!(
        "image_config_default",
        config_json(&spec_nix, &hello_result())
    );
    let spec_df = spec(
        &[("label:from-cli", "yes"), ("build-arg:SOURCE_DATE_EPOCH", "1700000000")],
        "ENTRYPOINT [\"hello\", \"--greeting\", \"hi\"]\nCMD [\"world\"]\nENV PATH=/custom LANG=C.UTF-8\nLABEL a=b\n",
    );
    insta::assert_snapshot!(
        "image_config_dockerfile",
        config_json(&spec_df, &hello_result())
    );
}

#[test]
fn main_program_wins_over_a_single_executable_only_when_present() {
    let mut result = hello_result();
    result.executables = vec!["a".into(), "b".into()];
    assert_eq!(default_program(&result), None);
    result.main.info.main_program = Some("b".into());
    assert_eq!(default_program(&result), Some("b"));
    result.main.info.main_program = Some("missing".into());
    assert_eq!(default_program(&result), None);
}

#[test]
fn dialect_settings_reach_the_config_and_the_settings_layer() {
    let spec = spec(
        &[("build-arg:PORT", "9090")],
        "ARG PORT=8080\nEXPOSE $PORT 53/udp\nUSER app\nWORKDIR /data\nVOLUME /data/cache\nSTOPSIGNAL SIGINT\nHEALTHCHECK --interval=30s --retries=3 CMD [\"hello\", \"--check\"]\n",
    );
    let json: serde_json::Value =
        serde_json::from_str(&config_json(&spec, &hello_result())).unwrap();
    let config = &json["config"];
    assert_eq!(
        config["ExposedPorts"],
        serde_json::json!({"9090/tcp": {}, "53/udp": {}})
    );
    assert_eq!(config["User"], "app");
    assert_eq!(config["WorkingDir"], "/data");
    assert_eq!(config["Volumes"], serde_json::json!({"/data/cache": {}}));
    assert_eq!(config["StopSignal"], "SIGINT");
    assert_eq!(
        config["Healthcheck"]["Test"],
        serde_json::json!(["CMD", "hello", "--check"])
    );
    assert_eq!(config["Healthcheck"]["Interval"], 30_000_000_000u64);
    assert_eq!(config["Healthcheck"]["Retries"], 3);
    let rendered = render(&stage(&spec, &hello_result(), true));
    assert!(
        rendered.contains(
            "USER app: /etc/passwd, /etc/group, /tmp; directories /data (1000:1000 755), /data/cache (1000:1000 755)"
        ),
        "{rendered}"
    );
    // USER owns WORKDIR and VOLUME as made, and the copy keeps it.
    assert!(rendered.contains("\"owner\": \"1000:1000\",\n          \"path\": \"/data\""));
    assert!(rendered.contains("\"owner\": \"1000:1000\",\n          \"path\": \"/data/cache\""));
    assert!(rendered.contains("\"path\": \"/etc/passwd\""));
    assert!(rendered.contains("\"src\": \"/.nix-frontend/tmp\""));
}

#[test]
fn package_image_config_sits_between_the_result_and_the_dockerfile() {
    let mut result = hello_result();
    result.main.info = config::DerivationInfo {
        pname: Some("hello".into()),
        version: Some("1.0".into()),
        ..Default::default()
    };
    let package = config::PackageImageConfig::parse(
        r#"{"Env":{"MODE":"package","KEEP":"yes"},"User":"1000","Labels":{"org.opencontainers.image.version":"from-package"}}"#,
    )
    .unwrap();
    let spec = spec(&[("label:cli", "x")], "ENV MODE=dockerfile\n");
    let e = config::effective(&spec, &result, &package);
    assert!(e.env.contains(&("MODE".into(), "dockerfile".into())));
    assert!(e.env.contains(&("KEEP".into(), "yes".into())));
    assert_eq!(e.user.as_deref(), Some("1000"));
    assert_eq!(e.labels["org.opencontainers.image.version"], "from-package");
    assert_eq!(e.labels["org.opencontainers.image.title"], "hello");
    assert_eq!(e.labels["cli"], "x");
}

#[test]
fn the_image_config_names_the_platform_variant_only_when_there_is_one() {
    let amd64 = spec(&[("filename", "default.nix")], "");
    let json = image_config(&amd64, &effective(&amd64, &hello_result()));
    assert!(json.get("variant").is_none());
    let arm = spec(
        &[("filename", "default.nix"), ("platform", "linux/arm/v7")],
        "",
    );
    let json = image_config(&arm, &effective(&arm, &hello_result()));
    assert_eq!(
        (&json["architecture"], &json["variant"]),
        (&serde_json::json!("arm"), &serde_json::json!("v7"))
    );
}

#[test]
fn named_contexts_are_mounted_read_only_and_named_in_the_environment_only() {
    let spec = spec(
        &[
            ("filename", "default.nix"),
            ("context:nixpkgs", "local:nixpkgs"),
            ("context:base", "docker-image://alpine"),
        ],
        "",
    );
    let named: Vec<&str> = spec
        .named_contexts
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(named, ["base", "nixpkgs"]);
    let sources = Sources {
        context: context(),
        named: vec![context(), context()],
    };
    for out in [
        build_stage(&spec, &builder(), sources.clone(), None),
        graph::eval_stage(&spec, &builder(), sources.clone(), Vec::new(), None),
    ] {
        let rendered = render(&out);
        for needle in [
            "\"NF_CONTEXT_COUNT=2\"",
            "\"NF_CONTEXT_0=base\"",
            "\"NF_CONTEXT_1=nixpkgs\"",
            "\"/nf-contexts/0\"",
            "\"/nf-contexts/1\"",
        ] {
            assert!(rendered.contains(needle), "{needle} missing");
        }
    }
    let plain = render(&build_stage(
        &self::spec(&[("filename", "default.nix")], ""),
        &builder(),
        context().into(),
        None,
    ));
    assert!(
        !plain.contains("NF_CONTEXT"),
        "no change to other builds' keys"
    );
}

#[test]
fn nix_runs_natively_unless_the_whole_builder_must_be_emulated() {
    let p = |text: &str| Platform::parse(text).unwrap();
    let amd64 = p("linux/amd64");
    let runnable = [p("linux/amd64"), p("linux/amd64/v2"), p("linux/arm64")];
    let for_platform = |platform: &str, emulate: Option<&str>| {
        let mut pairs = vec![("filename", "default.nix"), ("platform", platform)];
        if let Some(mode) = emulate {
            pairs.push(("build-arg:NIX_EMULATE", mode));
        }
        let spec = spec(&pairs, "");
        nix_platform(&spec, &amd64, &runnable)
    };
    assert_eq!(for_platform("linux/amd64", None), Ok(p("linux/amd64")));
    // arm64: Nix natively, its builds emulated; or all of the builder emulated.
    assert_eq!(for_platform("linux/arm64", None), Ok(p("linux/amd64")));
    assert_eq!(
        for_platform("linux/arm64", Some("all")),
        Ok(p("linux/arm64"))
    );
    // 32-bit x86 runs on the x86-64 CPU without an emulator.
    assert_eq!(for_platform("linux/386", None), Ok(p("linux/amd64")));
    // arm/v7 needs an emulator this worker lacks: said with what to install.
    let err = for_platform("linux/arm/v7", None).unwrap_err();
    assert!(
        err.contains("this linux/amd64 builder cannot run linux/arm/v7 programs")
            && err.contains("tonistiigi/binfmt --install arm"),
        "{err}"
    );
    let mut arm = spec(
        &[("filename", "default.nix"), ("platform", "linux/arm64")],
        "",
    );
    arm.nix_platform = amd64.clone();
    assert_eq!(host_system(&arm), Some("x86_64-linux"));
    assert!(step::emulates_target(&arm));
    assert!(builder_env(&arm, &builder()).contains(&"NF_HOST_SYSTEM=x86_64-linux".to_string()));
    assert_eq!(
        build_step_name(&arm),
        "nix-build default.nix (on linux/amd64)"
    );
}

#[test]
fn ssl_cert_file_and_tzdir_come_from_the_packages_unless_the_user_sets_them() {
    let mut result = hello_result();
    result.ca_bundle = Some(format!("{BUSYBOX}/etc/ssl/certs/ca-bundle.crt"));
    result.tz_dir = Some(format!("{BUSYBOX}/share/zoneinfo"));
    let plain = spec(&[("filename", "Dockerfile")], "");
    let e = effective(&plain, &result);
    assert_eq!(
        e.env,
        [
            ("PATH".to_string(), "/bin".to_string()),
            (
                "SSL_CERT_FILE".to_string(),
                format!("{BUSYBOX}/etc/ssl/certs/ca-bundle.crt")
            ),
            ("TZDIR".to_string(), format!("{BUSYBOX}/share/zoneinfo")),
        ]
    );
    let set = spec(&[("filename", "Dockerfile")], "ENV TZDIR=/zones\n");
    let e = effective(&set, &result);
    assert!(e.env.contains(&("TZDIR".into(), "/zones".into())));
    assert_eq!(e.env.iter().filter(|(k, _)| k == "TZDIR").count(), 1);
}

#[test]
fn several_packages_label_the_image_with_every_license_and_the_first_ones_name() {
    let mut result = hello_result();
    result.main.info = config::DerivationInfo {
        pname: Some("hello".into()),
        license: Some("MIT".into()),
        ..Default::default()
    };
    let e = effective(&spec(&[("filename", "default.nix")], ""), &result);
    assert_eq!(e.labels["org.opencontainers.image.licenses"], "MIT");
    result.others = vec![
        RootPackage {
            path: StorePath::parse(BUSYBOX).unwrap(),
            info: config::DerivationInfo {
                pname: Some("busybox".into()),
                license: Some("GPL-2.0-only AND MIT".into()),
                ..Default::default()
            },
        },
        RootPackage {
            path: StorePath::parse("/nix/store/0c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-tzdata").unwrap(),
            info: config::DerivationInfo::default(),
        },
    ];
    let spec = spec(&[("filename", "default.nix")], "");
    let e = effective(&spec, &result);
    assert_eq!(e.labels["org.opencontainers.image.title"], "hello");
    assert_eq!(
        e.labels["org.opencontainers.image.licenses"],
        "MIT AND GPL-2.0-only"
    );
    assert_eq!(e.entrypoint, Some(vec![format!("{HELLO}/bin/hello")]));
    let rendered = render(&stage(&spec, &result, true));
    assert!(
        rendered.contains("links /{bin} into 3 packages"),
        "{rendered}"
    );
}

#[test]
fn only_steps_that_build_offline_run_without_the_network() {
    let path = |name: &str| StorePath::parse(&format!("/nix/store/{name}")).unwrap();
    let group = |id: &str, members: Vec<StorePath>, substitute: bool| crate::nix::drvgraph::Group {
        id: id.into(),
        roots: members.iter().map(|m| m.to_string()).collect(),
        members,
        upstream: vec![],
        derivation_closure: vec![],
        registered: vec![],
        substitute,
        is_final: false,
    };
    let app = path("0c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-app.drv");
    let source = path("1c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-src.tar.gz.drv");
    let unread = path("2c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-big.drv");
    let fetched = path("3c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-lib");
    let mut graph = crate::nix::drvgraph::Graph {
        groups: vec![
            group("app", vec![app.clone()], false),
            group("src", vec![source.clone(), app.clone()], false),
            group("big", vec![unread, app.clone()], false),
            group("lib", vec![fetched], true),
        ],
        records: Default::default(),
        fetch_records: Default::default(),
        nar_files: Default::default(),
    };
    graph.groups[0].is_final = true;
    let mut inputs = crate::nix::inline_inputs::InlineInputs::default();
    inputs.derivations.insert(
        app,
        br#"Derive([("out","/nix/store/4c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-app","","")],[],[],"x86_64-linux","b",[],[])"#.to_vec(),
    );
    inputs.derivations.insert(
        source,
        br#"Derive([("out","/nix/store/5c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-src.tar.gz","sha256","0f3e")],[],[],"x86_64-linux","builtin:fetchurl",[],[])"#.to_vec(),
    );
    // Each step's (network, whether NF_OFFLINE is set, whether netrc and SSH are mounted), in
    // the graph's order.
    let networks = |spec: &Spec| -> Vec<(i64, bool, bool)> {
        graph::group_stages(spec, &builder(), &graph, &inputs, &context(), None, &[])
            .iter()
            .map(|step| {
                let json = llb::definition_to_json(&llb::definition(&step.out));
                let exec = json
                    .as_array()
                    .unwrap()
                    .iter()
                    .rev()
                    .find_map(|v| v.get("exec"))
                    .unwrap()
                    .clone();
                let offline = exec["env"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|v| v == "NF_OFFLINE=1");
                let mounts = exec["mounts"].as_array().unwrap();
                let credentials = mounts.iter().any(|m| m.get("secret").is_some())
                    && mounts.iter().any(|m| m.get("ssh").is_some());
                (exec["network"].as_i64().unwrap(), offline, credentials)
            })
            .collect()
    };
    let (unset, host, none) = (
        pb::NetMode::Unset as i64,
        pb::NetMode::Host as i64,
        pb::NetMode::None as i64,
    );
    // Only the input-addressed build goes offline, without credentials; a fetch, an unread .drv
    // and a substitution keep BuildKit's default.
    let default = spec(&[("filename", "default.nix")], "");
    assert_eq!(
        networks(&default),
        [
            (none, true, false),
            (unset, false, true),
            (unset, false, true),
            (unset, false, true)
        ]
    );
    // --network host: every step has the host's, as asked.
    let on_host = spec(
        &[("filename", "default.nix"), ("force-network-mode", "host")],
        "",
    );
    assert_eq!(networks(&on_host), [(host, false, true); 4]);
    // --network none: no step has one; the builds ask no binary cache, the substitution still
    // tries (and says why it cannot).
    let no_network = spec(
        &[("filename", "default.nix"), ("force-network-mode", "none")],
        "",
    );
    assert_eq!(
        networks(&no_network),
        [
            (none, true, false),
            (none, true, false),
            (none, true, false),
            (none, false, false)
        ]
    );
}

#[test]
fn a_substitution_from_downloaded_files_runs_offline_over_their_checksums() {
    let lib = StorePath::parse("/nix/store/3c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-lib").unwrap();
    let unsigned = StorePath::parse("/nix/store/4c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-raw").unwrap();
    let info = |signatures: serde_json::Value| {
        serde_json::json!({
            "url": "nar/a.nar.xz", "compression": "xz", "signatures": signatures,
            "downloadHash": "sha256-zXBBtlUs4SBjNLuNm7a1RCcQh7xD6BrPpN6KhkzzfSY=",
            "narHash": "sha256-EFUdrtf6Rn0LWIJufrmg8q99aT3jGfLvd1//zaJEufY=",
            "narSize": 120, "references": [],
        })
    };
    let answer = serde_json::json!({
        lib.to_string(): info(serde_json::json!(["k-1:c2ln"])),
        unsigned.to_string(): info(serde_json::json!([])),
    });
    let fetched = crate::nix::drvgraph::parse_fetch_info(
        &[("https://cache.example.org/".into(), answer.to_string())],
        &[lib.clone(), unsigned.clone()].into(),
    )
    .unwrap();
    assert_eq!(
        fetched.nar_files.len(),
        1,
        "the unsigned path is Nix's to fetch"
    );
    let piece = |id: &str, member: &StorePath| crate::nix::drvgraph::Group {
        id: id.into(),
        roots: vec![member.to_string()],
        members: vec![member.clone()],
        upstream: vec![],
        derivation_closure: vec![],
        registered: vec![],
        substitute: true,
        is_final: false,
    };
    let graph = crate::nix::drvgraph::Graph {
        groups: vec![piece("lib", &lib), piece("raw", &unsigned)],
        records: Default::default(),
        fetch_records: fetched.records,
        nar_files: fetched.nar_files,
    };
    let steps = graph::group_stages(
        &spec(&[("filename", "default.nix")], ""),
        &builder(),
        &graph,
        &Default::default(),
        &context(),
        None,
        &[],
    );
    let json = |output: &Output| llb::definition_to_json(&llb::definition(output));
    let exec_of = |output: &Output| {
        json(output)
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find_map(|v| v.get("exec").cloned())
            .unwrap()
    };
    // Downloaded: no network, Nix told to use the local cache, the file mounted by its hash.
    let (downloaded, fetched_by_nix) = (exec_of(&steps[0].out), exec_of(&steps[1].out));
    assert_eq!(
        downloaded["network"].as_i64(),
        Some(pb::NetMode::None as i64)
    );
    let env = downloaded["env"].to_string();
    assert!(
        env.contains("NF_NAR_CACHE=1") && !env.contains("NF_OFFLINE"),
        "{env}"
    );
    let hex = "cd7041b6552ce1206334bb8d9bb6b544271087bc43e81acfa4de8a864cf37d26";
    assert!(
        downloaded["mounts"]
            .to_string()
            .contains(&format!("/nf/nar-cache/nar/{hex}")),
        "{}",
        downloaded["mounts"]
    );
    let rendered = json(&steps[0].out).to_string();
    assert!(
        rendered.contains("https://cache.example.org/nar/a.nar.xz"),
        "{rendered}"
    );
    assert!(rendered.contains(&format!("sha256:{hex}")), "{rendered}");
    assert!(rendered.contains("download lib"), "{rendered}");
    assert!(
        rendered.contains("/nf/nar-cache/3c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4.narinfo"),
        "{rendered}"
    );
    // Not downloaded: Nix fetches it itself, with the network.
    let env = fetched_by_nix["env"].to_string();
    assert!(
        !env.contains("NF_NAR_CACHE") && !env.contains("NF_OFFLINE"),
        "{env}"
    );
    assert_eq!(
        fetched_by_nix["network"].as_i64(),
        Some(pb::NetMode::Unset as i64)
    );
}
