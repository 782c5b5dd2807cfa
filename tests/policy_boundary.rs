//! The host writes the diff into a policy's memory with its own lowering
//! (host/src/policy/lower.rs). These tests have a policy report back every
//! field of every entry it received and compare with what the host sent.

use crate::common::*;
use conduit::policy::{Change, Entry, Kind, LoadedPolicy, Operation, State};
use conduit_policy::testing::{entry, file};

fn echo_policy() -> LoadedPolicy {
    let path = env!("CONDUIT_FIXTURE_MISBEHAVE");
    runtime().load_file(path.as_ref()).expect("fixture loads")
}

/// What the policy received, one line per entry (see the fixture's `echo`).
fn received(entries: &[Entry]) -> Vec<String> {
    let policy = echo_policy();
    let ctx = context(&policy, &[("mode", "echo")], entries);
    let actions = policy.plan(&ctx, entries).expect("echo plans");
    assert_eq!(actions.len(), entries.len());
    actions
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            assert_eq!(a.entry as usize, i, "one action per entry, in order");
            match a.operation {
                Operation::Skip(line) => line,
                other => panic!("echo answers with skips, got {other:?}"),
            }
        })
        .collect()
}

/// The same line, written on the host's side.
fn sent(e: &Entry) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}|{}|{}|{}",
        e.path,
        state(&e.source),
        change(e.source_change),
        state(&e.destination),
        change(e.destination_change),
        state(&e.base),
        e.accessed_ns,
        e.pinned,
        e.offloaded
    )
}

fn state(s: &Option<State>) -> String {
    let Some(s) = s else {
        return "-".into();
    };
    let kind = match s.kind {
        Kind::File => "file",
        Kind::Directory => "directory",
        Kind::Symlink => "symlink",
    };
    let digest = match s.digest {
        Some((a, b, c, d)) => format!("{a:x}.{b:x}.{c:x}.{d:x}"),
        None => "-".into(),
    };
    format!("{kind}:{}:{}:{:o}:{digest}", s.size, s.mtime_ns, s.mode)
}

fn change(c: Change) -> &'static str {
    match c {
        Change::Unchanged => "unchanged",
        Change::Created => "created",
        Change::Modified => "modified",
        Change::Deleted => "deleted",
        Change::TypeChanged => "type-changed",
    }
}

/// Absent, and one state of each kind with values at the edges of their types.
fn states() -> Vec<Option<State>> {
    let st = |kind, size, mtime_ns, mode, digest| {
        Some(State {
            kind,
            size,
            mtime_ns,
            mode,
            digest,
        })
    };
    vec![
        None,
        st(Kind::File, 0, 0, 0o644, Some((1, 2, 3, 4))),
        st(
            Kind::File,
            u64::MAX,
            i64::MIN,
            u32::MAX,
            Some((u64::MAX, 0, u64::MAX - 1, 0x0123_4567_89ab_cdef)),
        ),
        st(Kind::File, 4096, -1, 0o600, None),
        st(Kind::Directory, 0, i64::MAX, 0o755, None),
        st(
            Kind::Symlink,
            11,
            1_700_000_000_000_000_000,
            0o777,
            Some((9, 8, 7, 6)),
        ),
    ]
}

const CHANGES: [Change; 5] = [
    Change::Unchanged,
    Change::Created,
    Change::Modified,
    Change::Deleted,
    Change::TypeChanged,
];

const PATHS: [&str; 5] = [
    "a.txt",
    "deep/er/still/file.rs",
    "with space/and-ü-é/日本語/🦀.bin",
    "",
    "x",
];

/// Every combination of source, destination and base states, with the other
/// fields cycling through their values.
fn every_kind_of_entry() -> Vec<Entry> {
    let states = states();
    let mut entries = Vec::new();
    for source in &states {
        for destination in &states {
            for base in &states {
                let i = entries.len();
                let long = "long/".repeat(60) + &i.to_string();
                let path = match PATHS[i % PATHS.len()] {
                    "x" => long,
                    p => format!("{p}{i}"),
                };
                entries.push(Entry {
                    path,
                    source: *source,
                    source_change: CHANGES[i % 5],
                    destination: *destination,
                    destination_change: CHANGES[(i / 5) % 5],
                    base: *base,
                    accessed_ns: [0, -1, i64::MAX, i64::MIN, 1_234_567][i % 5],
                    pinned: i % 2 == 0,
                    offloaded: i % 4 < 2,
                });
            }
        }
    }
    entries
}

