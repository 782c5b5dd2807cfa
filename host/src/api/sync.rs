//! One sync run of one conduit (a "generation"), the data path of
//! docs/architecture.md: preflight, scan, diff, plan, validate, guards,
//! execute, commit.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::{Host, SyncReport};
use crate::clock::now_ns;
use crate::exec::{self, Counts, Run};
use crate::index::{Batch, Conduit, Record};
use crate::location::{self, Location};
use crate::plan::{self, guards, guards::Halt};
use crate::scan::{self, Rules};
use conduit_contract::{Context, Side, Volume, options};

/// A run of the conduit is already going (in this process or another).
#[derive(Debug, thiserror::Error)]
#[error("another run of `{0}` is in progress; wait for it to finish")]
pub struct RunInProgress(pub String);

/// How to run.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Plan and report, change nothing.
    pub dry_run: bool,
    /// Run past the mass-delete and emptied-root guards.
    pub force: bool,
    /// Rescan only the subtrees marked dirty in the index (by the watcher)
    /// and trust the index for the rest.
    pub only_dirty: bool,
    /// Set from another thread to stop the run between transfer batches:
    /// what is committed stays, nothing is left half-written, and the next
    /// run does the rest.
    pub cancel: Option<Arc<AtomicBool>>,
}

/// Progress of a run, for displays and embedding apps.
/// New kinds may be added: match with a catch-all arm.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// Scanning both roots: sent when the scan starts and about every
    /// 100 ms while it runs.
    Scanning {
        /// The conduit's name.
        conduit: String,
        /// Paths seen so far, both roots together.
        entries: u64,
        /// Bytes hashed so far (new or changed files).
        hashed_bytes: u64,
    },
    /// The scan is in the index and the run has its number (not sent by
    /// dry runs, which have none).
    Started {
        /// The conduit's name.
        conduit: String,
        /// The run's generation.
        generation: i64,
    },
    /// The plan is validated.
    Planned {
        /// The conduit's name.
        conduit: String,
        /// Actions in the plan.
        actions: usize,
        /// Files it will transfer.
        files: u64,
        /// Bytes it will transfer.
        bytes: u64,
    },
    /// File content written to the other side (not yet verified): a
    /// display's bytes-done within files.
    Written {
        /// The conduit's name.
        conduit: String,
        /// Bytes written since the last such event.
        bytes: u64,
    },
    /// Actions the run finished (done, failed or skipped), as they are
    /// recorded: what `sync -v` prints.
    Acted {
        /// The conduit's name.
        conduit: String,
        /// What was done to which path, and why.
        item: super::Item,
    },
    /// A file transfer finished and verified.
    Transferred {
        /// The conduit's name.
        conduit: String,
        /// Its bytes.
        bytes: u64,
    },
    /// The run ended.
    Finished(Box<SyncReport>),
}

impl Host {
    /// Run one generation of conduit `name`. A halted run is a report with
    /// `halted` set, not an error; errors are reserved for runs that could not
    /// be attempted (unknown conduit, another run in progress, a broken
    /// policy).
    pub fn sync(
        &mut self,
        name: &str,
        opts: &SyncOptions,
        on_event: &(dyn Fn(&Event) + Sync),
    ) -> anyhow::Result<SyncReport> {
        let c = self.conduit(name)?;
        let _lock = self.lock(&c)?;
        let started_ns = now_ns();
        let mut report = SyncReport {
            conduit: c.name.clone(),
            dry_run: opts.dry_run,
            started: crate::clock::rfc3339(started_ns),
            started_ns,
            ..SyncReport::default()
        };
        self.generation(&c, opts, &mut report, on_event)?;
        on_event(&Event::Finished(Box::new(report.clone())));
        Ok(report)
    }

    /// Hold the conduit's run lock. `flock` dies with its process, so a
    /// crashed run never leaves a stale lock behind.
    pub(super) fn lock(&self, c: &Conduit) -> anyhow::Result<File> {
        let dir = self.home.join("locks");
        std::fs::create_dir_all(&dir)?;
        match crate::locks::take(&dir.join(format!("{}.lock", c.id)))? {
            Some(file) => Ok(file),
            None => Err(RunInProgress(c.name.clone()).into()),
        }
    }

    fn generation(
        &mut self,
        c: &Conduit,
        opts: &SyncOptions,
        report: &mut SyncReport,
        on_event: &(dyn Fn(&Event) + Sync),
    ) -> anyhow::Result<()> {
        match guards::preflight(c, &self.opener()?) {
            Ok(roots) => self.generation_on(c, roots, opts, report, on_event),
            Err(reason) => self.halt(c, report, reason),
        }
    }

