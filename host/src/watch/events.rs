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
use conduit_contract::Side;

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
        if let Some(change) = change(&root_owned, result) {
            let _ = tx.send(Notice {
                conduit,
                side,
                change,
            });
        }
    };
    // Symlinked folders are recorded as links, never followed out of the root.
    let config = notify::Config::default().with_follow_symlinks(false);
    let mut watcher = new_debouncer_opt(DEBOUNCE, None, handler, NoCache, config)?;
    watcher.watch(root, RecursiveMode::Recursive)?;
    Ok(watcher)
}

/// What one debounced batch means for the root: the paths to rescan, a full
/// rescan when the kernel or the watcher lost events (an overflowed inotify
/// queue, say), or nothing worth a run.
fn change(root: &Path, result: DebounceEventResult) -> Option<Change> {
    match result {
        Ok(events) => {
            if let Some(e) = events.iter().find(|e| e.need_rescan()) {
                return Some(Change::Rescan(format!(
                    "the watcher lost events ({:?})",
                    e.kind
                )));
            }
            let paths = relevant_paths(root, &events);
            (!paths.is_empty()).then_some(Change::Paths(paths))
        }
        Err(errors) => Some(Change::Rescan(format!(
            "the watcher failed: {}",
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ))),
    }
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
    let mut rel: PathBuf = rel.to_path_buf();
    // Empty when no ancestor is UTF-8: the whole root.
    while rel.to_str().is_none() {
        rel.pop();
    }
    rel.to_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStrExt;
    use std::time::Instant;

    use notify_debouncer_full::DebouncedEvent;
    use notify_debouncer_full::notify::event::{AccessKind, CreateKind, Flag, ModifyKind};
    use notify_debouncer_full::notify::{Event, EventKind};

    use super::*;

    const ROOT: &str = "/data/photos";

    fn event(kind: EventKind, paths: &[&Path]) -> DebouncedEvent {
        let event = paths
            .iter()
            .fold(Event::new(kind), |e, p| e.add_path(p.to_path_buf()));
        DebouncedEvent::new(event, Instant::now())
    }

    fn modified(path: &str) -> DebouncedEvent {
        event(
            EventKind::Modify(ModifyKind::Any),
            &[Path::new(ROOT).join(path).as_path()],
        )
    }

    fn paths_of(result: DebounceEventResult) -> Option<Vec<String>> {
        match change(Path::new(ROOT), result)? {
            Change::Paths(paths) => Some(paths),
            Change::Rescan(reason) => panic!("unexpected full rescan: {reason}"),
        }
    }

    #[test]
    fn touched_paths_are_reported_once_each_relative_to_the_root() {
        let events = vec![
            modified("2024/b.jpg"),
            event(
                EventKind::Create(CreateKind::File),
                &[Path::new("/data/photos/a.jpg")],
            ),
            modified("2024/b.jpg"),
        ];
        assert_eq!(
            paths_of(Ok(events)),
            Some(vec!["2024/b.jpg".to_string(), "a.jpg".to_string()])
        );
    }

    #[test]
    fn reads_bookkeeping_staged_copies_the_root_itself_and_other_roots_are_no_change() {
        // Copies are staged inside the bookkeeping folder, never beside
        // the user's files.
        let temp = format!("{BOOKKEEPING_DIR}/tmp/1234-5e6f/0");
        let events = vec![
            event(
                EventKind::Access(AccessKind::Any),
                &[Path::new("/data/photos/a.jpg")],
            ),
            modified(&format!("{BOOKKEEPING_DIR}/index.db")),
            modified(&temp),
            event(EventKind::Modify(ModifyKind::Any), &[Path::new(ROOT)]),
            event(
                EventKind::Modify(ModifyKind::Any),
                &[Path::new("/data/other/a.jpg")],
            ),
        ];
        assert_eq!(paths_of(Ok(events)), None);
        // A user's file may have any name, even one that looks like ours.
        let look_alike = "notes.conduit-tmp-draft.txt";
        assert_eq!(
            paths_of(Ok(vec![modified(look_alike)])),
            Some(vec![look_alike.to_string()])
        );
    }

    #[test]
    fn a_name_that_is_not_utf8_marks_its_nearest_utf8_folder() {
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
        let path = Path::new(ROOT).join("notes").join(name);
        let events = vec![event(EventKind::Modify(ModifyKind::Any), &[&path])];
        assert_eq!(paths_of(Ok(events)), Some(vec!["notes".to_string()]));
    }

    #[test]
    fn lost_events_ask_for_a_full_rescan() {
        let overflow = DebouncedEvent::new(
            Event::new(EventKind::Other).set_flag(Flag::Rescan),
            Instant::now(),
        );
        let result = change(Path::new(ROOT), Ok(vec![modified("a.jpg"), overflow]));
        assert!(
            matches!(&result, Some(Change::Rescan(reason)) if reason.contains("lost events")),
            "{result:?}"
        );

        let failed = vec![notify::Error::generic("inotify read failed")];
        let result = change(Path::new(ROOT), Err(failed));
        assert!(
            matches!(&result, Some(Change::Rescan(reason)) if reason.contains("inotify read failed")),
            "{result:?}"
        );
    }
}
