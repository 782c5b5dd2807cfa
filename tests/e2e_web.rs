//! The web UI in headless Chromium (tests/browser/ui.cjs, driven by
//! playwright-core): log in, create a conduit through the "Sync To..."
//! dialog, watch its run reach 100%, resolve a conflict and restore from the
//! trash, with the files on disk checked after each step. The screenshots
//! it takes of the three screens are kept in docs/screenshots/.
//!
//! Tools: `CHROMIUM` (else /usr/bin/chromium) and playwright-core in
//! `target/jstools/node_modules`, where `.ci/run` installs both. Without
//! them the test says so and passes outside CI; in CI (`CI` set) it fails.

use crate::e2e_serve::Server;
use crate::support::*;

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Chromium and the node modules, or why not.
fn tools() -> Result<(PathBuf, PathBuf), String> {
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let modules = workspace().join("target/jstools/node_modules");
    if !chromium.exists() {
        return Err(format!("no chromium at {}", chromium.display()));
    }
    if !modules.join("playwright-core").exists() {
        return Err(format!("no playwright-core in {}", modules.display()));
    }
    Ok((chromium, modules))
}

#[test]
fn a_person_syncs_resolves_and_restores_in_the_browser() {
    let (chromium, modules) = match tools() {
        Ok(tools) => tools,
        Err(missing) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{missing}; .ci/run installs it"
            );
            eprintln!("skipped: {missing} (.ci/run installs it)");
            return;
        }
    };
    let w = World::new();
    let work = w.tmp.path();
    let (src, dst) = (work.join("src"), work.join("dst"));
    std::fs::create_dir_all(&dst).unwrap();
    write(&src, "notes.txt", "hello\n");
    write(&src, "docs/report.txt", "quarterly\n");
    let big: Vec<u8> = (0..64u32 << 20).map(|i| (i % 251) as u8).collect();
    write_bytes(&src, "big.bin", &big);
    let shots = work.join("shots");
    std::fs::create_dir_all(&shots).unwrap();

    let server = Server::start(&w);
    let out = Command::new("node")
        .arg(workspace().join("tests/browser/ui.cjs"))
        .env("NODE_PATH", &modules)
        .env("CHROMIUM", &chromium)
        .env("CONDUIT_URL", format!("{}/", server.url))
        .env("CONDUIT_KEY", &server.key)
        .env("CONDUIT_WORK", work)
        .env("CONDUIT_SHOTS", &shots)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser steps failed (screenshot: {}/failure.png)\nstdout:\n{stdout}\nstderr:\n{}",
        shots.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        6,
        "{stdout}"
    );
    drop(server);

    // What the steps left, seen from here: the restored version on both
    // sides, every other file copied, and the runs on record.
    for root in [&src, &dst] {
        assert_eq!(
            read(root, "notes.txt").as_deref(),
            Some("destination edit\n")
        );
        assert_eq!(
            read(root, "docs/report.txt").as_deref(),
            Some("quarterly\n")
        );
    }
    assert_eq!(std::fs::read(dst.join("big.bin")).unwrap(), big);
    let runs = w.run(&["history", "web", "--json"]).expect(0).json();
    assert!(runs.as_array().unwrap().len() >= 2, "{runs}");

    let keep = workspace().join("docs/screenshots");
    std::fs::create_dir_all(&keep).unwrap();
    for shot in [
        "status.png",
        "sync-to.png",
        "manage.png",
        "status-phone.png",
    ] {
        std::fs::copy(shots.join(shot), keep.join(shot)).unwrap();
    }
}
