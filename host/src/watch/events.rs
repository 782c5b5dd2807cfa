//! Filesystem events to dirty paths: a debounced `notify` watcher per root
//! turns what the kernel reports into relative paths of one conduit's side,
//! dropping what is never user data (Conduit's bookkeeping folder and its
//! temporary files) and plain reads.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify_debouncer_full::notify::{self, EventKind, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, NoCache, new_debouncer_opt};
use tokio::sync::mpsc::UnboundedSender;

use crate::BOOKKEEPING_DIR;
use crate::policy::Side;
use crate::scan::TEMP_MARKER;

/// How long a path must be quiet before the debouncer reports it.
const DEBOUNCE: Duration = Duration::from_millis(200);

/// What one root's watcher reports.
#[derive(Debug)]
pub(super) struct Notice {
    pub conduit: i64,
    pub side: Side,
    pub change: Change,
}

#[derive(Debug)]
pub(super) enum Change {
    /// These relative paths (and their subtrees) changed.
    Paths(Vec<String>),
    /// Events were lost (queue overflow, watcher error): rescan everything.
    Rescan(String),
}

/// A live watcher; dropping it stops watching.
pub(super) type Watcher = Debouncer<notify::RecommendedWatcher, NoCache>;

/// Watch `root` recursively, sending notices for `conduit`'s `side`.
pub(super) fn watch(
    root: &Path,
    conduit: i64,
    side: Side,
    tx: UnboundedSender<Notice>,
) -> notify::Result<Watcher> {
    let root_owned = root.to_path_buf();
    let handler = move |result: DebounceEventResult| {
        let change = match result {
            Ok(events) => {
                if let Some(e) = events.iter().find(|e| e.need_rescan()) {
                    Change::Rescan(format!("the watcher lost events ({:?})", e.kind))
                } else {
                    let paths = relevant_paths(&root_owned, &events);
                    if paths.is_empty() {
                        return;
                    }
                    Change::Paths(paths)
                }
            }
            Err(errors) => Change::Rescan(format!(
                "the watcher failed: {}",
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )),
        };
        let _ = tx.send(Notice {
            conduit,
            side,
            change,
        });
    };
    // Symlinked folders are recorded as links, never followed out of the root.
    let config = notify::Config::default().with_follow_symlinks(false);
    let mut watcher = new_debouncer_opt(DEBOUNCE, None, handler, NoCache, config)?;
    watcher.watch(root, RecursiveMode::Recursive)?;
    Ok(watcher)
}

/// The relative paths that events touched, minus reads, bookkeeping and
/// temporary files. A name that is not UTF-8 marks its nearest UTF-8
/// ancestor, so the rescan reports it.
fn relevant_paths(root: &Path, events: &[notify_debouncer_full::DebouncedEvent]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for event in events {
        if matches!(event.kind, EventKind::Access(_)) {
            continue;
        }
        for path in &event.paths {
            if let Some(rel) = relative(root, path) {
                out.push(rel);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    // Events about the root itself say nothing about its content; a root
    // that goes away is noticed by the service's root checks.
    if rel.as_os_str().is_empty() {
        return None;
    }
    let mut first = rel.components();
    if first
        .next()
        .is_some_and(|c| c.as_os_str() == BOOKKEEPING_DIR)
    {
        return None;
    }
    if rel
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains(TEMP_MARKER))
    {
        return None;
    }
    let mut rel: PathBuf = rel.to_path_buf();
    // Empty when no ancestor is UTF-8: the whole root.
    while rel.to_str().is_none() {
        rel.pop();
    }
    rel.to_str().map(str::to_string)
}
