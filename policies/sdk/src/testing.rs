//! Table tests for policies.
//!
//! A [`Case`] is one row: the entries of a diff (built with [`entry`] and
//! states such as [`file()`]), the options as typed after `--set`, and the
//! plan expected, one line per action in the form `conduit policy test` and
//! the host's own tables use (`"a.jpg: copy from source"`). The same rows run
//!
//! - natively, with [`check`]: the policy type's `plan` is called directly,
//!   fast and debuggable, options resolved against its `describe()` as the
//!   host would;
//! - against the compiled component, with the host's harness
//!   (`conduit_harness`, a dev-dependency: the `conduit-harness` crate),
//!   which runs the `.wasm` in the real sandbox and validates the plan exactly
//!   as a sync would.
//!
//! ```
//! use conduit_policy::testing::{Case, check, entry, file};
//! use conduit_policy::{Action, Context, Entry, Info, Policy, Scope, Side, act, indexed};
//!
//! /// Copies new `.jpg` files, nothing else.
//! struct Photos;
//!
//! impl Policy for Photos {
//!     fn describe() -> Info {
//!         Info {
//!             name: "photos".into(),
//!             version: "0.1.0".into(),
//!             summary: "New photos only.".into(),
//!             options: vec![],
//!             scope: Scope::Changes,
//!         }
//!     }
//!     fn plan(_: &Context, entries: &[Entry]) -> Result<Vec<Action>, String> {
//!         Ok(indexed(entries)
//!             .filter(|(_, e)| e.destination.is_none() && e.extension().as_deref() == Some("jpg"))
//!             .map(|(i, _)| act::copy(i, Side::Source))
//!             .collect())
//!     }
//! }
//!
//! check::<Photos>(&[
//!     Case::new("a new photo is copied")
//!         .entry(entry("a.jpg").source(file("x")))
//!         .expect(&["a.jpg: copy from source"]),
//!     Case::new("a text file is left alone")
//!         .entry(entry("notes.txt").source(file("y")))
//!         .expect(&[]),
//!     Case::new("options are checked against describe()")
//!         .set("colour", "blue")
//!         .expect_error("takes no options, but `colour` was given"),
//! ]);
//! ```

use crate::{
    Action, Change, Context, Digest, Entry, Info, Kind, Operation, Policy, Setting, State, Volume,
};

/// 2023-11-14 22:13:20 UTC: the "now" of a case unless it sets its own.
pub const NOW: i64 = 1_700_000_000_000_000_000;
/// One day in nanoseconds.
pub const DAY: i64 = 86_400_000_000_000;

