//! The result's programs must be the image platform's. When Nix runs on another platform than
//! the image's (`NIX_EMULATE=builds`), a path taken from the builder image's own files (a
//! `builtins.path` of its `/usr/bin`) is the builder's architecture: an arm64 image would hold
//! x86-64 programs and fail only where it runs. So each program of the result's `bin/` (a script
//! by its `#!` interpreter) is read up to its ELF header and checked against the platform.

use crate::buildkit::gateway::Gateway;
use crate::buildkit::platform::Platform;
use crate::error::UserError;
use crate::nix::closure::StorePath;

use super::report::BuildResult;

/// Programs checked per image: the header of each is one small read.
const MAX_CHECKED: usize = 8;
/// Bytes read of each program: an ELF header's machine field, or a `#!` line.
const HEAD_BYTES: u64 = 256;

/// ELF's `e_machine` of the platform's programs.
pub fn elf_machine_of(platform: &Platform) -> Option<u16> {
    Some(match platform.architecture.as_str() {
        "amd64" => 62,
        "arm64" => 183,
        "386" => 3,
        "arm" => 40,
        "riscv64" => 243,
        "ppc64le" => 21,
        "s390x" => 22,
        _ => return None,
    })
}

fn machine_name(machine: u16) -> String {
    match machine {
        62 => "x86-64".into(),
        183 => "aarch64".into(),
        3 => "x86 (32-bit)".into(),
        40 => "arm (32-bit)".into(),
        243 => "riscv".into(),
        21 => "ppc64".into(),
        22 => "s390".into(),
        other => format!("machine {other}"),
    }
}

/// What the head of a file is: an ELF program for a machine, a script run by an interpreter
/// (an absolute path), or something else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Head {
    Elf(u16),
    Script(String),
    Other,
}

pub fn head_of(bytes: &[u8]) -> Head {
    if bytes.len() >= 20 && bytes.starts_with(b"\x7fELF") {
        // e_machine follows e_type at 16, in the file's byte order (EI_DATA at 5).
        let field = [bytes[18], bytes[19]];
        let machine = if bytes[5] == 2 {
            u16::from_be_bytes(field)
        } else {
            u16::from_le_bytes(field)
        };
        return Head::Elf(machine);
    }
    if let Some(rest) = bytes.strip_prefix(b"#!") {
        let line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        if let Some(interpreter) = line.split_whitespace().next() {
            if interpreter.starts_with('/') {
                return Head::Script(interpreter.to_string());
            }
        }
    }
    Head::Other
}

/// Checks the result's programs (following one `#!` to its interpreter in the closure) against
/// `platform`; `locate` says which ref holds a store path (at its own path).
pub async fn check_programs<G: Gateway>(
    gateway: &G,
    platform: &Platform,
    result: &BuildResult,
    locate: impl Fn(&StorePath) -> Option<String>,
) -> Result<(), UserError> {
    let Some(expected) = elf_machine_of(platform) else {
        return Ok(());
    };
    let read_head = |file: String| {
        let locate = &locate;
        async move {
            let path = StorePath::parse(&file)
                .ok()
                .or_else(|| StorePath::parse(&store_path_of(&file)?).ok())?;
            let reference = locate(&path)?;
            let bytes = gateway
                .read_file_range(&reference, &file, 0, HEAD_BYTES)
                .await
                .ok()?;
            Some(head_of(&bytes))
        }
    };
    let main = &result.results[0];
    for program in result.executables.iter().take(MAX_CHECKED) {
        let file = format!("{main}/bin/{program}");
        let (what, machine) = match read_head(file.clone()).await {
            Some(Head::Elf(machine)) => (format!("{main}/bin/{program}"), machine),
            Some(Head::Script(interpreter)) if interpreter.starts_with("/nix/store/") => {
                match read_head(interpreter.clone()).await {
                    Some(Head::Elf(machine)) => (
                        format!("{main}/bin/{program}, a script run by {interpreter},"),
                        machine,
                    ),
                    _ => continue,
                }
            }
            _ => continue,
        };
        if machine != expected {
            return Err(UserError::new(format!(
                "the image is for {platform}, but {what} is an {} program. Nix ran on another \
                 platform and built for {platform} (NIX_EMULATE=builds), and a path taken from \
                 the builder image's own files (a builtins.path of its /usr/bin) is the \
                 builder's architecture: take such files from derivations or the build context, \
                 or build with --build-arg NIX_EMULATE=all to run the {platform} builder image \
                 emulated",
                machine_name(machine)
            )));
        }
    }
    Ok(())
}

/// `/nix/store/<hash>-<name>` of a file below it.
fn store_path_of(file: &str) -> Option<String> {
    let rest = file.strip_prefix("/nix/store/")?;
    let base = rest.split('/').next()?;
    Some(format!("/nix/store/{base}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_of_programs_and_scripts() {
        let mut elf = vec![0u8; 64];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[5] = 1;
        elf[18] = 183;
        assert_eq!(head_of(&elf), Head::Elf(183));
        assert_eq!(
            head_of(b"#!/nix/store/abc-busybox/busybox sh\necho"),
            Head::Script("/nix/store/abc-busybox/busybox".into())
        );
        assert_eq!(head_of(b"#!sh\n"), Head::Other);
        assert_eq!(head_of(b"\x7fEL"), Head::Other);
        assert_eq!(
            elf_machine_of(&Platform::parse("linux/arm64").unwrap()),
            Some(183)
        );
        assert_eq!(
            store_path_of("/nix/store/abc-busybox/bin/busybox").as_deref(),
            Some("/nix/store/abc-busybox")
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_a_head(bytes in proptest::collection::vec(0u8..=255, 0..64)) {
            let _ = head_of(&bytes);
        }
    }
}
