//! End to end through the binary: `conduit watch` runs conduits by
//! themselves. Every wait is on a condition with a bound, never a fixed
//! sleep.

use crate::support::*;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Generous: CI machines are slow and busy; a pass is usually far quicker.
const BOUND: Duration = Duration::from_secs(30);

/// A running `conduit watch --json` and the events it printed so far.
struct Watch {
    child: Child,
    lines: Receiver<(Instant, Value)>,
    seen: Vec<(Instant, Value)>,
}

impl Watch {
    fn start(w: &World, names: &[&str]) -> Watch {
        let log = std::fs::File::create(w.tmp.path().join("watch.log")).unwrap();
        let mut child = w
            .cmd()
            .arg("watch")
            .arg("--json")
            .args(names)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start conduit watch");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let value: Value = serde_json::from_str(&line).expect("a JSON event line");
                if tx.send((Instant::now(), value)).is_err() {
                    break;
                }
            }
        });
        Watch {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Wait for an event matching `pred` (among those not yet waited for).
    fn wait_event(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + BOUND;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, event)) => {
                    self.seen.push((at, event.clone()));
                    if pred(&event) {
                        return event;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("no {what} within {BOUND:?}; events: {:#?}", self.events())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    panic!(
                        "conduit watch exited before {what}; events: {:#?}",
                        self.events()
                    )
                }
            }
        }
    }

    /// Wait until `count` runs of `conduit` have finished since the start.
    fn wait_runs(&mut self, conduit: &str, count: usize) -> Value {
        while self.runs(conduit).len() < count {
            self.wait_event(&format!("run {count} of {conduit}"), |e| {
                e["event"] == "finished" && e["conduit"] == conduit
            });
        }
        self.runs(conduit)[count - 1].1.clone()
    }

    /// Take whatever events have arrived, without waiting.
    fn drain(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
    }

    fn events(&self) -> Vec<&Value> {
        self.seen.iter().map(|(_, e)| e).collect()
    }

    /// Finished runs of `conduit` seen so far, with when they were printed.
    fn runs(&mut self, conduit: &str) -> Vec<(Instant, Value)> {
        self.drain();
        self.seen
            .iter()
            .filter(|(_, e)| e["event"] == "finished" && e["conduit"] == conduit)
            .cloned()
            .collect()
    }

    fn terminate(&mut self) -> i32 {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + BOUND;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < deadline,
                "conduit watch did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Poll `cond` until it holds, at most [`BOUND`].
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + BOUND;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn status(w: &World, name: &str) -> Value {
    w.run(&["status", name, "--json"]).expect(0).json()
}

/// A third and fourth folder for a second conduit in the same world.
fn second_pair(w: &World) -> (PathBuf, PathBuf) {
    let (c, d) = (w.tmp.path().join("c"), w.tmp.path().join("d"));
    std::fs::create_dir_all(&c).unwrap();
    std::fs::create_dir_all(&d).unwrap();
    (c, d)
}

fn add_between(w: &World, name: &str, from: &Path, to: &Path, policy: &str, cadence: &str) {
    w.run(&[
        "add",
        name,
        from.to_str().unwrap(),
        to.to_str().unwrap(),
        "--policy",
        policy,
        "--cadence",
        cadence,
    ])
    .expect(0);
}

#[test]
fn a_change_on_an_instant_source_reaches_the_destination_verified() {
    let w = World::new();
    write(&w.a, "before.txt", "made before the service started");
    w.add("m", "replicate", &["--cadence", "instant"]);
    let mut watch = Watch::start(&w, &[]);
    // The first run is a full scan: it finds what changed while no service ran.
    let first = watch.wait_runs("m", 1);
    assert_eq!(n(&first, "copied"), 1, "{first}");
    assert_eq!(
        read(&w.b, "before.txt").as_deref(),
        Some("made before the service started")
    );

    write(&w.a, "docs/new.txt", "fresh");
    eventually("docs/new.txt on b", || {
        read(&w.b, "docs/new.txt").as_deref() == Some("fresh")
    });
    eventually("the copy to be reported verified", || {
        let verified: u64 = watch.runs("m").iter().map(|(_, r)| n(r, "verified")).sum();
        verified == 2
    });

    // A status from another process shows the service's view.
    let s = status(&w, "m");
    assert_eq!(s["watched"], true, "{s}");
    assert_eq!(s["service"]["pid"], watch.child.id(), "{s}");
    assert_eq!(watch.terminate(), 0);
    // Once the service is gone, nobody claims to watch the conduit.
    assert_eq!(status(&w, "m")["watched"], false);
}

#[test]
fn a_two_way_conduit_propagates_both_ways_without_loops() {
    let w = World::new();
    w.add("s", "synchronize", &["--cadence", "instant"]);
    let mut watch = Watch::start(&w, &["s"]);
    watch.wait_runs("s", 1);

    write(&w.a, "from-a.txt", "a");
    eventually("from-a.txt on b", || {
        read(&w.b, "from-a.txt").as_deref() == Some("a")
    });
    write(&w.b, "from-b.txt", "b");
    eventually("from-b.txt on a", || {
        read(&w.a, "from-b.txt").as_deref() == Some("b")
    });
    write(&w.a, "from-a.txt", "a, edited");
    eventually("the edit on b", || {
        read(&w.b, "from-a.txt").as_deref() == Some("a, edited")
    });
    // The copy of the last change comes back to the service as an event on
    // a; it must be recognised as its own write and set aside, not run.
    write(&w.b, "last.txt", "done");
    eventually("last.txt on a", || read(&w.a, "last.txt").is_some());
    watch.wait_event("the echo of last.txt set aside", |e| {
        e["event"] == "unchanged" && e["conduit"] == "s"
    });

    let runs = watch.runs("s");
    // One startup scan and one run per change; the service's own writes on
    // the other side never trigger a run of their own.
    let idle: Vec<_> = runs
        .iter()
        .skip(1)
        .filter(|(_, r)| n(r, "copied") == 0)
        .map(|(_, r)| r)
        .collect();
    assert!(
        idle.is_empty(),
        "runs that found nothing to do (echoes): {idle:#?}"
    );
    assert!(
        runs.len() <= 5,
        "{} runs for 4 changes: {:#?}",
        runs.len(),
        watch.events()
    );
    assert_eq!(tree(&w.a), tree(&w.b));
}

#[test]
fn a_burst_of_200_files_becomes_a_few_syncs() {
    let w = World::new();
    w.add("burst", "replicate", &["--cadence", "instant"]);
    let mut watch = Watch::start(&w, &[]);
    watch.wait_runs("burst", 1);

    for i in 0..200 {
        write(&w.a, &format!("burst/{i:03}.txt"), &format!("file {i}"));
    }
    eventually("all 200 files on b", || {
        std::fs::read_dir(w.b.join("burst")).map_or(0, |d| d.count()) == 200
    });
    eventually("the last copy to be reported", || {
        let copied: u64 = watch
            .runs("burst")
            .iter()
            .map(|(_, r)| n(r, "copied"))
            .sum();
        copied >= 200
    });
    let runs = watch.runs("burst").len() - 1;
    assert!(
        runs <= 4,
        "200 writes took {runs} runs: {:#?}",
        watch.events()
    );
    assert_eq!(tree(&w.a), tree(&w.b));
    // Every line of `watch --json` is versioned, whatever its event.
    for event in watch.events() {
        assert_eq!(event["schema"], 1, "{event}");
    }
}

#[test]
fn an_interval_conduit_runs_on_schedule_and_a_manual_one_never() {
    let w = World::new();
    w.add("tick", "replicate", &["--cadence", "2s"]);
    let (c, d) = second_pair(&w);
    add_between(&w, "hand", &c, &d, "replicate", "manual");
    write(&c, "stays.txt", "only by hand");
    let mut watch = Watch::start(&w, &[]);

    watch.wait_runs("tick", 1);
    write(&w.a, "later.txt", "picked up by the schedule");
    eventually("later.txt on b", || read(&w.b, "later.txt").is_some());
    let done = watch.runs("tick").len();
    watch.wait_runs("tick", done + 2);
    let runs = watch.runs("tick");
    for pair in runs.windows(2) {
        let gap = pair[1].0.duration_since(pair[0].0);
        assert!(
            gap >= Duration::from_millis(1500),
            "runs {gap:?} apart on a 2s cadence"
        );
    }
    assert!(
        watch.runs("hand").is_empty(),
        "a manual conduit ran by itself"
    );
    assert_eq!(read(&d, "stays.txt"), None);
    assert_eq!(status(&w, "hand")["watched"], true);
}

#[test]
fn pause_stops_a_conduit_and_resume_restarts_it() {
    let w = World::new();
    w.add("p", "replicate", &["--cadence", "instant"]);
    let (c, d) = second_pair(&w);
    add_between(&w, "other", &c, &d, "replicate", "instant");
    let mut watch = Watch::start(&w, &[]);
    watch.wait_runs("p", 1);
    watch.wait_runs("other", 1);

    w.run(&["pause", "p"]).expect(0);
    watch.wait_event("p paused", |e| {
        e["conduit"] == "p" && e["state"] == "paused"
    });
    assert_eq!(status(&w, "p")["state"], "paused");
    write(&w.a, "while-paused.txt", "waits");
    // The service is alive and handling changes: the other conduit runs...
    write(&c, "other.txt", "goes");
    eventually("other.txt on d", || read(&d, "other.txt").is_some());
    // ...and the paused one did not.
    assert_eq!(read(&w.b, "while-paused.txt"), None);
    assert!(watch.runs("p").len() == 1, "{:#?}", watch.events());

    w.run(&["resume", "p"]).expect(0);
    eventually("while-paused.txt on b after resume", || {
        read(&w.b, "while-paused.txt").as_deref() == Some("waits")
    });
}

#[test]
fn a_root_that_goes_away_pauses_its_conduit_until_it_returns() {
    let w = World::new();
    w.add("disk", "replicate", &["--cadence", "instant"]);
    let mut watch = Watch::start(&w, &[]);
    watch.wait_runs("disk", 1);

    let away = w.tmp.path().join("b-unplugged");
    std::fs::rename(&w.b, &away).unwrap();
    let paused = watch.wait_event("a pause for the missing root", |e| {
        e["conduit"] == "disk" && e["state"] == "paused"
    });
    assert!(
        paused["detail"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{paused}"
    );
    assert_eq!(status(&w, "disk")["state"], "paused");
    write(&w.a, "while-away.txt", "for later");

    // An empty folder at the same path is not the right disk.
    std::fs::create_dir(&w.b).unwrap();
    watch.wait_event("the missing marker to be noticed", |e| {
        e["conduit"] == "disk"
            && e["state"] == "paused"
            && e["detail"].as_str().is_some_and(|d| d.contains("marker"))
    });
    assert_eq!(read(&w.b, "while-away.txt"), None);
    std::fs::remove_dir(&w.b).unwrap();

    std::fs::rename(&away, &w.b).unwrap();
    eventually("while-away.txt on b once it is back", || {
        read(&w.b, "while-away.txt").as_deref() == Some("for later")
    });
    eventually("the conduit to be idle again", || {
        status(&w, "disk")["state"] == "idle"
    });
}

#[test]
fn sigterm_mid_transfer_then_a_restart_converges_with_nothing_lost() {
    let w = World::new();
    // Two transfer batches' worth of files, so the stop can land between them.
    for i in 0..3000 {
        write(
            &w.a,
            &format!("d{}/f{i:04}.bin", i % 10),
            &format!("{i}").repeat(300),
        );
    }
    w.add("big", "replicate", &["--cadence", "instant"]);
    let mut watch = Watch::start(&w, &[]);
    watch.wait_event("the first run to start copying", |e| {
        e["conduit"] == "big" && e["state"] == "syncing"
    });
    assert_eq!(watch.terminate(), 0, "a clean shutdown exits 0");

    // Whatever was committed is complete; nothing half-written is visible.
    assert!(
        temp_files(&w.b).is_empty(),
        "staged copies left behind: {:?}",
        temp_files(&w.b)
    );
    for (path, content) in tree(&w.b) {
        if content != "dir/" {
            assert_eq!(read(&w.a, &path).unwrap(), content, "{path} is a torn copy");
        }
    }
    let report = w.sync("big", &[], 0);
    assert_eq!(n(&report, "failed"), 0, "{report}");
    assert_eq!(tree(&w.a), tree(&w.b));
    w.run(&["verify", "big"]).expect(0);
}

#[test]
fn watching_an_unknown_conduit_is_a_usage_error() {
    let w = World::new();
    let out = w.run(&["watch", "nope"]).expect(2);
    assert!(
        out.stderr.contains("no conduit named `nope`"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_embedding_app_runs_the_service_and_gets_its_events() {
    use conduit::watch::{ServiceEvent, ServiceHandle, WatchOptions};
    let w = World::new();
    w.add("lib", "replicate", &["--cadence", "instant"]);
    let service = ServiceHandle::start(&w.home, WatchOptions::default()).unwrap();
    let next_run = |what: &str| loop {
        match service.events.recv_timeout(BOUND) {
            Ok(ServiceEvent::Finished(report)) => return report,
            Ok(_) => continue,
            Err(e) => panic!("no {what}: {e}"),
        }
    };
    next_run("startup run");
    write(&w.a, "from-the-app.txt", "hello");
    let report = next_run("run for the new file");
    assert_eq!((report.counts.copied, report.counts.verified), (1, 1));
    assert_eq!(read(&w.b, "from-the-app.txt").as_deref(), Some("hello"));
    service.stop().unwrap();
    assert_eq!(status(&w, "lib")["watched"], false);
}

#[test]
fn a_full_rescan_period_that_is_not_an_interval_is_a_usage_error() {
    let w = World::new();
    w.add("m", "replicate", &["--cadence", "instant"]);
    let out = w.run(&["watch", "--full-rescan", "instant"]).expect(2);
    assert!(out.stderr.contains("--full-rescan"), "{}", out.stderr);
}

/// A stored cadence that no longer reads (a damaged or hand-edited index):
/// every command that reads it says which conduit and which setting, the
/// service does not fall back to `manual` behind the person's back, and
/// setting a valid cadence repairs the conduit.
#[test]
fn a_stored_cadence_that_does_not_read_is_an_error_naming_it() {
    let w = World::new();
    w.add("tick", "replicate", &["--cadence", "5m"]);
    let db = rusqlite::Connection::open(w.home.join("index.sqlite")).unwrap();
    db.execute("UPDATE conduits SET cadence = 'fortnightly'", [])
        .unwrap();
    drop(db);
    for args in [&["list"][..], &["show", "tick"], &["watch", "tick"]] {
        let r = w.run(args).expect(1);
        assert!(
            r.stderr.contains("conduit `tick`")
                && r.stderr.contains("`cadence`")
                && r.stderr.contains("\"fortnightly\""),
            "{args:?}: {}",
            r.stderr
        );
    }
    w.run(&["set", "tick", "cadence=1h"]).expect(0);
    let show = w.run(&["show", "tick", "--json"]).expect(0).json();
    assert_eq!(show["cadence"], "1h");
}
