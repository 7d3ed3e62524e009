use crate::buildkit::fake_gateway::{entry, environment, FakeGateway, Tree};
use crate::buildkit::gateway::{MODE_DIR, MODE_SYMLINK};
use crate::buildkit::result::Built;
use crate::dockerui::options::Options;
use crate::error::UserError;
use crate::pipeline::frontend::build;

const BUSYBOX: &str = "/nix/store/4wyqq71kp9g4lz3dhpmy0d35kk63qb30-busybox-static";
const DEP_DRV: &str = "/nix/store/niv1nxk8hbjdx1pq5kiqxhwi86vfd2dh-expensive-dep-1.0.drv";
const APP_DRV: &str = "/nix/store/1bl67hf2wwxc62cma5v79haljhysc17y-app-1.0.drv";
const DEP: &str = "/nix/store/d49g8ixfsf79ydjy0qwl3cgfhfcf53ja-expensive-dep-1.0";
const APP: &str = "/nix/store/dirm4ad3r1rdnvd63cmffyibp09h7kap-app-1.0";

/// Solves of a graph build: the build file, two .dockerignore probes, the evaluation, each
/// step for its ref (made together, in build order), the builder image, the image.
const EVAL: &str = "evaluate default.nix -A app";
const DEP_STEP: &str = "build expensive-dep-1.0";
const APP_STEP: &str = "build app-1.0";
/// Which of the definitions solved (in order) is the final step's: the first that holds
/// the step marked final (the image's, solved later, holds it too).
fn final_solve(g: &FakeGateway) -> usize {
    let marker = format!("{}=1", crate::builder::contract::vars::FINAL);
    g.definitions()
        .iter()
        .position(|d| {
            crate::buildkit::llb::definition_to_json(d)
                .to_string()
                .contains(&marker)
        })
        .expect("a solve of the final step")
}

fn base(path: &str) -> String {
    path["/nix/store/".len()..].to_string()
}

fn record(path: &str, refs: &[&str]) -> String {
    let mut text = format!("{path}\nsha256:00\n100\n\n{}\n", refs.len());
    for r in refs {
        text.push_str(r);
        text.push('\n');
    }
    text
}

/// A record whose hash and size are those of `nar`.
fn record_of(path: &str, nar: &[u8], refs: &[&str]) -> String {
    use sha2::Digest;
    let hash: String = sha2::Sha256::digest(nar)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let text = record(path, refs);
    text.replacen("sha256:00\n100\n", &format!("{hash}\n{}\n", nar.len()), 1)
}

const DEP_DRV_TEXT: &str = "Derive([(\"out\",\"dep\")])";
const APP_DRV_TEXT: &str = "Derive([(\"out\",\"app\")])";
const BUSYBOX_NAR: &[u8] = b"a NAR of busybox";

fn evaluation(tree: &mut Tree) {
    let drv_nar = |text: &str| crate::nix::inline_inputs::regular_file_nar(text.as_bytes());
    let records = record_of(BUSYBOX, BUSYBOX_NAR, &[])
        + &record_of(DEP_DRV, &drv_nar(DEP_DRV_TEXT), &[BUSYBOX])
        + &record_of(APP_DRV, &drv_nar(APP_DRV_TEXT), &[BUSYBOX, DEP_DRV]);
    tree.file(DEP_DRV, DEP_DRV_TEXT)
        .file(APP_DRV, APP_DRV_TEXT)
        .file(
            "/.nix-frontend/drv-sizes",
            format!(
                "{} {DEP_DRV}\n{} {APP_DRV}\n{} total\n",
                DEP_DRV_TEXT.len(),
                APP_DRV_TEXT.len(),
                DEP_DRV_TEXT.len() + APP_DRV_TEXT.len()
            ),
        )
        .file(
            "/.nix-frontend/drv-files",
            format!("{DEP_DRV_TEXT}{APP_DRV_TEXT}"),
        )
        .file(
            &format!("/.nix-frontend/nar/{}", base(BUSYBOX)),
            BUSYBOX_NAR,
        )
        .file("/.nix-frontend/status", "ok\n")
        .file("/.nix-frontend/roots", format!("{APP_DRV}!out\n"))
        .file("/.nix-frontend/records", records)
        .file(
            "/.nix-frontend/dry-run",
            format!("these 2 derivations will be built:\n  {DEP_DRV}\n  {APP_DRV}\n"),
        )
        .dir("/nix/store", vec![entry(&base(BUSYBOX), MODE_DIR, "")]);
}

