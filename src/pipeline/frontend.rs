//! One build, start to end, as an orchestration of the layers below it: read the build file
//! (`context`), make the `Spec`, then per platform plan and solve the Nix stage (`plan`), read
//! and check what the builder reported (`report`), plan and solve the image, and hand the images
//! back (`result`). Talks to BuildKit only through the `Gateway` trait.

use futures_util::future::try_join_all;

use crate::builder::contract::Report;
use crate::builder::report;
use crate::buildkit::gateway::{Environment, Gateway};
use crate::buildkit::llb::{self, Output};
use crate::buildkit::result::{Built, PlatformImage};
use crate::dockerui::context;
use crate::dockerui::options::Options;
use crate::dockerui::spec::{NixPlan, Spec};
use crate::error::UserError;
use crate::nix::pins;
use crate::pipeline::assemble::{assemble_image, debug_dump};
use crate::plan::{self, BuildResult, BuilderImage, Task};
use crate::sbom;

pub async fn build<G: Gateway>(
    gateway: &G,
    options: &Options,
    env: &Environment,
) -> Result<Built, UserError> {
    let text = context::read_build_file(gateway, options, env).await?;
    let spec = Spec::new(options, &text, &env.worker_platform)?;
    eprintln!("nix-frontend: {spec:?}");
    for warning in &spec.warnings {
        gateway.warn(&warning.to_string()).await;
    }
    if options.sbom && !env.has_attestations {
        gateway
            .warn("this BuildKit takes no attestations from a frontend (no reference.attestations): the SBOM is left to BuildKit's own scanner")
            .await;
    }
    // The pin files are read beside the .dockerignore probes, not after them: the round trips
    // overlap.
    let (ignores, pins) = futures_util::future::join(
        context::read_ignores(gateway, options, env, &spec),
        read_pins(gateway, options, env, &spec, &text),
    )
    .await;
    for unpinned in &pins.unpinned {
        gateway.warn(&unpinned.warning()).await;
    }
    // The platforms build concurrently (an emulated one's time runs beside the native one's);
    // each step's progress name carries its platform.
    let builds: Vec<_> = spec
        .platforms
        .iter()
        .map(|platform| {
            let spec = spec.for_platform(platform);
            let (ignores, text, pins) = (&ignores, &text, &pins.pins);
            async move { build_platform(gateway, options, env, &spec, ignores, text, pins).await }
        })
        .collect();
    let images = try_join_all(builds).await?;
    Ok(Built {
        multi_platform: spec.platforms.len() > 1,
        images,
    })
}

/// The inputs the Nix file, `flake.lock`, niv's or npins' `sources.json` pin by their hash
/// (`nix::pins`), read from the context in one snapshot: the Nix file is the build file's text
/// when the build file is it. Read before the `.dockerignore` patterns are known: a file they
/// leave out is still read here, and its pins only cost their steps (the evaluation does not
/// see them, so it asks for other paths or fetches as it would have).
async fn read_pins<G: Gateway>(
    gateway: &G,
    options: &Options,
    env: &Environment,
    spec: &Spec,
    build_file_text: &str,
) -> pins::Pins {
    let dir = match spec.nix_file.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/"),
        None => String::new(),
    };
    let nix_in_build_file = spec.mode == crate::dockerui::spec::Mode::Nix;
    let nix_text = nix_in_build_file.then_some(build_file_text);
    // Only the files this build can have pins in: a flake's lock; niv's and npins' sources when
    // the Nix file names them (or is not read yet); the Nix file when it is not the build file.
    // A plain default.nix build reads nothing more.
    let names = |needle: &str| nix_text.is_none_or(|text| text.contains(needle));
    let mut files: Vec<String> = Vec::new();
    if spec.flake {
        files.push(format!("{dir}flake.lock"));
    }
    if names("sources.nix") || names("sources.json") {
        files.push(format!("{dir}nix/sources.json"));
    }
    if names("npins") {
        files.push(format!("{dir}npins/sources.json"));
    }
    if !nix_in_build_file {
        files.push(spec.nix_file.clone());
    }
    let texts = context::read_context_files(
        gateway,
        options,
        env,
        &files,
        &[],
        "load pinned inputs (flake.lock, sources.json)".into(),
    )
    .await;
    let text_of = |name: &str| -> Option<String> {
        files
            .iter()
            .zip(&texts)
            .find(|(file, _)| *file == name)
            .and_then(|(_, text)| text.clone())
    };
    let nix_text = match nix_text {
        Some(text) => Some(text.to_string()),
        None => text_of(&spec.nix_file),
    };
    let mut found = pins::find(
        nix_text.as_deref().map(|t| (spec.nix_file.as_str(), t)),
        text_of(&format!("{dir}flake.lock")).as_deref(),
        text_of(&format!("{dir}nix/sources.json")).as_deref(),
        text_of(&format!("{dir}npins/sources.json")).as_deref(),
    );
    // A flake's evaluation takes no `-I nixpkgs=` (common.sh).
    if let (Some(nixpkgs), false) = (&spec.nixpkgs, spec.flake) {
        found.add_nixpkgs(nixpkgs, spec.nixpkgs_sha256.as_deref());
    }
    found
}

