//! The base rule, as a pure function of what a path holds once this run has
//! acted on it: if both sides hold the same content, the base becomes that
//! state; if both lack it, the base forgets it; otherwise the base stays and
//! the next run decides again. An evicted file (its content only in the
//! destination) and an archived one (moved away for good) are the
//! exceptions, flagged by the executor.

use crate::index::{BaseRecord, Record};

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
        (_, Some(a), Some(b)) if same_content(a, b) => NewBase::Record(BaseRecord {
            state: a.state(),
            offloaded: false,
        }),
        _ => NewBase::Keep,
    }
}

/// Same content by the contract's rule.
fn same_content(a: &Record, b: &Record) -> bool {
    a.state().content().same_as(&b.state().content())
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
        // (source, destination, offload, moved) -> new base
        let row = |source, destination, offload, moved, want| {
            let after = After {
                source,
                destination,
                offload,
                moved,
            };
            (after, want)
        };
        let (f1, f1_later, f2) = (Some(&file1), Some(&file1_later), Some(&file2));
        let rows = [
            row(f1, f1, None, false, recorded(&file1, false)),
            // The source's state is recorded (its mtime, its mode).
            row(f1, f1_later, None, false, recorded(&file1, false)),
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
}
