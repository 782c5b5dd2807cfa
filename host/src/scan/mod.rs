//! The scanner: a parallel walk of one root that records every path's kind,
//! size, mtime, mode, inode and BLAKE3, rehashing only what changed since the
//! index last saw it.
//!
//! What it reports instead of recording: paths it could not read (I/O
//! errors, which block deletes for the run, see the safety guards), names
//! that are not valid UTF-8 (the contract speaks UTF-8 paths; such names are
//! listed loudly, never dropped silently), FIFOs, sockets and device files
//! (listed the same way: opening a FIFO to hash it would block forever), and
//! Conduit's own temporary files left by an interrupted run (cleaned by the
//! caller).

mod hash;
mod rules;

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ignore::{DirEntry, ParallelVisitor, ParallelVisitorBuilder, WalkState};

pub use hash::{hash_file, hash_symlink, open_noatime};
pub use rules::Rules;

use crate::index::Record;
use crate::policy::Kind;

/// Marks the temporary files the executor writes before committing; a scan
/// never records them.
pub const TEMP_MARKER: &str = ".conduit-tmp-";

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
    /// Temporary files of an interrupted run.
    pub temp_files: Vec<PathBuf>,
    /// Files hashed (not reused from the index) and their bytes.
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
        self.temp_files.extend(other.temp_files);
        self.hashed_files += other.hashed_files;
        self.hashed_bytes += other.hashed_bytes;
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

/// Walk `root`, reusing digests from `previous` (the index's records of this
/// root) for files whose size, mtime and inode are unchanged.
pub fn scan(
    root: &Path,
    rules: &Rules,
    previous: &HashMap<String, Record>,
    progress: &Progress,
) -> Scan {
    let mut scan = walk(root, root, rules, previous, progress);
    scan.errors.sort();
    scan.bad_names.sort();
    scan.special.sort();
    scan
}

/// Rescan only the subtrees in `dirty` (relative paths the watcher saw
/// change; `""` is the whole root) and take every other record from
/// `previous`, which must be the index's view of this root.
pub fn rescan(
    root: &Path,
    rules: &Rules,
    previous: &HashMap<String, Record>,
    dirty: &[String],
    progress: &Progress,
) -> Scan {
    let mut marks: Vec<&str> = dirty.iter().map(|p| p.trim_matches('/')).collect();
    // A changed ignore file changes what every path means.
    if marks
        .iter()
        .any(|p| p.is_empty() || *p == rules::IGNORE_FILE)
    {
        return scan(root, rules, previous, progress);
    }
    marks.sort_unstable();
    marks.dedup();
    let marked: std::collections::HashSet<&str> = marks.iter().copied().collect();
    let under_mark = |path: &str| {
        std::iter::successors(Some(path), |p| p.rsplit_once('/').map(|(parent, _)| parent))
            .any(|p| marked.contains(p))
    };
    let mut found = Scan {
        records: previous
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
        found.absorb(rescan_one(root, rules, previous, mark, progress));
    }
    found.errors.sort();
    found.bad_names.sort();
    found.special.sort();
    found
}

/// One dirty path: its ancestors (which the watcher may not have
/// reported), itself, and its subtree if it is a directory.
fn rescan_one(
    root: &Path,
    rules: &Rules,
    previous: &HashMap<String, Record>,
    mark: &str,
    progress: &Progress,
) -> Scan {
    let mut found = Scan::default();
    let mut path = String::new();
    for part in mark.split('/') {
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(part);
        let abs = root.join(&path);
        let meta = match std::fs::symlink_metadata(&abs) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => {
                found.errors.push((path, e.to_string()));
                break;
            }
        };
        let is_dir = meta.is_dir();
        if rules.is_ignored(&path, is_dir) || part.contains(TEMP_MARKER) {
            break;
        }
        if is_special(meta.file_type()) {
            found.special.push(path);
            break;
        }
        let mut visitor = Visitor::new(root, rules, previous, progress);
        match visitor.record(&abs, &path) {
            Ok(record) => {
                visitor.found.records.insert(path.clone(), record);
            }
            Err(e) => visitor.found.errors.push((path.clone(), e.to_string())),
        }
        found.absorb(std::mem::take(&mut visitor.found));
        if path.len() == mark.len() && is_dir {
            found.absorb(walk(root, &abs, rules, previous, progress));
        } else if !is_dir {
            break;
        }
    }
    found
}

