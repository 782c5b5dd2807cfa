//! The executor: carries out a validated plan with commit-then-verify.
//!
//! Order of work, so that nothing is lost whatever fails or crashes:
//!
//! 1. **Directories** are created (parents first).
//! 2. **Compound** changes (conflict copies, symlinks) run one entry at a
//!    time in the order the policy gave; then the folders that waited for
//!    them; then detected renames, whose targets may lie in those folders.
//! 3. **Transfers** — plain copies, hydrations, archive moves — run in
//!    batches: every file of a batch is staged in the root's staging area
//!    (`.conduit/tmp`) by parallel workers, one `syncfs` makes the batch
//!    durable, each staged file is swapped into place (the old version
//!    hard-linked into the trash first), a second `syncfs` makes the swaps
//!    durable, and each committed file is re-read and its BLAKE3 compared
//!    with the digest the scan recorded for the source. A mismatch is retried
//!    a bounded number of times; a source that changed since the scan is
//!    skipped (it is planned again next run).
//! 4. **Removals** of verified sources: archived originals and evictions,
//!    each only after its own destination copy verified in this run.
//! 5. **Deletes** (into the trash, deepest paths first) run only if every
//!    copy succeeded and the scan had no I/O errors.
//!
//! Before anything is overwritten or deleted, the file must still match what
//! the scan saw. Each action is recorded as a typed result
//! ([`settle::Applied`]); at each flush [`settle`] folds them into one index
//! batch ([`crate::index::Batch`]): the entries each side now holds, the new
//! base where both sides agree, the journal, conflicts and trash records.

mod effects;
pub(crate) mod manifest;
mod settle;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::{Deserialize, Serialize};

use crate::index::{BaseRecord, Batch, Index, JournalRow, Record, TrashRecord, Verb};
use crate::location::{Location, Staged};
use crate::plan::Plan;
use conduit_contract::{Action, Entry, Kind, Operation, Side, State};

use effects::Effects;

/// Files per transfer batch, and bytes per batch.
const BATCH_FILES: usize = 2000;
const BATCH_BYTES: u64 = 512 << 20;
/// Copies whose verification fails are tried this many times in all.
const ATTEMPTS: usize = 3;
/// Parallel workers for staging and verifying.
const WORKERS: usize = 8;

/// What a run did, by kind of action.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Files and symlinks written to the other side (conflict copies included).
    pub copied: u64,
    /// Folders made on the other side.
    #[serde(default)]
    pub folders_created: u64,
    /// Empty folders removed (their files were deleted one by one).
    #[serde(default)]
    pub folders_removed: u64,
    /// Files whose content the other side had already: only their mode and
    /// mtime (and, as root, owner) were set.
    #[serde(default)]
    pub updated: u64,
    /// Files and symlinks moved to a trash.
    pub deleted: u64,
    /// Archived: copied, verified, and removed from the source.
    pub moved: u64,
    /// Paths renamed on one side (detected renames, conflict copies set aside).
    pub renamed: u64,
    /// Conflicts detected, however they were settled.
    pub conflicts: u64,
    /// Conflicts left untouched for `conduit resolve`.
    #[serde(default)]
    pub unresolved: u64,
    /// Source copies removed after their destination copy verified (offload).
    pub evicted: u64,
    /// Offloaded files brought back to the source.
    pub hydrated: u64,
    /// Paths recorded as in sync without any I/O.
    pub accepted: u64,
    /// Actions not done this run (they come back next run).
    pub skipped: u64,
    /// Bytes written to the other side.
    pub bytes: u64,
    /// Committed files whose content was re-read and matched.
    pub verified: u64,
    /// Actions that failed.
    pub failed: u64,
}

