//! `cargo bench --bench plan -- [N]`: plans a synthetic closure of N store paths (default 20,000)
//! as a build would (parse the manifest, group layers, build the image LLB) and prints the time,
//! the size of the marshalled LLB against BuildKit's 16 MiB message limit, and the peak RSS.
//! bench/scale.sh runs it; BENCHMARKS.md keeps the figures.

use std::time::Instant;

use prost::Message;

use nix_frontend::buildkit::llb::{self, Meta};
use nix_frontend::dockerui::options::{Options, Platform};
use nix_frontend::dockerui::spec::Spec;
use nix_frontend::nix::closure::{self, Limits, StorePath};
use nix_frontend::plan::{self, config, BuildResult, BuilderImage, RootLink};

fn path(i: usize) -> String {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xDEAD_BEEF;
    let hash: String = (0..32)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            closure::NIX_BASE32.as_bytes()[(x >> 59) as usize] as char
        })
        .collect();
    format!("/nix/store/{hash}-package-{i}")
}

/// A manifest in `nix path-info --json` object form: path i refers to a few lower paths.
fn manifest(n: usize) -> String {
    let mut out = String::from("{");
    for i in 0..n {
        let refs: Vec<String> = [i / 2, i / 3, i.saturating_sub(1), i / 7]
            .iter()
            .filter(|r| **r < i)
            .map(|r| format!("\"{}\"", path(*r)))
            .collect();
        let size = 1000 + (i * 7919) % 5_000_000;
        out.push_str(&format!(
            "\"{}\":{{\"narSize\":{size},\"references\":[{}]}},",
            path(i),
            refs.join(",")
        ));
    }
    out.pop();
    out.push('}');
    out
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub fn run(n: usize) {
    let text = manifest(n);
    let start = Instant::now();
    let results = vec![StorePath::parse(&path(n - 1)).expect("a valid synthetic path")];
    let closure =
        closure::parse(text.as_bytes(), &results, &Limits::default()).expect("a valid manifest");
    let parsed = start.elapsed();

    let options = Options::parse(&[("filename".to_string(), "default.nix".to_string())].into())
        .expect("options");
    let spec = Spec::new(
        &options,
        "",
        &Platform::parse("linux/amd64").expect("platform"),
    )
    .expect("spec");
    let builder = BuilderImage::from_config("docker.io/nixos/nix:2.35.2", None, b"{}");
    let context = llb::local(
        &llb::Local {
            name: "context".into(),
            ..Default::default()
        },
        &Meta::default(),
    );
    let built = plan::build_stage(&spec, &builder, context.into(), None);
    let result = BuildResult {
        work: String::new(),
        packages: Vec::new(),
        closure,
        main: nix_frontend::nix::facts::RootPackage {
            path: results[0].clone(),
            info: config::DerivationInfo::default(),
        },
        others: Vec::new(),
        results: results.clone(),
        root_links: vec![RootLink { name: "bin".into() }],
        executables: vec!["app".into()],
        ca_bundle: None,
        tz_dir: None,
        collisions: Vec::new(),
    };
    let effective = config::effective(&spec, &result, &config::PackageImageConfig::default());
    let image = plan::image_stage(
        &spec,
        &result,
        &plan::Trees::SingleStep(built),
        true,
        &effective,
        &config::made_directories(&effective).expect("no declared directories"),
        None,
    );
    let definition = llb::definition(&image);
    let bytes = definition.encode_to_vec().len();
    let total = start.elapsed();
    println!("store paths:          {n}");
    println!(
        "manifest:             {} bytes, parsed and validated in {:.1} ms",
        text.len(),
        parsed.as_secs_f64() * 1e3
    );
    println!(
        "plan (parse + layers + LLB): {:.1} ms",
        total.as_secs_f64() * 1e3
    );
    println!("LLB vertices:         {}", definition.def.len());
    println!(
        "LLB definition:       {bytes} bytes ({:.1}% of BuildKit's 16 MiB message limit)",
        bytes as f64 * 100.0 / (16 << 20) as f64
    );
    if let Some(kib) = peak_rss_kib() {
        println!(
            "peak RSS:             {:.1} MiB (manifest text included)",
            kib as f64 / 1024.0
        );
    }
}

fn main() {
    // cargo passes `--bench` too: N is the first argument that is a number.
    let n = std::env::args()
        .skip(1)
        .find_map(|arg| arg.parse().ok())
        .unwrap_or(20_000);
    run(n);
}
