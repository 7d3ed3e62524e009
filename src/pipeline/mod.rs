//! One build, start to end: read the build file, make the `Spec`, then per platform run the
//! plan's steps through the gateway (`frontend`, with the graph plan in `graph_build`), read
//! what the builder reported, and assemble the image.

pub mod assemble;
pub mod frontend;
pub mod graph_build;
