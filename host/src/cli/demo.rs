//! `conduit demo`: generates a small tree in a temporary folder and walks
//! through every built-in policy, printing what happens on disk.

use std::path::PathBuf;

pub(super) fn run(dir: Option<PathBuf>) -> anyhow::Result<i32> {
    let _ = dir;
    anyhow::bail!("the demo is not written yet")
}
