//! Subrequests (`docker buildx build --print=…` / `--call`): answered with metadata only,
//! `result.json` in the shapes of BuildKit's frontend/subrequests packages and `result.txt`.

mod handler;

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::syntax::ArgDecl;

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
        (
            LINT,
            "Check the build file as a build would (no lint rules)",
        ),
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
    for arg in crate::options::args::TABLE {
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

/// `targets` as `targets.nix` reported them: `[{name, description}]`.
pub fn targets(reported: &Value, default: Option<&str>) -> BTreeMap<String, Vec<u8>> {
    let list: Vec<Value> = reported
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| {
                    let name = item["name"].as_str()?;
                    Some(json!({
                        "name": name,
                        "default": Some(name) == default,
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

pub fn lint() -> BTreeMap<String, Vec<u8>> {
    let mut meta = metadata(
        &json!({ "warnings": [] }),
        "Check complete, no warnings found.\n".into(),
    );
    meta.insert("result.statuscode".into(), b"0".to_vec());
    meta
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
        assert_eq!(layers["value"], "100", "defaults are shown");
    }

    #[test]
    fn targets_mark_the_default() {
        let reported = json!([{"name": "hello", "description": "greets"}, {"name": "other", "description": ""}]);
        let meta = targets(&reported, Some("hello"));
        let json: Value = serde_json::from_slice(&meta["result.json"]).unwrap();
        assert_eq!(json["targets"][0]["default"], true);
        assert_eq!(json["targets"][1]["default"], false);
        assert!(String::from_utf8_lossy(&meta["result.txt"]).contains("hello (default)\tgreets"));
    }
}
