#!/usr/bin/env python3
"""Side-by-side benchmark: nix-frontend against the hand-written recipe (bench/recipe.Dockerfile),
on the same dockerd and the same local Nix builder image, in one run.

usage: bench/compare.py [--runs N] [--fixtures expensive,chain,wide,substitute] [--builder NAME]
                        [--cache local|registry] [--libraries N] [--cache-rate MB_PER_S]
                        [--docker28 CONTAINER]

--builder NAME builds on that buildx builder (e.g. standalone BuildKit from `scripts/buildkit
start NAME PORT`): the frontend and the Nix image are pushed to the local registry and named by
digest, images come back with --load, and a prune is that builder's. --cache registry exports the
fresh-builder cache to the local registry (type=registry) instead of a directory.
--docker28 CONTAINER runs every docker command in the daemon of scripts/docker28's container
(e.g. nf-docker28, started from this checkout) and serves the substitute fixture's caches in that
container's network namespace, where its builds look for 127.0.0.1 (nsenter: run it as root).
The host's registry is out of that daemon's reach: not with --builder or --cache registry.

For each fixture and each way of building it prints: cold build time (after `docker builder
prune -af`), no-change rebuild time, rebuild time after a one-line change to the leaf's source,
the same on a fresh builder (cache exported with `--cache-to type=local,mode=max`, `docker
builder prune -af`, leaf changed, built with `--cache-from`: how CI runners build),
final image size (uncompressed layer tars), layer count, and the bytes of layers that are new
after the leaf change (what a push would send). Where the fixture has a library in the middle of
its closure with a source of its own (chain: the middle link's mid.txt; wide: the middle library's
mid.txt), also the rebuild time after a one-line change to that source and the bytes of layers
that are new after it (against the image after the leaf change): what a push sends when a
library, and so everything that depends on it, changes (wide's libraries are random bytes: in
graph mode the libraries built in the same step as the changed one come out new too). Times are
medians of N runs, ours and the recipe's taken in turn (this machine's speed drifts within
minutes); ratios are ours over the recipe's. Expects scripts/setup, scripts/nix-image and
scripts/frontend-image to have run.

The substitute fixture is what most users build: the wide fixture's --libraries N libraries
(default 300) in a signed binary cache served over HTTP on 127.0.0.1 (xz, as caches serve them),
and only the app built, with --network host. Ours gets NIX_SUBSTITUTERS and
NIX_TRUSTED_PUBLIC_KEYS, the recipe `--option substituters` (bench/recipe.Dockerfile with its
nix-build options as a build argument). Cases, in this order on one builder: cold (pruned), no
change, leaf change (the app's message), one dependency added (`--arg count N+1`), a quarter of
the libraries changed (`--arg bump 1`: every fourth library's derivation changes, as after a
package-set bump), a fresh builder with an imported BuildKit cache and one dependency added
(exported at N libraries, pruned, built at N+1 with --cache-from), and a leaf change under a
pinned 40 MB package set (a literal `builtins.fetchTarball` with its sha256, served over HTTP,
whose file the app records). Besides the times it prints how many paths each build of ours
downloaded from the binary cache and how many requests the package set's server saw.
NIX_DOWNLOAD_MIN_BYTES in the environment is passed to ours as that build arg.
--cache-rate MB_PER_S serves the binary cache as across a network: that bandwidth shared by all
downloads, and 20 ms before each response (on 127.0.0.1 downloading costs nothing, so only
unpacking shows).
"""
import argparse
import atexit
import hashlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NIX_IMAGE = os.environ.get("NIX_IMAGE", "nix-frontend-test/nix:local")
# NIX_PLAN=single measures the single-step plan; FRONTEND names another frontend image.
NIX_PLAN = os.environ.get("NIX_PLAN", "")
FRONTEND = os.environ.get("FRONTEND", "")
CACHE = "local"
OCI_FILES = os.path.join(ROOT, "tests", "lib", "oci_files.py")

# fixture -> (attribute, leaf source file relative to the fixture, line to write,
#             source file of a library mid-closure or None, line to write)
FIXTURES = {
    "expensive": ("app", "app/message.txt", "hello from the app, version {n}\n", None, None),
    "chain": ("top", "top.txt", "version {n}\n", "mid.txt", "chain-75, version {n}\n"),
    "wide": ("app", "app/message.txt", "hello from the wide app, version {n}\n",
             "mid.txt", "wide-lib-150, version {n}\n"),
    "substitute": ("app", "app/message.txt", "hello from the substituted app, version {n}\n",
                   None, None),
}
LIBRARIES = 300  # --libraries: the substitute fixture's
CACHE_RATE = None  # --cache-rate: the binary cache's bandwidth in MB/s
# Ours with NIX_DOWNLOAD_MIN_BYTES (the environment's), e.g. 0: BuildKit downloads every file.
DOWNLOAD_MIN_BYTES = os.environ.get("NIX_DOWNLOAD_MIN_BYTES")
PINNED_SET_BYTES = 40 << 20


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


