//! The index: Conduit's SQLite database under the home folder. It remembers
//! conduits, what each root looked like at the last scan (so a rescan hashes
//! only what changed), the base each conduit agreed on, and the history of
//! every run. The schema lives in [`schema`].
//!
//! Only the thread that runs a generation writes; workers hand their results
//! back to it, and it commits them in batches ([`Batch`]), each batch one
//! transaction. A crash loses at most the last batch, which the next run
//! redoes: a path whose sides already agree is simply accepted again.

pub mod schema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};

use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension, params};

use crate::clock::now_ns;
use crate::device::{Device, DeviceId};
use crate::place::Place;
use crate::settings::Cadence;
use conduit_contract::{Digest, Kind, Operation, Side, State, digest_from_bytes, digest_to_bytes};

/// What a scan saw at one path of a root.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// File, directory or symlink.
    pub kind: Kind,
    /// Bytes of content (0 for directories).
    pub size: u64,
    /// Modification time, ns since the Unix epoch.
    pub mtime_ns: i64,
    /// Permission bits.
    pub mode: u32,
    /// Inode number: a changed inode means a replaced file.
    pub inode: u64,
    /// BLAKE3 of the content (of the target, for a symlink); none for
    /// directories and for files that could not be read.
    pub digest: Option<Digest>,
    /// Last access, falling back to mtime where the filesystem keeps none.
    pub atime_ns: i64,
}

impl Record {
    /// The record as the policy contract's state.
    pub fn state(&self) -> State {
        State {
            kind: self.kind,
            size: self.size,
            mtime_ns: self.mtime_ns,
            mode: self.mode,
            digest: self.digest,
        }
    }

    /// True when the file may have changed since `self` was recorded, so its
    /// digest cannot be reused.
    pub fn stale_against(&self, now: &Record) -> bool {
        self.kind != now.kind
            || self.size != now.size
            || self.mtime_ns != now.mtime_ns
            || self.inode != now.inode
    }
}

/// The agreed state of a path in a conduit's base.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseRecord {
    /// Kind, size, mtime, mode and digest both sides agreed on.
    pub state: State,
    /// The source copy was evicted; the content lives in the destination.
    pub offloaded: bool,
}

/// A conduit as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Conduit {
    /// Row id; 0 for a conduit not yet stored.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// The source root (A).
    pub source: Place,
    /// The destination root (B).
    pub destination: Place,
    /// The id `add` wrote into the source's marker.
    pub source_marker: String,
    /// The id `add` wrote into the destination's marker.
    pub destination_marker: String,
    /// The policy's name.
    pub policy: String,
    /// BLAKE3 of the policy component the conduit was created with.
    pub policy_digest: String,
    /// Policy options as the user gave them; checked against the schema on use.
    pub options: Vec<(String, String)>,
    /// When it runs by itself.
    pub cadence: Cadence,
    /// Gitignore-syntax rules applied to both roots.
    pub ignore: Vec<String>,
    /// False while paused: scheduled runs skip it.
    pub enabled: bool,
    /// The mass-delete guard: a plan deleting more than this share (percent)
    /// of a side's files halts unless forced.
    pub max_delete_pct: f64,
    /// Days a trashed file is kept before a run purges it.
    pub trash_days: u32,
    /// Treat the source volume as this many bytes, holding only this
    /// conduit's files (a quota for offload); none: measure the real volume.
    pub source_capacity: Option<u64>,
    /// Where copies are re-read from to verify them.
    pub verify_from: crate::settings::VerifyFrom,
    /// Copies get the original's owner and group when running as root.
    pub keep_owner: bool,
    /// Transfers to and from a device, at most this many bytes a second.
    pub bandwidth: Option<u64>,
}

impl Conduit {
    /// The root on `side`.
    pub fn root(&self, side: Side) -> &Place {
        match side {
            Side::Source => &self.source,
            Side::Destination => &self.destination,
        }
    }

    /// The marker id `add` wrote into the root on `side`.
    pub fn marker(&self, side: Side) -> &str {
        match side {
            Side::Source => &self.source_marker,
            Side::Destination => &self.destination_marker,
        }
    }
}

/// One row of `history`.
#[derive(Debug, Clone)]
pub struct Generation {
    /// The generation's number in its conduit's history.
    pub number: i64,
    /// When the run started (ns since the epoch).
    pub started_ns: i64,
    /// When it ended; none while running or after a crash.
    pub ended_ns: Option<i64>,
    /// True for plan-only runs.
    pub dry_run: bool,
    /// The safety guard's message, if one stopped the run.
    pub halted: Option<String>,
    /// The run's report as JSON (see `api::SyncReport`); none if it never ended.
    pub report: Option<String>,
}

