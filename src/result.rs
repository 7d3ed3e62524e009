//! What a build hands back to BuildKit: one image per platform (its ref and config) and the
//! metadata and refs of the Return, in the shapes of BuildKit's exporter (exptypes).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::options::Platform;

/// What the build returns to BuildKit.
#[derive(Debug, Clone)]
pub struct Built {
    /// One image per platform, in the order asked for.
    pub images: Vec<PlatformImage>,
    /// Several platforms were asked for: return a refs map under one index.
    pub multi_platform: bool,
}

#[derive(Debug, Clone)]
pub struct PlatformImage {
    pub platform: Platform,
    pub reference: String,
    pub config: Value,
}

/// Metadata for the Return of the built images: `containerimage.config` for one platform; per
/// platform id keys and `refs.platforms` for several (exporter/containerimage/exptypes).
pub fn result_metadata(built: &Built) -> BTreeMap<String, Vec<u8>> {
    let config =
        |image: &PlatformImage| serde_json::to_vec(&image.config).expect("JSON values serialise");
    if !built.multi_platform {
        return BTreeMap::from([(
            "containerimage.config".to_string(),
            config(&built.images[0]),
        )]);
    }
    let mut metadata = BTreeMap::new();
    let mut platforms = Vec::new();
    for image in &built.images {
        let id = image.platform.to_string();
        metadata.insert(format!("containerimage.config/{id}"), config(image));
        let mut platform = serde_json::json!({ "architecture": image.platform.architecture, "os": image.platform.os });
        if let Some(variant) = &image.platform.variant {
            platform["variant"] = serde_json::json!(variant);
        }
        platforms.push(serde_json::json!({ "ID": id, "Platform": platform }));
    }
    metadata.insert(
        "refs.platforms".to_string(),
        serde_json::to_vec(&serde_json::json!({ "Platforms": platforms }))
            .expect("JSON values serialise"),
    );
    metadata
}

/// The refs to return: one unnamed ref, or one per platform id.
pub fn result_refs(built: &Built) -> Vec<(Option<String>, String)> {
    built
        .images
        .iter()
        .map(|image| {
            let id = built.multi_platform.then(|| image.platform.to_string());
            (id, image.reference.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(platform: &str, reference: &str) -> PlatformImage {
        PlatformImage {
            platform: Platform::parse(platform).unwrap(),
            reference: reference.into(),
            config: serde_json::json!({ "architecture": "x" }),
        }
    }

    #[test]
    fn one_platform_returns_one_unnamed_ref_and_its_config() {
        let built = Built {
            images: vec![image("linux/amd64", "r0")],
            multi_platform: false,
        };
        assert_eq!(result_refs(&built), [(None, "r0".to_string())]);
        let metadata = result_metadata(&built);
        assert_eq!(
            metadata.keys().collect::<Vec<_>>(),
            ["containerimage.config"]
        );
    }

    #[test]
    fn several_platforms_return_refs_by_platform_id_with_variants() {
        let built = Built {
            images: vec![image("linux/amd64", "r0"), image("linux/arm/v7", "r1")],
            multi_platform: true,
        };
        assert_eq!(
            result_refs(&built),
            [
                (Some("linux/amd64".to_string()), "r0".to_string()),
                (Some("linux/arm/v7".to_string()), "r1".to_string())
            ]
        );
        let metadata = result_metadata(&built);
        assert!(metadata.contains_key("containerimage.config/linux/arm/v7"));
        let platforms: Value = serde_json::from_slice(&metadata["refs.platforms"]).unwrap();
        assert_eq!(
            platforms["Platforms"][1],
            serde_json::json!({
                "ID": "linux/arm/v7",
                "Platform": { "architecture": "arm", "os": "linux", "variant": "v7" }
            })
        );
    }
}
