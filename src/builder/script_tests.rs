//! The builder scripts run under `/bin/sh` with fake Nix commands: their `/out` and `/tmp` files
//! moved into a directory of the test's own, everything else as in the builder image.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::contract::{self, Status};
use crate::nix::closure::StorePath;

/// A directory of its own for one run: the scripts, fake commands in `bin/`, the output at
/// `out/`, the build context as the working directory `src/`.
struct Sandbox {
    dir: PathBuf,
}

impl Sandbox {
    fn new(name: &str) -> Sandbox {
        let dir = std::env::temp_dir().join(format!(
            "nix-frontend-{name}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        for sub in ["tools", "bin", "out", "tmp", "src"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        let sandbox = Sandbox { dir };
        for script in contract::scripts::ALL {
            let text = sandbox.relocated(script.text);
            sandbox.write(&format!("tools/{}", script.name), &text, 0o755);
        }
        sandbox
    }

    /// The script text with the builder's absolute `/out/` and `/tmp/` inside the sandbox.
    fn relocated(&self, text: &str) -> String {
        let dir = self.dir.display();
        text.replace(
            &format!("{}/", contract::OUT),
            &format!("{dir}{}/", contract::OUT),
        )
        .replace("/tmp/nf-", &format!("{dir}/tmp/nf-"))
    }

    fn write(&self, file: &str, text: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.join(file);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A fake command: a shell script.
    fn command(&self, name: &str, body: &str) {
        self.write(
            &format!("bin/{name}"),
            &format!("#!/bin/sh\n{body}\n"),
            0o755,
        );
    }

    /// Runs `script` with `env`; the report's status word and log.
    fn run(&self, script: &str, env: &[(&str, &str)]) -> (String, String) {
        let path = format!(
            "{}:{}",
            self.dir.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let output = Command::new("/bin/sh")
            .arg(self.dir.join("tools").join(script))
            .current_dir(self.dir.join("src"))
            .env_clear()
            .env("PATH", path)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let read = |file: &str| {
            std::fs::read_to_string(self.file(&format!("{}{file}", contract::OUT)))
                .unwrap_or_default()
        };
        (read(contract::STATUS), read(contract::LOG))
    }

    fn file(&self, path: &str) -> PathBuf {
        Path::new(&self.dir).join(path.trim_start_matches('/'))
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const DRV: &str = "/nix/store/0c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-hello.drv";
const RESULT: &str = "/nix/store/9v5d40jyvmwgnq1nj8f19ji2rcc5dksd-hello";

/// A failing `nix-store --query --requisites` of the results ends builder.sh's step with
/// build-failed and says what failed, rather than an image step later finding the layers
/// "differ from the closure".
#[test]
fn builder_reports_a_failing_closure_query() {
    let sandbox = Sandbox::new("requisites");
    sandbox.write("src/default.nix", "{}\n", 0o644);
    sandbox.command("nix-instantiate", &format!("echo {DRV}"));
    sandbox.command(
        "nix",
        r#"case " $* " in *" path-info "*) echo '{}' ;; *) exit 1 ;; esac"#,
    );
    sandbox.command(
        "nix-store",
        &format!(
            r#"case $1 in
  --realise) echo {RESULT} ;;
  --query) echo "error: cannot open the Nix database" >&2; exit 1 ;;
  *) exit 1 ;;
esac"#
        ),
    );
    let (status, log) = sandbox.run("builder.sh", &[("NF_FILE", "default.nix")]);
    assert_eq!(Status::parse(&status), Ok(Status::BuildFailed), "{log}");
    assert!(log.contains("cannot open the Nix database"), "{log}");
    assert!(log.contains("closure"), "{log}");
}

/// With every command succeeding the step ends ok and lays out each closure path's tree.
#[test]
fn builder_lays_out_the_closure() {
    let sandbox = Sandbox::new("layout");
    sandbox.write("src/default.nix", "{}\n", 0o644);
    let store = sandbox.dir.join("store");
    std::fs::create_dir_all(store.join("9v5d40jyvmwgnq1nj8f19ji2rcc5dksd-hello/bin")).unwrap();
    sandbox.command("nix-instantiate", &format!("echo {DRV}"));
    sandbox.command(
        "nix",
        r#"case " $* " in *" path-info "*) echo '{}' ;; *) exit 1 ;; esac"#,
    );
    sandbox.command(
        "nix-store",
        &format!(
            r#"case $1 in
  --realise) echo {RESULT} ;;
  --query) echo {}/9v5d40jyvmwgnq1nj8f19ji2rcc5dksd-hello ;;
  *) exit 1 ;;
esac"#,
            store.display()
        ),
    );
    let (status, log) = sandbox.run("builder.sh", &[("NF_FILE", "default.nix")]);
    assert_eq!(Status::parse(&status), Ok(Status::Ok), "{log}");
    let result = StorePath::parse(RESULT).unwrap();
    let tree = format!("{}/nix/store/{}/bin", contract::OUT, result.base_name());
    assert!(sandbox.file(&tree).is_dir(), "no {tree}");
}

