//! End to end through the binary: what an attacker of rsync, Syncthing or
//! Unison would try against Conduit, one test per way in, each checked on
//! the disk: aliased roots (bind mounts, copies, a home inside a root),
//! symlinks on the way to a write (standing, or swapped in mid-run),
//! privileges and privacy, FIFOs where files were expected, unreadable
//! sources, names and paths at the length limits, timestamps at the ends of
//! the range, and crashes right after offload's evictions.
//!
//! Tests that need root (bind mounts, chown) say SKIPPED and pass without it.

use crate::support::*;

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A bind mount of `from` at `at`, unmounted when dropped (declare it after
/// the world, so it goes first and no cleanup walks into the mount).
struct BindMount(PathBuf);

impl BindMount {
    fn new(from: &Path, at: &Path) -> Option<BindMount> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .arg("--bind")
            .arg(from)
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("SKIPPED: bind mounts are not allowed here");
            return None;
        }
        Some(BindMount(at.to_path_buf()))
    }
}

impl Drop for BindMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// An outside folder: the place an escaping write would land.
fn outside(w: &World) -> PathBuf {
    let dir = w.tmp.path().join("outside");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The report says the run halted, with all of `words` in the reason.
fn assert_halted(report: &serde_json::Value, words: &[&str]) {
    let reason = report["halted"].as_str().unwrap_or_default();
    assert!(
        words.iter().all(|w| reason.contains(w)),
        "halted with {words:?}: {report}"
    );
}

/// Run `args`; a run that has not ended after `secs` is killed and fails
/// the test (a FIFO must never hang a command).
fn within(w: &World, secs: u64, args: &[&str]) -> Run {
    let mut child = w
        .cmd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("`conduit {}` hung", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    finish(child)
}

fn mkfifo(path: &Path) {
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        path,
        rustix::fs::Mode::from_raw_mode(0o644),
    )
    .unwrap();
}

fn files_in(dir: &Path) -> Vec<String> {
    tree(dir).into_keys().collect()
}

// ---- aliased roots --------------------------------------------------------

#[test]
fn one_folder_as_both_roots_through_a_bind_mount_is_refused() {
    let w = World::new();
    write(&w.a, "only-copy.txt", "precious");
    let Some(_mount) = BindMount::new(&w.a, &w.b) else {
        return;
    };
    let before = snapshot(&w.a);
    let r = w
        .run(&[
            "add",
            "shelf",
            w.a.to_str().unwrap(),
            w.b.to_str().unwrap(),
            "--policy",
            "archive",
        ])
        .expect(2);
    assert!(r.stderr.contains("same folder"), "{}", r.stderr);
    assert_eq!(snapshot(&w.a), before, "a refused add writes nothing");
    assert_eq!(read(&w.a, "only-copy.txt").as_deref(), Some("precious"));
}

#[test]
fn a_copy_of_the_source_with_its_bookkeeping_folder_is_refused_as_the_same_root() {
    let w = World::new();
    write(&w.a, "f.txt", "x");
    w.add("first", "replicate", &[]);
    w.sync("first", &[], 0);
    // `cp -a a c` copies the marker too.
    let c = w.tmp.path().join("c");
    assert!(
        Command::new("cp")
            .arg("-a")
            .arg(&w.a)
            .arg(&c)
            .status()
            .unwrap()
            .success()
    );
    let r = w
        .run(&[
            "add",
            "second",
            w.a.to_str().unwrap(),
            c.to_str().unwrap(),
            "--policy",
            "replicate",
        ])
        .expect(2);
    assert!(
        r.stderr.contains("same folder") && r.stderr.contains(".conduit"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_destination_inside_the_source_through_a_bind_mount_halts_before_anything_changes() {
    let w = World::new();
    write(&w.a, "docs/a.txt", "a");
    write(&w.a, "docs/b.txt", "b");
    w.add("mirror", "replicate", &[]);
    w.sync("mirror", &[], 0);
    // The destination shows up inside the source.
    let Some(_mount) = BindMount::new(&w.b, &w.a.join("docs/backup")) else {
        return;
    };
    let (before_a, before_b) = (snapshot(&w.a), snapshot(&w.b));
    let r = w.sync("mirror", &[], 4);
    assert_halted(&r, &["roots overlap", "docs/backup"]);
    assert_eq!((snapshot(&w.a), snapshot(&w.b)), (before_a, before_b));
}

#[test]
fn a_root_bind_mounted_inside_itself_halts_instead_of_walking_forever() {
    let w = World::new();
    write(&w.a, "f.txt", "x");
    w.add("mirror", "replicate", &[]);
    let Some(_mount) = BindMount::new(&w.a, &w.a.join("loop")) else {
        return;
    };
    let r = within(&w, 30, &["sync", "mirror", "--json"]).expect(4);
    assert_halted(&r.json(), &["\"loop\""]);
}

#[test]
fn a_home_inside_a_root_is_refused_and_one_mounted_into_a_root_halts_the_sync() {
    let w = World::new();
    write(&w.a, "f.txt", "x");
    let home = w.b.join("home");
    let r: Run = Command::new(env!("CARGO_BIN_EXE_conduit"))
        .arg("--home")
        .arg(&home)
        .args([
            "add",
            "m",
            w.a.to_str().unwrap(),
            w.b.to_str().unwrap(),
            "--policy",
            "replicate",
        ])
        .output()
        .unwrap()
        .into();
    let r = r.expect(2);
    assert!(r.stderr.contains("Conduit home"), "{}", r.stderr);
    std::fs::remove_dir_all(&home).unwrap();

    w.add("m", "replicate", &[]);
    w.sync("m", &[], 0);
    let Some(_mount) = BindMount::new(&w.home, &w.b.join("home-view")) else {
        return;
    };
    let r = w.sync("m", &[], 4);
    assert_halted(&r, &["Conduit home"]);
    assert!(
        w.home.join("index.sqlite").exists(),
        "the index is where it was"
    );
    assert!(
        trash(&w.b).is_empty(),
        "nothing went to the trash: {:?}",
        trash(&w.b)
    );
}

#[test]
fn a_user_file_named_like_a_temporary_is_synced_like_any_other() {
    let w = World::new();
    for name in [
        "notes.conduit-tmp-draft.txt",
        ".report.pdf.conduit-tmp-123-4",
        "dir.conduit-tmp-x/inner.txt",
    ] {
        write(&w.a, name, name);
    }
    w.add("m", "replicate", &[]);
    let r = w.sync("m", &[], 0);
    assert_eq!(n(&r, "failed"), 0, "{r}");
    assert_eq!(tree(&w.b), tree(&w.a));
    assert_eq!(
        read(&w.a, "notes.conduit-tmp-draft.txt").as_deref(),
        Some("notes.conduit-tmp-draft.txt")
    );
    let r = w.sync("m", &[], 0);
    assert_eq!((n(&r, "copied"), n(&r, "deleted")), (0, 0), "{r}");
}

// ---- writes outside the roots ----------------------------------------------

#[test]
fn archive_never_writes_through_a_destination_folder_that_is_a_symlink() {
    let w = World::new();
    let out = outside(&w);
    write(&w.a, "photos/x.jpg", "the only copy");
    symlink(&out, w.b.join("photos")).unwrap();
    w.add("shelf", "archive", &[]);
    // Standing there when the run plans: archived beside it.
    let r = w.sync("shelf", &[], 0);
    assert!(files_in(&out).is_empty(), "nothing written outside");
    assert_eq!(n(&r, "moved"), 1, "{r}");
    assert_eq!(
        read(&w.b, "photos-2/x.jpg").as_deref(),
        Some("the only copy")
    );
    // Swapped in after the plan: the path fails, the only copy stays.
    write(&w.a, "albums/y.jpg", "another only copy");
    let (child, gate) = paused_at(&w, "sync:planned", &["sync", "shelf", "--json"]);
    symlink(&out, w.b.join("albums")).unwrap();
    std::fs::remove_file(gate).unwrap();
    let r = finish(child).expect(3).json();
    assert!(
        files_in(&out).is_empty(),
        "nothing written outside: {:?}",
        files_in(&out)
    );
    assert_eq!(
        read(&w.a, "albums/y.jpg").as_deref(),
        Some("another only copy")
    );
    assert_eq!(n(&r, "moved"), 0, "{r}");
    assert!(r["problems"].to_string().contains("symlink"), "{r}");
}

#[test]
fn a_destination_folder_swapped_for_a_symlink_mid_run_is_never_written_through() {
    let w = World::new();
    let out = outside(&w);
    write(&w.a, "sub/old.txt", "old");
    w.add("m", "replicate", &[]);
    w.sync("m", &[], 0);
    for i in 0..5 {
        write(&w.a, &format!("sub/new{i}.txt"), "new");
    }
    let (child, gate) = paused_at(&w, "sync:planned", &["sync", "m", "--json"]);
    std::fs::rename(w.b.join("sub"), w.tmp.path().join("sub-moved")).unwrap();
    symlink(&out, w.b.join("sub")).unwrap();
    std::fs::remove_file(gate).unwrap();
    let run = finish(child).expect(3);
    assert!(
        files_in(&out).is_empty(),
        "nothing written outside: {:?}",
        files_in(&out)
    );
    assert_eq!(n(&run.json(), "copied"), 0, "{}", run.stdout);
}

#[test]
fn a_symlink_swapped_in_between_staging_and_commit_is_not_written_through() {
    let w = World::new();
    let out = outside(&w);
    write(&w.a, "sub/old.txt", "old");
    w.add("m", "replicate", &[]);
    w.sync("m", &[], 0);
    write(&w.a, "sub/new.txt", "new");
    let (child, gate) = paused_at(&w, "exec:staged", &["sync", "m", "--json"]);
    std::fs::rename(w.b.join("sub"), w.tmp.path().join("sub-moved")).unwrap();
    symlink(&out, w.b.join("sub")).unwrap();
    std::fs::remove_file(gate).unwrap();
    finish(child).expect(3);
    assert!(files_in(&out).is_empty(), "{:?}", files_in(&out));
}

#[test]
fn restore_never_follows_a_symlinked_parent() {
    let w = World::new();
    write(&w.a, "docs/x.txt", "v1");
    w.add("m", "replicate", &[]);
    w.sync("m", &[], 0);
    write(&w.a, "docs/x.txt", "v2");
    w.sync("m", &[], 0);
    // v1 is in the destination's trash; now docs/ points elsewhere.
    let out = outside(&w);
    write(&out, "x.txt", "someone else's file");
    std::fs::rename(w.b.join("docs"), w.tmp.path().join("docs-moved")).unwrap();
    symlink(&out, w.b.join("docs")).unwrap();
    let r = w.run(&["restore", "m", "docs/x.txt"]);
    assert_ne!(r.code, 0, "{r:?}");
    assert_eq!(read(&out, "x.txt").as_deref(), Some("someone else's file"));
    assert_eq!(files_in(&out), vec!["x.txt"]);
}

#[test]
fn a_bookkeeping_folder_that_is_a_symlink_is_refused() {
    let w = World::new();
    let out = outside(&w);
    symlink(&out, w.b.join(".conduit")).unwrap();
    let r = w
        .run(&[
            "add",
            "m",
            w.a.to_str().unwrap(),
            w.b.to_str().unwrap(),
            "--policy",
            "replicate",
        ])
        .expect(2);
    assert!(r.stderr.contains("symlink"), "{}", r.stderr);
    assert!(files_in(&out).is_empty());

    // Swapped in after `add`: the run halts, nothing lands outside.
    std::fs::remove_file(w.b.join(".conduit")).unwrap();
    write(&w.a, "f.txt", "x");
    w.add("m", "replicate", &[]);
    w.sync("m", &[], 0);
    std::fs::rename(w.b.join(".conduit"), out.join("kept")).unwrap();
    symlink(out.join("kept"), w.b.join(".conduit")).unwrap();
    std::fs::remove_file(w.a.join("f.txt")).unwrap();
    let before = snapshot(&out);
    let r = w.sync("m", &[], 4);
    assert_halted(&r, &["root marker unreadable"]);
    assert_eq!(snapshot(&out), before, "nothing trashed outside");
}

// ---- privilege and privacy ----------------------------------------------

#[test]
fn setuid_and_setgid_are_kept_only_where_the_owner_is() {
    // As root the copy keeps the original's owner (as `rsync -a` does), so
    // its setuid and setgid grant nothing new and are kept too.
    let w = World::new();
    write(&w.a, "mine", "#!/bin/sh\n");
    set_mode(&w.a, "mine", 0o6755);
    if is_root() {
        write(&w.a, "theirs", "#!/bin/sh\n");
        std::os::unix::fs::chown(w.a.join("theirs"), Some(1234), Some(1234)).unwrap();
        set_mode(&w.a, "theirs", 0o6755);
        std::fs::create_dir(w.a.join("shared")).unwrap();
        std::os::unix::fs::chown(w.a.join("shared"), Some(1234), Some(1234)).unwrap();
        set_mode(&w.a, "shared", 0o2775);
    } else {
        eprintln!("SKIPPED (part): files of another owner need root");
    }
    w.add("m", "replicate", &[]);
    w.sync("m", &[], 0);
    assert_eq!(mode(&w.b, "mine"), 0o6755, "same owner: kept");
    if is_root() {
        use std::os::unix::fs::MetadataExt;
        for (name, want) in [("theirs", 0o6755), ("shared", 0o2775)] {
            let copy = std::fs::symlink_metadata(w.b.join(name)).unwrap();
            assert_eq!((copy.uid(), copy.gid()), (1234, 1234), "{name}: owner kept");
            assert_eq!(mode(&w.b, name), want, "{name}: same owner, bits kept");
        }
    }
}

#[test]
fn staged_copies_are_private_while_written_and_conduits_own_folders_are_private() {
    let w = World::new();
    write(&w.a, "secret.txt", "private");
    set_mode(&w.a, "secret.txt", 0o600);
    w.add("m", "replicate", &[]);
    let (child, gate) = paused_at(&w, "stage:written", &["sync", "m", "--json"]);
    let staged = temp_files(&w.b);
    assert_eq!(staged.len(), 1, "{staged:?}");
    let path = w.b.join(".conduit/tmp").join(&staged[0]);
    assert_eq!(
        std::fs::metadata(&path).unwrap().mode() & 0o777,
        0o600,
        "a copy is private until its content is complete"
    );
    std::fs::remove_file(gate).unwrap();
    finish(child).expect(0);
    assert_eq!(mode(&w.b, "secret.txt"), 0o600);
    write(&w.a, "public.txt", "public");
    set_mode(&w.a, "public.txt", 0o644);
    w.sync("m", &[], 0);
    assert_eq!(mode(&w.b, "public.txt"), 0o644);
    std::fs::remove_file(w.a.join("public.txt")).unwrap();
    w.sync("m", &[], 0);
    let private = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
    assert_eq!(private(&w.home), 0o700, "the home");
    assert_eq!(private(&w.home.join("index.sqlite")), 0o600, "the index");
    for root in [&w.a, &w.b] {
        assert_eq!(private(&root.join(".conduit")), 0o700, "{}", root.display());
    }
    assert_eq!(private(&w.b.join(".conduit/trash")), 0o700, "the trash");
}

// ---- stuck, hung or silently wrong -----------------------------------------

#[test]
fn offload_with_an_identical_copy_already_in_the_destination_evicts_it() {
    let w = World::new();
    for i in 0..4 {
        write(&w.a, &format!("f{i}.bin"), &format!("content {i}"));
        write(&w.b, &format!("f{i}.bin"), &format!("content {i}"));
    }
    w.add_cache("cache", &["--set", "max-local=1"]);
    let r = w.sync("cache", &[], 0);
    assert_eq!(n(&r, "evicted"), 4, "{r}");
    for i in 0..4 {
        let rel = format!("f{i}.bin");
        assert!(read(&w.a, &rel).is_none(), "{rel} evicted");
        assert_eq!(read(&w.b, &rel), Some(format!("content {i}")));
    }
    w.sync("cache", &[], 0);
}

#[test]
fn archive_runs_again_after_emptying_its_source_and_moves_symlinks() {
    let w = World::new();
    write(&w.a, "2020/a.txt", "a");
    symlink("a.txt", w.a.join("2020/link")).unwrap();
    symlink("/nowhere/at/all", w.a.join("dangling")).unwrap();
    w.add("shelf", "archive", &[]);
    let r = w.sync("shelf", &[], 0);
    assert_eq!(n(&r, "moved"), 3, "{r}");
    assert_eq!(
        std::fs::read_link(w.b.join("2020/link")).unwrap(),
        Path::new("a.txt")
    );
    assert_eq!(
        std::fs::read_link(w.b.join("dangling")).unwrap(),
        Path::new("/nowhere/at/all")
    );
    assert!(files_in(&w.a).iter().all(|p| p == "2020") || files_in(&w.a).is_empty());
    // Emptied by design: the next runs go on.
    let r = w.sync("shelf", &[], 0);
    assert_eq!(r["halted"], serde_json::Value::Null, "{r}");
    write(&w.a, "later.txt", "later");
    let r = w.sync("shelf", &[], 0);
    assert_eq!(n(&r, "moved"), 1, "{r}");
    let v = w.run(&["verify", "shelf", "--json"]).expect(0).json();
    assert_eq!(v["archived"], 4, "{v}");
    assert!(v["corrupted"].as_array().unwrap().is_empty(), "{v}");
}

#[test]
fn fifos_where_files_were_expected_never_hang_a_command() {
    let w = World::new();
    write(&w.a, "f.txt", "x");
    write(&w.a, "g.txt", "y");
    for i in 0..6 {
        write(&w.a, &format!("other{i}.txt"), "z");
    }
    w.add("m", "replicate", &[]);
    w.sync("m", &[], 0);

    // A FIFO in place of an indexed file: verify reports it, promptly.
    std::fs::remove_file(w.b.join("f.txt")).unwrap();
    mkfifo(&w.b.join("f.txt"));
    let r = within(&w, 20, &["verify", "m", "--json"]);
    assert!(r.stdout.contains("f.txt"), "{r:?}");
    // Restore reads both sides of the path.
    std::fs::remove_file(w.a.join("g.txt")).unwrap();
    w.sync("m", &[], 0);
    std::fs::remove_file(w.b.join("f.txt")).unwrap();
    mkfifo(&w.a.join("g.txt"));
    within(&w, 20, &["restore", "m", "g.txt"]);
    std::fs::remove_file(w.a.join("g.txt")).unwrap();

    // An ignore file that is a FIFO: a clear error.
    mkfifo(&w.a.join(".conduitignore"));
    let r = within(&w, 20, &["sync", "m", "--json"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains(".conduitignore"), "{}", r.stderr);
    std::fs::remove_file(w.a.join(".conduitignore")).unwrap();

    // The marker: halted, nothing changed.
    let marker = w.b.join(".conduit/root-id");
    std::fs::remove_file(&marker).unwrap();
    mkfifo(&marker);
    let r = within(&w, 20, &["sync", "m", "--json"]).expect(4);
    assert_halted(&r.json(), &["root marker"]);
}

#[test]
fn a_source_that_cannot_be_read_makes_the_run_exit_3() {
    let w = World::new();
    write(&w.a, "ok.txt", "fine");
    write(&w.a, "locked/secret.txt", "no");
    write(&w.a, "sealed.txt", "no");
    set_mode(&w.a, "locked", 0o000);
    set_mode(&w.a, "sealed.txt", 0o000);
    let mut add = w.cmd();
    add.args([
        "add",
        "m",
        w.a.to_str().unwrap(),
        w.b.to_str().unwrap(),
        "--policy",
        "replicate",
    ]);
    let mut sync = w.cmd();
    sync.args(["sync", "m", "--json"]);
    if is_root() {
        // Root reads everything: run Conduit as an unprivileged user.
        let _ = Command::new("chown")
            .arg("-R")
            .arg("65534:65534")
            .arg(w.tmp.path())
            .status();
        let _ = std::fs::set_permissions(w.tmp.path(), std::fs::Permissions::from_mode(0o755));
        for cmd in [&mut add, &mut sync] {
            let program = cmd.get_program().to_owned();
            let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
            let mut wrapped = Command::new("setpriv");
            wrapped
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(program)
                .args(args)
                .env_remove("CONDUIT_HOME");
            *cmd = wrapped;
        }
    }
    let added: Run = add.output().unwrap().into();
    if added.code != 0 {
        eprintln!(
            "SKIPPED: cannot run as an unprivileged user: {}",
            added.stderr
        );
        return;
    }
    let r: Run = sync.output().unwrap().into();
    let r = r.expect(3);
    let report = r.json();
    let errors = report["scan_errors"].to_string();
    assert!(
        errors.contains("locked") && errors.contains("sealed.txt"),
        "{report}"
    );
    assert_eq!(read(&w.b, "ok.txt").as_deref(), Some("fine"));
}

// ---- names, paths and times at their limits ----------------------------------

#[test]
fn names_at_the_length_limit_sync_and_keep_both_in_a_conflict() {
    let w = World::new();
    let long = "n".repeat(251) + ".txt";
    let wide = "日".repeat(85);
    write(&w.a, &long, "a");
    write(&w.a, &format!("d/{wide}"), "wide");
    w.add("two", "synchronize", &[]);
    let r = w.sync("two", &[], 0);
    assert_eq!(n(&r, "failed"), 0, "{r}");
    assert_eq!(tree(&w.b), tree(&w.a));
    write(&w.a, &long, "edited on the source");
    write(&w.b, &long, "edited on the destination");
    let r = w.sync("two", &[], 0);
    assert_eq!(n(&r, "failed"), 0, "{r}");
    let names: Vec<String> = files_in(&w.a);
    let copies: Vec<&String> = names.iter().filter(|p| p.contains(".conflict-")).collect();
    assert_eq!(copies.len(), 1, "{names:?}");
    assert!(copies[0].len() <= 255, "{}", copies[0].len());
    let kept: Vec<Option<String>> = [&long, copies[0]].iter().map(|p| read(&w.a, p)).collect();
    assert!(
        kept.contains(&Some("edited on the source".into())),
        "{kept:?}"
    );
    assert!(
        kept.contains(&Some("edited on the destination".into())),
        "{kept:?}"
    );
    assert_eq!(tree(&w.b), tree(&w.a));
}

#[test]
fn a_path_longer_than_path_max_syncs_and_its_deletion_goes_to_the_trash() {
    let w = World::new();
    let deep: Vec<String> = (0..20)
        .map(|i| format!("{i:02}{}", "d".repeat(220)))
        .collect();
    let rel = format!("{}/leaf.txt", deep.join("/"));
    assert!(rel.len() > 4096);
    // Path-based calls cannot reach it: build it relative to open folders.
    use rustix::fs::{AtFlags, Mode, OFlags};
    let mut fd = rustix::fs::open(&w.a, OFlags::DIRECTORY, Mode::empty()).unwrap();
    for part in &deep {
        rustix::fs::mkdirat(&fd, part.as_str(), Mode::from_raw_mode(0o755)).unwrap();
        fd = rustix::fs::openat(&fd, part.as_str(), OFlags::DIRECTORY, Mode::empty()).unwrap();
    }
    let file = rustix::fs::openat(
        &fd,
        "leaf.txt",
        OFlags::WRONLY | OFlags::CREATE,
        Mode::from_raw_mode(0o644),
    )
    .unwrap();
    rustix::io::write(&file, b"deep").unwrap();
    drop(file);

    write(&w.a, "top.txt", "keeps the source from looking emptied");
    w.add("m", "replicate", &[]);
    let r = w.sync("m", &[], 0);
    assert_eq!((n(&r, "failed"), n(&r, "verified")), (0, 2), "{r}");
    let r = w.sync("m", &[], 0);
    assert_eq!(n(&r, "copied"), 0, "{r}");
    let v = w.run(&["verify", "m", "--json"]).expect(0).json();
    assert_eq!(v["verified"], 4, "{v}");
    rustix::fs::unlinkat(&fd, "leaf.txt", AtFlags::empty()).unwrap();
    let r = w.sync("m", &[], 0);
    assert_eq!((n(&r, "deleted"), n(&r, "failed")), (1, 0), "{r}");
    let r = w.sync("m", &[], 0);
    assert_eq!((n(&r, "copied"), n(&r, "deleted")), (0, 0), "{r}");
}

#[test]
fn timestamps_at_the_ends_of_the_range_sync_once_and_stay_in_sync() {
    let w = World::new();
    // Seconds since the epoch; the filesystem may hold the source at its own
    // bounds (ext4: 1901 to 2446), and Conduit keeps what 64-bit nanoseconds
    // reach (1677 to 2262).
    let rows: &[(&str, i64)] = &[
        ("epoch.txt", 0),
        ("before-1970.txt", -1_000_000_000),
        ("year-2200.txt", 7_258_118_400),
        ("year-2440.txt", 14_826_182_400),
        ("year-2500.txt", 16_725_225_600),
        ("year-1600.txt", -11_676_096_000),
    ];
    for (name, secs) in rows {
        write(&w.a, name, name);
        let ts = rustix::fs::Timespec {
            tv_sec: *secs,
            tv_nsec: 0,
        };
        let times = rustix::fs::Timestamps {
            last_access: ts,
            last_modification: ts,
        };
        rustix::fs::utimensat(
            rustix::fs::CWD,
            w.a.join(name),
            &times,
            rustix::fs::AtFlags::empty(),
        )
        .unwrap();
    }
    w.add("m", "replicate", &[]);
    let r = w.sync("m", &[], 0);
    assert_eq!((n(&r, "copied"), n(&r, "failed")), (6, 0), "{r}");
    let (low, high) = (i64::MIN / 1_000_000_000 - 1, i64::MAX / 1_000_000_000);
    for (name, _) in rows {
        let source = mtime(&w.a, name);
        let got = mtime(&w.b, name);
        assert_eq!(got, source.clamp(low, high), "{name}: source {source}");
    }
    let r = w.sync("m", &[], 0);
    assert_eq!((n(&r, "copied"), n(&r, "deleted")), (0, 0), "{r}");
}

// ---- offload's only copies ---------------------------------------------------

/// Ten files copied to the store, none evicted yet; eviction armed.
fn cache_ready() -> World {
    let w = World::new();
    for i in 0..10 {
        write(&w.a, &format!("dir/f{i}.bin"), &format!("content {i}"));
    }
    w.add_cache("cache", &[]);
    w.sync("cache", &[], 0);
    w.run(&["set", "cache", "max-local=1"]).expect(0);
    w
}

fn store_holds_everything(w: &World) {
    for i in 0..10 {
        let rel = format!("dir/f{i}.bin");
        let here = read(&w.a, &rel).or_else(|| read(&w.b, &rel));
        assert_eq!(here, Some(format!("content {i}")), "{rel} is in a root");
        assert!(
            read(&w.b, &rel).is_some(),
            "{rel}'s store copy is not in the trash"
        );
    }
}

#[test]
fn offload_killed_right_after_an_eviction_keeps_the_only_copy() {
    for point in [
        "exec:evictions-recorded",
        "exec:evicted",
        "exec:evicted@5",
        "exec:flushed@2",
    ] {
        let w = cache_ready();
        let killed = with_hook(&w, &format!("{point}:kill"), &["sync", "cache", "--json"])
            .output()
            .unwrap();
        assert_eq!(killed.status.code(), None, "{point}: killed");
        let r = w.sync("cache", &[], 0);
        assert_eq!(n(&r, "deleted"), 0, "{point}: {r}");
        store_holds_everything(&w);
        assert!(trash(&w.b).is_empty(), "{point}: {:?}", trash(&w.b));
        let status = w
            .run(&["status", "cache", "--offloaded", "--json"])
            .expect(0)
            .json();
        let listed = status["offloaded_files"].as_array().unwrap().len();
        let local = files_in(&w.a)
            .iter()
            .filter(|p| p.ends_with(".bin"))
            .count();
        assert_eq!(
            listed + local,
            10,
            "{point}: every file is local or offloaded: {status}"
        );
        w.run(&["hydrate", "cache", "dir"]).expect(0);
        for i in 0..10 {
            let rel = format!("dir/f{i}.bin");
            assert_eq!(
                read(&w.a, &rel),
                Some(format!("content {i}")),
                "{point}: {rel}"
            );
        }
    }
}

#[test]
fn offload_keeps_offloaded_files_when_their_source_folder_becomes_a_symlink() {
    let w = cache_ready();
    w.sync("cache", &[], 0);
    assert!(
        files_in(&w.a).iter().all(|p| !p.ends_with(".bin")),
        "all evicted"
    );
    std::fs::remove_dir_all(w.a.join("dir")).unwrap();
    symlink("/tmp", w.a.join("dir")).unwrap();
    let r = w.sync("cache", &[], 3);
    assert_eq!(n(&r, "deleted"), 0, "{r}");
    assert!(n(&r, "unresolved") >= 1, "{r}");
    for i in 0..10 {
        assert_eq!(
            read(&w.b, &format!("dir/f{i}.bin")),
            Some(format!("content {i}"))
        );
    }
    assert!(trash(&w.b).is_empty(), "{:?}", trash(&w.b));
    let status = w
        .run(&["status", "cache", "--offloaded", "--json"])
        .expect(0)
        .json();
    assert_eq!(
        status["offloaded_files"].as_array().unwrap().len(),
        10,
        "{status}"
    );
}
