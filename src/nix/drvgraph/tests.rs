//! The parsers and the planner on hand-written reports, and properties over generated ones
//! (never a panic, every plan well ordered).

use super::*;

fn path(name: &str) -> String {
    // A valid hash that differs per name.
    let alphabet: Vec<char> = "0123456789abcdfghijklmnpqrsvwxyz".chars().collect();
    let mut seed: u64 = name.bytes().fold(1469598103934665603, |h, b| {
        (h ^ b as u64).wrapping_mul(1099511628211)
    });
    let hash: String = (0..32)
        .map(|_| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            alphabet[(seed >> 59) as usize]
        })
        .collect();
    format!("/nix/store/{hash}-{name}")
}

fn record(name: &str, refs: &[&str]) -> String {
    let mut text = format!("{}\nsha256:0000\n100\n\n{}\n", path(name), refs.len());
    for r in refs {
        text.push_str(&path(r));
        text.push('\n');
    }
    text
}

/// Caches' answers with no URL known (Nix substitutes every path itself).
fn answers<const N: usize>(texts: [String; N]) -> Vec<(String, String)> {
    texts.into_iter().map(|t| (String::new(), t)).collect()
}

fn dry(build: &[&str]) -> DryRun {
    DryRun {
        build: build
            .iter()
            .map(|n| StorePath::parse(&path(n)).unwrap())
            .collect(),
        fetch: BTreeSet::new(),
        fetch_records: Default::default(),
        nar_files: Default::default(),
    }
}

fn roots(name: &str) -> Vec<Root> {
    parse_roots(&format!("{}!out\n", path(name))).unwrap()
}

fn names(group: &Group) -> Vec<String> {
    group.members.iter().map(|m| m.name().to_string()).collect()
}

#[test]
fn records_round_trip_and_bad_records_are_refused() {
    let text = record("a.drv", &["src"]) + &record("src", &[]);
    let records = parse_records(&text).unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(
        records.iter().map(Record::to_text).collect::<String>(),
        text
    );
    for bad in [
        "/etc/passwd\nh\n1\n\n0\n".to_string(),
        format!("{}\nh\nx\n\n0\n", path("a")),
        format!("{}\nh\n1\n\n2\n{}\n", path("a"), path("b")),
        format!("{}\nh\n1\n\n1\n../x\n", path("a")),
        format!("{}\nh\n1\n\n0\n{}\nh\n1\n\n0\n", path("a"), path("a")),
        format!("{}\nh;rm\n1\n\n0\n", path("a")),
    ] {
        assert!(parse_records(&bad).is_err(), "{bad:?}");
    }
}

#[test]
fn dry_run_lists_are_read_in_both_wordings() {
    let text = format!(
        "these 2 derivations will be built:\n  {}\n  {}\nthis path will be fetched (0.01 MiB download, 0.02 MiB unpacked):\n  {}\nwarning: x\n",
        path("a.drv"),
        path("b.drv"),
        path("glibc")
    );
    let run = parse_dry_run(&text).unwrap();
    assert_eq!(run.build.len(), 2);
    assert_eq!(run.fetch.len(), 1);
    assert!(parse_dry_run("these 1 derivations will be built:\n  /etc/x\n").is_err());
}

#[test]
fn a_leaf_over_an_expensive_dependency_is_two_groups() {
    let text = record("busybox", &[])
        + &record("dep-src", &[])
        + &record("dep.drv", &["busybox", "dep-src"])
        + &record("app-src", &[])
        + &record("app.drv", &["busybox", "app-src", "dep.drv"]);
    let graph = plan(
        &roots("app.drv"),
        parse_records(&text).unwrap(),
        &dry(&["dep.drv", "app.drv"]),
        8,
    )
    .unwrap();
    assert_eq!(graph.groups.len(), 2);
    assert_eq!(names(&graph.groups[0]), ["dep.drv"]);
    assert_eq!(names(&graph.groups[1]), ["app.drv"]);
    assert!(graph.groups[1].is_final);
    assert_eq!(graph.groups[1].upstream, [0]);
    assert_eq!(graph.groups[1].roots, [format!("{}!out", path("app.drv"))]);
    assert_eq!(graph.groups[0].roots, [path("dep.drv")]);
    // The app's vertex gets its own source and the dependency's derivation, not more.
    let closure: Vec<&str> = graph.groups[1]
        .derivation_closure
        .iter()
        .map(|p| p.name())
        .collect();
    assert_eq!(closure.len(), 5);
    let closure: Vec<&str> = graph.groups[0]
        .derivation_closure
        .iter()
        .map(|p| p.name())
        .collect();
    assert!(!closure.contains(&"app-src"), "{closure:?}");
    assert_eq!(graph.groups[1].step_name(), "build app");
}