/// One file in a root's trash.
#[derive(Debug, Clone)]
pub struct TrashRecord {
    /// Row id (0 before it is stored).
    pub id: i64,
    /// The root the file was trashed from.
    pub side: Side,
    /// The path it had in that root.
    pub path: String,
    /// Relative to the root, inside its bookkeeping folder.
    pub trashed_as: String,
    /// File, directory or symlink.
    pub kind: Kind,
    /// Bytes of content.
    pub size: u64,
    /// Its content digest, when known.
    pub digest: Option<Digest>,
    /// When it went to the trash (ns since the epoch).
    pub trashed_ns: i64,
    /// The run that trashed it (none for versions found only on disk).
    pub generation: Option<i64>,
}

/// What an executed action did, as the journal records it: the contract's
/// operations, and `copy+evict` (offload's copy that evicts once verified).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// `copy`
    Copy,
    /// `copy+evict`
    CopyThenEvict,
    /// `delete`
    Delete,
    /// `move-to-destination`
    MoveToDestination,
    /// `rename`
    Rename,
    /// `evict`
    Evict,
    /// `hydrate`
    Hydrate,
    /// `accept`
    Accept,
    /// `conflict`
    Conflict,
    /// `skip`
    Skip,
}

impl Verb {
    /// The word the journal stores and messages show.
    pub fn name(self) -> &'static str {
        match self {
            Verb::CopyThenEvict => "copy+evict",
            Verb::Copy => "copy",
            Verb::Delete => "delete",
            Verb::MoveToDestination => "move-to-destination",
            Verb::Rename => "rename",
            Verb::Evict => "evict",
            Verb::Hydrate => "hydrate",
            Verb::Accept => "accept",
            Verb::Conflict => "conflict",
            Verb::Skip => "skip",
        }
    }

    /// The verb the journal stored as `name`.
    pub fn named(name: &str) -> Option<Verb> {
        Verb::ALL.into_iter().find(|v| v.name() == name)
    }

    const ALL: [Verb; 10] = [
        Verb::Copy,
        Verb::CopyThenEvict,
        Verb::Delete,
        Verb::MoveToDestination,
        Verb::Rename,
        Verb::Evict,
        Verb::Hydrate,
        Verb::Accept,
        Verb::Conflict,
        Verb::Skip,
    ];
}

impl From<&Operation> for Verb {
    fn from(op: &Operation) -> Verb {
        match op {
            Operation::Copy(_) => Verb::Copy,
            Operation::Delete(_) => Verb::Delete,
            Operation::MoveToDestination(_) => Verb::MoveToDestination,
            Operation::Rename(_) => Verb::Rename,
            Operation::Evict => Verb::Evict,
            Operation::Hydrate => Verb::Hydrate,
            Operation::Accept => Verb::Accept,
            Operation::Conflict(_) => Verb::Conflict,
            Operation::Skip(_) => Verb::Skip,
        }
    }
}

/// How an executed action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// `done`
    Done,
    /// `failed`
    Failed,
    /// `skipped`
    Skipped,
}

impl Ended {
    /// The word the journal stores and messages show.
    pub fn name(self) -> &'static str {
        match self {
            Ended::Done => "done",
            Ended::Failed => "failed",
            Ended::Skipped => "skipped",
        }
    }

    /// The outcome the journal stored as `name`.
    pub fn named(name: &str) -> Option<Ended> {
        [Ended::Done, Ended::Failed, Ended::Skipped]
            .into_iter()
            .find(|e| e.name() == name)
    }
}

/// An executed action, for the journal.
#[derive(Debug, Clone)]
pub struct JournalRow {
    /// The entry's path.
    pub path: String,
    /// What was done.
    pub verb: Verb,
    /// How it ended.
    pub ended: Ended,
    /// Where to, or why not.
    pub detail: Option<String>,
    /// The change that led to the action (see `plan::reason`).
    pub why: String,
    /// Where versions the action displaced went, inside their root's trash.
    pub trashed: Vec<String>,
}

/// Everything one commit writes, in one transaction.
#[derive(Debug, Default)]
pub struct Batch {
    /// Per side: rows to upsert (`Some`) or drop (`None`) in that root's entries.
    pub entries: [Vec<(String, Option<Record>)>; 2],
    /// Base rows to upsert (`Some`) or drop (`None`).
    pub base: Vec<(String, Option<BaseRecord>)>,
    /// Journal rows to append.
    pub journal: Vec<JournalRow>,
    /// Conflicts to open (`Some(reason)`) or close (`None`).
    pub conflicts: Vec<(String, Option<String>)>,
    /// Files that went to a trash.
    pub trash: Vec<TrashRecord>,
    /// Eviction intents that are settled (see [`Index::record_evictions`]);
    /// a base row written for a path settles its intent too.
    pub evictions_settled: Vec<String>,
}

