//! The executor's I/O, action by action: each checks that what it replaces is
//! still what the scan saw, works through the roots, and is recorded as an
//! [`Applied`] however it ended. The index batch and the counts are folded
//! from those at each flush by [`settle`], which touches no root.

use std::collections::{BTreeSet, HashMap};

use super::manifest::ManifestEntry;
use super::settle::{Applied, Change, Ending, Problem, settle};
use super::{Outcome, Run, StagedOrPresent, Transfer, TransferKind, trash_record};
use crate::index::{Index, Record, Verb};
use crate::location::{CommitError, Link, Location};
use crate::settings::VerifyFrom;
use conduit_contract::{Action, Digest, Kind, Operation, Side, State};

/// A transfer after its commit: what it pushed into the trash, if anything.
pub(crate) struct Committed {
    trashed: Option<String>,
    landed: Landed,
}

/// How a transfer's content got to its target.
#[derive(Clone, Copy, PartialEq)]
enum Landed {
    /// The bytes were written.
    Copied,
    /// Identical content was there already (archive): nothing was written.
    AlreadyThere,
    /// The content was there already; only its metadata was set.
    Retouched,
}

pub(crate) struct Effects<'r> {
    run: &'r Run<'r>,
    /// Per side: what a path holds after this run's actions (`None`: removed).
    overlay: [HashMap<String, Option<Record>>; 2],
    /// Actions recorded since the last flush.
    applied: Vec<Applied>,
    /// Directories written, for their mode and mtime at the end.
    dirs: Vec<WrittenDir>,
    /// Per side: folders (`""`: the root) whose entries this run changed,
    /// so their mtime is no longer the one they had.
    changed_in: [BTreeSet<String>; 2],
    /// Per side: paths that went to the trash inside a folder a file or
    /// symlink replaced; their planned deletes are already done.
    swept: [BTreeSet<String>; 2],
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

/// What `path` holds on `side` now: the scan, as the run has changed it.
fn holds<'a>(
    overlay: &'a [HashMap<String, Option<Record>>; 2],
    scans: &[&'a HashMap<String, Record>; 2],
    side: Side,
    path: &str,
) -> Option<&'a Record> {
    match overlay[side.index()].get(path) {
        Some(now) => now.as_ref(),
        None => scans[side.index()].get(path),
    }
}

impl<'r> Effects<'r> {
    pub(crate) fn new(run: &'r Run<'r>) -> Effects<'r> {
        Effects {
            run,
            overlay: Default::default(),
            applied: Vec::new(),
            dirs: Vec::new(),
            changed_in: Default::default(),
            swept: Default::default(),
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
        holds(&self.overlay, &self.run.scans, side, path)
    }

    /// Record what an action did; the run's view of the roots follows its
    /// changes at once.
    fn record(&mut self, applied: Applied) {
        for change in &applied.changes {
            let (side, path) = match change {
                Change::Holds { side, path, record } => {
                    self.overlay[side.index()].insert(path.clone(), record.clone());
                    (*side, path)
                }
                Change::Trashed(t) => (t.side, &t.path),
                _ => continue,
            };
            let folder = path.rsplit_once('/').map_or("", |(parent, _)| parent);
            self.changed_in[side.index()].insert(folder.to_string());
        }
        self.applied.push(applied);
    }

    /// Carry out one action with `io`, which notes its changes as it makes
    /// them, and record it however it ended. True if it succeeded.
    fn act(
        &mut self,
        i: usize,
        verb: Verb,
        io: impl FnOnce(&mut Self, &mut Vec<Change>) -> Result<Ending, Problem>,
    ) -> bool {
        let mut changes = Vec::new();
        let result = io(self, &mut changes);
        let done = result.is_ok();
        let entry = &self.run.entries[i];
        self.record(Applied {
            path: entry.path.clone(),
            why: match self.run.asked_by {
                Some(command) => format!("asked for by `conduit {command}`"),
                None => crate::plan::reason(entry),
            },
            verb,
            changes,
            ending: result.unwrap_or_else(Ending::Undone),
        });
        done
    }

