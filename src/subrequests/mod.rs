//! Subrequests (`docker buildx build --print=…` / `--call`): answered with metadata only,
//! `result.json` in the shapes of BuildKit's frontend/subrequests packages and `result.txt`.

mod handler;

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::dockerui::spec::{Check, SpecError};
use crate::dockerui::syntax::ArgDecl;
use crate::error::UserError;

pub use handler::subrequest;

pub const DESCRIBE: &str = "frontend.subrequests.describe";
pub const OUTLINE: &str = "frontend.outline";
pub const TARGETS: &str = "frontend.targets";
pub const LINT: &str = "frontend.lint";

pub fn metadata(json_value: &Value, text: String) -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([
        (
            "result.json".to_string(),
            serde_json::to_vec(json_value).expect("JSON serialises"),
        ),
        ("result.txt".to_string(), text.into_bytes()),
        ("version".to_string(), b"1.0.0".to_vec()),
    ])
}

pub fn describe() -> BTreeMap<String, Vec<u8>> {
    let requests = [
        (OUTLINE, "List the build args the build takes"),
        (TARGETS, "List the attributes that can be built (--target)"),
        (LINT, "Check the build file: every error the build would raise and every warning, with its line"),
        (DESCRIBE, "List the subrequests this frontend answers"),
    ];
    let list: Vec<Value> = requests
        .iter()
        .map(|(name, description)| {
            json!({ "name": name, "version": "1.0.0", "type": "rpc", "description": description, "opts": [], "metadata": [{"name": "result.json"}, {"name": "result.txt"}] })
        })
        .collect();
    let text = requests
        .iter()
        .map(|(name, description)| format!("{name}\t{description}\n"))
        .collect();
    metadata(&Value::Array(list), text)
}

/// `args` are the build file's ARG declarations; `given` the build args set on the command line.
pub fn outline(args: &[ArgDecl], given: &BTreeMap<String, String>) -> BTreeMap<String, Vec<u8>> {
    let mut list: Vec<Value> = args
        .iter()
        .map(|arg| {
            let mut entry = json!({ "name": arg.name, "description": arg.description });
            if let Some(value) = given.get(&arg.name).or(arg.default.as_ref()) {
                entry["value"] = json!(value);
            }
            entry
        })
        .collect();
    for arg in crate::dockerui::options::args::TABLE {
        if !args.iter().any(|a| a.name == arg.name) {
            let mut entry = json!({ "name": arg.name, "description": arg.meaning });
            if let Some(value) = given.get(arg.name).map(String::as_str).or(arg.default) {
                entry["value"] = json!(value);
            }
            list.push(entry);
        }
    }
    let mut text = String::from("BUILD ARG\tVALUE\tDESCRIPTION\n");
    for entry in &list {
        text.push_str(&format!(
            "{}\t{}\t{}\n",
            entry["name"].as_str().unwrap_or_default(),
            entry["value"].as_str().unwrap_or_default(),
            entry["description"].as_str().unwrap_or_default()
        ));
    }
    metadata(
        &json!({ "name": "", "description": "", "args": list }),
        text,
    )
}

/// `targets` as facts.nix's `targets` reported them: `[{name, description}]`.
pub fn targets(reported: &Value, defaults: &[String]) -> BTreeMap<String, Vec<u8>> {
    let list: Vec<Value> = reported
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    let name = item["name"].as_str()?;
                    Some(json!({
                        "name": name,
                        "default": defaults.iter().any(|d| d == name),
                        "description": item["description"].as_str().unwrap_or_default(),
                    }))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut text = String::from("TARGET\tDESCRIPTION\n");
    for entry in &list {
        let name = entry["name"].as_str().unwrap_or_default();
        let marker = if entry["default"] == json!(true) {
            " (default)"
        } else {
            ""
        };
        text.push_str(&format!(
            "{name}{marker}\t{}\n",
            entry["description"].as_str().unwrap_or_default()
        ));
    }
    metadata(&json!({ "targets": list }), text)
}

/// Where a lint entry points, in BuildKit's `pb.Location` JSON: the source's index (-1: none)
/// and the line as a range.
fn location(source_index: usize, line: Option<usize>) -> Value {
    match line {
        Some(line) => json!({
            "sourceIndex": source_index,
            "ranges": [{ "start": { "line": line, "character": 0 }, "end": { "line": line, "character": 0 } }],
        }),
        None => json!({ "sourceIndex": -1 }),
    }
}

/// Documentation of each rule, as BuildKit's lint results carry it.
fn rule_description(rule: &str) -> &'static str {
    match rule {
        "UnsupportedInstruction" => {
            "Build steps belong in the Nix file; the build file holds image settings only"
        }
        "UnknownInstruction" => "The instruction is not part of the nix-frontend dialect",
        "InvalidInstruction" => "The instruction's value cannot be read",
        "MaintainerDeprecated" => "The MAINTAINER instruction is deprecated, use a label instead",
        "UnusedBuildArgs" => "Build args were given that nothing reads",
        "InvalidBuildArg" => {
            "A build arg has a value nix-frontend does not take; it is read as its default"
        }
        "NoEntrypoint" => "The image is known from the build file alone to have no command to run",
        "NixSyntax" => "The Nix file does not parse (checked without Nix, by rnix)",
        _ => "nix-frontend check",
    }
}

