//! The long-running service behind `conduit watch`: it runs conduits by
//! themselves, by their cadence.
//!
//! - `instant` conduits are watched on both roots. Changed paths collect
//!   until the changes settle, then become *dirty marks* in the index and a
//!   run rescans only those subtrees. A full rescan still runs when the
//!   service starts (it missed what happened while it was down), when the
//!   watcher loses events, and periodically with jitter, because watchers
//!   miss events.
//! - Interval conduits (`30s`, `5m`, ...) run a full scan on schedule;
//!   `manual` ones never run by themselves.
//! - The service never reacts to its own writes: before a run starts, each
//!   changed path is compared with what the index holds for it, and the
//!   index already records everything earlier runs wrote.
//! - Settings are re-read every poll, so `pause`, `resume` and `set` take
//!   effect without a restart. A root that goes missing (or loses its
//!   marker) pauses its conduit until the root is back.
//! - Shutdown asks runs in flight to stop at their next batch boundary:
//!   committed files stay, staged ones are removed, and the next run does
//!   the rest.
//!
//! Each run happens on a blocking thread with its own [`Host`]; the event
//! loop only keeps time, filters changes and publishes state.

mod events;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{self, UnboundedSender};

pub use crate::api::{Served, ServiceState};

use crate::api::served::ServedLock;
use crate::api::{Cadence, Event, Host, RunInProgress, SyncOptions, SyncReport, UsageError};
use crate::clock::now_ns;
use crate::index::{Conduit, Index};
use crate::location::{self, Opener};
use crate::plan::guards;
use crate::scan::Rules;
use conduit_contract::{Kind, Side};
use events::{Change, Notice, Watcher};

/// How the service runs.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// Conduits to serve; empty means all.
    pub names: Vec<String>,
    /// How long changes must be quiet before an instant conduit runs.
    pub settle: Duration,
    /// An instant conduit runs at the latest this long after its first
    /// pending change, even if changes keep coming.
    pub max_wait: Duration,
    /// How often instant conduits get a full rescan anyway (±10% jitter).
    pub full_rescan: Duration,
    /// How often settings and roots are re-checked.
    pub poll: Duration,
    /// Answer paired devices on this address (none: this home only dials).
    pub devices: Option<std::net::SocketAddr>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            names: Vec::new(),
            settle: Duration::from_millis(300),
            max_wait: Duration::from_secs(10),
            full_rescan: Duration::from_secs(3600),
            poll: Duration::from_secs(1),
            devices: None,
        }
    }
}

/// What the service reports while it runs.
#[derive(Debug, Clone)]
pub enum ServiceEvent {
    /// A conduit's state changed.
    State {
        /// The conduit's name.
        conduit: String,
        /// The new state.
        state: ServiceState,
        /// Why (paused, halted), if there is a reason to give.
        detail: Option<String>,
    },
    /// Progress of a run.
    Progress(Event),
    /// A run ended (halted runs included).
    Finished(Box<SyncReport>),
    /// Changes the watchers reported that need no run: the service's own
    /// writes (already in the index), ignored paths, changes undone.
    Unchanged {
        /// The conduit's name.
        conduit: String,
        /// How many paths were set aside.
        paths: usize,
    },
    /// The service answers paired devices.
    Devices {
        /// This home's device ID.
        id: String,
        /// Where it listens.
        listening: Vec<std::net::SocketAddr>,
    },
    /// A run could not be attempted, or a conduit cannot be served.
    Failed {
        /// The conduit's name.
        conduit: String,
        /// What went wrong.
        error: String,
    },
}

/// Retry a run that could not start (e.g. a manual run held the lock).
const RETRY_AFTER: Duration = Duration::from_secs(2);
/// The event loop's clock.
const TICK: Duration = Duration::from_millis(50);

