//! The event stream of `conduit serve`: the library's progress events and
//! the service's, turned into the named events of docs/http-api.md, each
//! with an id. The last events are kept so a client that reconnects can
//! resume, and each conduit's run in flight is summed up for `/api/status`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::api::{Event, SyncReport, VerifyReport};
use crate::watch::ServiceEvent;

/// Events kept for clients that reconnect.
const KEPT: usize = 1000;
/// `sync-progress` at most this often per conduit.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// One event as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// Grows by one per event, from 1.
    pub id: u64,
    /// `sync-started`, `sync-progress`, …
    pub name: &'static str,
    /// Its JSON object.
    pub data: Value,
}

/// Where every event goes.
pub struct Bus {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Arc<Sent>>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    kept: VecDeque<Arc<Sent>>,
    live: HashMap<String, Live>,
    errors: HashMap<String, String>,
}

/// A run in flight.
struct Live {
    scanning: bool,
    entries: u64,
    hashed_bytes: u64,
    files: u64,
    files_total: u64,
    bytes: u64,
    bytes_total: u64,
    /// When the plan was known: transfer speed counts from here.
    planned_at: Option<Instant>,
    last_sent: Option<Instant>,
}

impl Live {
    fn new() -> Live {
        Live {
            scanning: true,
            entries: 0,
            hashed_bytes: 0,
            files: 0,
            files_total: 0,
            bytes: 0,
            bytes_total: 0,
            planned_at: None,
            last_sent: None,
        }
    }

    /// The `progress` object of docs/http-api.md.
    fn json(&self, conduit: &str) -> Value {
        let elapsed = self.planned_at.map(|t| t.elapsed().as_secs_f64());
        let speed = match elapsed {
            Some(secs) if secs > 0.0 => self.bytes as f64 / secs,
            _ => 0.0,
        };
        let eta_secs = (speed > 0.0)
            .then(|| (self.bytes_total.saturating_sub(self.bytes) as f64 / speed).ceil() as u64);
        json!({
            "conduit": conduit,
            "phase": if self.scanning { "scanning" } else { "transferring" },
            "entries": self.entries,
            "hashed_bytes": self.hashed_bytes,
            "files": self.files,
            "files_total": self.files_total,
            "bytes": self.bytes,
            "bytes_total": self.bytes_total,
            "speed": speed.round() as u64,
            "eta_secs": eta_secs,
        })
    }
}

impl Bus {
    /// An empty bus.
    pub fn new() -> Bus {
        Bus {
            inner: Mutex::new(Inner::default()),
            tx: broadcast::channel(KEPT).0,
        }
    }

    /// Send event `name` with `data`.
    pub fn send(&self, name: &'static str, data: Value) {
        let mut inner = self.inner.lock().expect("the bus lock is never poisoned");
        inner.send(name, data, &self.tx);
    }

    /// The events after `after` that are still kept, and a receiver for
    /// the ones to come; taken together, so none is missed or repeated.
    pub fn subscribe(&self, after: u64) -> (Vec<Arc<Sent>>, broadcast::Receiver<Arc<Sent>>) {
        let inner = self.inner.lock().expect("the bus lock is never poisoned");
        let missed = inner
            .kept
            .iter()
            .filter(|s| s.id > after)
            .cloned()
            .collect();
        (missed, self.tx.subscribe())
    }

    /// The id of the newest event (0 before the first).
    pub fn last_id(&self) -> u64 {
        self.inner
            .lock()
            .expect("the bus lock is never poisoned")
            .next_id
    }

    /// The run in flight of `conduit`, as `/api/status` shows it.
    pub fn progress(&self, conduit: &str) -> Option<Value> {
        let inner = self.inner.lock().expect("the bus lock is never poisoned");
        inner.live.get(conduit).map(|l| l.json(conduit))
    }

    /// Why the last attempt to run `conduit` could not run at all.
    pub fn error(&self, conduit: &str) -> Option<String> {
        let inner = self.inner.lock().expect("the bus lock is never poisoned");
        inner.errors.get(conduit).cloned()
    }