    /// A dry run of a conduit that is not in the index (`preview`): its id
    /// is 0, which matches no row, so the run starts from empty records and
    /// base, as a first run does.
    pub(super) fn dry_run_unmarked(
        &mut self,
        c: &Conduit,
        roots: [Box<dyn Location>; 2],
        opts: &SyncOptions,
    ) -> anyhow::Result<SyncReport> {
        debug_assert!(opts.dry_run && c.id == 0);
        let started_ns = now_ns();
        let mut report = SyncReport {
            conduit: c.name.clone(),
            dry_run: true,
            started: crate::clock::rfc3339(started_ns),
            started_ns,
            ..SyncReport::default()
        };
        self.generation_on(c, roots, opts, &mut report, &|_| {})?;
        Ok(report)
    }

    fn generation_on(
        &mut self,
        c: &Conduit,
        roots: [Box<dyn Location>; 2],
        opts: &SyncOptions,
        report: &mut SyncReport,
        on_event: &(dyn Fn(&Event) + Sync),
    ) -> anyhow::Result<()> {
        let policy = self.policy(c)?;
        if let Some(reason) = self.policy_changed(c, &policy) {
            report.halted = Some(reason);
            return self.finish(c, report);
        }
        let settings = options::resolve(policy.info(), &c.options).map_err(|message| {
            crate::policy::PolicyError::Option {
                policy: policy.name().to_string(),
                message,
            }
        })?;
        let ignore_files = location::ignore_files(&[&*roots[0], &*roots[1]])?;
        let rules = Rules::new(&c.ignore, &ignore_files)?;
        let foreign = self.foreign(c, &roots)?;

        let phase = Instant::now();
        // A conduit not yet stored (`preview`) has no records (a first run),
        // and its unmarked roots are not written, not even by the probe.
        let stored = c.id != 0;
        let previous = match stored {
            false => Default::default(),
            true => [
                self.index.entries(c.id, Side::Source)?,
                self.index.entries(c.id, Side::Destination)?,
            ],
        };
        let progress = scan::Progress::default();
        // A full scan covers every mark too; either way the marks read here
        // are cleared once the scan is in the index.
        let (dirty, dirty_upto) = self.index.dirty(c.id)?;
        let scanning = AtomicBool::new(true);
        let [source, destination] = std::thread::scope(|s| {
            let ticker = s.spawn(|| {
                while scanning.load(Ordering::Relaxed) {
                    on_event(&Event::Scanning {
                        conduit: c.name.clone(),
                        entries: progress.entries.load(Ordering::Relaxed),
                        hashed_bytes: progress.hashed_bytes.load(Ordering::Relaxed),
                    });
                    std::thread::park_timeout(std::time::Duration::from_millis(100));
                }
            });
            // Stops the ticker however the scan ends, a panic included (the
            // scope would otherwise wait for it forever).
            let _stop = ScanEnded(&scanning, ticker.thread());
            let handles = [0, 1].map(|i| {
                let (root, dirty) = (&roots[i], &dirty[i]);
                let walk = scan::Walk {
                    rules: &rules,
                    previous: &previous[i],
                    progress: &progress,
                    foreign: &foreign[i],
                };
                s.spawn(move || match opts.only_dirty {
                    true => root.rescan(&walk, dirty),
                    false => root.scan(&walk),
                })
            });
            handles.map(|h| h.join().expect("the scanner does not panic"))
        });
        crate::testhook::point("sync:scanned");
        tracing::info!(
            conduit = %c.name,
            files = source.records.len() + destination.records.len(),
            hashed_files = source.hashed_files + destination.hashed_files,
            hashed_bytes = source.hashed_bytes + destination.hashed_bytes,
            ms = phase.elapsed().as_millis() as u64,
            "scanned"
        );
        let phase = Instant::now();
        report_scan(report, &[&source, &destination]);
        let mut base = self.index.base(c.id)?;
        let settled =
            exec::settle_evictions(self.index.evictions(c.id)?, &source.records, &mut base);

        // The scan is a cache of hashes: keep it even when the run halts.
        let mut scan_batch = Batch::default();
        for (i, scan) in [&source, &destination].into_iter().enumerate() {
            scan_batch.entries[i] = changed_records(&previous[i], &scan.records);
        }
        // A dry run writes nothing, not even the scan's hashes: no
        // generation, no index row, nothing for `status` to show.
        if !opts.dry_run {
            report.generation = self
                .index
                .start_generation(c.id, report.started_ns, opts.force)?;
            self.index.commit(c.id, report.generation, &scan_batch)?;
            self.index.commit(c.id, report.generation, &settled)?;
            self.index.clear_dirty(c.id, dirty_upto)?;
            on_event(&Event::Started {
                conduit: c.name.clone(),
                generation: report.generation,
            });
        }
        drop(previous);

        if let Some(reason) = guards::overlaps(c, [&source, &destination]) {
            return self.halt(c, report, reason);
        }
        if let Some(reason) = guards::emptied_root(
            c,
            &base,
            [&source.records, &destination.records],
            opts.force,
        ) {
            return self.halt(c, report, reason);
        }
        let pins = crate::api::repair::pin_matcher(&self.index.pins(c.id)?)?;
        // Unprobed, a preview takes both roots as exact: against a root that
        // keeps less (FAT's 2 s mtimes) it may list updates the run skips.
        let fidelity = match stored {
            true => location::fidelity(&roots),
            false => conduit_contract::Fidelity::EXACT,
        };
        let entries = crate::diff::entries(
            &source.records,
            &destination.records,
            &base,
            policy.info().scope,
            fidelity,
            &|path| pins.is_match(path),
        );
        let local_bytes = source
            .records
            .values()
            .filter(|r| r.kind == conduit_contract::Kind::File)
            .map(|r| r.size)
            .sum();
        let context = Context {
            conduit: c.name.clone(),
            now_ns: now_ns(),
            first_run: base.is_empty(),
            settings,
            source_volume: match c.source_capacity {
                Some(capacity) => Some(Volume {
                    capacity,
                    free: capacity.saturating_sub(local_bytes),
                }),
                None => roots[0]
                    .volume()
                    .map(|(free, capacity)| Volume { capacity, free }),
            },
            local_bytes,
        };
        tracing::info!(conduit = %c.name, entries = entries.len(), ms = phase.elapsed().as_millis() as u64, "diffed");
        let phase = Instant::now();
        let actions = policy.plan(&context, &entries)?;
        let plan = plan::validate(policy.name(), &entries, actions)?;
        tracing::info!(conduit = %c.name, actions = plan.actions.len(), ms = phase.elapsed().as_millis() as u64, "planned");

        if let Some(reason) = guards::mass_delete(
            c,
            &entries,
            &plan,
            [&source.records, &destination.records],
            opts.force,
        ) {
            return self.halt(c, report, reason);
        }
        // Only now, past every guard and the policy: a halted or failed run
        // changes nothing on disk, not even the trash.
        if !opts.dry_run {
            for root in &roots {
                // Partial copies of an interrupted run: never user data.
                if let Err(e) = root.clean_staging() {
                    tracing::warn!(%root, "cannot clean the staging area: {e}");
                }
            }
            self.expire_trash(c, &roots)?;
        }
        let planned = Counts::of_plan(&entries, &plan);
        report.conflict_list = plan::conflicts(&entries, &plan);
        on_event(&Event::Planned {
            conduit: c.name.clone(),
            actions: plan.actions.len(),
            files: planned.copied + planned.moved + planned.hydrated,
            bytes: planned.bytes,
        });
        if opts.dry_run {
            report.counts = planned;
            report.items = plan
                .actions
                .iter()
                .map(|a| super::Item::planned(&entries, a))
                .collect();
            return self.finish(c, report);
        }

        let deletes_withheld = (!report.scan_errors.is_empty()).then(|| {
            format!(
                "deletes are withheld because the scan could not read {} path(s)",
                report.scan_errors.len()
            )
        });
        let on_written = |bytes: u64| {
            on_event(&Event::Written {
                conduit: c.name.clone(),
                bytes,
            })
        };
        let on_verified = |bytes: u64| {
            on_event(&Event::Transferred {
                conduit: c.name.clone(),
                bytes,
            })
        };
        let on_journal = |row: &crate::index::JournalRow| {
            on_event(&Event::Acted {
                conduit: c.name.clone(),
                item: super::Item::done(row),
            })
        };
        let run = Run {
            conduit: c.id,
            generation: report.generation,
            roots: [&*roots[0], &*roots[1]],
            entries: &entries,
            scans: [&source.records, &destination.records],
            fidelity,
            verify_from: c.verify_from,
            deletes_withheld,
            on_written: &on_written,
            on_verified: &on_verified,
            on_journal: &on_journal,
            asked_by: None,
            cancel: opts.cancel.as_deref(),
        };
        let phase = Instant::now();
        crate::testhook::point("sync:planned");
        let outcome = exec::execute(&run, &plan, &mut self.index)?;
        tracing::info!(conduit = %c.name, ms = phase.elapsed().as_millis() as u64, "executed");
        report.counts = outcome.counts;
        report.counts.conflicts = report.conflict_list.len() as u64;
        report.problems = outcome.problems;
        self.finish(c, report)
    }