/// Serve conduits until `shutdown` completes. Errors are reserved for a
/// service that cannot start (unknown names, an unreadable home); trouble
/// with one conduit is reported as an event and the others keep running.
pub async fn serve(
    home: PathBuf,
    opts: WatchOptions,
    shutdown: impl std::future::Future<Output = ()>,
    events: UnboundedSender<ServiceEvent>,
) -> anyhow::Result<()> {
    let index = Index::open(&crate::index::path(&home))?;
    for name in &opts.names {
        if index.conduit(name)?.is_none() {
            return Err(
                UsageError(format!("no conduit named `{name}` (see `conduit list`)")).into(),
            );
        }
    }
    let (stop_devices, devices_stopped) = tokio::sync::oneshot::channel::<()>();
    let far = match opts.devices {
        Some(at) => {
            let endpoint = crate::device::listen(&home, at).await?;
            let _ = events.send(ServiceEvent::Devices {
                id: crate::device::own_id(&home)?.to_string(),
                listening: endpoint.bound_sockets(),
            });
            let stop = async move {
                let _ = devices_stopped.await;
            };
            Some(tokio::spawn(location::remote::far::serve(
                home.clone(),
                endpoint,
                stop,
            )))
        }
        None => None,
    };
    let (notices, mut notices_rx) = mpsc::unbounded_channel();
    let (done, mut done_rx) = mpsc::unbounded_channel();
    let mut service = Service {
        home,
        opts,
        index,
        slots: HashMap::new(),
        events,
        notices,
        done,
    };
    service.reload();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_poll = Instant::now();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(notice) = notices_rx.recv() => service.notice(notice),
            Some(done) = done_rx.recv() => service.finished(done),
            _ = tick.tick() => {
                if last_poll.elapsed() >= service.opts.poll {
                    service.reload();
                    last_poll = Instant::now();
                }
                service.start_due_runs();
            }
        }
    }
    service.shutdown(done_rx).await;
    let _ = stop_devices.send(());
    if let Some(far) = far {
        match far.await {
            Ok(Err(e)) => tracing::warn!("answering devices failed: {e:#}"),
            Err(e) => tracing::warn!("answering devices failed: {e}"),
            Ok(Ok(())) => {}
        }
    }
    Ok(())
}

/// What a run sends back to the event loop.
enum Done {
    Progress(i64, Event),
    Ended(i64, Box<Host>, Box<anyhow::Result<SyncReport>>),
}

struct Service {
    home: PathBuf,
    opts: WatchOptions,
    /// The loop's own connection: settings, and the own-writes filter.
    index: Index,
    slots: HashMap<i64, Slot>,
    events: UnboundedSender<ServiceEvent>,
    notices: UnboundedSender<Notice>,
    done: UnboundedSender<Done>,
}

/// One served conduit.
struct Slot {
    conduit: Conduit,
    /// Opens its roots (the home's paired devices as of the slot's start).
    opener: Opener,
    cadence: Cadence,
    rules: Option<Rules>,
    lock: ServedLock,
    watchers: Vec<Watcher>,
    /// `None` while a run has it.
    host: Option<Box<Host>>,
    /// The cancel flag of the run in flight.
    running: Option<Arc<AtomicBool>>,
    /// Changed paths not yet handed to a run.
    pending: BTreeSet<(Side, String)>,
    first_change: Option<Instant>,
    last_change: Option<Instant>,
    /// A full rescan is owed.
    full_due: bool,
    next_full: Instant,
    /// Interval cadences: the next run.
    next_run: Option<Instant>,
    retry_at: Option<Instant>,
    /// Why the conduit does not run by itself, when it does not.
    paused: Option<String>,
    state: ServiceState,
    detail: Option<String>,
    last_run_ns: Option<i64>,
}

