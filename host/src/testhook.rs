//! Fault injection for the reliability suite (docs/reliability.md).
//!
//! `CONDUIT_TEST_HOOK=POINT[@N]:ACTION[,...]` makes the N-th time (default:
//! the first) this process passes the named point do ACTION:
//!
//! - `kill`: SIGKILL this process, as a power cut or an OOM kill would;
//! - `pause=PATH`: create PATH, then wait until someone removes it (a test
//!   changes the disk at exactly that moment: the symlink races);
//! - `fault`: [`fault`] returns true there, and the point does its own
//!   damage (a device drops the connection, a chunk is corrupted on the way).
//!
//! `CONDUIT_TEST_HOOK=trace=PATH` appends the name of every point passed to
//! PATH, one per line: the crash harness learns from it where a run can be
//! killed, so every kill it aims lands.
//!
//! Unset, a point costs one load of an initialized `OnceLock`. The points are
//! named where they are passed; `docs/reliability.md` lists them.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// The environment variable that arms the hooks.
pub const VAR: &str = "CONDUIT_TEST_HOOK";

enum Act {
    Kill,
    Pause(PathBuf),
    Fault,
}

struct Hook {
    point: String,
    act: Act,
    nth: u64,
    seen: AtomicU64,
}

struct Hooks {
    trace: Option<Mutex<File>>,
    hooks: Vec<Hook>,
}

fn hooks() -> &'static Hooks {
    static HOOKS: OnceLock<Hooks> = OnceLock::new();
    HOOKS.get_or_init(|| {
        let spec = std::env::var(VAR).unwrap_or_default();
        let trace = spec
            .split(',')
            .find_map(|s| s.strip_prefix("trace="))
            .and_then(|path| File::options().create(true).append(true).open(path).ok())
            .map(Mutex::new);
        Hooks {
            trace,
            hooks: spec.split(',').filter_map(parse).collect(),
        }
    })
}

fn parse(spec: &str) -> Option<Hook> {
    let (head, act) = match spec.split_once(":pause=") {
        Some((head, path)) => (head, Act::Pause(PathBuf::from(path))),
        None => match spec.strip_suffix(":fault") {
            Some(head) => (head, Act::Fault),
            None => (spec.strip_suffix(":kill")?, Act::Kill),
        },
    };
    let (point, nth) = match head.split_once('@') {
        Some((point, n)) => (point, n.parse().ok()?),
        None => (head, 1),
    };
    Some(Hook {
        point: point.to_string(),
        act,
        nth,
        seen: AtomicU64::new(0),
    })
}

/// Pass the point `name`.
pub fn point(name: &str) {
    fault(name);
}

/// Pass the point `name`; true if a `fault` is armed for this passing.
pub fn fault(name: &str) -> bool {
    let mut fault = false;
    let hooks = hooks();
    if let Some(trace) = &hooks.trace {
        let _ = writeln!(trace.lock().unwrap_or_else(|e| e.into_inner()), "{name}");
    }
    for hook in &hooks.hooks {
        if hook.point != name || hook.seen.fetch_add(1, Ordering::SeqCst) + 1 != hook.nth {
            continue;
        }
        match &hook.act {
            Act::Kill => {
                // SAFETY: kill(2) on our own pid; the process ends here.
                unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            }
            Act::Pause(path) => {
                let _ = std::fs::write(path, name);
                while path.exists() {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
            Act::Fault => fault = true,
        }
    }
    fault
}
