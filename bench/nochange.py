#!/usr/bin/env python3
"""The no-change rebuild, ours against the recipe built two ways, in one run: with the Dockerfile
frontend built into the daemon (what bench/compare.py compares with) and with the same Dockerfile
frontend as a `# syntax=` image (BuildKit v0.32.2's, built from its source by `scripts/buildkit
dockerfile-frontend`), which is how every frontend that is an image runs, ours included.

usage: bench/nochange.py [--runs N] [--fixtures substitute,chain,wide] [--builder NAME]
                         [--docker28 CONTAINER] [--libraries N]

Each way is built once from a pruned builder and rebuilt once, then the three no-change rebuilds
run N times in turn (the order rotates each round). It prints the medians and the ratios:
ours / built-in is bench/compare.py's no-change figure; image / built-in is what a frontend that
is an image pays before it does anything of its own; ours / image is ours against a frontend
that pays the same. --builder and --docker28 as in bench/compare.py (the frontend images go to
the local registry, or into that daemon). Expects what bench/compare.py expects.
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402  (bench/compare.py: its builds, fixtures and servers)

DOCKERFILE_FRONTEND = "nix-frontend-test/dockerfile-frontend:v0.32.2"
KINDS = ("nix-frontend", "recipe", "recipe-image")


def prepare(args):
    """bench/compare.py's settings for this run; returns the Dockerfile frontend image's name as
    the builder sees it."""
    compare.BUILDER, compare.LIBRARIES = args.builder, args.libraries
    compare.run([os.path.join(compare.ROOT, "scripts", "buildkit"), "dockerfile-frontend"])
    if args.docker28:
        compare.run([os.path.join(compare.ROOT, "scripts", "docker28"), "load", DOCKERFILE_FRONTEND])
        compare.use_docker28(args.docker28)
    if not args.builder:
        return DOCKERFILE_FRONTEND
    compare.publish_for_builder()
    return compare.publish(DOCKERFILE_FRONTEND, "127.0.0.1:5000/dockerfile-frontend:bench")


def builder_of(fixture, work, image):
    """A function that builds one way of the fixture, and what must close after the run."""
    attr, leaf, line, mid, mid_line = compare.FIXTURES[fixture]
    source = "wide" if fixture == "substitute" else fixture
    contexts = {}
    for kind in KINDS:
        contexts[kind] = os.path.join(work, f"{fixture}-{kind}")
        shutil.copytree(os.path.join(compare.ROOT, "tests", "fixtures", source), contexts[kind])
        compare.write(contexts[kind], leaf, line, 1)
        if mid:
            compare.write(contexts[kind], mid, mid_line, 1)
    servers = compare.Servers(work, compare.LIBRARIES) if fixture == "substitute" else None

    def build(kind):
        # The recipe through the Dockerfile frontend as an image: the recipe with BUILDKIT_SYNTAX.
        way, extra = kind, []
        if kind == "recipe-image":
            way, extra = "recipe", ["--build-arg", f"BUILDKIT_SYNTAX={image}"]
        tag = f"nf-bench/nochange-{kind}"
        if servers:
            return compare.substitute_build(way, servers, contexts[kind], tag, compare.LIBRARIES, 0,
                                            extra)[0]
        return compare.build(way, contexts[kind], attr, tag, extra=extra)
    return build, (servers.close if servers else lambda: None)


def measure(fixture, runs, work, image):
    build, close = builder_of(fixture, work, image)
    try:
        compare.prune()
        for kind in KINDS:
            build(kind)  # cold
            build(kind)  # the first rebuild, not counted
        samples = {kind: [] for kind in KINDS}
        for i in range(runs):
            order = KINDS[i % len(KINDS):] + KINDS[:i % len(KINDS)]
            for kind in order:
                samples[kind].append(build(kind))
        return samples
    finally:
        close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--fixtures", default="substitute,chain,wide")
    parser.add_argument("--builder")
    parser.add_argument("--docker28")
    parser.add_argument("--libraries", type=int, default=300)
    args = parser.parse_args()
    unknown = [f for f in args.fixtures.split(",") if f not in compare.FIXTURES]
    if unknown:
        parser.error(f"unknown fixture {', '.join(unknown)} (known: {', '.join(compare.FIXTURES)})")
    if args.docker28 and args.builder:
        parser.error("--docker28 and --builder: one engine at a time")
    image = prepare(args)
    print(f"# bench/nochange.py --runs {args.runs} --fixtures {args.fixtures}"
          f"{' --builder ' + args.builder if args.builder else ''}"
          f"{' --docker28 ' + args.docker28 if args.docker28 else ''}")
    print(f"# {compare.engine()}, builder image {compare.NIX_IMAGE}, Dockerfile frontend image {image}, "
          f"{os.cpu_count()} cores")
    print("| fixture | ours (s) | recipe, built-in frontend (s) | recipe, frontend as an image (s) "
          "| ours / built-in | image / built-in | ours / image |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    all_samples = {}
    with tempfile.TemporaryDirectory() as work:
        for fixture in args.fixtures.split(","):
            samples = all_samples[fixture] = measure(fixture, args.runs, work, image)
            ours, builtin, as_image = (statistics.median(samples[k]) for k in KINDS)
            print(f"| {fixture} | {ours:.2f} | {builtin:.2f} | {as_image:.2f} | {ours / builtin:.2f} "
                  f"| {as_image / builtin:.2f} | {ours / as_image:.2f} |", flush=True)
    for fixture, samples in all_samples.items():
        print(f"samples (s), {fixture}: " + ", ".join(
            f"{k} {[round(x, 2) for x in v]}" for k, v in samples.items()))


if __name__ == "__main__":
    main()