fn step(tree: &mut Tree, id: &str, paths: &[&str]) {
    tree.file(&format!("/nf/status/{id}"), "ok\n")
        .file(&format!("/nf/ran-at/{id}"), "10")
        .dir(
            "/nix/store",
            paths
                .iter()
                .map(|p| entry(&base(p), MODE_DIR, ""))
                .collect(),
        );
}

fn good() -> FakeGateway {
    let mut g = FakeGateway::default();
    g.tree("load build definition from default.nix")
        .file("default.nix", "# syntax=org/nix-frontend\n{ app = ...; }");
    evaluation(g.tree(EVAL));
    step(g.tree(DEP_STEP), &base(DEP_DRV), &[DEP]);
    step(g.tree(APP_STEP), &base(APP_DRV), &[APP]);
    g.tree(APP_STEP)
        .file("/nf/result/results", format!("{APP}\n"))
        .file(
            "/nf/result/made-by",
            format!("/nf/new/{}:{DEP}\n", base(DEP_DRV)),
        )
        .file("/nf/result/profile-roots", format!("{APP}\n"))
        .file(
            "/nf/result/closure.json",
            format!(r#"{{"{APP}":{{"narSize":100,"references":["{BUSYBOX}","{DEP}"]}},"{DEP}":{{"narSize":4000,"references":[]}},"{BUSYBOX}":{{"narSize":2000,"references":[]}}}}"#),
        )
        .dir("/nf/result/tmp", vec![])
        .dir(
            "/nf/result/root",
            vec![entry("bin", MODE_SYMLINK | 0o777, &format!("{APP}/bin"))],
        )
        .dir(&format!("{APP}/bin"), vec![entry("app", 0o555, "")]);
    g
}

/// Builds `-f default.nix --target app` in graph mode; the frontend started at `started_at`.
fn run_at(g: &mut FakeGateway, started_at: i64) -> Result<Built, UserError> {
    let options = Options::from_pairs(&[("filename", "default.nix"), ("target", "app")]);
    let env = environment(started_at);
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(build(g, &options, &env))
}

fn run(g: &mut FakeGateway) -> Result<Built, UserError> {
    run_at(g, 0)
}

/// A good build with these options: the exec of each step by name (a step's own cache key)
/// and the warnings.
fn execs_by_step(
    pairs: &[(&str, &str)],
) -> (std::collections::BTreeMap<String, String>, Vec<String>) {
    let g = good();
    let options = Options::from_pairs(pairs);
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(build(&g, &options, &environment(0)))
        .unwrap();
    let mut execs = std::collections::BTreeMap::new();
    for definition in g.definitions() {
        let json = crate::buildkit::llb::definition_to_json(&definition);
        for vertex in json.as_array().unwrap() {
            if let (Some(name), Some(exec)) = (vertex["name"].as_str(), vertex.get("exec")) {
                execs.insert(name.to_string(), exec.to_string());
            }
        }
    }
    (execs, g.warnings())
}

const EVAL_TWO: &str = "evaluate default.nix -A app -A dep";
const FINAL_TWO: &str = "build app-1.0 and 1 more";

/// `--target "app dep"`: two packages, both built in the final step, whose root merges their
/// `bin/` (and has dep's `share/`).
fn good_two() -> FakeGateway {
    let mut g = FakeGateway::default();
    g.tree("load build definition from default.nix")
        .file("default.nix", "# syntax=org/nix-frontend\n{ app = ...; }");
    evaluation(g.tree(EVAL_TWO));
    g.tree(EVAL_TWO)
        .file(
            "/.nix-frontend/roots",
            format!("{APP_DRV}!out\n{DEP_DRV}!out\n"),
        )
        .file(
            "/.nix-frontend/info.json",
            r#"{"pname":"app","license":"MIT","mainProgram":"app"}"#,
        )
        .file(
            "/.nix-frontend/info-1.json",
            r#"{"pname":"dep","license":"GPL-2.0-only AND MIT"}"#,
        );
    step(g.tree(FINAL_TWO), &base(APP_DRV), &[APP, DEP]);
    g.tree(FINAL_TWO)
        .file("/nf/result/results", format!("{APP}\n{DEP}\n"))
        .file("/nf/result/made-by", "")
        .file("/nf/result/profile-roots", format!("{APP}\n{DEP}\n"))
        .file(
            "/nf/result/closure.json",
            format!(r#"{{"{APP}":{{"narSize":100,"references":["{BUSYBOX}","{DEP}"]}},"{DEP}":{{"narSize":4000,"references":[]}},"{BUSYBOX}":{{"narSize":2000,"references":[]}}}}"#),
        )
        .dir("/nf/result/tmp", vec![])
        .dir(
            "/nf/result/root",
            vec![
                entry("bin", MODE_DIR | 0o755, ""),
                entry("share", MODE_SYMLINK | 0o777, &format!("{DEP}/share")),
            ],
        )
        .dir(
            "/nf/result/root/bin",
            vec![
                entry("app", MODE_SYMLINK | 0o777, &format!("{APP}/bin/app")),
                entry("dep", MODE_SYMLINK | 0o777, &format!("{DEP}/bin/dep")),
            ],
        )
        .dir(&format!("{APP}/bin"), vec![entry("app", 0o555, "")])
        .dir(&format!("{DEP}/share"), vec![entry("zoneinfo", MODE_DIR, "")]);
    g
}

fn run_two(g: &FakeGateway, pairs: &[(&str, &str)]) -> Result<Built, UserError> {
    let mut options = vec![("filename", "default.nix"), ("target", "app dep")];
    options.extend_from_slice(pairs);
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(build(g, &Options::from_pairs(&options), &environment(0)))
}

#[test]
fn several_attributes_make_one_image_of_every_package() {
    let g = good_two();
    let built = run_two(&g, &[("build-arg:NIX_COLLISIONS", "first")]).unwrap();
    let config = &built.images[0].config["config"];
    // The first attribute's program, its labels with the licenses of both.
    assert_eq!(config["Entrypoint"][0], format!("{APP}/bin/app"));
    assert_eq!(config["Labels"]["org.opencontainers.image.title"], "app");
    assert_eq!(
        config["Labels"]["org.opencontainers.image.licenses"],
        "MIT AND GPL-2.0-only"
    );
    let env: Vec<&str> = config["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(
        env,
        [
            "PATH=/bin".to_string(),
            format!("TZDIR={DEP}/share/zoneinfo")
        ]
    );
    // Every attribute reaches the evaluation; the collision rule only the final step.
    let definitions = g.definitions();
    let steps = crate::buildkit::llb::definition_to_json(&definitions[final_solve(&g)]).to_string();
    assert!(steps.contains("NF_COLLISIONS=first"), "{steps}");
    assert!(steps.contains("NF_ATTR_COUNT=2"), "{steps}");
    assert!(definitions
        .iter()
        .any(|d| crate::buildkit::llb::definition_to_json(d)
            .to_string()
            .contains("NF_ATTR_1=dep")));
    // The build steps realise store paths: no attribute names in their keys.
    assert!(!steps.contains("NF_ATTR_1=dep"), "{steps}");
    let image = crate::buildkit::llb::definition_to_json(definitions.last().unwrap()).to_string();
    assert!(
        image.contains("links /{bin,share} into 2 packages"),
        "{image}"
    );
    assert!(image.contains("/nf/result/root"), "{image}");
}

#[test]
fn colliding_packages_stop_the_build_naming_both() {
    let mut g = good_two();
    g.tree(FINAL_TWO)
        .file(&format!("/nf/status/{}", base(APP_DRV)), "collision\n")
        .file(
            &format!("/nf/log/{}", base(APP_DRV)),
            format!("{APP} {DEP} bin/sh\n"),
        );
    let err = run_two(&g, &[]).unwrap_err();
    assert!(
        err.message
            .contains(&format!("bin/sh is in both {APP} and {DEP}")),
        "{err}"
    );
    assert!(
        err.message
            .contains("the packages of attributes \"app\", \"dep\" of default.nix collide"),
        "{err}"
    );
    // A wrong number of packages for the attributes is refused.
    let mut g = good_two();
    g.tree(FINAL_TWO)
        .file("/nf/result/profile-roots", format!("{APP}\n"));
    let err = run_two(&g, &[]).unwrap_err();
    assert!(err.message.contains("1 packages for 2 attributes"), "{err}");
}

#[test]
fn pushing_to_a_nix_cache_adds_push_steps_and_changes_no_build_step() {
    let (plain, _) = execs_by_step(&[("filename", "default.nix"), ("target", "app")]);
    let (pushing, warnings) = execs_by_step(&[
        ("filename", "default.nix"),
        ("target", "app"),
        ("build-arg:NIX_CACHE_PUSH", "https://cache.example"),
    ]);
    for step in ["build expensive-dep-1.0", "build app-1.0"] {
        assert_eq!(plain[step], pushing[step], "{step}");
    }
    for step in ["expensive-dep-1.0", "app-1.0"] {
        let push = &pushing[&format!("push {step} to the Nix cache")];
        assert!(
            push.contains("NF_CACHE_PUSH=https://cache.example"),
            "{push}"
        );
        assert!(push.contains("nix-cache-key"), "{push}");
        assert!(!plain.contains_key(&format!("push {step} to the Nix cache")));
    }
    // The fake's push steps report no status: each is a warning, never a failed build.
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].starts_with("pushing what \"build expensive-dep-1.0\" built"));
}

