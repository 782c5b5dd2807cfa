//! The rules of the policy contract (`wit/policy.wit`) that the host, the
//! policy SDK and the test harnesses all apply, each written once, on plain
//! types that both sides' generated bindings convert to and from.
//!
//! Nothing here does I/O or depends on a runtime: the crate compiles into
//! the host and into every policy component alike.

/// A BLAKE3 digest as four little-endian 64-bit words, the contract's form.
pub type Digest = (u64, u64, u64, u64);

/// What a path holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    File,
    Directory,
    Symlink,
}

/// How one side of a path changed since base.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Change {
    Unchanged,
    Created,
    Modified,
    Deleted,
    TypeChanged,
}

/// The part of a state that decides content equality and change classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Content {
    pub kind: Kind,
    /// Known for files and symlinks (of the link target) that could be read.
    pub digest: Option<Digest>,
}

impl Content {
    /// Same kind and, for files and symlinks, equal known digests. Folders
    /// are equal by kind: their content is their entries, decided one by one.
    pub fn same_as(&self, other: &Content) -> bool {
        self.kind == other.kind
            && (self.kind == Kind::Directory
                || (self.digest.is_some() && self.digest == other.digest))
    }
}

/// How `now` differs from `base`.
pub fn classify(base: Option<Content>, now: Option<Content>) -> Change {
    match (base, now) {
        (None, None) => Change::Unchanged,
        (None, Some(_)) => Change::Created,
        (Some(_), None) => Change::Deleted,
        (Some(b), Some(n)) if b.kind != n.kind => Change::TypeChanged,
        (Some(b), Some(n)) if b.same_as(&n) => Change::Unchanged,
        (Some(_), Some(_)) => Change::Modified,
    }
}

/// The change classes of an entry's source and destination, as a sync sends
/// them. `offloaded`: base records the source copy as evicted (offload). Then
/// an absent source copy is no deletion, and anything the person put at the
/// path is new, whatever base says.
pub fn changes(
    base: Option<Content>,
    source: Option<Content>,
    destination: Option<Content>,
    offloaded: bool,
) -> (Change, Change) {
    let source_change = match (offloaded, source) {
        (true, None) => Change::Unchanged,
        (true, Some(_)) => Change::Created,
        (false, source) => classify(base, source),
    };
    (source_change, classify(base, destination))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(d: u64) -> Option<Content> {
        Some(Content {
            kind: Kind::File,
            digest: Some((d, 0, 0, 0)),
        })
    }

    fn link(d: u64) -> Option<Content> {
        Some(Content {
            kind: Kind::Symlink,
            digest: Some((d, 0, 0, 0)),
        })
    }

    const DIR: Option<Content> = Some(Content {
        kind: Kind::Directory,
        digest: None,
    });
    const UNREADABLE: Option<Content> = Some(Content {
        kind: Kind::File,
        digest: None,
    });

    #[test]
    fn classify_table() {
        use Change::*;
        let rows = [
            (None, None, Unchanged),
            (None, file(1), Created),
            (None, DIR, Created),
            (file(1), None, Deleted),
            (file(1), file(1), Unchanged),
            (file(1), file(2), Modified),
            (file(1), UNREADABLE, Modified),
            (UNREADABLE, file(1), Modified),
            (UNREADABLE, UNREADABLE, Modified),
            (DIR, DIR, Unchanged),
            (file(1), DIR, TypeChanged),
            (DIR, file(1), TypeChanged),
            (link(1), link(2), Modified),
            (link(1), file(1), TypeChanged),
        ];
        for (i, (base, now, want)) in rows.into_iter().enumerate() {
            assert_eq!(classify(base, now), want, "row {i}");
        }
    }

    #[test]
    fn offloaded_entries() {
        use Change::*;
        assert_eq!(
            changes(file(1), None, file(1), true),
            (Unchanged, Unchanged)
        );
        assert_eq!(
            changes(file(1), file(1), file(1), true),
            (Created, Unchanged)
        );
        assert_eq!(
            changes(file(1), file(2), file(1), true),
            (Created, Unchanged)
        );
        assert_eq!(
            changes(file(1), file(2), file(1), false),
            (Modified, Unchanged)
        );
    }
}
