//! Helpers shared by the workspace tests: compact builders for diff entries,
//! and a one-line rendering of actions so table rows read like the spec.
#![allow(dead_code)]

use std::sync::OnceLock;

use conduit::diff::changes;
use conduit::plan::{self, Plan};
use conduit::policy::{
    Action, Context, Entry, Kind, LoadedPolicy, PolicyError, Runtime, Setting, State, Volume,
    digest_from_bytes, options,
};

/// 2023-11-14 22:13:20 UTC, the "now" of every table unless a row says otherwise.
pub const NOW: i64 = 1_700_000_000_000_000_000;
pub const DAY: i64 = 86_400_000_000_000;

/// One runtime per test binary (compiling components is the slow part).
pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Runtime::new(None).expect("runtime"))
}

pub fn builtin(name: &str) -> LoadedPolicy {
    runtime().builtin(name).expect("built-in loads")
}

/// A file whose content is `content` (digest = BLAKE3 of it), modified at `mtime`.
pub fn file_at(content: &str, mtime: i64) -> State {
    State {
        kind: Kind::File,
        size: content.len() as u64,
        mtime_ns: mtime,
        mode: 0o644,
        digest: Some(digest_from_bytes(
            blake3::hash(content.as_bytes()).as_bytes(),
        )),
    }
}

/// A file modified at `NOW - 1 day`.
pub fn file(content: &str) -> State {
    file_at(content, NOW - DAY)
}

pub fn dir() -> State {
    State {
        kind: Kind::Directory,
        size: 0,
        mtime_ns: NOW - DAY,
        mode: 0o755,
        digest: None,
    }
}

pub fn symlink(target: &str) -> State {
    State {
        kind: Kind::Symlink,
        ..file(target)
    }
}

/// A file the scanner could not read.
pub fn unreadable() -> State {
    State {
        digest: None,
        ..file("?")
    }
}

/// An entry builder; change classes are derived from base like the diff does.
pub struct E {
    entry: Entry,
}

pub fn e(path: &str) -> E {
    E {
        entry: Entry {
            path: path.into(),
            source: None,
            source_change: conduit::policy::Change::Unchanged,
            destination: None,
            destination_change: conduit::policy::Change::Unchanged,
            base: None,
            accessed_ns: 0,
            pinned: false,
            offloaded: false,
        },
    }
}

impl E {
    pub fn base(mut self, s: State) -> E {
        self.entry.base = Some(s);
        self
    }
    pub fn src(mut self, s: State) -> E {
        self.entry.source = Some(s);
        self
    }
    pub fn dst(mut self, s: State) -> E {
        self.entry.destination = Some(s);
        self
    }
    /// Present with the same state on both sides and in base.
    pub fn synced(self, s: State) -> E {
        self.base(s).src(s).dst(s)
    }
    pub fn accessed(mut self, ns: i64) -> E {
        self.entry.accessed_ns = ns;
        self
    }
    pub fn pinned(mut self) -> E {
        self.entry.pinned = true;
        self
    }
    pub fn offloaded(mut self) -> E {
        self.entry.offloaded = true;
        self
    }
    pub fn build(self) -> Entry {
        let mut e = self.entry;
        (e.source_change, e.destination_change) = changes(
            e.base.as_ref(),
            e.source.as_ref(),
            e.destination.as_ref(),
            e.offloaded,
        );
        e
    }
}

/// A context at `NOW` with the given options resolved against the policy's schema.
pub fn context(policy: &LoadedPolicy, set: &[(&str, &str)], entries: &[Entry]) -> Context {
    let given: Vec<(String, String)> = set
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let settings: Vec<Setting> = options::resolve(policy.info(), &given).expect("valid options");
    Context {
        conduit: "test".into(),
        now_ns: NOW,
        first_run: entries.iter().all(|e| e.base.is_none()),
        settings,
        source_volume: None,
        local_bytes: 0,
    }
}

/// Run a policy through the wasm runtime and the host's validation.
pub fn plan_with(
    policy: &LoadedPolicy,
    ctx: &Context,
    entries: &[Entry],
) -> Result<Plan, PolicyError> {
    let actions = policy.plan(ctx, entries)?;
    plan::validate(policy.name(), entries, actions)
}

/// One action as a line: `path: op args`.
pub fn render(entries: &[Entry], a: &Action) -> String {
    a.line(&entries[a.entry as usize].path)
}

/// A table row: options, extra context, entries, and the expected plan.
pub struct Row {
    pub name: &'static str,
    pub set: Vec<(&'static str, &'static str)>,
    pub volume: Option<Volume>,
    pub local_bytes: u64,
    pub entries: Vec<E>,
    pub expect: Vec<&'static str>,
}

pub fn row(name: &'static str, entries: Vec<E>, expect: Vec<&'static str>) -> Row {
    Row {
        name,
        set: vec![],
        volume: None,
        local_bytes: 0,
        entries,
        expect,
    }
}

impl Row {
    pub fn set(mut self, k: &'static str, v: &'static str) -> Row {
        self.set.push((k, v));
        self
    }
    pub fn volume(mut self, capacity: u64, free: u64) -> Row {
        self.volume = Some(Volume { capacity, free });
        self
    }
    pub fn local_bytes(mut self, n: u64) -> Row {
        self.local_bytes = n;
        self
    }
}

/// Run every row through the real wasm component; report all failing rows.
pub fn check_table(policy: &str, rows: Vec<Row>) {
    let policy = builtin(policy);
    let mut failures = Vec::new();
    for row in rows {
        let entries: Vec<Entry> = row.entries.into_iter().map(E::build).collect();
        let mut ctx = context(&policy, &row.set, &entries);
        ctx.source_volume = row.volume;
        ctx.local_bytes = row.local_bytes;
        match plan_with(&policy, &ctx, &entries) {
            Ok(plan) => {
                let got: Vec<String> = plan.actions.iter().map(|a| render(&entries, a)).collect();
                if got != row.expect {
                    failures.push(format!(
                        "{}:\n    expected {:?}\n    got      {:?}",
                        row.name, row.expect, got
                    ));
                }
            }
            Err(err) => failures.push(format!("{}: {err}", row.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}