impl Service {
    /// Re-read settings: serve new conduits, drop removed ones, apply
    /// pause/resume/cadence changes, and check every root.
    fn reload(&mut self) {
        let conduits = match self.index.conduits() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("cannot read the conduits: {e:#}");
                return;
            }
        };
        let wanted: Vec<Conduit> = conduits
            .into_iter()
            .filter(|c| self.opts.names.is_empty() || self.opts.names.contains(&c.name))
            .collect();
        self.slots.retain(|id, slot| {
            // A removed conduit is dropped once its run (if any) is over.
            slot.running.is_some() || wanted.iter().any(|c| c.id == *id)
        });
        for c in wanted {
            match self.slots.get_mut(&c.id) {
                Some(slot) => {
                    if slot.conduit != c {
                        slot.settings_changed(c);
                    }
                }
                None => {
                    if let Some(slot) = self.serve_new(c) {
                        self.slots.insert(slot.conduit.id, slot);
                    }
                }
            }
        }
        for slot in self.slots.values_mut() {
            slot.check_roots(&self.notices, &self.events);
        }
    }

    fn serve_new(&self, c: Conduit) -> Option<Slot> {
        let fail = |error: String| {
            let _ = self.events.send(ServiceEvent::Failed {
                conduit: c.name.clone(),
                error,
            });
        };
        let lock = match ServedLock::acquire(&self.home, c.id) {
            Ok(Some(lock)) => lock,
            Ok(None) => {
                fail("another `conduit watch` already serves it".into());
                return None;
            }
            Err(e) => {
                fail(format!("cannot take its service lock: {e:#}"));
                return None;
            }
        };
        let host = match Host::open(&self.home) {
            Ok(host) => host,
            Err(e) => {
                fail(format!("{e:#}"));
                return None;
            }
        };
        let opener = match host.opener() {
            Ok(opener) => opener,
            Err(e) => {
                fail(format!("{e:#}"));
                return None;
            }
        };
        let mut slot = Slot {
            cadence: c.cadence,
            rules: rules_for(&c, &opener),
            opener,
            conduit: c,
            lock,
            watchers: Vec::new(),
            host: Some(Box::new(host)),
            running: None,
            pending: BTreeSet::new(),
            first_change: None,
            last_change: None,
            // It missed whatever happened while no service ran.
            full_due: true,
            next_full: Instant::now(),
            next_run: None,
            retry_at: None,
            paused: None,
            state: ServiceState::Idle,
            detail: None,
            last_run_ns: None,
        };
        slot.schedule();
        tracing::info!(conduit = %slot.conduit.name, cadence = %slot.conduit.cadence, "serving");
        Some(slot)
    }

    fn notice(&mut self, notice: Notice) {
        let Some(slot) = self.slots.get_mut(&notice.conduit) else {
            return;
        };
        if slot.cadence != Cadence::Instant {
            return;
        }
        match notice.change {
            Change::Paths(paths) => {
                let side = notice.side;
                slot.pending.extend(paths.into_iter().map(|p| (side, p)));
            }
            Change::Rescan(reason) => {
                tracing::warn!(conduit = %slot.conduit.name, "full rescan: {reason}");
                slot.full_due = true;
            }
        }
        let now = Instant::now();
        slot.first_change.get_or_insert(now);
        slot.last_change = Some(now);
    }

    fn start_due_runs(&mut self) {
        let now = Instant::now();
        let ids: Vec<i64> = self
            .slots
            .iter()
            .filter(|(_, s)| s.due(now, &self.opts))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.start_run(id);
        }
    }

    fn start_run(&mut self, id: i64) {
        let slot = self.slots.get_mut(&id).expect("a due slot exists");
        let full = std::mem::take(&mut slot.full_due) || matches!(slot.cadence, Cadence::Every(_));
        let pending = std::mem::take(&mut slot.pending);
        slot.first_change = None;
        slot.last_change = None;
        if !full {
            let reported = pending.len();
            let changed = changed_paths(&self.index, slot, pending);
            if changed.len() < reported {
                let _ = self.events.send(ServiceEvent::Unchanged {
                    conduit: slot.conduit.name.clone(),
                    paths: reported - changed.len(),
                });
            }
            if changed.is_empty() {
                return;
            }
            if let Err(e) = self.index.mark_dirty(id, &changed) {
                tracing::warn!(conduit = %slot.conduit.name, "cannot mark dirty paths: {e:#}");
                slot.full_due = true;
                return;
            }
        }
        if full {
            slot.next_full = Instant::now() + jittered(self.opts.full_rescan, id);
        }
        let cancel = Arc::new(AtomicBool::new(false));
        slot.running = Some(cancel.clone());
        slot.set_state(ServiceState::Scanning, None, &self.events);
        let mut host = slot.host.take().expect("an idle slot has its host");
        let name = slot.conduit.name.clone();
        let done = self.done.clone();
        let opts = SyncOptions {
            only_dirty: !full,
            cancel: Some(cancel),
            ..SyncOptions::default()
        };
        tracing::info!(conduit = %name, full, "run");
        tokio::task::spawn_blocking(move || {
            let span = tracing::info_span!("conduit", name = %name);
            let _entered = span.enter();
            let on_event = |event: &Event| {
                let _ = done.send(Done::Progress(id, event.clone()));
            };
            let result = host.sync(&name, &opts, &on_event);
            let _ = done.send(Done::Ended(id, host, Box::new(result)));
        });
    }

    fn finished(&mut self, done: Done) {
        let id = match &done {
            Done::Progress(id, _) | Done::Ended(id, ..) => *id,
        };
        let Some(slot) = self.slots.get_mut(&id) else {
            return;
        };
        match done {
            Done::Progress(_, event) => {
                if let Event::Planned { .. } = event {
                    slot.set_state(ServiceState::Syncing, None, &self.events);
                }
                let _ = self.events.send(ServiceEvent::Progress(event));
            }
            Done::Ended(_, host, result) => {
                slot.host = Some(host);
                slot.running = None;
                slot.last_run_ns = Some(now_ns());
                slot.schedule();
                match *result {
                    Ok(report) => {
                        // A pause that came while the run was on wins.
                        let (state, detail) = match (&slot.paused, &report.halted) {
                            (Some(reason), _) => (ServiceState::Paused, Some(reason.clone())),
                            (None, Some(halt)) => (ServiceState::Halted, Some(halt.to_string())),
                            (None, None) => (ServiceState::Idle, None),
                        };
                        slot.set_state(state, detail, &self.events);
                        let _ = self.events.send(ServiceEvent::Finished(Box::new(report)));
                    }
                    Err(e) => {
                        // The marks stay in the index; a full scan covers a lost one.
                        slot.retry_at = Some(Instant::now() + RETRY_AFTER);
                        slot.full_due = true;
                        let (state, detail) = match &slot.paused {
                            Some(reason) => (ServiceState::Paused, reason.clone()),
                            None => (ServiceState::Idle, format!("{e:#}")),
                        };
                        slot.set_state(state, Some(detail), &self.events);
                        // Another run (by hand, or through the API) holds the
                        // conduit: not a failure, its own end will report.
                        if e.downcast_ref::<RunInProgress>().is_none() {
                            let _ = self.events.send(ServiceEvent::Failed {
                                conduit: slot.conduit.name.clone(),
                                error: format!("{e:#}"),
                            });
                        }
                    }
                }
            }
        }
    }

    /// Ask runs in flight to stop at their next batch boundary and wait.
    async fn shutdown(mut self, mut done: mpsc::UnboundedReceiver<Done>) {
        for slot in self.slots.values_mut() {
            slot.watchers.clear();
            if let Some(cancel) = &slot.running {
                cancel.store(true, Ordering::Relaxed);
            }
        }
        while self.slots.values().any(|s| s.running.is_some()) {
            match done.recv().await {
                Some(done) => self.finished(done),
                None => break,
            }
        }
    }
}

