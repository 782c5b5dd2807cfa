//! End to end through the binary: the safety guards of docs/architecture.md
//! (each halts with exit 4, changes nothing on disk and names the guard and
//! the way forward), files that change while a run is under way, a run killed with
//! SIGKILL, and two runs of one conduit at once.

use crate::support::*;

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::process::{Child, Stdio};

/// Ten synced files in two folders; `guarded` is the conduit.
fn guarded() -> World {
    let w = World::new();
    for i in 0..10 {
        write(
            &w.a,
            &format!("f{}/file{i}.txt", i % 2),
            &format!("content {i}"),
        );
    }
    w.add("guarded", "replicate", &[]);
    w.sync("guarded", &[], 0);
    assert_eq!(tree(&w.b), tree(&w.a));
    w
}

/// Run `sync NAME --json EXTRA`, expect a halt, and check that nothing
/// changed in either root (`.conduit` included). Returns the reason.
fn halts(w: &World, extra: &[&str], roots: &[&Path]) -> String {
    let before: Vec<_> = roots.iter().map(|r| snapshot(r)).collect();
    let r = w.sync("guarded", extra, 4);
    let after: Vec<_> = roots.iter().map(|r| snapshot(r)).collect();
    assert_eq!(before, after, "a halted run changes nothing on disk: {r}");
    for key in [
        "copied", "deleted", "moved", "renamed", "bytes", "verified", "failed",
    ] {
        assert_eq!(n(&r, key), 0, "{key}: {r}");
    }
    r["halted"]
        .as_str()
        .unwrap_or_else(|| panic!("halted names the reason: {r}"))
        .to_string()
}

fn assert_mentions(reason: &str, words: &[&str]) {
    for word in words {
        assert!(reason.contains(word), "{word:?} in {reason:?}");
    }
}

#[test]
fn a_missing_root_halts_and_force_does_not_override_it() {
    let w = guarded();
    // The destination disk is unmounted: its folder is gone.
    let away = w.tmp.path().join("b-unmounted");
    std::fs::rename(&w.b, &away).unwrap();
    let reason = halts(&w, &[], &[&w.a, &away]);
    assert_mentions(
        &reason,
        &[
            "root marker missing",
            "destination",
            "does not exist",
            "mount",
        ],
    );
    let reason = halts(&w, &["--force"], &[&w.a, &away]);
    assert_mentions(&reason, &["root marker missing"]);
    assert!(!w.b.exists(), "the missing root is not recreated");
    // People see the same.
    let human = w.run(&["sync", "guarded"]).expect(4);
    assert!(
        human.stdout.contains("halted, nothing changed"),
        "{}",
        human.stdout
    );
    // Mounted again, all is well.
    std::fs::rename(&away, &w.b).unwrap();
    let r = w.sync("guarded", &[], 0);
    assert_eq!((n(&r, "copied"), n(&r, "deleted")), (0, 0), "{r}");

    // The same for a missing source.
    let away = w.tmp.path().join("a-unmounted");
    std::fs::rename(&w.a, &away).unwrap();
    let reason = halts(&w, &["--force"], &[&away, &w.b]);
    assert_mentions(
        &reason,
        &["root marker missing", "source", "does not exist"],
    );
}

#[test]
fn a_missing_or_foreign_root_marker_halts() {
    let w = guarded();
    let marker = w.b.join(".conduit/root-id");
    let id = std::fs::read_to_string(&marker).unwrap();

    // An empty mount point in place of the disk: no marker.
    std::fs::remove_file(&marker).unwrap();
    let reason = halts(&w, &[], &[&w.a, &w.b]);
    assert_mentions(
        &reason,
        &[
            "root marker missing",
            "destination",
            ".conduit/root-id",
            "mount",
        ],
    );
    halts(&w, &["--force"], &[&w.a, &w.b]);

    // Another disk at the same place: its marker belongs to someone else.
    std::fs::write(&marker, "0123456789abcdef0123456789abcdef\n").unwrap();
    let reason = halts(&w, &[], &[&w.a, &w.b]);
    assert_mentions(
        &reason,
        &["root marker mismatch", "destination", "wrong disk"],
    );
    halts(&w, &["--force"], &[&w.a, &w.b]);

    // The source's marker counts just the same.
    std::fs::write(&marker, &id).unwrap();
    std::fs::remove_file(w.a.join(".conduit/root-id")).unwrap();
    let reason = halts(&w, &["--force"], &[&w.a, &w.b]);
    assert_mentions(&reason, &["root marker missing", "source"]);
}

