//! The platform of a build (`--platform`, the worker's): how it is written, its Nix system and
//! its BuildKit form, in one place since every layer names platforms.

use std::fmt;

/// `os/arch[/variant]`, as in `--platform`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(text: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = text.trim().split('/').collect();
        let valid = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        match parts.as_slice() {
            [os, arch] if valid(os) && valid(arch) => Ok(Platform {
                os: os.to_string(),
                architecture: normalize_arch(arch).to_string(),
                variant: None,
            }),
            [os, arch, variant] if valid(os) && valid(arch) && valid(variant) => Ok(Platform {
                os: os.to_string(),
                architecture: normalize_arch(arch).to_string(),
                variant: Some(variant.to_string()),
            }),
            _ => Err(format!(
                "{text:?} is not a platform; write it as os/arch[/variant], e.g. linux/amd64"
            )),
        }
    }

    /// A platform as BuildKit reports it (a worker's), with the architecture normalised as
    /// `parse` does and an empty variant as none.
    pub fn from_pb(platform: &bollard_buildkit_proto::pb::Platform) -> Platform {
        Platform {
            os: platform.os.clone(),
            architecture: normalize_arch(&platform.architecture).to_string(),
            variant: Some(platform.variant.clone()).filter(|v| !v.is_empty()),
        }
    }

    /// The platform this binary runs on: the worker's when BuildKit names none.
    pub fn host() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: normalize_arch(std::env::consts::ARCH).to_string(),
            variant: None,
        }
    }

    /// The Nix system for this platform, e.g. `x86_64-linux` for linux/amd64.
    pub fn nix_system(&self) -> Option<&'static str> {
        if self.os != "linux" {
            return None;
        }
        Some(
            match (self.architecture.as_str(), self.variant.as_deref()) {
                ("amd64", _) => "x86_64-linux",
                ("arm64", _) => "aarch64-linux",
                ("386", _) => "i686-linux",
                ("arm", Some("v7") | None) => "armv7l-linux",
                ("arm", Some("v6")) => "armv6l-linux",
                ("riscv64", _) => "riscv64-linux",
                ("ppc64le", _) => "powerpc64le-linux",
                ("s390x", _) => "s390x-linux",
                _ => return None,
            },
        )
    }

    pub fn to_pb(&self) -> bollard_buildkit_proto::pb::Platform {
        bollard_buildkit_proto::pb::Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone().unwrap_or_default(),
            ..Default::default()
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

fn normalize_arch(arch: &str) -> &str {
    match arch {
        "x86_64" | "x86-64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}
