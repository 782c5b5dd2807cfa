//! The executor's state: what each action did to each side, turned into
//! index updates (entries, base, journal, trash, conflicts) and counts.
//!
//! Every change goes through here, so every touched path's base comes from
//! one rule, [`super::settle::new_base`].

use std::collections::{BTreeSet, HashMap, HashSet};

use super::manifest::ManifestEntry;
use super::settle::{After, NewBase, new_base};
use super::{Outcome, Run, StagedOrPresent, Transfer, TransferKind, journal, trash_record};
use crate::index::{Batch, Ended, Index, Record, Verb};
use crate::location::{CommitError, Location};
use conduit_contract::{Action, Kind, Operation, Side, State};

/// Why an action did not happen: skipped (comes back next run) or failed.
pub(crate) enum Problem {
    Skip(String),
    Fail(String),
}

/// A transfer after its commit: what it pushed into the trash, if anything.
pub(crate) struct Committed {
    trashed: Option<String>,
    /// False when the identical content was already there (no bytes moved).
    copied: bool,
}

pub(crate) struct Effects<'r> {
    run: &'r Run<'r>,
    /// Per side: what a path holds after this run's actions (`None`: removed).
    overlay: [HashMap<String, Option<Record>>; 2],
    /// Paths whose base must be recomputed at the next flush.
    touched: BTreeSet<String>,
    /// Paths whose source copy this run evicted (`true`) or hydrated (`false`).
    offload: HashMap<String, bool>,
    /// Source paths archive moved (or is moving) to the destination.
    moved: HashSet<String>,
    /// Per side: overlay paths not yet written to the index.
    dirty: [BTreeSet<String>; 2],
    /// Directories written, for their mode and mtime at the end.
    dirs: Vec<WrittenDir>,
    /// Per side: paths that went to the trash inside a folder a file or
    /// symlink replaced; their planned deletes are already done.
    swept: [BTreeSet<String>; 2],
    batch: Batch,
    pub(crate) outcome: Outcome,
}

/// A directory this run created or refreshed: its mode and mtime are set
/// once everything inside it is written (a read-only or dated folder would
/// otherwise refuse its files or lose its date).
struct WrittenDir {
    side: Side,
    path: String,
    mode: u32,
    mtime_ns: i64,
    /// The original's owner, which decides whether setuid/setgid are kept.
    owner: (u32, u32),
}

fn transfer_verb(kind: TransferKind) -> Verb {
    match kind {
        TransferKind::Copy => Verb::Copy,
        TransferKind::Hydrate => Verb::Hydrate,
        TransferKind::Move => Verb::MoveToDestination,
        TransferKind::CopyThenEvict => Verb::CopyThenEvict,
    }
}

