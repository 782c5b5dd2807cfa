//! End to end through the binary: exact copies. A replicated tree matches
//! its source field by field (`lstat`: type, mode, mtime, size, link
//! target, and owner as root), folders and the roots included, after the
//! first run and after changes that touch only metadata: a chmod, a touch,
//! a symlink's own mtime, a retargeted symlink, a folder's mode. And a
//! root that keeps only whole seconds never makes a conduit loop.

use crate::support::*;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, symlink};
use std::path::Path;

/// Everything `lstat` says that a copy keeps, per path (`""`: the root).
/// A folder's mtime is kept as well, once the run has written inside it.
fn lstat_tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(path) = todo.pop() {
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if rel == ".conduit" {
            continue;
        }
        let m = std::fs::symlink_metadata(&path).unwrap();
        let what = if m.file_type().is_symlink() {
            format!("link -> {}", std::fs::read_link(&path).unwrap().display())
        } else if m.is_dir() {
            todo.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            format!("dir {:o}", m.mode() & 0o7777)
        } else {
            format!("file {:o} {} bytes", m.mode() & 0o7777, m.len())
        };
        let when = m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128;
        out.insert(rel, format!("{what} @{when} {}:{}", m.uid(), m.gid()));
    }
    out
}

/// Set the mtime of `rel` itself: a symlink's own, a folder's.
fn set_own_mtime(root: &Path, rel: &str, secs: i64) {
    let path = root.join(rel);
    let times = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: secs,
            tv_nsec: 0,
        },
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        &path,
        &times,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

/// A change made to the source between two runs.
type Change = dyn Fn(&Path);

fn assert_exact(w: &World, when: &str) {
    assert_eq!(lstat_tree(&w.b), lstat_tree(&w.a), "{when}");
}

#[test]
fn a_replica_matches_its_source_field_by_field_after_metadata_only_changes() {
    let w = World::new();
    write(&w.a, "public.txt", "everyone may read this");
    write(&w.a, "docs/secret.txt", "private");
    set_mode(&w.a, "docs/secret.txt", 0o600);
    write(&w.a, "docs/run.sh", "#!/bin/sh\n");
    set_mode(&w.a, "docs/run.sh", 0o750);
    write(&w.a, "empty.txt", "");
    std::fs::create_dir_all(w.a.join("empty/deeper")).unwrap();
    std::fs::create_dir(w.a.join("locked")).unwrap();
    write(&w.a, "locked/inside.txt", "in a read-only folder");
    symlink("docs/secret.txt", w.a.join("link")).unwrap();
    symlink("nowhere", w.a.join("docs/dangling")).unwrap();
    for (i, rel) in [
        "public.txt",
        "docs/secret.txt",
        "empty.txt",
        "locked/inside.txt",
    ]
    .into_iter()
    .enumerate()
    {
        set_mtime(&w.a, rel, 1_000_000_000 + i as i64 * 86_400);
    }
    set_own_mtime(&w.a, "link", 900_000_000);
    set_own_mtime(&w.a, "docs/dangling", 900_000_001);
    set_mode(&w.a, "locked", 0o555);
    if is_root() {
        std::os::unix::fs::lchown(w.a.join("docs/run.sh"), Some(1234), Some(4321)).unwrap();
        std::os::unix::fs::lchown(w.a.join("link"), Some(1234), Some(4321)).unwrap();
        std::os::unix::fs::chown(w.a.join("empty"), Some(1234), Some(4321)).unwrap();
    } else {
        eprintln!("SKIPPED (part): owners other than one's own need root");
    }
    for dir in ["empty/deeper", "empty", "docs", ""] {
        set_own_mtime(&w.a, dir, 800_000_000);
    }
    w.add("m", "replicate", &[]);
    w.sync("m", &[], 0);
    assert_eq!(
        mtime(&w.a, ""),
        800_000_000,
        "making .conduit left the root's mtime"
    );
    assert_exact(&w, "after the first run");

    let steps: [(&str, &Change); 6] = [
        ("a mode-only change", &|a| set_mode(a, "public.txt", 0o600)),
        ("an mtime-only change", &|a| {
            set_mtime(a, "docs/secret.txt", 1_500_000_000)
        }),
        ("a symlink's own mtime", &|a| {
            set_own_mtime(a, "link", 1_600_000_000)
        }),
        ("a retargeted symlink", &|a| {
            std::fs::remove_file(a.join("link")).unwrap();
            symlink("public.txt", a.join("link")).unwrap();
            set_own_mtime(a, "link", 1_700_000_000);
        }),
        ("a folder's mode", &|a| set_mode(a, "docs", 0o700)),
        ("a new file in an old folder", &|a| {
            let before = mtime(a, "docs");
            write(a, "docs/new.txt", "new");
            set_own_mtime(a, "docs", before + 1);
        }),
    ];
    for (what, change) in steps {
        change(&w.a);
        let r = w.sync("m", &[], 0);
        assert_eq!(n(&r, "failed") + n(&r, "skipped"), 0, "{what}: {r}");
        assert_exact(&w, what);
        let again = w.sync("m", &[], 0);
        for key in ["copied", "updated", "deleted", "renamed"] {
            assert_eq!(n(&again, key), 0, "{what}: nothing left to do: {again}");
        }
    }
    // A mode-only change moves no content.
    set_mode(&w.a, "docs/run.sh", 0o700);
    let r = w.sync("m", &[], 0);
    assert_eq!(
        (n(&r, "updated"), n(&r, "copied"), n(&r, "bytes")),
        (1, 0, 0),
        "{r}"
    );
    assert!(
        trash(&w.b).iter().all(|t| !t.ends_with("run.sh")),
        "nothing trashed"
    );
    assert_exact(&w, "a mode-only change of a file owned by another");
    let text = w.run(&["sync", "m"]).expect(0);
    assert!(text.stdout.contains("in sync"), "{}", text.stdout);
    for root in [&w.a, &w.b] {
        set_mode(root, "locked", 0o755);
    }
}

