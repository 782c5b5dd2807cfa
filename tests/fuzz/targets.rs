//! The fuzz targets: each takes arbitrary bytes, feeds them to one reader or
//! checker of Conduit, and asserts what must hold for every input (no panic,
//! and the property named). The same functions run under libFuzzer
//! (`host/fuzz/`, `cargo fuzz run NAME`) and, bounded, in the test suite
//! (tests/fuzz/mod.rs), so a crash found by one is replayed by the other.

use std::collections::HashMap;
use std::sync::OnceLock;

use conduit::plan::{self, json::DiffFile};
use conduit::policy::{
    Action, Change, Entry, Kind, Operation, Rename, Runtime, Side, State, Transfer, options,
};

/// Reads bytes as a stream of choices; past the end, every choice is 0.
pub struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Bytes<'a> {
        Bytes(data)
    }

    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }

    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }

    fn text(&mut self, max: usize) -> String {
        let len = self.below(max + 1);
        let take = len.min(self.0.len());
        let (head, rest) = self.0.split_at(take);
        self.0 = rest;
        String::from_utf8_lossy(head).into_owned()
    }

    fn rest(&self) -> &'a [u8] {
        self.0
    }
}

fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Runtime::new(None).expect("runtime"))
}

/// The diff JSON reader (`conduit policy test`): any text is a diff or a
/// message, and a diff it accepts converts without panicking.
pub fn diff_json(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(diff) = DiffFile::parse(text) {
        diff.into_input("fuzz", Vec::new());
    }
}

const PATHS: &[&str] = &[
    "a", "d", "d/x", "d/y", ".conduit", "../up", "/abs", "a\0b", "",
];

fn state(b: &mut Bytes) -> Option<State> {
    let kind = match b.below(4) {
        0 => return None,
        1 => Kind::File,
        2 => Kind::Directory,
        _ => Kind::Symlink,
    };
    let digest = (b.below(3) > 0).then(|| (b.below(3) as u64, 0, 0, 0));
    Some(State {
        kind,
        size: b.below(4) as u64,
        mtime_ns: b.below(3) as i64,
        mode: 0o644,
        digest,
    })
}

/// The plan validator: whatever entries and actions it is given, it either
/// refuses with messages or accepts a plan whose every action names an
/// entry it was given and writes only checked relative paths.
pub fn plan_validate(data: &[u8]) {
    let mut b = Bytes::new(data);
    let count = b.below(6);
    let mut entries: Vec<Entry> = Vec::new();
    for i in 0..count {
        let base = state(&mut b);
        entries.push(Entry {
            path: format!("{}{i}", ["", "d/", "d/e/"][b.below(3)]),
            source: state(&mut b),
            source_change: Change::Unchanged,
            destination: state(&mut b),
            destination_change: Change::Unchanged,
            base,
            accessed_ns: 0,
            pinned: b.below(2) == 0,
            offloaded: b.below(3) == 0,
        });
    }
    entries.sort_by(|x, y| x.path.cmp(&y.path));
    let side = |b: &mut Bytes| {
        if b.below(2) == 0 {
            Side::Source
        } else {
            Side::Destination
        }
    };
    let target = |b: &mut Bytes| match b.below(3) {
        0 => PATHS[b.below(PATHS.len())].to_string(),
        1 => b.text(12),
        _ => format!("{}/n", PATHS[b.below(PATHS.len())]),
    };
    let mut actions = Vec::new();
    for _ in 0..b.below(10) {
        let entry = b.below(count + 2) as u32;
        let operation = match b.below(9) {
            0 => Operation::Copy(Transfer {
                from: side(&mut b),
                to_path: (b.below(2) == 0).then(|| target(&mut b)),
            }),
            1 => Operation::Delete(side(&mut b)),
            2 => Operation::MoveToDestination((b.below(2) == 0).then(|| target(&mut b))),
            3 => Operation::Rename(Rename {
                side: side(&mut b),
                to_path: target(&mut b),
            }),
            4 => Operation::Evict,
            5 => Operation::Hydrate,
            6 => Operation::Accept,
            7 => Operation::Conflict(b.text(8)),
            _ => Operation::Skip(b.text(8)),
        };
        actions.push(Action { entry, operation });
    }
    let Ok(plan) = plan::validate("fuzz", &entries, actions) else {
        return;
    };
    for a in &plan.actions {
        assert!((a.entry as usize) < entries.len(), "{a:?}");
        let written = match &a.operation {
            Operation::Copy(Transfer { to_path, .. }) | Operation::MoveToDestination(to_path) => {
                to_path.clone()
            }
            Operation::Rename(r) => Some(r.to_path.clone()),
            _ => None,
        };
        if let Some(path) = written {
            assert!(
                plan::check_relative_path(&path).is_ok(),
                "accepted {path:?}"
            );
        }
    }
}

