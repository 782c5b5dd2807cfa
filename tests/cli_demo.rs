//! `conduit demo`, the README's first command, and what the CLI does when
//! the reader of its output goes away.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

fn demo(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_conduit"));
    cmd.arg("demo")
        .arg("--dir")
        .arg(dir.join("demo"))
        .env("CONDUIT_HOME", dir.join("home"));
    cmd
}

#[test]
fn the_demo_walks_through_every_policy_and_succeeds() {
    let tmp = tempfile::tempdir().unwrap();
    let out = demo(tmp.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for policy in ["replicate", "synchronize", "offload", "archive"] {
        assert!(stdout.contains(policy), "no {policy} in:\n{stdout}");
    }
}

#[test]
fn output_cut_short_by_its_reader_ends_quietly_without_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = demo(tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Like `conduit demo | head -1`: read one line, then stop reading.
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("Conduit demo"), "{first}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Ended by SIGPIPE like other Unix tools, or done before it wrote again.
    assert!(
        out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
        "{:?}\n{stderr}",
        out.status
    );
}