#[test]
fn a_chain_is_one_group_under_the_result() {
    let mut text = record("busybox", &[]);
    let mut build = Vec::new();
    let names_: Vec<String> = (1..=150).map(|i| format!("chain-{i}.drv")).collect();
    for (i, name) in names_.iter().enumerate() {
        let refs: Vec<&str> = if i == 0 {
            vec!["busybox"]
        } else {
            vec!["busybox", &names_[i - 1]]
        };
        text += &record(name, &refs);
        build.push(name.as_str());
    }
    text += &record("top.drv", &["busybox", "chain-150.drv"]);
    build.push("top.drv");
    let graph = plan(
        &roots("top.drv"),
        parse_records(&text).unwrap(),
        &dry(&build),
        8,
    )
    .unwrap();
    assert_eq!(graph.groups.len(), 2);
    assert_eq!(graph.groups[0].members.len(), 150);
    assert_eq!(graph.groups[0].roots, [path("chain-150.drv")]);
    assert_eq!(graph.groups[0].step_name(), "build chain-150 and 149 more");
    assert_eq!(graph.groups[0].members[0].name(), "chain-1.drv");
}

#[test]
fn a_wide_fan_is_bounded_and_shared_paths_start_groups() {
    let mut text = record("busybox", &[]) + &record("common.drv", &["busybox"]);
    let mut build = vec!["common.drv".to_string()];
    let mut app_refs = vec!["busybox".to_string()];
    for i in 0..300 {
        text += &record(&format!("lib-{i}.drv"), &["busybox", "common.drv"]);
        build.push(format!("lib-{i}.drv"));
        app_refs.push(format!("lib-{i}.drv"));
    }
    let refs: Vec<&str> = app_refs.iter().map(String::as_str).collect();
    text += &record("app.drv", &refs);
    build.push("app.drv".into());
    let build: Vec<&str> = build.iter().map(String::as_str).collect();
    let graph = plan(
        &roots("app.drv"),
        parse_records(&text).unwrap(),
        &dry(&build),
        8,
    )
    .unwrap();
    assert!(graph.groups.len() <= 9, "{} groups", graph.groups.len());
    let total: usize = graph.groups.iter().map(|g| g.members.len()).sum();
    assert_eq!(total, 302);
    // common is shared by all libraries: a group of its own, before them.
    assert_eq!(names(&graph.groups[0]), ["common.drv"]);
    let last = graph.groups.last().unwrap();
    assert_eq!(names(last), ["app.drv"]);
    assert_eq!(last.upstream.len(), graph.groups.len() - 1);
}

