//! Grouping closure paths into layers, at most `cap` of them.
//!
//! A layer costs about the same whatever it holds: a copy, a MergeOp input, a tar to export and
//! digest, a blob to push and pull. Here that is about 30 ms (at one layer per path the 152-path
//! `chain` fixture built in 2.2 times the hand-written recipe's time); against a remote registry
//! it is a few requests per blob, at 30 ms round trips and 100 Mbit/s about the time 1 MiB takes
//! to send. Most layers of a typical closure held paths under 1 MiB, together about 5% of its
//! bytes, so only large paths get a layer of their own:
//!
//! - Primaries, alone in their layer: the build results (what changes from one build to the
//!   next), then every path of at least `SMALL_PATH_BYTES` of NAR (1 MiB), largest first. Their
//!   layers are the same bytes in every image that holds them.
//! - Every other path shares a layer with the paths of the same key: the build step that made it
//!   (`origin`), the set of primaries that reach it (the grouping of nixpkgs' auto-layer,
//!   nixpkgs#355189), its height in the reference graph in bands of `BAND_HEIGHTS`, and, when such
//!   a group holds more than `SHARED_LAYER_BYTES`, one of 2^k buckets by a hash of the path's
//!   name (without the store hash, so that a rebuilt path keeps its bucket).
//!
//! The key is fixed by the path itself and its place under the primaries, not by what else
//! changed: a path's height follows from its references, which its hash already names. In Nix a
//! change to a library gives new paths to it and to everything that depends on it, up to the
//! result. Those sit higher in the graph, so in a chain of small paths the ones below keep their
//! layers, the bands above are all new paths, and only the library's own band also holds
//! unchanged paths: a change to a library or to the result's source sends the new paths plus at
//! most one shared layer (in a wider graph, plus the unchanged paths of each shared layer a new
//! path lands in, which the reaching primaries keep few). A shared layer changes only when one
//! of its paths does.
//!
//! A layer never mixes paths that different build steps made (`origin`): a step is re-run as a
//! whole or not at all, so a path from a step that did not change never shares a layer with one
//! that did (in graph mode, the result's own sources beside hundreds of cached libraries). Only
//! with more steps than layers do the last steps' paths share.
//!
//! Over the cap, as in auto-layer, primaries are taken in order (results, then by size) only
//! while the layer count with one shared layer per origin and set of primaries stays within the
//! cap; then bands and buckets are as fine as the cap allows (both doubled until it fits).
//!
//! Layers are ordered dependencies first (by the lowest height in the reference graph of their
//! members), so the layers most images share form a common prefix of the chain.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::nix::closure::{Closure, StorePath};

/// Paths of at least this NAR size get a layer of their own: about what a registry sends in
/// the time a layer costs by itself.
pub const SMALL_PATH_BYTES: u64 = 1 << 20;
/// A shared layer holds about this much at most (a few small paths' worth), unless the cap
/// needs more: what a change may re-send beyond the changed paths.
pub const SHARED_LAYER_BYTES: u64 = 4 << 20;
/// Heights per band of small paths: a chain of small paths is cut into runs of this many.
pub const BAND_HEIGHTS: usize = 16;

/// One layer: its store paths, sorted, and their NAR size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub paths: Vec<StorePath>,
    pub nar_size: u64,
}