/// Makes a package directory under the sandbox's `store/`: `files` as (relative path, text); a
/// text starting with `->` is a symlink to the rest.
fn package(sandbox: &Sandbox, name: &str, files: &[(&str, &str)]) -> String {
    let root = sandbox.dir.join("store").join(name);
    for (path, text) in files {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        match text.strip_prefix("->") {
            Some(target) => std::os::unix::fs::symlink(target, &file).unwrap(),
            None => std::fs::write(&file, text).unwrap(),
        }
    }
    std::fs::create_dir_all(&root).unwrap();
    root.display().to_string()
}

/// The link at `path` of the sandbox, as text.
fn link(sandbox: &Sandbox, path: &str) -> String {
    std::fs::read_link(sandbox.file(path))
        .map(|t| t.display().to_string())
        .unwrap_or_else(|err| format!("no link at {path}: {err}"))
}

/// Runs common.sh's nf_profile over the packages; the collisions file's text.
fn profile(sandbox: &Sandbox, packages: &[&str]) -> String {
    let out = sandbox.dir.join("out");
    let driver = format!(
        "meta={out}/.nix-frontend\nmkdir -p $meta/root\n. \"$(dirname \"$0\")/common.sh\"\nnf_profile $meta/root $meta/collisions \"$@\" || echo failed >$meta/status\n",
        out = out.display()
    );
    sandbox.write("tools/profile.sh", &driver, 0o755);
    let status = Command::new("/bin/sh")
        .arg(sandbox.dir.join("tools/profile.sh"))
        .args(packages)
        .status()
        .unwrap();
    assert!(status.success());
    assert!(
        !out.join(".nix-frontend/status").exists(),
        "nf_profile failed"
    );
    std::fs::read_to_string(out.join(".nix-frontend/collisions")).unwrap()
}

/// One package's root is links to its top-level entries, as before there were several.
#[test]
fn one_package_gives_links_to_its_top_level_entries() {
    let sandbox = Sandbox::new("profile-one");
    let app = package(
        &sandbox,
        "app",
        &[
            ("bin/app", "a"),
            ("share/doc/app", "d"),
            ("nix-support/x", ""),
        ],
    );
    assert_eq!(profile(&sandbox, &[&app]), "");
    let root = "out/.nix-frontend/root";
    assert_eq!(link(&sandbox, &format!("{root}/bin")), format!("{app}/bin"));
    assert_eq!(
        link(&sandbox, &format!("{root}/share")),
        format!("{app}/share")
    );
    assert!(!sandbox.file(&format!("{root}/nix-support")).exists());
}