#[test]
fn a_changed_library_stays_in_its_step_and_moves_no_other() {
    // The same fan twice, lib-20 with another store hash the second time (a library change).
    let plan_with = |changed: bool| {
        let lib_path = |i: usize| {
            let name = format!("lib-{i}.drv");
            if changed && i == 20 {
                let other = path("lib-20-changed");
                format!("{}-{name}", &other[..other.find('-').unwrap()])
            } else {
                path(&name)
            }
        };
        let mut text = record("busybox", &[]);
        let mut app = format!(
            "{}\nsha256:0000\n100\n\n41\n{}\n",
            path("app.drv"),
            path("busybox")
        );
        let mut build = vec![path("app.drv")];
        for i in 0..40 {
            text += &format!(
                "{}\nsha256:0000\n100\n\n1\n{}\n",
                lib_path(i),
                path("busybox")
            );
            app += &format!("{}\n", lib_path(i));
            build.push(lib_path(i));
        }
        text += &app;
        let dry = DryRun {
            build: build.iter().map(|p| StorePath::parse(p).unwrap()).collect(),
            fetch: BTreeSet::new(),
            fetch_records: Default::default(),
            nar_files: Default::default(),
        };
        let graph = plan(&roots("app.drv"), parse_records(&text).unwrap(), &dry, 8).unwrap();
        let mut steps: Vec<Vec<String>> = graph.groups.iter().map(names).collect();
        for step in &mut steps {
            step.sort();
        }
        steps.sort();
        steps
    };
    let before = plan_with(false);
    assert!(before.len() > 2 && before.len() <= 9, "{before:?}");
    assert_eq!(before, plan_with(true));
}

#[test]
fn substitutable_paths_are_one_step_everyone_reads() {
    let text = record("app.drv", &[]);
    let mut run = dry(&["app.drv"]);
    run.fetch
        .insert(StorePath::parse(&path("glibc-2.39")).unwrap());
    let graph = plan(&roots("app.drv"), parse_records(&text).unwrap(), &run, 8).unwrap();
    assert_eq!(graph.groups.len(), 2);
    assert!(graph.groups[0].substitute);
    assert_eq!(graph.groups[0].step_name(), "substitute glibc-2.39");
    assert_eq!(graph.groups[1].upstream, [0]);
}

/// `nix path-info --json` of the fetched paths as Nix 2.19+ writes it: each name with its
/// references (names), absent ones `null`.
fn fetch_info(paths: &[(&str, &[&str])], absent: &[&str]) -> String {
    let mut map = serde_json::Map::new();
    for (name, refs) in paths {
        map.insert(
            path(name),
            serde_json::json!({
                "narHash": "sha256-XFQCbnf8BEtu5gxeEwjchgq/Qx4GtiKFHNEPrsJyCKQ=",
                "narSize": 2024688,
                "references": refs.iter().map(|r| path(r)).collect::<Vec<_>>(),
                "url": "nar/x.nar.xz",
            }),
        );
    }
    for name in absent {
        map.insert(path(name), serde_json::Value::Null);
    }
    serde_json::Value::Object(map).to_string()
}

/// A closure to substitute: glibc under 20 libraries under the app's runtime dependency.
fn fetched_closure(extra: &[&str]) -> (DryRun, Vec<(String, Vec<String>)>) {
    let mut paths: Vec<(String, Vec<String>)> =
        vec![("glibc-2.39".into(), vec!["glibc-2.39".into()])];
    for i in 0..20 {
        paths.push((format!("lib-{i}"), vec!["glibc-2.39".into()]));
    }
    for name in extra {
        paths.push((name.to_string(), vec!["glibc-2.39".into(), "lib-3".into()]));
    }
    let mut run = dry(&["app.drv"]);
    for (name, _) in &paths {
        run.fetch.insert(StorePath::parse(&path(name)).unwrap());
    }
    (run, paths)
}

/// `fetched_closure` with the cache's records of every path.
fn fetched_with_records(extra: &[&str]) -> DryRun {
    let (mut run, paths) = fetched_closure(extra);
    let listed: Vec<(&str, Vec<&str>)> = paths
        .iter()
        .map(|(n, refs)| (n.as_str(), refs.iter().map(String::as_str).collect()))
        .collect();
    let borrowed: Vec<(&str, &[&str])> = listed.iter().map(|(n, r)| (*n, r.as_slice())).collect();
    run.fetch_records = parse_fetch_info(&answers([fetch_info(&borrowed, &[])]), &run.fetch)
        .unwrap()
        .records;
    run
}

fn plan_app(run: &DryRun) -> Graph {
    plan(
        &roots("app.drv"),
        parse_records(&record("app.drv", &[])).unwrap(),
        run,
        8,
    )
    .unwrap()
}

fn plan_fetched(extra: &[&str]) -> Graph {
    plan_app(&fetched_with_records(extra))
}

