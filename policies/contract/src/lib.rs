//! The policy contract (`wit/policy.wit`) as plain types, and the rules that
//! the host, the policy SDK and the test harnesses all apply, each written
//! once: classification, content equality, the relative-path check, option
//! parsing and rendering, units, the table form of an action. The host uses
//! these types as its own; the SDK converts its wit-bindgen types to them.
//!
//! Nothing here does I/O: the crate compiles into the host and into every
//! policy component alike. The `wasmtime` feature (the host's) adds the
//! component-model derives.

pub mod options;
mod types;
pub mod units;

pub use options::{Context, Info, OptionSpec, OptionType, Scope, Setting, Value, Volume};
pub use types::{
    Action, Change, Digest, Entry, Kind, Operation, Rename, Side, State, Transfer,
    digest_from_bytes, digest_to_bytes,
};

/// The part of a state the contract's rules compare: what a copy keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Content {
    pub kind: Kind,
    /// Known for files and symlinks (of the link target) that could be read.
    pub digest: Option<Digest>,
    /// Permission bits (files and folders; a symlink has none of its own).
    pub mode: u32,
    /// Modification time (files and symlinks; a folder's follows what is
    /// written inside it, so it is kept but never compared).
    pub mtime_ns: i64,
}

impl Content {
    /// Same data: same kind and, for files and symlinks, equal known
    /// digests. Folders are equal by kind: their content is their entries,
    /// decided one by one.
    pub fn same_data(&self, other: &Content) -> bool {
        self.kind == other.kind
            && (self.kind == Kind::Directory
                || (self.digest.is_some() && self.digest == other.digest))
    }

    /// Same metadata, as far as the kind has it: the mode of files and
    /// folders, the mtime of files and symlinks.
    pub fn same_metadata(&self, other: &Content) -> bool {
        let mode = self.kind == Kind::Symlink || self.mode == other.mode;
        let mtime = self.kind == Kind::Directory || self.mtime_ns == other.mtime_ns;
        mode && mtime
    }

    /// An exact copy: same data and same metadata. A mode-only or
    /// mtime-only change is a change.
    pub fn same_as(&self, other: &Content) -> bool {
        self.same_data(other) && self.same_metadata(other)
    }
}

/// What two roots can both keep, probed once per root: states are compared
/// at this fidelity, so a root that rounds mtimes (FAT: 2 s) or has no
/// POSIX modes never looks changed by its own rounding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fidelity {
    /// Mtimes are compared after flooring to this many nanoseconds.
    pub mtime_step_ns: i64,
    /// Permission bits are kept (and compared).
    pub modes: bool,
    /// Setuid and setgid are kept (and compared): not where copies are
    /// written as root without their owners, which strips them.
    pub setid: bool,
}

impl Fidelity {
    /// A root that keeps nanosecond mtimes and POSIX modes.
    pub const EXACT: Fidelity = Fidelity {
        mtime_step_ns: 1,
        modes: true,
        setid: true,
    };

    /// What both `self` and `other` can keep.
    pub fn and(self, other: Fidelity) -> Fidelity {
        Fidelity {
            mtime_step_ns: self.mtime_step_ns.max(other.mtime_step_ns).max(1),
            modes: self.modes && other.modes,
            setid: self.setid && other.setid,
        }
    }

