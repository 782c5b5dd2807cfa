//! A root's folders as the scan sees them: opened beneath the root, listed
//! by name, each name looked at relative to its folder and never followed;
//! and what a `stat` means as a record.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use super::confined;
use crate::index::Record;
use conduit_contract::{Digest, Kind};

/// What the walk needs of a root: its folders (`""`: the root), opened
/// beneath it for listing.
pub(super) trait Folders: Sync {
    fn folder(&self, rel: &str) -> io::Result<Folder>;
}

/// A folder of a root, opened for listing: what the scanner walks. Names
/// come from the folder itself, so each is one component; nothing is
/// followed.
#[derive(Debug)]
pub(super) struct Folder {
    fd: OwnedFd,
}

impl Folder {
    pub(super) fn new(fd: OwnedFd) -> Folder {
        Folder { fd }
    }

    /// The names in the folder.
    pub fn names(&self) -> io::Result<Vec<std::ffi::CString>> {
        confined::names(&self.fd)
    }

    /// `lstat` of `name`.
    pub fn stat(&self, name: &std::ffi::CStr) -> io::Result<Stat> {
        Ok(rustix::fs::statat(
            &self.fd,
            name,
            AtFlags::SYMLINK_NOFOLLOW,
        )?)
    }

    /// Open the regular file `name` (never a symlink, FIFO or device).
    pub fn open_file(&self, name: &std::ffi::CStr) -> io::Result<(File, Stat)> {
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = match rustix::fs::openat(&self.fd, name, flags | OFlags::NOATIME, Mode::empty()) {
            Err(Errno::PERM) => rustix::fs::openat(&self.fd, name, flags, Mode::empty())?,
            other => other?,
        };
        let stat = rustix::fs::fstat(&fd)?;
        if FileType::from_raw_mode(stat.st_mode as _) != FileType::RegularFile {
            return Err(io::Error::other("not a regular file any more"));
        }
        rustix::fs::fcntl_setfl(&fd, rustix::fs::fcntl_getfl(&fd)? - OFlags::NONBLOCK)?;
        Ok((File::from(fd), stat))
    }

    /// The target of the symlink `name`.
    pub fn read_link(&self, name: &std::ffi::CStr) -> io::Result<Vec<u8>> {
        Ok(rustix::fs::readlinkat(&self.fd, name, Vec::new())?.into_bytes())
    }
}

/// (device, inode) of a stat.
#[allow(clippy::unnecessary_cast)]
pub(super) fn identity_of(stat: &Stat) -> (u64, u64) {
    (stat.st_dev as u64, stat.st_ino as u64)
}

/// Nanoseconds from a (seconds, nanoseconds) timestamp, held at the ends of
/// what 64 bits of nanoseconds reach (years 1677 and 2262): a file dated
/// beyond them is kept at the bound, consistently on both sides.
pub(crate) fn ns_of(secs: i64, nsec: u64) -> i64 {
    let ns = i128::from(secs) * 1_000_000_000 + i128::from(nsec);
    ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// A record from a stat, with the given digest.
#[allow(clippy::unnecessary_cast)]
pub(super) fn record_of(stat: &Stat, digest: Option<Digest>) -> Record {
    let kind = match FileType::from_raw_mode(stat.st_mode as _) {
        FileType::Symlink => Kind::Symlink,
        FileType::Directory => Kind::Directory,
        _ => Kind::File,
    };
    let mtime_ns = ns_of(stat.st_mtime as i64, stat.st_mtime_nsec as u64);
    let atime_ns = ns_of(stat.st_atime as i64, stat.st_atime_nsec as u64);
    Record {
        kind,
        size: if kind == Kind::Directory {
            0
        } else {
            stat.st_size as u64
        },
        mtime_ns,
        mode: stat.st_mode as u32 & 0o7777,
        inode: stat.st_ino as u64,
        digest,
        // Where the filesystem keeps no access times (noatime), atime lags
        // mtime: recency is then the modification time.
        atime_ns: atime_ns.max(mtime_ns),
    }
}