impl Counts {
    /// What a plan would do, for dry runs.
    pub fn of_plan(entries: &[Entry], plan: &Plan) -> Counts {
        let mut c = Counts::default();
        let work = plan
            .actions
            .chunk_by(|a, b| a.entry == b.entry)
            .flat_map(|group| crate::plan::settling(group).1);
        for a in work {
            let e = &entries[a.entry as usize];
            let size = |side: Side| e.state(side).map_or(0, |s| s.size);
            let folder = |side: Side| e.state(side).is_some_and(|s| s.kind == Kind::Directory);
            match &a.operation {
                Operation::Copy(t) if folder(t.from) => c.folders_created += 1,
                Operation::Delete(side) if folder(*side) => c.folders_removed += 1,
                Operation::Copy(t) => {
                    c.copied += 1;
                    c.bytes += size(t.from);
                }
                Operation::Delete(_) => c.deleted += 1,
                Operation::MoveToDestination(_) => {
                    c.moved += 1;
                    c.bytes += size(Side::Source);
                }
                Operation::Rename(_) => c.renamed += 1,
                Operation::Evict => c.evicted += 1,
                Operation::Hydrate => {
                    c.hydrated += 1;
                    c.bytes += size(Side::Destination);
                }
                Operation::Accept => c.accepted += 1,
                Operation::Conflict(_) => c.unresolved += 1,
                Operation::Skip(_) => c.skipped += 1,
            }
        }
        c.conflicts = crate::plan::conflicts(entries, plan).len() as u64;
        c
    }
}

/// Everything the executor needs besides the plan.
pub struct Run<'a> {
    /// The conduit's id in the index.
    pub conduit: i64,
    /// The run's generation number.
    pub generation: i64,
    /// Indexed by `Side::index`.
    pub roots: [&'a dyn Location; 2],
    /// The entries the plan's actions refer to.
    pub entries: &'a [Entry],
    /// What the scan saw on each side, for the changed-since-scan checks.
    pub scans: [&'a HashMap<String, Record>; 2],
    /// Where copies are re-read from to verify them.
    pub verify_from: crate::settings::VerifyFrom,
    /// What both roots keep: how states are compared.
    pub fidelity: conduit_contract::Fidelity,
    /// Why deletes are withheld this run (the scan had I/O errors), if so.
    pub deletes_withheld: Option<String>,
    /// Called with bytes of file content as they are written.
    pub on_written: &'a (dyn Fn(u64) + Sync),
    /// Called with the size of each transfer once it verified.
    pub on_verified: &'a (dyn Fn(u64) + Sync),
    /// Called with each finished action as it is committed to the index.
    pub on_journal: &'a (dyn Fn(&JournalRow) + Sync),
    /// The command that asked for these actions by hand (`restore`,
    /// `resolve`, …): the journal's reason instead of the entry's change.
    pub asked_by: Option<&'a str>,
    /// When set, stop at the next batch boundary.
    pub cancel: Option<&'a AtomicBool>,
}

impl Run<'_> {
    fn cancelled(&self) -> bool {
        self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }
}

/// What happened.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// What was done.
    pub counts: Counts,
    /// One line per failed or skipped action: `path: what happened`.
    pub problems: Vec<String>,
}