/// A stand-in digest for `content`: equal texts give equal digests. Not
/// BLAKE3 (the SDK stays dependency-free); only equality matters to a policy.
pub fn digest_of(content: &str) -> Digest {
    let word = |seed: u64| {
        content.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    (
        word(0xcbf2_9ce4_8422_2325),
        word(0x8422_2325_cbf2_9ce4),
        word(0x9e37_79b9_7f4a_7c15),
        content.len() as u64,
    )
}

/// A file holding `content`, modified at `mtime` (ns since the epoch).
pub fn file_at(content: &str, mtime: i64) -> State {
    State {
        kind: Kind::File,
        size: content.len() as u64,
        mtime_ns: mtime,
        mode: 0o644,
        digest: Some(digest_of(content)),
    }
}

/// A file holding `content`, modified a day before [`NOW`].
pub fn file(content: &str) -> State {
    file_at(content, NOW - DAY)
}

/// A file of `size` bytes whose content is named by `content`.
pub fn file_sized(content: &str, size: u64) -> State {
    State {
        size,
        ..file(content)
    }
}

/// A directory.
pub fn dir() -> State {
    State {
        kind: Kind::Directory,
        size: 0,
        mtime_ns: NOW - DAY,
        mode: 0o755,
        digest: None,
    }
}

/// A symlink to `target`.
pub fn symlink(target: &str) -> State {
    State {
        kind: Kind::Symlink,
        ..file(target)
    }
}

/// A file the host could not read (no digest).
pub fn unreadable() -> State {
    State {
        digest: None,
        ..file("?")
    }
}

/// Builds an [`Entry`]; change classes are derived from base on `build`.
#[derive(Clone, Debug)]
pub struct EntryBuilder {
    entry: Entry,
}

/// Start an entry at `path` (absent everywhere until given states).
pub fn entry(path: &str) -> EntryBuilder {
    EntryBuilder {
        entry: Entry {
            path: path.to_string(),
            source: None,
            source_change: Change::Unchanged,
            destination: None,
            destination_change: Change::Unchanged,
            base: None,
            accessed_ns: 0,
            pinned: false,
            offloaded: false,
        },
    }
}

impl EntryBuilder {
    pub fn source(mut self, s: State) -> Self {
        self.entry.source = Some(s);
        self
    }
    pub fn destination(mut self, s: State) -> Self {
        self.entry.destination = Some(s);
        self
    }
    /// The state both sides agreed on after the last run.
    pub fn base(mut self, s: State) -> Self {
        self.entry.base = Some(s);
        self
    }
    /// In sync: the same state on both sides and in base.
    pub fn synced(self, s: State) -> Self {
        self.base(s).source(s).destination(s)
    }
    pub fn accessed(mut self, ns: i64) -> Self {
        self.entry.accessed_ns = ns;
        self
    }
    pub fn pinned(mut self) -> Self {
        self.entry.pinned = true;
        self
    }
    pub fn offloaded(mut self) -> Self {
        self.entry.offloaded = true;
        self
    }
    /// The entry, with `source-change` and `destination-change` derived.
    pub fn build(self) -> Entry {
        let mut e = self.entry;
        let (source, destination) = conduit_contract::changes(
            e.base.as_ref().map(State::content),
            e.source.as_ref().map(State::content),
            e.destination.as_ref().map(State::content),
            e.offloaded,
        );
        e.source_change = source.into();
        e.destination_change = destination.into();
        e
    }
}

/// What a case expects.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    /// These action lines, in the host's order (by entry, then as given).
    Plan(Vec<String>),
    /// The run fails with a message containing this text.
    Error(String),
}

/// One row of a table: a diff, options, and the expected plan.
#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub entries: Vec<Entry>,
    /// `key=value` pairs as typed after `--set`.
    pub settings: Vec<(String, String)>,
    pub now_ns: i64,
    /// None: a first run when no entry has a base.
    pub first_run: Option<bool>,
    pub source_volume: Option<Volume>,
    pub local_bytes: u64,
    pub expect: Expect,
}

impl Case {
    /// An empty case named `name`, expecting an empty plan.
    pub fn new(name: &str) -> Case {
        Case {
            name: name.to_string(),
            entries: Vec::new(),
            settings: Vec::new(),
            now_ns: NOW,
            first_run: None,
            source_volume: None,
            local_bytes: 0,
            expect: Expect::Plan(Vec::new()),
        }
    }
    pub fn entry(mut self, e: EntryBuilder) -> Case {
        self.entries.push(e.build());
        self
    }
    /// An option, as `--set key=value` would give it.
    pub fn set(mut self, key: &str, value: &str) -> Case {
        self.settings.push((key.to_string(), value.to_string()));
        self
    }
    pub fn now(mut self, ns: i64) -> Case {
        self.now_ns = ns;
        self
    }
    pub fn first_run(mut self, first: bool) -> Case {
        self.first_run = Some(first);
        self
    }
    pub fn volume(mut self, capacity: u64, free: u64) -> Case {
        self.source_volume = Some(Volume { capacity, free });
        self
    }
    pub fn local_bytes(mut self, bytes: u64) -> Case {
        self.local_bytes = bytes;
        self
    }
    /// The plan, one line per action: `path: op`, see [`render`].
    pub fn expect(mut self, lines: &[&str]) -> Case {
        self.expect = Expect::Plan(lines.iter().map(|l| l.to_string()).collect());
        self
    }
    /// The run fails with an error containing `text`.
    pub fn expect_error(mut self, text: &str) -> Case {
        self.expect = Expect::Error(text.to_string());
        self
    }