/// `origin` names the build step each path came from (one value for all in single mode).
pub fn group(
    closure: &Closure,
    results: &[StorePath],
    cap: usize,
    origin: &dyn Fn(&StorePath) -> usize,
) -> Vec<Layer> {
    let cap = cap.max(1);
    let paths: Vec<&StorePath> = closure.paths.keys().collect();
    let index: HashMap<&StorePath, usize> =
        paths.iter().enumerate().map(|(i, p)| (*p, i)).collect();
    let references: Vec<Vec<usize>> = paths
        .iter()
        .map(|p| {
            closure.paths[*p]
                .references
                .iter()
                .filter(|r| *r != *p)
                // A reference outside `closure` (a path a base image holds) orders nothing.
                .filter_map(|r| index.get(r).copied())
                .collect()
        })
        .collect();
    let graph = Graph {
        sizes: paths.iter().map(|p| closure.paths[*p].nar_size).collect(),
        heights: heights(&references),
        origins: origins_within(paths.iter().map(|p| origin(p)).collect(), cap),
        name_hashes: paths.iter().map(|p| name_hash(p.name())).collect(),
        references,
    };
    let mut seen = HashSet::new();
    let results: Vec<usize> = results
        .iter()
        .filter_map(|r| index.get(r).copied())
        .filter(|r| seen.insert(*r))
        .collect();

    let (is_primary, reach) = choose_primaries(&graph, &results, cap);
    let assignment = assign_within(&graph, &is_primary, &reach, cap);

    let mut layers: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (path, layer) in assignment.iter().enumerate() {
        layers.entry(*layer).or_default().push(path);
    }
    let mut layers: Vec<(usize, Layer)> = layers
        .into_values()
        .map(|members| {
            let height = members.iter().map(|m| graph.heights[*m]).min().unwrap_or(0);
            let layer = Layer {
                nar_size: members.iter().map(|m| graph.sizes[*m]).sum(),
                paths: members.iter().map(|m| paths[*m].clone()).collect(),
            };
            (height, layer)
        })
        .collect();
    layers.sort_by(|(ha, a), (hb, b)| ha.cmp(hb).then_with(|| a.paths.cmp(&b.paths)));
    layers.into_iter().map(|(_, layer)| layer).collect()
}

/// The closure by path index (the closure's sorted order).
struct Graph {
    references: Vec<Vec<usize>>,
    sizes: Vec<u64>,
    heights: Vec<usize>,
    origins: Vec<usize>,
    name_hashes: Vec<u64>,
}

/// The origins as given, unless there are more distinct ones than layers: then the last ones
/// (by their order, the final step first) share one, so that the cap holds.
fn origins_within(origins: Vec<usize>, cap: usize) -> Vec<usize> {
    let distinct: BTreeSet<usize> = origins.iter().copied().collect();
    if distinct.len() <= cap {
        return origins;
    }
    let rank: HashMap<usize, usize> = distinct
        .into_iter()
        .enumerate()
        .map(|(rank, origin)| (origin, rank.min(cap - 1)))
        .collect();
    origins.iter().map(|o| rank[o]).collect()
}

/// Height of each path: 0 for paths without references, else 1 + the highest reference.
fn heights(references: &[Vec<usize>]) -> Vec<usize> {
    let mut height = vec![usize::MAX; references.len()];
    for start in 0..references.len() {
        if height[start] != usize::MAX {
            continue;
        }
        // Iterative DFS; store closures are acyclic apart from self-references (removed).
        let mut stack = vec![(start, 0usize)];
        while let Some((node, next)) = stack.pop() {
            if next < references[node].len() {
                stack.push((node, next + 1));
                let child = references[node][next];
                if height[child] == usize::MAX {
                    stack.push((child, 0));
                }
            } else {
                height[node] = references[node]
                    .iter()
                    .map(|c| {
                        if height[*c] == usize::MAX {
                            0
                        } else {
                            height[*c] + 1
                        }
                    })
                    .max()
                    .unwrap_or(0);
            }
        }
    }
    height
}

/// Per path, the set of primaries it is reachable from, as a bit set over the primaries' order.
struct Reach {
    words: usize,
    bits: Vec<u64>,
}

impl Reach {
    fn new(paths: usize, primaries: usize) -> Reach {
        let words = primaries.div_ceil(64).max(1);
        Reach {
            words,
            bits: vec![0; paths * words],
        }
    }

    fn row(&self, path: usize) -> &[u64] {
        &self.bits[path * self.words..(path + 1) * self.words]
    }

    fn set(&mut self, path: usize, primary: usize, on: bool) {
        let word = &mut self.bits[path * self.words + primary / 64];
        if on {
            *word |= 1 << (primary % 64);
        } else {
            *word &= !(1 << (primary % 64));
        }
    }
}

