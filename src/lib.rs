//! nix-frontend's parts, as a library so that `main.rs`, `tests/` and benches reach them.

pub mod assemble;
pub mod bench;
pub mod bridge;
pub mod closure;
pub mod context;
pub mod dockerignore;
pub mod drvgraph;
pub mod error;
#[cfg(test)]
pub mod fake_gateway;
pub mod frontend;
pub mod gateway;
pub mod graph_build;
pub mod llb;
pub mod nixinfo;
pub mod nixsyntax;
pub mod options;
pub mod plan;
pub mod report;
pub mod result;
pub mod sbom;
pub mod spec;
pub mod subrequests;
pub mod syntax;
pub mod timestamp;
