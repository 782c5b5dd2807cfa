//! `conduit sync`: run conduits, show progress on a terminal, report for
//! people or as JSON, and choose the exit code.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::{Output, exit, human_bytes};
use crate::api::{Event, Host, Item, SyncOptions, SyncReport};

pub(super) fn run(
    home: &Path,
    names: Vec<String>,
    all: bool,
    dry_run: bool,
    force: bool,
    json: bool,
    out: Output,
) -> anyhow::Result<i32> {
    let mut host = Host::open(home)?;
    let names = if all {
        host.conduits()?
            .into_iter()
            .filter(|c| c.enabled)
            .map(|c| c.name)
            .collect()
    } else if names.is_empty() {
        return Err(crate::api::UsageError(
            "name the conduits to sync, or pass --all (`conduit list` shows them)".into(),
        )
        .into());
    } else {
        names
    };
    let opts = SyncOptions {
        dry_run,
        force,
        ..SyncOptions::default()
    };
    let mut code = exit::OK;
    for name in names {
        let display = (!out.quiet).then(Display::new).flatten();
        let on_event = |event: &Event| {
            if let Event::Acted { item, .. } = event
                && out.verbose
                && !json
            {
                match &display {
                    Some(d) => d.bar.suspend(|| println!("{}", item_line(item, out))),
                    None => println!("{}", item_line(item, out)),
                }
            }
            if let Some(d) = &display {
                d.show(event);
            }
        };
        let result = host.sync(&name, &opts, &on_event);
        if let Some(d) = &display {
            d.bar.finish_and_clear();
        }
        match result {
            Ok(report) => {
                code = code.max(exit_code(&report));
                if json {
                    println!("{}", super::json(&report, false)?);
                } else if !out.quiet || exit_code(&report) != exit::OK {
                    print_report(&report, out);
                }
            }
            Err(e) => {
                eprintln!("error: {name}: {e:#}");
                let usage = e.downcast_ref::<crate::api::UsageError>().is_some();
                code = code.max(if usage { exit::USAGE } else { exit::ERROR });
            }
        }
    }
    Ok(code)
}

fn exit_code(report: &SyncReport) -> i32 {
    if report.halted.is_some() {
        exit::HALTED
    } else if report.counts.failed > 0
        || !report.scan_errors.is_empty()
        || (report.counts.unresolved > 0 && !report.dry_run)
    {
        // A path the scan could not read, or a conflict left for
        // `resolve`, is not in sync: not a success (as Unison exits 1).
        exit::PARTIAL
    } else {
        exit::OK
    }
}

/// Progress on a terminal (nothing when stderr is piped): a spinner with
/// the paths and bytes seen while scanning, then a bar of the bytes written
/// within files, with files done of all, a moving-average speed and the
/// time left (indicatif's estimate over the recent seconds).
struct Display {
    bar: ProgressBar,
    files_done: AtomicU64,
    files: AtomicU64,
}

impl Display {
    fn new() -> Option<Display> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::new_spinner();
        bar.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"));
        bar.enable_steady_tick(Duration::from_millis(100));
        Some(Display {
            bar,
            files_done: AtomicU64::new(0),
            files: AtomicU64::new(0),
        })
    }

    fn show(&self, event: &Event) {
        match event {
            Event::Scanning {
                conduit,
                entries,
                hashed_bytes,
            } => self.bar.set_message(format!(
                "{conduit}: scanning: {entries} paths, {} hashed",
                human_bytes(*hashed_bytes)
            )),
            Event::Planned {
                conduit,
                files,
                bytes,
                ..
            } => {
                self.files.store(*files, Ordering::Relaxed);
                self.bar.set_style(
                    ProgressStyle::with_template(
                        "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} \
                         {binary_bytes_per_sec}, {eta} left",
                    )
                    .expect("a valid template")
                    .progress_chars("=> "),
                );
                self.bar.set_length(*bytes);
                // From zero, with a fresh speed estimate: the scan is not transfer.
                self.bar.reset();
                self.bar.set_message(format!("{conduit}: 0/{files} files"));
            }
            Event::Written { bytes, .. } => self.bar.inc(*bytes),
            Event::Transferred { conduit, .. } => {
                let done = self.files_done.fetch_add(1, Ordering::Relaxed) + 1;
                let all = self.files.load(Ordering::Relaxed);
                self.bar
                    .set_message(format!("{conduit}: {done}/{all} files"));
            }
            Event::Acted { .. } | Event::Started { .. } => {}
            Event::Finished(_) => self.bar.finish_and_clear(),
        }
    }
}