BUILDER = None  # --builder: a buildx builder of its own (standalone BuildKit)
NETNS = []  # --docker28: the command prefix that runs a server in its daemon's network namespace


def prune():
    if BUILDER:
        run(["docker", "buildx", "prune", "--builder", BUILDER, "-af"])
    else:
        run(["docker", "builder", "prune", "-af"])


def build(kind, context, attr, tag, output=None, extra=()):
    """Builds and returns the wall time in seconds."""
    cmd = ["docker", "buildx", "build", "--progress=plain", "--build-arg", f"NIX_IMAGE={NIX_IMAGE}"]
    if BUILDER:
        cmd += ["--builder", BUILDER] + ([] if output else ["--load"])
    if kind in ("recipe", "recipe-opts"):
        # recipe-opts: the recipe with nix-build's options as the build argument NIX_OPTS.
        recipe = os.path.join(ROOT, "bench", "recipe.Dockerfile")
        if kind == "recipe-opts":
            recipe = recipe_with_options(context)
        cmd += ["-f", recipe, "--build-arg", f"ATTR={attr}"]
    else:
        cmd += ["-f", os.path.join(context, "default.nix"), "--target", attr]
        if NIX_PLAN:
            cmd += ["--build-arg", f"NIX_PLAN={NIX_PLAN}"]
        if FRONTEND:
            cmd += ["--build-arg", f"BUILDKIT_SYNTAX={FRONTEND}"]
    cmd += ["--output", output] if output else ["-t", tag]
    cmd += list(extra)
    start = time.monotonic()
    result = subprocess.run(cmd + [context], capture_output=True, text=True)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        sys.exit(f"build failed: {' '.join(cmd)}\n{result.stderr[-3000:]}")
    return elapsed


def recipe_with_options(context):
    """bench/recipe.Dockerfile whose nix-build takes the options in NIX_OPTS, beside `context`."""
    text = open(os.path.join(ROOT, "bench", "recipe.Dockerfile")).read()
    old = 'RUN nix-build default.nix -A "$ATTR"\n'
    if old not in text:
        sys.exit("bench/compare.py: the recipe changed shape")
    path = context.rstrip("/") + ".recipe.Dockerfile"
    with open(path, "w") as f:
        f.write(text.replace(old, 'ARG NIX_OPTS\nRUN nix-build default.nix -A "$ATTR" $NIX_OPTS\n'))
    return path


def layers(kind, context, attr, work, name):
    """Per-layer (digest, uncompressed bytes, compressed bytes) of the image, via an OCI export."""
    path = os.path.join(work, f"{name}.tar")
    build(kind, context, attr, None, output=f"type=oci,dest={path}")
    out = run(["python3", OCI_FILES, path, "--layers"]).stdout
    result = []
    for line in out.splitlines():
        digest, compressed, uncompressed, _ = line.split("\t", 3)
        result.append((digest, int(uncompressed), int(compressed)))
    return result


def closure_nar_size(context, attr):
    script = 'nix path-info --json -r $(nix-build default.nix -A "$1" --no-out-link 2>/dev/null)'
    out = run(["docker", "run", "--rm", "-v", f"{context}:/src:ro", "-w", "/src", NIX_IMAGE,
               "sh", "-c", script, "sh", attr]).stdout
    info = json.loads(out)
    values = info.values() if isinstance(info, dict) else info
    return sum(v["narSize"] for v in values), len(info)


def new_bytes(before, after):
    """Uncompressed and gzipped bytes of the layers of `after` that `before` does not hold."""
    known = {d for d, _, _ in before}
    new = [(u, c) for d, u, c in after if d not in known]
    return sum(u for u, _ in new), sum(c for _, c in new)


def write(context, name, line, n):
    with open(os.path.join(context, name), "w") as f:
        f.write(line.format(n=n))