#[test]
fn asking_for_an_sbom_changes_the_evaluation_and_no_build_step() {
    // The exec of each step by name: a build step's own cache key (the evaluation is no
    // ancestor of a build step: its .drv files and sources travel in the LLB).
    let execs = |pairs: &[(&str, &str)]| execs_by_step(pairs).0;
    let plain = execs(&[("filename", "default.nix"), ("target", "app")]);
    let sbom = execs(&[
        ("filename", "default.nix"),
        ("target", "app"),
        ("attest:sbom", ""),
    ]);
    let evaluate = "evaluate default.nix -A app";
    assert!(!plain[evaluate].contains("NF_SBOM=1") && sbom[evaluate].contains("NF_SBOM=1"));
    for step in ["build expensive-dep-1.0", "build app-1.0"] {
        assert_eq!(plain[step], sbom[step], "{step}");
    }
}

fn expect_error(g: &mut FakeGateway, needle: &str) {
    match run(g) {
        Ok(_) => panic!("built despite: {needle}"),
        Err(UserError { message, .. }) => {
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        }
    }
}

/// The names of the vertices of the Nth solve's definition.
fn step_names(g: &FakeGateway, solve: usize) -> Vec<String> {
    let mut names: Vec<String> = g.definitions()[solve]
        .metadata
        .values()
        .filter_map(|m| m.description.get("llb.customname").cloned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_graph_build_takes_each_path_from_the_step_that_made_it() {
    let mut g = good();
    let built = run(&mut g).unwrap();
    assert_eq!(
        built.images[0].config["config"]["Entrypoint"][0],
        format!("{APP}/bin/app")
    );
    // The build file, two .dockerignore probes, the evaluation, the final step (which runs
    // the other), the empty /nix/store (with the steps), the builder image, the image.
    assert_eq!(g.solves(), 8);
    let names = step_names(&g, final_solve(&g));
    // The .drv files and sources are carried in the LLB: the evaluation is no ancestor of
    // any build step, so their keys never depend on BuildKit's content checksums.
    assert!(
        !names.iter().any(|n| n.starts_with("evaluate")),
        "{names:?}"
    );
    for expected in [
        "build expensive-dep-1.0",
        "build app-1.0",
        "derivations for app-1.0",
        "source busybox-static",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} not in {names:?}"
        );
    }
    // The image's layers copy each path out of the step that holds it.
    let image =
        crate::buildkit::llb::definition_to_json(g.definitions().last().unwrap()).to_string();
    for path in [BUSYBOX, DEP, APP] {
        assert!(image.contains(&format!("\"{path}\"")), "{path}");
    }
}

