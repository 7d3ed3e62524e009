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
    let tree = format!(
        "{}{}",
        contract::OUT,
        contract::in_layer_tree(&result, "bin")
    );
    assert!(sandbox.file(&tree).is_dir(), "no {tree}");
}
