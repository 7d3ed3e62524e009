//! tests/e2e.sh's choice of tests, checked without running any (no Docker is called): the
//! default list is every `test_NAME` function of tests/e2e/*.sh in file order, and a name that
//! names no function is refused before anything runs.

use std::path::Path;
use std::process::{Command, Output};

fn e2e(args: &[&str]) -> Output {
    Command::new("bash")
        .arg("tests/e2e.sh")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("E2E_DOCKER")
        .output()
        .unwrap()
}

/// The `test_NAME` functions of tests/e2e/*.sh, files in name order, each file top to bottom.
fn defined_tests() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e");
    let mut files: Vec<_> = std::fs::read_dir(dir)
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

#[test]
fn the_default_list_is_every_test_function_in_file_order() {
    let output = e2e(&["--list"]);
    assert!(output.status.success(), "{output:?}");
    let listed: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let defined = defined_tests();
    assert!(defined.len() > 30, "{defined:?}");
    assert_eq!(listed, defined);
}

#[test]
fn a_name_without_a_test_is_refused() {
    let output = e2e(&["no_such_test"]);
    assert!(!output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no test named no_such_test"), "{stderr}");
    assert!(output.stdout.is_empty(), "{output:?}");
}