/// Walk `start` (the root or a directory inside it) in parallel.
fn walk(
    root: &Path,
    start: &Path,
    rules: &Rules,
    previous: &HashMap<String, Record>,
    progress: &Progress,
) -> Scan {
    let merged = Mutex::new(Scan::default());
    let mut builder = Builder {
        root,
        rules,
        previous,
        progress,
        merged: &merged,
    };
    ignore::WalkBuilder::new(start)
        .standard_filters(false)
        .follow_links(false)
        .build_parallel()
        .visit(&mut builder);
    merged.into_inner().expect("scan threads do not panic")
}

/// Record one path outside a full scan (the executor's after-state, the
/// changed-since-scan check). `None` when it does not exist, also when a
/// parent is now a file (a folder replaced by a file since the scan).
pub fn stat(root: &Path, rel: &str) -> std::io::Result<Option<Record>> {
    match std::fs::symlink_metadata(root.join(rel)) {
        Ok(meta) => Ok(Some(record_of(&meta, None))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Ok(None),
        Err(e) => Err(e),
    }
}

/// A record from metadata, with the given digest.
pub fn record_of(meta: &std::fs::Metadata, digest: Option<crate::policy::Digest>) -> Record {
    let kind = if meta.file_type().is_symlink() {
        Kind::Symlink
    } else if meta.is_dir() {
        Kind::Directory
    } else {
        Kind::File
    };
    let mtime_ns = meta.mtime() * 1_000_000_000 + meta.mtime_nsec();
    let atime_ns = meta.atime() * 1_000_000_000 + meta.atime_nsec();
    Record {
        kind,
        size: if kind == Kind::Directory {
            0
        } else {
            meta.len()
        },
        mtime_ns,
        mode: meta.mode() & 0o7777,
        inode: meta.ino(),
        digest,
        // Where the filesystem keeps no access times (noatime), atime lags
        // mtime: recency is then the modification time.
        atime_ns: atime_ns.max(mtime_ns),
    }
}

struct Builder<'s> {
    root: &'s Path,
    rules: &'s Rules,
    previous: &'s HashMap<String, Record>,
    progress: &'s Progress,
    merged: &'s Mutex<Scan>,
}

impl<'s> ParallelVisitorBuilder<'s> for Builder<'s> {
    fn build(&mut self) -> Box<dyn ParallelVisitor + 's> {
        let mut visitor = Visitor::new(self.root, self.rules, self.previous, self.progress);
        visitor.merged = Some(self.merged);
        Box::new(visitor)
    }
}

/// One walker thread: records into its own [`Scan`], merged when it ends.
struct Visitor<'s> {
    root: &'s Path,
    rules: &'s Rules,
    previous: &'s HashMap<String, Record>,
    progress: &'s Progress,
    /// Where a walker thread's findings go when it ends.
    merged: Option<&'s Mutex<Scan>>,
    found: Scan,
}

impl Drop for Visitor<'_> {
    fn drop(&mut self) {
        if let Some(merged) = self.merged {
            let found = std::mem::take(&mut self.found);
            merged.lock().expect("no panics").absorb(found);
        }
    }
}

