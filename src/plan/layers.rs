//! Grouping closure paths into layers, at most `cap` of them.
//!
//! At or below the cap every store path is its own layer. Above it we follow the size-based
//! scheme of nixpkgs' auto-layer (nixpkgs#355189), not the old popularity split that buried the
//! app in one huge last layer (nix2container#204): repeatedly take the largest remaining path
//! (by NAR size) as a primary with a layer of its own, starting with the build results
//! themselves, which are what changes from one build to the next; every other path goes with the set of
//! primaries it is reachable from, one layer per distinct set (the empty set, paths only the
//! result reaches, is a layer too). Primaries are added while the layer count stays within the cap.
//! A change to the app then re-sends only the small layers that hold what changed.
//!
//! A layer never mixes paths that different build steps produced (`origin`): a step is re-run
//! as a whole or not at all, so a path from a step that did not change never shares a layer with
//! one that did (in graph mode, the result's own sources beside hundreds of cached libraries).
//!
//! Layers are ordered dependencies first (by the lowest height in the reference graph of their
//! members), so the layers most images share form a common prefix of the chain.

use std::collections::{BTreeMap, HashMap};

use crate::nix::closure::{Closure, StorePath};

/// One layer: its store paths, sorted, and their NAR size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    pub paths: Vec<StorePath>,
    pub nar_size: u64,
}

/// A set of primaries as a bit set; `cap` is at most a few hundred, so a Vec of words.
type PrimarySet = Vec<u64>;

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
    let sizes: Vec<u64> = paths.iter().map(|p| closure.paths[*p].nar_size).collect();
    let heights = heights(&references);

    let assignment: Vec<usize> = if paths.len() <= cap {
        (0..paths.len()).collect()
    } else {
        let results: Vec<usize> = results
            .iter()
            .filter_map(|r| index.get(r).copied())
            .collect();
        let origins: Vec<usize> = paths.iter().map(|p| origin(p)).collect();
        assign_by_primaries(&references, &sizes, &origins, &results, cap)
    };

    let mut layers: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (path, layer) in assignment.iter().enumerate() {
        layers.entry(*layer).or_default().push(path);
    }
    let mut layers: Vec<(usize, Layer)> = layers
        .into_values()
        .map(|members| {
            let height = members.iter().map(|m| heights[*m]).min().unwrap_or(0);
            let layer = Layer {
                nar_size: members.iter().map(|m| sizes[*m]).sum(),
                paths: members.iter().map(|m| paths[*m].clone()).collect(),
            };
            (height, layer)
        })
        .collect();
    layers.sort_by(|(ha, a), (hb, b)| ha.cmp(hb).then_with(|| a.paths.cmp(&b.paths)));
    layers.into_iter().map(|(_, layer)| layer).collect()
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

/// Layer key per path when the closure is over the cap.
fn assign_by_primaries(
    references: &[Vec<usize>],
    sizes: &[u64],
    origins: &[usize],
    results: &[usize],
    cap: usize,
) -> Vec<usize> {
    let n = references.len();
    let mut by_size: Vec<usize> = (0..n).filter(|p| !results.contains(p)).collect();
    by_size.sort_by(|a, b| sizes[*b].cmp(&sizes[*a]).then(a.cmp(b)));
    let candidates = results.iter().copied().chain(by_size);

    let words = cap.div_ceil(64).max(1);
    let mut reach: Vec<PrimarySet> = vec![vec![0; words]; n];
    let mut is_primary = vec![false; n];
    for (primary, candidate) in candidates.take(cap).enumerate() {
        let mut next_reach = reach.clone();
        for node in reachable(references, candidate) {
            next_reach[node][primary / 64] |= 1 << (primary % 64);
        }
        is_primary[candidate] = true;
        if layer_count(&next_reach, &is_primary, origins) > cap {
            is_primary[candidate] = false;
            break;
        }
        reach = next_reach;
    }

    let mut keys: HashMap<(bool, usize, PrimarySet), usize> = HashMap::new();
    (0..n)
        .map(|path| {
            let key = if is_primary[path] {
                (true, path, Vec::new())
            } else {
                (false, origins[path], reach[path].clone())
            };
            let next = keys.len();
            *keys.entry(key).or_insert(next)
        })
        .collect()
}

