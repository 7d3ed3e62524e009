//! What the user asked for, read as BuildKit's dockerui reads it: the frontend options, the
//! build context and build file (with `.dockerignore`), the Dockerfile dialect, and the `Spec`
//! they make together.

pub mod context;
pub mod dockerignore;
pub mod options;
pub mod spec;
pub mod syntax;
