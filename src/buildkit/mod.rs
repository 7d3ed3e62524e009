//! BuildKit's side of the frontend: the `Gateway` trait (the calls a build makes) with its fake
//! for unit tests, the bridge that speaks it over stdin/stdout, the typed LLB builder, and the
//! result handed back with Return.

pub mod bridge;
#[cfg(test)]
pub mod fake_gateway;
pub mod gateway;
pub mod llb;
pub mod platform;
pub mod result;