#[test]
fn as_root_keep_owner_no_makes_copies_root_owned_without_setuid_and_never_loops() {
    if !is_root() {
        eprintln!("SKIPPED: owners other than one's own need root");
        return;
    }
    let w = World::new();
    write(&w.a, "tool", "#!/bin/sh\n");
    write(&w.a, "plain.txt", "plain");
    for rel in ["tool", "plain.txt"] {
        std::os::unix::fs::chown(w.a.join(rel), Some(1234), Some(4321)).unwrap();
    }
    set_mode(&w.a, "tool", 0o4755);
    w.add("m", "replicate", &["--set", "keep-owner=no"]);
    w.sync("m", &[], 0);
    let owner_mode = |root: &Path, rel: &str| {
        let m = std::fs::symlink_metadata(root.join(rel)).unwrap();
        (m.uid(), m.gid(), m.mode() & 0o7777)
    };
    // A copy that does not keep its owner never keeps setuid: a root-owned
    // setuid copy of another user's program would grant root.
    assert_eq!(owner_mode(&w.b, "tool"), (0, 0, 0o755));
    assert_eq!(owner_mode(&w.b, "plain.txt"), (0, 0, 0o644));
    let again = w.sync("m", &[], 0);
    for key in ["copied", "updated", "deleted"] {
        assert_eq!(
            n(&again, key),
            0,
            "the stripped bits are no change: {again}"
        );
    }
    // Back to the default: owner and setuid come back with the next run.
    w.run(&["set", "m", "keep-owner=yes"]).expect(0);
    let r = w.sync("m", &[], 0);
    assert_eq!(n(&r, "updated"), 1, "{r}");
    assert_eq!(owner_mode(&w.b, "tool"), (1234, 4321, 0o4755));
    w.run(&["set", "m", "keep-owner=maybe"]).expect(2);
}

/// A destination that keeps whole seconds only (ext4 with 128-byte inodes,
/// as old filesystems and some NAS formats are) is compared at that
/// resolution: its rounding is never taken for a change, real changes
/// still reach it.
#[test]
fn a_root_that_keeps_whole_seconds_never_loops() {
    let Some(coarse) = SecondsImage::mount() else {
        eprintln!("SKIPPED: a loop-mounted filesystem needs root, mkfs.ext4 and a loop device");
        return;
    };
    let w = World::new();
    for (i, rel) in ["a.txt", "b/c.txt", "odd.txt"].into_iter().enumerate() {
        write(&w.a, rel, &format!("content {i}"));
    }
    let f = std::fs::File::options()
        .write(true)
        .open(w.a.join("odd.txt"))
        .unwrap();
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::new(1_600_000_001, 123_456_789))
        .unwrap();
    w.run(&[
        "add",
        "coarse",
        w.a.to_str().unwrap(),
        coarse.path().to_str().unwrap(),
        "--policy",
        "replicate",
    ])
    .expect(0);
    let first = w.sync("coarse", &[], 0);
    assert_eq!(n(&first, "failed"), 0, "{first}");
    assert_eq!(read(coarse.path(), "b/c.txt").as_deref(), Some("content 1"));
    let kept = std::fs::metadata(coarse.path().join("odd.txt")).unwrap();
    assert_eq!((kept.mtime(), kept.mtime_nsec()), (1_600_000_001, 0));
    for _ in 0..2 {
        let again = w.sync("coarse", &[], 0);
        for key in ["copied", "updated", "deleted"] {
            assert_eq!(n(&again, key), 0, "in sync after one run: {again}");
        }
    }
    // A real change still goes through.
    set_mode(&w.a, "a.txt", 0o600);
    set_mtime(&w.a, "a.txt", 1_700_000_000);
    let r = w.sync("coarse", &[], 0);
    assert_eq!(n(&r, "updated"), 1, "{r}");
    assert_eq!(
        (
            mtime(coarse.path(), "a.txt"),
            mode(coarse.path(), "a.txt") & 0o777
        ),
        (1_700_000_000, 0o600)
    );
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A small filesystem with one-second mtimes on a loop device, unmounted
/// when dropped.
struct SecondsImage {
    _dir: tempfile::TempDir,
    mount: std::path::PathBuf,
}

impl SecondsImage {
    fn mount() -> Option<SecondsImage> {
        use std::process::Command;
        if !is_root() {
            return None;
        }
        let dir = tempfile::tempdir().ok()?;
        let image = dir.path().join("seconds.img");
        let mount = dir.path().join("mnt");
        std::fs::create_dir(&mount).ok()?;
        std::fs::File::create(&image).ok()?.set_len(16 << 20).ok()?;
        let ok = |c: &mut Command| c.output().is_ok_and(|o| o.status.success());
        let made = ok(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-I", "128"])
            .arg(&image));
        if !made
            || !ok(Command::new("mount")
                .args(["-o", "loop"])
                .arg(&image)
                .arg(&mount))
        {
            return None;
        }
        Some(SecondsImage { _dir: dir, mount })
    }

    fn path(&self) -> &Path {
        &self.mount
    }
}

impl Drop for SecondsImage {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.mount)
            .status();
    }
}
