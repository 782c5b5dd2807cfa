//! Locations: where a conduit's roots live, and the only code that reads or
//! changes files in them. Paths given to a location are relative and
//! `/`-separated; they were checked by [`crate::plan::check_relative_path`]
//! or come from the location's own listing.
//!
//! The data path (the scan, the executor, `restore`, `verify`, trash
//! retention) works on [`Location`], so a root on another device or in a
//! bucket plugs in by implementing it; [`LocalRoot`] is the local folder,
//! and `walk.rs` its scan.
//! The trait is synchronous: the executor runs transfers on worker threads,
//! and a remote location drives its own runtime inside its methods, which
//! keeps the commit-then-verify order in one place instead of in two
//! (blocking and async) executors.

mod confined;
mod folder;
mod local;
pub mod remote;
mod walk;

use std::fs::File;
use std::io::{self, Read};

pub use local::LocalRoot;
pub use remote::{ListingKey, RemoteRoot};

use crate::device::Device;
use crate::index::Record;
use crate::place::Place;
use crate::scan::{IGNORE_FILE, IGNORE_FILE_LIMIT, IgnoreFile, Scan, Walk};
use conduit_contract::{Digest, Fidelity, Kind, Side};

/// One root, wherever it lives. Every operation is confined to the root: no
/// path resolves outside it, none follows a symlink inside it. Destructive
/// operations go through the root's own trash, which a `generation` names.
pub trait Location: Send + Sync + std::fmt::Debug + std::fmt::Display {
    // ---- identity -----------------------------------------------------------

    /// The root folder's filesystem identity (device, inode) when it is on
    /// this machine: two roots with one identity are one folder (a bind
    /// mount, a second mount of a disk). None for a root elsewhere.
    fn identity(&self) -> io::Result<Option<(u64, u64)>>;

    /// What this root keeps of a file's metadata (mtime resolution, POSIX
    /// modes), probed once per run in the staging area.
    fn fidelity(&self) -> io::Result<Fidelity>;

    // ---- the root marker ---------------------------------------------------

    /// The id in this root's marker, if it has one; a marker that cannot be
    /// what Conduit wrote is an error.
    fn marker(&self) -> io::Result<Option<String>>;

    /// Give the root a marker (keeping an existing one) and return its id.
    fn ensure_marker(&self) -> io::Result<String>;

    // ---- scanning ----------------------------------------------------------

    /// Every path of the root with its record and digest, as `walk` says:
    /// ignore rules applied, digests reused from `walk.previous` where the
    /// record still holds, the foreign folders not entered.
    fn scan(&self, walk: &Walk) -> Scan;

    /// Only the subtrees in `dirty` (paths a watcher saw change; `""` is the
    /// whole root), every other record taken from `walk.previous`, which must
    /// be the index's view of this root.
    fn rescan(&self, walk: &Walk, dirty: &[String]) -> Scan;

    // ---- reading -----------------------------------------------------------

    /// The current state of `rel` (no digest), or none if it is absent;
    /// `""` is the root folder itself.
    fn stat(&self, rel: &str) -> io::Result<Option<Record>>;

    /// Open the regular file `rel` for reading.
    fn open_file(&self, rel: &str) -> io::Result<Opened>;

    /// The owner (uid, gid) of `rel`.
    fn owner(&self, rel: &str) -> io::Result<Option<(u32, u32)>>;

    /// The target of the symlink `rel`, as bytes.
    fn read_link(&self, rel: &str) -> io::Result<Vec<u8>>;

    /// The content digest of `rel` as it is stored now (a full read).
    fn hash(&self, rel: &str, kind: Kind) -> io::Result<Digest>;

    /// The digest of file `rel` read back from the storage itself, not from
    /// a cache of what was just written: what catches a failing or
    /// fake-capacity drive. The file must be durable already.
    fn hash_from_media(&self, rel: &str) -> io::Result<Digest>;

    /// A small file of the user's at `rel` (an ignore file), read as text;
    /// none if absent. Never a symlink, never more than `limit` bytes.
    fn read_config(&self, rel: &str, limit: u64) -> io::Result<Option<String>>;

    /// Free and total bytes where the root is stored, if known.
    fn volume(&self) -> Option<(u64, u64)>;

    // ---- writing -----------------------------------------------------------

    /// Remove what interrupted runs left staged: copies never committed.
    fn clean_staging(&self) -> io::Result<()>;