#[test]
fn an_emptied_root_halts_until_the_run_is_forced() {
    let w = guarded();
    for dir in ["f0", "f1"] {
        std::fs::remove_dir_all(w.a.join(dir)).unwrap();
    }
    let reason = halts(&w, &[], &[&w.a, &w.b]);
    assert_mentions(
        &reason,
        &[
            "emptied root",
            "source",
            "10 were there",
            "mount",
            "conduit sync guarded --force",
        ],
    );
    assert_eq!(tree(&w.b).len(), 12, "the mirror still holds everything");

    let r = w.sync("guarded", &["--force"], 0);
    assert_eq!(n(&r, "deleted"), 10, "ten files: {r}");
    assert_eq!(n(&r, "folders_removed"), 2, "and two folders: {r}");
    assert!(tree(&w.b).is_empty());
    let trashed = trash(&w.b);
    assert_eq!(
        trashed.len(),
        10,
        "every deleted file is in the trash: {trashed:?}"
    );
    for t in &trashed {
        let i: usize = t
            .rsplit("file")
            .next()
            .unwrap()
            .trim_end_matches(".txt")
            .parse()
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(w.b.join(".conduit/trash").join(t)).unwrap(),
            format!("content {i}")
        );
    }

    // An emptied destination halts too (it would be refilled, but an empty
    // side is more often a disk that is not there than a wish).
    let w = guarded();
    for dir in ["f0", "f1"] {
        std::fs::remove_dir_all(w.b.join(dir)).unwrap();
    }
    let reason = halts(&w, &[], &[&w.a, &w.b]);
    assert_mentions(&reason, &["emptied root", "destination", "--force"]);
    let r = w.sync("guarded", &["--force"], 0);
    assert_eq!(n(&r, "copied"), 10, "{r}");
    assert_eq!(n(&r, "folders_created"), 2, "{r}");
    assert_eq!(tree(&w.b), tree(&w.a));
}

#[test]
fn a_mass_delete_halts_above_max_delete_and_the_limit_is_settable() {
    let w = guarded();
    // Something in the trash already, and a retention that would purge it:
    // a halted run must not purge it either.
    write(&w.b, "f0/file0.txt", "drift");
    w.sync("guarded", &[], 0);
    assert_eq!(trash(&w.b).len(), 1);
    w.run(&["set", "guarded", "trash-days=0"]).expect(0);

    for i in 0..6 {
        std::fs::remove_file(w.a.join(format!("f{}/file{i}.txt", i % 2))).unwrap();
    }
    let reason = halts(&w, &[], &[&w.a, &w.b]);
    assert_mentions(
        &reason,
        &[
            "mass delete",
            "6 of the 10 files on the destination",
            "60%",
            "50%",
            "conduit sync guarded --force",
            "conduit set guarded max-delete=",
        ],
    );
    assert_eq!(tree(&w.b).len(), 12);

    // Raising the limit lets the same run through.
    w.run(&["set", "guarded", "max-delete=70%"]).expect(0);
    let show = w.run(&["show", "guarded", "--json"]).expect(0).json();
    assert_eq!(show["max_delete_pct"], 70.0);
    let r = w.sync("guarded", &[], 0);
    assert_eq!(n(&r, "deleted"), 6, "{r}");
    assert_eq!(tree(&w.b), tree(&w.a));

    // Lowering it stops smaller deletes; --force runs past it.
    w.run(&["set", "guarded", "max-delete=10%"]).expect(0);
    std::fs::remove_file(w.a.join("f0/file6.txt")).unwrap();
    let reason = halts(&w, &[], &[&w.a, &w.b]);
    assert_mentions(&reason, &["1 of the 4 files", "25%", "10%"]);
    let r = w.sync("guarded", &["--force"], 0);
    assert_eq!(n(&r, "deleted"), 1, "{r}");
    assert_eq!(tree(&w.b), tree(&w.a));
}

