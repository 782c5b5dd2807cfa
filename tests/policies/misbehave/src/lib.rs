//! A hostile policy for the sandbox tests. Each `mode` breaks one rule the
//! host must enforce; the tests check that each ends in its own clear error.
//! Two modes are friendly: `echo` reports every field it received, so that
//! tests/policy_boundary.rs can check the host's lowering of the diff, and
//! `offload-echo` stores and evicts every new file, then echoes what an
//! offloaded path looks like in a real sync.

use conduit_policy::{
    Action, Change, Context, Entry, Info, Kind, Policy, Scope, Settings, Side, State, act, spec,
};

pub struct Misbehave;

const MODES: &[&str] = &[
    "behave",
    "spin",
    "memory-bomb",
    "recurse",
    "recurse-wide",
    "panic",
    "refuse",
    "out-of-range",
    "rename-parent",
    "rename-absolute",
    "contradict",
    "conflict-settled-by-nothing",
    "copy-missing",
    "chatty",
    "echo",
    "offload-echo",
    "environment",
    "rename-nul",
    "rename-bookkeeping",
    "rename-long",
    "flood",
    "long-reason",
    "output-bomb",
    "sleep",
];

impl Policy for Misbehave {
    fn describe() -> Info {
        Info {
            name: "misbehave".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "Breaks the sandbox rules on purpose (test fixture).".into(),
            options: vec![spec::choice(
                "mode",
                MODES,
                "behave",
                "Which rule to break.",
            )],
            scope: Scope::Changes,
        }
    }

    fn plan(ctx: &Context, entries: &[Entry]) -> Result<Vec<Action>, String> {
        // Every mode behaves on an empty diff, so that the fixture passes the
        // install checks and can misbehave in a real sync.
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        Ok(match ctx.text("mode").unwrap_or("behave") {
            "spin" => loop {
                std::hint::black_box(());
            },
            "memory-bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "recurse" => vec![act::skip(0, recurse(std::hint::black_box(1)).to_string())],
            "recurse-wide" => vec![act::skip(
                0,
                recurse_wide(std::hint::black_box(1)).to_string(),
            )],
            "panic" => panic!("the policy gave up"),
            "refuse" => return Err("this diff makes no sense to me".into()),
            "out-of-range" => vec![act::accept(entries.len() + 7)],
            "rename-parent" => vec![act::rename(0, Side::Source, "../x".into())],
            "rename-absolute" => vec![act::rename(0, Side::Source, "/etc/x".into())],
            "contradict" => vec![act::copy(0, Side::Source), act::delete(0, Side::Source)],
            "conflict-settled-by-nothing" => vec![act::conflict(0, "x"), act::skip(0, "y")],
            "copy-missing" => vec![act::copy(0, Side::Destination)],
            "echo" => entries
                .iter()
                .enumerate()
                .map(|(i, e)| act::skip(i, echo(e)))
                .collect(),
            "offload-echo" => entries
                .iter()
                .enumerate()
                .flat_map(|(i, e)| match (&e.source, e.offloaded) {
                    (_, true) => vec![act::skip(i, echo(e))],
                    (Some(s), false) if s.kind == Kind::File => {
                        vec![act::copy(i, Side::Source), act::evict(i)]
                    }
                    _ => vec![act::accept(i)],
                })
                .collect(),
            // What the world looks like from inside: it should be empty.
            "environment" => {
                let vars = std::env::vars().count();
                let args = std::env::args().count();
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                let cwd = std::env::current_dir().is_ok();
                vec![act::skip(
                    0,
                    format!("vars={vars} args={args} now={now} cwd={cwd}"),
                )]
            }
            "rename-nul" => vec![act::rename(0, Side::Source, "a\0b".into())],
            "rename-bookkeeping" => {
                vec![act::rename(0, Side::Source, ".conduit/trash/x".into())]
            }
            "rename-long" => vec![act::rename(0, Side::Source, "n".repeat(300))],
            // Many more actions than entries.
            "flood" => (0..100_000).map(|_| act::accept(0)).collect(),
            "long-reason" => vec![act::skip(0, "r".repeat(8 << 20))],
            // Gigabytes of output: more than the memory budget holds.
            "output-bomb" => (0..10_000_000)
                .map(|i| act::skip(0, format!("{i:01024}")))
                .collect(),
            // A blocking host call costs no fuel and is no wasm to interrupt.
            "sleep" => {
                for _ in 0..1000 {
                    std::thread::sleep(std::time::Duration::from_secs(3600));
                }
                vec![act::accept(0)]
            }
            "chatty" => {
                for n in 0..100_000 {
                    println!("line {n} of a very talkative policy");
                }
                Vec::new()
            }
            _ => entries
                .iter()
                .enumerate()
                .map(|(i, _)| act::accept(i))
                .collect(),
        })
    }
}

/// Recurses until wasm's own call stack runs out (the exit is never reached
/// in practice).
fn recurse(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    std::hint::black_box(recurse(depth + 1)) + depth
}

/// Recurses with large frames, which live on the in-memory stack: that stack
/// runs out first and the policy faults on memory.
fn recurse_wide(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    let frame = std::hint::black_box([depth; 64]);
    recurse_wide(depth + 1) + frame[7]
}

#[cfg(target_arch = "wasm32")]
conduit_policy::export_policy!(Misbehave);

/// Every field of `e`, in the format tests/policy_boundary.rs expects.
fn echo(e: &Entry) -> String {
    format!(
        "{}|{}|{}|{}|{}|{}|{}|{}|{}",
        e.path,
        echo_state(&e.source),
        echo_change(e.source_change),
        echo_state(&e.destination),
        echo_change(e.destination_change),
        echo_state(&e.base),
        e.accessed_ns,
        e.pinned,
        e.offloaded
    )
}

fn echo_state(s: &Option<State>) -> String {
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

fn echo_change(c: Change) -> &'static str {
    match c {
        Change::Unchanged => "unchanged",
        Change::Created => "created",
        Change::Modified => "modified",
        Change::Deleted => "deleted",
        Change::TypeChanged => "type-changed",
    }
}
