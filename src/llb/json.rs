//! A readable JSON view of a `pb::Definition`, for snapshot tests and `NIX_FRONTEND_DEBUG`
//! dumps: one object per vertex, inputs named by their position in the list.

use std::collections::HashMap;

use bollard_buildkit_proto::pb;
use prost::Message;
use serde_json::{json, Value};

/// Renders every vertex of `definition` with its name, inputs and the fields that matter.
pub fn definition_to_json(definition: &pb::Definition) -> Value {
    let mut position: HashMap<String, usize> = HashMap::new();
    let mut vertices = Vec::new();
    for (i, bytes) in definition.def.iter().enumerate() {
        let digest = super::sha256_digest(bytes);
        position.insert(digest.clone(), i);
        let op = match pb::Op::decode(bytes.as_slice()) {
            Ok(op) => op,
            Err(err) => {
                vertices.push(json!({ "undecodable": err.to_string() }));
                continue;
            }
        };
        let inputs: Vec<Value> = op
            .inputs
            .iter()
            .map(|input| match position.get(&input.digest) {
                Some(p) => json!(format!("#{p}:{}", input.index)),
                None => json!(format!("{}:{}", input.digest, input.index)),
            })
            .collect();
        let mut vertex = json!({ "vertex": i, "inputs": inputs });
        if let Some(name) = definition
            .metadata
            .get(&digest)
            .and_then(|meta| meta.description.get("llb.customname"))
        {
            vertex["name"] = json!(name);
        }
        if let Some(platform) = &op.platform {
            vertex["platform"] = json!(format!("{}/{}", platform.os, platform.architecture));
        }
        match &op.op {
            None => vertex["terminal"] = json!(true),
            Some(pb::op::Op::Source(source)) => {
                vertex["source"] =
                    json!({ "identifier": source.identifier, "attrs": source.attrs });
            }
            Some(pb::op::Op::Exec(exec)) => {
                let meta = exec.meta.clone().unwrap_or_default();
                let mounts: Vec<Value> = exec
                    .mounts
                    .iter()
                    .map(|m| {
                        let mut mount = json!({
                            "dest": m.dest,
                            "input": m.input,
                            "output": m.output,
                            "type": pb::MountType::try_from(m.mount_type)
                                .map(|t| t.as_str_name())
                                .unwrap_or("?"),
                        });
                        if m.readonly {
                            mount["readonly"] = json!(true);
                        }
                        if !m.selector.is_empty() {
                            mount["selector"] = json!(m.selector);
                        }
                        if let Some(cache) = &m.cache_opt {
                            mount["cache"] = json!({ "id": cache.id, "sharing": cache.sharing });
                        }
                        mount
                    })
                    .collect();
                vertex["exec"] = json!({
                    "args": meta.args,
                    "env": meta.env,
                    "cwd": meta.cwd,
                    "user": meta.user,
                    "network": exec.network,
                    "mounts": mounts,
                });
            }
            Some(pb::op::Op::File(file)) => {
                let actions: Vec<Value> = file
                    .actions
                    .iter()
                    .map(|action| match &action.action {
                        Some(pb::file_action::Action::Copy(copy)) => json!({
                            "copy": {
                                "input": action.input,
                                "from": action.secondary_input,
                                "output": action.output,
                                "src": copy.src,
                                "dest": copy.dest,
                                "dirContents": copy.dir_copy_contents,
                                "include": copy.include_patterns,
                                "owner": copy.owner.as_ref().map(|_| "0:0"),
                                "mode": copy.mode,
                                "timestamp": copy.timestamp,
                            }
                        }),
                        Some(pb::file_action::Action::Mkfile(mkfile)) => json!({
                            "mkfile": {
                                "input": action.input,
                                "output": action.output,
                                "path": mkfile.path,
                                "mode": format!("{:o}", mkfile.mode),
                                "bytes": mkfile.data.len(),
                                "sha256": super::sha256_digest(&mkfile.data),
                            }
                        }),
                        Some(pb::file_action::Action::Mkdir(mkdir)) => json!({
                            "mkdir": {
                                "input": action.input,
                                "output": action.output,
                                "path": mkdir.path,
                                "mode": format!("{:o}", mkdir.mode),
                            }
                        }),
                        other => json!({ "other": format!("{other:?}") }),
                    })
                    .collect();
                vertex["file"] = json!(actions);
            }
            Some(pb::op::Op::Merge(merge)) => {
                vertex["merge"] = json!(merge.inputs.iter().map(|m| m.input).collect::<Vec<_>>());
            }
            Some(other) => vertex["other"] = json!(format!("{other:?}")),
        }
        vertices.push(vertex);
    }
    Value::Array(vertices)
}