    fn path(&self, i: usize) -> String {
        self.run.entries[i].path.clone()
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

    /// The owner of `path` on `side`, which a copy keeps (as root) and
    /// which decides whether setuid and setgid are kept.
    fn owner(&self, side: Side, path: &str) -> Result<(u32, u32), Problem> {
        match self.root(side).owner(path) {
            Ok(Some(owner)) => Ok(owner),
            Ok(None) => Err(Problem::Skip(changed(side))),
            Err(e) => Err(Problem::Fail(e.to_string())),
        }
    }

    pub(crate) fn skip(&mut self, i: usize, verb: Verb, reason: &str) {
        self.act(i, verb, |_, _| Err(Problem::Skip(reason.to_string())));
    }

    /// What was at `path` on `side` went to the trash as `slot`; a folder
    /// takes with it what the run knew under it.
    fn trashed(&mut self, changes: &mut Vec<Change>, side: Side, path: &str, slot: String) {
        let seen = self.current(side, path).cloned();
        if seen.as_ref().is_some_and(|r| r.kind == Kind::Directory) {
            let s = side.index();
            let prefix = format!("{path}/");
            let below: BTreeSet<String> = self.run.scans[s]
                .keys()
                .chain(self.overlay[s].keys())
                .filter(|p| p.starts_with(&prefix) && self.current(side, p).is_some())
                .cloned()
                .collect();
            for p in below {
                self.swept[s].insert(p.clone());
                changes.push(Change::Holds {
                    side,
                    path: p,
                    record: None,
                });
            }
        }
        changes.push(Change::Trashed(trash_record(
            side,
            path,
            slot,
            seen.as_ref(),
        )));
    }

    // ---- directories --------------------------------------------------

    pub(crate) fn directory(&mut self, i: usize, from: Side) {
        self.act(i, Verb::Copy, |s, changes| s.write_dir(changes, i, from));
    }

    fn write_dir(
        &mut self,
        changes: &mut Vec<Change>,
        i: usize,
        from: Side,
    ) -> Result<Ending, Problem> {
        let (path, to) = (self.path(i), from.other());
        // The scan's own record: the entry's state is as the roots'
        // fidelity compares it (a mode may read 0 there).
        let Some(state) = self.scanned(from, &path).cloned() else {
            return Ok(Ending::Step(None));
        };
        if let Some(existing) = self.current(to, &path)
            && existing.kind != Kind::Directory
        {
            self.unchanged_since_scan(to, &path)?;
        }
        let owner = self.owner(from, &path)?;
        let trashed = self
            .root(to)
            .make_dir(&path, self.run.generation)
            .map_err(|e| Problem::Fail(e.to_string()))?;
        if let Some(slot) = trashed {
            self.trashed(changes, to, &path, slot);
        }
        changes.push(Change::Folder);
        let record = self.root(to).stat(&path).ok().flatten();
        changes.push(Change::Holds {
            side: to,
            path: path.clone(),
            record,
        });
        self.dirs.push(WrittenDir {
            side: to,
            path,
            mode: state.mode,
            mtime_ns: state.mtime_ns,
            owner,
        });
        Ok(Ending::Done(Some(format!(
            "directory to the {}",
            to.name()
        ))))
    }

    /// Directory modes and mtimes last, deepest first: writing inside a
    /// directory changes its mtime, and a read-only one takes no new files.
    /// A folder that was not copied but had entries changed gets back the
    /// mtime of its counterpart, where the run left that one alone (as
    /// `rsync -a` does; the roots themselves included).
    pub(crate) fn finish_directories(&mut self) {
        let mut dirs = std::mem::take(&mut self.dirs);
        dirs.sort_by(|a, b| b.path.cmp(&a.path));
        let mut refreshed: [BTreeSet<String>; 2] = Default::default();
        for d in dirs {
            refreshed[d.side.index()].insert(d.path.clone());
            let root = self.root(d.side);
            let set = root
                .set_mode(&d.path, d.mode, d.owner)
                .and_then(|()| root.set_mtime(&d.path, d.mtime_ns));
            match set.and_then(|()| root.stat(&d.path)) {
                Ok(Some(record)) => self.record(Applied {
                    path: d.path.clone(),
                    why: String::new(),
                    verb: Verb::Copy,
                    changes: vec![Change::Holds {
                        side: d.side,
                        path: d.path,
                        record: Some(record),
                    }],
                    ending: Ending::Step(None),
                }),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(path = %d.path, "cannot set the folder's mode or time: {e}")
                }
            }
        }
        let changed_in = std::mem::take(&mut self.changed_in);
        for side in Side::BOTH {
            let (ours, theirs) = (side.index(), side.other().index());
            for folder in changed_in[ours].iter().rev() {
                if refreshed[ours].contains(folder) || changed_in[theirs].contains(folder) {
                    continue;
                }
                if let Some(mtime) = self.counterpart_mtime(side, folder)
                    && let Err(e) = self.root(side).set_mtime(folder, mtime)
                {
                    tracing::warn!(path = %folder, "cannot set the folder's time: {e}");
                }
            }
        }
    }

