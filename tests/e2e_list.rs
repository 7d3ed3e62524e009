//! The end-to-end matrix (tests/matrix) against what reads it, checked without running any test
//! (no Docker is called): every `test_NAME` function of tests/e2e/*.sh is in the matrix and every
//! matrix test is a function; each line is well formed and says why it runs on an engine after
//! the test's first; tests/e2e.sh's lists and daemon groups and docs/developing.md's table come from it.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;
use std::process::{Command, Output};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn e2e(args: &[&str]) -> Output {
    Command::new("bash")
        .arg("tests/e2e.sh")
        .args(args)
        .current_dir(root())
        .env_remove("E2E_DOCKER")
        .output()
        .unwrap()
}

fn stdout_lines(output: &Output) -> Vec<String> {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The `test_NAME` functions of tests/e2e/*.sh, files in name order, each file top to bottom.
fn defined_tests() -> Vec<String> {
    let mut files: Vec<_> = std::fs::read_dir(root().join("tests/e2e"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "sh"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|file| {
            std::fs::read_to_string(file)
                .unwrap()
                .lines()
                .filter_map(|line| {
                    let name = line.strip_prefix("test_")?.split_once("()")?.0;
                    Some(name.trim().to_string())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

struct Engine {
    name: String,
    daemon: String,
}

struct Row {
    line: usize,
    test: String,
    engine: String,
    tier: String,
    why: String,
}

struct Matrix {
    engines: Vec<Engine>,
    rows: Vec<Row>,
}

fn parse_matrix(text: &str) -> Result<Matrix, String> {
    let mut engines = Vec::new();
    let mut rows = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut words = trimmed.split_whitespace();
        let first = words.next().unwrap_or_default();
        if first == "engine" {
            let (Some(name), Some(daemon)) = (words.next(), words.next()) else {
                return Err(format!("tests/matrix:{line_no}: engine NAME DAEMON WHAT"));
            };
            if words.next().is_none() {
                return Err(format!(
                    "tests/matrix:{line_no}: engine {name} says not what it is"
                ));
            }
            engines.push(Engine {
                name: name.to_string(),
                daemon: daemon.to_string(),
            });
            continue;
        }
        let (Some(engine), Some(tier)) = (words.next(), words.next()) else {
            return Err(format!("tests/matrix:{line_no}: TEST ENGINE TIER [WHY]"));
        };
        rows.push(Row {
            line: line_no,
            test: first.to_string(),
            engine: engine.to_string(),
            tier: tier.to_string(),
            why: words.collect::<Vec<_>>().join(" "),
        });
    }
    let names: HashSet<&str> = engines.iter().map(|e| e.name.as_str()).collect();
    let mut seen = HashSet::new();
    let mut tests_seen = HashSet::new();
    for row in &rows {
        let at = format!("tests/matrix:{}", row.line);
        if !names.contains(row.engine.as_str()) {
            return Err(format!("{at}: no engine {}", row.engine));
        }
        if !["core", "full", "dropped"].contains(&row.tier.as_str()) {
            return Err(format!("{at}: no tier {} (core, full, dropped)", row.tier));
        }
        if !seen.insert((row.test.clone(), row.engine.clone())) {
            return Err(format!("{at}: {} on {} twice", row.test, row.engine));
        }
        let first = tests_seen.insert(row.test.clone()) && row.tier != "dropped";
        if !first && row.why.is_empty() {
            return Err(format!(
                "{at}: {} on {} needs a reason: what differs there that this test checks{}",
                row.test,
                row.engine,
                if row.tier == "dropped" {
                    ", or what covers it"
                } else {
                    ""
                }
            ));
        }
    }
    Ok(Matrix { engines, rows })
}

fn matrix() -> Matrix {
    let text = std::fs::read_to_string(root().join("tests/matrix")).unwrap();
    parse_matrix(&text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn every_test_function_is_in_the_matrix_and_every_matrix_test_is_a_function() {
    let defined: BTreeSet<String> = defined_tests().into_iter().collect();
    assert!(defined.len() > 40, "{defined:?}");
    let declared: BTreeSet<String> = matrix().rows.iter().map(|r| r.test.clone()).collect();
    let undeclared: Vec<_> = defined.difference(&declared).collect();
    let unknown: Vec<_> = declared.difference(&defined).collect();
    assert!(
        undeclared.is_empty(),
        "test functions no line of tests/matrix runs: {undeclared:?}"
    );
    assert!(
        unknown.is_empty(),
        "tests/matrix names tests with no test_NAME function: {unknown:?}"
    );
}

#[test]
fn every_test_runs_somewhere() {
    let m = matrix();
    let tests: BTreeSet<&str> = m.rows.iter().map(|r| r.test.as_str()).collect();
    for test in tests {
        assert!(
            m.rows.iter().any(|r| r.test == test && r.tier != "dropped"),
            "{test} is dropped on every engine"
        );
    }
}

#[test]
fn a_line_without_a_reason_is_refused() {
    let engines = "engine a host first\nengine b other second\n";
    assert!(parse_matrix(&format!("{engines}t a full\nt b full why it runs on b\n")).is_ok());
    let missing = parse_matrix(&format!("{engines}t a full\nt b full\n"))
        .err()
        .unwrap();
    assert!(
        missing.contains("tests/matrix:4: t on b needs a reason"),
        "{missing}"
    );
    let dropped = parse_matrix(&format!("{engines}t b dropped\nt a full\n"))
        .err()
        .unwrap();
    assert!(dropped.contains("or what covers it"), "{dropped}");
    let engine = parse_matrix(&format!("{engines}t c full\n")).err().unwrap();
    assert!(engine.contains("no engine c"), "{engine}");
    let tier = parse_matrix(&format!("{engines}t a often\n"))
        .err()
        .unwrap();
    assert!(tier.contains("no tier often"), "{tier}");
}

#[test]
fn e2e_lists_each_engines_tests_from_the_matrix() {
    let m = matrix();
    for engine in &m.engines {
        let expected: Vec<String> = m
            .rows
            .iter()
            .filter(|r| r.engine == engine.name && r.tier != "dropped")
            .map(|r| r.test.clone())
            .collect();
        let script = format!(
            "root=$PWD; . tests/lib/matrix.sh; matrix_tests {}",
            engine.name
        );
        let output = Command::new("bash")
            .args(["-c", &script])
            .current_dir(root())
            .output()
            .unwrap();
        assert_eq!(stdout_lines(&output), expected, "engine {}", engine.name);
    }
}

#[test]
fn the_daemon_groups_hold_every_engine_once_with_all_last() {
    let m = matrix();
    let groups = stdout_lines(&e2e(&["--groups"]));
    let flat: Vec<&str> = groups.iter().flat_map(|g| g.split(' ')).collect();
    let engines: Vec<&str> = m.engines.iter().map(|e| e.name.as_str()).collect();
    let mut sorted_flat = flat.clone();
    sorted_flat.sort();
    let mut sorted_engines = engines.clone();
    sorted_engines.sort();
    assert_eq!(sorted_flat, sorted_engines);
    for group in &groups {
        let daemons: HashSet<&str> = group
            .split(' ')
            .map(|name| {
                m.engines
                    .iter()
                    .find(|e| e.name == name)
                    .unwrap()
                    .daemon
                    .as_str()
            })
            .collect();
        assert_eq!(daemons.len(), 1, "a group shares one daemon: {group}");
    }
    let last = groups.last().unwrap();
    let all: Vec<&str> = m
        .engines
        .iter()
        .filter(|e| e.daemon == "all")
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(last.split(' ').collect::<Vec<_>>(), all);
}

#[test]
fn scripts_test_runs_the_matrix_and_keeps_no_list_of_its_own() {
    let script = std::fs::read_to_string(root().join("scripts/test")).unwrap();
    assert!(
        script.contains("matrix_groups"),
        "scripts/test reads the groups"
    );
    assert!(
        script.contains("tests/e2e.sh --engine"),
        "and runs each engine"
    );
    let tests: HashSet<String> = defined_tests().into_iter().collect();
    for line in script.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let Some((_, after)) = line.split_once("tests/e2e.sh") else {
            continue;
        };
        for word in after.split_whitespace() {
            assert!(
                !tests.contains(word.trim_matches('"')),
                "scripts/test names the test {word}: the matrix chooses ({line})"
            );
        }
    }
}

#[test]
fn the_docs_table_is_the_matrix() {
    let readme = std::fs::read_to_string(root().join("docs/developing.md")).unwrap();
    let start = "<!-- the matrix: tests/e2e.sh --table -->\n";
    let end = "\n<!-- end of the matrix -->";
    let from = readme
        .find(start)
        .expect("docs/developing.md marks the matrix")
        + start.len();
    let to = from + readme[from..].find(end).expect("and its end");
    let generated = stdout_lines(&e2e(&["--table"])).join("\n");
    assert_eq!(
        &readme[from..to],
        generated,
        "docs/developing.md's table differs from tests/matrix: paste `tests/e2e.sh --table` there"
    );
}

#[test]
fn the_list_is_every_test_function_in_file_order() {
    assert_eq!(stdout_lines(&e2e(&["--list"])), defined_tests());
}

#[test]
fn a_name_without_a_test_is_refused() {
    let output = e2e(&["no_such_test", "d26"]);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no test named no_such_test"), "{stderr}");
    assert!(output.stdout.is_empty(), "{output:?}");
}

#[test]
fn an_engine_outside_the_matrix_is_refused() {
    let output = e2e(&["hello", "d99"]);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no engine d99 in tests/matrix"), "{stderr}");
}
