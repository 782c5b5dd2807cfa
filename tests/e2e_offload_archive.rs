//! End to end through the binary: offload (eviction order, hysteresis, pins,
//! evict-after, hydrate, lost store copies, local deletes and new files at
//! offloaded paths) and archive (verified moves, filters, dedupe, by-date,
//! collisions, an injected failure, the manifest and `verify`).

use crate::support::*;

use std::path::Path;
use std::time::{Duration, SystemTime};

const KIB: usize = 1024;

/// `rel` with `len` bytes, last accessed and modified `days_ago`.
fn aged(root: &Path, rel: &str, len: usize, days_ago: u64) {
    let content: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    write(root, rel, &format!("{rel}{content}")[..len]);
    let when = SystemTime::now() - Duration::from_secs(86_400 * days_ago);
    let f = std::fs::File::options()
        .write(true)
        .open(root.join(rel))
        .unwrap();
    f.set_times(
        std::fs::FileTimes::new()
            .set_accessed(when)
            .set_modified(when),
    )
    .unwrap();
}

fn offloaded(w: &World, name: &str) -> Vec<String> {
    let status = w
        .run(&["status", name, "--offloaded", "--json"])
        .expect(0)
        .json();
    status["offloaded_files"]
        .as_array()
        .expect("offloaded_files")
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

/// Ten 10 KiB files, `f0` the least recently used.
fn cache_world(extra: &[&str]) -> World {
    let w = World::new();
    for i in 0..10 {
        aged(&w.a, &format!("f{i}"), 10 * KIB, 20 - i);
    }
    w.add_cache("cache", extra);
    w
}

#[test]
fn offload_evicts_least_recently_used_down_to_the_refill_mark() {
    // max-local 60 KiB with 100 KiB local: evict down to 90% of it (54 KiB),
    // oldest first, so five files go.
    let w = cache_world(&["--set", "max-local=60K"]);
    let r = w.sync("cache", &[], 0);
    assert_eq!(n(&r, "copied"), 10);
    assert_eq!(n(&r, "evicted"), 5);
    let gone: Vec<String> = (0..5).map(|i| format!("f{i}")).collect();
    assert_eq!(offloaded(&w, "cache"), gone);
    for i in 0..10 {
        let rel = format!("f{i}");
        assert_eq!(read(&w.a, &rel).is_some(), i >= 5, "{rel} local?");
        assert!(read(&w.b, &rel).is_some(), "{rel} stored");
    }
    // Hysteresis: 50 KiB local is under the limit; the next run evicts nothing,
    // and an evicted file is never taken for a deletion.
    let r = w.sync("cache", &[], 0);
    assert_eq!((n(&r, "evicted"), n(&r, "deleted")), (0, 0), "{r}");
    assert_eq!(offloaded(&w, "cache").len(), 5);
}

#[test]
fn offload_min_free_uses_the_source_capacity_and_target_free() {
    // A 200 KiB volume holding 100 KiB: 50% free. min-free 60% trips, and
    // eviction continues to target-free 75% (150 KiB free): 50 KiB go.
    let w = cache_world(&["--set", "min-free=60%", "--set", "target-free=75%"]);
    w.run(&["set", "cache", "source-capacity=200K"]).expect(0);
    let r = w.sync("cache", &[], 0);
    assert_eq!(n(&r, "evicted"), 5, "{r}");
    assert_eq!(offloaded(&w, "cache")[0], "f0");
}

#[test]
fn pins_keep_files_local_and_bring_offloaded_ones_back() {
    let w = cache_world(&["--set", "max-local=60K"]);
    w.run(&["pin", "cache", "f0"]).expect(0);
    w.sync("cache", &[], 0);
    let evicted = offloaded(&w, "cache");
    assert!(
        !evicted.contains(&"f0".to_string()),
        "pinned f0 stays: {evicted:?}"
    );
    assert_eq!(read(&w.a, "f0").map(|s| s.len()), Some(10 * KIB));
    // Pinning an offloaded file hydrates it on the next run.
    w.run(&["pin", "cache", "f1"]).expect(0);
    let r = w.sync("cache", &[], 0);
    assert_eq!(n(&r, "hydrated"), 1, "{r}");
    assert_eq!(read(&w.a, "f1"), read(&w.b, "f1"));
    assert!(!offloaded(&w, "cache").contains(&"f1".to_string()));
    w.run(&["unpin", "cache", "f1"]).expect(0);
    w.run(&["unpin", "cache", "never-pinned"]).expect(2);
}

#[test]
fn evict_after_evicts_idle_files_whatever_the_space() {
    let w = World::new();
    aged(&w.a, "old/report.pdf", 4 * KIB, 40);
    aged(&w.a, "new/draft.txt", 4 * KIB, 1);
    w.add_cache("cache", &["--set", "evict-after=30d"]);
    let r = w.sync("cache", &[], 0);
    assert_eq!(n(&r, "evicted"), 1, "{r}");
    assert_eq!(offloaded(&w, "cache"), vec!["old/report.pdf"]);
    assert!(read(&w.a, "new/draft.txt").is_some());
}

#[test]
fn hydrate_brings_back_a_file_and_a_folder_verified() {
    let w = World::new();
    for i in 0..3 {
        aged(&w.a, &format!("album/p{i}.jpg"), 5 * KIB, 60);
    }
    aged(&w.a, "single.bin", 5 * KIB, 60);
    w.add_cache("cache", &["--set", "evict-after=30d"]);
    w.sync("cache", &[], 0);
    assert_eq!(offloaded(&w, "cache").len(), 4);
    w.run(&["hydrate", "cache", "single.bin"]).expect(0);
    assert_eq!(read(&w.a, "single.bin"), read(&w.b, "single.bin"));
    w.run(&["hydrate", "cache", "album"]).expect(0);
    for i in 0..3 {
        let rel = format!("album/p{i}.jpg");
        assert_eq!(read(&w.a, &rel), read(&w.b, &rel), "{rel}");
    }
    assert!(offloaded(&w, "cache").is_empty());
    w.run(&["hydrate", "cache", "nothing-here"]).expect(2);
}

#[test]
fn a_lost_store_copy_of_an_offloaded_file_is_reported() {
    let w = World::new();
    aged(&w.a, "keep/a.txt", KIB, 1);
    aged(&w.a, "cold.txt", KIB, 90);
    w.add_cache("cache", &["--set", "evict-after=30d"]);
    w.sync("cache", &[], 0);
    std::fs::remove_file(w.b.join("cold.txt")).unwrap();
    let r = w.sync("cache", &[], 3);
    assert_eq!((n(&r, "conflicts"), n(&r, "unresolved")), (1, 1), "{r}");
    let conflicts = w.run(&["conflicts", "cache", "--json"]).expect(0).json();
    assert_eq!(conflicts[0]["path"], "cold.txt");
    assert!(
        conflicts[0]["reason"]
            .as_str()
            .unwrap()
            .contains("destination copy is gone")
    );
}

#[test]
fn a_local_delete_propagates_but_a_new_file_at_an_offloaded_path_keeps_both() {
    let w = World::new();
    for i in 0..4 {
        aged(&w.a, &format!("warm{i}.txt"), KIB, 1);
    }
    aged(&w.a, "cold.txt", KIB, 90);
    w.add_cache("cache", &["--set", "evict-after=30d"]);
    w.sync("cache", &[], 0);
    // The user deletes a local file: it leaves the store too (into its trash).
    std::fs::remove_file(w.a.join("warm0.txt")).unwrap();
    // And writes a new file where the offloaded one was.
    write(&w.a, "cold.txt", "a new file with the old name");
    let r = w.sync("cache", &[], 0);
    assert_eq!(n(&r, "deleted"), 1, "{r}");
    assert!(read(&w.b, "warm0.txt").is_none());
    assert!(trash(&w.b).iter().any(|t| t.ends_with("warm0.txt")));
    assert_eq!(
        read(&w.b, "cold.txt").as_deref(),
        Some("a new file with the old name")
    );
    let aside: Vec<String> = tree(&w.a)
        .into_keys()
        .filter(|p| p.starts_with("cold.conflict-") && p.ends_with("-destination.txt"))
        .collect();
    assert_eq!(
        aside.len(),
        1,
        "the offloaded version comes back aside: {:?}",
        tree(&w.a)
    );
    assert_eq!(read(&w.a, &aside[0]).map(|s| s.len()), Some(KIB));
}

fn archive_world(extra: &[&str]) -> World {
    let w = World::new();
    aged(&w.a, "2019/tax.pdf", 3 * KIB, 2000);
    aged(&w.a, "2019/scan.png", 2 * KIB, 1500);
    aged(&w.a, "recent/notes.txt", KIB, 2);
    w.add("shelf", "archive", extra);
    w
}

#[test]
fn archive_moves_verified_files_prunes_folders_and_keeps_a_manifest() {
    let w = archive_world(&[]);
    let before = tree(&w.a);
    let r = w.sync("shelf", &[], 0);
    assert_eq!(
        (n(&r, "moved"), n(&r, "verified"), n(&r, "failed")),
        (3, 3, 0),
        "{r}"
    );
    assert!(
        tree(&w.a).is_empty(),
        "source emptied and pruned: {:?}",
        tree(&w.a)
    );
    for (path, content) in before.iter().filter(|(_, c)| *c != "dir/") {
        assert_eq!(read(&w.b, path).as_ref(), Some(content), "{path}");
    }
    let manifest = std::fs::read_to_string(w.b.join(".conduit/archive-manifest.jsonl")).unwrap();
    assert_eq!(manifest.lines().count(), 3);
    let v = w.run(&["verify", "shelf", "--json"]).expect(0).json();
    assert_eq!(n(&v, "archived"), 3);
    // A byte flipped in the archive (same size, same mtime) is caught.
    let mtime = mtime(&w.b, "2019/tax.pdf");
    let mut bytes = std::fs::read(w.b.join("2019/tax.pdf")).unwrap();
    bytes[100] ^= 1;
    std::fs::write(w.b.join("2019/tax.pdf"), bytes).unwrap();
    set_mtime(&w.b, "2019/tax.pdf", mtime);
    let v = w.run(&["verify", "shelf", "--json"]).expect(3).json();
    let corrupted = v["corrupted"].to_string();
    assert!(corrupted.contains("2019/tax.pdf"), "{v}");
}

#[test]
fn archive_filters_by_age() {
    let w = archive_world(&["--set", "older-than=365d"]);
    let r = w.sync("shelf", &[], 0);
    assert_eq!(n(&r, "moved"), 2, "{r}");
    assert!(read(&w.a, "recent/notes.txt").is_some());
    assert!(read(&w.b, "recent/notes.txt").is_none());
}

#[test]
fn archive_dedupe_copies_identical_content_once() {
    let w = World::new();
    write(&w.a, "one/photo.jpg", "same bytes");
    write(&w.a, "two/photo-copy.jpg", "same bytes");
    write(&w.b, "already/there.jpg", "other bytes");
    write(&w.a, "three/old.jpg", "other bytes");
    w.add("shelf", "archive", &["--set", "dedupe=true"]);
    let r = w.sync("shelf", &[], 0);
    assert_eq!((n(&r, "moved"), n(&r, "failed")), (3, 0), "{r}");
    assert!(tree(&w.a).is_empty(), "{:?}", tree(&w.a));
    let files: Vec<String> = tree(&w.b)
        .into_iter()
        .filter(|(_, c)| c != "dir/")
        .map(|(p, _)| p)
        .collect();
    assert_eq!(
        files,
        vec!["already/there.jpg", "one/photo.jpg"],
        "one copy per content"
    );
}

#[test]
fn archive_by_date_layout_and_collisions_never_overwrite() {
    let w = World::new();
    write(&w.a, "inbox/report.txt", "new report");
    // 2021-03-15 UTC
    set_mtime(&w.a, "inbox/report.txt", 1_615_766_400);
    write(
        &w.b,
        "2021/03/report.txt",
        "an older report already archived",
    );
    w.add("shelf", "archive", &["--set", "layout=by-date"]);
    let r = w.sync("shelf", &[], 0);
    assert_eq!(n(&r, "moved"), 1, "{r}");
    assert_eq!(
        read(&w.b, "2021/03/report.txt").as_deref(),
        Some("an older report already archived")
    );
    assert_eq!(
        read(&w.b, "2021/03/report-2.txt").as_deref(),
        Some("new report")
    );
}

#[test]
fn archive_keeps_the_source_when_its_copy_fails() {
    let w = World::new();
    write(&w.a, "ok.txt", "fine");
    write(&w.a, "blocked/file.txt", "cannot land");
    w.add("shelf", "archive", &[]);
    // Once the plan is made, a file appears where the destination needs a
    // folder: the copy cannot be written.
    let (child, gate) = paused_at(&w, "sync:planned", &["sync", "shelf", "--json"]);
    write(&w.b, "blocked", "a file in the way");
    std::fs::remove_file(gate).unwrap();
    let r = finish(child).expect(3).json();
    assert_eq!((n(&r, "moved"), n(&r, "failed")), (1, 1), "{r}");
    assert_eq!(
        read(&w.a, "blocked/file.txt").as_deref(),
        Some("cannot land")
    );
    assert!(read(&w.a, "ok.txt").is_none());
    assert_eq!(read(&w.b, "ok.txt").as_deref(), Some("fine"));
}

#[test]
fn offload_frees_space_on_a_real_small_disk() {
    let w = World::new();
    let Some(_disk) = SmallDisk::mount(&w.a, "4m") else {
        eprintln!("SKIPPED offload_frees_space_on_a_real_small_disk: cannot mount a tmpfs here");
        return;
    };
    // 3 MiB of a 4 MiB volume: 25% free, under min-free 40%; eviction runs,
    // oldest first, until 60% is free.
    for i in 0..6 {
        aged(&w.a, &format!("f{i}"), 512 * KIB, 20 - i as u64);
    }
    w.add(
        "disk",
        "offload",
        &["--set", "min-free=40%", "--set", "target-free=60%"],
    );
    let r = w.sync("disk", &[], 0);
    assert_eq!(n(&r, "copied"), 6, "{r}");
    let stat = free_fraction(&w.a);
    assert!(
        stat >= 0.59,
        "only {:.0}% free after offloading: {r}",
        stat * 100.0
    );
    let gone = offloaded(&w, "disk");
    assert_eq!(gone, ["f0", "f1", "f2"], "the least recently used go first");
    for f in &gone {
        assert_eq!(read(&w.a, f), None);
        assert!(read(&w.b, f).is_some(), "{f} stored");
    }
    w.run(&["hydrate", "disk", "f0"]).expect(0);
    assert!(read(&w.a, "f0").is_some());
}

/// Free space of the volume holding `path`, as a fraction (from `df`, so
/// the test measures what a user would see).
fn free_fraction(path: &Path) -> f64 {
    let out = std::process::Command::new("df")
        .args(["--output=size,avail", "-B1"])
        .arg(path)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let nums: Vec<f64> = text
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    nums[1] / nums[0]
}
