//! The crash harness: every policy's run is killed with SIGKILL at the
//! host's named points (and, in the long form, at random moments), then run
//! again, and the disk is checked:
//!
//! - every version that was on disk when the run began is still in a root,
//!   in its trash, or in a conflict copy;
//! - no copy is left half-written: nothing staged survives the next run;
//! - the sides agree as the policy promises, and one more run does nothing;
//! - `verify` finds nothing corrupted.
//!
//! Where a run can be killed is learned, per policy, from a traced run of the
//! same world (`CONDUIT_TEST_HOOK=trace=PATH`), so every aimed kill lands.
//! The short form kills at the first and the last pass of every point each
//! policy passes, and runs in CI. The long form is one command (see
//! docs/reliability.md): `CONDUIT_CRASH_ROUNDS=3000 cargo test -p conduit
//! --test suite crash::long -- --nocapture`, seeded by `CONDUIT_CRASH_SEED`.

use crate::support::*;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

const POLICIES: &[&str] = &["replicate", "synchronize", "offload", "archive"];

/// A small deterministic generator (SplitMix64): the harness is seeded so a
/// failure can be replayed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A world for one policy, synced once, then changed so the next run has
/// every kind of work: copies, replacements, deletes, a rename, a conflict
/// (synchronize), evictions (offload), moves onto identical and onto
/// different content (archive). Returns every version on disk then, in the
/// roots and their trash: what the killed run and its recovery must keep.
fn prepared(policy: &str) -> (World, BTreeSet<String>) {
    let w = World::new();
    let put = |root: &Path, rel: &str, content: String| write(root, rel, &content);
    for i in 0..12 {
        put(
            &w.a,
            &format!("d{}/f{i}.txt", i % 3),
            format!("{policy} f{i} v1 {}", "x".repeat(i * 300)),
        );
    }
    put(&w.a, "moved-away.txt", format!("{policy} rename me"));
    let extra: &[&str] = match policy {
        "offload" => &["--set", "max-local=2K"],
        _ => &[],
    };
    w.add("c", policy, extra);
    w.sync("c", &[], 0);
    match policy {
        "archive" => {
            for i in 0..6 {
                put(&w.a, &format!("new/n{i}.txt"), format!("archive n{i}"));
            }
            // Identical content already at the path, and other content.
            put(&w.a, "same.txt", "archive same".into());
            put(&w.b, "same.txt", "archive same".into());
            put(&w.a, "clash.txt", "archive clash, source".into());
            put(&w.b, "clash.txt", "archive clash, destination".into());
        }
        _ => {
            for i in (0..12).step_by(2) {
                put(
                    &w.a,
                    &format!("d{}/f{i}.txt", i % 3),
                    format!("{policy} f{i} v2"),
                );
            }
            // (Offload may have evicted these already: then there is
            // nothing local to delete or move.)
            let _ = std::fs::remove_file(w.a.join("d1/f1.txt"));
            let _ = std::fs::rename(w.a.join("moved-away.txt"), w.a.join("d2/moved-here.txt"));
            for i in 0..4 {
                put(&w.a, &format!("new/n{i}.txt"), format!("{policy} n{i}"));
            }
            if policy == "synchronize" {
                put(&w.a, "d0/f3.txt", "synchronize f3 source edit".into());
                put(&w.b, "d0/f3.txt", "synchronize f3 destination edit".into());
                put(&w.b, "d2/f5.txt", "synchronize f5 destination edit".into());
                std::fs::remove_file(w.b.join("d1/f7.txt")).unwrap();
            }
        }
    }
    let mut versions = BTreeSet::new();
    contents(&w.a, &mut versions);
    contents(&w.b, &mut versions);
    (w, versions)
}

/// The content of every user file under `root` and in its trash (Conduit's
/// own files, the marker and the manifest, left out).
fn contents(root: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if entry.file_name() == ".conduit" {
            contents(&path.join("trash"), out);
        } else if kind.is_dir() {
            contents(&path, out);
        } else if kind.is_file() {
            out.insert(String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned());
        }
    }
}

/// The user's files (not folders) of a root, with content.
fn files(root: &Path) -> Vec<(String, String)> {
    tree(root)
        .into_iter()
        .filter(|(_, v)| v != "dir/")
        .collect()
}

