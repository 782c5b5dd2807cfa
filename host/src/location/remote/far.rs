//! The far end: a serving home answering its paired devices' requests about
//! its own folders. Every request is carried out on a [`LocalRoot`] here,
//! with the same confinement, staging, fsync and trash as a local run; what
//! the requester learns of a copy's content (a validation) is hashed here,
//! from this device's own disk.
//!
//! A device that is not paired, or that presents another key than the one
//! paired under its name, is refused before any request is read.

use std::collections::HashMap;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use iroh::Endpoint;
use iroh::endpoint::{Connection, RecvStream, SendStream};

use super::wire::{self, Answer, Failure, Listing, Op, Reply, Request, WireRecord};
use crate::device::{DeviceId, remote_id};
use crate::index::{Index, Record};
use crate::location::{CommitError, LocalRoot, Location, Reader, Staged};
use crate::scan::{Foreign, Progress, Rules, Walk};
use conduit_contract::check_relative_path;

/// How long a transfer cut off mid-way waits for its sender to come back.
const RESUME_WAIT: Duration = Duration::from_secs(60);

/// Answer the paired devices that connect to `endpoint`, until `stop`.
pub async fn serve(
    home: PathBuf,
    endpoint: Endpoint,
    stop: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let far = Arc::new(Far {
        index: Mutex::new(Index::open(&crate::index::path(&home))?),
        home,
        roots: Mutex::new(HashMap::new()),
        transfers: Mutex::new(HashMap::new()),
    });
    tokio::pin!(stop);
    loop {
        let incoming = tokio::select! {
            _ = &mut stop => break,
            incoming = endpoint.accept() => match incoming {
                Some(incoming) => incoming,
                None => break,
            },
        };
        let far = far.clone();
        tokio::spawn(async move {
            let connection = match incoming.await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("a device's connection failed before it was set up: {e}");
                    return;
                }
            };
            let id = remote_id(&connection);
            match far.paired(&id) {
                Ok(Some(name)) => far.answer(connection, id, name).await,
                Ok(None) => {
                    tracing::warn!(
                        device = %id,
                        address = ?connection.paths().iter().map(|p| format!("{:?}", p.remote_addr())).collect::<Vec<_>>(),
                        "refused a connection from a device that is not paired (pair it with `conduit device add NAME {id}`)"
                    );
                    connection.close(1u32.into(), b"this device is not paired here");
                }
                Err(e) => {
                    tracing::warn!("cannot read the paired devices: {e}");
                    connection.close(2u32.into(), b"the paired devices cannot be read");
                }
            }
        });
    }
    endpoint.close().await;
    Ok(())
}

struct Far {
    home: PathBuf,
    /// One connection for every request: the paired devices (read afresh
    /// for each connection) and the listings sent.
    index: Mutex<Index>,
    /// Roots opened by a request, kept for the next: a staged copy belongs
    /// to the root that staged it.
    roots: Mutex<HashMap<(String, bool), Arc<LocalRoot>>>,
    /// Transfers under way, by the sender's name for them.
    transfers: Mutex<HashMap<String, Transfer>>,
}

/// A copy being staged: the content so far went to the staging area, and
/// the writer waits for the rest, even across a dropped connection.
struct Transfer {
    chunks: std::sync::mpsc::SyncSender<Vec<u8>>,
    received: Arc<AtomicU64>,
    /// Held by the stream feeding the transfer: a sender back after a
    /// dropped connection waits until the old stream is seen to be gone.
    feeding: Arc<tokio::sync::Mutex<()>>,
    staged: Arc<tokio::sync::Mutex<Option<tokio::sync::oneshot::Receiver<io::Result<Staged>>>>>,
}

impl Far {
    fn paired(&self, id: &DeviceId) -> anyhow::Result<Option<String>> {
        let index = self.index.lock().unwrap();
        let device = index.devices()?.into_iter().find(|d| d.id == *id);
        if device.is_some() {
            index.device_seen(id)?;
        }
        Ok(device.map(|d| d.name))
    }

