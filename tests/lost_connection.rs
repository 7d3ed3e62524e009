//! The frontend binary when BuildKit is gone or speaks nonsense: a clear message on stderr and a
//! non-zero exit within seconds, never a hang.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn run_with_stdin(input: &[u8]) -> (i32, String, Duration) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nix-frontend"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the frontend binary starts");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input).expect("write to the frontend");
    drop(stdin);
    let output = child.wait_with_output().expect("the frontend exits");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        start.elapsed(),
    )
}

#[test]
fn a_closed_connection_ends_the_frontend_quickly() {
    let (code, stderr, took) = run_with_stdin(b"");
    assert_ne!(code, 0);
    assert!(stderr.contains("BuildKit did not answer"), "{stderr}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn garbage_on_the_connection_ends_the_frontend_quickly() {
    let (code, stderr, took) = run_with_stdin(b"this is not HTTP/2\r\n\r\n");
    assert_ne!(code, 0);
    assert!(stderr.contains("BuildKit did not answer"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}
