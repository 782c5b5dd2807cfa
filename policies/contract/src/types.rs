//! The contract's plain types, shaped like `wit/policy.wit` (same fields, same
//! cases, same order). The host builds diffs and reads plans in these types;
//! with the `wasmtime` feature they also carry wasmtime's component-model
//! derives, so the host reads a plan straight into them and checks an entry's
//! layout against the guest's. The SDK converts its wit-bindgen types to and
//! from these for native tests (`policies/sdk/src/convert.rs`).

#[cfg(feature = "wasmtime")]
use wasmtime::component::{ComponentType, Lift};

/// A BLAKE3 digest as four little-endian 64-bit words, the contract's form.
pub type Digest = (u64, u64, u64, u64);

/// Pack 32 digest bytes into the contract's layout.
pub fn digest_from_bytes(bytes: &[u8; 32]) -> Digest {
    let word = |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
    (word(0), word(1), word(2), word(3))
}

/// Unpack a digest into its 32 bytes.
pub fn digest_to_bytes(d: Digest) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, w) in [d.0, d.1, d.2, d.3].into_iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// One of a conduit's two roots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "wasmtime", derive(ComponentType, Lift), component(enum))]
#[repr(u8)]
pub enum Side {
    #[cfg_attr(feature = "wasmtime", component(name = "source"))]
    Source,
    #[cfg_attr(feature = "wasmtime", component(name = "destination"))]
    Destination,
}

impl Side {
    /// Both sides, source first.
    pub const BOTH: [Side; 2] = [Side::Source, Side::Destination];

    /// The opposite side.
    pub fn other(self) -> Side {
        match self {
            Side::Source => Side::Destination,
            Side::Destination => Side::Source,
        }
    }

    /// The side's place in a per-side pair (`[T; 2]`, source first).
    pub fn index(self) -> usize {
        self as usize
    }

    /// `source` or `destination`, for messages and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Destination => "destination",
        }
    }
}

/// What a path holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "wasmtime", derive(ComponentType), component(enum))]
#[repr(u8)]
pub enum Kind {
    #[cfg_attr(feature = "wasmtime", component(name = "file"))]
    File,
    #[cfg_attr(feature = "wasmtime", component(name = "directory"))]
    Directory,
    #[cfg_attr(feature = "wasmtime", component(name = "symlink"))]
    Symlink,
}

impl Kind {
    /// `file`, `directory` or `symlink`, as the contract names it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Directory => "directory",
            Kind::Symlink => "symlink",
        }
    }
}

/// How one side of a path changed since base.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "wasmtime", derive(ComponentType), component(enum))]
#[repr(u8)]
pub enum Change {
    #[cfg_attr(feature = "wasmtime", component(name = "unchanged"))]
    Unchanged,
    #[cfg_attr(feature = "wasmtime", component(name = "created"))]
    Created,
    #[cfg_attr(feature = "wasmtime", component(name = "modified"))]
    Modified,
    #[cfg_attr(feature = "wasmtime", component(name = "deleted"))]
    Deleted,
    #[cfg_attr(feature = "wasmtime", component(name = "type-changed"))]
    TypeChanged,
}

/// A path's state on one side (or in base).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "wasmtime", derive(ComponentType), component(record))]
pub struct State {
    pub kind: Kind,
    pub size: u64,
    #[cfg_attr(feature = "wasmtime", component(name = "mtime-ns"))]
    pub mtime_ns: i64,
    pub mode: u32,
    /// Known for files and symlinks (of the link target) that could be read.
    pub digest: Option<Digest>,
}

impl State {
    /// The part of the state the contract's rules compare.
    pub fn content(&self) -> crate::Content {
        crate::Content {
            kind: self.kind,
            digest: self.digest,
            mode: self.mode,
            mtime_ns: self.mtime_ns,
        }
    }
}