    async fn answer(self: Arc<Self>, connection: Connection, id: DeviceId, name: String) {
        tracing::info!(device = %name, "a paired device connected");
        crate::device::arrived(id, true);
        loop {
            let (send, recv) = match connection.accept_bi().await {
                Ok(streams) => streams,
                Err(e) => {
                    tracing::info!(device = %name, "the device disconnected: {e}");
                    crate::device::arrived(id, false);
                    return;
                }
            };
            let far = self.clone();
            let connection = connection.clone();
            tokio::spawn(async move {
                if let Err(e) = far.request(&connection, id, send, recv).await {
                    tracing::debug!("a request ended early: {e}");
                }
            });
        }
    }

    async fn request(
        self: Arc<Self>,
        connection: &Connection,
        id: DeviceId,
        mut send: SendStream,
        mut recv: RecvStream,
    ) -> io::Result<()> {
        let request: Request = wire::receive(&mut recv).await?;
        let root = match self.root(&request) {
            Ok(root) => root,
            Err(e) => {
                wire::send(&mut send, &Answer::Err(Failure::io(&e))).await?;
                return send.finish().map_err(io::Error::other);
            }
        };
        match request.op {
            Op::Stage {
                transfer,
                owner,
                rel,
                mode,
                mtime_ns,
            } => {
                self.stage(
                    connection, root, &mut send, &mut recv, transfer, owner, rel, mode, mtime_ns,
                )
                .await?;
            }
            Op::OpenFile { rel } => {
                let opened = tokio::task::spawn_blocking(move || {
                    check(&rel)?;
                    root.open_file(&rel)
                })
                .await
                .map_err(io::Error::other)?;
                match opened {
                    Err(e) => wire::send(&mut send, &Answer::Err(Failure::io(&e))).await?,
                    Ok(opened) => {
                        let reply = Reply::Opened {
                            record: WireRecord::from(&opened.record),
                            owner: opened.owner,
                        };
                        wire::send(&mut send, &Answer::Ok(reply)).await?;
                        send_content(opened.reader, &mut send).await?;
                    }
                }
            }
            op => {
                let far = self.clone();
                let answer = tokio::task::spawn_blocking(move || far.carry_out(id, &root, op))
                    .await
                    .map_err(io::Error::other)?;
                wire::send(&mut send, &answer).await?;
            }
        }
        send.finish().map_err(io::Error::other)
    }

    fn root(&self, request: &Request) -> io::Result<Arc<LocalRoot>> {
        let key = (request.root.clone(), request.keep_owners);
        if let Some(root) = self.roots.lock().unwrap().get(&key) {
            return Ok(root.clone());
        }
        if !request.root.starts_with('/') {
            return Err(io::Error::other(format!(
                "{:?} is not an absolute path",
                request.root
            )));
        }
        let root =
            Arc::new(LocalRoot::open(request.root.as_ref())?.keeping_owners(request.keep_owners));
        self.roots.lock().unwrap().insert(key, root.clone());
        Ok(root)
    }

