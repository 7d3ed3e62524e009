//! The builder: the scripts that run Nix in the builder image (`*.sh`, with `facts.nix`), the
//! contract they and Rust share (paths under the output, status words, the error a failure
//! becomes), and the reading of their reports, checked as untrusted input.

pub mod architecture;
pub mod contract;
pub mod nixpkgs_files;
pub mod report;
pub mod status;

#[cfg(test)]
mod contract_tests;
#[cfg(test)]
mod script_tests;
