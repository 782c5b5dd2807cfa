//! Property-based convergence: random sequences of what people do to files
//! (create, modify, delete, rename, mkdir, rmdir, type change, chmod,
//! symlink) on both sides of synchronize and on the source of replicate,
//! offload and archive, with a sync after each burst. After every sync the
//! sides agree as the policy promises, a further sync has nothing to do, and
//! every version that stood in a root when the sync began is still in a
//! root, a trash or a conflict copy.
//!
//! Runs through the library (`conduit::api::Host`) on real folders, so a few
//! hundred syncs take seconds. `CONDUIT_PROPTEST_CASES` sets the number of
//! cases per policy (default 50).

use crate::support::*;

use std::collections::BTreeSet;
use std::path::Path;

use conduit::api::{Host, NewConduit, SyncOptions, SyncReport};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const PATHS: &[&str] = &["a", "b", "d/a", "d/b", "d/e/a", "e/a", "e"];

#[derive(Debug, Clone)]
enum Op {
    Write(usize),
    Delete(usize),
    Rename(usize, usize),
    Mkdir(usize),
    TypeChange(usize),
    Chmod(usize),
    Symlink(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let p = 0..PATHS.len();
    prop_oneof![
        3 => p.clone().prop_map(Op::Write),
        1 => p.clone().prop_map(Op::Delete),
        1 => (p.clone(), p.clone()).prop_map(|(a, b)| Op::Rename(a, b)),
        1 => p.clone().prop_map(Op::Mkdir),
        1 => p.clone().prop_map(Op::TypeChange),
        1 => p.clone().prop_map(Op::Chmod),
        1 => (p.clone(), p).prop_map(|(a, b)| Op::Symlink(a, b)),
    ]
}

/// Apply `op` to `root` as a person would; what the filesystem refuses (a
/// file where a folder is needed) simply does not happen. `content` makes
/// each write unique.
fn apply(root: &Path, op: &Op, content: &str) {
    let at = |i: usize| root.join(PATHS[i]);
    let remove = |p: &Path| {
        let _ = std::fs::remove_file(p).or_else(|_| std::fs::remove_dir_all(p));
    };
    match op {
        Op::Write(i) => replace_file(&at(*i), |path| std::fs::write(path, content)),
        Op::Delete(i) => remove(&at(*i)),
        Op::Rename(i, j) => {
            if let Some(parent) = at(*j).parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            if std::fs::symlink_metadata(at(*j)).is_err() {
                let _ = std::fs::rename(at(*i), at(*j));
            }
        }
        Op::Mkdir(i) => {
            let _ = std::fs::create_dir_all(at(*i));
        }
        Op::TypeChange(i) => {
            let path = at(*i);
            match std::fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => {
                    remove(&path);
                    let _ = std::fs::write(&path, content);
                }
                Ok(_) => {
                    remove(&path);
                    let _ = std::fs::create_dir(&path);
                }
                Err(_) => {}
            }
        }
        Op::Chmod(i) => {
            let path = at(*i);
            if path.is_file() && !path.is_symlink() {
                let m = mode(root, PATHS[*i]);
                set_mode(root, PATHS[*i], if m == 0o600 { 0o644 } else { 0o600 });
            }
        }
        Op::Symlink(i, j) => {
            replace_file(&at(*i), |path| std::os::unix::fs::symlink(PATHS[*j], path))
        }
    }
}

/// Put what `make` creates at `path` in place of a file or symlink there
/// (a folder stays: replacing one is `TypeChange`).
fn replace_file(path: &Path, make: impl FnOnce(&Path) -> std::io::Result<()>) {
    if path
        .parent()
        .is_some_and(|d| std::fs::create_dir_all(d).is_ok())
        && !path.is_dir()
    {
        let _ = std::fs::remove_file(path);
        let _ = make(path);
    }
}

/// The content of every file under `root` (the trash included).
fn contents(root: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            contents(&entry.path(), out);
        } else if kind.is_file() {
            out.insert(String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()).into_owned());
        }
    }
}

/// Content of the user's files in `root` (bookkeeping left out).
fn user_contents(root: &Path) -> BTreeSet<String> {
    tree(root)
        .into_values()
        .filter(|v| v != "dir/" && !v.starts_with("-> "))
        .collect()
}