impl Batch {
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.entries.iter().all(Vec::is_empty)
            && self.base.is_empty()
            && self.journal.is_empty()
            && self.conflicts.is_empty()
            && self.trash.is_empty()
            && self.evictions_settled.is_empty()
    }
}

/// Where a home keeps its index.
pub fn path(home: &Path) -> PathBuf {
    home.join("index.sqlite")
}

/// The open database.
pub struct Index {
    conn: Connection,
}

fn side_id(side: Side) -> i64 {
    match side {
        Side::Source => 0,
        Side::Destination => 1,
    }
}

fn side_of(id: i64) -> Side {
    if id == 0 {
        Side::Source
    } else {
        Side::Destination
    }
}

fn kind_id(kind: Kind) -> i64 {
    match kind {
        Kind::File => 0,
        Kind::Directory => 1,
        Kind::Symlink => 2,
    }
}

fn kind_of(id: i64) -> Kind {
    match id {
        1 => Kind::Directory,
        2 => Kind::Symlink,
        _ => Kind::File,
    }
}

fn digest_blob(d: &Option<Digest>) -> Option<Vec<u8>> {
    d.map(|d| digest_to_bytes(d).to_vec())
}

fn digest_of(blob: Option<Vec<u8>>) -> Option<Digest> {
    blob.and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .map(|b| digest_from_bytes(&b))
}

