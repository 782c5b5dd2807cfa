//! The three-way diff: how each side of a path changed since base.

use crate::policy::{Change, State};

/// Classify one side against base (DESIGN §2.3). Content equality is by
/// digest for files and symlinks; directories are equal by kind.
pub fn classify(base: Option<&State>, now: Option<&State>) -> Change {
    match (base, now) {
        (None, None) => Change::Unchanged,
        (None, Some(_)) => Change::Created,
        (Some(_), None) => Change::Deleted,
        (Some(b), Some(n)) if b.kind != n.kind => Change::TypeChanged,
        (Some(b), Some(n))
            if n.kind == crate::policy::Kind::Directory
                || b.digest == n.digest && n.digest.is_some() =>
        {
            Change::Unchanged
        }
        (Some(_), Some(_)) => Change::Modified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Kind;

    fn st(kind: Kind, d: Option<u64>) -> State {
        State {
            kind,
            size: 1,
            mtime_ns: 0,
            mode: 0o644,
            digest: d.map(|x| (x, 0, 0, 0)),
        }
    }

    #[test]
    fn classification_table() {
        let file = |d| Some(st(Kind::File, Some(d)));
        let dir = Some(st(Kind::Directory, None));
        let unreadable = Some(st(Kind::File, None));
        let link = |d| Some(st(Kind::Symlink, Some(d)));
        let rows: Vec<(Option<State>, Option<State>, Change)> = vec![
            (None, None, Change::Unchanged),
            (None, file(1), Change::Created),
            (None, dir, Change::Created),
            (file(1), None, Change::Deleted),
            (file(1), file(1), Change::Unchanged),
            (file(1), file(2), Change::Modified),
            (file(1), unreadable, Change::Modified),
            (unreadable, file(1), Change::Modified),
            (dir, dir, Change::Unchanged),
            (file(1), dir, Change::TypeChanged),
            (dir, file(1), Change::TypeChanged),
            (link(1), link(2), Change::Modified),
            (link(1), file(1), Change::TypeChanged),
        ];
        for (i, (base, now, want)) in rows.into_iter().enumerate() {
            assert_eq!(classify(base.as_ref(), now.as_ref()), want, "row {i}");
        }
    }
}
