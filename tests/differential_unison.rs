//! Differential: synchronize (`conflict=newer`) against Unison
//! (`-batch -prefer newer -times`) on the same random changes. Both tools
//! start from one synced tree of files; each case changes both sides the
//! same way for both tools (content edits, deletes, mode-only and
//! mtime-only changes, new files, copies followed by deletes), syncs once,
//! and every path must then hold the same kind, content, mode and mtime
//! under both tools, on both sides.
//!
//! The changes are limited to what both tools promise alike: every mtime a
//! change sets is distinct, so "newer" always has one answer, and one path
//! never gets the same kind of metadata-only change on both sides (two
//! chmods at one mtime are a tie each tool breaks its own way). Needs
//! `unison` (Debian package); `CONDUIT_PROPTEST_CASES` sets the cases.

use crate::support::*;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const FILES: &[&str] = &["a.txt", "b.txt", "d/c.txt", "d/e/f.txt", "g.txt", "empty"];
const BASE_T: i64 = 1_500_000_000;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Edit(usize),
    Delete(usize),
    Chmod(usize),
    Touch(usize),
    /// A new file at a path of its own (one per side).
    Create,
    /// `cp x y; touch y; rm x`: a copy with a later mtime, the original gone.
    CopyThenDelete(usize, usize),
}

impl Op {
    fn kind(&self) -> u8 {
        match self {
            Op::Edit(_) => 0,
            Op::Delete(_) => 1,
            Op::Chmod(_) => 2,
            Op::Touch(_) => 3,
            Op::Create => 4,
            Op::CopyThenDelete(..) => 5,
        }
    }

    /// The base paths the change touches.
    fn paths(&self) -> Vec<usize> {
        match *self {
            Op::Edit(i) | Op::Delete(i) | Op::Chmod(i) | Op::Touch(i) => vec![i],
            Op::Create => vec![],
            Op::CopyThenDelete(i, j) => vec![i, j],
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    let p = 0..FILES.len();
    prop_oneof![
        3 => p.clone().prop_map(Op::Edit),
        2 => p.clone().prop_map(Op::Delete),
        2 => p.clone().prop_map(Op::Chmod),
        2 => p.clone().prop_map(Op::Touch),
        1 => Just(Op::Create),
        1 => (p.clone(), p).prop_map(|(i, j)| Op::CopyThenDelete(i, j)),
    ]
}

/// One side's changes: each path touched at most once per side.
fn side() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 0..4).prop_map(|ops| {
        let mut seen = Vec::new();
        ops.into_iter()
            .filter(|op| {
                let fresh = op.paths().iter().all(|p| !seen.contains(p));
                if fresh {
                    seen.extend(op.paths());
                }
                fresh && !matches!(op, Op::CopyThenDelete(i, j) if i == j)
            })
            .collect()
    })
}

/// Apply `ops` to `root`; `clock` hands out distinct mtimes, `tag` makes
/// content and new names unique to the side.
fn apply(root: &Path, ops: &[Op], tag: &str, clock: &mut i64) {
    let mut tick = || {
        *clock += 7;
        *clock
    };
    for (k, op) in ops.iter().enumerate() {
        let at = |i: usize| root.join(FILES[i]);
        match *op {
            Op::Edit(i) => {
                std::fs::write(at(i), format!("{tag} edit {k}")).unwrap();
                set_mtime(root, FILES[i], tick());
            }
            Op::Delete(i) => std::fs::remove_file(at(i)).unwrap(),
            Op::Chmod(i) => {
                let mode = std::fs::metadata(at(i)).unwrap().mode() & 0o777;
                let new = if mode == 0o600 { 0o644 } else { 0o600 };
                std::fs::set_permissions(at(i), std::fs::Permissions::from_mode(new)).unwrap();
            }
            Op::Touch(i) => set_mtime(root, FILES[i], tick()),
            Op::Create => {
                let rel = format!("new-{tag}.txt");
                write(root, &rel, &format!("{tag} new"));
                set_mtime(root, &rel, tick());
            }
            Op::CopyThenDelete(i, j) => {
                std::fs::copy(at(i), at(j)).unwrap();
                set_mtime(root, FILES[j], tick());
                std::fs::remove_file(at(i)).unwrap();
            }
        }
    }
}