    /// A run could not be attempted.
    pub fn failed(&self, conduit: &str, error: String) {
        let mut inner = self.inner.lock().expect("the bus lock is never poisoned");
        inner.live.remove(conduit);
        inner.errors.insert(conduit.to_string(), error.clone());
        let data =
            json!({ "conduit": conduit, "generation": null, "error": error, "halted": false });
        inner.send("sync-failed", data, &self.tx);
    }

    /// `verify` finished.
    pub fn verified(&self, report: &VerifyReport) {
        self.send(
            "verification-complete",
            json!({
                "conduit": report.conduit,
                "verified": report.verified,
                "bytes": report.bytes,
                "corrupted": report.corrupted,
                "changed": report.changed,
            }),
        );
    }

    /// What the watch service reports.
    pub fn service(&self, event: &ServiceEvent) {
        match event {
            ServiceEvent::State {
                conduit,
                state,
                detail,
            } => self.send(
                "state",
                json!({ "conduit": conduit, "state": state, "detail": detail }),
            ),
            ServiceEvent::Progress(event) => self.library(event),
            // The run's own `Finished` progress event has already told.
            ServiceEvent::Finished(_)
            | ServiceEvent::Unchanged { .. }
            | ServiceEvent::Devices { .. } => {}
            ServiceEvent::Failed { conduit, error } => self.failed(conduit, error.clone()),
        }
    }

    /// A progress event of a run (started by the API or the service).
    pub fn library(&self, event: &Event) {
        let mut inner = self.inner.lock().expect("the bus lock is never poisoned");
        let inner = &mut *inner;
        match event {
            Event::Scanning {
                conduit,
                entries,
                hashed_bytes,
            } => {
                let live = inner.live.entry(conduit.clone()).or_insert_with(Live::new);
                (live.entries, live.hashed_bytes) = (*entries, *hashed_bytes);
                inner.progress(conduit, false, &self.tx);
            }
            Event::Started {
                conduit,
                generation,
            } => {
                inner.errors.remove(conduit);
                let data = json!({ "conduit": conduit, "generation": generation });
                inner.send("sync-started", data, &self.tx);
            }
            Event::Planned {
                conduit,
                files,
                bytes,
                ..
            } => {
                let live = inner.live.entry(conduit.clone()).or_insert_with(Live::new);
                live.scanning = false;
                (live.files_total, live.bytes_total) = (*files, *bytes);
                live.planned_at = Some(Instant::now());
                inner.progress(conduit, true, &self.tx);
            }
            Event::Written { conduit, bytes } => {
                if let Some(live) = inner.live.get_mut(conduit) {
                    live.bytes += bytes;
                    inner.progress(conduit, false, &self.tx);
                }
            }
            Event::Transferred { conduit, .. } => {
                if let Some(live) = inner.live.get_mut(conduit) {
                    live.files += 1;
                    inner.progress(conduit, false, &self.tx);
                }
            }
            Event::Finished(report) if !report.dry_run => inner.finished(report, &self.tx),
            _ => {}
        }
    }
}

impl Inner {
    fn send(&mut self, name: &'static str, data: Value, tx: &broadcast::Sender<Arc<Sent>>) {
        self.next_id += 1;
        let sent = Arc::new(Sent {
            id: self.next_id,
            name,
            data,
        });
        if self.kept.len() == KEPT {
            self.kept.pop_front();
        }
        self.kept.push_back(sent.clone());
        // No subscriber is no error: the event is kept for the next one.
        let _ = tx.send(sent);
    }