/// The results, then the large paths by size, each taken while the layer count with the
/// coarsest sharing (one layer per origin and set of primaries) stays within the cap.
fn choose_primaries(graph: &Graph, results: &[usize], cap: usize) -> (Vec<bool>, Reach) {
    let n = graph.sizes.len();
    let mut large: Vec<usize> = (0..n)
        .filter(|p| graph.sizes[*p] >= SMALL_PATH_BYTES && !results.contains(p))
        .collect();
    large.sort_by(|a, b| graph.sizes[*b].cmp(&graph.sizes[*a]).then(a.cmp(b)));
    let candidates: Vec<usize> = results.iter().copied().chain(large).take(cap).collect();

    let mut reach = Reach::new(n, candidates.len());
    let mut is_primary = vec![false; n];
    for (primary, candidate) in candidates.into_iter().enumerate() {
        let below = reachable(&graph.references, candidate);
        for node in &below {
            reach.set(*node, primary, true);
        }
        is_primary[candidate] = true;
        if coarsest_count(graph, &is_primary, &reach) > cap {
            for node in &below {
                reach.set(*node, primary, false);
            }
            is_primary[candidate] = false;
            break;
        }
    }
    (is_primary, reach)
}

fn coarsest_count(graph: &Graph, is_primary: &[bool], reach: &Reach) -> usize {
    let mut shared: HashSet<(usize, &[u64])> = HashSet::new();
    let mut primaries = 0;
    for (path, primary) in is_primary.iter().enumerate() {
        if *primary {
            primaries += 1;
        } else {
            shared.insert((graph.origins[path], reach.row(path)));
        }
    }
    primaries + shared.len()
}

/// Layer id per path, with the finest bands and buckets whose layer count is within the cap.
fn assign_within(graph: &Graph, is_primary: &[bool], reach: &Reach, cap: usize) -> Vec<usize> {
    let max_height = graph.heights.iter().copied().max().unwrap_or(0);
    let shared_bytes: u64 = (0..graph.sizes.len())
        .filter(|p| !is_primary[*p])
        .map(|p| graph.sizes[p])
        .sum();
    let (mut band, mut budget) = (BAND_HEIGHTS, SHARED_LAYER_BYTES);
    loop {
        // Past both, every origin and set of primaries is one layer: what choose_primaries
        // counted, so within the cap.
        let coarsest = band > max_height && budget >= shared_bytes;
        let assignment = assign(graph, is_primary, reach, band, budget);
        let count = assignment.iter().max().map_or(0, |last| last + 1);
        if count <= cap || coarsest {
            return assignment;
        }
        band = band.saturating_mul(2);
        budget = budget.saturating_mul(2);
    }
}

/// Layer id per path: its own for a primary, else one per key (origin, reaching primaries,
/// height band, name bucket); ids in order of each layer's first path.
fn assign(
    graph: &Graph,
    is_primary: &[bool],
    reach: &Reach,
    band: usize,
    budget: u64,
) -> Vec<usize> {
    let n = graph.sizes.len();
    let group_of = |path: usize| {
        (
            graph.origins[path],
            reach.row(path),
            graph.heights[path] / band,
        )
    };
    let mut group_bytes: HashMap<(usize, &[u64], usize), u64> = HashMap::new();
    for path in (0..n).filter(|p| !is_primary[*p]) {
        *group_bytes.entry(group_of(path)).or_default() += graph.sizes[path];
    }
    let mut ids: HashMap<(usize, &[u64], usize, u64), usize> = HashMap::new();
    let mut next = 0;
    (0..n)
        .map(|path| {
            if is_primary[path] {
                next += 1;
                return next - 1;
            }
            let group = group_of(path);
            // 2^k buckets of at most `budget` bytes on average.
            let buckets = group_bytes[&group]
                .div_ceil(budget)
                .max(1)
                .next_power_of_two();
            let bucket = graph.name_hashes[path] & (buckets - 1);
            *ids.entry((group.0, group.1, group.2, bucket))
                .or_insert_with(|| {
                    next += 1;
                    next - 1
                })
        })
        .collect()
}

/// A fixed hash of a store path's name (FNV-1a, then MurmurHash3's finalizer so that its low
/// bits mix): the same on every machine and in every release.
fn name_hash(name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^ (hash >> 33)
}