/// One path of the diff, as a policy receives it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "wasmtime", derive(ComponentType), component(record))]
pub struct Entry {
    pub path: String,
    pub source: Option<State>,
    #[cfg_attr(feature = "wasmtime", component(name = "source-change"))]
    pub source_change: Change,
    pub destination: Option<State>,
    #[cfg_attr(feature = "wasmtime", component(name = "destination-change"))]
    pub destination_change: Change,
    pub base: Option<State>,
    #[cfg_attr(feature = "wasmtime", component(name = "accessed-ns"))]
    pub accessed_ns: i64,
    pub pinned: bool,
    pub offloaded: bool,
}

impl Entry {
    /// The entry's state on `side`, if the path exists there.
    pub fn state(&self, side: Side) -> Option<&State> {
        match side {
            Side::Source => self.source.as_ref(),
            Side::Destination => self.destination.as_ref(),
        }
    }
}

/// Where a copy comes from and, if not the same path, where it goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "wasmtime", derive(ComponentType, Lift), component(record))]
pub struct Transfer {
    pub from: Side,
    #[cfg_attr(feature = "wasmtime", component(name = "to-path"))]
    pub to_path: Option<String>,
}

/// A rename within one side.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "wasmtime", derive(ComponentType, Lift), component(record))]
pub struct Rename {
    pub side: Side,
    #[cfg_attr(feature = "wasmtime", component(name = "to-path"))]
    pub to_path: String,
}

/// What a policy asks the host to do with one entry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "wasmtime", derive(ComponentType, Lift), component(variant))]
pub enum Operation {
    #[cfg_attr(feature = "wasmtime", component(name = "copy"))]
    Copy(Transfer),
    #[cfg_attr(feature = "wasmtime", component(name = "delete"))]
    Delete(Side),
    #[cfg_attr(feature = "wasmtime", component(name = "move-to-destination"))]
    MoveToDestination(Option<String>),
    #[cfg_attr(feature = "wasmtime", component(name = "rename"))]
    Rename(Rename),
    #[cfg_attr(feature = "wasmtime", component(name = "evict"))]
    Evict,
    #[cfg_attr(feature = "wasmtime", component(name = "hydrate"))]
    Hydrate,
    #[cfg_attr(feature = "wasmtime", component(name = "accept"))]
    Accept,
    #[cfg_attr(feature = "wasmtime", component(name = "conflict"))]
    Conflict(String),
    #[cfg_attr(feature = "wasmtime", component(name = "skip"))]
    Skip(String),
}

impl Operation {
    /// The operation's name in the contract (`copy`, `move-to-destination`,
    /// ...), as plans are written in text and JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Copy(_) => "copy",
            Operation::Delete(_) => "delete",
            Operation::MoveToDestination(_) => "move-to-destination",
            Operation::Rename(_) => "rename",
            Operation::Evict => "evict",
            Operation::Hydrate => "hydrate",
            Operation::Accept => "accept",
            Operation::Conflict(_) => "conflict",
            Operation::Skip(_) => "skip",
        }
    }
}

/// One action of a plan: an operation on the entry at index `entry`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "wasmtime", derive(ComponentType, Lift), component(record))]
pub struct Action {
    pub entry: u32,
    pub operation: Operation,
}

impl Action {
    /// The action as a line of a policy's table tests, for the entry at
    /// `path`: `a.txt: copy from source`, `a.txt: rename destination to
    /// a.conflict.txt`, `a.txt: skip` (reasons are left out: they are words
    /// for people, not part of the decision).
    pub fn line(&self, path: &str) -> String {
        let op = match &self.operation {
            Operation::Copy(c) => match &c.to_path {
                None => format!("copy from {}", c.from.name()),
                Some(to) => format!("copy from {} to {to}", c.from.name()),
            },
            Operation::Delete(side) => format!("delete {}", side.name()),
            Operation::MoveToDestination(None) => "move".into(),
            Operation::MoveToDestination(Some(to)) => format!("move to {to}"),
            Operation::Rename(r) => format!("rename {} to {}", r.side.name(), r.to_path),
            other => other.name().into(),
        };
        format!("{path}: {op}")
    }
}