    /// `state` as this fidelity sees it: mtime floored to the step, mode
    /// cleared where modes are not kept, setuid and setgid where they are not.
    pub fn normalize(&self, mut state: State) -> State {
        let step = self.mtime_step_ns.max(1);
        state.mtime_ns = state.mtime_ns.div_euclid(step) * step;
        if !self.modes {
            state.mode = 0;
        }
        if !self.setid {
            state.mode &= !0o6000;
        }
        state
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

/// The longest name a path component may have, in bytes (Linux's NAME_MAX).
pub const NAME_MAX: usize = 255;

/// The folder inside each root that holds Conduit's marker, trash and
/// staging area. Never synced; no plan may name a path inside it.
pub const BOOKKEEPING_DIR: &str = ".conduit";

/// A relative path a policy may name: `/`-separated, no empty, `.` or `..`
/// components, no NUL, no name over [`NAME_MAX`] bytes, not absolute, not
/// inside [`BOOKKEEPING_DIR`]. The error says which rule the path breaks.
pub fn check_relative_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("the path is empty".into());
    }
    if path.starts_with('/') {
        return Err(format!(
            "{path:?} is absolute; paths must be relative to the root"
        ));
    }
    if path.contains('\0') {
        return Err(format!("{path:?} contains a NUL byte"));
    }
    for component in path.split('/') {
        match component {
            "" => return Err(format!("{path:?} has an empty component")),
            "." | ".." => {
                return Err(format!(
                    "{path:?} contains `{component}`; paths may not leave or name their directory"
                ));
            }
            c if c.len() > NAME_MAX => {
                return Err(format!(
                    "{path:?} has a name of {} bytes; names may have at most {NAME_MAX}",
                    c.len()
                ));
            }
            _ => {}
        }
    }
    if path.split('/').next() == Some(BOOKKEEPING_DIR) {
        return Err(format!(
            "{path:?} is inside Conduit's own `{BOOKKEEPING_DIR}` folder"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(kind: Kind, digest: Option<u64>, mode: u32, mtime_ns: i64) -> Option<Content> {
        Some(Content {
            kind,
            digest: digest.map(|d| (d, 0, 0, 0)),
            mode,
            mtime_ns,
        })
    }

    fn file(d: u64) -> Option<Content> {
        of(Kind::File, Some(d), 0o644, 10)
    }

    fn link(d: u64) -> Option<Content> {
        of(Kind::Symlink, Some(d), 0o777, 10)
    }

    const DIR: Option<Content> = Some(Content {
        kind: Kind::Directory,
        digest: None,
        mode: 0o755,
        mtime_ns: 10,
    });
    const UNREADABLE: Option<Content> = Some(Content {
        kind: Kind::File,
        digest: None,
        mode: 0o644,
        mtime_ns: 10,
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
            // Metadata is part of what a copy keeps.
            (file(1), of(Kind::File, Some(1), 0o600, 10), Modified),
            (file(1), of(Kind::File, Some(1), 0o644, 11), Modified),
            (link(1), of(Kind::Symlink, Some(1), 0o777, 11), Modified),
            (link(1), of(Kind::Symlink, Some(1), 0o755, 10), Unchanged),
            (DIR, of(Kind::Directory, None, 0o700, 10), Modified),
            (DIR, of(Kind::Directory, None, 0o755, 99), Unchanged),
        ];
        for (i, (base, now, want)) in rows.into_iter().enumerate() {
            assert_eq!(classify(base, now), want, "row {i}");
        }
    }

    #[test]
    fn fidelity_floors_mtimes_and_drops_modes_it_cannot_keep() {
        let state = State {
            kind: Kind::File,
            size: 1,
            mtime_ns: 3_999_999_999,
            mode: 0o640,
            digest: None,
        };
        let fat = Fidelity {
            mtime_step_ns: 2_000_000_000,
            modes: false,
            setid: true,
        };
        let both = Fidelity::EXACT.and(fat);
        assert_eq!(both, fat);
        let seen = both.normalize(state);
        assert_eq!((seen.mtime_ns, seen.mode), (2_000_000_000, 0));
        let before_epoch = Fidelity::EXACT.and(Fidelity {
            mtime_step_ns: 1_000_000_000,
            modes: true,
            setid: true,
        });
        let old = before_epoch.normalize(State {
            mtime_ns: -1,
            ..state
        });
        assert_eq!((old.mtime_ns, old.mode), (-1_000_000_000, 0o640));
        assert_eq!(Fidelity::EXACT.normalize(state), state);
        let unowned = Fidelity {
            setid: false,
            ..Fidelity::EXACT
        };
        let setuid = State {
            mode: 0o4755,
            ..state
        };
        assert_eq!(unowned.normalize(setuid).mode, 0o755);
        assert_eq!(Fidelity::EXACT.normalize(setuid).mode, 0o4755);
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

    #[test]
    fn relative_paths() {
        for ok in ["a", "a/b.txt", ".conduitignore", "x/.conduit", "a..b"] {
            assert_eq!(check_relative_path(ok), Ok(()), "{ok}");
        }
        let long = "n".repeat(NAME_MAX + 1);
        let bad = [
            ("", "empty"),
            ("/etc/x", "absolute"),
            ("a\0b", "NUL"),
            ("a//b", "empty component"),
            ("a/../b", "`..`"),
            ("./a", "`.`"),
            (long.as_str(), "256 bytes"),
            (".conduit/trash/x", "own `.conduit` folder"),
            (".conduit", "own `.conduit` folder"),
        ];
        for (path, why) in bad {
            let err = check_relative_path(path).unwrap_err();
            assert!(err.contains(why), "{path:?}: {err}");
        }
    }
}