#[test]
fn exactly_max_delete_passes_and_the_default_is_half() {
    let w = guarded();
    for i in 0..5 {
        std::fs::remove_file(w.a.join(format!("f{}/file{i}.txt", i % 2))).unwrap();
    }
    let r = w.sync("guarded", &[], 0);
    assert_eq!(n(&r, "deleted"), 5, "five of ten is not more than 50%: {r}");
    let show = w.run(&["show", "guarded", "--json"]).expect(0).json();
    assert_eq!(show["max_delete_pct"], 50.0);
}

/// A root as a mirror must reproduce it: every path but `.conduit`, files
/// with content hash, mode and mtime, folders by name only. Cheaper than
/// `tree` on large files.
fn mirror_view(root: &Path) -> std::collections::BTreeMap<String, String> {
    snapshot(root)
        .into_iter()
        .filter(|(path, _)| !path.starts_with(".conduit"))
        .map(|(path, what)| match what.starts_with("dir/") {
            true => (path, "dir/".to_string()),
            false => (path, what),
        })
        .collect()
}

/// The files in a root's trash (generation first), without reading them.
fn trash_list(root: &Path) -> Vec<String> {
    snapshot(&root.join(".conduit/trash"))
        .into_iter()
        .filter(|(_, what)| !what.starts_with("dir/"))
        .map(|(path, _)| path)
        .collect()
}

/// Start `conduit sync NAME --json` in the background.
fn spawn_sync(w: &World, name: &str) -> Child {
    w.cmd()
        .args(["sync", name, "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start conduit")
}

fn finish(child: Child) -> Run {
    child.wait_with_output().expect("wait for conduit").into()
}

/// True while a copy is staged in `root` and not yet committed (staged
/// copies wait in the staging area until their batch commits).
fn staging(root: &Path) -> bool {
    !temp_files(root).is_empty()
}

/// `len` bytes that differ with `seed`, each 64 KiB block numbered (built
/// by copying blocks: byte-by-byte loops are slow in a debug build).
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    let block: Vec<u8> = (0..1u32 << 16)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8 ^ seed)
        .collect();
    let mut out = Vec::with_capacity(len);
    let mut number = 0u32;
    while out.len() < len {
        let start = out.len();
        out.extend_from_slice(&block[..block.len().min(len - start)]);
        let tag = number.to_le_bytes();
        let end = out.len().min(start + tag.len());
        out[start..end].copy_from_slice(&tag[..end - start]);
        number += 1;
    }
    out
}

const MIB: usize = 1 << 20;
/// The size of `big_tree`'s large files.
const BIG: usize = 16 * MIB;

#[test]
fn destination_files_changed_during_the_run_are_neither_overwritten_nor_deleted() {
    // The edits must land after the scan and before the commit. A large file
    // staged first holds the commits back (its temporary file exists until
    // the batch commits), so seeing it still there after the edits proves
    // the timing; an attempt that came too late is repeated.
    for attempt in 1..=5 {
        let w = World::new();
        for i in 0..5 {
            write(&w.a, &format!("keep{i}.txt"), "keep");
        }
        write(&w.a, "target.txt", "version 1");
        w.add("guarded", "replicate", &[]);
        w.sync("guarded", &[], 0);
        write_bytes(&w.a, "big.bin", &pattern(96 * MIB, 1));
        write(&w.a, "target.txt", "version 2");
        write(&w.b, "extra.txt", "extraneous");

        let child = spawn_sync(&w, "guarded");
        let seen = wait_until(120, || staging(&w.b));
        write(&w.b, "target.txt", "the user's edit on the mirror");
        write(&w.b, "extra.txt", "extraneous, but just edited");
        let in_time = seen && staging(&w.b);
        let run = finish(child).expect(0);
        if !in_time {
            eprintln!("attempt {attempt}: the edits came after the commits began; again");
            continue;
        }
        let r = run.json();
        assert_eq!(n(&r, "skipped"), 2, "{r}");
        assert_eq!(n(&r, "failed"), 0, "{r}");
        let problems = r["problems"].to_string();
        for path in ["target.txt", "extra.txt"] {
            assert!(
                problems.contains(&format!("{path}: "))
                    && problems.contains("changed on the destination since the scan"),
                "{path} in {problems}"
            );
        }
        assert_eq!(
            read(&w.b, "target.txt").as_deref(),
            Some("the user's edit on the mirror")
        );
        assert_eq!(
            read(&w.b, "extra.txt").as_deref(),
            Some("extraneous, but just edited")
        );
        assert_eq!(
            std::fs::read(w.b.join("big.bin")).unwrap(),
            pattern(96 * MIB, 1)
        );

        // The next run mirrors again; the user's edits go to the trash.
        let r = w.sync("guarded", &[], 0);
        assert_eq!((n(&r, "copied"), n(&r, "deleted")), (1, 1), "{r}");
        assert_eq!(mirror_view(&w.b), mirror_view(&w.a));
        let kept: Vec<String> = trash_list(&w.b)
            .iter()
            .map(|t| std::fs::read_to_string(w.b.join(".conduit/trash").join(t)).unwrap())
            .collect();
        assert!(
            kept.contains(&"the user's edit on the mirror".to_string()),
            "{kept:?}"
        );
        assert!(
            kept.contains(&"extraneous, but just edited".to_string()),
            "{kept:?}"
        );
        return;
    }
    panic!("in five attempts the edits never landed between scan and commit");
}

