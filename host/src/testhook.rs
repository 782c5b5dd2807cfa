//! Fault injection for the reliability suite (docs/reliability.md).
//!
//! `CONDUIT_TEST_HOOK=POINT[@N]:ACTION[,...]` makes the N-th time (default:
//! the first) this process passes the named point do ACTION:
//!
//! - `kill`: SIGKILL this process, as a power cut or an OOM kill would;
//! - `pause=PATH`: create PATH, then wait until someone removes it (a test
//!   changes the disk at exactly that moment: the symlink races).
//!
//! Unset, a point costs one load of an initialized `OnceLock`. The points are
//! named where they are passed; `docs/reliability.md` lists them.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that arms the hooks.
pub const VAR: &str = "CONDUIT_TEST_HOOK";

enum Act {
    Kill,
    Pause(PathBuf),
}

struct Hook {
    point: String,
    act: Act,
    nth: u64,
    seen: AtomicU64,
}

fn hooks() -> &'static [Hook] {
    static HOOKS: OnceLock<Vec<Hook>> = OnceLock::new();
    HOOKS.get_or_init(|| {
        std::env::var(VAR)
            .map(|spec| spec.split(',').filter_map(parse).collect())
            .unwrap_or_default()
    })
}

fn parse(spec: &str) -> Option<Hook> {
    let (head, act) = match spec.split_once(":pause=") {
        Some((head, path)) => (head, Act::Pause(PathBuf::from(path))),
        None => (spec.strip_suffix(":kill")?, Act::Kill),
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
    for hook in hooks() {
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
        }
    }
}