impl Slot {
    fn due(&self, now: Instant, opts: &WatchOptions) -> bool {
        if self.running.is_some() || self.paused.is_some() || self.host.is_none() {
            return false;
        }
        if self.retry_at.is_some_and(|t| t > now) {
            return false;
        }
        match self.cadence {
            Cadence::Manual => false,
            Cadence::Every(_) => self.next_run.is_some_and(|t| t <= now),
            Cadence::Instant => {
                self.full_due
                    || self.next_full <= now
                    || !self.pending.is_empty()
                        && (self
                            .last_change
                            .is_some_and(|t| now.duration_since(t) >= opts.settle)
                            || self
                                .first_change
                                .is_some_and(|t| now.duration_since(t) >= opts.max_wait))
            }
        }
    }

    /// Set the next scheduled run from the cadence and publish it.
    fn schedule(&mut self) {
        let now = Instant::now();
        self.next_run = match self.cadence {
            Cadence::Every(every) if self.last_run_ns.is_some() => Some(now + every),
            // First run of an interval conduit: now.
            Cadence::Every(_) => Some(now),
            _ => None,
        };
        self.publish();
    }

    fn settings_changed(&mut self, c: Conduit) {
        let cadence = c.cadence;
        let watched_before = self.cadence == Cadence::Instant && self.conduit.enabled;
        if c.ignore != self.conduit.ignore {
            self.full_due = true;
        }
        self.rules = rules_for(&c, &self.opener);
        self.conduit = c;
        if cadence != self.cadence {
            self.cadence = cadence;
            self.last_run_ns = None;
            self.schedule();
        }
        if !(self.cadence == Cadence::Instant && self.conduit.enabled) {
            self.watchers.clear();
        } else if !watched_before {
            // Changes made while it was not watched are only found by a full scan.
            self.full_due = true;
        }
        tracing::info!(conduit = %self.conduit.name, "settings changed");
    }