    /// The mtime of `folder`'s counterpart on the other side, where both
    /// sides hold it as a folder (`""`: the roots, which always are).
    fn counterpart_mtime(&self, side: Side, folder: &str) -> Option<i64> {
        if folder.is_empty() {
            return Some(self.root(side.other()).stat("").ok()??.mtime_ns);
        }
        let is_dir = |s: Side| {
            self.current(s, folder)
                .filter(|r| r.kind == Kind::Directory)
        };
        is_dir(side)?;
        Some(is_dir(side.other())?.mtime_ns)
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
        if let Some(there) = self.current(to, &t.to)
            && there.kind == Kind::File
            && there.digest.is_some()
            && there.digest == source.digest
        {
            // Only the mode or the mtime differs: set them, move no bytes.
            return Ok(StagedOrPresent::SameContent);
        }
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
                self.run.on_written,
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

    pub(crate) fn commit(
        &self,
        t: &Transfer,
        staged: StagedOrPresent,
    ) -> Result<Committed, Problem> {
        let to = t.from.other();
        let staged = match staged {
            StagedOrPresent::AlreadyThere => {
                return Ok(Committed {
                    trashed: None,
                    landed: Landed::AlreadyThere,
                });
            }
            StagedOrPresent::SameContent => {
                self.retouch(t)?;
                return Ok(Committed {
                    trashed: None,
                    landed: Landed::Retouched,
                });
            }
            StagedOrPresent::Staged(s) => s,
        };
        // Between staging and now the target may have changed: check again
        // right before it is replaced.
        if let Err(p) = self.unchanged_since_scan(to, &t.to) {
            self.root(to).discard(staged);
            return Err(p);
        }
        let expected = self.current(to, &t.to);
        match self.root(to).commit(staged, self.run.generation, expected) {
            Ok(trashed) => {
                crate::testhook::point("exec:committed");
                Ok(Committed {
                    trashed,
                    landed: Landed::Copied,
                })
            }
            Err(CommitError::Changed) => Err(Problem::Skip(changed(to))),
            Err(CommitError::Io(err)) => Err(Problem::Fail(format!("committing failed: {err}"))),
        }
    }

    /// Give the target of `t`, which holds the source's content already, the
    /// source's mode, mtime and (as root) owner.
    fn retouch(&self, t: &Transfer) -> Result<(), Problem> {
        let path = &self.run.entries[t.entry].path;
        let to = t.from.other();
        let source = self
            .expected(t)
            .ok_or_else(|| Problem::Fail("the source vanished from the scan".into()))?;
        let there = self
            .current(to, &t.to)
            .ok_or_else(|| Problem::Skip(changed(to)))?;
        let owner = self.owner(t.from, path)?;
        self.root(to)
            .set_metadata(&t.to, there, source.mode, source.mtime_ns, owner)
            .map_err(|e| match e {
                CommitError::Changed => Problem::Skip(changed(to)),
                CommitError::Io(e) => Problem::Fail(format!("setting mode and mtime failed: {e}")),
            })
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
        let removes_source = matches!(t.kind, TransferKind::Move | TransferKind::CopyThenEvict);
        let digest = self
            .reread(to, &t.to, removes_source)
            .map_err(|e| e.to_string())?;
        if Some(digest) != expected {
            return Err("the copy's content does not match the source".into());
        }
        record.digest = Some(digest);
        Ok(record)
    }

    /// Re-read file `path` on `side` to verify it, from the device where
    /// the conduit's `verify-from` says so; `removes_source`: the source
    /// copy goes once this verifies (`auto` then reads from the device).
    fn reread(&self, side: Side, path: &str, removes_source: bool) -> std::io::Result<Digest> {
        let from_media = match self.run.verify_from {
            VerifyFrom::Media => true,
            VerifyFrom::Cache => false,
            VerifyFrom::Auto => removes_source,
        };
        match from_media {
            true => self.root(side).hash_from_media(path),
            false => self.root(side).hash(path, Kind::File),
        }
    }

    pub(crate) fn source_unchanged(&self, t: &Transfer) -> bool {
        self.unchanged_since_scan(t.from, &self.run.entries[t.entry].path)
            .is_ok()
    }

    /// A commit's changes: the old version's trash slot and what the target
    /// holds now.
    fn landed(
        &mut self,
        changes: &mut Vec<Change>,
        t: &Transfer,
        c: Committed,
        now: Option<Record>,
    ) {
        let to = t.from.other();
        if let Some(slot) = c.trashed {
            self.trashed(changes, to, &t.to, slot);
        }
        changes.push(Change::Holds {
            side: to,
            path: t.to.clone(),
            record: now,
        });
    }

    /// A commit whose copy did not verify: the old version is in the trash
    /// all the same, and the target holds unverified content (no digest), so
    /// a retry's changed-since-scan check sees what is really there.
    fn unverified(&mut self, changes: &mut Vec<Change>, t: &Transfer, c: Committed) {
        let now = self
            .root(t.from.other())
            .stat(&t.to)
            .ok()
            .flatten()
            .map(|mut r| {
                r.digest = None;
                r
            });
        self.landed(changes, t, c, now);
    }

    /// A commit that did not verify and is tried again.
    pub(crate) fn retry(&mut self, t: &Transfer, c: Committed) {
        self.act(t.entry, transfer_verb(t.kind), |s, changes| {
            s.unverified(changes, t, c);
            Ok(Ending::Step(None))
        });
    }

    /// A transfer that failed; `committed` if its commit replaced the target.
    pub(crate) fn fail_transfer(&mut self, t: &Transfer, committed: Option<Committed>, p: Problem) {
        self.act(t.entry, transfer_verb(t.kind), |s, changes| {
            if let Some(c) = committed {
                s.unverified(changes, t, c);
            }
            Err(p)
        });
    }

    pub(crate) fn transferred(&mut self, t: &Transfer, c: Committed, record: Record) {
        self.act(t.entry, transfer_verb(t.kind), |s, changes| {
            Ok(s.verified(changes, t, c, record))
        });
    }

    fn verified(
        &mut self,
        changes: &mut Vec<Change>,
        t: &Transfer,
        c: Committed,
        record: Record,
    ) -> Ending {
        let landed = c.landed;
        self.landed(changes, t, c, Some(record));
        changes.push(Change::Verified);
        match landed {
            Landed::Copied => changes.push(Change::Bytes(t.size)),
            Landed::Retouched => changes.push(Change::MetadataOnly),
            Landed::AlreadyThere => {}
        }
        let detail = format!("verified on the {}", t.from.other().name());
        match t.kind {
            TransferKind::Copy | TransferKind::CopyThenEvict => Ending::Done(Some(detail)),
            TransferKind::Hydrate => {
                changes.push(Change::Offloaded(false));
                Ending::Done(Some(detail))
            }
            // Counted when the source is removed; the base never records an
            // archived path as agreed, so a crash before the removal leaves
            // nothing for the emptied-root guard to miss.
            TransferKind::Move => {
                changes.push(Change::Archived);
                Ending::Step(Some(detail))
            }
        }
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
                let why = format!("cannot write the archive manifest ({e}); the original stays");
                self.act(t.entry, Verb::MoveToDestination, |_, _| {
                    Err(Problem::Fail(why))
                });
            }
        }
        for t in moves {
            let path = self.path(t.entry);
            self.act(t.entry, Verb::MoveToDestination, |s, changes| {
                s.remove_source(changes, &path)?;
                crate::testhook::point("exec:archived");
                Ok(archived(changes, &t.to))
            });
        }