fn reachable(references: &[Vec<usize>], from: usize) -> Vec<usize> {
    let mut seen = vec![false; references.len()];
    let mut stack = vec![from];
    let mut out = Vec::new();
    seen[from] = true;
    while let Some(node) = stack.pop() {
        out.push(node);
        for child in &references[node] {
            if !seen[*child] {
                seen[*child] = true;
                stack.push(*child);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nix::closure::PathInfo;
    use std::collections::BTreeSet;

    pub fn store_path(i: usize, name: &str) -> StorePath {
        let alphabet: Vec<char> = crate::nix::closure::NIX_BASE32.chars().collect();
        let mut hash = String::new();
        let mut x = i + 1;
        for _ in 0..32 {
            hash.push(alphabet[x % 32]);
            x = x / 32 + 7;
        }
        StorePath::parse(&format!("/nix/store/{hash}-{name}")).unwrap()
    }

    /// A closure from (name, size, references by index).
    pub fn closure(spec: &[(&str, u64, &[usize])]) -> Closure {
        let nodes: Vec<Node> = spec
            .iter()
            .map(|(name, size, refs)| Node {
                name: name.to_string(),
                size: *size,
                refs: refs.to_vec(),
                build: 0,
            })
            .collect();
        build(&nodes)
    }

    /// A store path as a node of a test closure; `build` seeds its hash, so that a rebuilt
    /// path (another `build`) gets a new hash under the same name, as in Nix.
    #[derive(Clone)]
    struct Node {
        name: String,
        size: u64,
        refs: Vec<usize>,
        build: usize,
    }

    fn node(name: &str, size: u64, refs: &[usize]) -> Node {
        Node {
            name: name.into(),
            size,
            refs: refs.to_vec(),
            build: 0,
        }
    }

    fn path_of(nodes: &[Node], i: usize) -> StorePath {
        store_path(i + 1000 * nodes[i].build, &nodes[i].name)
    }

    fn build(nodes: &[Node]) -> Closure {
        let paths: Vec<StorePath> = (0..nodes.len()).map(|i| path_of(nodes, i)).collect();
        Closure {
            paths: nodes
                .iter()
                .enumerate()
                .map(|(i, node)| {
                    let info = PathInfo {
                        path: paths[i].clone(),
                        nar_size: node.size,
                        nar_hash: None,
                        references: node
                            .refs
                            .iter()
                            .map(|r| paths[*r].clone())
                            .collect::<BTreeSet<_>>(),
                    };
                    (paths[i].clone(), info)
                })
                .collect(),
        }
    }

    /// The nodes after a change to `changed`'s source, as Nix gives them: a new path for it and
    /// for everything that depends on it (given as indices, each above its references).
    fn rebuilt(nodes: &[Node], changed: usize) -> (Vec<Node>, BTreeSet<usize>) {
        let mut dirty = BTreeSet::from([changed]);
        let mut grew = true;
        while grew {
            grew = false;
            for (i, node) in nodes.iter().enumerate() {
                if !dirty.contains(&i) && node.refs.iter().any(|r| dirty.contains(r)) {
                    dirty.insert(i);
                    grew = true;
                }
            }
        }
        let mut after = nodes.to_vec();
        for i in &dirty {
            after[*i].build += 1;
        }
        (after, dirty)
    }

    /// What the second image sends that the first did not: its layers whose path set is new;
    /// of those the ones that also hold unchanged paths, with how many; and their bytes.
    fn new_layers<'a>(
        before: &[Layer],
        after: &'a [Layer],
        unchanged: &BTreeSet<StorePath>,
    ) -> (Vec<&'a Layer>, Vec<(&'a Layer, u64)>, u64) {
        let known: BTreeSet<&Vec<StorePath>> = before.iter().map(|l| &l.paths).collect();
        let new: Vec<&Layer> = after.iter().filter(|l| !known.contains(&l.paths)).collect();
        let mut shared = Vec::new();
        let mut sent = 0;
        for layer in &new {
            sent += layer.nar_size;
            let wasted: Vec<&StorePath> = layer
                .paths
                .iter()
                .filter(|p| unchanged.contains(*p))
                .collect();
            if !wasted.is_empty() {
                shared.push((*layer, wasted.len() as u64));
            }
        }
        (new, shared, sent)
    }

    fn layer_of<'a>(layers: &'a [Layer], name: &str) -> &'a Layer {
        layers
            .iter()
            .find(|l| l.paths.iter().any(|p| p.name() == name))
            .unwrap_or_else(|| panic!("no layer holds {name}"))
    }

    /// tests/fixtures/chain: busybox (2 MB) under chain-1 … chain-150 (each 400·i bytes of
    /// data, referring to the one below) under the result, top-1.0. Returns the nodes and the
    /// result's index.
    fn chain_fixture() -> (Vec<Node>, usize) {
        let mut nodes = vec![node("busybox-static", 2_025_472, &[])];
        for i in 1..=150 {
            nodes.push(node(&format!("chain-{i}"), 400 * i as u64 + 520, &[i - 1]));
        }
        nodes.push(node("top-1.0", 736, &[0, 150]));
        (nodes, 151)
    }

    /// tests/fixtures/wide: 300 libraries of 800 kB and a message under the result, wide-app.
    fn wide_fixture() -> (Vec<Node>, usize) {
        let mut nodes = vec![node("busybox-static", 2_025_472, &[])];
        for i in 0..300 {
            nodes.push(node(&format!("wide-lib-{i}"), 800_264, &[]));
        }
        nodes.push(node("wide-message", 152, &[]));
        let refs: Vec<usize> = (0..=301).collect();
        nodes.push(node("wide-app-1.0", 24_000, &refs));
        (nodes, 302)
    }

    /// The layers of `nodes` with the default cap (less the root links' layer).
    fn layers_of(
        nodes: &[Node],
        result: usize,
        origin: &dyn Fn(&StorePath) -> usize,
    ) -> Vec<Layer> {
        let cap = crate::dockerui::spec::DEFAULT_MAX_LAYERS - 1;
        group(&build(nodes), &[path_of(nodes, result)], cap, origin)
    }

    fn unchanged_paths(nodes: &[Node], dirty: &BTreeSet<usize>) -> BTreeSet<StorePath> {
        (0..nodes.len())
            .filter(|i| !dirty.contains(i))
            .map(|i| path_of(nodes, i))
            .collect()
    }

    #[test]
    fn small_paths_share_a_layer_large_ones_and_results_do_not() {
        let c = closure(&[
            ("app", 10, &[1, 2, 3]),
            ("libc", 3_000_000, &[]),
            ("lib", 50, &[1]),
            ("data", 70, &[]),
        ]);
        let layers = group(&c, &[store_path(0, "app")], 10, &|_| 0);
        let names: Vec<Vec<&str>> = layers
            .iter()
            .map(|l| l.paths.iter().map(|p| p.name()).collect())
            .collect();
        // Dependencies first: libc and data have height 0, lib 1, the app 2.
        assert_eq!(names, [vec!["libc"], vec!["lib", "data"], vec!["app"]]);
    }

    #[test]
    fn the_chain_fixture_takes_13_layers_instead_of_100() {
        let (nodes, top) = chain_fixture();
        let layers = layers_of(&nodes, top, &|_| 0);
        // busybox, 10 bands of 16 links (the last of 7), the top; the image adds the root links.
        assert_eq!(layers.len() + 1, 13, "{layers:#?}");
        assert_eq!(layer_of(&layers, "busybox-static").paths.len(), 1);
        assert_eq!(layer_of(&layers, "top-1.0").paths.len(), 1);
        assert!(layers
            .iter()
            .all(|l| l.paths.len() == 1 || l.nar_size <= SHARED_LAYER_BYTES));
        // One layer per path up to the cap gave 99 and the root links' (BENCHMARKS.md: 100).
        println!(
            "chain fixture: {} layers with the root links'",
            layers.len() + 1
        );
    }

    #[test]
    fn a_leaf_change_in_the_chain_sends_the_top_only() {
        let (nodes, top) = chain_fixture();
        let before = layers_of(&nodes, top, &|_| 0);
        let (after_nodes, dirty) = rebuilt(&nodes, top);
        let after = layers_of(&after_nodes, top, &|_| 0);
        let (new, shared, _) = new_layers(&before, &after, &unchanged_paths(&after_nodes, &dirty));
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].paths[0].name(), "top-1.0");
        assert!(shared.is_empty());
    }

    #[test]
    fn a_library_change_mid_chain_sends_its_dependents_and_one_shared_layer() {
        let (nodes, top) = chain_fixture();
        let before = layers_of(&nodes, top, &|_| 0);
        // chain-75 and the 75 links above it change, and the top.
        let (after_nodes, dirty) = rebuilt(&nodes, 75);
        assert_eq!(dirty.len(), 77);
        let after = layers_of(&after_nodes, top, &|_| 0);
        let unchanged = unchanged_paths(&after_nodes, &dirty);
        let (new, shared, sent) = new_layers(&before, &after, &unchanged);
        // The band of chain-64 … chain-79, the 5 bands above it, the top.
        assert_eq!(new.len(), 7, "{new:#?}");
        assert_eq!(shared.len(), 1, "{shared:#?}");
        let (band, wasted) = shared[0];
        assert_eq!(wasted, 11, "chain-64 … chain-74 come again");
        assert!(band.nar_size <= SHARED_LAYER_BYTES);
        let changed_bytes: u64 = dirty.iter().map(|i| after_nodes[*i].size).sum();
        assert!(sent <= changed_bytes + band.nar_size);
    }

    #[test]
    fn the_wide_fixture_shares_buckets_and_a_change_sends_one() {
        let (nodes, app) = wide_fixture();
        let layers = layers_of(&nodes, app, &|_| 0);
        assert!(
            layers.len() < crate::dockerui::spec::DEFAULT_MAX_LAYERS,
            "{}",
            layers.len()
        );
        assert_eq!(layer_of(&layers, "wide-app-1.0").paths.len(), 1);
        assert_eq!(layer_of(&layers, "busybox-static").paths.len(), 1);
        // Buckets of about SHARED_LAYER_BYTES: a few libraries each.
        let largest = layers.iter().map(|l| l.nar_size).max().unwrap();
        assert!(largest <= 3 * SHARED_LAYER_BYTES, "{largest}");
        // A library changes: it and the app, and the library's bucket comes again.
        for changed in [150, 301] {
            let (after_nodes, dirty) = rebuilt(&nodes, changed);
            assert_eq!(dirty.len(), 2);
            let after = layers_of(&after_nodes, app, &|_| 0);
            let (new, shared, _) =
                new_layers(&layers, &after, &unchanged_paths(&after_nodes, &dirty));
            assert_eq!(new.len(), 2, "{new:#?}");
            assert_eq!(shared.len(), 1);
            assert!(shared[0].0.nar_size <= 3 * SHARED_LAYER_BYTES);
        }
    }

    #[test]
    fn a_leaf_source_from_its_own_build_step_is_a_layer_of_its_own() {
        let (nodes, app) = wide_fixture();
        // As in graph mode: the message from the evaluation, the libraries from four steps.
        let origin = |p: &StorePath| match p.name() {
            "wide-message" => 9,
            "wide-app-1.0" => 0,
            "busybox-static" => 8,
            name => 1 + name.len() % 4,
        };
        let before = layers_of(&nodes, app, &origin);
        assert!(before.len() < crate::dockerui::spec::DEFAULT_MAX_LAYERS);
        assert_origins_kept(&before, &origin);
        let (after_nodes, dirty) = rebuilt(&nodes, 301);
        let after = layers_of(&after_nodes, app, &origin);
        let (new, shared, _) = new_layers(&before, &after, &unchanged_paths(&after_nodes, &dirty));
        assert_eq!(new.len(), 2);
        assert!(shared.is_empty());
    }

    /// app → python (large) → libffi, zlib; app → node (large) → zlib, c-ares, libuv; all
    /// those → glibc (large).
    fn two_stacks() -> (Vec<Node>, usize) {
        let nodes = vec![
            node("glibc-2.40", 30_000_000, &[]),
            node("zlib-1.3", 120_000, &[0]),
            node("libffi-3.4", 80_000, &[0]),
            node("c-ares-1.34", 300_000, &[0]),
            node("libuv-1.48", 600_000, &[0]),
            node("python3-3.12", 100_000_000, &[0, 1, 2]),
            node("nodejs-22", 90_000_000, &[0, 1, 3, 4]),
            node("app", 5_000, &[5, 6]),
        ];
        (nodes, 7)
    }

    #[test]
    fn a_library_change_leaves_the_small_paths_of_other_primaries_alone() {
        let (nodes, app) = two_stacks();
        let before = layers_of(&nodes, app, &|_| 0);
        assert_eq!(
            layer_of(&before, "c-ares-1.34").paths.len(),
            2,
            "with libuv: what nodejs alone reaches"
        );
        let (after_nodes, dirty) = rebuilt(&nodes, 2);
        let after = layers_of(&after_nodes, app, &|_| 0);
        let (new, shared, _) = new_layers(&before, &after, &unchanged_paths(&after_nodes, &dirty));
        // libffi, python, the app: nothing else.
        assert_eq!(new.len(), 3, "{new:#?}");
        assert!(shared.is_empty());
    }

    fn assert_origins_kept(layers: &[Layer], origin: &dyn Fn(&StorePath) -> usize) {
        for layer in layers {
            let origins: BTreeSet<usize> = layer.paths.iter().map(origin).collect();
            assert_eq!(origins.len(), 1, "{layer:?}");
        }
    }

    #[test]
    fn over_the_cap_every_path_lands_in_exactly_one_layer() {
        // A chain of 150: each path references the next; the first 20 are large.
        let refs: Vec<Vec<usize>> = (0..150)
            .map(|i| if i < 149 { vec![i + 1] } else { vec![] })
            .collect();
        let spec: Vec<(String, u64, &[usize])> = (0..150)
            .map(|i| {
                let size = if i < 20 { 2_000_000 } else { 100 };
                (format!("p{i}"), size + i as u64, refs[i].as_slice())
            })
            .collect();
        let spec_ref: Vec<(&str, u64, &[usize])> =
            spec.iter().map(|(n, s, r)| (n.as_str(), *s, *r)).collect();
        let c = closure(&spec_ref);
        for cap in [1, 2, 3, 10, 21, 22, 69, 124] {
            let layers = group(&c, &[store_path(0, "p0")], cap, &|p| p.name().len() % 2);
            assert!(layers.len() <= cap, "cap {cap}: {} layers", layers.len());
            let mut all: Vec<StorePath> = layers.iter().flat_map(|l| l.paths.clone()).collect();
            all.sort();
            assert_eq!(all, c.paths.keys().cloned().collect::<Vec<_>>());
            if cap >= 2 {
                assert_origins_kept(&layers, &|p| p.name().len() % 2);
            }
            if cap >= 3 {
                assert_eq!(layer_of(&layers, "p0").paths.len(), 1, "cap {cap}");
            }
            if cap >= 24 {
                // p0 and the 19 large ones alone, the small ones in their bands.
                for i in 0..20 {
                    assert_eq!(layer_of(&layers, &format!("p{i}")).paths.len(), 1);
                }
            }
        }
    }

    #[test]
    fn more_build_steps_than_layers_still_keep_the_cap() {
        let c = closure(&[("app", 10, &[1, 2]), ("a", 10, &[]), ("b", 10, &[])]);
        let origin = |p: &StorePath| p.name().len() + p.name().as_bytes()[0] as usize;
        // Three steps, two layers: the last two steps (b's and the app's) share one.
        let layers = group(&c, &[store_path(0, "app")], 2, &origin);
        assert_eq!(layers.len(), 2, "{layers:?}");
        assert_eq!(layer_of(&layers, "a").paths.len(), 1);
        assert_eq!(group(&c, &[], 1, &origin).len(), 1);
    }

    #[test]
    fn the_app_stays_small_when_it_changes() {
        // app (small) → big1, big2 → libc. Over a cap of 3 the app must not share a layer with
        // a big dependency.
        let c = closure(&[
            ("app", 5, &[1, 2]),
            ("big1", 5_000_000, &[3]),
            ("big2", 4_000_000, &[3]),
            ("libc", 3_000_000, &[]),
        ]);
        let layers = group(&c, &[store_path(0, "app")], 3, &|_| 0);
        assert!(layers.len() <= 3);
        let app_layer = layer_of(&layers, "app");
        assert!(app_layer.nar_size < 100, "{app_layer:?}");
    }

    #[test]
    fn a_layer_never_mixes_build_steps() {
        // app → 6 equal libraries (from step 1) and its own small source (step 2): over a cap
        // of 4, the source must not share a layer with a library, or a change to it would
        // re-send the libraries.
        let c = closure(&[
            ("app", 5, &[1, 2, 3, 4, 5, 6, 7]),
            ("lib1", 1000, &[]),
            ("lib2", 1000, &[]),
            ("lib3", 1000, &[]),
            ("lib4", 1000, &[]),
            ("lib5", 1000, &[]),
            ("lib6", 1000, &[]),
            ("message", 10, &[]),
        ]);
        let origin = |p: &StorePath| match p.name() {
            "app" => 3,
            "message" => 2,
            _ => 1,
        };
        let layers = group(&c, &[store_path(0, "app")], 4, &origin);
        assert!(layers.len() <= 4, "{layers:?}");
        assert_eq!(layer_of(&layers, "message").paths.len(), 1, "{layers:?}");
        // Without origins the source lands with libraries.
        let mixed = group(&c, &[store_path(0, "app")], 4, &|_| 0);
        assert!(layer_of(&mixed, "message").paths.len() > 1);
    }

    proptest::proptest! {
        #[test]
        fn any_closure_keeps_the_rules(
            shape in proptest::collection::vec(
                (0u64..3_000_000, proptest::collection::vec(0usize..1000, 0..4), 0usize..4),
                1..80,
            ),
            cap in 1usize..90,
        ) {
            // Path i refers to some of the paths before it.
            let nodes: Vec<Node> = shape
                .iter()
                .enumerate()
                .map(|(i, (size, refs, _))| Node {
                    name: format!("p{i}"),
                    size: *size,
                    refs: if i == 0 { Vec::new() } else { refs.iter().map(|r| r % i).collect() },
                    build: 0,
                })
                .collect();
            let origins: HashMap<StorePath, usize> =
                (0..nodes.len()).map(|i| (path_of(&nodes, i), shape[i].2)).collect();
            let origin = |p: &StorePath| origins[p];
            let c = build(&nodes);
            let results = [path_of(&nodes, nodes.len() - 1)];
            let layers = group(&c, &results, cap, &origin);
            // Deterministic (another run sees other hash map seeds), within the cap, every
            // path once.
            proptest::prop_assert_eq!(&layers, &group(&c, &results, cap, &origin));
            proptest::prop_assert!(layers.len() <= cap);
            let mut all: Vec<StorePath> = layers.iter().flat_map(|l| l.paths.clone()).collect();
            all.sort();
            proptest::prop_assert_eq!(all, c.paths.keys().cloned().collect::<Vec<_>>());
            let distinct: BTreeSet<usize> = shape.iter().map(|s| s.2).collect();
            if distinct.len() <= cap {
                for layer in &layers {
                    let mixed: BTreeSet<usize> = layer.paths.iter().map(origin).collect();
                    proptest::prop_assert_eq!(mixed.len(), 1);
                }
            }
            // With room for every path, the result and every large path are alone, and a
            // shared layer holds only small paths.
            if cap >= nodes.len() {
                for layer in &layers {
                    let alone = layer.paths.iter().any(|p| {
                        c.paths[p].nar_size >= SMALL_PATH_BYTES || results.contains(p)
                    });
                    proptest::prop_assert!(!alone || layer.paths.len() == 1, "{:?}", layer);
                }
            }
            // Dependencies first: no layer before one holding a path it refers to... by height.
            let lowest: Vec<usize> = layers
                .iter()
                .map(|l| {
                    l.paths.iter().map(|p| height_of(&c, p)).min().unwrap()
                })
                .collect();
            proptest::prop_assert!(lowest.windows(2).all(|w| w[0] <= w[1]));
        }
    }

    fn height_of(c: &Closure, path: &StorePath) -> usize {
        c.paths[path]
            .references
            .iter()
            .filter(|r| *r != path)
            .map(|r| height_of(c, r) + 1)
            .max()
            .unwrap_or(0)
    }
}