#[test]
fn a_policy_receives_every_field_as_the_host_sent_it() {
    let entries = every_kind_of_entry();
    assert_eq!(entries.len(), 216);
    let expected: Vec<String> = entries.iter().map(sent).collect();
    assert_eq!(received(&entries), expected);
}

#[test]
fn an_empty_diff_and_a_single_entry_cross_intact() {
    assert_eq!(received(&[]), Vec::<String>::new());
    let one = vec![host_entry(entry("only").source(file("v1")))];
    assert_eq!(received(&one), vec![sent(&one[0])]);
}

#[test]
fn a_large_diff_crosses_intact() {
    // Enough entries that the guest's memory grows many times while the host
    // is writing paths, so records written before a growth must survive it.
    let kinds = every_kind_of_entry();
    let entries: Vec<Entry> = (0..20_000)
        .map(|i| {
            let mut e = kinds[i % kinds.len()].clone();
            e.path = format!("bulk/{i}/{}", e.path);
            e
        })
        .collect();
    let expected: Vec<String> = entries.iter().map(sent).collect();
    assert_eq!(received(&entries), expected);
}

/// The change classes of an echo line: (source, destination).
fn echoed_changes(line: &str) -> (String, String) {
    let fields: Vec<&str> = line.split('|').collect();
    (fields[2].to_string(), fields[4].to_string())
}

/// An offloaded path where the person put a new file: a real sync, `conduit
/// policy test`, the SDK's harness and this suite's builder all send it as
/// *created* on the source (they once disagreed: the copies outside the
/// host's diff said `modified`).
#[test]
fn an_offloaded_path_is_classified_alike_by_a_sync_policy_test_and_the_harnesses() {
    use crate::support::{World, write};
    let fixture = env!("CONDUIT_FIXTURE_MISBEHAVE");
    let w = World::new();
    w.run(&["policy", "install", fixture]).expect(0);
    w.add("c", "misbehave", &["--set", "mode=offload-echo"]);
    write(&w.a, "a.txt", "v1");
    w.sync("c", &[], 0);
    assert!(!w.a.join("a.txt").exists(), "evicted");
    write(&w.a, "a.txt", "v2");
    let report = w
        .run(&["sync", "c", "--dry-run", "--json"])
        .expect(0)
        .json();
    let planned = report["items"][0]["detail"].as_str().unwrap_or_default();
    let synced = echoed_changes(planned.strip_prefix("skip a.txt: ").expect(planned));

    let diff = w.home.join("diff.json");
    std::fs::write(
        &diff,
        r#"{"entries": [{"path": "a.txt", "base": {"digest": "v1"},
            "source": {"digest": "v2"}, "destination": {"digest": "v1"}, "offloaded": true}]}"#,
    )
    .unwrap();
    let tested = w
        .run(&[
            "policy",
            "test",
            "misbehave",
            diff.to_str().unwrap(),
            "--set",
            "mode=echo",
        ])
        .expect(0)
        .json();
    let tested = echoed_changes(tested["actions"][0]["reason"].as_str().unwrap());

    let sdk_entry = entry("a.txt")
        .base(file("v1"))
        .source(file("v2"))
        .destination(file("v1"))
        .offloaded()
        .build();
    let want = ("created".to_string(), "unchanged".to_string());
    assert_eq!(synced, want, "a real sync");
    assert_eq!(tested, want, "conduit policy test");
    assert_eq!(
        (sdk_entry.source_change, sdk_entry.destination_change),
        (
            conduit_policy::Change::Created,
            conduit_policy::Change::Unchanged
        ),
        "the SDK's harness"
    );
}
