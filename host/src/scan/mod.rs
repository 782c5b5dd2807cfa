//! The scanner: a parallel walk of one root that records every path's kind,
//! size, mtime, mode, inode and BLAKE3, rehashing only what changed since the
//! index last saw it.
//!
//! The walk goes through the root's [`LocalRoot::folder`] handles: each
//! folder is opened beneath the root without following symlinks, and its
//! entries are looked at by name relative to it, so a folder swapped for a
//! symlink mid-walk is never entered.
//!
//! What it reports instead of recording: paths it could not read (I/O
//! errors, which block deletes for the run, see the safety guards), names
//! that are not valid UTF-8 (the contract speaks UTF-8 paths; such names are
//! listed loudly, never dropped silently), FIFOs, sockets and device files
//! (listed the same way: reading a FIFO would block forever), and folders
//! that are another root of the conduit or the Conduit home seen through a
//! bind mount (the run halts: it would sync a folder into itself).

mod hash;
mod rules;

use std::collections::HashMap;
use std::ffi::CStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

pub use hash::{hash_bytes, hash_file};
pub use rules::Rules;

use crate::index::Record;
use crate::location::{Folder, LocalRoot, identity_of, record_of};
use conduit_contract::Kind;

/// What a scan of one root found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Every recorded path (relative, `/`-separated), the root itself excluded.
    pub records: HashMap<String, Record>,
    /// Paths that could not be read, with the reason.
    pub errors: Vec<(String, String)>,
    /// Names that are not valid UTF-8 (shown lossily), not synced.
    pub bad_names: Vec<String>,
    /// FIFOs, sockets and device files, not synced.
    pub special: Vec<String>,
    /// Folders that are a [`Foreign`] folder seen inside this root: (path,
    /// what it is). Not entered.
    pub overlaps: Vec<(String, String)>,
    /// Files hashed (not reused from the index).
    pub hashed_files: u64,
    /// Bytes of those files.
    pub hashed_bytes: u64,
}

impl Scan {
    fn absorb(&mut self, other: Scan) {
        self.records.extend(other.records);
        self.errors.extend(other.errors);
        self.bad_names.extend(other.bad_names);
        self.special.extend(other.special);
        self.overlaps.extend(other.overlaps);
        self.hashed_files += other.hashed_files;
        self.hashed_bytes += other.hashed_bytes;
    }

    fn sort(&mut self) {
        self.errors.sort();
        self.bad_names.sort();
        self.special.sort();
        self.overlaps.sort();
    }
}

/// Live counters for progress displays.
#[derive(Debug, Default)]
pub struct Progress {
    /// Paths recorded so far.
    pub entries: AtomicU64,
    /// Bytes hashed so far.
    pub hashed_bytes: AtomicU64,
}

/// A folder that must not appear inside a root: the conduit's other root, or
/// the Conduit home. Found by filesystem identity, so a bind mount or a
/// second mount of the same disk is recognized whatever its path.
#[derive(Debug, Clone)]
pub struct Foreign {
    /// (device, inode) of the folder.
    pub identity: (u64, u64),
    /// What it is, for the halt message ("the destination /mnt/b").
    pub what: String,
}

/// What every walk of one root needs.
pub struct Walk<'a> {
    /// The ignore rules of the conduit.
    pub rules: &'a Rules,
    /// The index's records of this root: digests to reuse.
    pub previous: &'a HashMap<String, Record>,
    /// Counters to advance.
    pub progress: &'a Progress,
    /// Folders to refuse to enter.
    pub foreign: &'a [Foreign],
}

/// Walk the whole root.
pub fn scan(root: &LocalRoot, walk: &Walk) -> Scan {
    let mut found = walk_from(root, "", walk);
    found.sort();
    found
}

/// Rescan only the subtrees in `dirty` (relative paths the watcher saw
/// change; `""` is the whole root) and take every other record from
/// `walk.previous`, which must be the index's view of this root.
pub fn rescan(root: &LocalRoot, walk: &Walk, dirty: &[String]) -> Scan {
    let mut marks: Vec<&str> = dirty.iter().map(|p| p.trim_matches('/')).collect();
    // A changed ignore file changes what every path means.
    if marks
        .iter()
        .any(|p| p.is_empty() || *p == rules::IGNORE_FILE)
    {
        return scan(root, walk);
    }
    marks.sort_unstable();
    marks.dedup();
    let marked: std::collections::HashSet<&str> = marks.iter().copied().collect();
    let under_mark = |path: &str| {
        std::iter::successors(Some(path), |p| p.rsplit_once('/').map(|(parent, _)| parent))
            .any(|p| marked.contains(p))
    };
    let mut found = Scan {
        records: walk
            .previous
            .iter()
            .filter(|(path, _)| !under_mark(path))
            .map(|(path, r)| (path.clone(), r.clone()))
            .collect(),
        ..Scan::default()
    };
    for mark in marks {
        // Marks nested in another mark are covered by its walk.
        if mark
            .rsplit_once('/')
            .is_some_and(|(parent, _)| under_mark(parent))
        {
            continue;
        }
        found.absorb(rescan_one(root, walk, mark));
    }
    found.sort();
    found
}