def measure_once(kind, fixture, i, work):
    """Run i of one way of building the fixture: its times, and its image's figures."""
    attr, leaf, line, mid, mid_line = FIXTURES[fixture]
    times = {}
    context = os.path.join(work, f"{fixture}-{kind}-{i}")
    shutil.copytree(os.path.join(ROOT, "tests", "fixtures", fixture), context)
    write(context, leaf, line, 1)
    if mid:
        write(context, mid, mid_line, 1)
    prune()
    tag = f"nf-bench/{fixture}-{kind}"
    times["cold"] = build(kind, context, attr, tag)
    times["nochange"] = build(kind, context, attr, tag)
    before = layers(kind, context, attr, work, f"{fixture}-{kind}-before")
    write(context, leaf, line, i + 2)
    times["leaf"] = build(kind, context, attr, tag)
    after = layers(kind, context, attr, work, f"{fixture}-{kind}-after")
    figures = {"image_bytes": sum(u for _, u, _ in after), "layers": len(after)}
    figures["new_layer_bytes"], figures["new_layer_bytes_gz"] = new_bytes(before, after)
    if mid:
        # A library mid-closure: new paths for it and everything above it, up to the result.
        write(context, mid, mid_line, i + 2)
        times["mid"] = build(kind, context, attr, tag)
        changed = layers(kind, context, attr, work, f"{fixture}-{kind}-mid")
        figures["mid_layer_bytes"], figures["mid_layer_bytes_gz"] = new_bytes(after, changed)
    # A fresh CI builder: export with mode=max, prune everything, change the leaf, build
    # with the imported cache.
    cache = os.path.join(work, f"cache-{fixture}-{kind}-{i}")
    if CACHE == "registry":
        ref = f"127.0.0.1:5000/nf-bench/cache:{fixture}-{kind}-{i}-{os.getpid()}"
        cache_to, cache_from = f"type=registry,ref={ref},mode=max", f"type=registry,ref={ref}"
    else:
        cache_to, cache_from = f"type=local,dest={cache},mode=max", f"type=local,src={cache}"
    build(kind, context, attr, tag, extra=["--cache-to", cache_to])
    prune()
    write(context, leaf, line, i + 100)
    times["fresh"] = build(kind, context, attr, tag, extra=["--cache-from", cache_from])
    shutil.rmtree(cache, ignore_errors=True)
    return times, figures, context


def measure(fixture, runs, work):
    """Both ways of building, run by run in turn (ours, then the recipe, then ours again...), so
    that the machine's speed, which drifts within minutes here, weighs on both alike. Per way:
    the medians, the last run's figures, and the samples."""
    kinds = ("nix-frontend", "recipe")
    samples = {kind: {} for kind in kinds}
    figures = {}
    nar = None
    for i in range(runs):
        for kind in kinds:
            times, figures[kind], context = measure_once(kind, fixture, i, work)
            for key, value in times.items():
                samples[kind].setdefault(key, []).append(value)
            if nar is None:
                nar = closure_nar_size(context, FIXTURES[fixture][0])
    results = {}
    for kind in kinds:
        figures[kind]["nar"] = nar
        medians = {k: statistics.median(v) for k, v in samples[kind].items()}
        results[kind] = (medians, figures[kind], samples[kind])
    return results