impl ParallelVisitor for Visitor<'_> {
    fn visit(&mut self, entry: Result<DirEntry, ignore::Error>) -> WalkState {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                let path = error_path(&e).map_or_else(String::new, |p| self.relative_lossy(p));
                self.found.errors.push((path, e.to_string()));
                return WalkState::Continue;
            }
        };
        if entry.depth() == 0 {
            return WalkState::Continue;
        }
        let Ok(rel) = entry.path().strip_prefix(self.root) else {
            return WalkState::Continue;
        };
        let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
        let Some(rel) = rel.to_str().map(str::to_owned) else {
            self.found
                .bad_names
                .push(rel.to_string_lossy().into_owned());
            return WalkState::Skip;
        };
        let name = entry.file_name().to_string_lossy();
        if name.contains(TEMP_MARKER) && !is_dir {
            self.found.temp_files.push(entry.path().to_path_buf());
            return WalkState::Continue;
        }
        if self.rules.is_ignored(&rel, is_dir) {
            return WalkState::Skip;
        }
        if entry.file_type().is_some_and(is_special) {
            self.found.special.push(rel);
            return WalkState::Continue;
        }
        self.progress.entries.fetch_add(1, Ordering::Relaxed);
        match self.record(entry.path(), &rel) {
            Ok(record) => {
                self.found.records.insert(rel, record);
            }
            Err(e) => self.found.errors.push((rel, e.to_string())),
        }
        WalkState::Continue
    }
}

impl<'s> Visitor<'s> {
    fn new(
        root: &'s Path,
        rules: &'s Rules,
        previous: &'s HashMap<String, Record>,
        progress: &'s Progress,
    ) -> Self {
        Visitor {
            root,
            rules,
            previous,
            progress,
            merged: None,
            found: Scan::default(),
        }
    }

    fn relative_lossy(&self, path: &Path) -> String {
        path.strip_prefix(self.root)
            .unwrap_or(path)
            .to_string_lossy()
            .into_owned()
    }

    /// Stat `path` and digest it unless the index's record still holds.
    fn record(&mut self, path: &Path, rel: &str) -> std::io::Result<Record> {
        let meta = std::fs::symlink_metadata(path)?;
        let mut record = record_of(&meta, None);
        if record.kind == Kind::Directory {
            return Ok(record);
        }
        if let Some(old) = self.previous.get(rel)
            && old.digest.is_some()
            && !old.stale_against(&record)
        {
            record.digest = old.digest;
            return Ok(record);
        }
        let digest = match record.kind {
            Kind::Symlink => hash_symlink(path)?,
            _ => hash_file(path, record.size)?,
        };
        self.found.hashed_files += 1;
        self.found.hashed_bytes += record.size;
        self.progress
            .hashed_bytes
            .fetch_add(record.size, Ordering::Relaxed);
        record.digest = Some(digest);
        Ok(record)
    }
}

/// Neither a file, a directory nor a symlink: nothing to sync, and reading
/// it may block (a FIFO) or never end (a device).
fn is_special(t: std::fs::FileType) -> bool {
    use std::os::unix::fs::FileTypeExt;
    t.is_fifo() || t.is_socket() || t.is_block_device() || t.is_char_device()
}

/// The path an `ignore` error is about, if it says.
fn error_path(e: &ignore::Error) -> Option<&Path> {
    match e {
        ignore::Error::WithPath { path, .. } => Some(path),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        ignore::Error::Partial(errs) => errs.iter().find_map(error_path),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        ];
        for (what, change, marks) in rows {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path();
            write(root, "docs/a.txt", "a");
            write(root, "docs/b/c.txt", "c");
            write(root, "keep.txt", "k");
            let rules = Rules::new(&["*.tmp".into()], &[root]).unwrap();
            let progress = Progress::default();
            let before = scan(root, &rules, &HashMap::new(), &progress);
            change(root);
            let marks: Vec<String> = marks.iter().map(|m| m.to_string()).collect();
            let partial = rescan(root, &rules, &before.records, &marks, &progress);
            let full = scan(root, &rules, &before.records, &progress);
            assert_eq!(comparable(&partial), comparable(&full), "{what}");
            assert!(partial.errors.is_empty(), "{what}: {:?}", partial.errors);
        }
    }
}