/// Several packages are merged as buildEnv merges them: a directory two of them have becomes a
/// directory of links, at every depth; the same file twice is no collision; anything else is,
/// named with both packages, and the first package's entry stays.
#[test]
fn several_packages_are_merged_and_collisions_named() {
    let sandbox = Sandbox::new("profile-several");
    let app = package(
        &sandbox,
        "app",
        &[
            ("bin/app", "app"),
            ("bin/sh", "app's sh"),
            ("share/doc/app/README", "r"),
            ("share/same", "equal bytes"),
            ("etc/ssl/certs/ca-bundle.crt", "certs"),
            ("lib", "a file here"),
        ],
    );
    let busybox = package(
        &sandbox,
        "busybox",
        &[
            ("bin/busybox", "bb"),
            ("bin/sh", "->busybox"),
            ("share/doc/busybox/README", "r"),
            ("share/same", "equal bytes"),
            ("lib/libx.so", "a directory here"),
            ("nix-support/propagated", ""),
        ],
    );
    let tzdata = package(&sandbox, "tzdata", &[("share/zoneinfo/UTC", "tz")]);
    let odd = package(
        &sandbox,
        "odd",
        &[("share", "a file where the others have a directory")],
    );
    let collisions = profile(&sandbox, &[&app, &busybox, &tzdata, &app, &odd]);
    let root = "out/.nix-frontend/root";
    // bin: a directory with each package's programs; bin/sh stays app's.
    assert!(sandbox.file(&format!("{root}/bin")).is_dir());
    assert_eq!(
        link(&sandbox, &format!("{root}/bin/app")),
        format!("{app}/bin/app")
    );
    assert_eq!(
        link(&sandbox, &format!("{root}/bin/busybox")),
        format!("{busybox}/bin/busybox")
    );
    assert_eq!(
        link(&sandbox, &format!("{root}/bin/sh")),
        format!("{app}/bin/sh")
    );
    // share: merged two levels down, doc/ of two packages a directory again.
    assert!(sandbox.file(&format!("{root}/share/doc")).is_dir());
    assert_eq!(
        link(&sandbox, &format!("{root}/share/doc/busybox")),
        format!("{busybox}/share/doc/busybox")
    );
    assert_eq!(
        link(&sandbox, &format!("{root}/share/doc/app")),
        format!("{app}/share/doc/app")
    );
    assert_eq!(
        link(&sandbox, &format!("{root}/share/zoneinfo")),
        format!("{tzdata}/share/zoneinfo")
    );
    assert_eq!(
        link(&sandbox, &format!("{root}/share/same")),
        format!("{app}/share/same")
    );
    // Only one package has etc: a link; nix-support is never linked.
    assert_eq!(link(&sandbox, &format!("{root}/etc")), format!("{app}/etc"));
    assert!(!sandbox.file(&format!("{root}/nix-support")).exists());
    // Collisions: a file against a file, a file against a directory; nothing for equal bytes
    // or for the package listed twice.
    let mut lines: Vec<&str> = collisions.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            format!("{app} {busybox} bin/sh"),
            format!("{app} {busybox} lib"),
            format!("{app} {odd} share"),
        ]
    );
}

/// Fake Nix for builder.sh with the attributes `app` and `busybox` of default.nix (and `pair`,
/// two derivations): each a derivation with an `out` output, realised as a package of the
/// sandbox's store; `both` gives each a `bin/sh`.
fn several_attributes(sandbox: &Sandbox, both: bool) -> (String, String) {
    sandbox.write("src/default.nix", "{}\n", 0o644);
    let sh = if both { "sh" } else { "sh-of-app" };
    let app = package(
        sandbox,
        "app",
        &[("bin/app", "a"), (&format!("bin/{sh}"), "a")],
    );
    let busybox = package(sandbox, "busybox", &[("bin/busybox", "b"), ("bin/sh", "b")]);
    let drv = |name: &str| format!("/nix/store/0c8ss4yhh4rrqmjbdhdz6mhjn2k9yyz4-{name}.drv");
    sandbox.command(
        "nix-instantiate",
        &format!(
            r#"case $3 in
  app) echo {} ;;
  busybox) echo {} ;;
  pair) echo {}; echo {} ;;
  *) echo "error: attribute '$3' missing" >&2; exit 1 ;;
esac"#,
            drv("app"),
            drv("busybox"),
            drv("app"),
            drv("busybox")
        ),
    );
    sandbox.command(
        "nix",
        r#"case " $* " in
  *" path-info "*) echo '{}' ;;
  *" eval "*) echo '{"derivation":true,"outputName":"out"}' ;;
  *) exit 1 ;;