#[test]
fn a_source_that_is_one_file_goes_to_its_store_path_without_a_nar() {
    let mut g = good();
    // busybox as one executable file in the evaluation's store, with no NAR beside it.
    let program: &[u8] = b"\x7fELF a busybox";
    let nar = crate::nix::inline_inputs::file_nar(program, true);
    let drv_nar = |text: &str| crate::nix::inline_inputs::regular_file_nar(text.as_bytes());
    let records = record_of(BUSYBOX, &nar, &[])
        + &record_of(DEP_DRV, &drv_nar(DEP_DRV_TEXT), &[BUSYBOX])
        + &record_of(APP_DRV, &drv_nar(APP_DRV_TEXT), &[BUSYBOX, DEP_DRV]);
    let eval = g.tree(EVAL);
    eval.files
        .remove(&format!("/.nix-frontend/nar/{}", base(BUSYBOX)));
    eval.file(BUSYBOX, program)
        .file("/.nix-frontend/records", records)
        .dir("/nix/store", vec![entry(&base(BUSYBOX), 0o555, "")]);
    run(&mut g).unwrap();
    let steps = crate::buildkit::llb::definition_to_json(&g.definitions()[final_solve(&g)]);
    let text = steps.to_string();
    assert!(
        text.contains(&format!(
            "\"mode\":\"555\",\"output\":0,\"owner\":null,\"path\":\"{BUSYBOX}\""
        )),
        "{text}"
    );
    assert!(!text.contains("/nf/nar"), "{text}");

    // Bytes that are not what the record says are refused, naming the path.
    let mut g = good();
    let eval = g.tree(EVAL);
    eval.files
        .remove(&format!("/.nix-frontend/nar/{}", base(BUSYBOX)));
    eval.file(BUSYBOX, program)
        .dir("/nix/store", vec![entry(&base(BUSYBOX), 0o555, "")]);
    let err = run(&mut g).unwrap_err();
    assert!(err.message.contains(BUSYBOX), "{}", err.message);
}