/// How the executor sorts an entry's actions.
enum Work<'p> {
    Directory(usize, Side),
    Transfer(Transfer),
    Compound(usize, &'p [Action]),
    /// A detected rename: after every compound change and folder, as its
    /// target may lie in a folder that replaces a file set aside first.
    Rename(usize, &'p [Action]),
    Delete(usize, Side),
    Evict(usize),
    NoIo(usize, &'p Action),
}

/// One file to copy from one side to the other, verified.
#[derive(Debug, Clone)]
struct Transfer {
    entry: usize,
    from: Side,
    /// Target path on the other side.
    to: String,
    kind: TransferKind,
    /// The source digest the copy must match.
    size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum TransferKind {
    Copy,
    Hydrate,
    /// Archive: the source is removed once the copy verified.
    Move,
    /// Offload: copy, then remove the source once verified.
    CopyThenEvict,
}

/// Carry out `plan`, committing results to `index` as it goes.
pub fn execute(run: &Run, plan: &Plan, index: &mut Index) -> anyhow::Result<Outcome> {
    let mut state = Effects::new(run);
    let work = sort(run, plan);

    // 1. Directories, parents first; those inside a path that a compound
    //    change may turn from a file into a folder wait for it (2b).
    let compound: HashSet<&str> = work
        .iter()
        .filter_map(|w| match w {
            Work::Compound(i, _) => Some(run.entries[*i].path.as_str()),
            _ => None,
        })
        .collect();
    let waits = |i: usize| {
        let mut p = run.entries[i].path.as_str();
        while let Some(at) = p.rfind('/') {
            p = &p[..at];
            if compound.contains(p) {
                return true;
            }
        }
        false
    };
    for w in &work {
        if let Work::Directory(i, from) = w
            && !waits(*i)
        {
            state.directory(*i, *from);
        }
    }
    // 2. Compound changes, one entry at a time (before transfers:
    //    a conflict copy may turn a file into the directory new files go into).
    for w in &work {
        if let Work::Compound(i, actions) = w {
            state.compound(*i, actions);
        }
    }
    // 2b. The directories that waited, parents first.
    for w in &work {
        if let Work::Directory(i, from) = w
            && waits(*i)
        {
            state.directory(*i, *from);
        }
    }
    // 2c. Detected renames, into folders that now exist.
    for w in &work {
        if let Work::Rename(i, actions) = w {
            state.compound(*i, actions);
        }
    }
    // 3. Transfers, in durable batches.
    let mut moved_ok: Vec<Transfer> = Vec::new();
    for round in rounds(&work) {
        for batch in batches(&round) {
            if run.cancelled() {
                // Copies come before deletes, so stopping here loses nothing.
                state.flush(index)?;
                let mut outcome = state.into_outcome();
                outcome
                    .problems
                    .push("stopped early on request; the next run does the rest".into());
                return Ok(outcome);
            }
            let verified = transfer_batch(run, &mut state, batch);
            moved_ok.extend(verified);
            state.flush(index)?;
        }
    }
    for w in &work {
        if let Work::NoIo(i, action) = w {
            state.no_io(*i, &action.operation);
        }
    }
    state.flush(index)?;
    let copies_failed = state.outcome.counts.failed > 0;
    // 4. Removals of verified sources (before deletes, so that archive's
    //    pruning finds the emptied directories empty).
    let stored: Vec<usize> = work
        .iter()
        .filter_map(|w| match w {
            Work::Evict(i) => Some(*i),
            _ => None,
        })
        .collect();
    state.remove_verified_sources(index, &moved_ok, &stored)?;
    // 5. Deletes, deepest first, only when every copy succeeded.
    let withheld = run.deletes_withheld.clone().or_else(|| {
        copies_failed
            .then(|| "deletes are withheld because some copies of this run failed".to_string())
    });
    let mut deletes: Vec<(usize, Side)> = work
        .iter()
        .filter_map(|w| match w {
            Work::Delete(i, side) => Some((*i, *side)),
            _ => None,
        })
        .collect();
    deletes.sort_by(|a, b| run.entries[b.0].path.cmp(&run.entries[a.0].path));
    for (i, side) in deletes {
        match &withheld {
            Some(reason) => state.skip(i, Verb::Delete, reason),
            None => state.delete(i, side),
        }
    }
    state.finish_directories();
    state.flush(index)?;
    for root in run.roots {
        // The last renames and removals, durable before the run reports done.
        let _ = root.sync();
    }
    Ok(state.into_outcome())
}

/// Finish what a crash interrupted between recording evictions and settling
/// them (see the module comment, phase 4), from this run's scan of the
/// source: a source copy that is gone was evicted (the base records it as
/// offloaded, with the destination state the intent kept); one that is still
/// there with the same content was not, and the intent is dropped; one with
/// other content is a new file the user wrote after the eviction, which the
/// diff then sees at an offloaded path. Updates `base` and returns what to
/// write to the index.
pub fn settle_evictions(
    pending: Vec<(String, State)>,
    source: &HashMap<String, Record>,
    base: &mut HashMap<String, BaseRecord>,
) -> Batch {
    let mut batch = Batch::default();
    for (path, stored) in pending {
        let still_local = source
            .get(&path)
            .is_some_and(|r| r.digest.is_some() && r.digest == stored.digest);
        if still_local {
            batch.evictions_settled.push(path);
            continue;
        }
        let offloaded = BaseRecord {
            state: stored,
            offloaded: true,
        };
        base.insert(path.clone(), offloaded.clone());
        batch.base.push((path, Some(offloaded)));
    }
    batch
}

/// Sort the plan's actions into the executor's phases.
fn sort<'p>(run: &Run, plan: &'p Plan) -> Vec<Work<'p>> {
    let mut work = Vec::with_capacity(plan.actions.len());
    for group in plan.actions.chunk_by(|a, b| a.entry == b.entry) {
        // A conflict the rest settles is reported from the plan
        // (`plan::conflicts`); only the rest is work.
        let (_, group) = crate::plan::settling(group);
        let i = group[0].entry as usize;
        let e = &run.entries[i];
        let kind_from = |side: Side| e.state(side).map(|s| s.kind);
        let transfer = |from: Side, to: String, kind: TransferKind| {
            Work::Transfer(Transfer {
                entry: i,
                from,
                to,
                kind,
                size: e.state(from).map_or(0, |s| s.size),
            })
        };
        let ops: Vec<&Operation> = group.iter().map(|a| &a.operation).collect();
        let item = match ops.as_slice() {
            [Operation::Copy(c)] if c.to_path.is_none() => match kind_from(c.from) {
                Some(Kind::File) => transfer(c.from, e.path.clone(), TransferKind::Copy),
                Some(Kind::Directory) => Work::Directory(i, c.from),
                _ => Work::Compound(i, group),
            },
            [Operation::Copy(c), Operation::Evict]
                if c.to_path.is_none() && c.from == Side::Source =>
            {
                transfer(Side::Source, e.path.clone(), TransferKind::CopyThenEvict)
            }
            [Operation::Hydrate] => {
                transfer(Side::Destination, e.path.clone(), TransferKind::Hydrate)
            }
            [Operation::MoveToDestination(to)] if kind_from(Side::Source) == Some(Kind::File) => {
                let to = to.clone().unwrap_or_else(|| e.path.clone());
                transfer(Side::Source, to, TransferKind::Move)
            }
            [Operation::Rename(_)] => Work::Rename(i, group),
            [Operation::Delete(side)] => Work::Delete(i, *side),
            [Operation::Evict] => Work::Evict(i),
            [Operation::Accept | Operation::Conflict(_) | Operation::Skip(_)] => {
                Work::NoIo(i, &group[0])
            }
            _ => Work::Compound(i, group),
        };
        work.push(item);
    }
    // `plan` is in entry order, which is path order: parents before children.
    work
}

/// The transfers, in rounds where no two write the same target: archive's
/// dedupe sends identical files to one target, and only the first may copy;
/// the later ones find it there and re-verify it.
fn rounds(work: &[Work]) -> Vec<Vec<Transfer>> {
    let mut rounds: Vec<Vec<Transfer>> = Vec::new();
    let mut seen: HashMap<(Side, &str), usize> = HashMap::new();
    for w in work {
        let Work::Transfer(t) = w else { continue };
        let n = seen.entry((t.from.other(), t.to.as_str())).or_insert(0);
        if rounds.len() <= *n {
            rounds.push(Vec::new());
        }
        rounds[*n].push(t.clone());
        *n += 1;
    }
    rounds
}

/// Split transfers into batches bounded by count and bytes.
fn batches(transfers: &[Transfer]) -> Vec<&[Transfer]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (i, t) in transfers.iter().enumerate() {
        if i > start && (i - start >= BATCH_FILES || bytes + t.size > BATCH_BYTES) {
            out.push(&transfers[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += t.size;
    }
    if start < transfers.len() {
        out.push(&transfers[start..]);
    }
    out
}

/// Stage, sync, commit, sync, verify one batch. Returns the transfers that
/// verified (for removals of archived and evicted sources).
fn transfer_batch(run: &Run, state: &mut Effects, batch: &[Transfer]) -> Vec<Transfer> {
    let mut pending: Vec<Transfer> = batch.to_vec();
    let mut verified = Vec::new();
    for attempt in 1..=ATTEMPTS {
        if pending.is_empty() {
            break;
        }
        // Stage in parallel; an archive move onto identical content needs no copy.
        let timer = std::time::Instant::now();
        let staged = parallel(&pending, |t| state.stage(t));
        let staged_ms = timer.elapsed().as_millis() as u64;
        for root in run.roots {
            if let Err(e) = root.sync() {
                tracing::warn!(%root, "syncfs failed: {e}");
            }
        }
        let synced_ms = timer.elapsed().as_millis() as u64;
        let mut committed = Vec::new();
        for (t, result) in pending.iter().zip(staged) {
            match result.and_then(|staged| state.commit(t, staged)) {
                Ok(c) => committed.push((t.clone(), c)),
                Err(problem) => state.fail_transfer(t, None, problem),
            }
        }
        // A copy a source is removed after must be on the device: if the
        // swaps could not be made durable, those wait for the next run.
        let undurable: [Option<String>; 2] = run.roots.map(|root| {
            root.sync()
                .err()
                .map(|e| format!("the {root} could not be made durable: {e}; the source stays"))
        });
        let committed_ms = timer.elapsed().as_millis() as u64;
        let checks = parallel(&committed, |(t, _)| state.verify(t));
        tracing::debug!(
            files = pending.len(),
            staged_ms,
            synced_ms,
            committed_ms,
            verified_ms = timer.elapsed().as_millis() as u64,
            "transfer batch"
        );
        pending.clear();
        for ((t, commit), check) in committed.into_iter().zip(checks) {
            let removes_source = matches!(t.kind, TransferKind::Move | TransferKind::CopyThenEvict);
            let check = match &undurable[t.from.other().index()] {
                Some(why) if removes_source && check.is_ok() => Err(why.clone()),
                _ => check,
            };
            match check {
                Ok(record) => {
                    state.transferred(&t, commit, record);
                    (run.on_verified)(t.size);
                    verified.push(t);
                }
                Err(reason) if attempt < ATTEMPTS && state.source_unchanged(&t) => {
                    tracing::warn!(path = %t.to, attempt, "verification failed, retrying: {reason}");
                    state.retry(&t, commit);
                    pending.push(t);
                }
                Err(reason) => state.fail_transfer(&t, Some(commit), settle::Problem::Fail(reason)),
            }
        }
    }
    verified
}

/// Run `f` over `items` on a few worker threads; results in item order.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..WORKERS.min(items.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let r = f(item);
                    results.lock().expect("no panics")[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .expect("no panics")
        .into_iter()
        .map(|r| r.expect("every item ran"))
        .collect()
}

/// What a transfer's commit puts in place.
pub(crate) enum StagedOrPresent {
    Staged(Staged),
    /// An identical target an archive move leaves as it is.
    AlreadyThere,
    /// A target with the source's content: only its metadata is set.
    SameContent,
}

/// A trash record for `trashed_as` holding what the scan saw at `path`.
pub(crate) fn trash_record(
    side: Side,
    path: &str,
    trashed_as: String,
    seen: Option<&Record>,
) -> TrashRecord {
    TrashRecord {
        id: 0,
        side,
        path: path.to_string(),
        trashed_as,
        kind: seen.map_or(Kind::File, |r| r.kind),
        size: seen.map_or(0, |r| r.size),
        digest: seen.and_then(|r| r.digest),
        trashed_ns: crate::clock::now_ns(),
        // The commit names the run.
        generation: None,
    }
}