#[test]
fn substitution_is_in_pieces_by_depth_and_name_each_registering_what_it_refers_to() {
    let graph = plan_fetched(&[]);
    let pieces: Vec<&Group> = graph.groups.iter().filter(|g| g.substitute).collect();
    // glibc alone at depth 0; the libraries at depth 1 in at most SUBSTITUTE_BUCKETS pieces.
    assert!(
        pieces.len() >= 3 && pieces.len() as u64 <= 1 + SUBSTITUTE_BUCKETS,
        "{pieces:?}"
    );
    assert!(
        pieces[0].id.starts_with("substitute-0-"),
        "{}",
        pieces[0].id
    );
    assert_eq!(names(pieces[0]), ["glibc-2.39"]);
    assert!(pieces[0].registered.is_empty());
    for piece in &pieces[1..] {
        assert!(piece.id.starts_with("substitute-1-"), "{}", piece.id);
        let registered: Vec<&str> = piece.registered.iter().map(|p| p.name()).collect();
        assert_eq!(registered, ["glibc-2.39"], "{}", piece.id);
        assert!(piece.upstream.is_empty());
    }
    let total: usize = pieces.iter().map(|p| p.members.len()).sum();
    assert_eq!(total, 21);
    // The build steps read every piece.
    let app = graph.groups.iter().find(|g| g.is_final).unwrap();
    assert_eq!(app.upstream, (0..pieces.len()).collect::<Vec<_>>());
}

#[test]
fn a_path_joining_the_set_changes_only_its_own_piece() {
    let before = plan_fetched(&[]);
    let after = plan_fetched(&["new-dependency"]);
    let pieces = |g: &Graph| -> BTreeMap<String, (Vec<StorePath>, Vec<StorePath>)> {
        g.groups
            .iter()
            .filter(|p| p.substitute)
            .map(|p| (p.id.clone(), (p.members.clone(), p.registered.clone())))
            .collect()
    };
    let (before, after) = (pieces(&before), pieces(&after));
    let changed: Vec<&String> = after
        .keys()
        .filter(|id| before.get(*id) != after.get(*id))
        .collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    let (members, registered) = &after[changed[0]];
    assert!(members.iter().any(|m| m.name() == "new-dependency"));
    // At depth 2, it registers lib-3 and what lib-3 refers to.
    assert!(changed[0].starts_with("substitute-2-"));
    let registered: Vec<&str> = registered.iter().map(|p| p.name()).collect();
    assert_eq!(registered, {
        let mut names = vec!["glibc-2.39", "lib-3"];
        names.sort_by_key(|n| path(n));
        names
    });
}

#[test]
fn without_the_caches_word_on_every_path_substitution_is_one_step() {
    let (mut run, _) = fetched_closure(&[]);
    // A cache that knows only glibc.
    run.fetch_records = parse_fetch_info(
        &answers([fetch_info(&[("glibc-2.39", &[])], &["lib-1"])]),
        &run.fetch,
    )
    .unwrap()
    .records;
    assert_eq!(run.fetch_records.len(), 1);
    let graph = plan(
        &roots("app.drv"),
        parse_records(&record("app.drv", &[])).unwrap(),
        &run,
        8,
    )
    .unwrap();
    let pieces: Vec<&Group> = graph.groups.iter().filter(|g| g.substitute).collect();
    assert_eq!(pieces.len(), 1);
    assert_eq!(pieces[0].id, "substitute");
    assert_eq!(pieces[0].members.len(), 21);
    assert_eq!(graph.groups.last().unwrap().upstream, [0]);
}