        // (entry, the destination state the base will record, re-verified now)
        let mut evictions: Vec<(usize, State, bool)> = Vec::new();
        for t in verified
            .iter()
            .filter(|t| t.kind == TransferKind::CopyThenEvict)
        {
            if let Some(stored) = self.current(Side::Destination, &self.run.entries[t.entry].path) {
                evictions.push((t.entry, stored.state(), false));
            }
        }
        for &i in stored {
            match self.reverify_stored(&self.path(i)) {
                Ok(state) => evictions.push((i, state, true)),
                Err(p) => {
                    self.act(i, Verb::Evict, |_, _| Err(p));
                }
            }
        }
        let intents: Vec<(String, State)> = evictions
            .iter()
            .map(|(i, state, _)| (self.path(*i), *state))
            .collect();
        index.record_evictions(self.run.conduit, &intents)?;
        crate::testhook::point("exec:evictions-recorded");
        for (i, _, reverified) in evictions {
            let path = self.path(i);
            self.act(i, Verb::Evict, |s, changes| {
                if reverified {
                    changes.push(Change::Verified);
                }
                if let Err(p) = s.remove_source(changes, &path) {
                    // The source copy is still there: the eviction is off.
                    changes.push(Change::EvictionOff);
                    return Err(p);
                }
                crate::testhook::point("exec:evicted");
                changes.push(Change::Offloaded(true));
                Ok(Ending::Done(None))
            });
        }
        self.flush(index)
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