/// One action, as `sync -v`, `sync --dry-run` and `history NAME GEN` list
/// it: `copy     photos/a.jpg  (new on the source) source -> destination`.
pub(super) fn item_line(item: &Item, out: Output) -> String {
    let mut line = format!("  {:<9} {}  ({})", item.action, item.path, item.why);
    if let Some(detail) = &item.detail {
        // The detail of a planned action repeats the verb and path.
        let detail = detail
            .strip_prefix(&format!("{} {} ", item.action, item.path))
            .unwrap_or(detail);
        line.push_str(&format!(": {detail}"));
    }
    match item.outcome.as_deref() {
        Some("failed") => line = out.paint(super::Paint::Error, &format!("{line} [failed]")),
        Some("skipped") => line = out.paint(super::Paint::Warn, &format!("{line} [skipped]")),
        _ => {}
    }
    for slot in &item.trashed {
        line.push_str(&format!("\n    the version it replaced is in {slot}"));
    }
    line
}

pub(super) fn print_report(r: &SyncReport, out: Output) {
    let what = if r.dry_run {
        " (dry run: nothing changed)"
    } else {
        ""
    };
    if let Some(reason) = &r.halted {
        println!("{}: halted, nothing changed: {reason}", r.conduit);
        return;
    }
    let c = &r.counts;
    let verb = if r.dry_run { "would be" } else { "" };
    let mut parts = Vec::new();
    for (n, label) in [
        (c.copied, "copied"),
        (c.updated, "updated (mode or mtime only)"),
        (c.folders_created, "folders created"),
        (c.deleted, "deleted"),
        (c.folders_removed, "empty folders removed"),
        (c.moved, "moved"),
        (c.renamed, "renamed"),
        (c.evicted, "evicted"),
        (c.hydrated, "hydrated"),
        (c.conflicts, "conflicts"),
        (c.unresolved, "unresolved"),
        (c.skipped, "skipped"),
        (c.failed, "failed"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {label}"));
        }
    }
    let summary = if parts.is_empty() {
        "in sync, nothing to do".to_string()
    } else {
        format!("{} {}", parts.join(", "), verb)
            .trim_end()
            .to_string()
    };
    let generation = match r.generation {
        0 => String::new(),
        n => format!("generation {n}: "),
    };
    println!(
        "{}: {generation}{summary}; {} transferred, {} verified ({}){what}",
        r.conduit,
        human_bytes(c.bytes),
        c.verified,
        super::human_duration(r.duration_ms)
    );
    for item in &r.items {
        println!("{}", item_line(item, out));
    }
    for c in &r.conflict_list {
        let kept = match c.copies.as_slice() {
            [] => String::new(),
            copies => format!(" (kept as {})", copies.join(", ")),
        };
        let line = format!("  conflict {}: {}{kept}", c.path, c.how);
        println!("{}", out.paint(super::Paint::Warn, &line));
    }
    for line in r
        .problems
        .iter()
        .chain(&r.scan_errors)
        .chain(&r.unsupported_names)
    {
        println!("{}", out.paint(super::Paint::Error, &format!("  ! {line}")));
    }
    if c.unresolved > 0 && !r.dry_run {
        println!(
            "  {} left for you: see `conduit conflicts {}`",
            c.unresolved, r.conduit
        );
    }
}