esac"#,
    );
    sandbox.command(
        "nix-store",
        &format!(
            r#"case $1 in
  --realise)
    shift
    for root in "$@"; do
      case $root in *app.drv*) echo {app} ;; *busybox.drv*) echo {busybox} ;; esac
    done ;;
  --query) echo {app}; echo {busybox} ;;
  *) exit 1 ;;
esac"#
        ),
    );
    (app, busybox)
}

/// Several attributes: each evaluated in turn, one root each in the order given, each one's
/// facts in a file of its own, and the image's root made from the first output of each.
#[test]
fn builder_builds_several_attributes_into_one_root() {
    let sandbox = Sandbox::new("several");
    let (app, busybox) = several_attributes(&sandbox, false);
    let env = [
        ("NF_FILE", "default.nix"),
        ("NF_ATTR_COUNT", "2"),
        ("NF_ATTR_0", "app"),
        ("NF_ATTR_1", "busybox"),
    ];
    let (status, log) = sandbox.run("builder.sh", &env);
    assert_eq!(Status::parse(&status), Ok(Status::Ok), "{log}");
    let read = |path: &str| std::fs::read_to_string(sandbox.file(&format!("/out{path}"))).unwrap();
    let roots: Vec<String> = read(contract::ROOTS).lines().map(String::from).collect();
    assert_eq!(roots.len(), 2);
    assert!(roots[0].ends_with("-app.drv!out") && roots[1].ends_with("-busybox.drv!out"));
    assert_eq!(read(contract::PROFILE_ROOTS), format!("{app}\n{busybox}\n"));
    assert!(sandbox
        .file(&format!("/out{}", contract::info_of(1)))
        .is_file());
    let root = format!("/out{}", contract::ROOT);
    assert_eq!(
        link(&sandbox, &format!("{root}/bin/app")),
        format!("{app}/bin/app")
    );
    assert_eq!(
        link(&sandbox, &format!("{root}/bin/sh")),
        format!("{busybox}/bin/sh")
    );
}

/// A name two packages provide stops the build with the collision status, both named in the
/// log; with NF_COLLISIONS=first the first package's entry is in the root, and the build ends ok.
#[test]
fn builder_stops_at_a_collision_unless_the_first_may_win() {
    let sandbox = Sandbox::new("collision");
    let (app, busybox) = several_attributes(&sandbox, true);
    let mut env = vec![
        ("NF_FILE", "default.nix"),
        ("NF_ATTR_COUNT", "2"),
        ("NF_ATTR_0", "app"),
        ("NF_ATTR_1", "busybox"),
    ];
    let (status, log) = sandbox.run("builder.sh", &env);
    assert_eq!(Status::parse(&status), Ok(Status::Collision), "{log}");
    assert_eq!(log, format!("{app} {busybox} bin/sh\n"));

    let sandbox = Sandbox::new("collision-first");
    let (app, _) = several_attributes(&sandbox, true);
    env.push(("NF_COLLISIONS", "first"));
    let (status, log) = sandbox.run("builder.sh", &env);
    assert_eq!(Status::parse(&status), Ok(Status::Ok), "{log}");
    let root = format!("/out{}", contract::ROOT);
    assert_eq!(
        link(&sandbox, &format!("{root}/bin/sh")),
        format!("{app}/bin/sh")
    );
}

/// With several attributes each must be one derivation: one that gives two is refused naming it.
#[test]
fn several_attributes_are_each_one_package() {
    let sandbox = Sandbox::new("pair");
    several_attributes(&sandbox, false);
    let env = [
        ("NF_FILE", "default.nix"),
        ("NF_ATTR_COUNT", "2"),
        ("NF_ATTR_0", "app"),
        ("NF_ATTR_1", "pair"),
    ];
    let (status, log) = sandbox.run("builder.sh", &env);
    assert_eq!(Status::parse(&status), Ok(Status::EvalFailed), "{log}");
    assert!(
        log.contains("the attribute pair gives 2 derivations"),
        "{log}"
    );
}