    fn remove_source(&self, changes: &mut Vec<Change>, path: &str) -> Result<(), Problem> {
        self.unchanged_since_scan(Side::Source, path)?;
        self.root(Side::Source)
            .remove_file(path)
            .map_err(|e| Problem::Fail(e.to_string()))?;
        changes.push(Change::Holds {
            side: Side::Source,
            path: path.to_string(),
            record: None,
        });
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
            .reread(Side::Destination, path, true)
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
        for a in actions {
            let done = self.act(i, (&a.operation).into(), |s, changes| {
                s.one(changes, i, &a.operation)
            });
            if !done {
                return;
            }
        }
    }

    fn one(
        &mut self,
        changes: &mut Vec<Change>,
        i: usize,
        op: &Operation,
    ) -> Result<Ending, Problem> {
        let e = &self.run.entries[i];
        let path = e.path.clone();
        match op {
            Operation::Copy(c) => {
                let to = c.to_path.clone().unwrap_or_else(|| path.clone());
                let side = c.from.other();
                if to != path && self.current(side, &to).is_some() {
                    // A copy under a new name (a conflict copy) only ever
                    // adds a path; what is there stays.
                    return Err(Problem::Fail(format!(
                        "{to:?} already exists on the {}; nothing was replaced",
                        side.name()
                    )));
                }
                match e.state(c.from).map(|s| s.kind) {
                    Some(Kind::Directory) => self.write_dir(changes, i, c.from),
                    Some(Kind::Symlink) => {
                        self.write_symlink(changes, i, c.from, &to)?;
                        let to = c.from.other().name();
                        Ok(Ending::Done(Some(format!("symlink to the {to}"))))
                    }
                    _ => self.copy_file_now(changes, i, c.from, &to),
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
                changes.push(Change::Holds {
                    side: r.side,
                    path: path.clone(),
                    record: None,
                });
                changes.push(Change::Holds {
                    side: r.side,
                    path: r.to_path.clone(),
                    record,
                });
                Ok(Ending::Done(Some(format!(
                    "to {:?} on the {}",
                    r.to_path,
                    r.side.name()
                ))))
            }
            Operation::MoveToDestination(to)
                if e.source.as_ref().is_some_and(|s| s.kind == Kind::Symlink) =>
            {
                let to = to.clone().unwrap_or_else(|| path.clone());
                self.move_symlink(changes, i, &to)
            }
            other => Err(Problem::Fail(format!(
                "{} cannot be combined here",
                other.name()
            ))),
        }
    }

    /// A single verified copy with its own durability (compound changes).
    fn copy_file_now(
        &mut self,
        changes: &mut Vec<Change>,
        i: usize,
        from: Side,
        to_path: &str,
    ) -> Result<Ending, Problem> {
        let t = Transfer {
            entry: i,
            from,
            to: to_path.to_string(),
            kind: TransferKind::Copy,
            size: self.run.entries[i].state(from).map_or(0, |s| s.size),
        };
        let staged = self.stage(&t)?;
        let _ = self.root(from.other()).sync();
        let committed = self.commit(&t, staged)?;
        let _ = self.root(from.other()).sync();
        match self.verify(&t) {
            Ok(record) => Ok(self.verified(changes, &t, committed, record)),
            Err(reason) => {
                self.unverified(changes, &t, committed);
                Err(Problem::Fail(reason))
            }
        }
    }

    /// Archive a symlink: the same link on the destination (never over
    /// anything else), then the original goes.
    fn move_symlink(
        &mut self,
        changes: &mut Vec<Change>,
        i: usize,
        to_path: &str,
    ) -> Result<Ending, Problem> {
        let path = self.path(i);
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
            None => self.write_symlink(changes, i, Side::Source, to_path)?,
        }
        let line = self.manifest_line(&path, to_path, &seen);
        self.append_manifest(&[line]).map_err(|e| {
            Problem::Fail(format!(
                "cannot write the archive manifest ({e}); the original stays"
            ))
        })?;
        self.remove_source(changes, &path)?;
        Ok(archived(changes, to_path))
    }

