//! The `conduit` command line (its contract: docs/architecture.md): parses
//! arguments, calls the library ([`crate::api`]), prints for people or as
//! JSON, and maps outcomes to exit codes.

mod conduit_cmd;
mod demo;
mod policy_cmd;
mod sync_cmd;
mod watch_cmd;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::api::Keep;
use conduit_contract::options;

/// Exit codes, the command-line contract of docs/architecture.md.
pub mod exit {
    /// Done.
    pub const OK: i32 = 0;
    /// An error: nothing or only part was attempted.
    pub const ERROR: i32 = 1;
    /// A mistake in the command line or its values.
    pub const USAGE: i32 = 2;
    /// Finished, but some actions failed.
    pub const PARTIAL: i32 = 3;
    /// Halted by a safety guard; nothing changed.
    pub const HALTED: i32 = 4;
}

#[derive(Parser)]
#[command(
    name = "conduit",
    version,
    about = "File-content synchronization with sandboxed sync policies."
)]
struct Cli {
    /// Where Conduit keeps its index, caches and logs.
    #[arg(long, global = true, env = "CONDUIT_HOME", value_name = "DIR")]
    home: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a conduit between two existing folders.
    Add {
        name: String,
        source: PathBuf,
        destination: PathBuf,
        /// A built-in (replicate, synchronize, offload, archive) or an installed policy (`conduit policy list`).
        #[arg(long)]
        policy: String,
        /// A policy option or host setting, as `conduit set` takes them, e.g.
        /// `--set conflict=newer` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = options::split_assignment)]
        set: Vec<(String, String)>,
        /// manual, instant, or an interval like 30s, 5m, 1h, 1d.
        #[arg(long, default_value = "manual", value_parser = str::parse::<crate::settings::Cadence>)]
        cadence: crate::settings::Cadence,
        /// A gitignore-syntax rule applied to both roots (repeatable).
        #[arg(long = "ignore", value_name = "GLOB")]
        ignore: Vec<String>,
    },
    /// List conduits.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a conduit's settings.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Change settings: policy options, or cadence, max-delete, trash-days, policy-digest.
    Set {
        name: String,
        #[arg(value_name = "KEY=VALUE", value_parser = options::split_assignment, required = true)]
        settings: Vec<(String, String)>,
    },
    /// Stop scheduled runs of a conduit.
    Pause { name: String },
    /// Restart scheduled runs of a conduit.
    Resume { name: String },
    /// Forget a conduit (its files and trash stay on disk).
    Remove { name: String },
    /// Run conduits now.
    Sync {
        /// Conduits to run (or --all).
        names: Vec<String>,
        #[arg(long, conflicts_with = "names")]
        all: bool,
        /// Plan and report; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Run past the mass-delete and emptied-root guards.
        #[arg(long)]
        force: bool,
        /// One JSON object per conduit on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Where conduits stand: last run, conflicts, offloaded files.
    Status {
        name: Option<String>,
        /// List the offloaded files.
        #[arg(long, requires = "name")]
        offloaded: bool,
        #[arg(long)]
        json: bool,
    },
    /// Past runs of a conduit, newest first.
    History {
        name: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// Open conflicts.
    Conflicts {
        name: Option<String>,
        /// Also the conflicts runs settled by a rule (keep-both, newer, ...),
        /// newest run first.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// Settle a conflict.
    Resolve {
        name: String,
        path: String,
        #[arg(long, value_enum)]
        keep: Keep,
    },
    /// Bring back the newest trashed version of a path, on both sides.
    Restore { name: String, path: String },
    /// Re-hash both sides against the index.
    Verify {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Keep matching files local (offload); offloaded ones come back next run.
    Pin { name: String, glob: String },
    /// Undo a pin.
    Unpin { name: String, glob: String },
    /// Bring offloaded files (or folders) back now, verified.
    Hydrate {
        name: String,
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Run conduits by themselves, by cadence, until SIGINT/SIGTERM.
    Watch {
        /// Conduits to serve (default: all).
        names: Vec<String>,
        /// How often instant conduits get a full rescan anyway (watchers miss events).
        #[arg(long, default_value = "1h", value_name = "INTERVAL")]
        full_rescan: String,
        /// One JSON object per event on stdout.
        #[arg(long)]
        json: bool,
    },
    /// List, inspect and try out sync policies.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
    /// A walk through every policy on generated data, in a temporary folder.
    Demo {
        /// Keep the demo's folders here instead of a temporary folder.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// Parse the process arguments, run the command, return the exit code.
pub fn run() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    // A service logs what it does by default; one-shot commands stay quiet.
    let default_log = match cli.command {
        Command::Watch { .. } => "conduit=info",
        _ => "error",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CONDUIT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_log)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let home = cli.home.unwrap_or_else(default_home);
    let outcome = match cli.command {
        Command::Policy(cmd) => policy_cmd::run(&home, cmd),
        Command::Demo { dir } => demo::run(dir),
        Command::Sync {
            names,
            all,
            dry_run,
            force,
            json,
        } => sync_cmd::run(&home, names, all, dry_run, force, json),
        Command::Watch {
            names,
            full_rescan,
            json,
        } => watch_cmd::run(&home, names, &full_rescan, json),
        other => conduit_cmd::run(&home, other),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.downcast_ref::<crate::api::UsageError>().is_some() {
                exit::USAGE
            } else {
                exit::ERROR
            }
        }
    }
}

/// The platform's data directory (e.g. `~/.local/share/conduit`).
fn default_home() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("conduit")
}

/// Bytes for people: `1.5 MiB`.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `--keep`'s values, here so that the API's type carries no CLI.
impl clap::ValueEnum for Keep {
    fn value_variants<'a>() -> &'a [Keep] {
        &[Keep::Source, Keep::Destination, Keep::Both]
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let (name, help) = match self {
            Keep::Source => ("source", "The source's version wins"),
            Keep::Destination => ("destination", "The destination's version wins"),
            Keep::Both => (
                "both",
                "The source's version keeps the name; the destination's is kept on both sides \
                 under a conflict name (a folder always keeps the name; a file against it is the \
                 one set aside)",
            ),
        };
        Some(clap::builder::PossibleValue::new(name).help(help))
    }
}
