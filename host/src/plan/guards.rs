//! The safety guards of DESIGN §5: the reasons users lose data with other
//! tools, each checked before anything is changed. A guard that trips
//! returns the message for `halted`: what it saw and how to proceed.

use std::collections::HashMap;

use super::Plan;
use crate::index::{BaseRecord, Conduit, Record};
use crate::location::LocalRoot;
use crate::policy::{Entry, Kind, Operation, Side};

/// Both roots exist and carry the markers `add` wrote.
pub fn preflight(c: &Conduit, roots: &[LocalRoot; 2]) -> Option<String> {
    for (root, side) in roots.iter().zip([Side::Source, Side::Destination]) {
        let path = root.path().display();
        if !root.path().is_dir() {
            return Some(format!(
                "root marker missing: the {} {path} does not exist (unmounted disk?); mount it \
                 and run again",
                side.name()
            ));
        }
        match root.marker() {
            Some(id) if id == c.marker(side) => {}
            Some(_) => {
                return Some(format!(
                    "root marker mismatch: the {} {path} belongs to another conduit's root (wrong \
                     disk mounted there?); mount the right one and run again",
                    side.name()
                ));
            }
            None => {
                return Some(format!(
                    "root marker missing: the {} {path} has no {}/root-id (unmounted disk, or a \
                     folder that is not this conduit's root); mount the right disk and run again",
                    side.name(),
                    crate::BOOKKEEPING_DIR
                ));
            }
        }
    }
    None
}

fn files(records: &HashMap<String, Record>) -> usize {
    records
        .values()
        .filter(|r| r.kind != Kind::Directory)
        .count()
}

/// A side that held files at the last run and is empty now.
pub fn emptied_root(
    c: &Conduit,
    base: &HashMap<String, BaseRecord>,
    scans: [&HashMap<String, Record>; 2],
    force: bool,
) -> Option<String> {
    if force {
        return None;
    }
    for (scan, side) in scans.into_iter().zip([Side::Source, Side::Destination]) {
        let expected = base
            .values()
            .filter(|b| b.state.kind != Kind::Directory && !(side == Side::Source && b.offloaded))
            .count();
        if expected > 0 && files(scan) == 0 {
            return Some(format!(
                "emptied root: the {} {} has no files, but {expected} were there after the last \
                 sync; if it is not mounted, mount it; if you emptied it on purpose, run \
                 `conduit sync {} --force`",
                side.name(),
                c.root(side).display(),
                c.name
            ));
        }
    }
    None
}

/// A plan that deletes more than the conduit's share of a side.
pub fn mass_delete(
    c: &Conduit,
    entries: &[Entry],
    plan: &Plan,
    scans: [&HashMap<String, Record>; 2],
    force: bool,
) -> Option<String> {
    if force {
        return None;
    }
    for (scan, side) in scans.into_iter().zip([Side::Source, Side::Destination]) {
        let deletes = plan
            .actions
            .iter()
            .filter(|a| matches!(a.operation, Operation::Delete(s) if s == side))
            .filter(|a| {
                entries[a.entry as usize]
                    .state(side)
                    .is_some_and(|s| s.kind != Kind::Directory)
            })
            .count();
        let total = files(scan);
        if deletes == 0 || total == 0 {
            continue;
        }
        let share = deletes as f64 * 100.0 / total as f64;
        if share > c.max_delete_pct {
            return Some(format!(
                "mass delete: the plan deletes {deletes} of the {total} files on the {} \
                 ({share:.0}%, more than the {}% this conduit allows); if that is intended, run \
                 `conduit sync {} --force`, or raise the limit with `conduit set {} max-delete=N%`",
                side.name(),
                c.max_delete_pct,
                c.name,
                c.name
            ));
        }
    }
    None
}
