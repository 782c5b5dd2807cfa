//! What the executor did, and what the index and the report make of it.
//!
//! The executor reports each action as an [`Applied`]: the changes it made to
//! the roots (kept even when a later step of the action failed: a file that
//! went to the trash stays on record) and how it ended. [`settle`] folds them
//! into the index batch and the run's outcome without touching a root.
//!
//! Its base rule, [`new_base`], is a pure function of what a path holds once
//! this run has acted on it: if both sides hold the same content, the base
//! becomes that state; if both lack it, the base forgets it; otherwise the
//! base stays and the next run decides again. An evicted file (its content
//! only in the destination) and an archived one (moved away for good) are the
//! exceptions, flagged by the executor.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::Outcome;
use crate::index::{BaseRecord, Batch, Ended, JournalRow, Record, TrashRecord, Verb};
use conduit_contract::{Fidelity, Side};

/// One action on one entry, as carried out.
#[derive(Debug)]
pub(crate) struct Applied {
    /// The entry's path (the journal's and the report's).
    pub path: String,
    /// The change that led to the action (`plan::reason`).
    pub why: String,
    pub verb: Verb,
    /// What it changed, in order.
    pub changes: Vec<Change>,
    pub ending: Ending,
}

/// One change an action made.
#[derive(Debug)]
pub(crate) enum Change {
    /// `path` on `side` now holds `record` (`None`: nothing).
    Holds {
        side: Side,
        path: String,
        record: Option<Record>,
    },
    /// A file or folder went to a trash.
    Trashed(TrashRecord),
    /// A written file or link was re-read and matched its source.
    Verified,
    /// Bytes written to the other side.
    Bytes(u64),
    /// The path's source copy was evicted (`true`: the base records it as
    /// offloaded) or hydrated (`false`).
    Offloaded(bool),
    /// Archive moved the path's source copy to the destination: the base
    /// forgets it.
    Archived,
    /// The eviction recorded ahead for the path is off: its source copy stays.
    EvictionOff,
    /// The copy found the content there already and set only its metadata.
    MetadataOnly,
    /// The action made or removed a folder (counted apart from files).
    Folder,
}

/// How an action ended.
#[derive(Debug)]
pub(crate) enum Ending {
    /// Complete: counted by its verb, journaled with this detail.
    Done(Option<String>),
    /// A step of an action that goes on (a copy to retry, an archive copy
    /// whose original goes later): journaled when it says something, not
    /// counted.
    Step(Option<String>),
    /// Not done: skipped (it comes back next run) or failed.
    Undone(Problem),
}

/// Why an action did not happen.
#[derive(Debug)]
pub(crate) enum Problem {
    Skip(String),
    Fail(String),
}