    /// The context a host would pass for this case, options resolved against
    /// `info` (defaults applied, undeclared or mistyped options refused).
    pub fn context(&self, info: &Info) -> Result<Context, String> {
        Ok(Context {
            conduit: "test".into(),
            now_ns: self.now_ns,
            first_run: self
                .first_run
                .unwrap_or_else(|| self.entries.iter().all(|e| e.base.is_none())),
            settings: resolve(info, &self.settings)?,
            source_volume: self.source_volume,
            local_bytes: self.local_bytes,
        })
    }
}

/// Typed settings from `key=value` pairs, with defaults for the rest: the
/// host's rules (`--set` on the command line), from the contract crate.
pub fn resolve(info: &Info, given: &[(String, String)]) -> Result<Vec<Setting>, String> {
    let settings = conduit_contract::options::resolve(&info.clone().into(), given)?;
    Ok(settings.into_iter().map(Into::into).collect())
}

/// One action as a line: `path: op`, e.g. `a.txt: copy from source`,
/// `a.txt: rename destination to a.conflict.txt`, `a.txt: skip`.
pub fn render(entries: &[Entry], a: &Action) -> String {
    match entries.get(a.entry as usize) {
        Some(e) => conduit_contract::Action::from(a.clone()).line(&e.path),
        None => format!("#{}: out of range", a.entry),
    }
}

/// Run `P` natively on a case: options resolved, `plan` called, indices and
/// new paths checked, actions grouped by entry as the host groups them, and
/// rendered as lines. (The host's full plan validation runs in its harness.)
pub fn plan<P: Policy>(case: &Case) -> Result<Vec<String>, String> {
    let ctx = case.context(&P::describe())?;
    let mut actions = P::plan(&ctx, &case.entries)?;
    let mut problems = Vec::new();
    for a in &actions {
        if a.entry as usize >= case.entries.len() {
            problems.push(format!(
                "an action names entry {} but there are only {} entries",
                a.entry,
                case.entries.len()
            ));
        }
        let to = match &a.operation {
            Operation::Copy(c) => c.to_path.as_deref(),
            Operation::Rename(r) => Some(r.to_path.as_str()),
            Operation::MoveToDestination(to) => to.as_deref(),
            _ => None,
        };
        if let Some(Err(why)) = to.map(conduit_contract::check_relative_path) {
            problems.push(why);
        }
    }
    if !problems.is_empty() {
        return Err(format!("invalid plan: {}", problems.join("; ")));
    }
    actions.sort_by_key(|a| a.entry);
    Ok(actions.iter().map(|a| render(&case.entries, a)).collect())
}

/// Check every case with `run` and panic with a report of all that differ.
/// [`check`] runs natively; the host's harness passes the component runner.
pub fn check_with(cases: &[Case], mut run: impl FnMut(&Case) -> Result<Vec<String>, String>) {
    let mut failures = Vec::new();
    for case in cases {
        let got = run(case);
        let ok = match (&case.expect, &got) {
            (Expect::Plan(want), Ok(plan)) => want == plan,
            (Expect::Error(text), Err(message)) => message.contains(text.as_str()),
            _ => false,
        };
        if !ok {
            let want = match &case.expect {
                Expect::Plan(lines) => format!("plan {lines:#?}"),
                Expect::Error(text) => format!("an error containing {text:?}"),
            };
            let got = match got {
                Ok(lines) => format!("plan {lines:#?}"),
                Err(message) => format!("error {message:?}"),
            };
            failures.push(format!(
                "case {:?}\n  expected {want}\n  got {got}",
                case.name
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Check every case natively against `P`.
pub fn check<P: Policy>(cases: &[Case]) {
    check_with(cases, plan::<P>);
}
