//! The JSON form of a plan's input (a diff with its context) and output (the
//! validated actions), as read and printed by `conduit policy test`.
//! docs/diff-json.md documents the format for policy authors.

use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use crate::diff::changes;
use conduit_contract::{
    Action, Change, Context, Entry, Kind, Operation, Setting, State, Volume, digest_from_bytes,
};

/// A diff as written by hand or by a tool: entries plus the context fields
/// that are not options (options come from `--set`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffFile {
    /// "Now", nanoseconds since the Unix epoch (default 0).
    #[serde(default)]
    pub now_ns: i64,
    /// Default: true when no entry has a base.
    pub first_run: Option<bool>,
    /// The source volume, for offload.
    pub source_volume: Option<VolumeJson>,
    /// Bytes of the conduit's files in the source (default 0).
    #[serde(default)]
    pub local_bytes: u64,
    /// The entries, each path once.
    pub entries: Vec<EntryJson>,
}

/// Size of a volume in bytes.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeJson {
    /// Total bytes.
    pub capacity: u64,
    /// Free bytes.
    pub free: u64,
}

/// One entry; see docs/diff-json.md.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryJson {
    /// Relative, `/`-separated.
    pub path: String,
    /// The source's state; absent when the path is not there.
    pub source: Option<StateJson>,
    /// Default: derived from `base` and `source`.
    pub source_change: Option<ChangeJson>,
    /// The destination's state; absent when the path is not there.
    pub destination: Option<StateJson>,
    /// Default: derived from `base` and `destination`.
    pub destination_change: Option<ChangeJson>,
    /// The last agreed state; absent on a first run.
    pub base: Option<StateJson>,
    /// Last access of the source copy (default 0).
    #[serde(default)]
    pub accessed_ns: i64,
    /// Pinned (offload).
    #[serde(default)]
    pub pinned: bool,
    /// Evicted by an earlier run (offload).
    #[serde(default)]
    pub offloaded: bool,
}

/// A state; every field has a default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateJson {
    /// Default: file.
    #[serde(default = "default_kind")]
    pub kind: KindJson,
    /// Default 0.
    #[serde(default)]
    pub size: u64,
    /// Default 0.
    #[serde(default)]
    pub mtime_ns: i64,
    /// Default 0o644 for files and links, 0o755 for directories.
    pub mode: Option<u32>,
    /// 64 hex digits, or any other text standing for content (hashed with
    /// BLAKE3, so equal texts mean equal content). Default for files: unknown.
    pub digest: Option<String>,
}

/// `file`, `directory` or `symlink`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KindJson {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
}

fn default_kind() -> KindJson {
    KindJson::File
}

/// A change class, kebab-case.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeJson {
    /// Same as base.
    Unchanged,
    /// New since base.
    Created,
    /// Different content than base.
    Modified,
    /// Gone since base.
    Deleted,
    /// Another kind than base.
    TypeChanged,
}

impl DiffFile {
    /// Parse and check the file; errors say which entry is wrong.
    pub fn parse(text: &str) -> Result<DiffFile, String> {
        let diff: DiffFile =
            serde_json::from_str(text).map_err(|e| format!("not a valid diff: {e}"))?;
        for (i, e) in diff.entries.iter().enumerate() {
            crate::plan::check_relative_path(&e.path).map_err(|m| format!("entry {i}: {m}"))?;
            if diff.entries[..i].iter().any(|o| o.path == e.path) {
                return Err(format!("entry {i}: path {:?} appears twice", e.path));
            }
        }
        Ok(diff)
    }

    /// The context and entries a policy receives.
    pub fn into_input(self, conduit: &str, settings: Vec<Setting>) -> (Context, Vec<Entry>) {
        let first_run = self
            .first_run
            .unwrap_or_else(|| self.entries.iter().all(|e| e.base.is_none()));
        let context = Context {
            conduit: conduit.to_string(),
            now_ns: self.now_ns,
            first_run,
            settings,
            source_volume: self.source_volume.map(|v| Volume {
                capacity: v.capacity,
                free: v.free,
            }),
            local_bytes: self.local_bytes,
        };
        let entries = self
            .entries
            .into_iter()
            .map(EntryJson::into_entry)
            .collect();
        (context, entries)
    }
}

impl EntryJson {
    fn into_entry(self) -> Entry {
        let base = self.base.map(StateJson::into_state);
        let source = self.source.map(StateJson::into_state);
        let destination = self.destination.map(StateJson::into_state);
        let (source_change, destination_change) = changes(
            base.as_ref(),
            source.as_ref(),
            destination.as_ref(),
            self.offloaded,
        );
        Entry {
            source_change: self
                .source_change
                .map_or(source_change, ChangeJson::into_change),
            destination_change: self
                .destination_change
                .map_or(destination_change, ChangeJson::into_change),
            path: self.path,
            source,
            destination,
            base,
            accessed_ns: self.accessed_ns,
            pinned: self.pinned,
            offloaded: self.offloaded,
        }
    }
}

impl StateJson {
    fn into_state(self) -> State {
        let kind = match self.kind {
            KindJson::File => Kind::File,
            KindJson::Directory => Kind::Directory,
            KindJson::Symlink => Kind::Symlink,
        };
        let default_mode = if kind == Kind::Directory {
            0o755
        } else {
            0o644
        };
        State {
            kind,
            size: self.size,
            mtime_ns: self.mtime_ns,
            mode: self.mode.unwrap_or(default_mode),
            digest: self.digest.map(|d| digest_from_bytes(&parse_digest(&d))),
        }
    }
}

impl ChangeJson {
    fn into_change(self) -> Change {
        match self {
            ChangeJson::Unchanged => Change::Unchanged,
            ChangeJson::Created => Change::Created,
            ChangeJson::Modified => Change::Modified,
            ChangeJson::Deleted => Change::Deleted,
            ChangeJson::TypeChanged => Change::TypeChanged,
        }
    }
}

/// 64 hex digits are a digest as is; any other text stands for content.
fn parse_digest(text: &str) -> [u8; 32] {
    let hex = |i: usize| u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok();
    if text.len() == 64
        && let Some(bytes) = (0..32).map(hex).collect::<Option<Vec<u8>>>()
    {
        return bytes.try_into().expect("32 bytes");
    }
    *blake3::hash(text.as_bytes()).as_bytes()
}

/// One validated action as JSON: `{"entry", "path", "action", …}`.
pub fn action_json(entries: &[Entry], a: &Action) -> Json {
    let path = &entries[a.entry as usize].path;
    let mut out = json!({ "entry": a.entry, "path": path });
    let fields = match &a.operation {
        Operation::Copy(c) => {
            json!({ "action": "copy", "from": c.from.name(), "to_path": c.to_path })
        }
        Operation::Delete(side) => json!({ "action": "delete", "side": side.name() }),
        Operation::MoveToDestination(to) => {
            json!({ "action": "move-to-destination", "to_path": to })
        }
        Operation::Rename(r) => {
            json!({ "action": "rename", "side": r.side.name(), "to_path": r.to_path })
        }
        Operation::Evict => json!({ "action": "evict" }),
        Operation::Hydrate => json!({ "action": "hydrate" }),
        Operation::Accept => json!({ "action": "accept" }),
        Operation::Conflict(reason) => json!({ "action": "conflict", "reason": reason }),
        Operation::Skip(reason) => json!({ "action": "skip", "reason": reason }),
    };
    out.as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    out
}