/// Fold `applied` into the index batch and add it to `outcome`. `now` is what
/// a side holds at a path once all of `applied` is done (the scan, as the
/// run has changed it); states are compared at `fidelity`, what both roots
/// keep.
pub(crate) fn settle<'a>(
    applied: Vec<Applied>,
    now: impl Fn(Side, &str) -> Option<&'a Record>,
    fidelity: Fidelity,
    outcome: &mut Outcome,
) -> Batch {
    let mut batch = Batch::default();
    let mut written: [BTreeSet<String>; 2] = Default::default();
    let mut touched: BTreeSet<String> = BTreeSet::new();
    let mut offload: HashMap<String, bool> = HashMap::new();
    let mut moved: BTreeSet<String> = BTreeSet::new();
    for a in applied {
        let (mut metadata_only, mut folder) = (false, false);
        let mut trashed = Vec::new();
        for change in a.changes {
            match change {
                Change::Holds { side, path, .. } => {
                    touched.insert(path.clone());
                    written[side.index()].insert(path);
                }
                Change::Trashed(record) => {
                    trashed.push(record.trashed_as.clone());
                    batch.trash.push(record)
                }
                Change::Verified => outcome.counts.verified += 1,
                Change::Bytes(n) => outcome.counts.bytes += n,
                Change::Offloaded(evicted) => {
                    offload.insert(a.path.clone(), evicted);
                    touched.insert(a.path.clone());
                }
                Change::Archived => {
                    moved.insert(a.path.clone());
                    touched.insert(a.path.clone());
                }
                Change::EvictionOff => batch.evictions_settled.push(a.path.clone()),
                Change::MetadataOnly => metadata_only = true,
                Change::Folder => folder = true,
            }
        }
        let (ended, detail) = match a.ending {
            Ending::Done(detail) => {
                match (metadata_only, folder, a.verb) {
                    (true, ..) => outcome.counts.updated += 1,
                    (_, true, Verb::Delete) => outcome.counts.folders_removed += 1,
                    (_, true, _) => outcome.counts.folders_created += 1,
                    _ => count(&mut outcome.counts, a.verb),
                }
                match a.verb {
                    // In sync without I/O: the base is decided again and an
                    // open conflict closes; nothing to journal.
                    Verb::Accept => {
                        touched.insert(a.path.clone());
                        batch.conflicts.push((a.path, None));
                        continue;
                    }
                    Verb::Conflict => batch.conflicts.push((a.path.clone(), detail.clone())),
                    _ => {}
                }
                (Ended::Done, detail)
            }
            Ending::Step(None) => continue,
            Ending::Step(detail) => (Ended::Done, detail),
            Ending::Undone(problem) => {
                let (ended, reason) = match problem {
                    Problem::Skip(r) => {
                        outcome.counts.skipped += 1;
                        (Ended::Skipped, r)
                    }
                    Problem::Fail(r) => {
                        outcome.counts.failed += 1;
                        (Ended::Failed, r)
                    }
                };
                outcome.problems.push(format!(
                    "{}: {} {}: {reason}",
                    a.path,
                    a.verb.name(),
                    ended.name()
                ));
                (ended, Some(reason))
            }
        };
        batch.journal.push(JournalRow {
            path: a.path,
            verb: a.verb,
            ended,
            detail,
            why: a.why,
            trashed,
        });
    }
    for path in touched {
        let after = After {
            source: now(Side::Source, &path),
            destination: now(Side::Destination, &path),
            offload: offload.get(&path).copied(),
            moved: moved.contains(&path),
            fidelity,
        };
        let base = match new_base(after) {
            NewBase::Keep => continue,
            NewBase::Forget => None,
            NewBase::Record(base) => {
                batch.conflicts.push((path.clone(), None));
                Some(base)
            }
        };
        batch.base.push((path, base));
    }
    for side in Side::BOTH {
        let rows: BTreeMap<String, Option<Record>> = std::mem::take(&mut written[side.index()])
            .into_iter()
            .map(|path| {
                let record = now(side, &path).cloned();
                (path, record)
            })
            .collect();
        batch.entries[side.index()].extend(rows);
    }
    batch
}

/// A completed action's count, by its verb.
fn count(counts: &mut super::Counts, verb: Verb) {
    let n = match verb {
        Verb::Copy | Verb::CopyThenEvict => &mut counts.copied,
        Verb::Hydrate => &mut counts.hydrated,
        Verb::MoveToDestination => &mut counts.moved,
        Verb::Rename => &mut counts.renamed,
        Verb::Delete => &mut counts.deleted,
        Verb::Evict => &mut counts.evicted,
        Verb::Accept => &mut counts.accepted,
        Verb::Conflict => &mut counts.unresolved,
        Verb::Skip => &mut counts.skipped,
    };
    *n += 1;
}

/// A path after this run's actions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct After<'a> {
    /// What the source holds now.
    pub source: Option<&'a Record>,
    /// What the destination holds now.
    pub destination: Option<&'a Record>,
    /// This run evicted (`Some(true)`) or hydrated (`Some(false)`) the
    /// source copy.
    pub offload: Option<bool>,
    /// Archive moved the source copy to the destination.
    pub moved: bool,
    /// How the sides' states are compared.
    pub fidelity: Fidelity,
}