/// One platform's image; an error in a Nix file of the context shows that file's lines.
async fn build_platform<G: Gateway>(
    gateway: &G,
    options: &Options,
    env: &Environment,
    spec: &Spec,
    ignores: &context::Ignores,
    build_file_text: &str,
    pins: &[pins::Pin],
) -> Result<PlatformImage, UserError> {
    match build_platform_image(gateway, options, env, spec, ignores, build_file_text, pins).await {
        Ok(image) => Ok(image),
        Err(error) => {
            Err(context::attach_source(gateway, options, env, &ignores.context, error).await)
        }
    }
}

/// One platform's image: Nix in that platform's builder image, its closure, its layers.
async fn build_platform_image<G: Gateway>(
    gateway: &G,
    options: &Options,
    env: &Environment,
    spec: &Spec,
    ignores: &context::Ignores,
    build_file_text: &str,
    pins: &[pins::Pin],
) -> Result<PlatformImage, UserError> {
    let nix_platform = plan::nix_platform(spec, &env.worker_platform, &env.worker_platforms)
        .map_err(UserError::new)?;
    let spec = &Spec {
        nix_platform,
        ..spec.clone()
    };
    let builder = resolve_builder(gateway, spec, options).await?;
    let context = context::sources(options, env, ignores, spec);
    // Without MergeOp the graph plan cannot join its steps' outputs: the single plan stands in.
    let plan = match spec.plan {
        NixPlan::Graph if env.has_merge_op => NixPlan::Graph,
        _ => NixPlan::Single,
    };
    if spec.plan == NixPlan::Graph && plan == NixPlan::Single {
        gateway
            .warn("this BuildKit has no MergeOp: Nix runs in one step over a persistent store (NIX_PLAN=single)")
            .await;
    }
    let (image, result) = if plan == NixPlan::Graph {
        crate::pipeline::graph_build::build_platform(
            gateway,
            options,
            spec,
            &builder,
            (context, pins),
            build_file_text,
            env.started_at,
        )
        .await?
    } else {
        build_single(
            gateway,
            options,
            env,
            spec,
            &builder,
            context,
            build_file_text,
        )
        .await?
    };
    let sbom = if options.sbom && env.has_attestations {
        sbom_document(gateway, env, spec, &result).await?
    } else {
        None
    };
    Ok(PlatformImage { sbom, ..image })
}

