//! A local root's scan: a parallel walk through the root's folder handles.
//! Each folder is opened beneath the root without following symlinks, and
//! its entries are looked at by name relative to it, so a folder swapped
//! for a symlink mid-walk is never entered. Digests are reused from the
//! index where a record still holds, else computed from the open file.

use std::ffi::CStr;
use std::sync::atomic::Ordering;
use std::sync::{Condvar, Mutex};

use super::folder::{Folder, Folders, identity_of, record_of};
use crate::index::Record;
use crate::scan::{IGNORE_FILE, Scan, Walk, hash_bytes, hash_file};
use conduit_contract::Kind;

/// Walk the whole root.
pub(super) fn scan(root: &dyn Folders, walk: &Walk) -> Scan {
    let mut found = walk_from(root, "", walk);
    found.sort();
    found
}

/// Rescan only the subtrees in `dirty` (relative paths the watcher saw
/// change; `""` is the whole root) and take every other record from
/// `walk.previous`, which must be the index's view of this root.
pub(super) fn rescan(root: &dyn Folders, walk: &Walk, dirty: &[String]) -> Scan {
    let mut marks: Vec<&str> = dirty.iter().map(|p| p.trim_matches('/')).collect();
    // A changed ignore file changes what every path means.
    if marks.iter().any(|p| p.is_empty() || *p == IGNORE_FILE) {
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
fn rescan_one(root: &dyn Folders, walk: &Walk, mark: &str) -> Scan {
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
fn walk_from(root: &dyn Folders, start: &str, walk: &Walk) -> Scan {
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
fn visit(root: &dyn Folders, rel: &str, walk: &Walk, found: &mut Scan) -> Vec<String> {
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
    use crate::location::LocalRoot;
    use crate::scan::{Progress, Rules};
    use std::collections::HashMap;
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
            let files = super::super::ignore_files(&[&root]).unwrap();
            let rules = Rules::new(&["*.tmp".into()], &files).unwrap();
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