    /// Write `from` (content of another root, owned there by `owner`) to
    /// this root's staging area for `rel`, with `mode` and `mtime_ns`
    /// applied; setuid and setgid are kept only where the copy's owner is
    /// the original's. Not yet durable: see [`Location::sync`]. `written`
    /// is told the bytes as they are written, for progress displays.
    fn stage_file(
        &self,
        from: &mut Reader,
        owner: (u32, u32),
        rel: &str,
        mode: u32,
        mtime_ns: i64,
        written: &(dyn Fn(u64) + Sync),
    ) -> io::Result<Staged>;

    /// Make everything written so far durable.
    fn sync(&self) -> io::Result<()>;

    /// Put a staged file in place of `expected`, what the caller last saw at
    /// the target (`None`: nothing). The version it replaces goes to the
    /// trash of `generation`; if the target is not `expected` any more,
    /// nothing is replaced. Returns where the old version went.
    fn commit(
        &self,
        staged: Staged,
        generation: i64,
        expected: Option<&Record>,
    ) -> Result<Option<String>, CommitError>;

    /// Drop a staged file that will not be committed.
    fn discard(&self, staged: Staged);

    /// Create folder `rel` (and its parents) as a private folder; its own
    /// mode comes with [`Location::set_mode`] once its content is written. A
    /// file or symlink in its way goes to the trash first (returned).
    fn make_dir(&self, rel: &str, generation: i64) -> io::Result<Option<String>>;

    /// Create symlink `rel` as `link` says, replacing `expected` as
    /// [`Location::commit`] does.
    fn make_symlink(
        &self,
        link: &Link,
        rel: &str,
        generation: i64,
        expected: Option<&Record>,
    ) -> Result<Option<String>, CommitError>;

    /// Give the file `rel`, still `expected`, the metadata of a copy (its
    /// content is the original's already): `mode` as
    /// [`Location::stage_file`] keeps it, `mtime_ns`, and as root `owner`.
    fn set_metadata(
        &self,
        rel: &str,
        expected: &Record,
        mode: u32,
        mtime_ns: i64,
        owner: (u32, u32),
    ) -> Result<(), CommitError>;

    /// Set the mtime of `rel` (a symlink's own, never its target's; `""`:
    /// the root folder's).
    fn set_mtime(&self, rel: &str, mtime_ns: i64) -> io::Result<()>;

    /// Give folder `rel` its permission bits: `mode`, minus setuid and
    /// setgid unless the folder's owner is `owner` (the original's).
    fn set_mode(&self, rel: &str, mode: u32, owner: (u32, u32)) -> io::Result<()>;

    /// Rename `from` to `to` within this root; `to` must not exist.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;

    /// Remove a file or symlink for good (its content is safe elsewhere: an
    /// evicted or archived file whose destination copy verified).
    fn remove_file(&self, rel: &str) -> io::Result<()>;

    /// Remove folder `rel` if it is empty; false if it is not.
    fn remove_empty_dir(&self, rel: &str) -> io::Result<bool>;

    // ---- the archive manifest ----------------------------------------------

    /// Append lines to this root's archive manifest, durably.
    fn append_manifest(&self, lines: &[String]) -> io::Result<()>;

    /// The lines of this root's archive manifest (none if it has none).
    fn manifest(&self) -> io::Result<Vec<String>>;

    // ---- the trash ---------------------------------------------------------

    /// Move `rel` into the trash of `generation`; returns where it went.
    fn trash(&self, rel: &str, generation: i64) -> io::Result<String>;

    /// The newest trashed version of `rel` found in the trash itself, as
    /// (generation, where it is). Used when the index lost the record (a
    /// crash between trashing and committing).
    fn find_in_trash(&self, rel: &str) -> Option<(i64, String)>;

    /// Move a trashed version back to `rel`; what is at `rel` now goes to the
    /// trash of `generation` first (returned).
    fn untrash(&self, trashed_as: &str, rel: &str, generation: i64) -> io::Result<Option<String>>;

    /// Remove a trashed item for good (retention expired).
    fn purge(&self, trashed_as: &str) -> io::Result<()>;
}

/// Opens roots wherever they are: folders of this machine, and folders on
/// the home's paired devices through its network endpoint.
#[derive(Debug, Clone)]
pub struct Opener {
    home: std::path::PathBuf,
    devices: Vec<Device>,
}

impl Opener {
    /// An opener for the home `home`, whose paired devices are `devices`.
    pub fn new(home: &std::path::Path, devices: Vec<Device>) -> Opener {
        Opener {
            home: home.to_path_buf(),
            devices,
        }
    }

