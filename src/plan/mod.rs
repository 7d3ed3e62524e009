//! Pure planning: from a `Spec` and what the builder reported to LLB graphs and the image config.
//!
//! Nix's work is planned one of two ways. In the graph plan (`NIX_PLAN=graph`, the default; see
//! `graph`) an evaluation step reports the derivations, and each planned group of them is a
//! build step of its own, whose output holds the store paths it made, laid out one tree per path,
//! and, for the final group, the manifest. In the single plan (`NIX_PLAN=single`, and always on a
//! BuildKit without MergeOp) one step, `build_stage`, builds over a persistent store and lays out
//! the whole closure and the manifest in its output.
//!
//! Either way the image stage (`image_stage`) then copies each closure path from the output that
//! holds its tree (`Trees`) onto scratch, each result and large path as a layer of its own and
//! small paths in shared layers (see `layers`), and merges them, so a large path's layer is the
//! same bytes, and the same digest, in every image that contains it; a last layer holds the root
//! links and the USER and WORKDIR files. Without MergeOp each layer is copied onto the one
//! before. What every Nix step shares is here too: the builder image, its environment
//! (`builder_env`), the credential and context mounts and the scripts' files (`tools`). `config`
//! makes the image config.

pub mod base;
pub mod config;
pub mod graph;
pub mod image;
pub mod layers;
pub mod nar_cache;
pub mod step;

/// The builder contract, as the plan's steps read it.
use crate::builder::contract;

pub use image::{default_program, image_config, image_stage, BuildResult, RootLink, Trees};
pub use step::{
    build_stage, build_step_name, builder_env, builder_image, evaluation_env, host_system,
    mount_credentials, mount_push_secrets, mount_sources, named_context_dir, network_mode,
    nix_cache_id, nix_platform, nix_stage, platform_prefixed, tools, BuilderImage, Sources, Task,
    AWS_SECRET, CACHE_KEY_SECRET, NETRC_SECRET, SCRIPT_DIR,
};

#[cfg(test)]
mod tests;
