//! The three-way diff: how each side of a path changed since base, and the
//! list of entries a policy is asked to decide. Pure functions of the three
//! snapshots; no I/O.

use std::collections::{BTreeSet, HashMap};

use crate::index::{BaseRecord, Record};
use conduit_contract::{Change, Entry, Fidelity, Scope, State};

/// The entries a policy receives: every path of source ∪ destination ∪ base,
/// in path order, classified against base. With [`Scope::Changes`], paths
/// where neither side changed are left out. `pinned` says whether a path is
/// pinned (offload). States are sent as `fidelity` sees them (what both
/// roots keep), so a root's own rounding is never a change.
pub fn entries(
    source: &HashMap<String, Record>,
    destination: &HashMap<String, Record>,
    base: &HashMap<String, BaseRecord>,
    scope: Scope,
    fidelity: Fidelity,
    pinned: &dyn Fn(&str) -> bool,
) -> Vec<Entry> {
    let seen = |r: &Record| fidelity.normalize(r.state());
    let paths: BTreeSet<&String> = source
        .keys()
        .chain(destination.keys())
        .chain(base.keys())
        .collect();
    let mut entries = Vec::with_capacity(paths.len());
    for path in paths {
        let a = source.get(path);
        let b = destination.get(path);
        let agreed = base.get(path);
        let base_state = agreed.map(|r| fidelity.normalize(r.state));
        let offloaded = agreed.is_some_and(|r| r.offloaded);
        let source_state = a.map(seen);
        let destination_state = b.map(seen);
        let (source_change, destination_change) = changes(
            base_state.as_ref(),
            source_state.as_ref(),
            destination_state.as_ref(),
            offloaded,
        );
        if scope == Scope::Changes
            && source_change == Change::Unchanged
            && destination_change == Change::Unchanged
        {
            continue;
        }
        entries.push(Entry {
            path: path.clone(),
            source: source_state,
            source_change,
            destination: destination_state,
            destination_change,
            base: base_state,
            accessed_ns: a.map_or(0, |r| r.atime_ns),
            pinned: pinned(path),
            offloaded,
        });
    }
    entries
}

/// How each side of an entry changed since base, by the contract's rule
/// (`conduit_contract::changes`): the one classification the host's diff,
/// `conduit policy test` and the test harnesses share. `offloaded`: base
/// records the source copy as evicted.
pub fn changes(
    base: Option<&State>,
    source: Option<&State>,
    destination: Option<&State>,
    offloaded: bool,
) -> (Change, Change) {
    conduit_contract::changes(
        base.map(State::content),
        source.map(State::content),
        destination.map(State::content),
        offloaded,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use conduit_contract::Kind;

    fn rec(d: u64) -> Record {
        Record {
            kind: Kind::File,
            size: 1,
            mtime_ns: 0,
            mode: 0o644,
            inode: d,
            digest: Some((d, 0, 0, 0)),
            atime_ns: 7,
        }
    }

    fn based(d: u64, offloaded: bool) -> BaseRecord {
        BaseRecord {
            state: rec(d).state(),
            offloaded,
        }
    }

    /// Each row: path states in source, destination, base (content id, 0 =
    /// absent; base `-n` = offloaded with content n) -> whether the entry is
    /// sent with scope `changes`, and its change classes.
    /// Source, destination, base -> expected change classes.
    type Row = (u64, u64, i64, Option<(Change, Change)>);

    #[test]
    fn entries_table() {
        use Change::*;
        let rows: &[Row] = &[
            (1, 1, 1, None),
            (1, 0, 0, Some((Created, Unchanged))),
            (0, 1, 0, Some((Unchanged, Created))),
            (1, 1, 0, Some((Created, Created))),
            (2, 1, 1, Some((Modified, Unchanged))),
            (0, 1, 1, Some((Deleted, Unchanged))),
            (0, 0, 1, Some((Deleted, Deleted))),
            (0, 1, -1, None),
            (0, 2, -1, Some((Unchanged, Modified))),
            (3, 1, -1, Some((Created, Unchanged))),
        ];
        for (i, &(a, b, base, want)) in rows.iter().enumerate() {
            let side = |d: u64| {
                (d != 0)
                    .then(|| ("p".to_string(), rec(d)))
                    .into_iter()
                    .collect::<HashMap<_, _>>()
            };
            let agreed: HashMap<_, _> = (base != 0)
                .then(|| ("p".to_string(), based(base.unsigned_abs(), base < 0)))
                .into_iter()
                .collect();
            let got = entries(
                &side(a),
                &side(b),
                &agreed,
                Scope::Changes,
                Fidelity::EXACT,
                &|_| false,
            );
            let got = got.first().map(|e| (e.source_change, e.destination_change));
            assert_eq!(got, want, "row {i}");
            let all = entries(
                &side(a),
                &side(b),
                &agreed,
                Scope::Everything,
                Fidelity::EXACT,
                &|p| p == "p",
            );
            assert_eq!(all.len(), 1, "row {i}: scope everything sends every path");
            assert!(all[0].pinned && all[0].offloaded == (base < 0), "row {i}");
        }
    }
}
