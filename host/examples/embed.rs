//! Embedding Conduit in an application: open a home, create a conduit,
//! run it with a progress callback, and read its history.
//!
//! ```sh
//! cargo run --example embed -- /path/to/source /path/to/destination
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use conduit::api::{Event, Host, NewConduit, SyncOptions};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [source, destination] = args.as_slice() else {
        anyhow::bail!("usage: embed SOURCE DESTINATION (two existing folders)");
    };
    let home = tempfile::tempdir()?;
    let mut host = Host::open(home.path())?;
    host.add(NewConduit::new("example", source, destination, "replicate"))?;

    let transferred = AtomicU64::new(0);
    let report = host.sync("example", &SyncOptions::default(), &|event| match event {
        Event::Planned { actions, bytes, .. } => println!("plan: {actions} actions, {bytes} bytes"),
        Event::Transferred { bytes, .. } => {
            transferred.fetch_add(*bytes, Ordering::Relaxed);
        }
        Event::Acted { item, .. } => println!("{} {} ({})", item.action, item.path, item.why),
        _ => {}
    })?;
    println!(
        "copied {} files ({} bytes seen by the progress callback), {} verified, halted: {:?}",
        report.counts.copied,
        transferred.load(Ordering::Relaxed),
        report.counts.verified,
        report.halted
    );
    for run in host.history("example", 10)? {
        println!(
            "generation {}: {} copied",
            run.generation, run.counts.copied
        );
    }
    Ok(())
}