    /// Receive a copy's content into the staging area. A transfer the
    /// sender names again (its connection dropped) goes on from what
    /// arrived; a damaged chunk is asked for again, never written.
    #[allow(clippy::too_many_arguments)]
    async fn stage(
        &self,
        connection: &Connection,
        root: Arc<LocalRoot>,
        send: &mut SendStream,
        recv: &mut RecvStream,
        name: String,
        owner: (u32, u32),
        rel: String,
        mode: u32,
        mtime_ns: i64,
    ) -> io::Result<()> {
        if let Err(e) = check(&rel) {
            return wire::send(send, &Answer::Err(Failure::io(&e))).await;
        }
        let (chunks, received, feeding, staged) = {
            let mut transfers = self.transfers.lock().unwrap();
            let transfer = transfers.entry(name.clone()).or_insert_with(|| {
                let (chunks, arriving) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
                let (done, staged) = tokio::sync::oneshot::channel();
                let rel = rel.clone();
                tokio::task::spawn_blocking(move || {
                    let mut from = Reader::Stream(Box::new(Arriving {
                        chunks: arriving,
                        chunk: Vec::new(),
                        at: 0,
                    }));
                    let _ =
                        done.send(root.stage_file(&mut from, owner, &rel, mode, mtime_ns, &|_| {}));
                });
                Transfer {
                    chunks,
                    received: Arc::new(AtomicU64::new(0)),
                    feeding: Arc::new(tokio::sync::Mutex::new(())),
                    staged: Arc::new(tokio::sync::Mutex::new(Some(staged))),
                }
            });
            (
                transfer.chunks.clone(),
                transfer.received.clone(),
                transfer.feeding.clone(),
                transfer.staged.clone(),
            )
        };
        let _feeding = feeding.lock().await;
        let offset = received.load(Ordering::SeqCst);
        if offset > 0 {
            tracing::info!(%rel, offset, "a transfer resumes");
        }
        wire::send(send, &Answer::Ok(Reply::Ready { offset })).await?;
        loop {
            match wire::receive_chunk(recv).await {
                Ok(Some(chunk)) => {
                    if crate::testhook::fault("device:received-chunk") {
                        connection.close(3u32.into(), b"dropped by a test");
                        return Err(io::Error::other("the connection was dropped by a test"));
                    }
                    let len = chunk.len() as u64;
                    let chunks = chunks.clone();
                    tokio::task::spawn_blocking(move || chunks.send(chunk))
                        .await
                        .map_err(io::Error::other)?
                        .map_err(|_| io::Error::other("the staging writer stopped"))?;
                    received.fetch_add(len, Ordering::SeqCst);
                }
                Ok(None) => break,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    let offset = received.load(Ordering::SeqCst);
                    tracing::warn!(%rel, offset, "a chunk arrived damaged; asking for it again");
                    return wire::send(send, &Answer::Err(Failure::Damaged { offset })).await;
                }
                // The connection dropped: the writer waits for the sender to
                // come back (or gives up after RESUME_WAIT).
                Err(e) => return Err(e),
            }
        }
        drop(chunks);
        self.transfers.lock().unwrap().remove(&name);
        let staged = staged.lock().await.take();
        let answer = match staged {
            Some(staged) => match staged.await {
                Ok(Ok(staged)) => {
                    tracing::info!(%rel, bytes = received.load(Ordering::SeqCst), "received a copy");
                    Answer::Ok(Reply::Staged {
                        token: staged.token().to_string(),
                    })
                }
                Ok(Err(e)) => Answer::Err(Failure::io(&e)),
                Err(_) => Answer::Err(Failure::io(&io::Error::other("the staging writer stopped"))),
            },
            None => Answer::Err(Failure::io(&io::Error::other(
                "this transfer was finished already",
            ))),
        };
        wire::send(send, &answer).await
    }
}

/// Content arriving from the network, chunk by chunk, for the staging
/// writer.
struct Arriving {
    chunks: std::sync::mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl Read for Arriving {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.chunk.len() {
            match self.chunks.recv_timeout(RESUME_WAIT) {
                Ok(chunk) => (self.chunk, self.at) = (chunk, 0),
                // The sender said the content is complete.
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(0),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the sender went away in the middle of a copy",
                    ));
                }
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Send an open file's content as checked chunks.
async fn send_content(reader: Reader, send: &mut SendStream) -> io::Result<()> {
    let mut reader: Box<dyn Read + Send> = match reader {
        Reader::File(file) => Box::new(file),
        Reader::Stream(stream) => stream,
    };
    loop {
        let (r, chunk) = tokio::task::spawn_blocking(move || {
            let mut chunk = vec![0u8; wire::CHUNK];
            let n = read_full(&mut reader, &mut chunk);
            (
                reader,
                n.map(|n| {
                    chunk.truncate(n);
                    chunk
                }),
            )
        })
        .await
        .map_err(io::Error::other)?;
        reader = r;
        let chunk = chunk?;
        wire::send_chunk(send, &chunk, blake3::hash(&chunk).as_bytes()).await?;
        if chunk.is_empty() {
            return Ok(());
        }
    }
}

/// Fill `buf` as far as the content goes.
pub(super) fn read_full(reader: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn check(rel: &str) -> io::Result<()> {
    if rel.is_empty() {
        return Ok(());
    }
    check_relative_path(rel).map_err(|m| io::Error::new(io::ErrorKind::InvalidInput, m))
}

/// Where a trashed version is: inside the root's own trash, nowhere else.
fn check_trashed(trashed_as: &str) -> io::Result<()> {
    let inside = trashed_as
        .strip_prefix(crate::BOOKKEEPING_DIR)
        .and_then(|rest| rest.strip_prefix("/trash/"))
        .is_some_and(|rest| check_relative_path(rest).is_ok());
    match inside {
        true => Ok(()),
        false => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{trashed_as:?} is not in the root's trash"),
        )),
    }
}