/// The component loader: arbitrary bytes (after a valid component's first
/// bytes, when `data` asks) are a clear load error or a policy, never a
/// panic of the host.
pub fn component_load(data: &[u8]) {
    let _ = runtime().load("fuzz", data);
}

/// A real component with bytes of it replaced by `data`.
pub fn component_mutated(real: &[u8], data: &[u8]) {
    let mut b = Bytes::new(data);
    let mut bytes = real.to_vec();
    for _ in 0..1 + b.below(8) {
        let at = (usize::from(b.byte()) << 16 | usize::from(b.byte()) << 8 | usize::from(b.byte()))
            % bytes.len();
        bytes[at] = b.byte();
    }
    let _ = runtime().load("fuzz", &bytes);
}

/// Ignore rules: any set of lines compiles or is refused with the line
/// named, and matching any path never panics.
pub fn ignore_rules(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    match conduit::scan::Rules::check(&lines) {
        Ok(()) => {}
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}

/// Option values: for every built-in policy, any key and value is accepted
/// or refused with a message; an accepted value renders and parses back to
/// itself.
pub fn option_values(data: &[u8]) {
    let mut b = Bytes::new(data);
    static INFOS: OnceLock<Vec<conduit::policy::Info>> = OnceLock::new();
    let infos = INFOS.get_or_init(|| {
        conduit::policy::builtin_names()
            .map(|name| runtime().builtin(name).unwrap().info().clone())
            .collect()
    });
    let info = &infos[b.below(infos.len())];
    let key = match b.below(3) {
        0 => b.text(10),
        _ => info.options[b.below(info.options.len())].name.clone(),
    };
    let value = String::from_utf8_lossy(b.rest()).into_owned();
    let given = vec![(key.clone(), value)];
    if let Ok(settings) = options::resolve(info, &given) {
        for s in settings {
            let spec = info.options.iter().find(|o| o.name == s.name).unwrap();
            let again = options::parse(spec, &options::render(&s.value)).unwrap();
            assert_eq!(
                options::render(&again),
                options::render(&s.value),
                "{key} renders back"
            );
        }
    }
}

/// The index reader on a damaged database file: opening and reading it is
/// a clear error or data, never a panic.
pub fn index_damaged(healthy: &[u8], data: &[u8]) {
    let mut b = Bytes::new(data);
    let mut bytes = healthy.to_vec();
    for _ in 0..1 + b.below(16) {
        if bytes.is_empty() {
            break;
        }
        let at = (usize::from(b.byte()) << 8 | usize::from(b.byte())) * 7 % bytes.len();
        bytes[at] = b.byte();
    }
    if b.below(4) == 0 {
        let keep = bytes.len() * b.below(8) / 8;
        bytes.truncate(keep);
    }
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("index.sqlite"), &bytes).unwrap();
    if let Ok(host) = conduit::api::Host::open(home.path())
        && let Ok(conduits) = host.conduits()
    {
        for c in conduits {
            let _ = host.history(&c.name, 5);
            let _ = host.conflicts(&c.name);
        }
    }
}

/// A name of arbitrary bytes in a root: the scan records it under a path
/// the contract accepts, or reports it; it never panics or loses it.
pub fn names(data: &[u8]) {
    let name: Vec<u8> = data
        .iter()
        .copied()
        .filter(|&c| c != b'/' && c != 0)
        .take(300)
        .collect();
    if name.is_empty() || name == b"." || name == b".." || name == b".conduit" {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&name));
    if std::fs::write(&path, b"x").is_err() {
        // Longer than the filesystem takes: nothing to sync.
        return;
    }
    let root = conduit::location::LocalRoot::open(dir.path()).unwrap();
    let files = conduit::location::ignore_files(&[&root]).unwrap();
    let rules = conduit::scan::Rules::new(&[], &files).unwrap();
    let progress = conduit::scan::Progress::default();
    let none = HashMap::new();
    let scan = conduit::location::Location::scan(
        &root,
        &conduit::scan::Walk {
            rules: &rules,
            previous: &none,
            progress: &progress,
            foreign: &[],
        },
    );
    let reported = scan.bad_names.len() + scan.errors.len();
    assert_eq!(scan.records.len() + reported, 1, "{scan:?}");
    for path in scan.records.keys() {
        assert!(plan::check_relative_path(path).is_ok(), "{path:?}");
    }
}