#[test]
fn reports_over_one_grpc_message_are_read_in_ranges() {
    let mut g = good();
    // The evaluation's records: the same graph after 17 MiB of unrelated source records.
    let mut records = String::new();
    let mut i = 0u32;
    while records.len() < 17 << 20 {
        records.push_str(&record(
            &format!("/nix/store/{i:0>32}-source-{}", "x".repeat(100)),
            &[],
        ));
        i += 1;
    }
    let key = "/.nix-frontend/records";
    let mut tail = String::from_utf8(g.tree(EVAL).files[key].clone()).unwrap();
    records.push_str(&std::mem::take(&mut tail));
    g.tree(EVAL).file(key, records);
    // The final step's closure manifest, padded with JSON whitespace past 16 MiB.
    let key = "/nf/result/closure.json";
    let mut manifest = g.tree(APP_STEP).files[key].clone();
    manifest.resize(20 << 20, b'\n');
    g.tree(APP_STEP).file(key, manifest);
    run(&mut g).unwrap();
}

#[test]
fn a_closure_path_no_step_holds_is_refused() {
    let mut g = good();
    g.tree(APP_STEP).file("/nf/result/made-by", "");
    expect_error(
        &mut g,
        &format!("{DEP} is in the closure but no build step holds it"),
    );
}

#[test]
fn a_failed_step_is_reported_with_its_name_and_nix_text() {
    let mut g = failing_with("error: builder for '/nix/store/x.drv' failed with exit code 1");
    expect_error(&mut g, "failed in step \"build expensive-dep-1.0\"");
    expect_error(&mut good_with_failure(), "failed with exit code 1");
}

/// The dependency's step failed with `log`, so the app's was skipped.
fn failing_with(log: &str) -> FakeGateway {
    let mut g = good();
    g.tree(DEP_STEP)
        .file(&format!("/nf/status/{}", base(DEP_DRV)), "build-failed\n")
        .file(&format!("/nf/log/{}", base(DEP_DRV)), log);
    g.tree(APP_STEP)
        .file(&format!("/nf/status/{}", base(APP_DRV)), "skipped\n");
    g
}

fn good_with_failure() -> FakeGateway {
    failing_with("failed with exit code 1")
}