    /// Write the symlink of entry `i` on `from` at `to_path` on the other
    /// side, and check it: its target must be the one the scan saw.
    fn write_symlink(
        &mut self,
        changes: &mut Vec<Change>,
        i: usize,
        from: Side,
        to_path: &str,
    ) -> Result<(), Problem> {
        let path = self.path(i);
        let to = from.other();
        let fail = |e: std::io::Error| Problem::Fail(e.to_string());
        self.unchanged_since_scan(from, &path)?;
        self.unchanged_since_scan(to, to_path)?;
        let seen = self
            .scanned(from, &path)
            .cloned()
            .ok_or_else(|| Problem::Fail("the source vanished from the scan".into()))?;
        let expected = seen.digest;
        let link = Link {
            target: self.root(from).read_link(&path).map_err(fail)?,
            mtime_ns: seen.mtime_ns,
            owner: self.owner(from, &path)?,
        };
        if Some(crate::scan::hash_bytes(&link.target)) != expected {
            return Err(Problem::Skip(changed(from)));
        }
        let existing = self.current(to, to_path).cloned();
        let trashed = self
            .root(to)
            .make_symlink(&link, to_path, self.run.generation, existing.as_ref())
            .map_err(|e| match e {
                CommitError::Changed => Problem::Skip(changed(to)),
                CommitError::Io(e) => fail(e),
            })?;
        if let Some(slot) = trashed {
            self.trashed(changes, to, to_path, slot);
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
        changes.push(Change::Holds {
            side: to,
            path: to_path.to_string(),
            record,
        });
        changes.push(Change::Verified);
        Ok(())
    }

    // ---- deletes and decisions without I/O ------------------------------

    pub(crate) fn delete(&mut self, i: usize, side: Side) {
        let path = self.path(i);
        self.act(i, Verb::Delete, |s, changes| {
            s.delete_io(changes, &path, side)
        });
    }

    fn delete_io(
        &mut self,
        changes: &mut Vec<Change>,
        path: &str,
        side: Side,
    ) -> Result<Ending, Problem> {
        if self.swept[side.index()].remove(path) {
            return Ok(Ending::Done(Some(format!(
                "on the {}, into the trash with its folder",
                side.name()
            ))));
        }
        let is_dir = self
            .current(side, path)
            .is_some_and(|r| r.kind == Kind::Directory);
        self.unchanged_since_scan(side, path)?;
        let root = self.root(side);
        if is_dir {
            match root.remove_empty_dir(path) {
                Ok(true) => changes.push(Change::Folder),
                Ok(false) => {
                    return Err(Problem::Skip(
                        "the directory still holds files this run did not remove".into(),
                    ));
                }
                Err(e) => return Err(Problem::Fail(e.to_string())),
            }
        } else {
            let slot = root
                .trash(path, self.run.generation)
                .map_err(|e| Problem::Fail(e.to_string()))?;
            crate::testhook::point("exec:trashed");
            self.trashed(changes, side, path, slot);
        }
        changes.push(Change::Holds {
            side,
            path: path.to_string(),
            record: None,
        });
        Ok(Ending::Done(Some(format!("on the {}", side.name()))))
    }

    pub(crate) fn no_io(&mut self, i: usize, op: &Operation) {
        let e = &self.run.entries[i];
        let stays_offloaded = e.offloaded && e.source.is_none();
        self.act(i, op.into(), |_, changes| match op {
            Operation::Accept => {
                if stays_offloaded {
                    changes.push(Change::Offloaded(true));
                }
                Ok(Ending::Done(None))
            }
            Operation::Conflict(reason) | Operation::Skip(reason) => {
                Ok(Ending::Done(Some(reason.clone())))
            }
            other => Err(Problem::Fail(format!(
                "{} needs I/O and was sorted as none",
                other.name()
            ))),
        });
    }

    // ---- to the index -----------------------------------------------------

    pub(crate) fn flush(&mut self, index: &mut Index) -> anyhow::Result<()> {
        let applied = std::mem::take(&mut self.applied);
        let (overlay, scans) = (&self.overlay, &self.run.scans);
        let batch = settle(
            applied,
            |side, path| holds(overlay, scans, side, path),
            self.run.fidelity,
            &mut self.outcome,
        );
        index.commit(self.run.conduit, self.run.generation, &batch)?;
        for row in &batch.journal {
            (self.run.on_journal)(row);
        }
        crate::testhook::point("exec:flushed");
        Ok(())
    }

    pub(crate) fn into_outcome(self) -> Outcome {
        self.outcome
    }
}

/// An archive move is complete: the original is gone, the base forgets the
/// path (archive never keeps both sides in step).
fn archived(changes: &mut Vec<Change>, to: &str) -> Ending {
    changes.push(Change::Archived);
    Ending::Done(Some(format!("archived as {to:?}")))
}

/// Why an action waits for the next run.
fn changed(side: Side) -> String {
    format!(
        "changed on the {} since the scan; it will be planned again next run",
        side.name()
    )
}