    /// The location at `place`. A root on a device keeps the listing it
    /// last sent under `listing`, and transfers with it at most `bandwidth`
    /// bytes a second; nothing crosses the network yet.
    pub fn open(
        &self,
        place: &Place,
        keep_owners: bool,
        listing: Option<ListingKey>,
        bandwidth: Option<u64>,
    ) -> io::Result<Box<dyn Location>> {
        match place {
            Place::Local(path) => Ok(Box::new(LocalRoot::open(path)?.keeping_owners(keep_owners))),
            Place::Device { device, path } => {
                let device = self.device(device)?;
                let network = crate::device::Network::of(&self.home).map_err(io::Error::other)?;
                Ok(Box::new(RemoteRoot::new(
                    network,
                    device.clone(),
                    path.clone(),
                    keep_owners,
                    listing,
                    bandwidth,
                )))
            }
        }
    }

    /// The paired device `name`.
    pub fn device(&self, name: &str) -> io::Result<&Device> {
        self.devices.iter().find(|d| d.name == name).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "no device named `{name}` is paired (`conduit device list`); pair it with \
                     `conduit device add {name} ID ADDRESS`"
                ),
            )
        })
    }

    /// The root on `side` of `c`, keeping its listing under the conduit.
    pub fn open_side(
        &self,
        c: &crate::index::Conduit,
        side: Side,
    ) -> io::Result<Box<dyn Location>> {
        let key = ListingKey {
            index: crate::index::path(&self.home),
            conduit: c.id,
            side,
        };
        let listing = (c.id != 0).then_some(key);
        self.open(c.root(side), c.keep_owner, listing, c.bandwidth)
    }
}

/// What both roots keep of files' metadata. A root that cannot be probed
/// (read-only) is taken as exact: it is not written this run anyway.
pub fn fidelity(roots: &[Box<dyn Location>; 2]) -> Fidelity {
    roots
        .iter()
        .fold(Fidelity::EXACT, |both, root| match root.fidelity() {
            Ok(f) => both.and(f),
            Err(e) => {
                tracing::warn!(%root, "cannot probe what the root keeps: {e}");
                both
            }
        })
}

/// The `.conduitignore` of each root that has one.
pub fn ignore_files(roots: &[&dyn Location]) -> anyhow::Result<Vec<IgnoreFile>> {
    let mut files = Vec::new();
    for root in roots {
        let origin = std::path::PathBuf::from(format!("{root}/{IGNORE_FILE}"));
        let text = root
            .read_config(IGNORE_FILE, IGNORE_FILE_LIMIT)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", origin.display()))?;
        if let Some(text) = text {
            files.push(IgnoreFile { origin, text });
        }
    }
    Ok(files)
}

/// Content being read from a root. A local file keeps its type, so a copy
/// between two local folders takes the kernel's fast path
/// (`copy_file_range`); any other location streams.
pub enum Reader {
    /// A file on this machine.
    File(File),
    /// Content arriving from elsewhere.
    Stream(Box<dyn Read + Send>),
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            Reader::File(file) => f.debug_tuple("File").field(file).finish(),
            Reader::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// A regular file opened for reading, with its state as the open file sees
/// it (not as its path did a moment earlier).
#[derive(Debug)]
pub struct Opened {
    /// The content.
    pub reader: Reader,
    /// Its state (no digest).
    pub record: Record,
    /// Its owner (uid, gid).
    pub owner: (u32, u32),
}

/// A copy written to a location's staging area, not yet committed; it
/// belongs to the location that staged it.
#[derive(Debug)]
pub struct Staged {
    /// The location's name for the staged copy.
    token: String,
    /// The target path, relative to the root.
    pub rel: String,
}

impl Staged {
    pub(crate) fn new(token: String, rel: &str) -> Staged {
        Staged {
            token,
            rel: rel.to_string(),
        }
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }
}

/// A symlink to write: its target and what it keeps of the original.
#[derive(Debug, Clone)]
pub struct Link {
    /// Where the link points, as bytes.
    pub target: Vec<u8>,
    /// The link's own mtime.
    pub mtime_ns: i64,
    /// The original's owner (kept when running as root).
    pub owner: (u32, u32),
}

/// Why a commit did not happen.
#[derive(Debug)]
pub enum CommitError {
    /// The target is not what the caller expected (changed since the scan):
    /// nothing was replaced.
    Changed,
    /// The location refused.
    Io(io::Error),
}

impl From<io::Error> for CommitError {
    fn from(e: io::Error) -> CommitError {
        CommitError::Io(e)
    }
}

impl std::fmt::Display for CommitError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            CommitError::Changed => write!(f, "the target changed since the scan"),
            CommitError::Io(e) => write!(f, "{e}"),
        }
    }
}
