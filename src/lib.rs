//! nix-frontend's layers, as a library so that `main.rs`, `tests/` and benches reach them. From
//! the bottom up: `buildkit` (the gateway, LLB, the Return's result) and `nix` (what Nix reports,
//! read without Nix); `dockerui` (what the user asked); `builder` (the scripts that run in the
//! builder image, their contract and their reports); `plan` (pure: steps, image, layers,
//! config); `pipeline` (one build, start to end) and `subrequests` (`--print=…`). Beside them:
//! `error` (what a user sees), `sbom` (the SPDX document) and `timestamp`.

pub mod builder;
pub mod buildkit;
pub mod dockerui;
pub mod error;
pub mod nix;
pub mod pipeline;
pub mod plan;
pub mod sbom;
pub mod subrequests;
pub mod timestamp;