/// After a killed run: recover, then check every invariant. `what` names
/// the case in failures.
fn recovered(w: &World, policy: &str, versions: &BTreeSet<String>, what: &str) {
    let r = w.run(&["sync", "c", "--json"]);
    assert!(
        matches!(r.code, 0 | 3),
        "{what}: the run after the crash: {r:?}"
    );
    // A run whose copies failed holds its deletes back; one more finishes.
    let r = w.sync("c", &[], 0);
    let settled = w.sync("c", &[], 0);
    for key in ["copied", "deleted", "moved", "renamed", "evicted", "failed"] {
        assert_eq!(
            n(&settled, key),
            0,
            "{what}: converged ({key}): {settled} after {r}"
        );
    }
    assert!(
        temp_files(&w.a).is_empty() && temp_files(&w.b).is_empty(),
        "{what}: staged copies left"
    );
    let mut found = BTreeSet::new();
    contents(&w.a, &mut found);
    contents(&w.b, &mut found);
    let lost: Vec<&String> = versions.iter().filter(|v| !found.contains(*v)).collect();
    assert!(lost.is_empty(), "{what}: versions lost: {lost:?}");
    let v = w.run(&["verify", "c", "--json"]).expect(0).json();
    assert!(v["corrupted"].as_array().unwrap().is_empty(), "{what}: {v}");
    match policy {
        "replicate" | "synchronize" => {
            assert_eq!(tree(&w.b), tree(&w.a), "{what}: the sides agree")
        }
        "offload" => {
            let stored: Vec<(String, String)> = files(&w.b);
            for local in files(&w.a) {
                assert!(stored.contains(&local), "{what}: {local:?} is stored");
            }
        }
        "archive" => assert!(
            files(&w.a).is_empty(),
            "{what}: all archived: {:?}",
            files(&w.a)
        ),
        _ => unreachable!("a policy of the harness"),
    }
}

/// Run the changed world's sync with `hook`; true if it was killed.
fn killed_by(w: &World, hook: &str) -> bool {
    let out = with_hook(w, hook, &["sync", "c", "--json"])
        .output()
        .unwrap();
    out.status.code().is_none()
}

/// Every pass of a named point in `policy`'s run of the prepared world, in
/// order: `(point, n)` for the n-th pass of that point.
fn passes(policy: &str) -> Vec<(String, u64)> {
    let (w, _) = prepared(policy);
    let trace = w.home.join("trace");
    let out = with_hook(
        &w,
        &format!("trace={}", trace.display()),
        &["sync", "c", "--json"],
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "the traced run of {policy}: {out:?}");
    let mut seen = HashMap::<String, u64>::new();
    std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(|point| {
            let n = seen.entry(point.to_string()).or_default();
            *n += 1;
            (point.to_string(), *n)
        })
        .collect()
}

#[test]
fn short_every_policy_killed_at_every_point_loses_nothing() {
    let mut kills = 0;
    let mut cases = 0;
    for policy in POLICIES {
        let passes = passes(policy);
        // The first and the last pass of each point.
        let last: HashMap<&str, u64> = passes.iter().map(|(p, n)| (p.as_str(), *n)).collect();
        let mut aims: BTreeSet<(&str, u64)> = last.iter().map(|(p, n)| (*p, *n)).collect();
        aims.extend(last.keys().map(|p| (*p, 1)));
        for (point, nth) in aims {
            let (w, versions) = prepared(policy);
            let what = format!("{policy} killed at {point}@{nth}");
            if killed_by(&w, &format!("{point}@{nth}:kill")) {
                kills += 1;
            }
            recovered(&w, policy, &versions, &what);
            cases += 1;
        }
    }
    eprintln!("crash harness (short): {cases} cases, {kills} kills");
    assert!(
        kills * 10 >= cases * 9,
        "the traced points are reached: {kills} kills of {cases}"
    );
}

/// The long form: `CONDUIT_CRASH_ROUNDS` rounds, each a random policy killed
/// at a random point and hit, or after a random delay.
#[test]
fn long_random_kills_lose_nothing() {
    let rounds: u64 = std::env::var("CONDUIT_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0);
    if rounds == 0 {
        eprintln!("SKIPPED: set CONDUIT_CRASH_ROUNDS for the long form");
        return;
    }
    let seed = std::env::var("CONDUIT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let mut rng = Rng::new(seed);
    let passes: HashMap<&str, Vec<(String, u64)>> =
        POLICIES.iter().map(|p| (*p, passes(p))).collect();
    let mut kills = 0;
    for round in 0..rounds {
        let policy = POLICIES[rng.below(POLICIES.len() as u64) as usize];
        let (w, versions) = prepared(policy);
        let what;
        if rng.below(3) == 0 {
            let delay = rng.below(400);
            what = format!("round {round} (seed {seed}): {policy} killed after {delay} ms");
            let mut child = w
                .cmd()
                .args(["sync", "c", "--json"])
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(Duration::from_millis(delay));
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap();
                kills += 1;
            }
            child.wait().unwrap();
        } else {
            let passes = &passes[policy];
            let (point, nth) = &passes[rng.below(passes.len() as u64) as usize];
            what = format!("round {round} (seed {seed}): {policy} killed at {point}@{nth}");
            if killed_by(&w, &format!("{point}@{nth}:kill")) {
                kills += 1;
            }
        }
        recovered(&w, policy, &versions, &what);
    }
    eprintln!("crash harness (long, seed {seed}): {rounds} rounds, {kills} kills, no losses");
}