impl<'r> Effects<'r> {
    pub(crate) fn new(run: &'r Run<'r>) -> Effects<'r> {
        Effects {
            run,
            overlay: Default::default(),
            touched: BTreeSet::new(),
            offload: HashMap::new(),
            moved: HashSet::new(),
            dirty: Default::default(),
            dirs: Vec::new(),
            swept: Default::default(),
            batch: Batch::default(),
            outcome: Outcome::default(),
        }
    }

    fn root(&self, side: Side) -> &dyn Location {
        self.run.roots[side.index()]
    }

    fn scanned(&self, side: Side, path: &str) -> Option<&Record> {
        self.run.scans[side.index()].get(path)
    }

    /// What `path` holds on `side` now, as far as this run knows.
    fn current(&self, side: Side, path: &str) -> Option<&Record> {
        match self.overlay[side.index()].get(path) {
            Some(now) => now.as_ref(),
            None => self.scanned(side, path),
        }
    }

    fn set(&mut self, side: Side, path: &str, record: Option<Record>) {
        self.overlay[side.index()].insert(path.to_string(), record);
        self.dirty[side.index()].insert(path.to_string());
        self.touched.insert(path.to_string());
    }

    /// Is `path` on `side` still what the scan saw (absent stays absent)?
    fn unchanged_since_scan(&self, side: Side, path: &str) -> Result<(), Problem> {
        let now = self
            .root(side)
            .stat(path)
            .map_err(|e| Problem::Fail(format!("cannot check the {}: {e}", side.name())))?;
        let expected = self.current(side, path);
        let same = match (expected, &now) {
            (None, None) => true,
            (Some(seen), Some(now)) => {
                seen.kind == Kind::Directory && now.kind == Kind::Directory
                    || !seen.stale_against(now)
            }
            _ => false,
        };
        if same {
            Ok(())
        } else {
            Err(Problem::Skip(changed(side)))
        }
    }

    fn problem(&mut self, path: &str, verb: Verb, problem: Problem) {
        let (ended, reason) = match problem {
            Problem::Skip(r) => {
                self.outcome.counts.skipped += 1;
                (Ended::Skipped, r)
            }
            Problem::Fail(r) => {
                self.outcome.counts.failed += 1;
                (Ended::Failed, r)
            }
        };
        self.outcome.problems.push(format!(
            "{path}: {} {}: {reason}",
            verb.name(),
            ended.name()
        ));
        self.batch
            .journal
            .push(journal(path, verb, ended, Some(reason)));
    }

    pub(crate) fn skip(&mut self, i: usize, verb: Verb, reason: &str) {
        let path = self.run.entries[i].path.clone();
        self.problem(&path, verb, Problem::Skip(reason.to_string()));
    }

    fn done(&mut self, path: &str, verb: Verb, detail: Option<String>) {
        self.batch
            .journal
            .push(journal(path, verb, Ended::Done, detail));
    }

    fn trashed(&mut self, side: Side, path: &str, slot: String) {
        let seen = self.current(side, path).cloned();
        if seen.as_ref().is_some_and(|r| r.kind == Kind::Directory) {
            self.sweep_below(side, path);
        }
        self.batch
            .trash
            .push(trash_record(side, path, slot, seen.as_ref()));
    }

    /// A folder went to the trash whole: what the run knew under it went
    /// with it.
    fn sweep_below(&mut self, side: Side, path: &str) {
        let s = side.index();
        let prefix = format!("{path}/");
        let below: Vec<String> = self.run.scans[s]
            .keys()
            .chain(self.overlay[s].keys())
            .filter(|p| p.starts_with(&prefix))
            .cloned()
            .collect();
        for p in below {
            if self.current(side, &p).is_some() {
                self.set(side, &p, None);
                self.swept[s].insert(p);
            }
        }
    }

    // ---- directories --------------------------------------------------

    pub(crate) fn directory(&mut self, i: usize, from: Side) {
        let e = &self.run.entries[i];
        let (path, to) = (e.path.clone(), from.other());
        let Some(state) = e.state(from).cloned() else {
            return;
        };
        if let Some(existing) = self.current(to, &path)
            && existing.kind != Kind::Directory
            && let Err(p) = self.unchanged_since_scan(to, &path)
        {
            return self.problem(&path, Verb::Copy, p);
        }
        let owner = match self.root(from).owner(&path) {
            Ok(Some(owner)) => owner,
            Ok(None) => return self.problem(&path, Verb::Copy, Problem::Skip(changed(from))),
            Err(e) => return self.problem(&path, Verb::Copy, Problem::Fail(e.to_string())),
        };
        match self.root(to).make_dir(&path, self.run.generation) {
            Ok(trashed) => {
                if let Some(slot) = trashed {
                    self.trashed(to, &path, slot);
                }
                let record = self.root(to).stat(&path).ok().flatten();
                self.set(to, &path, record);
                self.dirs.push(WrittenDir {
                    side: to,
                    path: path.clone(),
                    mode: state.mode,
                    mtime_ns: state.mtime_ns,
                    owner,
                });
                self.outcome.counts.copied += 1;
                self.done(
                    &path,
                    Verb::Copy,
                    Some(format!("directory to the {}", to.name())),
                );
            }
            Err(e) => self.problem(&path, Verb::Copy, Problem::Fail(e.to_string())),
        }
    }

    /// Directory modes and mtimes last, deepest first: writing inside a
    /// directory changes its mtime, and a read-only one takes no new files.
    pub(crate) fn finish_directories(&mut self) {
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by(|a, b| b.path.cmp(&a.path));
        for d in dirs {
            let root = self.root(d.side);
            let set = root
                .set_mode(&d.path, d.mode, d.owner)
                .and_then(|()| root.set_mtime(&d.path, d.mtime_ns));
            match set.and_then(|()| root.stat(&d.path)) {
                Ok(Some(record)) => self.set(d.side, &d.path, Some(record)),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(path = %d.path, "cannot set the folder's mode or time: {e}")
                }
            }
        }
    }

    // ---- transfers ----------------------------------------------------

    fn expected(&self, t: &Transfer) -> Option<&Record> {
        self.scanned(t.from, &self.run.entries[t.entry].path)
    }

    pub(crate) fn stage(&self, t: &Transfer) -> Result<StagedOrPresent, Problem> {
        let e = &self.run.entries[t.entry];
        let to = t.from.other();
        let Some(source) = self.expected(t) else {
            return Err(Problem::Fail("the source vanished from the scan".into()));
        };
        self.unchanged_since_scan(t.from, &e.path)?;
        if t.kind == TransferKind::Move
            && let Some(there) = self.current(to, &t.to)
        {
            // Archive never overwrites: identical content is re-verified later.
            return if there.kind == Kind::File && there.digest == source.digest {
                Ok(StagedOrPresent::AlreadyThere)
            } else {
                Err(Problem::Fail(format!(
                    "{:?} already exists on the destination with other content",
                    t.to
                )))
            };
        }
        self.unchanged_since_scan(to, &t.to)?;
        let mut opened = self
            .root(t.from)
            .open_file(&e.path)
            .map_err(|err| Problem::Fail(format!("reading the {} failed: {err}", t.from.name())))?;
        if source.stale_against(&opened.record) {
            return Err(Problem::Skip(changed(t.from)));
        }
        let staged = self
            .root(to)
            .stage_file(
                &mut opened.reader,
                opened.owner,
                &t.to,
                source.mode,
                source.mtime_ns,
            )
            .map_err(|err| Problem::Fail(format!("writing the {} failed: {err}", to.name())))?;
        crate::testhook::point("exec:staged");
        // A file still being written changes under the copy: never commit a
        // torn copy; the next run takes the finished file.
        if let Err(p) = self.unchanged_since_scan(t.from, &e.path) {
            self.root(to).discard(staged);
            return Err(p);
        }
        Ok(StagedOrPresent::Staged(staged))
    }

    pub(crate) fn commit(&mut self, t: &Transfer, staged: StagedOrPresent) -> Option<Committed> {
        let to = t.from.other();
        let staged = match staged {
            StagedOrPresent::AlreadyThere => {
                return Some(Committed {
                    trashed: None,
                    copied: false,
                });
            }
            StagedOrPresent::Staged(s) => s,
        };
        // Between staging and now the target may have changed: check again
        // right before it is replaced.
        if let Err(p) = self.unchanged_since_scan(to, &t.to) {
            self.root(to).discard(staged);
            self.fail_transfer(t, p);
            return None;
        }
        let expected = self.current(to, &t.to).cloned();
        match self
            .root(to)
            .commit(staged, self.run.generation, expected.as_ref())
        {
            Ok(trashed) => {
                crate::testhook::point("exec:committed");
                Some(Committed {
                    trashed,
                    copied: true,
                })
            }
            Err(CommitError::Changed) => {
                self.fail_transfer(t, Problem::Skip(changed(to)));
                None
            }
            Err(CommitError::Io(err)) => {
                self.fail_transfer(t, Problem::Fail(format!("committing failed: {err}")));
                None
            }
        }
    }

    /// Re-read the committed file and compare with the source's digest.
    pub(crate) fn verify(&self, t: &Transfer) -> Result<Record, String> {
        let to = t.from.other();
        let expected = self.expected(t).and_then(|r| r.digest);
        let root = self.root(to);
        let mut record = root
            .stat(&t.to)
            .map_err(|e| e.to_string())?
            .ok_or("the committed file is gone")?;
        let digest = root.hash(&t.to, Kind::File).map_err(|e| e.to_string())?;
        if Some(digest) != expected {
            return Err("the copy's content does not match the source".into());
        }
        record.digest = Some(digest);
        Ok(record)
    }

    pub(crate) fn source_unchanged(&self, t: &Transfer) -> bool {
        self.unchanged_since_scan(t.from, &self.run.entries[t.entry].path)
            .is_ok()
    }

    /// A commit whose copy did not verify: the old version is in the trash
    /// all the same, and the target holds unverified content (no digest), so
    /// a retry's changed-since-scan check sees what is really there.
    pub(crate) fn keep_trash(&mut self, t: &Transfer, c: Committed) {
        let to = t.from.other();
        if let Some(slot) = c.trashed {
            self.trashed(to, &t.to, slot);
        }
        let now = self.root(to).stat(&t.to).ok().flatten().map(|mut r| {
            r.digest = None;
            r
        });
        self.set(to, &t.to, now);
    }

    pub(crate) fn fail_transfer(&mut self, t: &Transfer, p: Problem) {
        let path = self.run.entries[t.entry].path.clone();
        self.problem(&path, transfer_verb(t.kind), p);
    }

    pub(crate) fn transferred(&mut self, t: &Transfer, c: Committed, record: Record) {
        let to = t.from.other();
        let path = self.run.entries[t.entry].path.clone();
        if let Some(slot) = c.trashed {
            self.trashed(to, &t.to, slot);
        }
        self.set(to, &t.to, Some(record));
        let counts = &mut self.outcome.counts;
        counts.verified += 1;
        if c.copied {
            counts.bytes += t.size;
        }
        match t.kind {
            TransferKind::Copy | TransferKind::CopyThenEvict => counts.copied += 1,
            TransferKind::Hydrate => {
                counts.hydrated += 1;
                self.offload.insert(path.clone(), false);
            }
            // Counted when the source is removed; the base never records an
            // archived path as agreed, so a crash before the removal leaves
            // nothing for the emptied-root guard to miss.
            TransferKind::Move => {
                self.moved.insert(path.clone());
            }
        }
        self.done(
            &path,
            transfer_verb(t.kind),
            Some(format!("verified on the {}", to.name())),
        );
    }

    /// Phase 4: the sources whose destination copy verified go, archived
    /// originals and evictions (not to the trash: their content is safe in
    /// the destination). Each is made crash-safe before the source copy
    /// disappears: an archive's manifest line is durable first, and an
    /// eviction is recorded in the index first (settled when the base says
    /// offloaded), so no crash can make an evicted file look deleted.
    pub(crate) fn remove_verified_sources(
        &mut self,
        index: &mut Index,
        verified: &[Transfer],
        stored: &[usize],
    ) -> anyhow::Result<()> {
        let mut moves: Vec<&Transfer> = verified
            .iter()
            .filter(|t| t.kind == TransferKind::Move)
            .collect();
        let lines: Vec<String> = moves
            .iter()
            .filter_map(|t| {
                let path = &self.run.entries[t.entry].path;
                let seen = self.scanned(Side::Source, path)?;
                Some(self.manifest_line(path, &t.to, seen))
            })
            .collect();
        if let Err(e) = self.append_manifest(&lines) {
            for t in moves.drain(..) {
                let path = self.run.entries[t.entry].path.clone();
                let why = format!("cannot write the archive manifest ({e}); the original stays");
                self.problem(&path, Verb::MoveToDestination, Problem::Fail(why));
            }
        }
        for t in moves {
            let path = self.run.entries[t.entry].path.clone();
            match self.remove_source(&path) {
                Ok(()) => {
                    crate::testhook::point("exec:archived");
                    self.archived(&path, &t.to);
                }
                Err(p) => self.problem(&path, Verb::MoveToDestination, p),
            }
        }

        let mut evictions: Vec<(String, State)> = Vec::new();
        for t in verified
            .iter()
            .filter(|t| t.kind == TransferKind::CopyThenEvict)
        {
            let path = self.run.entries[t.entry].path.clone();
            if let Some(stored) = self.current(Side::Destination, &path) {
                evictions.push((path, stored.state()));
            }
        }
        for &i in stored {
            let path = self.run.entries[i].path.clone();
            match self.reverify_stored(&path) {
                Ok(state) => {
                    self.outcome.counts.verified += 1;
                    evictions.push((path, state));
                }
                Err(p) => self.problem(&path, Verb::Evict, p),
            }
        }
        index.record_evictions(self.run.conduit, &evictions)?;
        crate::testhook::point("exec:evictions-recorded");
        for (path, _) in evictions {
            match self.remove_source(&path) {
                Ok(()) => {
                    crate::testhook::point("exec:evicted");
                    self.offload.insert(path.clone(), true);
                    self.outcome.counts.evicted += 1;
                    self.done(&path, Verb::Evict, None);
                }
                Err(p) => {
                    // The source copy is still there: the eviction is off.
                    self.batch.evictions_settled.push(path.clone());
                    self.problem(&path, Verb::Evict, p);
                }
            }
        }
        self.flush(index)
    }

    /// An archive move is complete: the original is gone, the base forgets
    /// the path (archive never keeps both sides in step).
    fn archived(&mut self, path: &str, to: &str) {
        self.moved.insert(path.to_string());
        self.touched.insert(path.to_string());
        self.outcome.counts.moved += 1;
        self.done(
            path,
            Verb::MoveToDestination,
            Some(format!("archived as {to:?}")),
        );
    }

    fn append_manifest(&self, lines: &[String]) -> std::io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        self.root(Side::Destination).append_manifest(lines)
    }

    /// Archive's record of a verified move ([`super::manifest`]).
    fn manifest_line(&self, original: &str, to: &str, seen: &Record) -> String {
        ManifestEntry::new(original, to, seen, self.run.generation).line()
    }

    fn remove_source(&mut self, path: &str) -> Result<(), Problem> {
        self.unchanged_since_scan(Side::Source, path)?;
        self.root(Side::Source)
            .remove_file(path)
            .map_err(|e| Problem::Fail(e.to_string()))?;
        self.set(Side::Source, path, None);
        Ok(())
    }

    /// The destination copy of a file to evict that was already stored:
    /// re-read now; its state if it still matches the source.
    fn reverify_stored(&self, path: &str) -> Result<State, Problem> {
        let expected = self.scanned(Side::Source, path).and_then(|r| r.digest);
        let stored = self
            .current(Side::Destination, path)
            .cloned()
            .ok_or_else(|| Problem::Fail("the destination copy is gone".into()))?;
        let digest = self
            .root(Side::Destination)
            .hash(path, Kind::File)
            .map_err(|e| Problem::Fail(format!("cannot re-read the destination copy: {e}")))?;
        if Some(digest) != expected {
            return Err(Problem::Fail(
                "the destination copy does not match; the file stays local".into(),
            ));
        }
        Ok(State {
            digest: Some(digest),
            ..stored.state()
        })
    }

    // ---- compound changes -------------------------------------------------

    /// Run one entry's actions in the policy's order; stop at the first
    /// that does not succeed.
    pub(crate) fn compound(&mut self, i: usize, actions: &[Action]) {
        let path = self.run.entries[i].path.clone();
        for a in actions {
            if let Err(p) = self.one(i, &a.operation) {
                return self.problem(&path, (&a.operation).into(), p);
            }
        }
    }

    fn one(&mut self, i: usize, op: &Operation) -> Result<(), Problem> {
        let e = &self.run.entries[i];
        let path = e.path.clone();
        match op {
            Operation::Copy(c) => {
                let to = c.to_path.clone().unwrap_or_else(|| path.clone());
                let kind = e.state(c.from).map(|s| s.kind);
                match kind {
                    Some(Kind::Directory) => {
                        self.directory(i, c.from);
                        Ok(())
                    }
                    Some(Kind::Symlink) => self.copy_symlink(i, c.from, &to),
                    _ => self.copy_file_now(i, c.from, &to),
                }
            }
            Operation::Rename(r) => {
                self.unchanged_since_scan(r.side, &path)?;
                self.root(r.side)
                    .rename(&path, &r.to_path)
                    .map_err(|e| Problem::Fail(e.to_string()))?;
                let moved = self.current(r.side, &path).cloned();
                let record = self
                    .root(r.side)
                    .stat(&r.to_path)
                    .ok()
                    .flatten()
                    .map(|mut now| {
                        now.digest = moved.and_then(|m| m.digest);
                        now
                    });
                crate::testhook::point("exec:renamed");
                self.set(r.side, &path, None);
                self.set(r.side, &r.to_path, record);
                self.outcome.counts.renamed += 1;
                self.done(
                    &path,
                    Verb::Rename,
                    Some(format!("to {:?} on the {}", r.to_path, r.side.name())),
                );
                Ok(())
            }
            Operation::MoveToDestination(to)
                if e.source.as_ref().is_some_and(|s| s.kind == Kind::Symlink) =>
            {
                let to = to.clone().unwrap_or_else(|| path.clone());
                self.move_symlink(i, &to)
            }
            other => Err(Problem::Fail(format!(
                "{} cannot be combined here",
                other.name()
            ))),
        }
    }

    /// A single verified copy with its own durability (compound changes).
    fn copy_file_now(&mut self, i: usize, from: Side, to_path: &str) -> Result<(), Problem> {
        let t = Transfer {
            entry: i,
            from,
            to: to_path.to_string(),
            kind: TransferKind::Copy,
            size: self.run.entries[i].state(from).map_or(0, |s| s.size),
        };
        let staged = self.stage(&t)?;
        let _ = self.root(from.other()).sync();
        let Some(commit) = self.commit(&t, staged) else {
            // `commit` reported the problem itself.
            return Ok(());
        };
        let _ = self.root(from.other()).sync();
        match self.verify(&t) {
            Ok(record) => {
                self.transferred(&t, commit, record);
                Ok(())
            }
            Err(reason) => Err(Problem::Fail(reason)),
        }
    }

    fn copy_symlink(&mut self, i: usize, from: Side, to_path: &str) -> Result<(), Problem> {
        self.write_symlink(i, from, to_path)?;
        self.outcome.counts.copied += 1;
        let path = self.run.entries[i].path.clone();
        let to = from.other().name();
        self.done(&path, Verb::Copy, Some(format!("symlink to the {to}")));
        Ok(())
    }

    /// Archive a symlink: the same link on the destination (never over
    /// anything else), then the original goes.
    fn move_symlink(&mut self, i: usize, to_path: &str) -> Result<(), Problem> {
        let path = self.run.entries[i].path.clone();
        let seen = self
            .scanned(Side::Source, &path)
            .cloned()
            .ok_or_else(|| Problem::Fail("the source vanished from the scan".into()))?;
        match self.current(Side::Destination, to_path) {
            Some(there) if there.kind == Kind::Symlink && there.digest == seen.digest => {}
            Some(_) => {
                return Err(Problem::Fail(format!(
                    "{to_path:?} already exists on the destination with other content"
                )));
            }
            None => self.write_symlink(i, Side::Source, to_path)?,
        }
        let line = self.manifest_line(&path, to_path, &seen);
        self.append_manifest(&[line]).map_err(|e| {
            Problem::Fail(format!(
                "cannot write the archive manifest ({e}); the original stays"
            ))
        })?;
        self.remove_source(&path)?;
        self.archived(&path, to_path);
        Ok(())
    }

    /// Write the symlink of entry `i` on `from` at `to_path` on the other
    /// side, and check it: its target must be the one the scan saw.
    fn write_symlink(&mut self, i: usize, from: Side, to_path: &str) -> Result<(), Problem> {
        let path = self.run.entries[i].path.clone();
        let to = from.other();
        let fail = |e: std::io::Error| Problem::Fail(e.to_string());
        self.unchanged_since_scan(from, &path)?;
        self.unchanged_since_scan(to, to_path)?;
        let expected = self.scanned(from, &path).and_then(|r| r.digest);
        let target = self.root(from).read_link(&path).map_err(fail)?;
        if Some(crate::scan::hash_bytes(&target)) != expected {
            return Err(Problem::Skip(changed(from)));
        }
        let existing = self.current(to, to_path).cloned();
        let trashed = self
            .root(to)
            .make_symlink(&target, to_path, self.run.generation, existing.as_ref())
            .map_err(|e| match e {
                CommitError::Changed => Problem::Skip(changed(to)),
                CommitError::Io(e) => fail(e),
            })?;
        if let Some(slot) = trashed {
            self.trashed(to, to_path, slot);
        }
        let digest = self.root(to).hash(to_path, Kind::Symlink).map_err(fail)?;
        if Some(digest) != expected {
            return Err(Problem::Fail(
                "the new link does not match the source".into(),
            ));
        }
        let record = self.root(to).stat(to_path).ok().flatten().map(|mut r| {
            r.digest = Some(digest);
            r
        });
        self.set(to, to_path, record);
        self.outcome.counts.verified += 1;
        Ok(())
    }

    // ---- deletes and decisions without I/O ------------------------------

    pub(crate) fn delete(&mut self, i: usize, side: Side) {
        let e = &self.run.entries[i];
        let path = e.path.clone();
        if self.swept[side.index()].remove(&path) {
            self.outcome.counts.deleted += 1;
            return self.done(
                &path,
                Verb::Delete,
                Some(format!(
                    "on the {}, into the trash with its folder",
                    side.name()
                )),
            );
        }
        let is_dir = self
            .current(side, &path)
            .is_some_and(|r| r.kind == Kind::Directory);
        let result = self.unchanged_since_scan(side, &path).and_then(|()| {
            let root = self.root(side);
            if is_dir {
                match root.remove_empty_dir(&path) {
                    Ok(true) => Ok(None),
                    Ok(false) => Err(Problem::Skip(
                        "the directory still holds files this run did not remove".into(),
                    )),
                    Err(e) => Err(Problem::Fail(e.to_string())),
                }
            } else {
                let slot = root
                    .trash(&path, self.run.generation)
                    .map_err(|e| Problem::Fail(e.to_string()))?;
                crate::testhook::point("exec:trashed");
                Ok(Some(slot))
            }
        });
        match result {
            Ok(slot) => {
                if let Some(slot) = slot {
                    self.trashed(side, &path, slot);
                }
                self.set(side, &path, None);
                self.outcome.counts.deleted += 1;
                self.done(&path, Verb::Delete, Some(format!("on the {}", side.name())));
            }
            Err(p) => self.problem(&path, Verb::Delete, p),
        }
    }

    pub(crate) fn no_io(&mut self, i: usize, op: &Operation) {
        let e = &self.run.entries[i];
        let path = e.path.clone();
        match op {
            Operation::Accept => {
                if e.offloaded && e.source.is_none() {
                    self.offload.insert(path.clone(), true);
                }
                self.touched.insert(path.clone());
                self.batch.conflicts.push((path, None));
                self.outcome.counts.accepted += 1;
            }
            Operation::Conflict(reason) => {
                self.outcome.counts.conflicts += 1;
                self.batch
                    .conflicts
                    .push((path.clone(), Some(reason.clone())));
                self.batch.journal.push(journal(
                    &path,
                    Verb::Conflict,
                    Ended::Done,
                    Some(reason.clone()),
                ));
            }
            Operation::Skip(reason) => {
                self.outcome.counts.skipped += 1;
                self.batch.journal.push(journal(
                    &path,
                    Verb::Skip,
                    Ended::Done,
                    Some(reason.clone()),
                ));
            }
            _ => {}
        }
    }

    // ---- to the index -----------------------------------------------------

    /// The new base of every touched path ([`super::settle`]).
    fn settle_base(&mut self) {
        for path in std::mem::take(&mut self.touched) {
            let after = After {
                source: self.current(Side::Source, &path),
                destination: self.current(Side::Destination, &path),
                offload: self.offload.get(&path).copied(),
                moved: self.moved.contains(&path),
            };
            let base = match new_base(after) {
                NewBase::Keep => continue,
                NewBase::Forget => None,
                NewBase::Record(base) => {
                    self.batch.conflicts.push((path.clone(), None));
                    Some(base)
                }
            };
            self.batch.base.push((path, base));
        }
    }

    pub(crate) fn flush(&mut self, index: &mut Index) -> anyhow::Result<()> {
        self.settle_base();
        for side in Side::BOTH {
            let s = side.index();
            for path in std::mem::take(&mut self.dirty[s]) {
                let record = self.overlay[s].get(&path).cloned().flatten();
                self.batch.entries[s].push((path, record));
            }
        }
        let batch = std::mem::take(&mut self.batch);
        index.commit(self.run.conduit, self.run.generation, &batch)?;
        crate::testhook::point("exec:flushed");
        Ok(())
    }

    pub(crate) fn into_outcome(self) -> Outcome {
        self.outcome
    }
}

/// Why an action waits for the next run.
fn changed(side: Side) -> String {
    format!(
        "changed on the {} since the scan; it will be planned again next run",
        side.name()
    )
}