/// A staging token as this side made it: a plain name.
fn token(token: String, rel: String) -> io::Result<Staged> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a staging token",
        ));
    }
    Ok(Staged::new(token, &rel))
}

fn committed(result: Result<Option<String>, CommitError>) -> Answer {
    match result {
        Ok(to) => Ok(Reply::Moved { to }),
        Err(CommitError::Changed) => Err(Failure::Changed),
        Err(CommitError::Io(e)) => Err(Failure::io(&e)),
    }
}

impl Far {
    /// One request that needs no streaming, carried out on `root`.
    fn carry_out(&self, device: DeviceId, root: &LocalRoot, op: Op) -> Answer {
        let io = |e: io::Error| Failure::io(&e);
        let rec = |r: Option<WireRecord>| r.map(Record::from);
        Ok(match op {
            Op::Fidelity => root.fidelity().map_err(io)?.into(),
            Op::Marker => Reply::Text {
                text: root.marker().map_err(io)?,
            },
            Op::EnsureMarker => Reply::Text {
                text: Some(root.ensure_marker().map_err(io)?),
            },
            Op::Scan {
                globs,
                files,
                since,
            } => {
                let listing = self
                    .scan(device, root, &globs, &files, since)
                    .map_err(|e| Failure::io(&io::Error::other(format!("{e:#}"))))?;
                Reply::Listing(Box::new(listing))
            }
            Op::Stat { rel } => {
                check(&rel).map_err(io)?;
                Reply::Record {
                    record: root.stat(&rel).map_err(io)?.as_ref().map(WireRecord::from),
                }
            }
            Op::Owner { rel } => {
                check(&rel).map_err(io)?;
                Reply::Owner {
                    owner: root.owner(&rel).map_err(io)?,
                }
            }
            Op::ReadLink { rel } => {
                check(&rel).map_err(io)?;
                Reply::Bytes {
                    bytes: root.read_link(&rel).map_err(io)?,
                }
            }
            Op::Hash { rel, kind } => {
                check(&rel).map_err(io)?;
                Reply::Digest {
                    digest: root.hash(&rel, kind.into()).map_err(io)?,
                }
            }
            Op::HashFromMedia { rel } => {
                check(&rel).map_err(io)?;
                Reply::Digest {
                    digest: root.hash_from_media(&rel).map_err(io)?,
                }
            }
            Op::ReadConfig { rel, limit } => {
                check(&rel).map_err(io)?;
                Reply::Text {
                    text: root.read_config(&rel, limit).map_err(io)?,
                }
            }
            Op::Volume => Reply::Volume {
                volume: root.volume(),
            },
            Op::CleanStaging => {
                root.clean_staging().map_err(io)?;
                Reply::Done
            }
            Op::Sync => {
                root.sync().map_err(io)?;
                Reply::Done
            }
            Op::Commit {
                token: t,
                rel,
                generation,
                expected,
            } => {
                check(&rel).map_err(io)?;
                let staged = token(t, rel).map_err(io)?;
                return committed(root.commit(staged, generation, rec(expected).as_ref()));
            }
            Op::Discard { token: t, rel } => {
                root.discard(token(t, rel).map_err(io)?);
                Reply::Done
            }
            Op::MakeDir { rel, generation } => {
                check(&rel).map_err(io)?;
                Reply::Moved {
                    to: root.make_dir(&rel, generation).map_err(io)?,
                }
            }
            Op::MakeSymlink {
                target,
                mtime_ns,
                owner,
                rel,
                generation,
                expected,
            } => {
                check(&rel).map_err(io)?;
                let link = crate::location::Link {
                    target,
                    mtime_ns,
                    owner,
                };
                return committed(root.make_symlink(
                    &link,
                    &rel,
                    generation,
                    rec(expected).as_ref(),
                ));
            }
            Op::SetMetadata {
                rel,
                expected,
                mode,
                mtime_ns,
                owner,
            } => {
                check(&rel).map_err(io)?;
                return match root.set_metadata(&rel, &expected.into(), mode, mtime_ns, owner) {
                    Ok(()) => Ok(Reply::Done),
                    Err(CommitError::Changed) => Err(Failure::Changed),
                    Err(CommitError::Io(e)) => Err(Failure::io(&e)),
                };
            }
            Op::SetMtime { rel, mtime_ns } => {
                check(&rel).map_err(io)?;
                root.set_mtime(&rel, mtime_ns).map_err(io)?;
                Reply::Done
            }
            Op::SetMode { rel, mode, owner } => {
                check(&rel).map_err(io)?;
                root.set_mode(&rel, mode, owner).map_err(io)?;
                Reply::Done
            }
            Op::Rename { from, to } => {
                check(&from).and(check(&to)).map_err(io)?;
                root.rename(&from, &to).map_err(io)?;
                Reply::Done
            }
            Op::RemoveFile { rel } => {
                check(&rel).map_err(io)?;
                root.remove_file(&rel).map_err(io)?;
                Reply::Done
            }
            Op::RemoveEmptyDir { rel } => {
                check(&rel).map_err(io)?;
                Reply::Bool {
                    value: root.remove_empty_dir(&rel).map_err(io)?,
                }
            }
            Op::AppendManifest { lines } => {
                root.append_manifest(&lines).map_err(io)?;
                Reply::Done
            }
            Op::Manifest => Reply::Texts {
                lines: root.manifest().map_err(io)?,
            },
            Op::Trash { rel, generation } => {
                check(&rel).map_err(io)?;
                Reply::Moved {
                    to: Some(root.trash(&rel, generation).map_err(io)?),
                }
            }
            Op::FindInTrash { rel } => {
                check(&rel).map_err(io)?;
                Reply::Trashed {
                    at: root.find_in_trash(&rel),
                }
            }
            Op::Untrash {
                trashed_as,
                rel,
                generation,
            } => {
                check(&rel).and(check_trashed(&trashed_as)).map_err(io)?;
                Reply::Moved {
                    to: root.untrash(&trashed_as, &rel, generation).map_err(io)?,
                }
            }
            Op::Purge { trashed_as } => {
                check(&trashed_as).map_err(io)?;
                root.purge(&trashed_as).map_err(io)?;
                Reply::Done
            }
            Op::Stage { .. } | Op::OpenFile { .. } => {
                unreachable!("streamed requests are answered by `request`")
            }
        })
    }