fn layer_count(reach: &[PrimarySet], is_primary: &[bool], origins: &[usize]) -> usize {
    let mut sets: std::collections::HashSet<(usize, &PrimarySet)> =
        std::collections::HashSet::new();
    let primaries = is_primary.iter().filter(|p| **p).count();
    for (path, set) in reach.iter().enumerate() {
        if !is_primary[path] {
            sets.insert((origins[path], set));
        }
    }
    primaries + sets.len()
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
        let paths: Vec<StorePath> = spec
            .iter()
            .enumerate()
            .map(|(i, (n, _, _))| store_path(i, n))
            .collect();
        Closure {
            paths: spec
                .iter()
                .enumerate()
                .map(|(i, (_, size, refs))| {
                    let info = PathInfo {
                        path: paths[i].clone(),
                        nar_size: *size,
                        nar_hash: None,
                        references: refs
                            .iter()
                            .map(|r| paths[*r].clone())
                            .collect::<BTreeSet<_>>(),
                    };
                    (paths[i].clone(), info)
                })
                .collect(),
        }
    }

    #[test]
    fn below_the_cap_every_path_is_a_layer_dependencies_first() {
        let c = closure(&[("app", 10, &[1, 2]), ("libc", 1000, &[]), ("lib", 50, &[1])]);
        let layers = group(&c, &[], 10, &|_| 0);
        assert_eq!(layers.len(), 3);
        let names: Vec<&str> = layers.iter().map(|l| l.paths[0].name()).collect();
        assert_eq!(names, ["libc", "lib", "app"]);
    }

    #[test]
    fn over_the_cap_every_path_lands_in_exactly_one_layer() {
        // A chain of 150: each path references the next.
        let refs: Vec<Vec<usize>> = (0..150)
            .map(|i| if i < 149 { vec![i + 1] } else { vec![] })
            .collect();
        let spec: Vec<(String, u64, &[usize])> = (0..150)
            .map(|i| (format!("p{i}"), (i as u64 + 1) * 10, refs[i].as_slice()))
            .collect();
        let spec_ref: Vec<(&str, u64, &[usize])> =
            spec.iter().map(|(n, s, r)| (n.as_str(), *s, *r)).collect();
        let c = closure(&spec_ref);
        for cap in [1, 2, 10, 99, 100] {
            let layers = group(&c, &[store_path(0, "p0")], cap, &|_| 0);
            assert!(layers.len() <= cap, "cap {cap}: {} layers", layers.len());
            let mut all: Vec<StorePath> = layers.iter().flat_map(|l| l.paths.clone()).collect();
            all.sort();
            assert_eq!(all, c.paths.keys().cloned().collect::<Vec<_>>());
            if cap >= 2 {
                let top = layers
                    .iter()
                    .find(|l| l.paths.iter().any(|p| p.name() == "p0"))
                    .unwrap();
                assert_eq!(
                    top.paths.len(),
                    1,
                    "cap {cap}: the changed top shares a layer"
                );
            }
        }
    }

    #[test]
    fn the_app_stays_small_when_it_changes() {
        // app (small) → big1, big2 → libc. Over a cap of 3 the app must not share a layer with
        // a big dependency.
        let c = closure(&[
            ("app", 5, &[1, 2]),
            ("big1", 5000, &[3]),
            ("big2", 4000, &[3]),
            ("libc", 3000, &[]),
        ]);
        let layers = group(&c, &[store_path(0, "app")], 3, &|_| 0);
        assert!(layers.len() <= 3);
        let app_layer = layers
            .iter()
            .find(|l| l.paths.iter().any(|p| p.name() == "app"))
            .unwrap();
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
        let message = layers
            .iter()
            .find(|l| l.paths.iter().any(|p| p.name() == "message"))
            .unwrap();
        assert_eq!(message.paths.len(), 1, "{layers:?}");
        // Without origins the source lands with libraries.
        let mixed = group(&c, &[store_path(0, "app")], 4, &|_| 0);
        assert!(mixed
            .iter()
            .any(|l| l.paths.len() > 1 && l.paths.iter().any(|p| p.name() == "message")));
    }
}