    /// Pause on a missing root or a user pause; resume and (re)watch when
    /// both are fine again.
    fn check_roots(
        &mut self,
        notices: &UnboundedSender<Notice>,
        events: &UnboundedSender<ServiceEvent>,
    ) {
        let c = &self.conduit;
        let reason = if !c.enabled {
            Some("paused by the user (`conduit resume` to restart)".to_string())
        } else {
            guards::preflight(c, &self.opener)
                .err()
                .map(|halt| halt.to_string())
        };
        match reason {
            Some(reason) => {
                self.watchers.clear();
                if self.paused.as_ref() != Some(&reason) {
                    tracing::warn!(conduit = %c.name, "paused: {reason}");
                    self.paused = Some(reason.clone());
                    if self.running.is_none() {
                        self.set_state(ServiceState::Paused, Some(reason), events);
                    }
                }
            }
            None => {
                if self.paused.take().is_some() {
                    tracing::info!(conduit = %c.name, "resumed");
                    self.full_due = true;
                    self.set_state(ServiceState::Idle, None, events);
                }
                if self.cadence == Cadence::Instant && self.watchers.is_empty() {
                    self.start_watching(notices, events);
                }
            }
        }
    }

    fn start_watching(
        &mut self,
        notices: &UnboundedSender<Notice>,
        events: &UnboundedSender<ServiceEvent>,
    ) {
        let c = &self.conduit;
        for (root, side) in [
            (&c.source, Side::Source),
            (&c.destination, Side::Destination),
        ] {
            // A folder on a device is not watched from here: it gets the
            // periodic full rescans.
            let Some(root) = root.local() else { continue };
            match events::watch(root, c.id, side, notices.clone()) {
                Ok(w) => self.watchers.push(w),
                Err(e) => {
                    let error = format!(
                        "cannot watch {}: {e} (on Linux, raising fs.inotify.max_user_watches may help); \
                         it still gets periodic full rescans",
                        root.display()
                    );
                    let _ = events.send(ServiceEvent::Failed {
                        conduit: c.name.clone(),
                        error,
                    });
                }
            }
        }
        // Whatever changed before the watch began is only found by a scan.
        self.full_due = true;
    }

    fn set_state(
        &mut self,
        state: ServiceState,
        detail: Option<String>,
        events: &UnboundedSender<ServiceEvent>,
    ) {
        if self.state == state && self.detail == detail {
            return;
        }
        self.state = state;
        self.detail = detail.clone();
        self.publish();
        let _ = events.send(ServiceEvent::State {
            conduit: self.conduit.name.clone(),
            state,
            detail,
        });
    }

    fn publish(&self) {
        let wall = |t: Instant| {
            let ahead = t.saturating_duration_since(Instant::now());
            now_ns() + ahead.as_nanos() as i64
        };
        let next = match self.cadence {
            Cadence::Every(_) => self.next_run,
            Cadence::Instant => Some(self.next_full),
            Cadence::Manual => None,
        };
        self.lock.publish(&Served {
            state: self.state,
            detail: self.detail.clone(),
            last_run_ns: self.last_run_ns,
            next_run_ns: next.map(wall),
            pid: std::process::id(),
        });
    }
}