    /// Send the progress of `conduit`'s run unless one went out just now.
    fn progress(&mut self, conduit: &str, always: bool, tx: &broadcast::Sender<Arc<Sent>>) {
        let Some(live) = self.live.get_mut(conduit) else {
            return;
        };
        if !always && live.last_sent.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) {
            return;
        }
        live.last_sent = Some(Instant::now());
        let data = live.json(conduit);
        self.send("sync-progress", data, tx);
    }

    fn finished(&mut self, report: &SyncReport, tx: &broadcast::Sender<Arc<Sent>>) {
        let conduit = report.conduit.as_str();
        if let Some(mut live) = self.live.remove(conduit) {
            // Every planned action done (none failed, skipped or stopped
            // early), every transfer verified: the run is at 100%
            // (the plan's byte count may differ from the bytes written, e.g.
            // for files whose content the other side already had).
            if report.halted.is_none() && report.problems.is_empty() {
                (live.files, live.bytes) = (live.files_total, live.bytes_total);
            }
            live.scanning = false;
            let data = live.json(conduit);
            self.send("sync-progress", data, tx);
        }
        for c in &report.conflict_list {
            let data = json!({
                "conduit": conduit,
                "path": c.path,
                "how": c.how,
                "unresolved": c.unresolved,
            });
            self.send("conflict-detected", data, tx);
        }
        let generation = report.generation;
        // A halt before the run began is in no history: status shows it here.
        match report.halted.as_ref().map(|halt| halt.to_string()) {
            Some(halt) => self.errors.insert(conduit.to_string(), halt),
            None => self.errors.remove(conduit),
        };
        match &report.halted {
            Some(halt) => {
                let data = json!({
                    "conduit": conduit,
                    "generation": generation,
                    "error": halt.to_string(),
                    "halted": true,
                });
                self.send("sync-failed", data, tx);
            }
            None => {
                let data =
                    json!({ "conduit": conduit, "generation": generation, "report": report });
                self.send("sync-completed", data, tx);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(bus: &Bus, after: u64) -> Vec<&'static str> {
        bus.subscribe(after).0.iter().map(|s| s.name).collect()
    }

    #[test]
    fn a_run_reads_as_started_progress_and_completed_at_one_hundred_percent() {
        let bus = Bus::new();
        let c = "docs".to_string();
        bus.library(&Event::Scanning {
            conduit: c.clone(),
            entries: 3,
            hashed_bytes: 10,
        });
        bus.library(&Event::Started {
            conduit: c.clone(),
            generation: 7,
        });
        bus.library(&Event::Planned {
            conduit: c.clone(),
            actions: 2,
            files: 2,
            bytes: 100,
        });
        assert_eq!(bus.progress("docs").unwrap()["phase"], "transferring");
        bus.library(&Event::Written {
            conduit: c.clone(),
            bytes: 40,
        });
        let report = SyncReport {
            conduit: c.clone(),
            generation: 7,
            ..SyncReport::default()
        };
        bus.library(&Event::Finished(Box::new(report)));
        // The write came within 250 ms of the plan's progress: not sent.
        assert_eq!(
            names(&bus, 0),
            [
                "sync-progress",
                "sync-started",
                "sync-progress",
                "sync-progress",
                "sync-completed"
            ]
        );
        let (kept, _) = bus.subscribe(0);
        let last_progress = &kept[kept.len() - 2].data;
        assert_eq!(last_progress["bytes"], 100);
        assert_eq!(last_progress["files"], 2);
        assert!(bus.progress("docs").is_none(), "the run is over");
    }

    #[test]
    fn a_halt_is_a_failure_and_a_client_resumes_after_its_last_id() {
        let bus = Bus::new();
        bus.send("conduit-created", json!({ "conduit": "a" }));
        let report = SyncReport {
            conduit: "a".into(),
            halted: Some(crate::api::Halt::Recorded("halted: no marker".into())),
            ..SyncReport::default()
        };
        bus.library(&Event::Finished(Box::new(report)));
        assert_eq!(names(&bus, 1), ["sync-failed"]);
        assert_eq!(bus.subscribe(1).0[0].data["halted"], true);
        assert!(names(&bus, 2).is_empty());
    }

    #[test]
    fn only_the_last_events_are_kept() {
        let bus = Bus::new();
        for _ in 0..KEPT + 5 {
            bus.send("state", json!({}));
        }
        let (kept, _) = bus.subscribe(0);
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[0].id, 6);
    }
}
