//! The safety guards (docs/architecture.md): the reasons users lose data
//! with other tools, each checked before anything is changed. A guard that
//! trips returns a [`Halt`]: what it saw, and (its `Display`) how to proceed.

use std::collections::HashMap;
use std::fmt;

use super::Plan;
use crate::index::{BaseRecord, Conduit, Record};
use crate::location::{Location, Opener};
use crate::place::Place;
use crate::policy::short_digest;
use crate::scan::Scan;
use conduit_contract::{Entry, Kind, Operation, Side};

/// Why a run stopped before changing anything. `Display` is the message
/// people and `--json` see; it says what to do next.
// The fields are named for what they hold; each variant's doc says what it means.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq)]
pub enum Halt {
    /// A root's folder does not exist (an unmounted disk?).
    RootMissing { side: Side, root: Place },
    /// A root's folder exists but cannot be opened.
    RootUnopenable {
        side: Side,
        root: Place,
        error: String,
    },
    /// The root's marker belongs to another conduit.
    MarkerMismatch { side: Side, root: Place },
    /// The root has no marker.
    MarkerMissing { side: Side, root: Place },
    /// The marker is there but is not a readable regular file.
    MarkerUnreadable {
        side: Side,
        root: Place,
        error: String,
    },
    /// The root is on a paired device that cannot be reached now.
    DeviceUnreachable {
        side: Side,
        root: Place,
        error: String,
    },
    /// Both roots are one folder.
    SameFolder { source: Place, destination: Place },
    /// The scan of `side` met `what` (the other root, the root itself, the
    /// home) inside it at `path`.
    Overlap {
        side: Side,
        root: Place,
        path: String,
        what: String,
    },
    /// `side` has no files, though `expected` were there after the last run.
    EmptiedRoot {
        conduit: String,
        side: Side,
        root: Place,
        expected: usize,
    },
    /// The plan deletes more of `side` than the conduit allows.
    MassDelete {
        conduit: String,
        side: Side,
        deletes: usize,
        total: usize,
        limit_pct: f64,
    },
    /// The installed policy's component changed since the conduit last ran.
    PolicyReplaced {
        conduit: String,
        policy: String,
        was: String,
        now: String,
        version: String,
    },
    /// A halt as an earlier run recorded it (read back from the history).
    Recorded(String),
}

impl fmt::Display for Halt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dir = crate::BOOKKEEPING_DIR;
        match self {
            Halt::RootMissing { side, root } => write!(
                f,
                "root marker missing: the {} {} does not exist (unmounted disk?); mount it and \
                 run again",
                side.name(),
                root
            ),
            Halt::RootUnopenable { side, root, error } => write!(
                f,
                "the {} {} cannot be opened ({error}); check that it is a folder you can read, \
                 then run again",
                side.name(),
                root
            ),
            Halt::MarkerMismatch { side, root } => write!(
                f,
                "root marker mismatch: the {} {} belongs to another conduit's root (wrong disk \
                 mounted there?); mount the right one and run again",
                side.name(),
                root
            ),
            Halt::MarkerMissing { side, root } => write!(
                f,
                "root marker missing: the {} {} has no {dir}/root-id (unmounted disk, or a \
                 folder that is not this conduit's root); mount the right disk and run again",
                side.name(),
                root
            ),
            Halt::MarkerUnreadable { side, root, error } => write!(
                f,
                "root marker unreadable: the {} {}: {error}; the marker must be a regular file \
                 inside the root's own {dir} folder: remove what stands there and add the \
                 conduit again",
                side.name(),
                root
            ),
            Halt::DeviceUnreachable { side, root, error } => write!(
                f,
                "device offline: the {} {} cannot be reached ({error}); the conduit waits for \
                 the device, and runs again once it is back",
                side.name(),
                root
            ),
            Halt::SameFolder {
                source,
                destination,
            } => write!(
                f,
                "roots overlap: the source {} and the destination {} are the same folder (a bind \
                 mount, a second mount of one disk, or a copy that kept the source's {dir} \
                 folder); a conduit needs two different folders",
                source, destination
            ),
            Halt::Overlap {
                side,
                root,
                path,
                what,
            } => write!(
                f,
                "roots overlap: {what} is also inside the {} {} as {path:?} (a bind mount or a \
                 second mount of the same disk); unmount it there, or add `/{path}/` to the \
                 conduit's ignore rules",
                side.name(),
                root
            ),
            Halt::EmptiedRoot {
                conduit,
                side,
                root,
                expected,
            } => write!(
                f,
                "emptied root: the {} {} has no files, but {expected} were there after the last \
                 sync; if it is not mounted, mount it; if you emptied it on purpose, run \
                 `conduit sync {conduit} --force`",
                side.name(),
                root
            ),
            Halt::MassDelete {
                conduit,
                side,
                deletes,
                total,
                limit_pct,
            } => write!(
                f,
                "mass delete: the plan deletes {deletes} of the {total} files on the {} \
                 ({:.0}%, more than the {limit_pct}% this conduit allows); if that is intended, \
                 run `conduit sync {conduit} --force`, or raise the limit with `conduit set \
                 {conduit} max-delete=N%`",
                side.name(),
                *deletes as f64 * 100.0 / *total as f64
            ),
            Halt::PolicyReplaced {
                conduit,
                policy,
                was,
                now,
                version,
            } => write!(
                f,
                "policy replaced: `{policy}` was replaced since conduit `{conduit}` last ran with \
                 it (digest {} then, {} now, version {version}); review it with `conduit policy \
                 info {policy}`, then confirm it with `conduit set {conduit} policy-digest={now}`",
                short_digest(was),
                short_digest(now)
            ),
            Halt::Recorded(text) => f.write_str(text),
        }
    }
}