/// What both tools must agree on, per path.
fn state(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if rel == ".conduit" || rel.starts_with(".unison") {
                continue;
            }
            let m = std::fs::symlink_metadata(&path).unwrap();
            if m.is_dir() {
                todo.push(path);
                out.insert(rel, "dir".into());
            } else {
                let content = std::fs::read_to_string(&path).unwrap();
                out.insert(
                    rel,
                    format!("{content:?} {:o} @{}", m.mode() & 0o777, m.mtime()),
                );
            }
        }
    }
    out
}

fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

struct Unison {
    a: PathBuf,
    b: PathBuf,
    /// Unison's own archive folder (`UNISON`), apart from the user's.
    dir: PathBuf,
}

impl Unison {
    fn sync(&self) {
        let out = Command::new("unison")
            .env("UNISON", &self.dir)
            .arg(&self.a)
            .arg(&self.b)
            .args(["-batch", "-prefer", "newer", "-times", "-silent"])
            .args(["-confirmbigdel=false", "-ignore", "Name .conduit"])
            .output()
            .expect("unison runs");
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "unison failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn base(root: &Path) {
    for (i, rel) in FILES.iter().enumerate() {
        let content = if *rel == "empty" {
            String::new()
        } else {
            format!("base {i}")
        };
        write(root, rel, &content);
        set_mtime(root, rel, BASE_T + i as i64);
    }
}

fn one_case(a_ops: &[Op], b_ops: &[Op]) -> Result<(), TestCaseError> {
    let w = World::new();
    base(&w.a);
    w.add("sync", "synchronize", &["--set", "conflict=newer"]);
    let first = w.sync("sync", &[], 0);
    prop_assert_eq!(n(&first, "failed"), 0);
    let u = Unison {
        a: w.tmp.path().join("ua"),
        b: w.tmp.path().join("ub"),
        dir: w.tmp.path().join("unison"),
    };
    std::fs::create_dir(&u.dir).unwrap();
    copy_tree(&w.a, &u.a);
    copy_tree(&w.b, &u.b);
    for root in [&u.a, &u.b] {
        let _ = std::fs::remove_dir_all(root.join(".conduit"));
    }
    u.sync();
    prop_assert_eq!(state(&u.a), state(&w.a), "the same start");

    let mut clock = BASE_T + 1000;
    for (conduit_root, unison_root, ops, tag) in
        [(&w.a, &u.a, a_ops, "a"), (&w.b, &u.b, b_ops, "b")]
    {
        let mut again = clock;
        apply(conduit_root, ops, tag, &mut clock);
        apply(unison_root, ops, tag, &mut again);
    }
    let r = w.sync("sync", &[], 0);
    prop_assert_eq!(n(&r, "failed"), 0, "{}", r);
    u.sync();
    for (ours, theirs, side) in [(&w.a, &u.a, "source"), (&w.b, &u.b, "destination")] {
        prop_assert_eq!(
            state(ours),
            state(theirs),
            "{} after {:?} / {:?}: {}",
            side,
            a_ops,
            b_ops,
            r
        );
    }
    Ok(())
}

#[test]
fn synchronize_agrees_with_unison_on_random_changes() {
    if Command::new("unison").arg("-version").output().is_err() {
        panic!("unison is not installed (Debian package `unison`); .ci/run installs it");
    }
    let cases = std::env::var("CONDUIT_PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(24);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let pair =
        (side(), side()).prop_filter("no same metadata-only change on one path", |(a, b)| {
            !a.iter().any(|x| {
                b.iter().any(|y| {
                    matches!(x, Op::Chmod(_) | Op::Touch(_))
                        && x.kind() == y.kind()
                        && x.paths() == y.paths()
                })
            })
        });
    runner.run(&pair, |(a, b)| one_case(&a, &b)).unwrap();
}