#[test]
fn the_progress_says_what_ran_in_this_build_and_what_came_from_the_cache() {
    let mut g = good();
    // The dependency's step ran in this build (started at 100), the app's long before; a
    // line naming no step counts for nothing.
    g.tree(APP_STEP).file(
        "/nf/result/ran-at",
        format!(
            "{} 100\n{} 7\nnosuch.drv 100\n",
            base(DEP_DRV),
            base(APP_DRV)
        ),
    );
    run_at(&mut g, 100).unwrap();
    let names = step_names(&g, g.solves() - 1);
    let expected = "built 2 derivations (1 in this build, 1 from BuildKit's cache)";
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("closure: ") && n.ends_with(expected)),
        "{names:?}"
    );
}

#[test]
fn a_made_by_list_naming_no_step_or_no_store_path_is_refused() {
    for line in [
        format!("/nf/new/nosuch-step.drv:{DEP}"),
        format!("/nf/new/{}:/etc/passwd", base(DEP_DRV)),
        format!("/nf/new/{}:/nix/store/../../etc", base(DEP_DRV)),
        format!("/nix/store/{}:{DEP}", base(DEP_DRV)),
        DEP.to_string(),
    ] {
        let mut g = good();
        g.tree(APP_STEP)
            .file("/nf/result/made-by", format!("{line}\n"));
        expect_error(&mut g, "line 1 of /nf/result/made-by is not");
    }
}

#[test]
fn a_cached_failure_is_built_again() {
    let mut g = good_with_failure();
    let result = run_at(&mut g, 100);
    assert!(result.is_err());
    assert_eq!(
        g.warnings(),
        ["the cached step \"build expensive-dep-1.0\" had failed; building again"]
    );
    // The second round runs the failed step and the one after it regardless of the cache.
    let definitions = g.definitions();
    let rerun = definitions.last().unwrap();
    assert!(rerun.metadata.values().any(|m| m.ignore_cache));
}

#[test]
fn a_cached_failure_that_then_builds_gives_the_image_of_the_rerun() {
    let mut g = good();
    // From the cache: the final step alone says skipped, then with every step the
    // dependency's failure (long before the frontend started at 100). The rerun builds.
    let failed = format!("/nf/status/{}", base(DEP_DRV));
    let skipped = format!("/nf/status/{}", base(APP_DRV));
    g.tree_nth(DEP_STEP, 0).file(&failed, "build-failed\n");
    g.tree_nth(APP_STEP, 0).file(&skipped, "skipped\n");
    g.tree_nth(APP_STEP, 1).file(&skipped, "skipped\n");
    let built = run_at(&mut g, 100);
    assert!(built.is_ok(), "{built:?}");
    assert_eq!(
        g.warnings(),
        ["the cached step \"build expensive-dep-1.0\" had failed; building again"]
    );
    // The image's layers come from the rerun's steps, which ignore the cache.
    let image = g.definitions().last().unwrap().clone();
    let json = crate::buildkit::llb::definition_to_json(&image);
    let rerun_steps: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["name"].as_str().is_some_and(|n| n.starts_with("build ")))
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert!(!rerun_steps.is_empty());
    assert!(
        image.metadata.values().filter(|m| m.ignore_cache).count() >= 2,
        "the image copies from the cached steps: {rerun_steps:?}"
    );
}

#[test]
fn hostile_evaluation_reports_are_refused_with_the_path() {
    let cases = [
        ("/.nix-frontend/roots", "/etc/passwd\n".to_string(), "root \"/etc/passwd\""),
        (
            "/.nix-frontend/records",
            record(APP_DRV, &[APP_DRV, DEP_DRV]) + &record(DEP_DRV, &[APP_DRV]),
            "a cycle",
        ),
        (
            "/.nix-frontend/records",
            record(APP_DRV, &["/nix/store/../etc"]),
            "reference \"/nix/store/../etc\"",
        ),
        (
            "/.nix-frontend/dry-run",
            "these 1 derivations will be built:\n  /nix/store/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-evil.drv\n".to_string(),
            "is to be built but is not among the evaluated paths",
        ),
    ];
    for (file, content, needle) in cases {
        let mut g = good();
        g.tree(EVAL).file(file, content);
        expect_error(&mut g, needle);
    }
}