#[test]
fn a_source_file_rewritten_while_it_is_copied_is_never_committed_torn() {
    let w = World::new();
    write(&w.a, "small.txt", "small");
    let original = pattern(128 * MIB, 7);
    write_bytes(&w.a, "big.bin", &original);
    w.add("guarded", "replicate", &[]);
    let child = spawn_sync(&w, "guarded");
    assert!(wait_until(120, || staging(&w.b)));
    // Rewrite the middle and the end in place: same size, new mtime.
    let file = std::fs::File::options()
        .write(true)
        .open(w.a.join("big.bin"))
        .unwrap();
    for offset in [64 * MIB, 128 * MIB - 4096] {
        file.write_all_at(&[0xAA; 4096], offset as u64).unwrap();
    }
    drop(file);
    let r = finish(child).expect(0).json();
    match std::fs::read(w.b.join("big.bin")) {
        // Copied before the rewrite: the scanned version, verified.
        Ok(copy) => assert!(copy == original, "the copy is the scanned version: {r}"),
        // Caught changing: skipped, to be copied next run.
        Err(_) => {
            assert_eq!(n(&r, "skipped"), 1, "{r}");
            assert!(
                r["problems"]
                    .to_string()
                    .contains("changed on the source since the scan"),
                "{r}"
            );
        }
    }
    assert!(temp_files(&w.b).is_empty());
    w.sync("guarded", &[], 0);
    assert_eq!(
        std::fs::read(w.b.join("big.bin")).unwrap(),
        std::fs::read(w.a.join("big.bin")).unwrap()
    );
}

/// A tree worth interrupting: six 16 MiB files at the top (copied first) and
/// 2000 small files in 20 folders, each file's content naming its version.
fn big_tree(root: &Path, version: u8) {
    for i in 0..6 {
        write_bytes(
            root,
            &format!("big{i}.bin"),
            &pattern(BIG, version.wrapping_add(i)),
        );
    }
    for i in 0..2000 {
        write(
            root,
            &format!("d{:02}/f{i:04}.txt", i % 20),
            &format!("file {i} version {version}"),
        );
    }
}