/// The answer to a lint request.
#[derive(Debug)]
pub struct Lint {
    /// `result.json`, `result.txt` and `result.statuscode`.
    pub metadata: BTreeMap<String, Vec<u8>>,
    /// With an error in the build file, the request's error: the first error, then the other
    /// findings as `result.txt` shows them.
    pub error: Option<UserError>,
}

/// The lint result (`--check`, `--call=check`, `--print=lint`) in BuildKit's shape
/// (frontend/subrequests/lint): `result.json` `{warnings, sources, buildError}`, `result.txt`,
/// and `result.statuscode` 1 when anything was found. The build file's first error is the
/// `buildError`, as BuildKit's is; the others are entries under their rule, like the warnings,
/// each at its line. `file`/`text` are the build file.
pub fn lint<'a>(check: &'a Check, file: &'a str, text: &'a str) -> Lint {
    use base64::Engine as _;
    let language = if file.ends_with(".nix") {
        "Nix"
    } else {
        "Dockerfile"
    };
    // The build file is source 0; an error in another file (the Nix file a Dockerfile names)
    // brings that file as a source of its own.
    let mut sources = vec![(file, language, text)];
    let mut source_of = |name: &'a str, text: &'a str| -> usize {
        if let Some(index) = sources.iter().position(|(known, _, _)| *known == name) {
            return index;
        }
        sources.push((name, "Nix", text));
        sources.len() - 1
    };
    let mut entries: Vec<(&str, usize, Option<usize>, String)> = Vec::new();
    let mut build_error = None;
    for (index, error) in check.errors.iter().enumerate() {
        let (rule, source, line, message) = match error {
            SpecError::Syntax(syntax) => (
                syntax.rule,
                source_of(&syntax.file, &syntax.text),
                Some(syntax.line),
                error.to_string(),
            ),
            SpecError::Option { .. } => ("InvalidOption", 0, None, error.to_string()),
        };
        if index == 0 {
            build_error = Some(json!({
                "message": message,
                // BuildKit's CLI indexes the sources with it: never -1.
                "location": if line.is_some() { location(source, line) } else { json!({ "sourceIndex": 0 }) },
            }));
        } else {
            entries.push((rule, source, line, message));
        }
    }
    for warning in &check.warnings {
        let line = warning.location.as_ref().map(|(_, line)| *line);
        entries.push((warning.rule, 0, line, warning.message.clone()));
    }
    let warnings: Vec<Value> = entries
        .iter()
        .map(|(rule, source, line, detail)| {
            json!({
                "ruleName": rule,
                "description": rule_description(rule),
                "detail": detail,
                "location": location(*source, *line),
            })
        })
        .collect();
    let sources_json: Vec<Value> = sources
        .iter()
        .map(|(name, language, data)| {
            json!({
                "filename": name,
                "language": language,
                "data": base64::engine::general_purpose::STANDARD.encode(data),
            })
        })
        .collect();
    let mut result = json!({
        "warnings": warnings,
        "sources": sources_json,
    });
    if let Some(error) = &build_error {
        result["buildError"] = error.clone();
    }
    let mut findings = String::new();
    for (rule, source, line, detail) in &entries {
        let (file, _, text) = sources[*source];
        match line {
            Some(line) => {
                findings.push_str(&format!("WARNING: {rule} - {file}:{line}\n{detail}\n"))
            }
            None => findings.push_str(&format!("WARNING: {rule}\n{detail}\n")),
        }
        if let Some(source) = line.and_then(|line| text.lines().nth(line.wrapping_sub(1))) {
            findings.push_str(&format!(" {:>4} | {source}\n", line.unwrap_or_default()));
        }
        findings.push('\n');
    }
    let summary = match entries.len() {
        0 if build_error.is_none() => "Check complete, no warnings found.\n".to_string(),
        0 => "Check complete, an error was found.\n".to_string(),
        1 => "Check complete, 1 warning has been found!\n".to_string(),
        n => format!("Check complete, {n} warnings have been found!\n"),
    };
    let report = match &build_error {
        Some(error) => format!(
            "{findings}ERROR: {}\n{summary}",
            error["message"].as_str().unwrap_or_default()
        ),
        None => format!("{findings}{summary}"),
    };
    let status = if entries.is_empty() && build_error.is_none() {
        "0"
    } else {
        "1"
    };
    let mut metadata = metadata(&result, report);
    metadata.insert("result.statuscode".into(), status.as_bytes().to_vec());
    // The error the request fails with: every buildx then exits non-zero and shows the line
    // (buildx before 0.14 ignores result.statuscode).
    let error = check.errors.first().map(|first| {
        let error = UserError::from(first.clone());
        UserError {
            message: format!(
                "{}\n\n{}",
                error.message,
                format!("{findings}{summary}").trim_end()
            ),
            location: error.location,
        }
    });
    Lint { metadata, error }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outline_lists_file_args_then_ours() {
        let args = vec![ArgDecl {
            name: "PORT".into(),
            default: Some("8080".into()),
            description: "The port".into(),
            line: 3,
        }];
        let given = BTreeMap::from([("NIX_IMAGE".to_string(), "x".to_string())]);
        let meta = outline(&args, &given);
        let json: Value = serde_json::from_slice(&meta["result.json"]).unwrap();
        assert_eq!(
            json["args"][0],
            json!({"name": "PORT", "description": "The port", "value": "8080"})
        );
        assert!(json["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["name"] == "NIX_IMAGE" && a["value"] == "x"));
        for name in [
            "NIX_ARGS",
            "NIXPKGS",
            "NIX_SUBSTITUTERS",
            "NIX_TRUSTED_PUBLIC_KEYS",
        ] {
            assert!(
                json["args"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a["name"] == name),
                "{name} missing from the outline"
            );
        }
        let layers = json["args"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["name"] == "NIX_MAX_LAYERS")
            .unwrap();
        assert_eq!(layers["value"], "70", "defaults are shown");
    }

    #[test]
    fn lint_brings_the_nix_file_of_an_error_as_a_source_of_its_own() {
        let check = Check {
            errors: vec![SpecError::Syntax(crate::dockerui::syntax::SyntaxError {
                rule: "NixSyntax",
                file: "app.nix".into(),
                text: "let\n  x = 1;\n".into(),
                line: 2,
                message: "syntax error, unexpected end of file".into(),
            })],
            warnings: vec![],
        };
        let meta = lint(&check, "Dockerfile", "# nix=app.nix\n").metadata;
        let json: Value = serde_json::from_slice(&meta["result.json"]).unwrap();
        assert_eq!(json["buildError"]["location"]["sourceIndex"], 1);
        assert_eq!(json["sources"][0]["filename"], "Dockerfile");
        assert_eq!(json["sources"][1]["filename"], "app.nix");
        assert_eq!(json["sources"][1]["language"], "Nix");
        assert_eq!(meta["result.statuscode"], b"1");
    }

    #[test]
    fn lint_reports_errors_and_warnings_in_buildkits_shape() {
        let options = crate::dockerui::options::Options {
            filename: "Dockerfile".into(),
            build_args: BTreeMap::from([("UNUSED".to_string(), "1".to_string())]),
            ..Default::default()
        };
        let text = "# syntax=x\nRUN make\nMAINTAINER me\nADD . /\n";
        let platform = crate::dockerui::options::Platform::parse("linux/amd64").unwrap();
        let (check, _) = crate::dockerui::spec::check(&options, text, &platform);
        let meta = lint(&check, "Dockerfile", text).metadata;
        let json: Value = serde_json::from_slice(&meta["result.json"]).unwrap();
        assert_eq!(
            json["buildError"]["location"]["ranges"][0]["start"]["line"],
            2
        );
        assert!(json["buildError"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Dockerfile:2: RUN is not supported"));
        let rules: Vec<(&str, &Value)> = json["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| {
                (
                    w["ruleName"].as_str().unwrap(),
                    &w["location"]["ranges"][0]["start"]["line"],
                )
            })
            .collect();
        assert_eq!(
            rules,
            [
                ("UnsupportedInstruction", &json!(4)),
                ("MaintainerDeprecated", &json!(3)),
                ("UnusedBuildArgs", &Value::Null)
            ]
        );
        assert_eq!(json["sources"][0]["filename"], "Dockerfile");
        assert_eq!(meta["result.statuscode"], b"1");
        let txt = String::from_utf8_lossy(&meta["result.txt"]);
        assert!(txt.contains("ERROR: Dockerfile:2: RUN"), "{txt}");
        assert!(txt.contains("   4 | ADD . /"), "{txt}");

        let (clean, _) = crate::dockerui::spec::check(&Default::default(), "ENV A=b\n", &platform);
        let meta = lint(&clean, "Dockerfile", "ENV A=b\n").metadata;
        assert_eq!(meta["result.statuscode"], b"0");
        let json: Value = serde_json::from_slice(&meta["result.json"]).unwrap();
        assert_eq!(json["warnings"], json!([]));
        assert!(json.get("buildError").is_none());
    }

    #[test]
    fn targets_mark_the_default() {
        let reported = json!([{"name": "hello", "description": "greets"}, {"name": "other", "description": ""}]);
        let meta = targets(&reported, &["hello".to_string()]);
        let json: Value = serde_json::from_slice(&meta["result.json"]).unwrap();
        assert_eq!(json["targets"][0]["default"], true);
        assert_eq!(json["targets"][1]["default"], false);
        assert!(String::from_utf8_lossy(&meta["result.txt"]).contains("hello (default)\tgreets"));
    }
}
