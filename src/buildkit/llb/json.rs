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
            let mut id = format!("{}/{}", platform.os, platform.architecture);
            if !platform.variant.is_empty() {
                id = format!("{id}/{}", platform.variant);
            }
            vertex["platform"] = json!(id);
        }
        if let Some(meta) = definition.metadata.get(&digest) {
            let caps: Vec<&String> = meta.caps.keys().collect();
            if !caps.is_empty() {
                vertex["caps"] = json!(caps);
            }
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
                        if let Some(secret) = &m.secret_opt {
                            mount["secret"] = json!({
                                "id": secret.id,
                                "owner": format!("{}:{}", secret.uid, secret.gid),
                                "mode": format!("{:o}", secret.mode),
                                "optional": secret.optional,
                            });
                        }
                        if let Some(ssh) = &m.ssh_opt {
                            mount["ssh"] = json!({
                                "id": ssh.id,
                                "owner": format!("{}:{}", ssh.uid, ssh.gid),
                                "mode": format!("{:o}", ssh.mode),
                                "optional": ssh.optional,
                            });
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
                                "owner": copy.owner.as_ref().map(owner),
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
                                "owner": mkfile.owner.as_ref().map(owner),
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
                                "owner": mkdir.owner.as_ref().map(owner),
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

/// `uid:gid` as a copy or file action sets them; a name where one is given by name.
fn owner(chown: &pb::ChownOpt) -> String {
    let part = |opt: &Option<pb::UserOpt>| match opt.as_ref().and_then(|o| o.user.as_ref()) {
        Some(pb::user_opt::User::ById(id)) => id.to_string(),
        Some(pb::user_opt::User::ByName(name)) => format!("{}@{}", name.name, name.input),
        None => "-".to_string(),
    };
    format!("{}:{}", part(&chown.user), part(&chown.group))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buildkit::llb::{self, Meta};

    #[test]
    fn renders_real_owners_and_the_platform_variant() {
        let platform = pb::Platform {
            os: "linux".into(),
            architecture: "arm".into(),
            variant: "v7".into(),
            ..Default::default()
        };
        let files = llb::make_files(
            &[llb::MakeFile::Dir {
                path: "/d".into(),
                mode: 0o755,
            }],
            &platform,
            &Meta::default(),
        );
        let copy = llb::Copy {
            src: "/d".into(),
            dest: "/".into(),
            dir_contents: true,
            include_patterns: Vec::new(),
            owner: Some((1000, 100)),
            timestamp: None,
        };
        let copied = llb::copy(None, files, &[copy], &platform, &Meta::default());
        let json = definition_to_json(&llb::definition(&copied));
        assert_eq!(json[1]["platform"], "linux/arm/v7");
        assert_eq!(json[1]["file"][0]["copy"]["owner"], "1000:100");
    }
}