#[test]
fn a_run_killed_mid_way_is_finished_by_the_next_run_and_nothing_is_lost() {
    // Killed while staging (temporary files on disk), and while committing
    // (the first replaced file just went to the trash).
    for kill_when in ["staging", "committing"] {
        let w = World::new();
        big_tree(&w.a, 1);
        w.add("guarded", "replicate", &[]);
        w.sync("guarded", &[], 0);
        // Every file changes: the next run replaces all of the mirror.
        big_tree(&w.a, 2);

        let mut child = spawn_sync(&w, "guarded");
        let trash_dir = w.b.join(".conduit/trash");
        let hit = wait_until(120, || match kill_when {
            "staging" => staging(&w.b),
            _ => trash_dir.exists(),
        });
        assert!(hit, "{kill_when}: the run got there");
        child.kill().unwrap();
        let killed = finish(child);
        assert_eq!(
            killed.code, -1,
            "{kill_when}: killed by a signal: {killed:?}"
        );
        if kill_when == "staging" {
            assert!(
                !temp_files(&w.b).is_empty(),
                "the crash left temporary files"
            );
        }

        let r = w.sync("guarded", &[], 0);
        assert_eq!(n(&r, "failed"), 0, "{kill_when}: {r}");
        assert_eq!(
            mirror_view(&w.b),
            mirror_view(&w.a),
            "{kill_when}: converged"
        );
        assert!(
            temp_files(&w.b).is_empty(),
            "{kill_when}: {:?}",
            temp_files(&w.b)
        );
        assert!(temp_files(&w.a).is_empty());
        let verify = w.run(&["verify", "guarded", "--json"]).expect(0).json();
        assert_eq!(verify["verified"], 2 * 2006, "{kill_when}: {verify}");
        // Every replaced version of the mirror is in its trash.
        let trashed = trash_list(&w.b);
        let slot = |rel: &str| {
            trashed
                .iter()
                .find(|t| t.split_once('/').unwrap().1 == rel)
                .unwrap_or_else(|| panic!("{kill_when}: {rel} kept in the trash"))
        };
        for i in (0..2000).step_by(7) {
            let rel = format!("d{:02}/f{i:04}.txt", i % 20);
            let old = std::fs::read_to_string(w.b.join(".conduit/trash").join(slot(&rel)));
            assert_eq!(old.unwrap(), format!("file {i} version 1"), "{kill_when}");
        }
        let small = trashed.iter().filter(|t| t.ends_with(".txt")).count();
        assert!(
            small >= 2000,
            "{kill_when}: {small} small files in the trash"
        );
        for i in 0..6u8 {
            let rel = format!("big{i}.bin");
            let old = std::fs::read(w.b.join(".conduit/trash").join(slot(&rel))).unwrap();
            assert!(
                old == pattern(BIG, 1 + i),
                "{kill_when}: {rel}'s old version"
            );
        }
        // The killed run is in the history, marked as interrupted.
        let history = w.run(&["history", "guarded", "--json"]).expect(0).json();
        assert!(
            history[1]["halted"]
                .as_str()
                .is_some_and(|h| h.contains("interrupted")),
            "{kill_when}: {}",
            history[1]
        );
        let r = w.sync("guarded", &[], 0);
        assert_eq!(
            (n(&r, "copied"), n(&r, "deleted")),
            (0, 0),
            "{kill_when}: {r}"
        );
    }
}

#[test]
fn a_second_run_of_the_same_conduit_is_refused_while_one_is_in_progress() {
    let w = World::new();
    big_tree(&w.a, 1);
    w.add("guarded", "replicate", &[]);
    // The first run holds the conduit's lock while it is held at a pause.
    let (first, gate) = paused_at(&w, "exec:staged", &["sync", "guarded", "--json"]);
    let second = w.run(&["sync", "guarded", "--json"]);
    std::fs::remove_file(&gate).unwrap();
    let first = finish(first).expect(0);
    assert_eq!(second.code, 1, "{second:?}");
    assert!(
        second
            .stderr
            .contains("another run of `guarded` is in progress"),
        "{}",
        second.stderr
    );
    assert!(second.stdout.is_empty(), "{second:?}");
    assert_eq!(n(&first.json(), "failed"), 0);
    assert_eq!(mirror_view(&w.b), mirror_view(&w.a));
    // The refused run left no trace in the history.
    let history = w.run(&["history", "guarded", "--json"]).expect(0).json();
    assert_eq!(history.as_array().unwrap().len(), 1, "{history}");
    // The lock is free again.
    let r = w.sync("guarded", &[], 0);
    assert_eq!(n(&r, "copied"), 0, "{r}");
}

#[test]
fn an_index_written_by_a_newer_conduit_is_refused_not_rewritten() {
    let w = World::new();
    std::fs::create_dir_all(&w.home).unwrap();
    let index = w.home.join("index.sqlite");
    let conn = rusqlite::Connection::open(&index).unwrap();
    conn.pragma_update(None, "user_version", 9999).unwrap();
    drop(conn);
    for args in [&["list"][..], &["sync", "--all"], &["status", "--json"]] {
        let out = w.run(args).expect(1);
        assert!(
            out.stderr.contains("newer Conduit") && out.stderr.contains("upgrade conduit"),
            "{args:?}: {}",
            out.stderr
        );
    }
    let conn = rusqlite::Connection::open(&index).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 9999);
}
