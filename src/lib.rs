//! nix-frontend's parts, as a library so that `main.rs`, `tests/` and benches reach them.

pub mod build;
pub mod builder;
pub mod buildkit;
pub mod dockerui;
pub mod error;
pub mod nix;
pub mod plan;
pub mod sbom;
pub mod subrequests;
pub mod timestamp;
