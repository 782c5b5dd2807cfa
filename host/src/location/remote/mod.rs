//! A root on a paired device: every [`Location`] operation becomes a request
//! that the device carries out on its own folder ([`far`]), over the
//! connection of [`crate::device::Network`].
//!
//! Content moves from the side that has it: a copy to the device is pushed
//! in checked chunks and staged there; its validation (`hash_from_media`)
//! is the BLAKE3 the device read back from its own disk, so the executor's
//! commit-then-verify holds across the network unchanged. A dropped
//! connection is dialled again and the transfer goes on from what arrived.
//! The device scans its own root and answers with the difference from the
//! listing this home holds, so only changed entries cross on later runs.

pub mod far;
mod wire;

pub use wire::is_cut;

use std::io::{self, Read, Seek};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use iroh::endpoint::RecvStream;

use super::{CommitError, Link, Location, Opened, Reader, Staged};
use crate::device::{Device, Network};
use crate::index::{Index, Record};
use crate::scan::{Scan, Walk};
use conduit_contract::{Digest, Fidelity, Kind, Side};
use wire::{Answer, Failure, Op, Reply, Request, WireRecord};

/// How often a request or transfer cut off by the network is tried again.
const ATTEMPTS: u32 = 6;

/// Where a conduit keeps the listing it last received of this root.
#[derive(Debug, Clone)]
pub struct ListingKey {
    /// The home's index.
    pub index: PathBuf,
    /// The conduit.
    pub conduit: i64,
    /// Its side this root is.
    pub side: Side,
}

/// A folder on a paired device.
pub struct RemoteRoot {
    network: Arc<Network>,
    device: Device,
    path: PathBuf,
    keep_owners: bool,
    listing: Option<ListingKey>,
    limiter: Option<Arc<Limiter>>,
}

/// A conduit's bandwidth limit, shared by its transfers with a device: each
/// chunk waits for its share of the rate.
#[derive(Debug)]
struct Limiter {
    bytes_per_second: u64,
    /// When the bytes handed out so far have been paid for.
    paid_until: std::sync::Mutex<std::time::Instant>,
}

impl Limiter {
    /// How long to wait before sending `bytes`.
    fn delay(&self, bytes: u64) -> Duration {
        let cost = Duration::from_secs_f64(bytes as f64 / self.bytes_per_second as f64);
        let now = std::time::Instant::now();
        let mut paid = self.paid_until.lock().unwrap();
        let start = (*paid).max(now);
        *paid = start + cost;
        start - now
    }
}

impl std::fmt::Debug for RemoteRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "RemoteRoot({self})")
    }
}

impl std::fmt::Display for RemoteRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}:{}", self.device.name, self.path.display())
    }
}

impl RemoteRoot {
    /// The folder `path` on `device`. Nothing crosses the network yet.
    pub fn new(
        network: Arc<Network>,
        device: Device,
        path: PathBuf,
        keep_owners: bool,
        listing: Option<ListingKey>,
        bandwidth: Option<u64>,
    ) -> RemoteRoot {
        RemoteRoot {
            network,
            device,
            path,
            keep_owners,
            listing,
            limiter: bandwidth.map(|bytes_per_second| {
                Arc::new(Limiter {
                    bytes_per_second,
                    paid_until: std::sync::Mutex::new(std::time::Instant::now()),
                })
            }),
        }
    }

    fn request(&self, op: Op) -> Request {
        Request {
            root: self.path.display().to_string(),
            keep_owners: self.keep_owners,
            op,
        }
    }

    /// Ask the device. A request that could not be sent (a stale
    /// connection), or one that only reads whose answer was lost, is asked
    /// again on a new connection; one that changes something never is.
    fn call(&self, op: Op) -> io::Result<Reply> {
        let repeatable = op.reads_only();
        let request = self.request(op);
        let mut tries = 0;
        loop {
            let mut sent = false;
            let answer: io::Result<Answer> = self.network.block_on(async {
                let connection = self.network.connect(&self.device).await?;
                let (mut send, mut recv) = connection
                    .open_bi()
                    .await
                    .map_err(|e| io::Error::new(io::ErrorKind::ConnectionAborted, e.to_string()))?;
                wire::send(&mut send, &request).await?;
                send.finish()
                    .map_err(|e| io::Error::new(io::ErrorKind::ConnectionAborted, e.to_string()))?;
                sent = true;
                wire::receive(&mut recv).await
            });
            match answer {
                Ok(answer) => return answer.map_err(|f| f.into_io(&self.device.name)),
                Err(e) if tries == 0 && wire::is_cut(&e) && (!sent || repeatable) => {
                    tracing::debug!(device = %self.device.name, "asking again: {e}");
                    self.network.drop_connection(&self.device);
                    tries += 1;
                }
                Err(e) => return Err(self.explain(e)),
            }
        }
    }