    fn halt(&mut self, c: &Conduit, report: &mut SyncReport, reason: Halt) -> anyhow::Result<()> {
        report.halted = Some(reason);
        self.finish(c, report)
    }

    /// Stamp the report's end and record it with its generation.
    fn finish(&mut self, c: &Conduit, report: &mut SyncReport) -> anyhow::Result<()> {
        let ended_ns = now_ns();
        report.ended = crate::clock::rfc3339(ended_ns);
        report.duration_ms = (ended_ns - report.started_ns).max(0) as u64 / 1_000_000;
        if report.dry_run || report.generation == 0 {
            return Ok(());
        }
        self.index.finish_generation(
            c.id,
            report.generation,
            ended_ns,
            report.halted.as_ref().map(Halt::to_string).as_deref(),
            &serde_json::to_string(report)?,
        )
    }

    /// The folders each root's scan must not enter: the other root, the
    /// root itself (a bind mount of a root inside itself would never end),
    /// and the home.
    fn foreign(
        &self,
        c: &Conduit,
        roots: &[Box<dyn Location>; 2],
    ) -> anyhow::Result<[Vec<scan::Foreign>; 2]> {
        let home = std::fs::metadata(&self.home)?;
        let home = scan::Foreign {
            identity: (home.dev(), home.ino()),
            what: format!("the Conduit home {}", self.home.display()),
        };
        // A root elsewhere has no identity here: nothing of this machine
        // can alias it.
        let of = |side: Side| -> anyhow::Result<Option<scan::Foreign>> {
            Ok(roots[side.index()]
                .identity()?
                .map(|identity| scan::Foreign {
                    identity,
                    what: format!("the {} {}", side.name(), c.root(side)),
                }))
        };
        let (a, b) = (of(Side::Source)?, of(Side::Destination)?);
        let list = |first: &Option<scan::Foreign>, second: &Option<scan::Foreign>| {
            first
                .iter()
                .chain(second)
                .cloned()
                .chain([home.clone()])
                .collect()
        };
        Ok([list(&b, &a), list(&a, &b)])
    }