/// What happens to the path's base.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NewBase {
    /// The sides differ: the base stays and the next run decides.
    Keep,
    /// Neither side holds the path (or archive moved it): forget it.
    Forget,
    /// Both sides agree (or the source copy was evicted): record this.
    Record(BaseRecord),
}

/// The new base of a path the run acted on.
pub(crate) fn new_base(after: After) -> NewBase {
    match (after.offload, after.source, after.destination) {
        _ if after.moved => NewBase::Forget,
        (Some(true), None, Some(b)) => NewBase::Record(BaseRecord {
            state: b.state(),
            offloaded: true,
        }),
        (_, None, None) => NewBase::Forget,
        (_, Some(a), Some(b)) if exact_copies(a, b, after.fidelity) => {
            NewBase::Record(BaseRecord {
                state: a.state(),
                offloaded: false,
            })
        }
        _ => NewBase::Keep,
    }
}

/// Exact copies by the contract's rule (content, mode, mtime), as far as
/// both roots keep them.
fn exact_copies(a: &Record, b: &Record, fidelity: Fidelity) -> bool {
    let seen = |r: &Record| fidelity.normalize(r.state()).content();
    seen(a).same_as(&seen(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use conduit_contract::Kind;

    fn record(kind: Kind, digest: Option<u64>, mtime_ns: i64) -> Record {
        Record {
            kind,
            size: 1,
            mtime_ns,
            mode: 0o644,
            inode: 1,
            digest: digest.map(|d| (d, 0, 0, 0)),
            atime_ns: mtime_ns,
        }
    }

    #[test]
    fn the_base_rule() {
        let file1 = record(Kind::File, Some(1), 10);
        let file1_later = record(Kind::File, Some(1), 20);
        let file2 = record(Kind::File, Some(2), 10);
        let unread = record(Kind::File, None, 10);
        let dir = record(Kind::Directory, None, 10);
        let link1 = record(Kind::Symlink, Some(1), 10);
        let recorded = |r: &Record, offloaded| {
            NewBase::Record(BaseRecord {
                state: r.state(),
                offloaded,
            })
        };
        // (source, destination, offload, moved) -> new base, at full
        // fidelity and at one that keeps whole seconds only
        let at = |fidelity| {
            move |source, destination, offload, moved, want| {
                let after = After {
                    source,
                    destination,
                    offload,
                    moved,
                    fidelity,
                };
                (after, want)
            }
        };
        let row = at(Fidelity::EXACT);
        let seconds = at(Fidelity {
            mtime_step_ns: 1_000_000_000,
            ..Fidelity::EXACT
        });
        let (f1, f1_later, f2) = (Some(&file1), Some(&file1_later), Some(&file2));
        let rows = [
            row(f1, f1, None, false, recorded(&file1, false)),
            // Another mtime is no exact copy: the next run copies it ...
            row(f1, f1_later, None, false, NewBase::Keep),
            // ... unless neither root can tell them apart; the source's own
            // state is recorded.
            seconds(f1, f1_later, None, false, recorded(&file1, false)),
            row(f1, f2, None, false, NewBase::Keep),
            row(f1, None, None, false, NewBase::Keep),
            row(None, f1, None, false, NewBase::Keep),
            row(None, None, None, false, NewBase::Forget),
            // Unread content never agrees, not even with itself.
            row(Some(&unread), Some(&unread), None, false, NewBase::Keep),
            row(Some(&dir), Some(&dir), None, false, recorded(&dir, false)),
            row(Some(&link1), f1, None, false, NewBase::Keep),
            // Evicted: the destination's copy is the base, flagged.
            row(None, f1, Some(true), false, recorded(&file1, true)),
            // Evicted, but the destination copy is gone too: forget.
            row(None, None, Some(true), false, NewBase::Forget),
            // An eviction that left the source copy: the sides decide.
            row(f1, f1, Some(true), false, recorded(&file1, false)),
            // Hydrated: an ordinary agreeing pair again.
            row(f1, f1, Some(false), false, recorded(&file1, false)),
            // Archived: forgotten, whatever the sides hold.
            row(None, f1, None, true, NewBase::Forget),
            row(f1, f1, None, true, NewBase::Forget),
        ];
        for (i, (after, want)) in rows.into_iter().enumerate() {
            assert_eq!(new_base(after), want, "row {i}: {after:?}");
        }
    }

    // ---- the fold ------------------------------------------------------

    use Side::{Destination as B, Source as A};

    fn holds(side: Side, path: &str, record: Option<Record>) -> Change {
        Change::Holds {
            side,
            path: path.into(),
            record,
        }
    }

    fn applied(verb: Verb, changes: Vec<Change>, ending: Ending) -> Applied {
        Applied {
            path: "p".into(),
            why: "new on the source".into(),
            verb,
            changes,
            ending,
        }
    }

    fn trashed(side: Side) -> Change {
        Change::Trashed(super::super::trash_record(side, "p", "slot".into(), None))
    }

    /// The batch and outcome in a few words: the entries each side gets, the
    /// base, the journal, conflicts, trash, and the counts that are not 0.
    fn summary(batch: &Batch, outcome: &Outcome) -> String {
        let mut words = Vec::new();
        for side in Side::BOTH {
            for (path, r) in &batch.entries[side.index()] {
                let held = r
                    .as_ref()
                    .map_or("-".to_string(), |r| format!("{:?}", r.kind));
                words.push(format!("{}:{path}={held}", side.name()));
            }
        }
        for (path, base) in &batch.base {
            words.push(match base {
                Some(b) if b.offloaded => format!("base:{path}=offloaded"),
                Some(b) => format!("base:{path}={:?}", b.state.kind),
                None => format!("base:{path}=forgotten"),
            });
        }
        for j in &batch.journal {
            words.push(format!("{} {} {}", j.path, j.verb.name(), j.ended.name()));
        }
        for (path, reason) in &batch.conflicts {
            let what = if reason.is_some() { "open" } else { "close" };
            words.push(format!("{what}:{path}"));
        }
        for t in &batch.trash {
            words.push(format!("trash:{}:{}", t.side.name(), t.path));
        }
        for path in &batch.evictions_settled {
            words.push(format!("off:{path}"));
        }
        let c = &outcome.counts;
        let counts = [
            ("copied", c.copied),
            ("updated", c.updated),
            ("deleted", c.deleted),
            ("moved", c.moved),
            ("renamed", c.renamed),
            ("unresolved", c.unresolved),
            ("evicted", c.evicted),
            ("hydrated", c.hydrated),
            ("accepted", c.accepted),
            ("skipped", c.skipped),
            ("bytes", c.bytes),
            ("verified", c.verified),
            ("failed", c.failed),
        ];
        for (name, n) in counts.into_iter().filter(|&(_, n)| n != 0) {
            words.push(format!("{name}={n}"));
        }
        if !outcome.problems.is_empty() {
            words.push(format!("problems={}", outcome.problems.len()));
        }
        words.join("; ")
    }

    #[test]
    fn what_each_result_writes_and_counts() {
        let file = record(Kind::File, Some(1), 10);
        let other = record(Kind::File, Some(2), 10);
        let f = || Some(file.clone());
        let verified_copy = || vec![holds(B, "p", f()), Change::Verified, Change::Bytes(5)];
        let done = |detail: &str| Ending::Done(Some(detail.into()));
        // (the case, what each side holds once it is done, the results, the summary)
        type Row = (
            &'static str,
            [Option<Record>; 2],
            Vec<Applied>,
            &'static str,
        );
        let rows: Vec<Row> = vec![
            (
                "a verified copy: both sides agree",
                [f(), f()],
                vec![applied(Verb::Copy, verified_copy(), done("verified"))],
                "destination:p=File; base:p=File; p copy done; close:p; copied=1; bytes=5; verified=1",
            ),
            (
                "a copy onto the same content: counted apart, no bytes",
                [f(), f()],
                vec![applied(
                    Verb::Copy,
                    vec![holds(B, "p", f()), Change::Verified, Change::MetadataOnly],
                    done("verified"),
                )],
                "destination:p=File; base:p=File; p copy done; close:p; updated=1; verified=1",
            ),
            (
                "a copy over an old version: its trash is recorded",
                [f(), f()],
                vec![applied(
                    Verb::Copy,
                    vec![trashed(B), holds(B, "p", f()), Change::Verified],
                    done("verified"),
                )],
                "destination:p=File; base:p=File; p copy done; close:p; trash:destination:p; copied=1; verified=1",
            ),
            (
                "a copy that failed after its commit: the trash stays, the base waits",
                [f(), Some(other.clone())],
                vec![applied(
                    Verb::Copy,
                    vec![trashed(B), holds(B, "p", Some(other.clone()))],
                    Ending::Undone(Problem::Fail("mismatch".into())),
                )],
                "destination:p=File; p copy failed; trash:destination:p; failed=1; problems=1",
            ),
            (
                "a retried commit is neither journaled nor counted",
                [f(), Some(other.clone())],
                vec![applied(
                    Verb::Copy,
                    vec![holds(B, "p", Some(other.clone()))],
                    Ending::Step(None),
                )],
                "destination:p=File",
            ),
            (
                "a skip changes nothing but the journal",
                [f(), None],
                vec![applied(
                    Verb::Delete,
                    vec![],
                    Ending::Undone(Problem::Skip("changed".into())),
                )],
                "p delete skipped; skipped=1; problems=1",
            ),
            (
                "deleted on both sides: the base forgets",
                [None, None],
                vec![applied(
                    Verb::Delete,
                    vec![trashed(B), holds(B, "p", None)],
                    done("on the destination"),
                )],
                "destination:p=-; base:p=forgotten; p delete done; trash:destination:p; deleted=1",
            ),
            (
                "an archive copy is a step; the removal counts the move and the base forgets",
                [None, f()],
                vec![
                    applied(
                        Verb::MoveToDestination,
                        vec![holds(B, "p", f()), Change::Verified, Change::Archived],
                        Ending::Step(Some("verified".into())),
                    ),
                    applied(
                        Verb::MoveToDestination,
                        vec![holds(A, "p", None), Change::Archived],
                        done("archived"),
                    ),
                ],
                "source:p=-; destination:p=File; base:p=forgotten; p move-to-destination done; p move-to-destination done; moved=1; verified=1",
            ),
            (
                "an eviction: the base records the destination copy as offloaded",
                [None, f()],
                vec![applied(
                    Verb::Evict,
                    vec![holds(A, "p", None), Change::Offloaded(true)],
                    Ending::Done(None),
                )],
                "source:p=-; base:p=offloaded; p evict done; close:p; evicted=1",
            ),
            (
                "an eviction whose source copy stays is called off",
                [f(), f()],
                vec![applied(
                    Verb::Evict,
                    vec![Change::Verified, Change::EvictionOff],
                    Ending::Undone(Problem::Fail("busy".into())),
                )],
                "p evict failed; off:p; verified=1; failed=1; problems=1",
            ),
            (
                "an accept decides the base again and closes the conflict, unjournaled",
                [f(), f()],
                vec![applied(Verb::Accept, vec![], Ending::Done(None))],
                "base:p=File; close:p; close:p; accepted=1",
            ),
            (
                "an accept where the sides differ closes the conflict only",
                [f(), Some(other.clone())],
                vec![applied(Verb::Accept, vec![], Ending::Done(None))],
                "close:p; accepted=1",
            ),
            (
                "a conflict opens and is journaled, whatever the sides hold",
                [f(), f()],
                vec![applied(Verb::Conflict, vec![], done("both changed"))],
                "p conflict done; open:p; unresolved=1",
            ),
        ];
        for (case, [source, destination], applied, want) in rows {
            let mut outcome = Outcome::default();
            let now = |side: Side, _: &str| match side {
                Side::Source => source.as_ref(),
                Side::Destination => destination.as_ref(),
            };
            let batch = settle(applied, now, Fidelity::EXACT, &mut outcome);
            assert_eq!(summary(&batch, &outcome), want, "{case}");
        }
    }
}