/// The SBOM of one platform's image as a file in a ref of its own (an attestation's ref and
/// path must name a file holding only the predicate).
async fn sbom_document<G: Gateway>(
    gateway: &G,
    env: &Environment,
    spec: &Spec,
    result: &BuildResult,
) -> Result<Option<String>, UserError> {
    let document = sbom::document(&sbom::Input {
        closure: &result.closure,
        results: &result.results,
        roots: &result.roots().collect::<Vec<_>>(),
        system: spec.platform.nix_system(),
        created: spec.source_date_epoch.unwrap_or(env.started_at),
        packages: &result.packages,
        build_dependencies: spec.sbom.is_some_and(|scope| scope.build_dependencies),
    });
    // What was left out, said without flooding the output (a closure has thousands of packages).
    const SHOWN_WARNINGS: usize = 5;
    for warning in document.warnings.iter().take(SHOWN_WARNINGS) {
        gateway.warn(warning).await;
    }
    if document.warnings.len() > SHOWN_WARNINGS {
        gateway
            .warn(&format!(
                "SBOM: {} more meta.identifiers values left out",
                document.warnings.len() - SHOWN_WARNINGS
            ))
            .await;
    }
    let document = document.to_bytes();
    if document.len() > sbom::MAX_DOCUMENT_BYTES {
        gateway
            .warn(&format!(
                "no SBOM: the document of {} store paths is {} bytes, over the {} that fit in a BuildKit message",
                result.closure.paths.len(),
                document.len(),
                sbom::MAX_DOCUMENT_BYTES
            ))
            .await;
        return Ok(None);
    }
    let file = llb::make_files(
        &[llb::MakeFile::File {
            path: sbom::DOCUMENT_PATH.into(),
            mode: 0o444,
            data: document,
        }],
        &spec.platform.to_pb(),
        &llb::Meta::named(format!(
            "SBOM of {} store paths",
            result.closure.paths.len()
        )),
    );
    gateway
        .solve(llb::definition(&file))
        .await
        .map(Some)
        .map_err(|err| UserError::gateway("writing the SBOM", err))
}

/// The single-step mode: Nix in one step over a persistent store, then the image.
async fn build_single<G: Gateway>(
    gateway: &G,
    options: &Options,
    env: &Environment,
    spec: &Spec,
    builder: &BuilderImage,
    context: plan::Sources,
    build_file_text: &str,
) -> Result<(PlatformImage, BuildResult), UserError> {
    let (built, built_ref, report) =
        run_nix_stage(gateway, options, env, spec, builder, context).await?;
    report.check(spec, Task::Build, build_file_text)?;
    let result =
        report::read_build_result(gateway, &built_ref, spec.sbom.is_some(), spec.attrs.len())
            .await?;
    eprintln!(
        "nix-frontend: closure of {} paths, {} bytes",
        result.closure.paths.len(),
        result.closure.total_nar_size()
    );
    if plan::host_system(spec).is_some() {
        let holder = |_: &crate::nix::closure::StorePath| Some(built_ref.clone());
        crate::builder::architecture::check_programs(gateway, &spec.platform, &result, holder)
            .await?;
    }
    if !env.has_merge_op {
        gateway
            .warn("this BuildKit has no MergeOp: layers are chained copies and not shared between images")
            .await;
    }
    let builder_image = plan::builder_image(spec, builder, options.image_resolve_mode.as_deref());
    let image = assemble_image(
        gateway,
        spec,
        &result,
        &plan::Trees::SingleStep(built),
        env.has_merge_op,
        &builder_image,
    )
    .await?;
    Ok((image, result))
}