    /// Remove trashed files older than the conduit's retention.
    fn expire_trash(&mut self, c: &Conduit, roots: &[Box<dyn Location>; 2]) -> anyhow::Result<()> {
        let cutoff = crate::clock::ago(u64::from(c.trash_days) * 86_400);
        for problem in self.purge_before(c, roots, cutoff)?.problems {
            tracing::warn!("could not purge from the trash: {problem}");
        }
        Ok(())
    }
}

/// Ends the scan's progress ticker when dropped.
struct ScanEnded<'a>(&'a AtomicBool, &'a std::thread::Thread);

impl Drop for ScanEnded<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Relaxed);
        self.1.unpark();
    }
}

fn report_scan(report: &mut SyncReport, scans: &[&scan::Scan; 2]) {
    for (scan, side) in scans.iter().zip(Side::BOTH) {
        for (path, error) in &scan.errors {
            report
                .scan_errors
                .push(format!("{} {path:?}: {error}", side.name()));
        }
        for name in &scan.bad_names {
            report.unsupported_names.push(format!(
                "{} {name:?}: the name is not valid UTF-8 and is not synced; rename it",
                side.name()
            ));
        }
        for path in &scan.special {
            report.unsupported_names.push(format!(
                "{} {path:?}: a FIFO, socket or device file is not synced",
                side.name()
            ));
        }
    }
}

/// Index rows to write so the index matches a scan.
fn changed_records(
    before: &HashMap<String, Record>,
    now: &HashMap<String, Record>,
) -> Vec<(String, Option<Record>)> {
    let mut rows: Vec<(String, Option<Record>)> = now
        .iter()
        .filter(|(path, r)| before.get(*path) != Some(r))
        .map(|(path, r)| (path.clone(), Some(r.clone())))
        .collect();
    rows.extend(
        before
            .keys()
            .filter(|path| !now.contains_key(*path))
            .map(|path| (path.clone(), None)),
    );
    rows
}
