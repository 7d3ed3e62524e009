//! MergeOp: layers stacked without copying, so each keeps its own cache.

use bollard_buildkit_proto::pb;

use super::{caps, vertex, Meta, Output};

/// MergeOp: the inputs stacked as independent layers, later ones on top. A merge of one
/// input is that input (BuildKit's client does the same).
pub fn merge(mut layers: Vec<Output>, platform: &pb::Platform, meta: &Meta) -> Output {
    if layers.len() == 1 {
        if let Some(only) = layers.pop() {
            return only;
        }
    }
    // BuildKit merges the vertex's inputs in their order and reads these indices only for the
    // cache key, which it takes from their JSON: releases before 0.15 write `"input":0` where
    // later ones omit it, so an index 0 here would make every merge (and every step on it) miss
    // another release's cache. The list names each input but the first, and the last in its place.
    let count = layers.len() as i64;
    let op = pb::op::Op::Merge(pb::MergeOp {
        inputs: (0..count)
            .map(|i| pb::MergeInput {
                input: if i == 0 { count - 1 } else { i },
            })
            .collect(),
    });
    let mut meta = meta.clone();
    meta.caps.push(caps::MERGE_OP);
    Output {
        vertex: vertex(op, layers, Some(platform), &meta),
        index: 0,
    }
}
