//! The safety guards (docs/architecture.md): the reasons users lose data
//! with other tools, each checked before anything is changed. A guard that
//! trips returns the message for `halted`: what it saw and how to proceed.

use std::collections::HashMap;
use std::path::Path;

use super::Plan;
use crate::index::{BaseRecord, Conduit, Record};
use crate::location::LocalRoot;
use crate::policy::{Entry, Kind, Operation, Side};
use crate::scan::Scan;

/// Open both roots and check them: each exists and carries the marker `add`
/// wrote, and they are two folders, not one seen twice. The error is the
/// halt message.
pub fn preflight(c: &Conduit) -> Result<[LocalRoot; 2], String> {
    let open = |side: Side| -> Result<LocalRoot, String> {
        let path = c.root(side);
        let shown = path.display();
        let root = match LocalRoot::open(path) {
            Ok(root) => root,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                return Err(format!(
                    "root marker missing: the {} {shown} does not exist (unmounted disk?); mount \
                     it and run again",
                    side.name()
                ));
            }
            Err(e) => {
                return Err(format!(
                    "the {} {shown} cannot be opened ({e}); check that it is a folder you can \
                     read, then run again",
                    side.name()
                ));
            }
        };
        match root.marker() {
            Ok(Some(id)) if id == c.marker(side) => Ok(root),
            Ok(Some(_)) => Err(format!(
                "root marker mismatch: the {} {shown} belongs to another conduit's root (wrong \
                 disk mounted there?); mount the right one and run again",
                side.name()
            )),
            Ok(None) => Err(format!(
                "root marker missing: the {} {shown} has no {}/root-id (unmounted disk, or a \
                 folder that is not this conduit's root); mount the right disk and run again",
                side.name(),
                crate::BOOKKEEPING_DIR
            )),
            Err(e) => Err(format!(
                "root marker unreadable: the {} {shown}: {e}; the marker must be a regular file \
                 inside the root's own {} folder: remove what stands there and add the conduit \
                 again",
                side.name(),
                crate::BOOKKEEPING_DIR
            )),
        }
    };
    let roots = [open(Side::Source)?, open(Side::Destination)?];
    let same = match (roots[0].identity(), roots[1].identity()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same || c.source_marker == c.destination_marker {
        return Err(same_folder(&c.source, &c.destination));
    }
    Ok(roots)
}

/// The message for two roots that are one folder.
pub fn same_folder(source: &Path, destination: &Path) -> String {
    format!(
        "roots overlap: the source {} and the destination {} are the same folder (a bind mount, \
         a second mount of one disk, or a copy that kept the source's {} folder); a conduit \
         needs two different folders",
        source.display(),
        destination.display(),
        crate::BOOKKEEPING_DIR
    )
}

/// A root that holds the other root or the Conduit home (seen by the scan
/// through a bind mount): syncing would copy a folder into itself or trash
/// Conduit's own index.
pub fn overlaps(c: &Conduit, scans: [&Scan; 2]) -> Option<String> {
    for (scan, side) in scans.into_iter().zip([Side::Source, Side::Destination]) {
        if let Some((path, what)) = scan.overlaps.first() {
            return Some(format!(
                "roots overlap: {what} is also inside the {} {} as {path:?} (a bind mount or a \
                 second mount of the same disk); unmount it there, or add `/{path}/` to the \
                 conduit's ignore rules",
                side.name(),
                c.root(side).display()
            ));
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
