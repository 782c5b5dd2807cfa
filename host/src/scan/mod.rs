//! The scanner: a parallel walk of one root that records every path's kind,
//! size, mtime, mode, inode and BLAKE3, rehashing only what changed since the
//! index last saw it.
//!
//! What it reports instead of recording: paths it could not read (I/O
//! errors, which block deletes for the run, see the safety guards), names
//! that are not valid UTF-8 (the contract speaks UTF-8 paths; such names are
//! listed loudly, never dropped silently), and Conduit's own temporary files
//! left by an interrupted run (cleaned by the caller).

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
    let merged = Mutex::new(Scan::default());
    let mut builder = Builder {
        root,
        rules,
        previous,
        progress,
        merged: &merged,
    };
    ignore::WalkBuilder::new(root)
        .standard_filters(false)
        .follow_links(false)
        .build_parallel()
        .visit(&mut builder);
    let mut scan = merged.into_inner().expect("scan threads do not panic");
    scan.errors.sort();
    scan.bad_names.sort();
    scan
}

/// Record one path outside a full scan (the executor's after-state, the
/// changed-since-scan check). `None` when it does not exist.
pub fn stat(root: &Path, rel: &str) -> std::io::Result<Option<Record>> {
    match std::fs::symlink_metadata(root.join(rel)) {
        Ok(meta) => Ok(Some(record_of(&meta, None))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
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
        Box::new(Visitor {
            root: self.root,
            rules: self.rules,
            previous: self.previous,
            progress: self.progress,
            merged: self.merged,
            found: Scan::default(),
        })
    }
}

/// One walker thread: records into its own [`Scan`], merged when it ends.
struct Visitor<'s> {
    root: &'s Path,
    rules: &'s Rules,
    previous: &'s HashMap<String, Record>,
    progress: &'s Progress,
    merged: &'s Mutex<Scan>,
    found: Scan,
}

impl Drop for Visitor<'_> {
    fn drop(&mut self) {
        let found = std::mem::take(&mut self.found);
        self.merged.lock().expect("no panics").absorb(found);
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

impl Visitor<'_> {
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