/// Plans and solves the Nix stage; a build failure that came from the cache is built once more.
/// Returns the stage's output, the ref of its solve and what the builder reported.
async fn run_nix_stage<G: Gateway>(
    gateway: &G,
    options: &Options,
    env: &Environment,
    spec: &Spec,
    builder: &BuilderImage,
    context: plan::Sources,
) -> Result<(Output, String, Report), UserError> {
    let resolve_mode = options.image_resolve_mode.as_deref();
    let built = plan::build_stage(spec, builder, context.clone(), resolve_mode);
    debug_dump("build stage", &built);
    let built_ref = solve_nix_stage(gateway, spec, &built).await?;
    let report = report::read_report(gateway, &built_ref).await?;
    if !report.is_stale_failure(env.started_at) {
        return Ok((built, built_ref, report));
    }
    // A build failure from the cache may have been transient (network, resources): run once
    // more rather than report a stale failure.
    gateway
        .warn("the cached Nix build had failed; building again")
        .await;
    let uncached = Spec {
        no_cache: true,
        ..spec.clone()
    };
    let rerun = plan::build_stage(&uncached, builder, context, resolve_mode);
    let rerun_ref = solve_nix_stage(gateway, spec, &rerun).await?;
    let report = report::read_report(gateway, &rerun_ref).await?;
    // The image is assembled from the rerun's output: the cached one is the failure.
    Ok((rerun, rerun_ref, report))
}

async fn solve_nix_stage<G: Gateway>(
    gateway: &G,
    spec: &Spec,
    stage: &Output,
) -> Result<String, UserError> {
    gateway
        .solve(llb::definition(stage))
        .await
        .map_err(|err| UserError::gateway(&format!("running {}", plan::build_step_name(spec)), err))
}