class Servers:
    """The substitute fixture's: a signed binary cache of the libraries (and of the bumped ones)
    and a pinned package set, each served by tests/lib/serve_http.py on 127.0.0.1."""

    def __init__(self, work, libraries):
        self.work = os.path.join(work, "substitute")
        os.makedirs(self.work)
        self.processes = []
        template = os.path.join(self.work, "template")
        shutil.copytree(os.path.join(ROOT, "tests", "fixtures", "wide"), template)
        print(f"# filling the binary cache: {libraries + 1} libraries and their bumped quarter (xz)",
              file=sys.stderr)
        fill = """nix-store --generate-binary-cache-key bench /w/key.sec /w/key.pub >/dev/null &&
          libs=$(nix-build default.nix -A libs --arg count "$1" --no-out-link 2>/dev/null) &&
          bumped=$(nix-build default.nix -A libs --arg count "$1" --arg bump 1 --no-out-link 2>/dev/null) &&
          nix --extra-experimental-features nix-command copy --to "file:///w/cache?secret-key=/w/key.sec" \
            $libs $bumped 2>/dev/null &&
          mkdir -p /w/set/package-set && head -c "$2" /dev/urandom >/w/set/package-set/blob &&
          echo 'the pinned package set, version 1' >/w/set/package-set/version &&
          tar -C /w/set -czf /w/set/package-set.tar.gz package-set &&
          nix --extra-experimental-features nix-command hash path --type sha256 --base32 \
            /w/set/package-set >/w/set/hash &&
          rm -r /w/set/package-set && chmod -R a+rX /w"""
        run(["docker", "run", "--rm", "-v", f"{self.work}:/w", "-w", "/w/template", NIX_IMAGE,
             "sh", "-c", fill, "sh", str(libraries + 1), str(PINNED_SET_BYTES)])
        self.key = open(os.path.join(self.work, "key.pub")).read().strip()
        self.cache_url, self.cache_log = self.serve("cache")
        self.set_url, self.set_log = self.serve("set")
        self.set_hash = open(os.path.join(self.work, "set", "hash")).read().strip()

    def serve(self, name):
        port_file = os.path.join(self.work, f"{name}.port")
        log = os.path.join(self.work, f"{name}.log")
        network = (["--rate", str(CACHE_RATE), "--latency", "0.02"]
                   if CACHE_RATE and name == "cache" else [])
        with open(log, "w") as out:
            self.processes.append(subprocess.Popen(
                NETNS + ["python3", os.path.join(ROOT, "tests", "lib", "serve_http.py"), port_file,
                 os.path.join(self.work, name)] + network, stdout=out, stderr=subprocess.STDOUT))
        for _ in range(50):
            if os.path.exists(port_file) and open(port_file).read().strip():
                return f"http://127.0.0.1:{open(port_file).read().strip()}", log
            time.sleep(0.1)
        sys.exit(f"the {name} server did not listen within 5 s")

    def requests(self, log, needle):
        """How many GETs of paths containing `needle` the server has seen so far."""
        return sum(1 for line in open(log) if f'"GET /{needle}' in line)

    def close(self):
        for process in self.processes:
            process.kill()


def substitute_build(kind, servers, context, tag, count, bump, extra=()):
    """One build of the substitute fixture: (seconds, NARs downloaded, package-set requests)."""
    nars, sets = servers.requests(servers.cache_log, "nar/"), servers.requests(servers.set_log, "")
    nix_args = f"--arg count {count} --arg bump {bump}"
    if kind == "recipe":
        opts = (f"--option substituters {servers.cache_url} --option trusted-public-keys "
                f"{servers.key} {nix_args}")
        args = ["--network", "host", "--build-arg", f"NIX_OPTS={opts}"]
        seconds = build("recipe-opts", context, "app", tag, extra=args + list(extra))
    else:
        args = ["--network", "host", "--build-arg", f"NIX_SUBSTITUTERS={servers.cache_url}",
                "--build-arg", f"NIX_TRUSTED_PUBLIC_KEYS={servers.key}",
                "--build-arg", f"NIX_ARGS={nix_args}"]
        if DOWNLOAD_MIN_BYTES is not None:
            args += ["--build-arg", f"NIX_DOWNLOAD_MIN_BYTES={DOWNLOAD_MIN_BYTES}"]
        seconds = build(kind, context, "app", tag, extra=args + list(extra))
    return (seconds, servers.requests(servers.cache_log, "nar/") - nars,
            servers.requests(servers.set_log, "") - sets)


def pin_package_set(context, servers):
    """The fixture's default.nix with the package set pinned: a literal fetchTarball with its
    sha256, whose version file the app records."""
    path = os.path.join(context, "default.nix")
    text = open(path).read()
    head, rest = text.split("{ count ?", 1)
    pinned = (f'let\n  packageSet = builtins.fetchTarball {{\n'
              f'    url = "{servers.set_url}/package-set.tar.gz";\n'
              f'    sha256 = "{servers.set_hash}";\n  }};\nin\n')
    # The fixture's arguments, with `extra` defaulting to the pinned set's version file.
    rest = rest.replace('extra ? ""', 'extra ? builtins.readFile "${packageSet}/version"', 1)
    if "packageSet" not in rest:
        sys.exit("bench/compare.py: the wide fixture's arguments changed shape")
    with open(path, "w") as f:
        f.write(head + pinned + "{ count ?" + rest)


