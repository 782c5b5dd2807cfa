//! The scan stage: what a scan of one root produces ([`Scan`]: every path's
//! kind, size, mtime, mode, inode and BLAKE3) and what it is given
//! ([`Walk`]: the ignore rules, the index's records whose digests it reuses,
//! the folders it must not enter). Each kind of location scans its own way,
//! through [`crate::location::Location::scan`]; a local folder's is the
//! descriptor walk in `location/walk.rs`.
//!
//! What a scan reports instead of recording: paths it could not read (I/O
//! errors, which block deletes for the run, see the safety guards), names
//! that are not valid UTF-8 (the contract speaks UTF-8 paths; such names are
//! listed loudly, never dropped silently), FIFOs, sockets and device files
//! (listed the same way: reading a FIFO would block forever), and folders
//! that are another root of the conduit or the Conduit home seen through a
//! bind mount (the run halts: it would sync a folder into itself).

mod hash;
mod rules;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;

pub use hash::{hash_bytes, hash_file};
pub use rules::{IGNORE_FILE, IGNORE_FILE_LIMIT, IgnoreFile, Rules};

use crate::index::Record;

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
    pub(crate) fn absorb(&mut self, other: Scan) {
        self.records.extend(other.records);
        self.errors.extend(other.errors);
        self.bad_names.extend(other.bad_names);
        self.special.extend(other.special);
        self.overlaps.extend(other.overlaps);
        self.hashed_files += other.hashed_files;
        self.hashed_bytes += other.hashed_bytes;
    }

    pub(crate) fn sort(&mut self) {
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
