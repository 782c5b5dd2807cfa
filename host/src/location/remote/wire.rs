//! What crosses the network between a home and the device holding one of
//! its roots: one request per QUIC stream, as a length-prefixed JSON header,
//! then for content a run of chunks, each with its BLAKE3 so a damaged chunk
//! is caught and sent again rather than written.

use std::io;

use iroh::endpoint::{RecvStream, SendStream};
use serde::{Deserialize, Serialize};

use crate::index::Record;
use crate::scan::IgnoreFile;
use conduit_contract::{Digest, Fidelity, Kind};

/// Content crosses in chunks of this size (the last may be shorter).
pub const CHUNK: usize = 1 << 20;

/// No header is larger (a listing of a few million paths fits).
const HEADER_LIMIT: usize = 1 << 30;

/// A request about one root of the serving device.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    /// The root, an absolute path on the serving device.
    pub root: String,
    /// Copies get the original's owner (as root).
    pub keep_owners: bool,
    /// What to do there.
    pub op: Op,
}

/// One [`crate::location::Location`] operation; the names are the trait's.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "op")]
pub enum Op {
    Fidelity,
    Marker,
    EnsureMarker,
    Scan {
        globs: Vec<String>,
        files: Vec<IgnoreFile>,
        /// The token of the listing this home holds, if any: the answer is
        /// then the difference from it.
        since: Option<String>,
    },
    Stat {
        rel: String,
    },
    OpenFile {
        rel: String,
    },
    Owner {
        rel: String,
    },
    ReadLink {
        rel: String,
    },
    Hash {
        rel: String,
        kind: WireKind,
    },
    HashFromMedia {
        rel: String,
    },
    ReadConfig {
        rel: String,
        limit: u64,
    },
    Volume,
    CleanStaging,
    /// Followed by chunks, after the answer [`Reply::Ready`].
    Stage {
        /// Names the transfer, so that after a dropped connection it goes on
        /// where it stopped.
        transfer: String,
        owner: (u32, u32),
        rel: String,
        mode: u32,
        mtime_ns: i64,
    },
    Sync,
    Commit {
        token: String,
        rel: String,
        generation: i64,
        expected: Option<WireRecord>,
    },
    Discard {
        token: String,
        rel: String,
    },
    MakeDir {
        rel: String,
        generation: i64,
    },
    MakeSymlink {
        target: Vec<u8>,
        mtime_ns: i64,
        owner: (u32, u32),
        rel: String,
        generation: i64,
        expected: Option<WireRecord>,
    },
    SetMetadata {
        rel: String,
        expected: WireRecord,
        mode: u32,
        mtime_ns: i64,
        owner: (u32, u32),
    },
    SetMtime {
        rel: String,
        mtime_ns: i64,
    },
    SetMode {
        rel: String,
        mode: u32,
        owner: (u32, u32),
    },
    Rename {
        from: String,
        to: String,
    },
    RemoveFile {
        rel: String,
    },
    RemoveEmptyDir {
        rel: String,
    },
    AppendManifest {
        lines: Vec<String>,
    },
    Manifest,
    Trash {
        rel: String,
        generation: i64,
    },
    FindInTrash {
        rel: String,
    },
    Untrash {
        trashed_as: String,
        rel: String,
        generation: i64,
    },
    Purge {
        trashed_as: String,
    },
}

impl Op {
    /// Asking again changes nothing: the request may be repeated when its
    /// answer was lost with the connection.
    pub fn reads_only(&self) -> bool {
        matches!(
            self,
            Op::Fidelity
                | Op::Marker
                | Op::Scan { .. }
                | Op::Stat { .. }
                | Op::Owner { .. }
                | Op::ReadLink { .. }
                | Op::Hash { .. }
                | Op::HashFromMedia { .. }
                | Op::ReadConfig { .. }
                | Op::Volume
                | Op::Manifest
                | Op::FindInTrash { .. }
        )
    }
}

