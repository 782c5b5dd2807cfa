//! A root on the local filesystem: the only code that reads or changes files
//! in it.
//!
//! Every operation goes through the root's directory descriptor, opened once
//! (see [`super::confined`]): no symlink in a path is ever followed, so a
//! folder swapped for a symlink fails the path instead of sending a write (or
//! a read) outside the root. Conduit's own files live in the root's
//! bookkeeping folder (`.conduit`, mode 0700): the marker, the trash, the
//! archive manifest, and the staging area where copies are written before
//! they are committed, so no temporary ever takes a name a user file could
//! have.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags, RenameFlags, Timestamps};
use rustix::io::Errno;

use super::confined::{
    self, LISTABLE, is_absent, make_dirs, open_beneath, parent_of, stat_beneath,
};
use super::folder::{Folder, Folders, identity_of, record_of};
use super::{CommitError, Link, Location, Opened, Reader, Staged};
use crate::index::Record;
use crate::scan::{Scan, Walk};
use conduit_contract::{Digest, Fidelity, Kind};

/// Bytes copied between two progress reports while staging a file.
const COPY_STEP: u64 = 8 << 20;

/// The marker file inside a root's bookkeeping folder: its content is the
/// root's id, which the index remembers. A missing or different marker means
/// an unmounted or wrong disk.
const MARKER: &str = ".conduit/root-id";
const TRASH: &str = ".conduit/trash";
/// Where copies are written before they are committed, one folder per run.
const STAGING: &str = ".conduit/tmp";
/// Archive's proof of what it moved here: one JSON object per line.
const MANIFEST: &str = ".conduit/archive-manifest.jsonl";
/// Conduit's own folders: readable by their owner only (names and deleted
/// content are private).
const PRIVATE: u32 = 0o700;

/// One root on the local filesystem.
#[derive(Debug)]
pub struct LocalRoot {
    path: PathBuf,
    dir: OwnedFd,
    /// Set once the bookkeeping folder is known to exist, private.
    bookkeeping_ready: AtomicBool,
    staging: Mutex<Option<Arc<Staging>>>,
    /// Copies get the original's owner (when running as root).
    keeps_owners: bool,
    /// The trash folder this run created, by generation.
    trash_folder: Mutex<Option<(i64, String)>>,
}

/// This run's folder in the staging area, locked while the run lives.
#[derive(Debug)]
struct Staging {
    /// The staging area, parent of `dir`.
    area: OwnedFd,
    /// The folder (listable, and flocked: a live run's folder is never
    /// cleaned by another).
    dir: OwnedFd,
    name: String,
    next: AtomicU64,
}

impl LocalRoot {
    /// Open the root folder at `path` (symlinks in `path` itself are the
    /// user's choice and are followed; nothing below it is).
    pub fn open(path: &Path) -> io::Result<LocalRoot> {
        let dir = rustix::fs::open(path, LISTABLE | OFlags::CLOEXEC, Mode::empty())?;
        Ok(LocalRoot {
            path: path.to_path_buf(),
            dir,
            bookkeeping_ready: AtomicBool::new(false),
            staging: Mutex::new(None),
            keeps_owners: true,
            trash_folder: Mutex::new(None),
        })
    }

    /// Whether copies written here get the original's owner and group
    /// (only ever when running as root; the default, as `rsync -a`).
    /// Without, a copy belongs to this process and loses setuid and setgid.
    pub fn keeping_owners(mut self, keep: bool) -> LocalRoot {
        self.keeps_owners = keep;
        self
    }

    /// Copies here change owner: running as root and asked to.
    fn chowns(&self) -> bool {
        self.keeps_owners && running_as_root()
    }

    /// Give an open copy the original's owner, where copies keep owners and
    /// the filesystem has them. Done before its mode is set: a change of
    /// owner clears setuid and setgid.
    fn keep_owner(&self, fd: impl AsFd, (uid, gid): (u32, u32)) -> io::Result<()> {
        if !self.chowns() {
            return Ok(());
        }
        let changed = rustix::fs::fchown(
            &fd,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
        );
        kept_unless_unsupported(fd, changed)
    }

    /// The root folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The root folder's (device, inode).
    pub fn dev_ino(&self) -> io::Result<(u64, u64)> {
        Ok(identity_of(&rustix::fs::fstat(&self.dir)?))
    }

    /// An error about `rel` in words a user can act on.
    fn explain(&self, rel: &str, e: io::Error) -> io::Error {
        if e.raw_os_error() == Some(libc::ELOOP) {
            io::Error::new(
                e.kind(),
                format!(
                    "{rel:?} in {} passes through a symlink or a non-folder; Conduit never \
                     follows symlinks inside a root",
                    self.path.display()
                ),
            )
        } else if e.raw_os_error() == Some(libc::EXDEV) {
            io::Error::new(
                e.kind(),
                format!(
                    "{rel:?} is on another filesystem than the root {} (a mount point inside \
                     it); Conduit stages, commits and trashes within the root's filesystem: make \
                     the mounted folder a conduit of its own, or ignore it",
                    self.path.display()
                ),
            )
        } else {
            e
        }
    }