impl serde::Serialize for Halt {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Halt {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Halt, D::Error> {
        <String as serde::Deserialize>::deserialize(d).map(Halt::Recorded)
    }
}

/// Open both roots and check them: each exists and carries the marker `add`
/// wrote, and they are two folders, not one seen twice. The error is the
/// halt message.
pub fn preflight(c: &Conduit, opener: &Opener) -> Result<[Box<dyn Location>; 2], Halt> {
    let open = |side: Side| -> Result<Box<dyn Location>, Halt> {
        let root = c.root(side).clone();
        let opened = match opener.open_side(c, side) {
            Ok(opened) => opened,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                return Err(Halt::RootMissing { side, root });
            }
            Err(e) => {
                return Err(Halt::RootUnopenable {
                    side,
                    root,
                    error: e.to_string(),
                });
            }
        };
        match opened.marker() {
            Ok(Some(id)) if id == c.marker(side) => Ok(opened),
            Ok(Some(_)) => Err(Halt::MarkerMismatch { side, root }),
            Ok(None) => Err(Halt::MarkerMissing { side, root }),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::ENOTDIR)) => {
                Err(Halt::RootMissing { side, root })
            }
            Err(e) if root.device().is_some() && crate::location::remote::is_cut(&e) => {
                Err(Halt::DeviceUnreachable {
                    side,
                    root,
                    error: e.to_string(),
                })
            }
            Err(e) => Err(Halt::MarkerUnreadable {
                side,
                root,
                error: e.to_string(),
            }),
        }
    };
    let roots = [open(Side::Source)?, open(Side::Destination)?];
    let same = match (roots[0].identity(), roots[1].identity()) {
        (Ok(Some(a)), Ok(Some(b))) => a == b,
        _ => false,
    };
    if same || c.source_marker == c.destination_marker {
        return Err(Halt::SameFolder {
            source: c.source.clone(),
            destination: c.destination.clone(),
        });
    }
    Ok(roots)
}

/// A root that holds the other root or the Conduit home (seen by the scan
/// through a bind mount): syncing would copy a folder into itself or trash
/// Conduit's own index.
pub fn overlaps(c: &Conduit, scans: [&Scan; 2]) -> Option<Halt> {
    for (scan, side) in scans.into_iter().zip(Side::BOTH) {
        if let Some((path, what)) = scan.overlaps.first() {
            return Some(Halt::Overlap {
                side,
                root: c.root(side).clone(),
                path: path.clone(),
                what: what.to_string(),
            });
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
) -> Option<Halt> {
    if force {
        return None;
    }
    for (scan, side) in scans.into_iter().zip(Side::BOTH) {
        let expected = base
            .values()
            .filter(|b| b.state.kind != Kind::Directory && !(side == Side::Source && b.offloaded))
            .count();
        if expected > 0 && files(scan) == 0 {
            return Some(Halt::EmptiedRoot {
                conduit: c.name.clone(),
                side,
                root: c.root(side).clone(),
                expected,
            });
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
) -> Option<Halt> {
    if force {
        return None;
    }
    for (scan, side) in scans.into_iter().zip(Side::BOTH) {
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
        if deletes as f64 * 100.0 / total as f64 > c.max_delete_pct {
            return Some(Halt::MassDelete {
                conduit: c.name.clone(),
                side,
                deletes,
                total,
                limit_pct: c.max_delete_pct,
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_halt_is_its_message_in_json_and_reads_back_as_recorded() {
        let halt = Halt::MassDelete {
            conduit: "photos".into(),
            side: Side::Destination,
            deletes: 3,
            total: 4,
            limit_pct: 50.0,
        };
        let text = halt.to_string();
        assert!(
            text.starts_with(
                "mass delete: the plan deletes 3 of the 4 files on the destination (75%"
            ) && text.contains("`conduit sync photos --force`"),
            "{text}"
        );
        let json = serde_json::to_string(&halt).unwrap();
        assert_eq!(json, serde_json::to_string(&text).unwrap());
        let back: Halt = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Halt::Recorded(text.clone()));
        assert_eq!(back.to_string(), text);
    }
}