/// The answer to a request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reply")]
pub enum Reply {
    Done,
    Fidelity {
        mtime_step_ns: i64,
        modes: bool,
        setid: bool,
    },
    Text {
        text: Option<String>,
    },
    Texts {
        lines: Vec<String>,
    },
    Bytes {
        bytes: Vec<u8>,
    },
    Record {
        record: Option<WireRecord>,
    },
    Digest {
        digest: Digest,
    },
    Owner {
        owner: Option<(u32, u32)>,
    },
    Volume {
        volume: Option<(u64, u64)>,
    },
    Bool {
        value: bool,
    },
    Trashed {
        at: Option<(i64, String)>,
    },
    Moved {
        to: Option<String>,
    },
    /// An open file: its state, then its content as chunks.
    Opened {
        record: WireRecord,
        owner: (u32, u32),
    },
    /// Send the content from this offset (what arrived already, checked).
    Ready {
        offset: u64,
    },
    /// The transfer is staged under this token.
    Staged {
        token: String,
    },
    Listing(Box<Listing>),
}

/// A scan's result, whole or as the difference from the listing `base`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Listing {
    /// The token of this listing.
    pub token: String,
    /// The listing the difference applies to; none: `changed` is all.
    pub base: Option<String>,
    pub changed: Vec<(String, WireRecord)>,
    pub removed: Vec<String>,
    pub errors: Vec<(String, String)>,
    pub bad_names: Vec<String>,
    pub special: Vec<String>,
    pub overlaps: Vec<(String, String)>,
    pub hashed_files: u64,
    pub hashed_bytes: u64,
}

/// Why a request failed.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "error")]
pub enum Failure {
    /// The target changed since the scan (a commit's `expected`).
    Changed,
    /// A chunk from this offset on arrived damaged: send it again.
    Damaged { offset: u64 },
    /// The operation failed there.
    Io {
        message: String,
        errno: Option<i32>,
        not_found: bool,
    },
}

impl Failure {
    /// The failure of `e`, as the far end saw it.
    pub fn io(e: &io::Error) -> Failure {
        Failure::Io {
            message: e.to_string(),
            errno: e.raw_os_error(),
            not_found: e.kind() == io::ErrorKind::NotFound,
        }
    }

    /// As an error on this side, naming the device.
    pub fn into_io(self, device: &str) -> io::Error {
        match self {
            Failure::Io {
                errno: Some(n),
                message,
                ..
            } => io::Error::new(
                io::Error::from_raw_os_error(n).kind(),
                format!("on device {device}: {message}"),
            ),
            Failure::Io {
                not_found: true,
                message,
                ..
            } => io::Error::new(
                io::ErrorKind::NotFound,
                format!("on device {device}: {message}"),
            ),
            Failure::Io { message, .. } => {
                io::Error::other(format!("on device {device}: {message}"))
            }
            Failure::Changed => io::Error::other(format!("on device {device}: the target changed")),
            Failure::Damaged { offset } => io::Error::new(
                io::ErrorKind::InvalidData,
                format!("content from offset {offset} arrived damaged from device {device}"),
            ),
        }
    }
}

/// [`Kind`] by its contract name.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireKind {
    File,
    Directory,
    Symlink,
}

impl From<Kind> for WireKind {
    fn from(k: Kind) -> WireKind {
        match k {
            Kind::File => WireKind::File,
            Kind::Directory => WireKind::Directory,
            Kind::Symlink => WireKind::Symlink,
        }
    }
}

impl From<WireKind> for Kind {
    fn from(k: WireKind) -> Kind {
        match k {
            WireKind::File => Kind::File,
            WireKind::Directory => Kind::Directory,
            WireKind::Symlink => Kind::Symlink,
        }
    }
}

/// A [`Record`] on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WireRecord {
    pub kind: WireKind,
    pub size: u64,
    pub mtime_ns: i64,
    pub mode: u32,
    pub inode: u64,
    pub digest: Option<Digest>,
    pub atime_ns: i64,
}