    fn explain(&self, e: io::Error) -> io::Error {
        if let Some(why) = self.network.closed_why(&self.device)
            && why.contains("not paired")
        {
            return io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "device {} refused this home: it is not paired there; pair it on {} with \
                     `conduit device add NAME {}`",
                    self.device.name,
                    self.device.name,
                    self.network.own_id()
                ),
            );
        }
        if e.to_string().contains(&self.device.name) {
            return e;
        }
        io::Error::new(
            e.kind(),
            format!(
                "device {} ({}): {e}",
                self.device.name,
                self.device.id.short()
            ),
        )
    }

    fn unexpected(&self, reply: Reply) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "device {} answered out of turn: {reply:?}",
                self.device.name
            ),
        )
    }

    fn text(&self, op: Op) -> io::Result<Option<String>> {
        match self.call(op)? {
            Reply::Text { text } => Ok(text),
            other => Err(self.unexpected(other)),
        }
    }

    fn done(&self, op: Op) -> io::Result<()> {
        match self.call(op)? {
            Reply::Done => Ok(()),
            other => Err(self.unexpected(other)),
        }
    }

    fn moved(&self, op: Op) -> Result<Option<String>, CommitError> {
        match self.call_commit(op)? {
            Reply::Moved { to } => Ok(to),
            other => Err(CommitError::Io(self.unexpected(other))),
        }
    }

    /// [`RemoteRoot::call`] for operations that may find the target changed.
    fn call_commit(&self, op: Op) -> Result<Reply, CommitError> {
        let request = self.request(op);
        let answer: io::Result<Answer> = self.network.block_on(async {
            let connection = self.network.connect(&self.device).await?;
            let (mut send, mut recv) = connection.open_bi().await.map_err(io::Error::other)?;
            wire::send(&mut send, &request).await?;
            send.finish().map_err(io::Error::other)?;
            wire::receive(&mut recv).await
        });
        match answer.map_err(|e| self.explain(e))? {
            Ok(reply) => Ok(reply),
            Err(Failure::Changed) => Err(CommitError::Changed),
            Err(f) => Err(CommitError::Io(f.into_io(&self.device.name))),
        }
    }

    fn digest(&self, op: Op) -> io::Result<Digest> {
        match self.call(op)? {
            Reply::Digest { digest } => Ok(digest),
            other => Err(self.unexpected(other)),
        }
    }

    fn try_scan(&self, walk: &Walk) -> anyhow::Result<Scan> {
        let index = match &self.listing {
            Some(key) => Some((Index::open(&key.index)?, key)),
            None => None,
        };
        let held = match &index {
            Some((index, key)) => index.remote_listing(key.conduit, key.side)?,
            None => None,
        };
        let (globs, files) = walk.rules.source();
        let op = Op::Scan {
            globs: globs.to_vec(),
            files: files.to_vec(),
            since: held.as_ref().map(|(token, _)| token.clone()),
        };
        let listing = match self.call(op)? {
            Reply::Listing(listing) => *listing,
            other => return Err(self.unexpected(other).into()),
        };
        let mut records = match (&listing.base, held) {
            (Some(base), Some((token, bytes))) if *base == token => wire::decode_records(&bytes)?,
            (None, _) => Default::default(),
            (Some(_), _) => anyhow::bail!(
                "device {} sent changes to a listing this home does not hold",
                self.device.name
            ),
        };
        for path in &listing.removed {
            records.remove(path);
        }
        for (path, record) in listing.changed {
            records.insert(path, Record::from(record));
        }
        if let Some((index, key)) = &index {
            index.device_seen(&self.device.id)?;
            index.put_remote_listing(
                key.conduit,
                key.side,
                &listing.token,
                &wire::encode_records(&records),
            )?;
        }
        walk.progress
            .entries
            .fetch_add(records.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(Scan {
            records,
            errors: listing.errors,
            bad_names: listing.bad_names,
            special: listing.special,
            overlaps: listing.overlaps,
            hashed_files: listing.hashed_files,
            hashed_bytes: listing.hashed_bytes,
        })
    }

    /// Push `from` once over a new stream, from where the device says the
    /// transfer stands; the staging token, or why not.
    async fn push(
        &self,
        transfer: &str,
        from: &mut Reader,
        at: &mut u64,
        meta: (&str, (u32, u32), u32, i64),
        written: &(dyn Fn(u64) + Sync),
        reported: &mut u64,
    ) -> Result<String, Pushed> {
        let (rel, owner, mode, mtime_ns) = meta;
        let request = self.request(Op::Stage {
            transfer: transfer.to_string(),
            owner,
            rel: rel.to_string(),
            mode,
            mtime_ns,
        });
        let network = |e: io::Error| Pushed::Cut(e);
        let connection = self.network.connect(&self.device).await.map_err(network)?;
        let (mut send, mut recv) = connection
            .open_bi()
            .await
            .map_err(|e| network(io::Error::other(e)))?;
        wire::send(&mut send, &request).await.map_err(network)?;
        let ready: Answer = wire::receive(&mut recv).await.map_err(network)?;
        let offset = match ready {
            Ok(Reply::Ready { offset }) => offset,
            Ok(other) => return Err(Pushed::Refused(self.unexpected(other))),
            Err(f) => return Err(Pushed::Refused(f.into_io(&self.device.name))),
        };
        if offset != *at {
            match from {
                Reader::File(file) => {
                    file.seek(io::SeekFrom::Start(offset))
                        .map_err(Pushed::Refused)?;
                }
                Reader::Stream(_) => {
                    return Err(Pushed::Refused(io::Error::other(
                        "a transfer from a stream cannot go on where it stopped",
                    )));
                }
            }
            *at = offset;
        }
        let mut chunk = vec![0u8; wire::CHUNK];
        loop {
            let n = match from {
                Reader::File(file) => far::read_full(file, &mut chunk),
                Reader::Stream(stream) => far::read_full(stream, &mut chunk),
            }
            .map_err(Pushed::Refused)?;
            if let Some(limiter) = &self.limiter {
                tokio::time::sleep(limiter.delay(n as u64)).await;
            }
            let digest = *blake3::hash(&chunk[..n]).as_bytes();
            if n > 0 && crate::testhook::fault("device:send-chunk") {
                chunk[0] ^= 0xff;
            }
            wire::send_chunk(&mut send, &chunk[..n], &digest)
                .await
                .map_err(network)?;
            if n == 0 {
                break;
            }
            *at += n as u64;
            if *at > *reported {
                written(*at - *reported);
                *reported = *at;
            }
        }
        send.finish().map_err(|e| network(io::Error::other(e)))?;
        let answer: Answer = wire::receive(&mut recv).await.map_err(network)?;
        match answer {
            Ok(Reply::Staged { token }) => Ok(token),
            Ok(other) => Err(Pushed::Refused(self.unexpected(other))),
            Err(Failure::Damaged { offset }) => Err(Pushed::Damaged(offset)),
            Err(f) => Err(Pushed::Refused(f.into_io(&self.device.name))),
        }
    }
}

