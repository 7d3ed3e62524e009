//! What a build hands back to BuildKit: one image per platform (its ref and config) and the
//! metadata and refs of the Return, in the shapes of BuildKit's exporter (exptypes).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::buildkit::platform::Platform;

/// The predicate type of an SPDX document in an in-toto statement.
pub const SBOM_PREDICATE_TYPE: &str = "https://spdx.dev/Document";
/// Where an SPDX document lies in the ref returned with it.
pub const SBOM_DOCUMENT_PATH: &str = "/sbom.spdx.json";

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
    /// The ref holding this image's SPDX document at `SBOM_DOCUMENT_PATH`, when asked for.
    pub sbom: Option<String>,
}

/// An in-toto attestation of one platform's image: a file in a ref holding only the predicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    /// The platform id the Return's attestations are keyed by.
    pub platform: String,
    pub reference: String,
    pub path: String,
    pub predicate_type: String,
    /// BuildKit's attestation metadata (`reason` = `sbom`).
    pub metadata: BTreeMap<String, Vec<u8>>,
}

/// Metadata for the Return of the built images: `containerimage.config` for one platform; per
/// platform id keys and `refs.platforms` for several (exporter/containerimage/exptypes).
pub fn result_metadata(built: &Built) -> BTreeMap<String, Vec<u8>> {
    let config =
        |image: &PlatformImage| serde_json::to_vec(&image.config).expect("JSON values serialise");
    let attested = built.images.iter().any(|image| image.sbom.is_some());
    if !built.multi_platform && !attested {
        return BTreeMap::from([(
            "containerimage.config".to_string(),
            config(&built.images[0]),
        )]);
    }
    // With attestations, `refs.platforms` names the platform id they are keyed by even for one
    // platform (as the Dockerfile frontend always does), rather than leaving BuildKit to derive
    // it from the config.
    let mut metadata = BTreeMap::new();
    let mut platforms = Vec::new();
    for image in &built.images {
        let id = image.platform.to_string();
        if built.multi_platform {
            metadata.insert(format!("containerimage.config/{id}"), config(image));
        } else {
            metadata.insert("containerimage.config".to_string(), config(image));
        }
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

/// The attestations to return: the SBOM of each platform's image that has one.
pub fn result_attestations(built: &Built) -> Vec<Attestation> {
    built
        .images
        .iter()
        .filter_map(|image| {
            Some(Attestation {
                platform: image.platform.to_string(),
                reference: image.sbom.clone()?,
                path: SBOM_DOCUMENT_PATH.to_string(),
                predicate_type: SBOM_PREDICATE_TYPE.to_string(),
                metadata: BTreeMap::from([("reason".to_string(), b"sbom".to_vec())]),
            })
        })
        .collect()
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
            sbom: None,
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

    #[test]
    fn an_sbom_is_an_attestation_keyed_by_the_platform_named_in_the_metadata() {
        let mut one = image("linux/arm64", "r0");
        one.sbom = Some("s0".into());
        let built = Built {
            images: vec![one],
            multi_platform: false,
        };
        let attestations = result_attestations(&built);
        assert_eq!(attestations.len(), 1);
        assert_eq!(attestations[0].platform, "linux/arm64");
        assert_eq!(attestations[0].reference, "s0");
        assert_eq!(attestations[0].predicate_type, "https://spdx.dev/Document");
        assert_eq!(result_refs(&built), [(None, "r0".to_string())]);
        let metadata = result_metadata(&built);
        assert!(metadata.contains_key("containerimage.config"));
        let platforms: Value = serde_json::from_slice(&metadata["refs.platforms"]).unwrap();
        assert_eq!(platforms["Platforms"][0]["ID"], "linux/arm64");
        // Without an SBOM nothing changes.
        let plain = Built {
            images: vec![image("linux/arm64", "r0")],
            multi_platform: false,
        };
        assert!(result_attestations(&plain).is_empty());
        assert_eq!(result_metadata(&plain).len(), 1);
    }
}