/// One dirty path: its ancestors (which the watcher may not have
/// reported), itself, and its subtree if it is a directory.
fn rescan_one(root: &LocalRoot, walk: &Walk, mark: &str) -> Scan {
    let mut found = Scan::default();
    let mut parent = String::new();
    for name in mark.split('/') {
        let Ok(folder) = root.folder(&parent) else {
            // Gone (or no longer a folder) since the watcher saw it.
            break;
        };
        let Ok(c_name) = std::ffi::CString::new(name) else {
            break;
        };
        let path = join(&parent, name);
        match look(&folder, &c_name, &path, walk, &mut found) {
            Some(true) if path.len() == mark.len() => {
                found.absorb(walk_from(root, &path, walk));
            }
            Some(true) => parent = path,
            _ => break,
        }
    }
    found
}

/// Walk the subtree at `start` (the root, or a folder in it) in parallel.
fn walk_from(root: &LocalRoot, start: &str, walk: &Walk) -> Scan {
    struct Queue {
        folders: Vec<String>,
        busy: usize,
    }
    let queue = Mutex::new(Queue {
        folders: vec![start.to_string()],
        busy: 0,
    });
    let wake = Condvar::new();
    let merged = Mutex::new(Scan::default());
    let threads = std::thread::available_parallelism().map_or(4, |n| n.get() * 2);
    std::thread::scope(|s| {
        for _ in 0..threads.clamp(2, 16) {
            s.spawn(|| {
                let mut found = Scan::default();
                loop {
                    let next = {
                        let mut q = queue.lock().expect("no panics");
                        loop {
                            if let Some(folder) = q.folders.pop() {
                                q.busy += 1;
                                break Some(folder);
                            }
                            if q.busy == 0 {
                                break None;
                            }
                            q = wake.wait(q).expect("no panics");
                        }
                    };
                    let Some(folder) = next else {
                        wake.notify_all();
                        break;
                    };
                    let below = visit(root, &folder, walk, &mut found);
                    let mut q = queue.lock().expect("no panics");
                    q.folders.extend(below);
                    q.busy -= 1;
                    wake.notify_all();
                }
                merged.lock().expect("no panics").absorb(found);
            });
        }
    });
    merged.into_inner().expect("no panics")
}

/// Record the entries of one folder; returns the folders to walk next.
fn visit(root: &LocalRoot, rel: &str, walk: &Walk, found: &mut Scan) -> Vec<String> {
    let listed = root.folder(rel).and_then(|f| Ok((f.names()?, f)));
    let (names, folder) = match listed {
        Ok(listed) => listed,
        Err(e) => {
            found.errors.push((rel.to_string(), e.to_string()));
            return Vec::new();
        }
    };
    let mut below = Vec::new();
    for name in names {
        let Ok(text) = name.to_str() else {
            let lossy = join(rel, &name.to_string_lossy());
            found.bad_names.push(lossy);
            continue;
        };
        let path = join(rel, text);
        if look(&folder, &name, &path, walk, found) == Some(true) {
            below.push(path);
        }
    }
    below
}

/// Look at `name` in `folder` (known as `path`) and record it. `Some(true)`
/// for a folder to enter, `Some(false)` for anything else recorded, `None`
/// for what was not recorded (absent, ignored, special, foreign, unreadable).
fn look(folder: &Folder, name: &CStr, path: &str, walk: &Walk, found: &mut Scan) -> Option<bool> {
    let stat = match folder.stat(name) {
        Ok(stat) => stat,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return None,
        Err(e) => {
            found.errors.push((path.to_string(), e.to_string()));
            return None;
        }
    };
    let mut record = record_of(&stat, None);
    let is_dir = record.kind == Kind::Directory;
    if walk.rules.is_ignored(path, is_dir) {
        return None;
    }
    use rustix::fs::FileType;
    match FileType::from_raw_mode(stat.st_mode as _) {
        FileType::Directory | FileType::RegularFile | FileType::Symlink => {}
        _ => {
            found.special.push(path.to_string());
            return None;
        }
    }
    if is_dir {
        let id = identity_of(&stat);
        if let Some(f) = walk.foreign.iter().find(|f| f.identity == id) {
            found.overlaps.push((path.to_string(), f.what.clone()));
            return None;
        }
    }
    walk.progress.entries.fetch_add(1, Ordering::Relaxed);
    if !is_dir {
        match digest(folder, name, path, &mut record, walk, found) {
            Ok(()) => {}
            Err(e) => {
                found.errors.push((path.to_string(), e.to_string()));
                return None;
            }
        }
    }
    found.records.insert(path.to_string(), record);
    Some(is_dir)
}