def measure_substitute_once(kind, i, work, servers):
    """Run i of the substitute fixture for one way of building: times and downloads per case."""
    n = LIBRARIES
    context = os.path.join(work, f"substitute-{kind}-{i}")
    shutil.copytree(os.path.join(ROOT, "tests", "fixtures", "wide"), context)
    _, leaf, line, _, _ = FIXTURES["substitute"]
    tag = f"nf-bench/substitute-{kind}"
    times, downloads = {}, {}

    def case(name, count, bump, extra=()):
        times[name], nars, sets = substitute_build(kind, servers, context, tag, count, bump, extra)
        downloads[name] = (nars, sets)

    write(context, leaf, line, 1)
    prune()
    case("cold", n, 0)
    case("nochange", n, 0)
    write(context, leaf, line, 2)
    case("leaf", n, 0)
    case("onedep", n + 1, 0)
    case("quarter", n + 1, 1)
    cache = os.path.join(work, f"cache-substitute-{kind}-{i}")
    substitute_build(kind, servers, context, tag, n, 0,
                     ["--cache-to", f"type=local,dest={cache},mode=max"])
    prune()
    case("fresh", n + 1, 0, ["--cache-from", f"type=local,src={cache}"])
    shutil.rmtree(cache, ignore_errors=True)
    pin_package_set(context, servers)
    write(context, leaf, line, 3)
    substitute_build(kind, servers, context, tag, n, 0)
    write(context, leaf, line, 4)
    case("pinned", n, 0)
    return times, downloads


def measure_substitute(runs, work):
    servers = Servers(work, LIBRARIES)
    try:
        samples = {"nix-frontend": {}, "recipe": {}}
        downloads = {}
        for i in range(runs):
            for kind in samples:
                times, downloads[kind] = measure_substitute_once(kind, i, work, servers)
                for key, value in times.items():
                    samples[kind].setdefault(key, []).append(value)
        return samples, downloads
    finally:
        servers.close()


def print_substitute(samples, downloads):
    ours, recipe = samples["nix-frontend"], samples["recipe"]
    print(f"\n## substitute: {LIBRARIES} libraries from a signed HTTP binary cache, only the app built")
    print("| case | nix-frontend (s) | recipe (s) | ours / recipe | target | NARs ours / recipe downloaded"
          " | package-set requests ours / recipe |")
    print("| --- | ---: | ---: | ---: | --- | --- | --- |")
    for key, label, target in (
            ("cold", "cold", "at most 1.0"),
            ("nochange", "no change", "at most 1.5"),
            ("leaf", "leaf change", "at most 0.2"),
            ("onedep", "one dependency added", "at most 0.3"),
            ("quarter", "a quarter of the libraries changed", "at most 0.5"),
            ("fresh", "fresh builder, imported cache, one dependency added", "report"),
            ("pinned", "leaf change under a pinned 40 MB package set", "at most 0.3")):
        a, b = statistics.median(ours[key]), statistics.median(recipe[key])
        (on, os_), (rn, rs) = downloads["nix-frontend"][key], downloads["recipe"][key]
        print(f"| {label} | {a:.2f} | {b:.2f} | {a / b:.2f} | {target} | {on} / {rn} | {os_} / {rs} |")
    print(f"samples (s): {json.dumps({k: {m: [round(x, 2) for x in v] for m, v in r.items()} for k, r in samples.items()})}")


def use_docker28(container):
    """Every `docker` of this run goes to the daemon in CONTAINER (scripts/docker28), whose /tmp
    and checkout are the host's; the caches are served in its network namespace."""
    global NETNS
    host_docker = shutil.which("docker") or sys.exit("bench/compare.py: no docker on PATH")
    inspect = subprocess.run([host_docker, "inspect", "-f", "{{.State.Pid}}", container],
                             capture_output=True, text=True)
    pid = inspect.stdout.strip()
    if inspect.returncode != 0 or not pid or pid == "0":
        sys.exit(f"bench/compare.py: {container} is not running (scripts/docker28 start)")
    NETNS = ["nsenter", f"--net=/proc/{pid}/ns/net"]
    wrapper_dir = tempfile.mkdtemp(prefix="compare-docker28-")
    atexit.register(shutil.rmtree, wrapper_dir, True)
    wrapper = os.path.join(wrapper_dir, "docker")
    with open(wrapper, "w") as f:
        f.write(f'#!/bin/sh\nexec {shlex.quote(host_docker)} exec -i -w "$PWD" '
                f'{shlex.quote(container)} docker "$@"\n')
    os.chmod(wrapper, 0o755)
    os.environ["PATH"] = wrapper_dir + os.pathsep + os.environ["PATH"]


def publish(image, ref):
    """IMAGE pushed to REF in the local registry (scripts/buildkit publish), named by digest."""
    return run([os.path.join(ROOT, "scripts", "buildkit"), "publish", image, ref]).stdout.strip()