/// The conduit's ignore rules, if both roots can be read now (a missing root
/// pauses the conduit anyway).
fn rules_for(c: &Conduit, opener: &Opener) -> Option<Rules> {
    let roots = [
        opener.open_side(c, Side::Source).ok()?,
        opener.open_side(c, Side::Destination).ok()?,
    ];
    let files = location::ignore_files(&[&*roots[0], &*roots[1]]).ok()?;
    Rules::new(&c.ignore, &files).ok()
}

/// The pending paths that really changed: not ignored, and different from
/// what the index holds. The index records every write of earlier runs, so
/// this is what keeps the service from reacting to its own writes.
fn changed_paths(
    index: &Index,
    slot: &Slot,
    pending: BTreeSet<(Side, String)>,
) -> Vec<(Side, String)> {
    let c = &slot.conduit;
    let roots = [
        slot.opener.open_side(c, Side::Source),
        slot.opener.open_side(c, Side::Destination),
    ];
    pending
        .into_iter()
        .filter(|(side, path)| {
            let on_disk = match &roots[side.index()] {
                Ok(root) => root.stat(path),
                Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
            };
            if let (Some(rules), Ok(Some(r))) = (&slot.rules, &on_disk)
                && rules.is_ignored(path, r.kind == Kind::Directory)
            {
                return false;
            }
            let known = index.entry(c.id, *side, path);
            match (on_disk, known) {
                (Ok(None), Ok(None)) => false,
                (Ok(Some(now)), Ok(Some(known))) => {
                    let both_dirs = now.kind == Kind::Directory && known.kind == Kind::Directory;
                    !both_dirs && (known.stale_against(&now) || known.mode != now.mode)
                }
                _ => true,
            }
        })
        .collect()
}

/// `base` stretched or shrunk by up to a tenth, differently per conduit and
/// start, so conduits and machines started together do not rescan in step.
fn jittered(base: Duration, seed: i64) -> Duration {
    let hash = blake3::hash(&[seed.to_le_bytes(), now_ns().to_le_bytes()].concat());
    let unit = f64::from(u16::from_le_bytes([hash.as_bytes()[0], hash.as_bytes()[1]])) / 65535.0;
    base.mul_f64(0.9 + 0.2 * unit)
}

/// Run [`serve`] on its own thread and runtime, for callers that are not
/// async: the handle receives events and stops the service.
pub struct ServiceHandle {
    /// The service's events, in order.
    pub events: std::sync::mpsc::Receiver<ServiceEvent>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
}

impl ServiceHandle {
    /// Start serving the conduits of `home`.
    pub fn start(home: &Path, opts: WatchOptions) -> anyhow::Result<ServiceHandle> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel();
        let home = home.to_path_buf();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let (events, mut forward) = mpsc::unbounded_channel();
                let forwarder = tokio::spawn(async move {
                    while let Some(e) = forward.recv().await {
                        if tx.send(e).is_err() {
                            break;
                        }
                    }
                });
                let result = serve(
                    home,
                    opts,
                    async {
                        let _ = stopped.await;
                    },
                    events,
                )
                .await;
                let _ = forwarder.await;
                result
            })
        });
        Ok(ServiceHandle {
            events: rx,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stop the service (runs in flight stop at a batch boundary) and wait.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .map_err(|_| anyhow::anyhow!("the watch service panicked"))?,
            None => Ok(()),
        }
    }
}

impl Drop for ServiceHandle {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_rescans_are_spread_by_at_most_a_tenth() {
        let base = Duration::from_secs(3600);
        let spread: BTreeSet<u64> = (0..200)
            .map(|seed| jittered(base, seed).as_secs())
            .inspect(|s| assert!((3240..=3960).contains(s), "{s}s is outside ±10%"))
            .collect();
        assert!(
            spread.len() > 50,
            "conduits would rescan in step: {spread:?}"
        );
    }
}
