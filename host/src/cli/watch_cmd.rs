//! `conduit watch` and `conduit serve`: the service (and, for `serve`, the
//! HTTP API and web UI) in the foreground until SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::exit;
use crate::api::{Cadence, UsageError};
use crate::serve::ServeOptions;
use crate::watch::{ServiceEvent, ServiceState, WatchOptions};

/// Serve `names` (or all conduits); one line per event, JSON lines with
/// `json`.
pub(super) fn run(
    home: &Path,
    names: Vec<String>,
    devices: Option<String>,
    full_rescan: &str,
    json: bool,
    out: super::Output,
) -> anyhow::Result<i32> {
    let opts = watch_options(names, devices, full_rescan)?;
    let home = home.to_path_buf();
    with_printer(json, out, |events| {
        crate::watch::serve(home, opts, shutdown_signal(), events)
    })
}

/// What `serve` adds to `watch`, as typed.
pub(super) struct Serving {
    pub names: Vec<String>,
    pub listen: String,
    pub expose: bool,
    pub devices: Option<String>,
}

/// `conduit serve`: the service, the HTTP API and the web UI.
pub(super) fn serve(
    home: &Path,
    serving: Serving,
    full_rescan: &str,
    json: bool,
    out: super::Output,
) -> anyhow::Result<i32> {
    let listen: SocketAddr = serving.listen.parse().map_err(|_| {
        UsageError(format!(
            "--listen {:?} is not an address: use IP:PORT, e.g. {}",
            serving.listen,
            crate::serve::DEFAULT_LISTEN
        ))
    })?;
    let opts = ServeOptions {
        listen,
        expose: serving.expose,
        watch: watch_options(serving.names, serving.devices, full_rescan)?,
    };
    let home = home.to_path_buf();
    let listening = move |addr: SocketAddr| {
        let url = format!("http://{addr}/");
        if !addr.ip().is_loopback() {
            eprintln!(
                "warning: serving on {addr}, beyond this machine: the traffic is not \
                 encrypted and only the API key protects your files"
            );
        }
        if json {
            println!(
                "{}",
                stamped(serde_json::json!({ "event": "listening", "url": url }))
            );
        } else {
            println!(
                "serving {url} (log in with the API key that `conduit serve --print-key` prints)"
            );
        }
    };
    with_printer(json, out, |events| {
        crate::serve::serve(home, opts, shutdown_signal(), listening, events)
    })
}

fn watch_options(
    names: Vec<String>,
    devices: Option<String>,
    full_rescan: &str,
) -> anyhow::Result<WatchOptions> {
    let devices = match devices {
        Some(at) => Some(at.parse::<SocketAddr>().map_err(|_| {
            UsageError(format!(
                "--devices {at:?} is not an address: use IP:PORT, e.g. 0.0.0.0:8378"
            ))
        })?),
        None => None,
    };
    let full_rescan = match full_rescan.parse() {
        Ok(Cadence::Every(every)) => every,
        _ => {
            return Err(UsageError(format!(
                "--full-rescan {full_rescan:?} is not an interval: use e.g. 30m, 1h or 1d"
            ))
            .into());
        }
    };
    Ok(WatchOptions {
        names,
        full_rescan,
        devices,
        ..WatchOptions::default()
    })
}

/// Run `service` on a runtime of its own, printing its events as they come.
fn with_printer<F>(
    json: bool,
    out: super::Output,
    service: impl FnOnce(tokio::sync::mpsc::UnboundedSender<ServiceEvent>) -> F,
) -> anyhow::Result<i32>
where
    F: std::future::Future<Output = anyhow::Result<()>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(async move {
        let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
        let printer = tokio::spawn(async move {
            while let Some(event) = received.recv().await {
                print_event(&event, json, out);
            }
        });
        let result = service(events).await;
        let _ = printer.await;
        result
    });
    // Work on blocking threads (a run the API started, a preview) was asked
    // to stop; one stuck on a dead disk must not keep the process forever.
    runtime.shutdown_timeout(Duration::from_secs(60));
    result?;
    Ok(exit::OK)
}

/// SIGINT (Ctrl-C) or SIGTERM. The handlers are installed at once (inside
/// the runtime), not when the future is first polled: a signal that comes
/// while the service starts must stop it, not kill it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    let mut interrupt = signal(SignalKind::interrupt()).expect("a SIGINT handler");
    async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = term.recv() => {}
        }
        eprintln!("stopping: runs in flight finish their current batch");
        // Runs stop at their next batch boundary; one that cannot (a stuck
        // disk) must not keep the process forever. Nothing uncommitted is ever
        // visible, and the next run removes leftover temporary files.
        tokio::spawn(async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            std::process::exit(exit::ERROR);
        });
    }
}

fn print_event(event: &ServiceEvent, json: bool, out: super::Output) {
    use serde_json::json;
    let line = match event {
        ServiceEvent::State {
            conduit,
            state,
            detail,
        } => {
            if json {
                stamped(
                    json!({ "event": "state", "conduit": conduit, "state": state, "detail": detail }),
                )
            } else if matches!(state, ServiceState::Scanning | ServiceState::Syncing) {
                return;
            } else {
                match detail {
                    Some(d) => format!("{conduit}: {state}: {d}"),
                    None => format!("{conduit}: {state}"),
                }
            }
        }
        ServiceEvent::Progress(_) => return,
        ServiceEvent::Unchanged { conduit, paths } => {
            if json {
                stamped(json!({ "event": "unchanged", "conduit": conduit, "paths": paths }))
            } else {
                return;
            }
        }
        ServiceEvent::Finished(report) => {
            if json {
                let mut value = serde_json::to_value(report).unwrap_or_default();
                value["event"] = json!("finished");
                stamped(value)
            } else {
                super::sync_cmd::print_report(report, out);
                return;
            }
        }
        ServiceEvent::Devices { id, listening } => {
            if json {
                stamped(json!({ "event": "devices", "id": id, "listening": listening }))
            } else {
                let at: Vec<String> = listening.iter().map(|a| a.to_string()).collect();
                format!("answering paired devices on {} as {id}", at.join(", "))
            }
        }
        ServiceEvent::Failed { conduit, error } => {
            if json {
                stamped(json!({ "event": "failed", "conduit": conduit, "error": error }))
            } else {
                format!("{conduit}: error: {error}")
            }
        }
    };
    println!("{line}");
}

/// One event as a JSON line, with the schema version every `--json` output carries.
fn stamped(value: serde_json::Value) -> String {
    super::json(&value, false).unwrap_or_default()
}