    /// Scan `root` for `device`, reusing the digests of the listing last sent
    /// to it; the answer is the difference from that listing when the device
    /// still holds it (`since`), else the whole listing.
    fn scan(
        &self,
        device: DeviceId,
        root: &LocalRoot,
        globs: &[String],
        files: &[crate::scan::IgnoreFile],
        since: Option<String>,
    ) -> anyhow::Result<Listing> {
        let home = &self.home;
        let key = root.path().display().to_string();
        let held = self.index.lock().unwrap().peer_listing(&device, &key)?;
        let (held, previous) = match held {
            Some((token, bytes)) => (Some(token), wire::decode_records(&bytes)?),
            None => (None, HashMap::new()),
        };
        let rules = Rules::new(globs, files)?;
        let home_dir = std::fs::metadata(home)?;
        let foreign = [Foreign {
            identity: (
                std::os::unix::fs::MetadataExt::dev(&home_dir),
                std::os::unix::fs::MetadataExt::ino(&home_dir),
            ),
            what: format!("the Conduit home of this device, {}", home.display()),
        }];
        let progress = Progress::default();
        let walk = Walk {
            rules: &rules,
            previous: &previous,
            progress: &progress,
            foreign: &foreign,
        };
        let found = root.scan(&walk);
        let token = super::fresh_token()?;
        let records = wire::encode_records(&found.records);
        self.index
            .lock()
            .unwrap()
            .put_peer_listing(&device, &key, &token, &records)?;
        let delta = held.is_some() && held == since;
        let mut listing = Listing {
            token,
            base: if delta { since } else { None },
            errors: found.errors,
            bad_names: found.bad_names,
            special: found.special,
            overlaps: found.overlaps,
            hashed_files: found.hashed_files,
            hashed_bytes: found.hashed_bytes,
            ..Listing::default()
        };
        for (path, record) in &found.records {
            if !delta || previous.get(path) != Some(record) {
                listing
                    .changed
                    .push((path.clone(), WireRecord::from(record)));
            }
        }
        if delta {
            listing.removed = previous
                .keys()
                .filter(|p| !found.records.contains_key(*p))
                .cloned()
                .collect();
        }
        tracing::info!(
            root = %key,
            entries = found.records.len(),
            changed = listing.changed.len(),
            removed = listing.removed.len(),
            difference = delta,
            "sent a listing"
        );
        Ok(listing)
    }
}