#[test]
fn path_info_in_every_shape_nix_writes_and_hostile_text_refused() {
    let fetch: BTreeSet<StorePath> = ["glibc-2.39", "lib-1"]
        .iter()
        .map(|n| StorePath::parse(&path(n)).unwrap())
        .collect();
    // Nix 2.18 and earlier: a list; references as full paths.
    let list = format!(
        r#"[{{"path":"{}","narHash":"sha256:1908fb1aw3yi3j2j5dh63r1vy2l6vh416phcwrp4n17wfxp04m2w","narSize":5,"references":["{}"],"valid":true}}]"#,
        path("lib-1"),
        path("glibc-2.39")
    );
    let records = parse_fetch_info(&answers([list]), &fetch).unwrap().records;
    let lib = &records[&StorePath::parse(&path("lib-1")).unwrap()];
    assert_eq!(lib.references.len(), 1);
    assert!(lib.nar_hash.starts_with("sha256:") && lib.nar_hash.len() == 7 + 64);
    // Newer: references as base names; the first cache that knows a path wins.
    let base = path("glibc-2.39")["/nix/store/".len()..].to_string();
    let object = format!(
        r#"{{"{}":{{"narHash":"sha256-XFQCbnf8BEtu5gxeEwjchgq/Qx4GtiKFHNEPrsJyCKQ=","narSize":7,"references":["{base}"]}}}}"#,
        path("lib-1")
    );
    let records = parse_fetch_info(&answers([object.clone(), "{}".into()]), &fetch)
        .unwrap()
        .records;
    assert_eq!(
        records[&StorePath::parse(&path("lib-1")).unwrap()].nar_size,
        7
    );
    // A path outside the set is ignored.
    let other = format!(
        r#"{{"{}":{{"narHash":"sha256-XFQCbnf8BEtu5gxeEwjchgq/Qx4GtiKFHNEPrsJyCKQ=","narSize":7,"references":[]}}}}"#,
        path("other")
    );
    assert!(parse_fetch_info(&answers([other]), &fetch)
        .unwrap()
        .records
        .is_empty());
    for bad in [
        "not json".to_string(),
        "42".to_string(),
        object.replace("sha256-", "md5-"),
        object.replace(&base, "../../etc/passwd"),
        object.replace("\"narSize\":7", "\"narSize\":-1"),
        r#"{"/etc/passwd":{}}"#.to_string(),
    ] {
        assert!(
            parse_fetch_info(&answers([bad.clone()]), &fetch).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn a_cycle_in_the_caches_word_keeps_one_step() {
    let (mut run, _) = fetched_closure(&[]);
    let text = fetch_info(
        &[("glibc-2.39", &["lib-1"]), ("lib-1", &["glibc-2.39"])],
        &[],
    );
    let mut only_two = BTreeSet::new();
    only_two.insert(StorePath::parse(&path("glibc-2.39")).unwrap());
    only_two.insert(StorePath::parse(&path("lib-1")).unwrap());
    run.fetch = only_two;
    run.fetch_records = parse_fetch_info(&answers([text]), &run.fetch)
        .unwrap()
        .records;
    let graph = plan(
        &roots("app.drv"),
        parse_records(&record("app.drv", &[])).unwrap(),
        &run,
        8,
    )
    .unwrap();
    assert_eq!(graph.groups.iter().filter(|g| g.substitute).count(), 1);
}

#[test]
fn bad_graphs_are_refused_with_the_path() {
    // A cycle.
    let text = record("a.drv", &["b.drv"]) + &record("b.drv", &["a.drv"]);
    let err = plan(
        &roots("a.drv"),
        parse_records(&text).unwrap(),
        &dry(&["a.drv", "b.drv"]),
        8,
    )
    .unwrap_err();
    assert!(err.0.contains("cycle"), "{err}");
    // A derivation referring outside the records.
    let text = record("a.drv", &["missing.drv"]);
    let err = plan(
        &roots("a.drv"),
        parse_records(&text).unwrap(),
        &dry(&["a.drv"]),
        8,
    )
    .unwrap_err();
    assert!(err.0.contains("missing.drv"), "{err}");
    // A root that was not evaluated; something to build that was not evaluated.
    let text = record("a.drv", &[]);
    assert!(plan(
        &roots("b.drv"),
        parse_records(&text).unwrap(),
        &dry(&["a.drv"]),
        8
    )
    .is_err());
    assert!(plan(
        &roots("a.drv"),
        parse_records(&text).unwrap(),
        &dry(&["x.drv"]),
        8
    )
    .is_err());
    // Something to build that reads the result but that the result does not need.
    let text = record("app.drv", &[]) + &record("extra.drv", &["app.drv"]);
    let err = plan(
        &roots("app.drv"),
        parse_records(&text).unwrap(),
        &dry(&["app.drv", "extra.drv"]),
        8,
    )
    .unwrap_err();
    assert!(err.0.contains("extra.drv"), "{err}");
    assert!(parse_roots("/nix/store/x\n").is_err());
    assert!(parse_roots(&format!("{}!out;rm\n", path("a.drv"))).is_err());
    assert!(parse_roots("").is_err());
}

/// Names of the store paths the generated reports speak of: derivations, then other paths.
const POOL: [&str; 11] = [
    "a.drv",
    "b.drv",
    "c.drv",
    "d.drv",
    "e.drv",
    "f.drv",
    "g.drv",
    "h.drv",
    "src",
    "busybox",
    "glibc-2.39",
];
const DERIVATIONS: usize = 8;

/// A line as a hostile evaluation might write it: a store path (bare, indented, with
/// outputs), a number, a hash, a dry-run heading, or anything.
fn report_line() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let pool = || proptest::sample::select(POOL.to_vec()).prop_map(path);
    prop_oneof![
        pool(),
        pool().prop_map(|p| format!("  {p}")),
        (pool(), "(out|dev,out|,|out;rm|!)").prop_map(|(p, o)| format!("{p}!{o}")),
        "[0-9]{1,3}",
        Just("18446744073709551616".to_string()),
        Just("100001".to_string()),
        Just("sha256:0000".to_string()),
        Just(String::new()),
        Just("these 2 derivations will be built:".to_string()),
        Just("this path will be fetched (0.01 MiB download, 0.02 MiB unpacked):".to_string()),
        Just("  /etc/passwd".to_string()),
        "(?s).{0,30}",
    ]
}

fn report_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    proptest::collection::vec(report_line(), 0..40).prop_map(|lines| lines.join("\n"))
}

/// What an evaluation could report about `POOL`, well formed enough that the parsers mostly
/// accept it, but with any references (missing, cycles, self), any paths to build or fetch,
/// any roots: records, dry run, roots, and the cap on groups.
fn evaluation_reports() -> impl proptest::strategy::Strategy<Value = (String, String, String, usize)>
{
    use proptest::prelude::*;
    use proptest::sample::subsequence;
    let all: Vec<usize> = (0..POOL.len()).collect();
    let derivations: Vec<usize> = (0..DERIVATIONS).collect();
    let recorded = prop_oneof![
        3 => Just(all.clone()),
        1 => subsequence(all.clone(), 0..=POOL.len()),
    ];
    // Mostly references to later entries of the pool (no cycle), sometimes to any.
    let references = proptest::collection::vec(
        (
            proptest::bool::weighted(0.1),
            proptest::collection::vec(0..POOL.len(), 0..4),
        ),
        POOL.len(),
    );
    let build = prop_oneof![
        4 => subsequence(derivations, 0..=DERIVATIONS),
        1 => subsequence(all.clone(), 0..=POOL.len()),
    ];
    let fetch = subsequence(all, 0..3);
    let roots = proptest::collection::vec(
        (0..DERIVATIONS, proptest::option::of("(out|dev|out,dev)")),
        1..3,
    );
    (recorded, references, build, fetch, roots, 0..10usize).prop_map(
        |(recorded, references, build, fetch, roots, max_groups)| {
            let records: String = recorded
                .iter()
                .map(|&i| {
                    let (anywhere, targets) = &references[i];
                    let refs: Vec<&str> = targets
                        .iter()
                        .filter_map(|&r| match anywhere {
                            true => Some(POOL[r]),
                            false => POOL
                                .get(i + 1 + r % POOL.len().saturating_sub(i + 1).max(1))
                                .copied(),
                        })
                        .collect();
                    record(POOL[i], &refs)
                })
                .collect();
            let mut dry_run = format!("these {} derivations will be built:\n", build.len());
            for i in &build {
                dry_run += &format!("  {}\n", path(POOL[*i]));
            }
            if !fetch.is_empty() {
                dry_run += "these paths will be fetched (1 MiB download, 2 MiB unpacked):\n";
                for i in &fetch {
                    dry_run += &format!("  {}\n", path(POOL[*i]));
                }
            }
            let roots: String = roots
                .iter()
                .map(|(i, outputs)| match outputs {
                    Some(outputs) => format!("{}!{outputs}\n", path(POOL[*i])),
                    None => format!("{}\n", path(POOL[*i])),
                })
                .collect();
            (records, dry_run, roots, max_groups)
        },
    )
}

/// Parses and plans the reports as `graph_build` does, stopping at the first refusal.
fn plan_reports(
    (records, dry_run, roots, max_groups): &(String, String, String, usize),
) -> Result<Graph, GraphError> {
    let roots = parse_roots(roots)?;
    let records = parse_records(records)?;
    let dry_run = parse_dry_run(dry_run)?;
    plan(&roots, records, &dry_run, *max_groups)
}

proptest::proptest! {
    #[test]
    fn parse_records_never_panics(text in report_text()) {
        let _ = parse_records(&text);
    }

    #[test]
    fn parse_dry_run_never_panics(text in report_text()) {
        let _ = parse_dry_run(&text);
    }

    #[test]
    fn parse_roots_never_panics(text in report_text()) {
        let _ = parse_roots(&text);
    }

    #[test]
    fn parse_fetch_info_never_panics(text in report_text()) {
        let _ = parse_fetch_info(&answers([text]), &BTreeSet::new());
    }

    /// `plan` on whatever the parsers accept: no panic, and a graph in the order it
    /// promises (every group after those it reads, exactly one final group).
    #[test]
    fn plan_never_panics(reports in evaluation_reports()) {
        if let Ok(graph) = plan_reports(&reports) {
            for (i, group) in graph.groups.iter().enumerate() {
                proptest::prop_assert!(group.upstream.iter().all(|u| *u < i), "{:?}", group);
            }
            proptest::prop_assert_eq!(graph.groups.iter().filter(|g| g.is_final).count(), 1);
        }
    }
}

/// `plan_never_panics` checks only what the parsers accept: its generator must reach `plan`
/// and come out with a graph often, or the property says little.
#[test]
fn evaluation_reports_are_often_planned() {
    use proptest::strategy::{Strategy, ValueTree};
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = evaluation_reports();
    let cases = 1000;
    let planned = (0..cases)
        .filter(|_| plan_reports(&strategy.new_tree(&mut runner).unwrap().current()).is_ok())
        .count();
    assert!(
        planned * 4 >= cases,
        "{planned} of {cases} generated reports are planned"
    );
}

#[test]
fn paths_buildkit_downloads_and_paths_nix_fetches_are_in_pieces_of_their_own() {
    let mut run = fetched_with_records(&[]);
    // Every other library's file is downloaded by BuildKit.
    let nar = crate::nix::narinfo::NarFile {
        url: "http://cache/nar/x".into(),
        file_sha256: [1; 32],
        file_size: Some(1 << 20),
        compression: "xz".into(),
        signatures: vec!["k:c2ln".into()],
        content_address: None,
    };
    for i in (0..20).step_by(2) {
        run.nar_files.insert(
            StorePath::parse(&path(&format!("lib-{i}"))).unwrap(),
            nar.clone(),
        );
    }
    let graph = plan_app(&run);
    let pieces: Vec<&Group> = graph.groups.iter().filter(|g| g.substitute).collect();
    let mut downloaded = 0;
    for piece in &pieces {
        let files = piece
            .members
            .iter()
            .filter(|m| run.nar_files.contains_key(*m))
            .count();
        assert!(files == 0 || files == piece.members.len(), "{piece:?}");
        assert_eq!(files > 0, piece.id.ends_with("-files"), "{}", piece.id);
        assert_eq!(graph.nar_files_of(piece).is_some(), files > 0);
        downloaded += files;
    }
    assert_eq!(downloaded, 10);
    assert_eq!(pieces.iter().map(|p| p.members.len()).sum::<usize>(), 21);
}