impl From<&Record> for WireRecord {
    fn from(r: &Record) -> WireRecord {
        WireRecord {
            kind: r.kind.into(),
            size: r.size,
            mtime_ns: r.mtime_ns,
            mode: r.mode,
            inode: r.inode,
            digest: r.digest,
            atime_ns: r.atime_ns,
        }
    }
}

impl From<WireRecord> for Record {
    fn from(r: WireRecord) -> Record {
        Record {
            kind: r.kind.into(),
            size: r.size,
            mtime_ns: r.mtime_ns,
            mode: r.mode,
            inode: r.inode,
            digest: r.digest,
            atime_ns: r.atime_ns,
        }
    }
}

impl From<Fidelity> for Reply {
    fn from(f: Fidelity) -> Reply {
        Reply::Fidelity {
            mtime_step_ns: f.mtime_step_ns,
            modes: f.modes,
            setid: f.setid,
        }
    }
}

/// The answer a request gets.
pub type Answer = Result<Reply, Failure>;

/// A stream that failed: the connection under it is gone.
fn cut(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, e.to_string())
}

/// Whether `e` is the network's failure rather than the request's.
pub fn is_cut(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotConnected
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::TimedOut
    )
}

/// Send one header.
pub async fn send<T: Serialize>(to: &mut SendStream, header: &T) -> io::Result<()> {
    let bytes = serde_json::to_vec(header).map_err(io::Error::other)?;
    to.write_all(&(bytes.len() as u32).to_be_bytes())
        .await
        .map_err(cut)?;
    to.write_all(&bytes).await.map_err(cut)
}

/// Receive one header.
pub async fn receive<T: for<'de> Deserialize<'de>>(from: &mut RecvStream) -> io::Result<T> {
    let mut len = [0u8; 4];
    from.read_exact(&mut len).await.map_err(cut)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > HEADER_LIMIT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a header too large",
        ));
    }
    let mut bytes = vec![0u8; len];
    from.read_exact(&mut bytes).await.map_err(cut)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a garbled message: {e}"),
        )
    })
}

/// Send one chunk (empty: the end of the content) with its digest.
pub async fn send_chunk(to: &mut SendStream, chunk: &[u8], digest: &[u8; 32]) -> io::Result<()> {
    let mut head = [0u8; 36];
    head[..4].copy_from_slice(&(chunk.len() as u32).to_be_bytes());
    head[4..].copy_from_slice(digest);
    to.write_all(&head).await.map_err(cut)?;
    to.write_all(chunk).await.map_err(cut)
}

/// Receive one chunk, checked against the digest it came with: `Ok(None)`
/// is the end of the content, `Err` with `InvalidData` a damaged chunk.
pub async fn receive_chunk(from: &mut RecvStream) -> io::Result<Option<Vec<u8>>> {
    let mut head = [0u8; 36];
    from.read_exact(&mut head).await.map_err(cut)?;
    let len = u32::from_be_bytes(head[..4].try_into().expect("4 bytes")) as usize;
    if len > CHUNK {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a chunk too large",
        ));
    }
    if len == 0 {
        return Ok(None);
    }
    let mut chunk = vec![0u8; len];
    from.read_exact(&mut chunk).await.map_err(cut)?;
    if blake3::hash(&chunk).as_bytes() != &head[4..] {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "a chunk arrived damaged",
        ));
    }
    Ok(Some(chunk))
}

/// A root's records, as a listing is kept.
pub fn encode_records(records: &std::collections::HashMap<String, Record>) -> Vec<u8> {
    let list: Vec<(&String, WireRecord)> = records.iter().map(|(p, r)| (p, r.into())).collect();
    serde_json::to_vec(&list).expect("records serialize")
}

/// Records kept by [`encode_records`].
pub fn decode_records(bytes: &[u8]) -> anyhow::Result<std::collections::HashMap<String, Record>> {
    let list: Vec<(String, WireRecord)> = serde_json::from_slice(bytes)?;
    Ok(list.into_iter().map(|(p, r)| (p, r.into())).collect())
}