/// A sync past the guards (they are tested on their own; here a random
/// person may well delete most of a side).
fn sync(host: &mut Host, name: &str) -> SyncReport {
    let forced = SyncOptions {
        force: true,
        ..SyncOptions::default()
    };
    host.sync(name, &forced, &|_| {})
        .unwrap_or_else(|e| panic!("{name}: {e:#}"))
}

fn quiet(r: &SyncReport) -> bool {
    let c = &r.counts;
    c.copied + c.deleted + c.moved + c.renamed + c.evicted + c.hydrated + c.failed == 0
}

/// Run `cases` random cases of `policy`; `both_sides` lets the person change
/// the destination too.
fn converges(policy: &str, extra: &[(&str, &str)], both_sides: bool) {
    let cases = std::env::var("CONDUIT_PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(50);
    let home = tempfile::tempdir().unwrap();
    let host = std::cell::RefCell::new(Host::open(home.path()).unwrap());
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let side = || prop::collection::vec(op(), 0..6);
    let steps = prop::collection::vec((side(), side()), 1..4);
    let counter = std::cell::Cell::new(0u32);
    let (syncs, ops) = (std::cell::Cell::new(0u64), std::cell::Cell::new(0u64));
    runner
        .run(&steps, |steps| {
            counter.set(counter.get() + 1);
            let case = counter.get();
            let mut host = host.borrow_mut();
            let w = World::new();
            let name = format!("{policy}-{case}");
            let mut new = NewConduit::new(&name, &w.a, &w.b, policy);
            new.options = extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            host.add(new).unwrap();
            for (step, (on_a, on_b)) in steps.iter().enumerate() {
                ops.set(ops.get() + (on_a.len() + if both_sides { on_b.len() } else { 0 }) as u64);
                for (i, op) in on_a.iter().enumerate() {
                    apply(&w.a, op, &format!("{case}.{step}.a{i}"));
                }
                if both_sides {
                    for (i, op) in on_b.iter().enumerate() {
                        apply(&w.b, op, &format!("{case}.{step}.b{i}"));
                    }
                }
                // What stands in the roots now must survive the sync (what the
                // person overwrote before it is theirs to lose).
                let mut kept = user_contents(&w.a);
                kept.extend(user_contents(&w.b));
                let first = sync(&mut host, &name);
                prop_assert!(first.halted.is_none(), "{:?}", first.halted);
                let mut last = sync(&mut host, &name);
                syncs.set(syncs.get() + 2);
                if !quiet(&last) {
                    last = sync(&mut host, &name);
                    syncs.set(syncs.get() + 1);
                }
                prop_assert!(quiet(&last), "converged: {last:?} after {first:?}");
                let mut found = BTreeSet::new();
                contents(&w.a, &mut found);
                contents(&w.b, &mut found);
                let lost: Vec<&String> = kept.difference(&found).collect();
                prop_assert!(lost.is_empty(), "versions lost: {lost:?}");
                match policy {
                    "replicate" | "synchronize" => prop_assert_eq!(tree(&w.a), tree(&w.b)),
                    "offload" => {
                        // Stored, or held back as a conflict for the person
                        // (a file where a folder of offloaded files was).
                        let stored = tree(&w.b);
                        let conflicts: BTreeSet<String> = host
                            .conflicts(&name)
                            .unwrap()
                            .into_iter()
                            .map(|(p, _)| p)
                            .collect();
                        for (path, local) in tree(&w.a) {
                            prop_assert!(
                                stored.get(&path) == Some(&local) || conflicts.contains(&path),
                                "{} is stored: {:?}",
                                path,
                                stored.get(&path)
                            );
                        }
                    }
                    _ => {
                        let left: Vec<String> = tree(&w.a)
                            .into_iter()
                            .filter(|(_, v)| v != "dir/")
                            .map(|(p, _)| p)
                            .collect();
                        prop_assert!(left.is_empty(), "all archived: {left:?}");
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    eprintln!(
        "convergence ({policy}): {} cases, {} operations, {} syncs",
        counter.get(),
        ops.get(),
        syncs.get()
    );
}

#[test]
fn synchronize_converges_on_random_changes_to_both_sides() {
    converges("synchronize", &[], true);
}

#[test]
fn replicate_converges_on_random_changes_to_the_source() {
    converges("replicate", &[], false);
}

#[test]
fn offload_keeps_everything_stored_under_random_changes() {
    converges("offload", &[("max-local", "20")], false);
}

#[test]
fn archive_moves_everything_under_random_changes() {
    converges("archive", &[], false);
}
