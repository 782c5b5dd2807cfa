//! A location: one root folder and the only code that changes files in it.
//!
//! The interface is deliberately narrow — stat, hash, stage a copy under a
//! temporary name and commit it, make a directory or symlink, rename, move to
//! the trash, remove — so another kind of location (a remote Conduit, an
//! object store) can take this one's place without the diff, policy or plan
//! stages noticing. Paths are relative and `/`-separated; they were checked
//! by [`crate::plan::check_relative_path`] before they get here.

use std::fs::{File, FileTimes};
use std::io::Write;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context as _;

use crate::index::Record;
use crate::policy::{Digest, Kind};
use crate::scan::{self, TEMP_MARKER};

/// The marker file inside a root's bookkeeping folder: its content is the
/// root's id, which the index remembers. A missing or different marker means
/// an unmounted or wrong disk.
const MARKER_FILE: &str = "root-id";
const TRASH_DIR: &str = "trash";
/// Archive's proof of what it moved here: one JSON object per line.
const MANIFEST_FILE: &str = "archive-manifest.jsonl";

/// One root on the local filesystem.
#[derive(Debug, Clone)]
pub struct LocalRoot {
    root: PathBuf,
}

/// A file written under a temporary name, not yet committed.
#[derive(Debug)]
pub struct Staged {
    temp: PathBuf,
    /// The target path, relative to the root.
    pub rel: String,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

impl LocalRoot {
    /// The root folder at `root`.
    pub fn new(root: impl Into<PathBuf>) -> LocalRoot {
        LocalRoot { root: root.into() }
    }

    /// The root folder.
    pub fn path(&self) -> &Path {
        &self.root
    }

    fn abs(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn bookkeeping(&self) -> PathBuf {
        self.root.join(crate::BOOKKEEPING_DIR)
    }

    // ---- the root marker -------------------------------------------------

    /// The id in this root's marker, if it has one.
    pub fn marker(&self) -> Option<String> {
        std::fs::read_to_string(self.bookkeeping().join(MARKER_FILE))
            .ok()
            .map(|s| s.trim().to_string())
    }

    /// Give the root a marker (keeping an existing one) and return its id.
    pub fn ensure_marker(&self) -> anyhow::Result<String> {
        if let Some(id) = self.marker() {
            return Ok(id);
        }
        let dir = self.bookkeeping();
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let seed = format!(
            "{}:{}:{:?}",
            std::process::id(),
            crate::index::now_ns(),
            self.root
        );
        let id = blake3::hash(seed.as_bytes()).to_hex()[..32].to_string();
        let file = dir.join(MARKER_FILE);
        std::fs::write(&file, format!("{id}\n"))
            .with_context(|| format!("writing {}", file.display()))?;
        Ok(id)
    }

    // ---- reading ----------------------------------------------------------

    /// The current state of `rel` (no digest), or none if it is absent.
    pub fn stat(&self, rel: &str) -> std::io::Result<Option<Record>> {
        scan::stat(&self.root, rel)
    }

    /// The content digest of `rel` as it is on disk now (full read).
    pub fn hash(&self, rel: &str, kind: Kind) -> std::io::Result<Digest> {
        let path = self.abs(rel);
        match kind {
            Kind::Symlink => scan::hash_symlink(&path),
            _ => {
                let size = std::fs::symlink_metadata(&path)?.len();
                scan::hash_file(&path, size)
            }
        }
    }

    /// Free and total bytes of the volume holding the root.
    pub fn volume(&self) -> Option<(u64, u64)> {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(self.root.as_os_str().as_bytes()).ok()?;
        // SAFETY: `path` is a valid NUL-terminated string and `stat` a
        // zeroed out-parameter of the right type.
        let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
            return None;
        }
        let block = stat.f_frsize as u64;
        Some((stat.f_bavail as u64 * block, stat.f_blocks as u64 * block))
    }

    // ---- writing ----------------------------------------------------------