    /// Make sure the bookkeeping folder exists as a private folder (once per
    /// opened root).
    fn bookkeeping_ready(&self) -> io::Result<()> {
        if !self.bookkeeping_ready.load(Ordering::Relaxed) {
            self.bookkeeping()?;
            self.bookkeeping_ready.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    /// The bookkeeping folder, created if missing and made private. Making
    /// it leaves the root's own mtime as it was: it is the user's.
    fn bookkeeping(&self) -> io::Result<OwnedFd> {
        let before = rustix::fs::fstat(&self.dir)?;
        match rustix::fs::mkdirat(
            &self.dir,
            crate::BOOKKEEPING_DIR,
            Mode::from_raw_mode(PRIVATE),
        ) {
            Ok(()) => {
                let mtime = record_of(&before, None).mtime_ns;
                if let Err(e) = rustix::fs::futimens(&self.dir, &mtime_only(mtime)) {
                    tracing::debug!(root = %self.path.display(), "cannot keep the root's mtime: {e}");
                }
            }
            Err(Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        let fd = open_beneath(
            self.dir.as_fd(),
            crate::BOOKKEEPING_DIR,
            LISTABLE,
            Mode::empty(),
        )
        .map_err(|e| self.explain(crate::BOOKKEEPING_DIR, e))?;
        chmod_where_kept(&fd, PRIVATE)?;
        Ok(fd)
    }

    /// This run's staging folder, made on first use.
    fn staging(&self) -> io::Result<Arc<Staging>> {
        let mut slot = self.staging.lock().expect("no panics");
        if let Some(staging) = slot.as_ref() {
            return Ok(staging.clone());
        }
        self.bookkeeping_ready()?;
        let area = self.staging_area()?;
        // Creating a run folder and locking it happen under the area's
        // lock, so a cleaner never sees a new folder before it is locked.
        rustix::fs::flock(&area, FlockOperation::LockExclusive)?;
        let name = format!("{}-{}", std::process::id(), random_hex(8));
        let made = rustix::fs::mkdirat(&area, name.as_str(), Mode::from_raw_mode(PRIVATE))
            .map_err(io::Error::from)
            .and_then(|()| {
                let dir = rustix::fs::openat(
                    &area,
                    name.as_str(),
                    LISTABLE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                rustix::fs::flock(&dir, FlockOperation::NonBlockingLockExclusive)?;
                Ok(dir)
            });
        let _ = rustix::fs::flock(&area, FlockOperation::Unlock);
        let staging = Arc::new(Staging {
            dir: made?,
            area,
            name,
            next: AtomicU64::new(0),
        });
        *slot = Some(staging.clone());
        Ok(staging)
    }

    fn staging_area(&self) -> io::Result<OwnedFd> {
        make_dirs(self.dir.as_fd(), STAGING, Mode::from_raw_mode(PRIVATE))?;
        open_beneath(self.dir.as_fd(), STAGING, LISTABLE, Mode::empty())
    }

    fn commit_inner(
        &self,
        staged: &Staged,
        generation: i64,
        expected: Option<&Record>,
    ) -> Result<Option<String>, CommitError> {
        let rel = staged.rel.as_str();
        let (parent_rel, name) = split(rel);
        let parent = make_dirs(self.dir.as_fd(), parent_rel, Mode::from_raw_mode(0o777))?;
        let staging = self.staging()?;
        let temp = (&staging.dir, staged.token());
        let place = |parent: &OwnedFd| -> Result<(), CommitError> {
            match rename_noreplace(temp.0, temp.1, parent, name) {
                Ok(()) => Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Err(CommitError::Changed),
                Err(e) => Err(e.into()),
            }
        };
        let Some(expected) = expected else {
            place(&parent)?;
            return Ok(None);
        };
        if expected.kind == Kind::Directory {
            // A folder where a file goes: the whole folder goes to the trash
            // (its files were planned for deletion anyway).
            let slot = self.trash(rel, generation).map_err(|e| {
                if is_absent(&e) {
                    CommitError::Changed
                } else {
                    e.into()
                }
            })?;
            place(&parent)?;
            return Ok(Some(slot));
        }
        let slot = self.link_into_trash(&parent, name, rel, generation)?;
        match rustix::fs::renameat_with(temp.0, temp.1, &parent, name, RenameFlags::EXCHANGE) {
            Ok(()) => {
                let displaced = rustix::fs::statat(temp.0, temp.1, AtFlags::SYMLINK_NOFOLLOW)
                    .map(|s| record_of(&s, None));
                if displaced.is_ok_and(|d| !expected.stale_against(&d)) {
                    let _ = rustix::fs::unlinkat(temp.0, temp.1, AtFlags::empty());
                    return Ok(Some(slot));
                }
                // Not what the scan saw: put the user's file back.
                rustix::fs::renameat_with(temp.0, temp.1, &parent, name, RenameFlags::EXCHANGE)
                    .map_err(io::Error::from)?;
                let _ = self.purge(&slot);
                Err(CommitError::Changed)
            }
            // The filesystem cannot exchange: replace, the old version is
            // in the trash already.
            Err(Errno::INVAL) | Err(Errno::NOSYS) | Err(Errno::OPNOTSUPP) => {
                rustix::fs::renameat(temp.0, temp.1, &parent, name).map_err(io::Error::from)?;
                Ok(Some(slot))
            }
            Err(Errno::NOENT) => {
                let _ = self.purge(&slot);
                Err(CommitError::Changed)
            }
            Err(e) => {
                let _ = self.purge(&slot);
                Err(io::Error::from(e).into())
            }
        }
    }

    /// Place `rel`'s current version in the trash of `generation` with
    /// `place(slot_parent, slot_name)`, which must fail with EEXIST rather
    /// than replace anything. Versions of one path within one generation go
    /// to `<generation>-2`, `<generation>-3`, ... (the name itself never
    /// grows, so a name at the length limit still fits). Returns the slot,
    /// relative to the root.
    fn place_in_trash(
        &self,
        rel: &str,
        generation: i64,
        place: impl Fn(&OwnedFd, &str) -> io::Result<()>,
    ) -> io::Result<String> {
        self.bookkeeping_ready()?;
        let (parent_rel, name) = split(rel);
        let mut folder = self.trash_folder(generation, false)?;
        loop {
            let dir = join(&folder, parent_rel);
            let parent = make_dirs(self.dir.as_fd(), &dir, Mode::from_raw_mode(PRIVATE))?;
            match place(&parent, name) {
                Ok(()) => return Ok(join(&folder, rel)),
                // The same path twice in one run: a fresh folder for it.
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                    folder = self.trash_folder(generation, true)?
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The folder in the trash this run moves things into: `GEN`, or
    /// `GEN-N` when that name is taken. It is created here, so it is this
    /// run's alone: a folder another run made (another conduit sharing the
    /// root, an index numbered differently before) is never written into,
    /// and purging an old version never takes a newer one with it.
    /// `fresh`: a new one even if this run has one.
    fn trash_folder(&self, generation: i64, fresh: bool) -> io::Result<String> {
        let mut held = self.trash_folder.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((g, folder)) = &*held
            && *g == generation
            && !fresh
        {
            return Ok(folder.clone());
        }
        let trash = make_dirs(self.dir.as_fd(), TRASH, Mode::from_raw_mode(PRIVATE))?;
        for n in 1u32.. {
            let name = match n {
                1 => generation.to_string(),
                n => format!("{generation}-{n}"),
            };
            match rustix::fs::mkdirat(&trash, name.as_str(), Mode::from_raw_mode(PRIVATE)) {
                Ok(()) => {
                    let folder = format!("{TRASH}/{name}");
                    *held = Some((generation, folder.clone()));
                    return Ok(folder);
                }
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        unreachable!("some GEN-N is free")
    }

    /// Keep the current version of `name` in `parent` in the trash without
    /// removing it (a hard link; a copy where links are not possible), so
    /// the caller can replace it atomically.
    fn link_into_trash(
        &self,
        parent: &OwnedFd,
        name: &str,
        rel: &str,
        generation: i64,
    ) -> Result<String, CommitError> {
        let result = self.place_in_trash(rel, generation, |slot_parent, slot_name| {
            match rustix::fs::linkat(parent, name, slot_parent, slot_name, AtFlags::empty()) {
                Ok(()) => Ok(()),
                Err(Errno::EXIST) => Err(Errno::EXIST.into()),
                Err(Errno::NOENT) => Err(Errno::NOENT.into()),
                // No hard links here (or not allowed): copy.
                Err(_) => copy_entry(parent, name, slot_parent, slot_name),
            }
        });
        result.map_err(|e| {
            if e.raw_os_error() == Some(libc::ENOENT) {
                CommitError::Changed
            } else {
                e.into()
            }
        })
    }
}

impl Folders for LocalRoot {
    fn folder(&self, rel: &str) -> io::Result<Folder> {
        let fd = open_beneath(self.dir.as_fd(), rel, LISTABLE, Mode::empty())
            .map_err(|e| self.explain(rel, e))?;
        Ok(Folder::new(fd))
    }
}

impl std::fmt::Display for LocalRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}", self.path.display())
    }
}

impl Location for LocalRoot {
    fn identity(&self) -> io::Result<Option<(u64, u64)>> {
        self.dev_ino().map(Some)
    }

    fn scan(&self, walk: &Walk) -> Scan {
        super::walk::scan(self, walk)
    }

    fn rescan(&self, walk: &Walk, dirty: &[String]) -> Scan {
        super::walk::rescan(self, walk, dirty)
    }

    // ---- the root marker -------------------------------------------------

    fn marker(&self) -> io::Result<Option<String>> {
        match confined::open_regular(self.dir.as_fd(), MARKER) {
            Ok((file, _)) => {
                let mut text = String::new();
                file.take(4096).read_to_string(&mut text)?;
                Ok(Some(text.trim().to_string()))
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(self.explain(MARKER, e)),
        }
    }

    /// The marker is written aside and renamed into place, so two `add`s
    /// racing agree on one id.
    fn ensure_marker(&self) -> io::Result<String> {
        let bookkeeping = self.bookkeeping()?;
        if let Some(id) = self.marker()? {
            return Ok(id);
        }
        let id = random_hex(16);
        let temp = format!("root-id.new-{}", random_hex(8));
        let mut file = File::from(rustix::fs::openat(
            &bookkeeping,
            temp.as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )?);
        file.write_all(format!("{id}\n").as_bytes())?;
        file.sync_all()?;
        let placed = rustix::fs::renameat_with(
            &bookkeeping,
            temp.as_str(),
            &bookkeeping,
            "root-id",
            RenameFlags::NOREPLACE,
        );
        let _ = rustix::fs::unlinkat(&bookkeeping, temp.as_str(), AtFlags::empty());
        match placed {
            Ok(()) => Ok(id),
            // Another `add` marked it first: use theirs.
            Err(Errno::EXIST) => Ok(self.marker()?.unwrap_or(id)),
            Err(e) => Err(e.into()),
        }
    }

    // ---- reading ----------------------------------------------------------

    /// An unnamed probe file in the bookkeeping folder (`O_TMPFILE`, so no
    /// folder's mtime changes; a named one in the staging area where the
    /// filesystem has no such files): the mtime it keeps of an odd second
    /// with nine digits of nanoseconds, and whether a mode sticks.
    fn fidelity(&self) -> io::Result<Fidelity> {
        const PROBE_NS: i64 = 1_600_000_001_123_456_789;
        let probe = |fd: &OwnedFd| -> io::Result<(bool, i64)> {
            let modes = rustix::fs::fchmod(fd, Mode::from_raw_mode(0o640)).is_ok()
                && rustix::fs::fstat(fd)?.st_mode & 0o7777 == 0o640;
            rustix::fs::futimens(fd, &mtime_only(PROBE_NS))?;
            Ok((modes, record_of(&rustix::fs::fstat(fd)?, None).mtime_ns))
        };
        let bookkeeping = self.bookkeeping()?;
        let unnamed = rustix::fs::openat(
            &bookkeeping,
            ".",
            OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        );
        let (modes, kept) = match unnamed {
            Ok(fd) => probe(&fd)?,
            Err(_) => {
                let staging = self.staging()?;
                let temp = format!("probe-{}", staging.next.fetch_add(1, Ordering::Relaxed));
                let result = rustix::fs::openat(
                    &staging.dir,
                    temp.as_str(),
                    OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(io::Error::from)
                .and_then(|fd| probe(&fd));
                let _ = rustix::fs::unlinkat(&staging.dir, temp.as_str(), AtFlags::empty());
                result?
            }
        };
        Ok(Fidelity {
            mtime_step_ns: mtime_step(PROBE_NS, kept),
            modes,
            // Copies written as root without their owners lose them.
            setid: !running_as_root() || self.keeps_owners,
        })
    }

    fn stat(&self, rel: &str) -> io::Result<Option<Record>> {
        if rel.is_empty() {
            return Ok(Some(record_of(&rustix::fs::fstat(&self.dir)?, None)));
        }
        let stat = stat_beneath(self.dir.as_fd(), rel).map_err(|e| self.explain(rel, e))?;
        Ok(stat.map(|s| record_of(&s, None)))
    }

    fn open_file(&self, rel: &str) -> io::Result<Opened> {
        let (file, stat) =
            confined::open_regular(self.dir.as_fd(), rel).map_err(|e| self.explain(rel, e))?;
        Ok(Opened {
            reader: Reader::File(file),
            record: record_of(&stat, None),
            owner: (stat.st_uid, stat.st_gid),
        })
    }

    fn owner(&self, rel: &str) -> io::Result<Option<(u32, u32)>> {
        let stat = stat_beneath(self.dir.as_fd(), rel).map_err(|e| self.explain(rel, e))?;
        Ok(stat.map(|s| (s.st_uid, s.st_gid)))
    }

    fn read_link(&self, rel: &str) -> io::Result<Vec<u8>> {
        confined::read_link_beneath(self.dir.as_fd(), rel).map_err(|e| self.explain(rel, e))
    }

    fn hash(&self, rel: &str, kind: Kind) -> io::Result<Digest> {
        match kind {
            Kind::Symlink => Ok(crate::scan::hash_bytes(&self.read_link(rel)?)),
            _ => {
                let (file, stat) = confined::open_regular(self.dir.as_fd(), rel)
                    .map_err(|e| self.explain(rel, e))?;
                crate::scan::hash_file(file, stat.st_size as u64)
            }
        }
    }

    fn hash_from_media(&self, rel: &str) -> io::Result<Digest> {
        let (file, stat) =
            confined::open_regular(self.dir.as_fd(), rel).map_err(|e| self.explain(rel, e))?;
        // The run's syncfs made these pages clean, so the kernel drops
        // them; the read below then comes from the device. (A filesystem
        // whose pages are its storage, like tmpfs, keeps them: nothing
        // else holds the data there.)
        rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed)?;
        crate::testhook::point("location:dropped-from-cache");
        crate::scan::hash_file(file, stat.st_size as u64)
    }

    fn read_config(&self, rel: &str, limit: u64) -> io::Result<Option<String>> {
        match confined::open_regular(self.dir.as_fd(), rel) {
            Ok((file, stat)) => {
                if stat.st_size as u64 > limit {
                    return Err(io::Error::other(format!(
                        "{rel:?} in {} is larger than {limit} bytes",
                        self.path.display()
                    )));
                }
                let mut text = String::new();
                file.take(limit).read_to_string(&mut text)?;
                Ok(Some(text))
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
            Err(e) => Err(self.explain(rel, e)),
        }
    }

    fn volume(&self) -> Option<(u64, u64)> {
        let stat = rustix::fs::fstatvfs(&self.dir).ok()?;
        let block = stat.f_frsize;
        Some((stat.f_bavail * block, stat.f_blocks * block))
    }

    fn clean_staging(&self) -> io::Result<()> {
        let area = match open_beneath(self.dir.as_fd(), STAGING, LISTABLE, Mode::empty()) {
            Ok(fd) => fd,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
            Err(e) => return Err(self.explain(STAGING, e)),
        };
        rustix::fs::flock(&area, FlockOperation::LockExclusive)?;
        let result = (|| {
            for name in confined::names(&area)? {
                let Ok(name) = name.to_str() else { continue };
                let Ok(dir) = rustix::fs::openat(
                    &area,
                    name,
                    LISTABLE | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                ) else {
                    continue;
                };
                if rustix::fs::flock(&dir, FlockOperation::NonBlockingLockExclusive).is_ok() {
                    confined::remove_tree(area.as_fd(), name)?;
                }
            }
            Ok(())
        })();
        let _ = rustix::fs::flock(&area, FlockOperation::Unlock);
        result
    }

    /// The copy is private (0600) until its content is complete.
    fn stage_file(
        &self,
        from: &mut Reader,
        owner: (u32, u32),
        rel: &str,
        mode: u32,
        mtime_ns: i64,
        written: &(dyn Fn(u64) + Sync),
    ) -> io::Result<Staged> {
        let staging = self.staging()?;
        let temp = staging.next.fetch_add(1, Ordering::Relaxed).to_string();
        let result = (|| {
            let mut out = File::from(rustix::fs::openat(
                &staging.dir,
                temp.as_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o600),
            )?);
            // In steps, so a large file shows progress; `Take<File>` to a
            // file still takes the kernel's copy_file_range path.
            loop {
                let n = match from {
                    Reader::File(file) => io::copy(&mut file.take(COPY_STEP), &mut out)?,
                    Reader::Stream(stream) => io::copy(&mut stream.take(COPY_STEP), &mut out)?,
                };
                if n == 0 {
                    break;
                }
                written(n);
            }
            out.flush()?;
            crate::testhook::point("stage:written");
            self.keep_owner(&out, owner)?;
            let ours = rustix::fs::fstat(&out)?;
            let mode = kept_mode(mode, owner, (ours.st_uid, ours.st_gid));
            chmod_where_kept(&out, mode)?;
            rustix::fs::futimens(&out, &mtime_only(mtime_ns))?;
            Ok(())
        })();
        let staged = Staged::new(temp, rel);
        match result {
            Ok(()) => Ok(staged),
            Err(e) => {
                self.discard(staged);
                Err(e)
            }
        }
    }

    /// One `syncfs` for the volume covers a whole batch of staged files and
    /// renamed folders.
    fn sync(&self) -> io::Result<()> {
        Ok(rustix::fs::syncfs(&self.dir)?)
    }

    /// The old version is linked into the trash first and swapped out
    /// atomically (`RENAME_EXCHANGE`); if what was swapped out is not
    /// `expected` (the user replaced it a moment ago), the swap is undone.
    fn commit(
        &self,
        staged: Staged,
        generation: i64,
        expected: Option<&Record>,
    ) -> Result<Option<String>, CommitError> {
        let rel = staged.rel.clone();
        let result = self.commit_inner(&staged, generation, expected);
        if result.is_err() {
            self.discard(staged);
        }
        result.map_err(|e| match e {
            CommitError::Io(e) => CommitError::Io(self.explain(&rel, e)),
            other => other,
        })
    }

    fn discard(&self, staged: Staged) {
        if let Some(staging) = self.staging.lock().expect("no panics").as_ref() {
            let _ = rustix::fs::unlinkat(&staging.dir, staged.token(), AtFlags::empty());
        }
    }

    fn make_dir(&self, rel: &str, generation: i64) -> io::Result<Option<String>> {
        let trashed = match self.stat(rel)? {
            Some(r) if r.kind == Kind::Directory => return Ok(None),
            Some(_) => Some(self.trash(rel, generation)?),
            None => None,
        };
        let (parent_rel, name) = split(rel);
        let parent = make_dirs(self.dir.as_fd(), parent_rel, Mode::from_raw_mode(0o777))
            .map_err(|e| self.explain(rel, e))?;
        match rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(PRIVATE)) {
            Ok(()) => {}
            Err(Errno::EXIST) if self.stat(rel)?.is_some_and(|r| r.kind == Kind::Directory) => {}
            Err(e) => return Err(self.explain(rel, e.into())),
        }
        Ok(trashed)
    }

    /// The link gets its owner and mtime while staged: a rename keeps both.
    fn make_symlink(
        &self,
        link: &Link,
        rel: &str,
        generation: i64,
        expected: Option<&Record>,
    ) -> Result<Option<String>, CommitError> {
        let staging = self.staging()?;
        let temp = staging.next.fetch_add(1, Ordering::Relaxed).to_string();
        let staged = Staged::new(temp.clone(), rel);
        let made = (|| {
            rustix::fs::symlinkat(link.target.as_slice(), &staging.dir, temp.as_str())?;
            if self.chowns() {
                let (uid, gid) = link.owner;
                rustix::fs::chownat(
                    &staging.dir,
                    temp.as_str(),
                    Some(rustix::fs::Uid::from_raw(uid)),
                    Some(rustix::fs::Gid::from_raw(gid)),
                    AtFlags::SYMLINK_NOFOLLOW,
                )?;
            }
            rustix::fs::utimensat(
                &staging.dir,
                temp.as_str(),
                &mtime_only(link.mtime_ns),
                AtFlags::SYMLINK_NOFOLLOW,
            )?;
            Ok::<_, io::Error>(())
        })();
        if let Err(e) = made {
            self.discard(staged);
            return Err(e.into());
        }
        self.commit(staged, generation, expected)
    }

    /// Through one descriptor of the file itself: checked against
    /// `expected`, then changed, so nothing else can be changed instead.
    fn set_metadata(
        &self,
        rel: &str,
        expected: &Record,
        mode: u32,
        mtime_ns: i64,
        owner: (u32, u32),
    ) -> Result<(), CommitError> {
        let (file, stat) =
            confined::open_regular(self.dir.as_fd(), rel).map_err(|e| self.explain(rel, e))?;
        if expected.stale_against(&record_of(&stat, None)) {
            return Err(CommitError::Changed);
        }
        self.keep_owner(&file, owner)?;
        let ours = rustix::fs::fstat(&file).map_err(io::Error::from)?;
        let mode = kept_mode(mode, owner, (ours.st_uid, ours.st_gid));
        chmod_where_kept(&file, mode)?;
        rustix::fs::futimens(&file, &mtime_only(mtime_ns)).map_err(io::Error::from)?;
        Ok(())
    }

    fn set_mtime(&self, rel: &str, mtime_ns: i64) -> io::Result<()> {
        if rel.is_empty() {
            return Ok(rustix::fs::futimens(&self.dir, &mtime_only(mtime_ns))?);
        }
        let (parent, name) = parent_of(self.dir.as_fd(), rel).map_err(|e| self.explain(rel, e))?;
        let times = mtime_only(mtime_ns);
        Ok(rustix::fs::utimensat(
            &parent,
            name,
            &times,
            AtFlags::SYMLINK_NOFOLLOW,
        )?)
    }

    fn set_mode(&self, rel: &str, mode: u32, owner: (u32, u32)) -> io::Result<()> {
        let fd = open_beneath(self.dir.as_fd(), rel, LISTABLE, Mode::empty())
            .map_err(|e| self.explain(rel, e))?;
        self.keep_owner(&fd, owner)?;
        let ours = rustix::fs::fstat(&fd)?;
        let mode = kept_mode(mode, owner, (ours.st_uid, ours.st_gid));
        chmod_where_kept(&fd, mode)
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let (from_parent, from_name) =
            parent_of(self.dir.as_fd(), from).map_err(|e| self.explain(from, e))?;
        let (to_parent_rel, to_name) = split(to);
        let to_parent = make_dirs(self.dir.as_fd(), to_parent_rel, Mode::from_raw_mode(0o777))
            .map_err(|e| self.explain(to, e))?;
        rename_noreplace(&from_parent, from_name, &to_parent, to_name).map_err(|e| {
            if e.raw_os_error() == Some(libc::EEXIST) {
                io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{to:?} already exists"),
                )
            } else {
                e
            }
        })
    }

    fn remove_file(&self, rel: &str) -> io::Result<()> {
        let (parent, name) = parent_of(self.dir.as_fd(), rel).map_err(|e| self.explain(rel, e))?;
        Ok(rustix::fs::unlinkat(&parent, name, AtFlags::empty())?)
    }

    fn remove_empty_dir(&self, rel: &str) -> io::Result<bool> {
        let (parent, name) = match parent_of(self.dir.as_fd(), rel) {
            Ok(found) => found,
            Err(e) if is_absent(&e) => return Ok(true),
            Err(e) => return Err(self.explain(rel, e)),
        };
        match rustix::fs::unlinkat(&parent, name, AtFlags::REMOVEDIR) {
            Ok(()) | Err(Errno::NOENT) => Ok(true),
            Err(Errno::NOTEMPTY) | Err(Errno::EXIST) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    // ---- the archive manifest ---------------------------------------------

    fn append_manifest(&self, lines: &[String]) -> io::Result<()> {
        self.bookkeeping_ready()?;
        let mut file = File::from(open_beneath(
            self.dir.as_fd(),
            MANIFEST,
            OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE,
            Mode::from_raw_mode(0o600),
        )?);
        let mut text = lines.join("\n");
        text.push('\n');
        file.write_all(text.as_bytes())?;
        file.sync_all()
    }

    fn manifest(&self) -> io::Result<Vec<String>> {
        match confined::open_regular(self.dir.as_fd(), MANIFEST) {
            Ok((mut file, _)) => {
                let mut text = String::new();
                file.read_to_string(&mut text)?;
                Ok(text.lines().map(str::to_owned).collect())
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(Vec::new()),
            Err(e) => Err(self.explain(MANIFEST, e)),
        }
    }

    fn trash(&self, rel: &str, generation: i64) -> io::Result<String> {
        let (parent, name) = parent_of(self.dir.as_fd(), rel).map_err(|e| self.explain(rel, e))?;
        self.place_in_trash(rel, generation, |slot_parent, slot_name| {
            rename_noreplace(&parent, name, slot_parent, slot_name)
        })
    }

    /// Trash folders are named `<generation>` and `<generation>-<n>`.
    fn find_in_trash(&self, rel: &str) -> Option<(i64, String)> {
        let trash = open_beneath(self.dir.as_fd(), TRASH, LISTABLE, Mode::empty()).ok()?;
        confined::names(&trash)
            .ok()?
            .into_iter()
            .filter_map(|folder| {
                let folder = folder.into_string().ok()?;
                let (generation, n) = match folder.split_once('-') {
                    Some((g, n)) => (g.parse::<i64>().ok()?, n.parse::<u32>().ok()?),
                    None => (folder.parse::<i64>().ok()?, 1),
                };
                let slot = format!("{TRASH}/{folder}/{rel}");
                stat_beneath(self.dir.as_fd(), &slot).ok()??;
                Some(((generation, n), slot))
            })
            .max()
            .map(|((generation, _), slot)| (generation, slot))
    }

    fn untrash(&self, trashed_as: &str, rel: &str, generation: i64) -> io::Result<Option<String>> {
        // Nothing moves unless the version to bring back is there.
        if stat_beneath(self.dir.as_fd(), trashed_as)
            .map_err(|e| self.explain(trashed_as, e))?
            .is_none()
        {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{trashed_as:?} is no longer in the trash"),
            ));
        }
        let current = match self.stat(rel)? {
            Some(_) => Some(self.trash(rel, generation)?),
            None => None,
        };
        if let Err(e) = self.rename(trashed_as, rel) {
            // Put back what was set aside for it: a failed restore changes nothing.
            if let Some(slot) = &current
                && let Err(undo) = self.rename(slot, rel)
            {
                return Err(io::Error::new(
                    e.kind(),
                    format!("{e}; what stood at {rel:?} is kept in {slot} ({undo})"),
                ));
            }
            return Err(e);
        }
        Ok(current)
    }

    fn purge(&self, trashed_as: &str) -> io::Result<()> {
        let (parent, name) = match parent_of(self.dir.as_fd(), trashed_as) {
            Ok(found) => found,
            Err(e) if is_absent(&e) => return Ok(()),
            Err(e) => return Err(self.explain(trashed_as, e)),
        };
        confined::remove_tree(parent.as_fd(), name)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // Empty once every staged file was committed or discarded; if not
        // (a failed discard), the next run's cleaning takes it.
        let _ = rustix::fs::unlinkat(&self.area, self.name.as_str(), AtFlags::REMOVEDIR);
    }
}

/// `renameat2(RENAME_NOREPLACE)`, or a link-then-unlink where the filesystem
/// cannot (linkat never replaces either).
fn rename_noreplace(from_dir: &OwnedFd, from: &str, to_dir: &OwnedFd, to: &str) -> io::Result<()> {
    match rustix::fs::renameat_with(from_dir, from, to_dir, to, RenameFlags::NOREPLACE) {
        Err(Errno::INVAL) | Err(Errno::NOSYS) | Err(Errno::OPNOTSUPP) => {
            match rustix::fs::linkat(from_dir, from, to_dir, to, AtFlags::empty()) {
                Ok(()) => Ok(rustix::fs::unlinkat(from_dir, from, AtFlags::empty())?),
                // A folder (no hard links to folders): check, then rename.
                Err(Errno::PERM) => match rustix::fs::statat(to_dir, to, AtFlags::SYMLINK_NOFOLLOW)
                {
                    Err(Errno::NOENT) => Ok(rustix::fs::renameat(from_dir, from, to_dir, to)?),
                    Ok(_) => Err(Errno::EXIST.into()),
                    Err(e) => Err(e.into()),
                },
                Err(e) => Err(e.into()),
            }
        }
        other => Ok(other?),
    }
}

/// Copy the file or symlink `name` of `from_dir` to a new `to` in `to_dir`.
fn copy_entry(from_dir: &OwnedFd, name: &str, to_dir: &OwnedFd, to: &str) -> io::Result<()> {
    let stat = rustix::fs::statat(from_dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if FileType::from_raw_mode(stat.st_mode as _) == FileType::Symlink {
        let target = rustix::fs::readlinkat(from_dir, name, Vec::new())?;
        return Ok(rustix::fs::symlinkat(target.as_bytes(), to_dir, to)?);
    }
    let (mut src, _) = confined::open_regular(from_dir.as_fd(), name)?;
    let mut out = File::from(rustix::fs::openat(
        to_dir,
        to,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )?);
    io::copy(&mut src, &mut out)?;
    out.sync_all()
}

/// The parent part and the last name of a relative path.
fn split(rel: &str) -> (&str, &str) {
    rel.rsplit_once('/').unwrap_or(("", rel))
}

fn join(a: &str, b: &str) -> String {
    if b.is_empty() {
        a.to_string()
    } else {
        format!("{a}/{b}")
    }
}

/// Root keeps ownership, as `rsync -a` and `cp -a` do; anyone else's
/// copies are their own.
fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Set permission bits where the filesystem keeps them: FAT and exFAT have
/// none (their modes come from the mount), and refuse or ignore a chmod.
fn chmod_where_kept(fd: impl AsFd, mode: u32) -> io::Result<()> {
    let changed = rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode));
    kept_unless_unsupported(fd, changed)
}

/// `result` of changing `fd`'s mode or owner, with "this filesystem has no
/// such thing" taken as done: not implemented, not supported, or refused
/// to the file's own owner, which a filesystem with modes never does.
fn kept_unless_unsupported(fd: impl AsFd, result: rustix::io::Result<()>) -> io::Result<()> {
    match result {
        Ok(()) => Ok(()),
        Err(Errno::NOSYS | Errno::OPNOTSUPP) => Ok(()),
        Err(Errno::PERM)
            if rustix::fs::fstat(&fd)
                .is_ok_and(|s| s.st_uid == rustix::process::geteuid().as_raw()) =>
        {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Permission bits for a copy owned by `ours` of an original owned by
/// `theirs`: setuid only where the user is the same, setgid only where the
/// group is, so no copy ever runs with rights its original did not grant.
pub(crate) fn kept_mode(mode: u32, theirs: (u32, u32), ours: (u32, u32)) -> u32 {
    let mut mode = mode & 0o7777;
    if theirs.0 != ours.0 {
        mode &= !0o4000;
    }
    if theirs.1 != ours.1 {
        mode &= !0o2000;
    }
    mode
}

/// The modification time set to `ns` after the epoch; the access time left
/// as it is.
fn mtime_only(ns: i64) -> Timestamps {
    Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_OMIT,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: ns.div_euclid(1_000_000_000),
            tv_nsec: ns.rem_euclid(1_000_000_000) as _,
        },
    }
}

/// The finest common mtime resolution (ns, 100 ns as NTFS, µs, ms, 10 ms
/// as exFAT, 1 s, 2 s as FAT) that explains `written` coming back as `kept`.
fn mtime_step(written: i64, kept: i64) -> i64 {
    const STEPS: [i64; 7] = [
        1,
        100,
        1_000,
        1_000_000,
        10_000_000,
        1_000_000_000,
        2_000_000_000,
    ];
    STEPS
        .into_iter()
        .find(|&step| written.div_euclid(step) * step == kept)
        .unwrap_or(2_000_000_000)
}

/// `bytes` random bytes as hex.
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if rustix::rand::getrandom(&mut buf, rustix::rand::GetRandomFlags::empty()).is_err() {
        // No entropy source: unique enough for names that also carry a pid.
        let seed = format!("{}:{}", std::process::id(), crate::clock::now_ns());
        buf.copy_from_slice(&blake3::hash(seed.as_bytes()).as_bytes()[..bytes]);
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setuid_and_setgid_only_for_the_same_owner() {
        let (me, other) = ((1, 2), (3, 4));
        assert_eq!(
            kept_mode(0o106755, me, me),
            0o6755,
            "file type bits dropped"
        );
        assert_eq!(kept_mode(0o6755, me, other), 0o755);
        assert_eq!(kept_mode(0o6755, (1, 2), (1, 9)), 0o4755);
        assert_eq!(kept_mode(0o6755, (1, 2), (9, 2)), 0o2755);
    }

    #[test]
    fn mtime_steps() {
        let t = 1_600_000_001_123_456_789;
        for (kept, step) in [
            (t, 1),
            (1_600_000_001_123_456_700, 100),
            (1_600_000_001_123_456_000, 1_000),
            (1_600_000_001_120_000_000, 10_000_000),
            (1_600_000_001_000_000_000, 1_000_000_000),
            (1_600_000_000_000_000_000, 2_000_000_000),
            (5, 2_000_000_000),
        ] {
            assert_eq!(mtime_step(t, kept), step, "{kept}");
        }
    }

    /// What a remote source sends arrives as a stream; it lands like a local
    /// copy: the content, the mode and the mtime asked for, committed over
    /// the expected version, which goes to the trash.
    #[test]
    fn a_streamed_copy_is_staged_and_committed_like_a_local_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "old").unwrap();
        let root = LocalRoot::open(dir.path()).unwrap();
        let expected = root.stat("a").unwrap();
        let mut from = Reader::Stream(Box::new(io::Cursor::new(b"new content".to_vec())));
        let owner = (
            rustix::process::getuid().as_raw(),
            rustix::process::getgid().as_raw(),
        );
        let staged = root
            .stage_file(&mut from, owner, "a", 0o640, 1_000_000_000, &|_| {})
            .unwrap();
        let trashed = root.commit(staged, 7, expected.as_ref()).unwrap();
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"new content");
        let now = root.stat("a").unwrap().unwrap();
        assert_eq!((now.mode & 0o7777, now.mtime_ns), (0o640, 1_000_000_000));
        let trashed = trashed.expect("the old version is kept");
        assert_eq!(std::fs::read(dir.path().join(trashed)).unwrap(), b"old");
    }
}
