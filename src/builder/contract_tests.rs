//! The contract against the scripts themselves: every script under src/builder/ is read, and a
//! variable, path, status word or facts.nix expression that only one side knows fails a test.

use std::collections::BTreeSet;

use super::contract::{self, scripts, vars, Script, Status};

/// The `NF_*` names in `text`, an indexed family (`NF_ARG_$i`, `NF_ARG_<i>`, `NF_ARG_0`) as
/// `NF_ARG_<i>`.
fn nf_names(text: &str) -> BTreeSet<String> {
    text.match_indices("NF_")
        .filter(|(at, _)| {
            !text[..*at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .map(|(at, _)| {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            family(&name)
        })
        .collect()
}

/// `NF_ARG_0` and `NF_ARG_` as `NF_ARG_<i>`; other names as they are.
fn family(name: &str) -> String {
    let stem = name.trim_end_matches(|c: char| c.is_ascii_digit());
    match stem.strip_suffix('_') {
        Some(family) => format!("{family}_<i>"),
        None => name.to_string(),
    }
}

/// A script's opening comment, and its code without comment lines.
fn header_and_code(text: &str) -> (String, String) {
    let header: String = text
        .lines()
        .take_while(|line| line.starts_with('#'))
        .map(|line| format!("{line}\n"))
        .collect();
    (header, code(text))
}

fn code(text: &str) -> String {
    text.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .map(|line| format!("{line}\n"))
        .collect()
}

fn shell_scripts() -> impl Iterator<Item = Script> {
    scripts::ALL
        .into_iter()
        .filter(|script| script.name.ends_with(".sh"))
}

/// Where `found` (in `place`) differs from the contract's `listed`, both ways, for the
/// assertion message.
fn difference(place: &str, found: &BTreeSet<String>, listed: &BTreeSet<String>) -> String {
    let only_found: Vec<&String> = found.difference(listed).collect();
    let only_listed: Vec<&String> = listed.difference(found).collect();
    format!("only in {place}: {only_found:?}; only in the contract: {only_listed:?}")
}

/// The contract lists every file of src/builder/ that a step mounts, with its text.
#[test]
fn every_script_is_in_the_contract() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/builder");
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sh") || name.ends_with(".nix"))
        .collect();
    let listed: BTreeSet<String> = scripts::ALL.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(on_disk, listed);
    for script in scripts::ALL {
        let text = std::fs::read_to_string(dir.join(script.name)).unwrap();
        assert_eq!(text, script.text, "{}", script.name);
    }
}

/// Every `NF_` variable a script reads is in `vars::ALL`, and every one there is read.
#[test]
fn every_variable_is_known_to_both_sides() {
    let read: BTreeSet<String> = scripts::ALL
        .iter()
        .flat_map(|script| nf_names(&code(script.text)))
        .collect();
    let listed: BTreeSet<String> = vars::ALL.iter().map(|name| family(name)).collect();
    assert!(
        read == listed,
        "{}",
        difference("the scripts", &read, &listed)
    );
}

/// What the steps' LLB sets, for specs that use every option: only the contract's variables,
/// and all of them.
#[test]
fn the_steps_set_every_variable_and_no_other() {
    use crate::buildkit::llb::{self, Meta};
    use crate::dockerui::options::{Options, Platform};
    use crate::dockerui::spec::Spec;
    use crate::plan::{self, graph, BuilderImage, Task};

    let platform = Platform::parse("linux/amd64").unwrap();
    let spec = |pairs: &[(&str, &str)], text: &str| {
        Spec::new(&Options::from_pairs(pairs), text, &platform).unwrap()
    };
    let everything = spec(
        &[
            ("filename", "default.nix"),
            ("target", "hello"),
            ("build-arg:NIX_ARGS", "--argstr greeting hi"),
            ("build-arg:NIXPKGS", "https://example.org/nixpkgs.tar.gz"),
            (
                "build-arg:NIXPKGS_SHA256",
                "1qgpvh172a42vabzw7ls32lmybivw7zd02l05v4ygysd3lklkqpy",
            ),
            ("build-arg:NIX_SUBSTITUTERS", "https://cache.example.org"),
            ("build-arg:NIX_CACHE_PUSH", "https://cache.example.org"),
            ("context:nixpkgs", "local:nixpkgs"),
            ("attest:sbom", ""),
        ],
        "",
    );
    let mut flake = spec(&[("filename", "flake.nix")], "");
    // An arm64 build whose Nix runs on amd64 (NIX_EMULATE=builds on an amd64 worker).
    flake.platform = Platform::parse("linux/arm64").unwrap();
    let defaulted = spec(&[("filename", "Dockerfile")], "ENV A=b\n");
    let several = spec(
        &[
            ("filename", "default.nix"),
            ("target", "hello busybox"),
            ("build-arg:NIX_COLLISIONS", "first"),
        ],
        "",
    );
    let builder = BuilderImage::from_config("docker.io/nixos/nix:2.28.3", None, b"{}");
    let context = || {
        llb::local(
            &llb::Local {
                name: "context".into(),
                ..Default::default()
            },
            &Meta::named("context"),
        )
    };
    let drv = "/nix/store/0c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-hello.drv";
    let graph_of = crate::nix::drvgraph::plan(
        &crate::nix::drvgraph::parse_roots(&format!("{drv}!out\n")).unwrap(),
        crate::nix::drvgraph::parse_records(&format!("{drv}\nsha256:0000\n100\n\n0\n")).unwrap(),
        &crate::nix::drvgraph::parse_dry_run(&format!(
            "these 1 derivations will be built:\n  {drv}\n"
        ))
        .unwrap(),
        8,
    )
    .unwrap();
    // A substitute step whose file BuildKit downloads (NF_NAR_CACHE).
    let mut graph_of = graph_of;
    let fetched =
        crate::nix::closure::StorePath::parse("/nix/store/2c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-lib")
            .unwrap();
    let info = serde_json::json!({
        "url": "nar/a.nar.xz", "compression": "xz", "signatures": ["k-1:c2ln"],
        "downloadHash": "sha256-zXBBtlUs4SBjNLuNm7a1RCcQh7xD6BrPpN6KhkzzfSY=",
        "narHash": "sha256-EFUdrtf6Rn0LWIJufrmg8q99aT3jGfLvd1//zaJEufY=",
        "narSize": 120, "references": [],
    });
    let fetch_info = crate::nix::drvgraph::parse_fetch_info(
        &[(
            "https://cache.example.org".into(),
            serde_json::json!({ fetched.to_string(): info }).to_string(),
        )],
        &[fetched.clone()].into(),
    )
    .unwrap();
    graph_of.fetch_records = fetch_info.records;
    graph_of.nar_files = fetch_info.nar_files;
    graph_of.groups.push(crate::nix::drvgraph::Group {
        id: "substitute-0-1".into(),
        roots: vec![fetched.to_string()],
        members: vec![fetched],
        upstream: Vec::new(),
        derivation_closure: Vec::new(),
        registered: Vec::new(),
        substitute: true,
        is_final: false,
    });
    // The .drv carried in the LLB, of a build Nix runs offline (NF_OFFLINE).
    let mut offline_inputs = crate::nix::inline_inputs::InlineInputs::default();
    offline_inputs.derivations.insert(
        crate::nix::closure::StorePath::parse(drv).unwrap(),
        br#"Derive([("out","/nix/store/1c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-hello","","")],[],[],"x86_64-linux","b",[],[])"#.to_vec(),
    );
    let mut outputs = Vec::new();
    for spec in [&everything, &flake, &defaulted, &several] {
        for task in [Task::Build, Task::Targets] {
            outputs.push(plan::nix_stage(
                spec,
                &builder,
                context().into(),
                None,
                task,
            ));
        }
        let pins = crate::nix::pins::find(
            Some((
                "default.nix",
                r#"builtins.fetchTarball { url = "https://example.org/n.tgz"; sha256 = "0"; }"#,
            )),
            None,
            None,
            None,
        );
        let pinned = graph::pin_stages(spec, &builder, &pins.pins, None);
        outputs.extend(pinned.iter().cloned());
        let evaluated = graph::eval_stage(spec, &builder, context().into(), pinned, None);
        let steps = graph::group_stages(
            spec,
            &builder,
            &graph_of,
            &offline_inputs,
            &evaluated,
            None,
            &[],
        );
        for (group, step) in graph_of.groups.iter().zip(&steps) {
            outputs.push(graph::push_stage(spec, &builder, group, step));
            outputs.push(step.out.clone());
        }
        outputs.push(evaluated);
    }
    let set: BTreeSet<String> = outputs
        .iter()
        .flat_map(|output| {
            let rendered = llb::definition_to_json(&llb::definition(output)).to_string();
            rendered
                .match_indices("\"NF_")
                .map(|(at, _)| {
                    let name = rendered[at + 1..].split('=').next().unwrap_or_default();
                    family(name)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let listed: BTreeSet<String> = vars::ALL.iter().map(|name| family(name)).collect();
    assert!(
        set == listed,
        "{}",
        difference("the steps' environment", &set, &listed)
    );
}

/// The paths in `code` under the builder's output and the inputs (`/out/…`, `/nf/…`,
/// `/nf-contexts/…`, `/run/secrets/…`), and under `$meta` and `$result` as the scripts define
/// them, each up to the first part that is not a plain name (`$group`, `*`, `${path##*/}`).
fn paths_in(code: &str, meta: &str, result: &str) -> BTreeSet<String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "._-/".contains(c);
    let mut found = BTreeSet::new();
    for (prefix, replacement) in [
        ("/out/", "/out/"),
        ("/nf/", "/nf/"),
        ("/nf-contexts/", "/nf-contexts/"),
        ("/run/secrets/", "/run/secrets/"),
        ("$meta/", &format!("{meta}/")),
        ("$result/", &format!("{result}/")),
    ] {
        for (at, _) in code.match_indices(prefix) {
            let before = code[..at].chars().next_back();
            if prefix.starts_with('/') && before.is_some_and(plain) {
                continue;
            }
            let rest: String = code[at + prefix.len()..]
                .chars()
                .take_while(|c| plain(*c))
                .collect();
            let path = format!("{replacement}{rest}");
            found.insert(path.trim_end_matches('/').to_string());
        }
    }
    found
}

/// Every path a script writes or reads is the contract's, and every one the contract lists is
/// in some script; `$meta` and `$result` are what the contract says.
#[test]
fn every_path_is_known_to_both_sides() {
    let meta = format!("{}{}", contract::OUT, contract::MANIFEST_DIR);
    let result = format!("{}{}", contract::OUT, contract::RESULT_DIR);
    let mut used = BTreeSet::new();
    for script in shell_scripts() {
        let code = code(script.text);
        // common.sh uses the $meta of the script that sources it.
        if code.contains("$meta/") && script.name != scripts::COMMON.name {
            assert!(
                code.contains(&format!("\nmeta={meta}\n")),
                "{} uses $meta without meta={meta}",
                script.name
            );
        }
        if code.contains("$result/") {
            assert!(
                code.contains(&format!("result={result}\n")),
                "{} uses $result without result={result}",
                script.name
            );
        }
        used.extend(paths_in(&code, &meta, &result));
    }
    // common.sh's nf_manifest writes the manifest's files into the directory its caller names.
    let common = code(scripts::COMMON.text);
    let start = common
        .find("nf_manifest() {")
        .expect("common.sh defines nf_manifest");
    let body = &common[start..start + common[start..].find("\n}\n").expect("its end")];
    for script in shell_scripts() {
        for dir in ["$meta", "$result"] {
            if code(script.text).contains(&format!("nf_manifest \"{dir}\"")) {
                let written = body.replace("$nf_manifest_dir/", &format!("{dir}/"));
                used.extend(paths_in(&written, &meta, &result));
            }
        }
    }
    let listed: BTreeSet<String> = contract::output_paths()
        .iter()
        .map(|path| format!("{}{path}", contract::OUT))
        .chain(contract::input_paths())
        .collect();
    assert!(
        used == listed,
        "{}",
        difference("the scripts", &used, &listed)
    );
}

/// The words a script writes with `finish WORD`.
fn finish_words(code: &str) -> BTreeSet<String> {
    code.match_indices("finish ")
        .map(|(at, _)| {
            code[at + "finish ".len()..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '-')
                .collect::<String>()
        })
        .filter(|word| !word.is_empty())
        .collect()
}

/// Every script writes only the status words the contract gives it, and each word the contract
/// gives it is written by it or by the common.sh functions; together they write every `Status`.
/// push.sh writes exactly its own words.
#[test]
fn every_status_word_is_known_to_both_sides() {
    let push: BTreeSet<String> = contract::PUSH_WORDS.iter().map(|w| w.to_string()).collect();
    assert_eq!(finish_words(&code(scripts::PUSH.text)), push);
    let words = |statuses: &[Status]| -> BTreeSet<String> {
        statuses.iter().map(|s| s.word().to_string()).collect()
    };
    let common = finish_words(&code(scripts::COMMON.text));
    assert_eq!(common, words(scripts::COMMON.statuses));
    let mut written = BTreeSet::new();
    for script in shell_scripts().filter(|s| s.name != scripts::PUSH.name) {
        let own = finish_words(&code(script.text));
        let declared = words(script.statuses);
        assert!(
            own.is_subset(&declared),
            "{} writes {:?}, which the contract does not give it",
            script.name,
            own.difference(&declared).collect::<Vec<_>>()
        );
        let reachable: BTreeSet<String> = own.union(&common).cloned().collect();
        assert!(
            declared.is_subset(&reachable),
            "{} never writes {:?}",
            script.name,
            declared.difference(&reachable).collect::<Vec<_>>()
        );
        written.extend(own);
    }
    written.extend(common);
    assert_eq!(written, words(&Status::ALL));
    for word in &written {
        assert_eq!(Status::parse(word).unwrap().word(), word);
    }
}

/// facts.nix defines the expressions the contract names, and the scripts apply all and only
/// those.
#[test]
fn facts_expressions_are_known_to_both_sides() {
    // The attribute set after the `let … in` of helpers.
    let (_, attributes) = scripts::FACTS.text.split_once("\nin\n{\n").unwrap();
    let defined: BTreeSet<String> = attributes
        .lines()
        .filter_map(|line| {
            // `  NAME = ARGUMENT:`, a function of the value at the top level.
            let (name, rest) = line.strip_prefix("  ")?.split_once(" = ")?;
            let (argument, _) = rest.split_once(':')?;
            let identifier =
                |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric());
            (identifier(name) && identifier(argument)).then(|| name.to_string())
        })
        .collect();
    let listed: BTreeSet<String> = contract::FACTS_EXPRESSIONS
        .iter()
        .map(|name| name.to_string())
        .collect();
    assert_eq!(defined, listed);
    let mut applied = BTreeSet::new();
    for script in shell_scripts() {
        let code = code(script.text);
        for call in ["nf_apply ", "nf_expression "] {
            for (at, _) in code.match_indices(call) {
                let name: String = code[at + call.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase())
                    .collect();
                if !name.is_empty() {
                    applied.insert(name);
                }
            }
        }
    }
    assert!(
        applied == listed,
        "{}",
        difference("the scripts", &applied, &listed)
    );
}

/// builder.sh's opening comment names every variable it and common.sh read.
#[test]
fn builder_header_names_every_variable_it_reads() {
    let (header, code) = header_and_code(scripts::BUILDER.text);
    let read: Vec<String> = nf_names(&(code + &self::code(scripts::COMMON.text)))
        .into_iter()
        .collect();
    assert!(read.len() >= 10, "{read:?}");
    let named = nf_names(&header);
    let missing: Vec<&String> = read.iter().filter(|v| !named.contains(*v)).collect();
    assert!(missing.is_empty(), "builder.sh's header lacks {missing:?}");
}