/// How one push ended, if not staged.
enum Pushed {
    /// The connection broke: dial again and go on.
    Cut(io::Error),
    /// A chunk arrived damaged from `offset`: send again from there.
    Damaged(u64),
    /// The device refused, or the source failed: give up.
    Refused(io::Error),
}

/// A fresh random name (a listing's token, a transfer's name).
fn fresh_token() -> io::Result<String> {
    let mut bytes = [0u8; 16];
    rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty())?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A file's content arriving from the device, chunk by chunk, each checked.
struct Arriving {
    network: Arc<Network>,
    limiter: Option<Arc<Limiter>>,
    device: String,
    recv: RecvStream,
    chunk: Vec<u8>,
    at: usize,
    ended: bool,
}

impl Read for Arriving {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.chunk.len() {
            if self.ended {
                return Ok(0);
            }
            let next = self.network.block_on(wire::receive_chunk(&mut self.recv));
            match next.map_err(|e| {
                io::Error::new(e.kind(), format!("from device {}: {e}", self.device))
            })? {
                Some(chunk) => {
                    if let Some(limiter) = &self.limiter {
                        std::thread::sleep(limiter.delay(chunk.len() as u64));
                    }
                    (self.chunk, self.at) = (chunk, 0)
                }
                None => {
                    self.ended = true;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl Location for RemoteRoot {
    fn identity(&self) -> io::Result<Option<(u64, u64)>> {
        Ok(None)
    }

    fn fidelity(&self) -> io::Result<Fidelity> {
        match self.call(Op::Fidelity)? {
            Reply::Fidelity {
                mtime_step_ns,
                modes,
                setid,
            } => Ok(Fidelity {
                mtime_step_ns,
                modes,
                setid,
            }),
            other => Err(self.unexpected(other)),
        }
    }

    fn marker(&self) -> io::Result<Option<String>> {
        self.text(Op::Marker)
    }

    fn ensure_marker(&self) -> io::Result<String> {
        self.text(Op::EnsureMarker)?
            .ok_or_else(|| self.unexpected(Reply::Text { text: None }))
    }

    fn scan(&self, walk: &Walk) -> Scan {
        self.try_scan(walk).unwrap_or_else(|e| Scan {
            errors: vec![(String::new(), format!("{e:#}"))],
            ..Scan::default()
        })
    }

    fn rescan(&self, walk: &Walk, _dirty: &[String]) -> Scan {
        // Nothing here watches the device's folder: every run asks it.
        self.scan(walk)
    }

    fn stat(&self, rel: &str) -> io::Result<Option<Record>> {
        match self.call(Op::Stat { rel: rel.into() })? {
            Reply::Record { record } => Ok(record.map(Record::from)),
            other => Err(self.unexpected(other)),
        }
    }

    fn open_file(&self, rel: &str) -> io::Result<Opened> {
        let request = self.request(Op::OpenFile { rel: rel.into() });
        let (answer, recv) = self
            .network
            .block_on(async {
                let connection = self.network.connect(&self.device).await?;
                let (mut send, mut recv) = connection.open_bi().await.map_err(io::Error::other)?;
                wire::send(&mut send, &request).await?;
                send.finish().map_err(io::Error::other)?;
                let answer: Answer = wire::receive(&mut recv).await?;
                io::Result::Ok((answer, recv))
            })
            .map_err(|e| self.explain(e))?;
        match answer.map_err(|f| f.into_io(&self.device.name))? {
            Reply::Opened { record, owner } => Ok(Opened {
                reader: Reader::Stream(Box::new(Arriving {
                    network: self.network.clone(),
                    limiter: self.limiter.clone(),
                    device: self.device.name.clone(),
                    recv,
                    chunk: Vec::new(),
                    at: 0,
                    ended: false,
                })),
                record: record.into(),
                owner,
            }),
            other => Err(self.unexpected(other)),
        }
    }

    fn owner(&self, rel: &str) -> io::Result<Option<(u32, u32)>> {
        match self.call(Op::Owner { rel: rel.into() })? {
            Reply::Owner { owner } => Ok(owner),
            other => Err(self.unexpected(other)),
        }
    }

    fn read_link(&self, rel: &str) -> io::Result<Vec<u8>> {
        match self.call(Op::ReadLink { rel: rel.into() })? {
            Reply::Bytes { bytes } => Ok(bytes),
            other => Err(self.unexpected(other)),
        }
    }

    fn hash(&self, rel: &str, kind: Kind) -> io::Result<Digest> {
        self.digest(Op::Hash {
            rel: rel.into(),
            kind: kind.into(),
        })
    }

    fn hash_from_media(&self, rel: &str) -> io::Result<Digest> {
        self.digest(Op::HashFromMedia { rel: rel.into() })
    }

    fn read_config(&self, rel: &str, limit: u64) -> io::Result<Option<String>> {
        self.text(Op::ReadConfig {
            rel: rel.into(),
            limit,
        })
    }

    fn volume(&self) -> Option<(u64, u64)> {
        match self.call(Op::Volume) {
            Ok(Reply::Volume { volume }) => volume,
            _ => None,
        }
    }

    fn clean_staging(&self) -> io::Result<()> {
        self.done(Op::CleanStaging)
    }

    fn stage_file(
        &self,
        from: &mut Reader,
        owner: (u32, u32),
        rel: &str,
        mode: u32,
        mtime_ns: i64,
        written: &(dyn Fn(u64) + Sync),
    ) -> io::Result<Staged> {
        let transfer = fresh_token()?;
        let (mut at, mut reported) = (0, 0);
        let mut tries = 0;
        loop {
            let pushed = self.network.block_on(self.push(
                &transfer,
                from,
                &mut at,
                (rel, owner, mode, mtime_ns),
                written,
                &mut reported,
            ));
            let why = match pushed {
                Ok(token) => return Ok(Staged::new(token, rel)),
                Err(Pushed::Refused(e)) => return Err(self.explain(e)),
                Err(Pushed::Cut(e)) => {
                    self.network.drop_connection(&self.device);
                    e
                }
                Err(Pushed::Damaged(offset)) => io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a chunk from offset {offset} arrived damaged"),
                ),
            };
            tries += 1;
            if tries == ATTEMPTS {
                return Err(self.explain(why));
            }
            tracing::warn!(device = %self.device.name, %rel, "sending again after: {why}");
            std::thread::sleep(Duration::from_millis(200 << tries.min(5)));
        }
    }

    fn sync(&self) -> io::Result<()> {
        self.done(Op::Sync)
    }

    fn commit(
        &self,
        staged: Staged,
        generation: i64,
        expected: Option<&Record>,
    ) -> Result<Option<String>, CommitError> {
        self.moved(Op::Commit {
            token: staged.token().to_string(),
            rel: staged.rel.clone(),
            generation,
            expected: expected.map(WireRecord::from),
        })
    }

    fn discard(&self, staged: Staged) {
        let op = Op::Discard {
            token: staged.token().to_string(),
            rel: staged.rel.clone(),
        };
        if let Err(e) = self.done(op) {
            tracing::warn!(root = %self, "cannot discard a staged copy: {e}");
        }
    }

    fn make_dir(&self, rel: &str, generation: i64) -> io::Result<Option<String>> {
        match self.call(Op::MakeDir {
            rel: rel.into(),
            generation,
        })? {
            Reply::Moved { to } => Ok(to),
            other => Err(self.unexpected(other)),
        }
    }

    fn make_symlink(
        &self,
        link: &Link,
        rel: &str,
        generation: i64,
        expected: Option<&Record>,
    ) -> Result<Option<String>, CommitError> {
        self.moved(Op::MakeSymlink {
            target: link.target.clone(),
            mtime_ns: link.mtime_ns,
            owner: link.owner,
            rel: rel.into(),
            generation,
            expected: expected.map(WireRecord::from),
        })
    }

    fn set_metadata(
        &self,
        rel: &str,
        expected: &Record,
        mode: u32,
        mtime_ns: i64,
        owner: (u32, u32),
    ) -> Result<(), CommitError> {
        match self.call_commit(Op::SetMetadata {
            rel: rel.into(),
            expected: expected.into(),
            mode,
            mtime_ns,
            owner,
        })? {
            Reply::Done => Ok(()),
            other => Err(CommitError::Io(self.unexpected(other))),
        }
    }

    fn set_mtime(&self, rel: &str, mtime_ns: i64) -> io::Result<()> {
        self.done(Op::SetMtime {
            rel: rel.into(),
            mtime_ns,
        })
    }

    fn set_mode(&self, rel: &str, mode: u32, owner: (u32, u32)) -> io::Result<()> {
        self.done(Op::SetMode {
            rel: rel.into(),
            mode,
            owner,
        })
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        self.done(Op::Rename {
            from: from.into(),
            to: to.into(),
        })
    }

    fn remove_file(&self, rel: &str) -> io::Result<()> {
        self.done(Op::RemoveFile { rel: rel.into() })
    }

    fn remove_empty_dir(&self, rel: &str) -> io::Result<bool> {
        match self.call(Op::RemoveEmptyDir { rel: rel.into() })? {
            Reply::Bool { value } => Ok(value),
            other => Err(self.unexpected(other)),
        }
    }

    fn append_manifest(&self, lines: &[String]) -> io::Result<()> {
        self.done(Op::AppendManifest {
            lines: lines.to_vec(),
        })
    }

    fn manifest(&self) -> io::Result<Vec<String>> {
        match self.call(Op::Manifest)? {
            Reply::Texts { lines } => Ok(lines),
            other => Err(self.unexpected(other)),
        }
    }

    fn trash(&self, rel: &str, generation: i64) -> io::Result<String> {
        match self.call(Op::Trash {
            rel: rel.into(),
            generation,
        })? {
            Reply::Moved { to: Some(to) } => Ok(to),
            other => Err(self.unexpected(other)),
        }
    }

    fn find_in_trash(&self, rel: &str) -> Option<(i64, String)> {
        match self.call(Op::FindInTrash { rel: rel.into() }) {
            Ok(Reply::Trashed { at }) => at,
            _ => None,
        }
    }

    fn untrash(&self, trashed_as: &str, rel: &str, generation: i64) -> io::Result<Option<String>> {
        match self.call(Op::Untrash {
            trashed_as: trashed_as.into(),
            rel: rel.into(),
            generation,
        })? {
            Reply::Moved { to } => Ok(to),
            other => Err(self.unexpected(other)),
        }
    }

    fn purge(&self, trashed_as: &str) -> io::Result<()> {
        self.done(Op::Purge {
            trashed_as: trashed_as.into(),
        })
    }
}