impl Index {
    /// Open (creating if needed) the index at `path` and bring its schema up
    /// to date.
    pub fn open(path: &Path) -> anyhow::Result<Index> {
        if let Some(dir) = path.parent() {
            private_dir(dir)
                .with_context(|| format!("creating the Conduit home {}", dir.display()))?;
        }
        // The index names every file and where deleted ones went: private.
        // SQLite gives its journal files the database file's mode. The file
        // is made here only when missing and never opened otherwise: closing
        // any descriptor of it would drop the POSIX locks that this process's
        // other connections hold on it (stale reads, "disk I/O error").
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(e).with_context(|| format!("opening the index {}", path.display()));
            }
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("opening the index {}", path.display()))?;
        let mut conn = Connection::open(path)
            .with_context(|| format!("opening the index {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )?;
        schema::migrate(&mut conn)
            .with_context(|| format!("opening the index {}", path.display()))?;
        Ok(Index { conn })
    }

    // ---- conduits -------------------------------------------------------

    /// Store a new conduit (its `id` is ignored) and return it with its id.
    pub fn add_conduit(&mut self, c: &Conduit) -> anyhow::Result<Conduit> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO conduits (name, policy, policy_digest, options, cadence, ignore, enabled,
                                   max_delete_pct, trash_days, created_ns, source_capacity,
                                   verify_from, keep_owner, bandwidth)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            params![
                c.name,
                c.policy,
                c.policy_digest,
                serde_json::to_string(&c.options)?,
                c.cadence.to_string(),
                serde_json::to_string(&c.ignore)?,
                c.enabled,
                c.max_delete_pct,
                c.trash_days,
                now_ns(),
                c.source_capacity.map(|n| n as i64),
                c.verify_from.to_string(),
                c.keep_owner,
                c.bandwidth.map(|n| n as i64),
            ],
        )?;
        let id = tx.last_insert_rowid();
        for side in Side::BOTH {
            tx.execute(
                "INSERT INTO roots (conduit, side, path, marker) VALUES (?1, ?2, ?3, ?4)",
                params![id, side_id(side), c.root(side).to_string(), c.marker(side)],
            )?;
        }
        tx.commit()?;
        Ok(Conduit { id, ..c.clone() })
    }

    /// Save a conduit's settings (name, policy, options, cadence, ignore,
    /// enabled, guards). Roots never change.
    pub fn update_conduit(&self, c: &Conduit) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE conduits SET name = ?2, policy = ?3, policy_digest = ?4, options = ?5,
                    cadence = ?6, ignore = ?7, enabled = ?8, max_delete_pct = ?9, trash_days = ?10,
                    source_capacity = ?11, verify_from = ?12, keep_owner = ?13, bandwidth = ?14
             WHERE id = ?1",
            params![
                c.id,
                c.name,
                c.policy,
                c.policy_digest,
                serde_json::to_string(&c.options)?,
                c.cadence.to_string(),
                serde_json::to_string(&c.ignore)?,
                c.enabled,
                c.max_delete_pct,
                c.trash_days,
                c.source_capacity.map(|n| n as i64),
                c.verify_from.to_string(),
                c.keep_owner,
                c.bandwidth.map(|n| n as i64),
            ],
        )?;
        Ok(())
    }

    /// Forget a conduit and everything recorded about it.
    pub fn remove_conduit(&self, id: i64) -> anyhow::Result<()> {
        self.conn
            .execute("DELETE FROM conduits WHERE id = ?1", [id])?;
        Ok(())
    }

    /// All conduits, by name.
    pub fn conduits(&self) -> anyhow::Result<Vec<Conduit>> {
        self.query_conduits("", [])
    }

    /// Overwrite the stored cadence of conduit `name` without reading the
    /// row (a stored value that does not parse makes the row unreadable).
    /// False if there is no such conduit.
    pub fn repair_cadence(&self, name: &str, cadence: Cadence) -> anyhow::Result<bool> {
        let n = self.conn.execute(
            "UPDATE conduits SET cadence = ?2 WHERE name = ?1",
            params![name, cadence.to_string()],
        )?;
        Ok(n > 0)
    }

    /// The conduit named `name`, if any.
    pub fn conduit(&self, name: &str) -> anyhow::Result<Option<Conduit>> {
        Ok(self
            .query_conduits("WHERE c.name = ?1", [name])?
            .into_iter()
            .next())
    }

    fn query_conduits<P: rusqlite::Params>(
        &self,
        filter: &str,
        params: P,
    ) -> anyhow::Result<Vec<Conduit>> {
        let sql = format!(
            "SELECT c.id, c.name, s.path, d.path, s.marker, d.marker, c.policy, c.policy_digest,
                    c.options, c.cadence, c.ignore, c.enabled, c.max_delete_pct, c.trash_days,
                    c.source_capacity, c.verify_from, c.keep_owner, c.bandwidth
             FROM conduits c
             JOIN roots s ON s.conduit = c.id AND s.side = 0
             JOIN roots d ON d.conduit = c.id AND d.side = 1
             {filter} ORDER BY c.name"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params, |r| {
            Ok((
                Conduit {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    source: Place::parse(&r.get::<_, String>(2)?),
                    destination: Place::parse(&r.get::<_, String>(3)?),
                    source_marker: r.get(4)?,
                    destination_marker: r.get(5)?,
                    policy: r.get(6)?,
                    policy_digest: r.get(7)?,
                    options: Vec::new(),
                    cadence: Cadence::Manual,
                    ignore: Vec::new(),
                    enabled: r.get(11)?,
                    max_delete_pct: r.get(12)?,
                    trash_days: r.get(13)?,
                    source_capacity: r.get::<_, Option<i64>>(14)?.map(|n| n as u64),
                    // Read below, like the other settings stored as text.
                    verify_from: Default::default(),
                    keep_owner: r.get(16)?,
                    bandwidth: r.get::<_, Option<i64>>(17)?.map(|n| n as u64),
                },
                r.get::<_, String>(15)?,
                r.get::<_, String>(8)?,
                r.get::<_, String>(9)?,
                r.get::<_, String>(10)?,
            ))
        })?;
        rows.map(|row| {
            let (mut c, verify_from, options, cadence, ignore) = row?;
            c.verify_from = verify_from
                .parse()
                .map_err(|e| anyhow::anyhow!("conduit `{}`: {e}", c.name))?;
            c.options = serde_json::from_str(&options)?;
            c.cadence = cadence.parse().map_err(|e| {
                anyhow::anyhow!(
                    "conduit `{}`: the stored setting `cadence` is unusable ({e}); set it again \
                     with `conduit set {} cadence=manual` (or another cadence)",
                    c.name,
                    c.name
                )
            })?;
            c.ignore = serde_json::from_str(&ignore)?;
            Ok(c)
        })
        .collect()
    }

    // ---- entries and base ----------------------------------------------

    fn root_id(&self, conduit: i64, side: Side) -> anyhow::Result<i64> {
        Ok(self.conn.query_row(
            "SELECT id FROM roots WHERE conduit = ?1 AND side = ?2",
            params![conduit, side_id(side)],
            |r| r.get(0),
        )?)
    }

    /// What the last scan of a conduit's root saw, by relative path.
    pub fn entries(&self, conduit: i64, side: Side) -> anyhow::Result<HashMap<String, Record>> {
        let root = self.root_id(conduit, side)?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT path, kind, size, mtime_ns, mode, inode, digest, atime_ns
             FROM entries WHERE root = ?1",
        )?;
        let rows = stmt.query_map([root], |r| {
            Ok((
                r.get::<_, String>(0)?,
                Record {
                    kind: kind_of(r.get(1)?),
                    size: r.get::<_, i64>(2)? as u64,
                    mtime_ns: r.get(3)?,
                    mode: r.get(4)?,
                    inode: r.get::<_, i64>(5)? as u64,
                    digest: digest_of(r.get(6)?),
                    atime_ns: r.get(7)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// What the index holds for one path of one side.
    pub fn entry(&self, conduit: i64, side: Side, path: &str) -> anyhow::Result<Option<Record>> {
        let root = self.root_id(conduit, side)?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT kind, size, mtime_ns, mode, inode, digest, atime_ns
             FROM entries WHERE root = ?1 AND path = ?2",
        )?;
        Ok(stmt
            .query_row(params![root, path], |r| {
                Ok(Record {
                    kind: kind_of(r.get(0)?),
                    size: r.get::<_, i64>(1)? as u64,
                    mtime_ns: r.get(2)?,
                    mode: r.get(3)?,
                    inode: r.get::<_, i64>(4)? as u64,
                    digest: digest_of(r.get(5)?),
                    atime_ns: r.get(6)?,
                })
            })
            .optional()?)
    }

    /// The conduit's base, by relative path.
    pub fn base(&self, conduit: i64) -> anyhow::Result<HashMap<String, BaseRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT path, kind, size, mtime_ns, mode, digest, offloaded FROM base WHERE conduit = ?1",
        )?;
        let rows = stmt.query_map([conduit], |r| {
            Ok((
                r.get::<_, String>(0)?,
                BaseRecord {
                    state: State {
                        kind: kind_of(r.get(1)?),
                        size: r.get::<_, i64>(2)? as u64,
                        mtime_ns: r.get(3)?,
                        mode: r.get(4)?,
                        digest: digest_of(r.get(5)?),
                    },
                    offloaded: r.get(6)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Write `batch` in one transaction, for the conduit's run number
    /// `generation` (journal rows, conflicts and trash name it).
    pub fn commit(&mut self, conduit: i64, generation: i64, batch: &Batch) -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let run = self.generation_id(conduit, generation)?;
        let roots = [
            self.root_id(conduit, Side::Source)?,
            self.root_id(conduit, Side::Destination)?,
        ];
        let now = now_ns();
        let tx = self.conn.transaction()?;
        {
            let mut upsert = tx.prepare_cached(
                "INSERT OR REPLACE INTO entries
                   (root, path, kind, size, mtime_ns, mode, inode, digest, atime_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            let mut drop =
                tx.prepare_cached("DELETE FROM entries WHERE root = ?1 AND path = ?2")?;
            for (root, rows) in roots.iter().zip(&batch.entries) {
                for (path, record) in rows {
                    match record {
                        Some(r) => upsert.execute(params![
                            root,
                            path,
                            kind_id(r.kind),
                            r.size as i64,
                            r.mtime_ns,
                            r.mode,
                            r.inode as i64,
                            digest_blob(&r.digest),
                            r.atime_ns,
                        ])?,
                        None => drop.execute(params![root, path])?,
                    };
                }
            }
            let mut upsert = tx.prepare_cached(
                "INSERT OR REPLACE INTO base
                   (conduit, path, kind, size, mtime_ns, mode, digest, offloaded)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let mut drop =
                tx.prepare_cached("DELETE FROM base WHERE conduit = ?1 AND path = ?2")?;
            for (path, base) in &batch.base {
                match base {
                    Some(b) => upsert.execute(params![
                        conduit,
                        path,
                        kind_id(b.state.kind),
                        b.state.size as i64,
                        b.state.mtime_ns,
                        b.state.mode,
                        digest_blob(&b.state.digest),
                        b.offloaded,
                    ])?,
                    None => drop.execute(params![conduit, path])?,
                };
            }
            let mut settle =
                tx.prepare_cached("DELETE FROM evicting WHERE conduit = ?1 AND path = ?2")?;
            for path in batch
                .base
                .iter()
                .map(|(path, _)| path)
                .chain(&batch.evictions_settled)
            {
                settle.execute(params![conduit, path])?;
            }
            let mut journal = tx.prepare_cached(
                "INSERT INTO journal (generation, path, action, outcome, detail, at_ns, why, trashed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for j in &batch.journal {
                // JSON: a file name may hold any byte but `/` and NUL.
                let trashed = match j.trashed.is_empty() {
                    true => None,
                    false => Some(serde_json::to_string(&j.trashed)?),
                };
                journal.execute(params![
                    run,
                    j.path,
                    j.verb.name(),
                    j.ended.name(),
                    j.detail,
                    now,
                    j.why,
                    trashed,
                ])?;
            }
            let mut open = tx.prepare_cached(
                "INSERT OR REPLACE INTO conflicts (conduit, path, reason, generation)
                 VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut close =
                tx.prepare_cached("DELETE FROM conflicts WHERE conduit = ?1 AND path = ?2")?;
            for (path, reason) in &batch.conflicts {
                match reason {
                    Some(reason) => open.execute(params![conduit, path, reason, generation])?,
                    None => close.execute(params![conduit, path])?,
                };
            }
            let mut trash = tx.prepare_cached(
                "INSERT INTO trash (conduit, side, path, trashed_as, kind, size, digest,
                                    trashed_ns, generation)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for t in &batch.trash {
                trash.execute(params![
                    conduit,
                    side_id(t.side),
                    t.path,
                    t.trashed_as,
                    kind_id(t.kind),
                    t.size as i64,
                    digest_blob(&t.digest),
                    t.trashed_ns,
                    generation,
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    // ---- offload's evictions in flight ----------------------------------

    /// Record, durably and before any source copy goes, that these paths are
    /// being evicted, with the verified destination state each leaves behind.
    pub fn record_evictions(
        &mut self,
        conduit: i64,
        paths: &[(String, State)],
    ) -> anyhow::Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT OR REPLACE INTO evicting (conduit, path, kind, size, mtime_ns, mode, digest)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?;
            for (path, s) in paths {
                stmt.execute(params![
                    conduit,
                    path,
                    kind_id(s.kind),
                    s.size as i64,
                    s.mtime_ns,
                    s.mode,
                    digest_blob(&s.digest)
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Evictions a crash left unsettled: (path, destination state).
    pub fn evictions(&self, conduit: i64) -> anyhow::Result<Vec<(String, State)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT path, kind, size, mtime_ns, mode, digest FROM evicting WHERE conduit = ?1
             ORDER BY path",
        )?;
        let rows = stmt.query_map([conduit], |r| {
            Ok((
                r.get::<_, String>(0)?,
                State {
                    kind: kind_of(r.get(1)?),
                    size: r.get::<_, i64>(2)? as u64,
                    mtime_ns: r.get(3)?,
                    mode: r.get(4)?,
                    digest: digest_of(r.get(5)?),
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ---- generations ----------------------------------------------------

    /// Record the start of a run at `started_ns`; returns its number in the
    /// conduit's history: one past the highest so far, so never reused.
    pub fn start_generation(
        &self,
        conduit: i64,
        started_ns: i64,
        forced: bool,
    ) -> anyhow::Result<i64> {
        Ok(self.conn.query_row(
            "INSERT INTO generations (conduit, number, started_ns, dry_run, forced)
             VALUES (?1, (SELECT coalesce(max(number), 0) + 1 FROM generations WHERE conduit = ?1),
                     ?2, 0, ?3)
             RETURNING number",
            params![conduit, started_ns, forced],
            |r| r.get(0),
        )?)
    }

    fn generation_id(&self, conduit: i64, number: i64) -> anyhow::Result<i64> {
        self.conn
            .query_row(
                "SELECT id FROM generations WHERE conduit = ?1 AND number = ?2",
                params![conduit, number],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| anyhow::anyhow!("generation {number} of this conduit is not recorded"))
    }

    /// Record the end of run `generation` at `ended_ns` with its report (JSON).
    pub fn finish_generation(
        &self,
        conduit: i64,
        generation: i64,
        ended_ns: i64,
        halted: Option<&str>,
        report_json: &str,
    ) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE generations SET ended_ns = ?3, halted = ?4, report = ?5
             WHERE conduit = ?1 AND number = ?2",
            params![conduit, generation, ended_ns, halted, report_json],
        )?;
        Ok(())
    }

    /// What run `generation` did, action by action, in the order it was done.
    pub fn journal(&self, conduit: i64, generation: i64) -> anyhow::Result<Vec<JournalRow>> {
        let id = self.generation_id(conduit, generation)?;
        let mut stmt = self.conn.prepare(
            "SELECT path, action, outcome, detail, why, trashed FROM journal
             WHERE generation = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([id], |r| {
            let trashed: Option<String> = r.get(5)?;
            let trashed = trashed.map_or(Ok(Vec::new()), |t| serde_json::from_str(&t));
            let action: String = r.get(1)?;
            let outcome: String = r.get(2)?;
            Ok(JournalRow {
                path: r.get(0)?,
                verb: Verb::named(&action).unwrap_or(Verb::Skip),
                ended: Ended::named(&outcome).unwrap_or(Ended::Failed),
                detail: r.get(3)?,
                why: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
                trashed: trashed.map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        5,
                        rusqlite::types::Type::Text,
                        e.into(),
                    )
                })?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The most recent runs first, at most `limit`.
    pub fn generations(&self, conduit: i64, limit: usize) -> anyhow::Result<Vec<Generation>> {
        self.query_generations(
            "ORDER BY number DESC LIMIT ?2",
            params![conduit, limit as i64],
        )
    }

    /// Run `number` of the conduit, if there is one.
    pub fn generation(&self, conduit: i64, number: i64) -> anyhow::Result<Option<Generation>> {
        Ok(self
            .query_generations("AND number = ?2", params![conduit, number])?
            .pop())
    }

    fn query_generations(
        &self,
        filter: &str,
        params: impl rusqlite::Params,
    ) -> anyhow::Result<Vec<Generation>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT number, started_ns, ended_ns, dry_run, halted, report FROM generations
             WHERE conduit = ?1 {filter}"
        ))?;
        let rows = stmt.query_map(params, |r| {
            Ok(Generation {
                number: r.get(0)?,
                started_ns: r.get(1)?,
                ended_ns: r.get(2)?,
                dry_run: r.get(3)?,
                halted: r.get(4)?,
                report: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// True once the conduit completed a run that was not a dry run nor halted.
    pub fn has_synced(&self, conduit: i64) -> anyhow::Result<bool> {
        Ok(self
            .conn
            .query_row(
                "SELECT 1 FROM generations WHERE conduit = ?1 AND ended_ns IS NOT NULL
                   AND dry_run = 0 AND halted IS NULL LIMIT 1",
                [conduit],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    // ---- conflicts, trash, pins -----------------------------------------

    /// Open conflicts: (path, reason, generation).
    pub fn conflicts(&self, conduit: i64) -> anyhow::Result<Vec<(String, String, i64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT path, reason, generation FROM conflicts WHERE conduit = ?1 ORDER BY path",
        )?;
        let rows = stmt.query_map([conduit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Trashed, not yet restored versions of `path`, newest first.
    pub fn trashed(&self, conduit: i64, path: &str) -> anyhow::Result<Vec<TrashRecord>> {
        self.query_trash(
            "AND path = ?2 AND restored = 0 ORDER BY id DESC",
            params![conduit, path],
        )
    }

    /// Everything still in the conduit's trash, or only what was at `path`
    /// (and, for a folder, below it), newest first.
    pub fn trash(&self, conduit: i64, path: Option<&str>) -> anyhow::Result<Vec<TrashRecord>> {
        match path {
            None => self.query_trash("AND restored = 0 ORDER BY id DESC", params![conduit]),
            Some(path) => self.query_trash(
                "AND restored = 0 AND (path = ?2 OR substr(path, 1, length(?2) + 1) = ?2 || '/')
                 ORDER BY id DESC",
                params![conduit, path],
            ),
        }
    }

    /// Trash rows older than `before_ns`, for purging.
    pub fn trash_older_than(
        &self,
        conduit: i64,
        before_ns: i64,
    ) -> anyhow::Result<Vec<TrashRecord>> {
        self.query_trash(
            "AND trashed_ns < ?2 AND restored = 0",
            params![conduit, before_ns],
        )
    }

    fn query_trash(
        &self,
        filter: &str,
        params: impl rusqlite::Params,
    ) -> anyhow::Result<Vec<TrashRecord>> {
        let sql = format!(
            "SELECT id, side, path, trashed_as, kind, size, digest, trashed_ns, generation
             FROM trash WHERE conduit = ?1 {filter}"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(params, |r| {
            Ok(TrashRecord {
                id: r.get(0)?,
                side: side_of(r.get(1)?),
                path: r.get(2)?,
                trashed_as: r.get(3)?,
                kind: kind_of(r.get(4)?),
                size: r.get::<_, i64>(5)? as u64,
                digest: digest_of(r.get(6)?),
                trashed_ns: r.get(7)?,
                generation: r.get(8)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Mark the rows of what was trashed inside the folder `trashed_as` on
    /// `side` restored: the folder came back with them.
    pub fn forget_trash_below(
        &self,
        conduit: i64,
        side: Side,
        trashed_as: &str,
    ) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE trash SET restored = 1 WHERE conduit = ?1 AND side = ?2
               AND substr(trashed_as, 1, length(?3) + 1) = ?3 || '/'",
            params![conduit, side_id(side), trashed_as],
        )?;
        Ok(())
    }

    /// Mark a trash row restored (or purged): it is no longer in the trash.
    pub fn forget_trash(&self, id: i64) -> anyhow::Result<()> {
        self.conn
            .execute("UPDATE trash SET restored = 1 WHERE id = ?1", [id])?;
        Ok(())
    }

    // ---- dirty marks (the watcher) ---------------------------------------

    /// Record that `paths` changed on disk (their whole subtree, `""` for a
    /// root), for the next incremental run.
    pub fn mark_dirty(&mut self, conduit: i64, paths: &[(Side, String)]) -> anyhow::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt =
                tx.prepare("INSERT INTO dirty (conduit, side, path) VALUES (?1, ?2, ?3)")?;
            for (side, path) in paths {
                stmt.execute(params![conduit, side_id(*side), path])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The conduit's dirty marks, per side (source, destination), and the
    /// newest mark's id, to clear exactly these once a run has used them.
    pub fn dirty(&self, conduit: i64) -> anyhow::Result<([Vec<String>; 2], i64)> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, side, path FROM dirty WHERE conduit = ?1 ORDER BY id")?;
        let mut rows = stmt.query([conduit])?;
        let (mut marks, mut upto) = ([Vec::new(), Vec::new()], 0);
        while let Some(r) = rows.next()? {
            upto = r.get(0)?;
            let side: i64 = r.get(1)?;
            marks[usize::from(side != 0)].push(r.get(2)?);
        }
        Ok((marks, upto))
    }

    /// Forget dirty marks up to and including id `upto`; marks added since
    /// (during the run) stay for the next one.
    pub fn clear_dirty(&self, conduit: i64, upto: i64) -> anyhow::Result<()> {
        self.conn.execute(
            "DELETE FROM dirty WHERE conduit = ?1 AND id <= ?2",
            params![conduit, upto],
        )?;
        Ok(())
    }

    /// The paired devices, by name.
    pub fn devices(&self) -> anyhow::Result<Vec<Device>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, id, address, last_seen_ns FROM devices ORDER BY name")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get(2)?,
                r.get(3)?,
            ))
        })?;
        let mut devices = Vec::new();
        for row in rows {
            let (name, id, address, last_seen_ns) = row?;
            let id = id
                .parse()
                .map_err(|e| anyhow::anyhow!("the index's device {name}: {e}"))?;
            devices.push(Device {
                name,
                id,
                address,
                last_seen_ns,
            });
        }
        Ok(devices)
    }

    /// Pair a device (or change the address of one paired under this name
    /// and ID).
    pub fn put_device(&self, device: &Device) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT INTO devices (name, id, address) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET id = ?2, address = ?3",
            params![device.name, device.id.to_string(), device.address],
        )?;
        Ok(())
    }

    /// Unpair a device; false if none has that name.
    pub fn remove_device(&self, name: &str) -> anyhow::Result<bool> {
        let device = self
            .conn
            .query_row("SELECT id FROM devices WHERE name = ?1", [name], |r| {
                r.get::<_, String>(0)
            })
            .optional()?;
        let Some(id) = device else { return Ok(false) };
        self.conn
            .execute("DELETE FROM peer_listings WHERE device = ?1", [&id])?;
        self.conn
            .execute("DELETE FROM devices WHERE name = ?1", [name])?;
        Ok(true)
    }

    /// A connection with the device `id` succeeded now.
    pub fn device_seen(&self, id: &DeviceId) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE devices SET last_seen_ns = ?1 WHERE id = ?2",
            params![now_ns(), id.to_string()],
        )?;
        Ok(())
    }

    /// The listing last sent to device `device` of this home's `root`, and
    /// its token.
    pub fn peer_listing(
        &self,
        device: &DeviceId,
        root: &str,
    ) -> anyhow::Result<Option<(String, Vec<u8>)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT token, records FROM peer_listings WHERE device = ?1 AND root = ?2",
                params![device.to_string(), root],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Keep the listing sent to `device` of `root`.
    pub fn put_peer_listing(
        &self,
        device: &DeviceId,
        root: &str,
        token: &str,
        records: &[u8],
    ) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO peer_listings (device, root, token, records) VALUES (?1, ?2, ?3, ?4)",
            params![device.to_string(), root, token, records],
        )?;
        Ok(())
    }

    /// The listing last received of a conduit's root on a device, and its token.
    pub fn remote_listing(
        &self,
        conduit: i64,
        side: Side,
    ) -> anyhow::Result<Option<(String, Vec<u8>)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT token, records FROM remote_listings WHERE conduit = ?1 AND side = ?2",
                params![conduit, side.index() as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Keep the listing received of a conduit's root on a device.
    pub fn put_remote_listing(
        &self,
        conduit: i64,
        side: Side,
        token: &str,
        records: &[u8],
    ) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO remote_listings (conduit, side, token, records) VALUES (?1, ?2, ?3, ?4)",
            params![conduit, side.index() as i64, token, records],
        )?;
        Ok(())
    }

    /// The conduit's pinned globs.
    pub fn pins(&self, conduit: i64) -> anyhow::Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare("SELECT glob FROM pins WHERE conduit = ?1 ORDER BY glob")?;
        let rows = stmt.query_map([conduit], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Pin or unpin a glob; false when nothing changed.
    pub fn set_pin(&self, conduit: i64, glob: &str, pinned: bool) -> anyhow::Result<bool> {
        let changed = if pinned {
            self.conn.execute(
                "INSERT OR IGNORE INTO pins (conduit, glob) VALUES (?1, ?2)",
                params![conduit, glob],
            )?
        } else {
            self.conn.execute(
                "DELETE FROM pins WHERE conduit = ?1 AND glob = ?2",
                params![conduit, glob],
            )?
        };
        Ok(changed > 0)
    }
}

/// Create the folder `dir` (and its parents) readable by its owner only, or
/// make an existing one so.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}