pub async fn resolve_builder<G: Gateway>(
    gateway: &G,
    spec: &Spec,
    options: &Options,
) -> Result<BuilderImage, UserError> {
    let (digest, config) = gateway
        .resolve_image_config(&spec.nix_image, &spec.nix_platform.to_pb(), options.image_resolve_mode.as_deref())
        .await
        .map_err(|err| {
            UserError::new(format!(
                "cannot use the Nix builder image {}: {}; set another with --build-arg NIX_IMAGE=<image>",
                spec.nix_image, err.message
            ))
        })?;
    Ok(BuilderImage::from_config(
        &spec.nix_image,
        Some(&digest),
        &config,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::buildkit::fake_gateway::{entry, FakeGateway, Tree};
    use crate::buildkit::gateway::MODE_SYMLINK;
    use crate::buildkit::result::Built;
    use bollard_buildkit_proto::pb;

    const HELLO: &str = "/nix/store/8rdhvmrp4a21j859nhvq50qvgwx6lf9l-hello-1.0";
    const BUSYBOX: &str = "/nix/store/4wyqq71kp9g4lz3dhpmy0d35kk63qb30-busybox-static";

    fn options() -> Options {
        Options::from_pairs(&[
            ("filename", "default.nix"),
            ("target", "hello"),
            ("build-arg:NIX_PLAN", "single"),
        ])
    }

    fn env() -> Environment {
        crate::buildkit::fake_gateway::environment(0)
    }

    /// Solves of a build: the build file, two .dockerignore probes, the Nix stage, the image.
    const BUILD_FILE: &str = "load build definition from default.nix";
    const CONTEXT_PROBE: &str = "load .dockerignore";
    const NIX_STAGE: &str = "nix-build default.nix -A hello";
    /// The Nix stage is the 4th solve (for the definitions solved, in order).
    const NIX_STAGE_SOLVE: usize = 3;

    /// The report of a good hello build.
    fn good_report(tree: &mut Tree) {
        let base = |p: &str| p["/nix/store/".len()..].to_string();
        tree.file("/.nix-frontend/status", "ok\n")
            .file("/.nix-frontend/ran-at", "10")
            .file("/.nix-frontend/results", format!("{HELLO}\n"))
            .file("/.nix-frontend/profile-roots", format!("{HELLO}\n"))
            .file(
                "/.nix-frontend/closure.json",
                format!(r#"{{"{HELLO}":{{"narSize":100,"references":["{BUSYBOX}"]}},"{BUSYBOX}":{{"narSize":2000,"references":[]}}}}"#),
            )
            .dir("/nix/store", vec![entry(&base(BUSYBOX), 1 << 31, ""), entry(&base(HELLO), 1 << 31, "")])
            .dir("/.nix-frontend/tmp", vec![])
            .dir("/.nix-frontend/root", vec![entry("bin", MODE_SYMLINK | 0o777, &format!("{HELLO}/bin"))])
            .dir(&format!("{HELLO}/bin"), vec![entry("hello", 0o555, "")]);
    }

    /// A gateway whose builder reported a good hello build.
    fn good() -> FakeGateway {
        let mut g = FakeGateway::default();
        g.tree(BUILD_FILE)
            .file("default.nix", "# syntax=org/nix-frontend\n{ hello = ...; }");
        good_report(g.tree(NIX_STAGE));
        g
    }

    fn run(g: &mut FakeGateway) -> Result<Built, UserError> {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(build(g, &options(), &env()))
    }

    #[test]
    fn a_good_build_returns_the_image_config() {
        let mut g = good();
        let built = run(&mut g).unwrap();
        assert_eq!(
            built.images[0].config["config"]["Entrypoint"][0],
            format!("{HELLO}/bin/hello")
        );
        // build file, two .dockerignore reads, the Nix stage, the image.
        assert_eq!(g.solves(), 5);
    }

    fn with_sbom(has_attestations: bool) -> (FakeGateway, Built) {
        sbom_of(good(), has_attestations)
    }

    fn sbom_of(g: FakeGateway, has_attestations: bool) -> (FakeGateway, Built) {
        let options = Options::from_pairs(&[
            ("filename", "default.nix"),
            ("target", "hello"),
            ("build-arg:NIX_PLAN", "single"),
            ("attest:sbom", ""),
            ("attest:provenance", "mode=max"),
        ]);
        let env = Environment {
            has_attestations,
            ..env()
        };
        let built = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(build(&g, &options, &env))
            .unwrap();
        (g, built)
    }

    #[test]
    fn an_sbom_is_a_file_in_a_ref_of_its_own() {
        use prost::Message;
        let (g, built) = with_sbom(true);
        // build file, two .dockerignore reads, the Nix stage, the image, the SBOM.
        assert_eq!(g.solves(), 6);
        assert_eq!(
            built.images[0].sbom.as_deref(),
            Some("ref:SBOM of 2 store paths#0")
        );
        let data = g.definitions()[5]
            .def
            .iter()
            .filter_map(|bytes| pb::Op::decode(bytes.as_slice()).ok())
            .find_map(|op| match op.op {
                Some(pb::op::Op::File(file)) => {
                    file.actions.into_iter().find_map(|a| match a.action {
                        Some(pb::file_action::Action::Mkfile(f))
                            if f.path == sbom::DOCUMENT_PATH =>
                        {
                            Some(f.data)
                        }
                        _ => None,
                    })
                }
                _ => None,
            })
            .expect("a Mkfile of the document");
        let document: serde_json::Value = serde_json::from_slice(&data).unwrap();
        assert_eq!(document["spdxVersion"], "SPDX-2.3");
        let paths: Vec<&str> = document["packages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["packageFileName"].as_str())
            .collect();
        assert_eq!(paths, [BUSYBOX, HELLO]);
        assert!(g.warnings().is_empty(), "{:?}", g.warnings());
    }

    #[test]
    fn identifiers_left_out_of_the_sbom_are_warnings_a_few_at_most() {
        let mut g = good();
        let purls: Vec<String> = (0..7).map(|i| format!("not a purl {i}")).collect();
        let packages = serde_json::json!([{ "path": HELLO, "identifiers": { "purls": purls } }]);
        g.tree(NIX_STAGE)
            .file(crate::builder::contract::PACKAGES, packages.to_string());
        let (g, built) = sbom_of(g, true);
        assert!(built.images[0].sbom.is_some());
        let warnings = g.warnings();
        assert_eq!(warnings.len(), 6, "{warnings:?}");
        assert_eq!(
            warnings[0],
            "SBOM: hello-1.0: meta.identifiers \"not a purl 0\", not a purl, left out"
        );
        assert_eq!(warnings[5], "SBOM: 2 more meta.identifiers values left out");
    }

    #[test]
    fn without_the_attestation_cap_buildkit_keeps_its_scanner() {
        let (g, built) = with_sbom(false);
        assert_eq!(g.solves(), 5);
        assert!(built.images[0].sbom.is_none());
        assert!(g
            .warnings()
            .iter()
            .any(|w| w.contains("reference.attestations")));
    }

    fn expect_error(g: &mut FakeGateway, needle: &str) {
        match run(g) {
            Ok(_) => panic!("built despite: {needle}"),
            Err(UserError { message, .. }) => {
                assert!(message.contains(needle), "{message:?} lacks {needle:?}");
                assert!(!message.contains("status:"), "raw status in {message:?}");
            }
        }
    }

    #[test]
    fn hostile_manifests_are_refused() {
        let cases: Vec<(&str, String, &str)> = vec![
            (
                "closure.json",
                r#"{"/etc/passwd":{"narSize":1}}"#.into(),
                "not a store path",
            ),
            (
                "closure.json",
                format!(r#"{{"{HELLO}":{{"narSize":1,"references":["{BUSYBOX}"]}}}}"#),
                "which is not in the closure",
            ),
            (
                "closure.json",
                format!(r#"[{{"path":"{HELLO}","narSize":1}},{{"path":"{HELLO}","narSize":1}}]"#),
                "twice",
            ),
            (
                "closure.json",
                format!(r#"{{"{BUSYBOX}":{{"narSize":1}}}}"#),
                "not in its own closure",
            ),
            ("closure.json", "not json".into(), "not valid JSON"),
            (
                "results",
                "/nix/store/../etc\n".into(),
                "result \"/nix/store/../etc\"",
            ),
            ("results", "".into(), "no output path"),
        ];
        for (file, content, needle) in cases {
            let mut g = good();
            g.tree(NIX_STAGE)
                .file(&format!("/.nix-frontend/{file}"), content);
            expect_error(&mut g, needle);
        }
    }

    #[test]
    fn platforms_build_concurrently_each_step_named_by_its_platform() {
        let options = Options::from_pairs(&[
            ("filename", "default.nix"),
            ("target", "hello"),
            ("build-arg:NIX_PLAN", "single"),
            ("platform", "linux/amd64,linux/arm64"),
        ]);
        let mut g = good();
        // Each platform's Nix stage is a step of its own name.
        good_report(g.tree("[linux/amd64] nix-build default.nix -A hello"));
        // arm64 is emulated here: Nix runs on amd64, only the builds are emulated.
        good_report(g.tree("[linux/arm64] nix-build default.nix -A hello (on linux/amd64)"));
        let built = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(build(&g, &options, &env()))
            .unwrap();
        let platforms: Vec<String> = built
            .images
            .iter()
            .map(|i| i.platform.to_string())
            .collect();
        assert_eq!(platforms, ["linux/amd64", "linux/arm64"]);
        let names: Vec<String> = g.definitions()[NIX_STAGE_SOLVE..]
            .iter()
            .map(|d| {
                // The name of the definition's result: the terminal op's input.
                use prost::Message;
                let terminal = bollard_buildkit_proto::pb::Op::decode(&d.def.last().unwrap()[..]);
                let digest = terminal.unwrap().inputs[0].digest.clone();
                let name = d.metadata[&digest].description["llb.customname"].clone();
                match name.find(" nix-build") {
                    Some(end) => name[..end + " nix-build".len()].to_string(),
                    None => "image".to_string(),
                }
            })
            .collect();
        assert_eq!(
            names,
            [
                "[linux/amd64] nix-build",
                "[linux/arm64] nix-build",
                "image",
                "image"
            ]
        );
    }

    #[test]
    fn a_closure_manifest_over_one_grpc_message_is_read_in_ranges() {
        let mut g = good();
        let key = "/.nix-frontend/closure.json";
        let mut manifest = g.tree(NIX_STAGE).files[key].clone();
        // JSON allows trailing whitespace: the same closure in a 20 MiB file.
        manifest.resize(20 << 20, b' ');
        g.tree(NIX_STAGE).file(key, manifest);
        run(&mut g).unwrap();
    }

    #[test]
    fn a_closure_manifest_over_the_limit_is_refused_with_it() {
        let mut g = good();
        let key = "/.nix-frontend/closure.json";
        let mut manifest = g.tree(NIX_STAGE).files[key].clone();
        manifest.resize((64 << 20) + 1, b' ');
        g.tree(NIX_STAGE).file(key, manifest);
        expect_error(&mut g, "over the limit of 67108864 bytes");
    }

    #[test]
    fn too_many_paths_are_refused_with_the_numbers() {
        let mut g = good();
        let mut manifest = String::from("{");
        for i in 0..100_001u32 {
            let hash: String = format!("{i:0>32}");
            manifest.push_str(&format!(r#""/nix/store/{hash}-p":{{"narSize":1}},"#));
        }
        manifest.pop();
        manifest.push('}');
        g.tree(NIX_STAGE)
            .file("/.nix-frontend/closure.json", manifest);
        expect_error(&mut g, "100001 store paths, over the limit of 100000");
    }

    #[test]
    fn copied_store_paths_must_match_the_closure() {
        let mut g = good();
        g.tree(NIX_STAGE)
            .dirs
            .get_mut("/nix/store")
            .unwrap()
            .push(entry("extra", 1 << 31, ""));
        expect_error(&mut g, "differ from the closure");
    }

    #[test]
    fn root_links_outside_the_result_are_refused() {
        let mut g = good();
        g.tree(NIX_STAGE).dir(
            "/.nix-frontend/root",
            vec![entry("etc", MODE_SYMLINK | 0o777, "/etc")],
        );
        expect_error(&mut g, "only links into");
    }

    #[test]
    fn a_collision_in_the_single_step_names_both_packages() {
        let mut g = good();
        g.tree(NIX_STAGE)
            .file("/.nix-frontend/status", "collision\n")
            .file("/.nix-frontend/log", format!("{HELLO} {BUSYBOX} bin/sh\n"));
        expect_error(&mut g, &format!("bin/sh is in both {HELLO} and {BUSYBOX}"));
        // Not built again: a collision is no transient failure.
        assert!(g.warnings().is_empty());
    }

    #[test]
    fn a_tmp_with_content_is_refused() {
        let mut g = good();
        g.tree(NIX_STAGE)
            .dir("/.nix-frontend/tmp", vec![entry("planted", 0o644, "")]);
        expect_error(&mut g, "unexpected entries in its tmp directory");
    }

    #[test]
    fn nix_failures_carry_nix_text() {
        let mut g = good();
        g.tree(NIX_STAGE)
            .file("/.nix-frontend/status", "eval-failed")
            .file(
                "/.nix-frontend/log",
                "error: undefined variable 'x'\n       at /src/default.nix:3:5:",
            );
        expect_error(&mut g, "at default.nix:3:5:");
    }

    #[test]
    fn a_crashed_builder_and_failed_solves_are_clear() {
        let mut g = good();
        g.tree(NIX_STAGE).files.remove("/.nix-frontend/status");
        expect_error(&mut g, "stopped before it finished");
        let mut g = good();
        g.fail_solve = Some((NIX_STAGE.into(), "context canceled".into()));
        expect_error(
            &mut g,
            "running nix-build default.nix -A hello: context canceled",
        );
        let mut g = good();
        g.fail_solve = Some((
            "closure: 2 paths, 2.1 kB".into(),
            "no space left on device".into(),
        ));
        expect_error(&mut g, "assembling the image: no space left on device");
    }

    #[test]
    fn a_nix_error_in_another_file_shows_that_files_lines() {
        let failed = |log: &str| {
            let mut g = good();
            g.tree(NIX_STAGE)
                .file("/.nix-frontend/status", "eval-failed\n")
                .file("/.nix-frontend/log", log.to_string());
            g
        };
        // An imported file: read from the context (the solve after the Nix stage).
        let mut g = failed("error: broken\n       at /src/lib/broken.nix:2:5:\n");
        g.tree("load lib/broken.nix for the error")
            .file("lib/broken.nix", "{\n  x = throw \"broken\";\n}\n");
        let location = run(&mut g).unwrap_err().location.unwrap();
        assert_eq!(
            (location.file.as_str(), location.line),
            ("lib/broken.nix", 2)
        );
        assert!(location.text.contains("throw \"broken\""));
        // The build file itself: its own text, nothing more is read.
        let mut g = failed("error: syntax error\n       at /src/default.nix:2:3:\n");
        let location = run(&mut g).unwrap_err().location.unwrap();
        assert_eq!((location.file.as_str(), location.line), ("default.nix", 2));
        assert!(location.text.contains("hello = ..."));
        assert_eq!(g.solves(), NIX_STAGE_SOLVE + 1);
        // A file that cannot be read: the message alone, never the build file's lines.
        let mut g = failed("error: x\n       at /src/gone.nix:7:1:\n");
        let error = run(&mut g).unwrap_err();
        assert!(error.location.is_none(), "{error:?}");
        assert!(error.message.contains("gone.nix:7:1"), "{}", error.message);
    }

    #[test]
    fn dockerignore_patterns_reach_the_context_normalised() {
        let mut g = good();
        g.tree(CONTEXT_PROBE).file(
            ".dockerignore",
            "\u{feff}# c\n/secret.txt\n*.txt\n!/keep.txt\n",
        );
        run(&mut g).unwrap();
        let nix_stage = llb::definition_to_json(&g.definitions()[NIX_STAGE_SOLVE]);
        let context = nix_stage
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["source"]["identifier"] == "local://context")
            .unwrap();
        assert_eq!(
            context["source"]["attrs"]["local.excludepatterns"],
            r#"["secret.txt","*.txt","!keep.txt"]"#
        );
    }

    #[test]
    fn a_stale_cached_build_failure_is_built_again() {
        let mut g = good();
        // The cached run failed long ago; the run again succeeds, and only its ref says so.
        g.tree(NIX_STAGE)
            .file("/.nix-frontend/status", "build-failed")
            .file("/.nix-frontend/ran-at", "0");
        good_report(g.tree_nth(NIX_STAGE, 1));
        let mut env = env();
        env.started_at = 100;
        let result = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(build(&g, &options(), &env));
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(
            g.warnings(),
            ["the cached Nix build had failed; building again"]
        );
        // The Nix stage again (ignoring the cache), then the image.
        assert_eq!(g.solves(), NIX_STAGE_SOLVE + 3);
        let rerun = &g.definitions()[NIX_STAGE_SOLVE + 1];
        assert!(rerun.metadata.values().any(|m| m.ignore_cache));
        // The image's layers come from the rerun's output, not the cached failure's.
        let image = g.definitions().last().unwrap().clone();
        assert!(
            image.metadata.values().any(|m| m.ignore_cache),
            "the image copies from the cached failure"
        );
    }

    #[test]
    fn a_fresh_build_failure_is_reported_without_a_rerun() {
        let mut g = good();
        g.tree(NIX_STAGE)
            .file("/.nix-frontend/status", "build-failed")
            .file(
                "/.nix-frontend/log",
                "error: builder failed with exit code 1",
            );
        expect_error(
            &mut g,
            "building attribute \"hello\" of default.nix failed:\nerror: builder failed",
        );
        assert!(g.warnings().is_empty());
    }
}