def publish_for_builder():
    """The builder's worker sees only registries: both images by digest from the local one."""
    global NIX_IMAGE, FRONTEND
    NIX_IMAGE = publish(NIX_IMAGE, "127.0.0.1:5000/nix:bench")
    FRONTEND = publish(FRONTEND or "org/nix-frontend", "127.0.0.1:5000/nix-frontend:bench")


def engine():
    """The BuildKit version of --builder, else dockerd's version."""
    if BUILDER:
        return run(["docker", "buildx", "inspect", BUILDER]).stdout.split("BuildKit version:")[-1].split()[0]
    return "dockerd " + run(["docker", "version", "--format", "{{.Server.Version}}"]).stdout.strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--fixtures", default="expensive,chain")
    parser.add_argument("--builder")
    parser.add_argument("--cache", choices=("local", "registry"), default="local")
    parser.add_argument("--libraries", type=int, default=300)
    parser.add_argument("--cache-rate", type=float)
    parser.add_argument("--docker28")
    args = parser.parse_args()
    unknown = [f for f in args.fixtures.split(",") if f not in FIXTURES]
    if unknown:
        parser.error(f"unknown fixture {', '.join(unknown)} (known: {', '.join(FIXTURES)})")
    global BUILDER, CACHE, NIX_IMAGE, FRONTEND, LIBRARIES, CACHE_RATE
    BUILDER, CACHE, LIBRARIES = args.builder, args.cache, args.libraries
    CACHE_RATE = args.cache_rate
    if args.docker28:
        if args.builder or args.cache == "registry":
            parser.error("--docker28 cannot reach the host's registry: no --builder, no --cache registry")
        use_docker28(args.docker28)
    if BUILDER:
        publish_for_builder()
    print(f"# bench/compare.py --runs {args.runs} --fixtures {args.fixtures}"
          f"{' --cache-rate ' + str(CACHE_RATE) if CACHE_RATE else ''}"
          f"{' (NIX_DOWNLOAD_MIN_BYTES=' + DOWNLOAD_MIN_BYTES + ')' if DOWNLOAD_MIN_BYTES else ''}"
          f"{' --builder ' + BUILDER if BUILDER else ''} --cache {CACHE}"
          f"{' (NIX_PLAN=' + NIX_PLAN + ')' if NIX_PLAN else ''}")
    print(f"# {engine()}{' (builder ' + BUILDER + ')' if BUILDER else ''}, "
          f"builder image {NIX_IMAGE}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as work:
        for fixture in args.fixtures.split(","):
            if fixture == "substitute":
                print_substitute(*measure_substitute(args.runs, work))
                continue
            results = measure(fixture, args.runs, work)
            ours, recipe = results["nix-frontend"], results["recipe"]
            nar, paths = ours[1]["nar"]
            print(f"\n## {fixture}: closure of {paths} store paths, NAR size {nar} bytes")
            print(f"{'':28}{'nix-frontend':>16}{'recipe':>16}{'ours/recipe':>14}")
            for key, label in (("cold", "cold build (s)"), ("nochange", "no-change rebuild (s)"),
                               ("leaf", "leaf-change rebuild (s)"),
                               ("fresh", "leaf change, fresh builder (s)"),
                               ("mid", "library-change rebuild (s)")):
                if key not in ours[0]:
                    continue
                a, b = ours[0][key], recipe[0][key]
                print(f"{label:28}{a:16.2f}{b:16.2f}{a / b:14.2f}")
            for key, label in (("image_bytes", "image size (bytes)"), ("layers", "layers"),
                               ("new_layer_bytes", "new layer bytes after leaf"),
                               ("new_layer_bytes_gz", "  the same, gzipped"),
                               ("mid_layer_bytes", "new layer bytes after lib"),
                               ("mid_layer_bytes_gz", "  the same, gzipped")):
                if key not in ours[1]:
                    continue
                a, b = ours[1][key], recipe[1][key]
                ratio = f"{a / b:14.4f}" if b else f"{'-':>14}"
                print(f"{label:28}{a:16}{b:16}{ratio}")
            print(f"image size over NAR size: nix-frontend {ours[1]['image_bytes'] / nar - 1:+.2%}, "
                  f"recipe {recipe[1]['image_bytes'] / nar - 1:+.2%}")
            print(f"samples (s): {json.dumps({k: {m: [round(x, 2) for x in v] for m, v in r[2].items()} for k, r in results.items()})}")


if __name__ == "__main__":
    main()