/// Give a file or symlink record its digest: the index's if the record still
/// holds, else a fresh one. A file's record is then what its open descriptor
/// says, so the digest always belongs to the state recorded.
fn digest(
    folder: &Folder,
    name: &CStr,
    path: &str,
    record: &mut Record,
    walk: &Walk,
    found: &mut Scan,
) -> std::io::Result<()> {
    if let Some(old) = walk.previous.get(path)
        && old.digest.is_some()
        && !old.stale_against(record)
    {
        record.digest = old.digest;
        return Ok(());
    }
    let digest = match record.kind {
        Kind::Symlink => hash_bytes(&folder.read_link(name)?),
        _ => {
            let (file, stat) = folder.open_file(name)?;
            *record = record_of(&stat, None);
            hash_file(file, record.size)?
        }
    };
    found.hashed_files += 1;
    found.hashed_bytes += record.size;
    walk.progress
        .hashed_bytes
        .fetch_add(record.size, Ordering::Relaxed);
    record.digest = Some(digest);
    Ok(())
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn write(root: &Path, rel: &str, text: &str) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Records without access times, which reading may change.
    fn comparable(scan: &Scan) -> std::collections::BTreeMap<String, Record> {
        scan.records
            .iter()
            .map(|(p, r)| {
                let mut r = r.clone();
                r.atime_ns = 0;
                (p.clone(), r)
            })
            .collect()
    }

    /// Each row: a change on disk and the marks the watcher would give; the
    /// rescan must see exactly what a full scan sees.
    #[test]
    fn a_rescan_of_the_marked_subtrees_equals_a_full_scan() {
        type Change = fn(&Path);
        let rows: &[(&str, Change, &[&str])] = &[
            ("new file", |r| write(r, "new.txt", "n"), &["new.txt"]),
            (
                "edit",
                |r| write(r, "docs/a.txt", "edited"),
                &["docs/a.txt"],
            ),
            (
                "delete",
                |r| std::fs::remove_file(r.join("docs/a.txt")).unwrap(),
                &["docs/a.txt"],
            ),
            (
                "folder removed",
                |r| std::fs::remove_dir_all(r.join("docs")).unwrap(),
                &["docs"],
            ),
            (
                "folder moved in with content",
                |r| write(r, "deep/er/x.txt", "x"),
                &["deep"],
            ),
            (
                "file in a new folder, folder not reported",
                |r| write(r, "fresh/y.txt", "y"),
                &["fresh/y.txt"],
            ),
            (
                "rename",
                |r| std::fs::rename(r.join("docs"), r.join("papers")).unwrap(),
                &["docs", "papers"],
            ),
            (
                "nested marks",
                |r| write(r, "docs/b/c.txt", "c2"),
                &["docs", "docs/b/c.txt"],
            ),
            ("ignored path", |r| write(r, "skip.tmp", "t"), &["skip.tmp"]),
            ("whole root", |r| write(r, "top.txt", "t"), &[""]),
            (
                "folder replaced by a symlink",
                |r| {
                    std::fs::remove_dir_all(r.join("docs")).unwrap();
                    std::os::unix::fs::symlink("/", r.join("docs")).unwrap();
                },
                &["docs"],
            ),
        ];
        for (what, change, marks) in rows {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path();
            write(path, "docs/a.txt", "a");
            write(path, "docs/b/c.txt", "c");
            write(path, "keep.txt", "k");
            let root = LocalRoot::open(path).unwrap();
            let rules = Rules::new(&["*.tmp".into()], &[&root]).unwrap();
            let progress = Progress::default();
            let empty = HashMap::new();
            let first = Walk {
                rules: &rules,
                previous: &empty,
                progress: &progress,
                foreign: &[],
            };
            let before = scan(&root, &first);
            change(path);
            let marks: Vec<String> = marks.iter().map(|m| m.to_string()).collect();
            let again = Walk {
                previous: &before.records,
                ..first
            };
            let partial = rescan(&root, &again, &marks);
            let full = scan(&root, &again);
            assert_eq!(comparable(&partial), comparable(&full), "{what}");
            assert!(partial.errors.is_empty(), "{what}: {:?}", partial.errors);
        }
    }
}