    /// Copy `from` (a file of another root) to a temporary name beside `rel`,
    /// with `mode` and `mtime_ns` applied. Not yet durable: see [`Self::sync`].
    /// The kernel's copy fast path (copy_file_range) is used where it exists.
    pub fn stage_file(
        &self,
        from: &Path,
        rel: &str,
        mode: u32,
        mtime_ns: i64,
    ) -> std::io::Result<Staged> {
        let target = self.abs(rel);
        let dir = target.parent().expect("a relative path has a parent");
        std::fs::create_dir_all(dir)?;
        let name = target.file_name().expect("a relative path has a name");
        let temp = dir.join(format!(
            ".{}{TEMP_MARKER}{}-{}",
            name.to_string_lossy(),
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let result = (|| {
            let mut src = scan::open_noatime(from)?;
            let mut out = File::create_new(&temp)?;
            std::io::copy(&mut src, &mut out)?;
            out.flush()?;
            out.set_permissions(std::fs::Permissions::from_mode(mode))?;
            out.set_times(FileTimes::new().set_modified(system_time(mtime_ns)))?;
            Ok(())
        })();
        match result {
            Ok(()) => Ok(Staged {
                temp,
                rel: rel.to_string(),
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                Err(e)
            }
        }
    }

    /// Make everything written so far durable (one `syncfs` for the volume,
    /// which covers a whole batch of staged files and renamed directories).
    pub fn sync(&self) -> std::io::Result<()> {
        let dir = File::open(&self.root)?;
        use std::os::fd::AsRawFd;
        // SAFETY: `dir` is an open file descriptor for the duration of the call.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Put a staged file in place. Whatever was at the path is hard-linked
    /// into the trash first, so the rename replaces it atomically and the
    /// old version stays restorable.
    pub fn commit(&self, staged: Staged, generation: i64) -> std::io::Result<Option<String>> {
        let target = self.abs(&staged.rel);
        let trashed = match std::fs::symlink_metadata(&target) {
            Ok(meta) if meta.is_dir() => {
                // A directory where a file goes: the whole directory goes to
                // the trash (its files were planned for deletion anyway).
                Some(self.trash(&staged.rel, generation)?)
            }
            Ok(_) => Some(self.link_into_trash(&staged.rel, generation)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        std::fs::rename(&staged.temp, &target)?;
        Ok(trashed)
    }

    /// Drop a staged file that will not be committed.
    pub fn discard(&self, staged: Staged) {
        let _ = std::fs::remove_file(staged.temp);
    }

    /// Create directory `rel` (and its parents) with `mode`. A file or
    /// symlink in its way goes to the trash first.
    pub fn make_dir(
        &self,
        rel: &str,
        mode: u32,
        generation: i64,
    ) -> std::io::Result<Option<String>> {
        let path = self.abs(rel);
        let trashed = match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => None,
            Ok(_) => Some(self.trash(rel, generation)?),
            Err(_) => None,
        };
        std::fs::create_dir_all(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
        Ok(trashed)
    }

    /// Create symlink `rel` pointing where `from` (another root's symlink)
    /// points, replacing what is there (into the trash) atomically.
    pub fn copy_symlink(
        &self,
        from: &Path,
        rel: &str,
        generation: i64,
    ) -> std::io::Result<Option<String>> {
        let target = std::fs::read_link(from)?;
        let path = self.abs(rel);
        std::fs::create_dir_all(path.parent().expect("has a parent"))?;
        let temp = path.with_file_name(format!(
            ".link{TEMP_MARKER}{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        symlink(&target, &temp)?;
        let trashed = match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => Some(self.trash(rel, generation)?),
            Ok(_) => Some(self.link_into_trash(rel, generation)?),
            Err(_) => None,
        };
        std::fs::rename(&temp, &path)?;
        Ok(trashed)
    }

    /// Set a file's or directory's mtime (symlinks: not followed).
    pub fn set_mtime(&self, rel: &str, mtime_ns: i64) -> std::io::Result<()> {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(self.abs(rel).as_os_str().as_bytes())?;
        let ts = |ns: i64| libc::timespec {
            tv_sec: ns.div_euclid(1_000_000_000) as libc::time_t,
            tv_nsec: ns.rem_euclid(1_000_000_000) as libc::c_long,
        };
        let times = [
            libc::timespec {
                tv_sec: 0,
                tv_nsec: libc::UTIME_OMIT,
            },
            ts(mtime_ns),
        ];
        // SAFETY: valid path string and a two-element timespec array.
        let rc = unsafe {
            libc::utimensat(
                libc::AT_FDCWD,
                path.as_ptr(),
                times.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Rename `from` to `to` within this root; `to` must not exist.
    pub fn rename(&self, from: &str, to: &str) -> std::io::Result<()> {
        let to_path = self.abs(to);
        if std::fs::symlink_metadata(&to_path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{to:?} already exists"),
            ));
        }
        std::fs::create_dir_all(to_path.parent().expect("has a parent"))?;
        std::fs::rename(self.abs(from), to_path)
    }

    /// Remove a file or symlink for good (its content is safe elsewhere:
    /// an evicted or archived file whose destination copy verified).
    pub fn remove_file(&self, rel: &str) -> std::io::Result<()> {
        std::fs::remove_file(self.abs(rel))
    }

    /// Remove directory `rel` if it is empty; false if it is not.
    pub fn remove_empty_dir(&self, rel: &str) -> std::io::Result<bool> {
        match std::fs::remove_dir(self.abs(rel)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => Ok(false),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(e),
        }
    }

    // ---- the archive manifest ---------------------------------------------

    /// Append lines to this root's archive manifest, durably.
    pub fn append_manifest(&self, lines: &[String]) -> std::io::Result<()> {
        let dir = self.bookkeeping();
        std::fs::create_dir_all(&dir)?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(MANIFEST_FILE))?;
        let mut text = lines.join("\n");
        text.push('\n');
        file.write_all(text.as_bytes())?;
        file.sync_all()
    }

    /// The lines of this root's archive manifest (none if it has none).
    pub fn manifest(&self) -> std::io::Result<Vec<String>> {
        match std::fs::read_to_string(self.bookkeeping().join(MANIFEST_FILE)) {
            Ok(text) => Ok(text.lines().map(str::to_owned).collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    // ---- the trash --------------------------------------------------------

    /// Where generation `generation` puts `rel` in the trash (relative to
    /// the root). One folder per generation keeps versions apart.
    fn trash_path(&self, rel: &str, generation: i64) -> String {
        format!("{}/{TRASH_DIR}/{generation}/{rel}", crate::BOOKKEEPING_DIR)
    }

    fn free_trash_slot(&self, rel: &str, generation: i64) -> std::io::Result<String> {
        let mut slot = self.trash_path(rel, generation);
        let mut n = 1;
        while std::fs::symlink_metadata(self.abs(&slot)).is_ok() {
            n += 1;
            slot = format!("{}~{n}", self.trash_path(rel, generation));
        }
        std::fs::create_dir_all(self.abs(&slot).parent().expect("has a parent"))?;
        Ok(slot)
    }

    /// Move `rel` into the trash; returns where it went.
    pub fn trash(&self, rel: &str, generation: i64) -> std::io::Result<String> {
        let slot = self.free_trash_slot(rel, generation)?;
        std::fs::rename(self.abs(rel), self.abs(&slot))?;
        Ok(slot)
    }

    /// Keep the current version of `rel` in the trash without removing it
    /// (a hard link; a copy where links are not possible), so the caller can
    /// replace it atomically.
    fn link_into_trash(&self, rel: &str, generation: i64) -> std::io::Result<String> {
        let slot = self.free_trash_slot(rel, generation)?;
        let (from, to) = (self.abs(rel), self.abs(&slot));
        if std::fs::hard_link(&from, &to).is_err() {
            if std::fs::symlink_metadata(&from)?.file_type().is_symlink() {
                symlink(std::fs::read_link(&from)?, &to)?;
            } else {
                std::fs::copy(&from, &to)?;
            }
        }
        Ok(slot)
    }

    /// The newest trashed version of `rel` found in the trash folder itself,
    /// as (generation, path relative to the root). Used when the index lost
    /// the record (a crash between trashing and committing).
    pub fn find_in_trash(&self, rel: &str) -> Option<(i64, String)> {
        let dir = self.bookkeeping().join(TRASH_DIR);
        std::fs::read_dir(dir)
            .ok()?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i64>().ok())
            .filter(|generation| {
                std::fs::symlink_metadata(self.abs(&self.trash_path(rel, *generation))).is_ok()
            })
            .max()
            .map(|generation| (generation, self.trash_path(rel, generation)))
    }

    /// Move a trashed file back to `rel`; what is at `rel` now goes to the
    /// trash of `generation` first.
    pub fn untrash(
        &self,
        trashed_as: &str,
        rel: &str,
        generation: i64,
    ) -> std::io::Result<Option<String>> {
        let current = match std::fs::symlink_metadata(self.abs(rel)) {
            Ok(_) => Some(self.trash(rel, generation)?),
            Err(_) => None,
        };
        std::fs::create_dir_all(self.abs(rel).parent().expect("has a parent"))?;
        std::fs::rename(self.abs(trashed_as), self.abs(rel))?;
        Ok(current)
    }

    /// Remove a trashed item for good (retention expired).
    pub fn purge(&self, trashed_as: &str) -> std::io::Result<()> {
        let path = self.abs(trashed_as);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(&path),
            Ok(_) => std::fs::remove_file(&path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The absolute path of `rel`, for reading by another root's copy.
    pub fn file_path(&self, rel: &str) -> PathBuf {
        self.abs(rel)
    }
}

fn system_time(ns: i64) -> std::time::SystemTime {
    if ns >= 0 {
        UNIX_EPOCH + Duration::from_nanos(ns as u64)
    } else {
        UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs())
    }
}
