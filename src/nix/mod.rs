//! What Nix says, read without running Nix: closure manifests, what a .drv file says, the evaluation's derivation graph
//! (parsed, validated, cut into groups), a Nix file's syntax for `--check`, and the facts the
//! evaluation reports about the value and its packages, the inputs pinned by their hash. Pure.

pub mod closure;
pub mod derivation;
pub mod drvgraph;
pub mod facts;
pub mod inline_inputs;
pub mod narinfo;
pub mod pins;
pub mod syntax;
