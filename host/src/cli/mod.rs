//! The `conduit` command line (its contract: docs/architecture.md): parses
//! arguments, calls the library ([`crate::api`]), prints for people or as
//! JSON, and maps outcomes to exit codes.

mod conduit_cmd;
mod demo;
mod device_cmd;
mod policy_cmd;
mod sync_cmd;
mod watch_cmd;

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

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
    /// Say more: each action as it is done (sync), info logs.
    #[arg(short, long, global = true, conflicts_with = "quiet")]
    verbose: bool,
    /// Say less: no progress bar, no report unless something went wrong.
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Colour in the output: auto (a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// Also append the log (at the level CONDUIT_LOG or -v sets) to this file.
    #[arg(long, global = true, value_name = "FILE")]
    log_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// `--color`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// How much to print and how: parsed once from the global flags.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Output {
    pub verbose: bool,
    pub quiet: bool,
    pub color: bool,
}

/// What a coloured span means.
#[derive(Clone, Copy)]
pub(crate) enum Paint {
    Error,
    Warn,
}

impl Output {
    /// `text` in the colour for `what`, when colour is on.
    pub fn paint(&self, what: Paint, text: &str) -> String {
        if !self.color {
            return text.to_string();
        }
        let code = match what {
            Paint::Error => "31",
            Paint::Warn => "33",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }
}

impl ColorChoice {
    /// Colour for a stream: `always`, or `auto` on a terminal without
    /// `NO_COLOR` (https://no-color.org: set and not empty).
    fn enabled(self, terminal: bool) -> bool {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => terminal && !no_color,
        }
    }
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
    /// Past runs of a conduit, newest first; with GEN, what that run did to
    /// each path and why.
    History {
        name: String,
        /// A generation number (`conduit history NAME` lists them).
        generation: Option<i64>,
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
    /// Bring back a trashed version of a path (the newest unless told), on
    /// both sides; what stood there goes to the trash.
    Restore {
        name: String,
        path: String,
        /// The version to bring back: its number in `conduit trash NAME PATH`
        /// (1 is the newest).
        #[arg(long, value_name = "N", conflicts_with = "before")]
        version: Option<usize>,
        /// The newest version trashed before this time: a date
        /// (2026-12-01), a timestamp (2026-12-01T10:00:00Z) or an age (2d).
        #[arg(long, value_name = "WHEN")]
        before: Option<String>,
        /// Restore under this path instead (nothing there is replaced).
        #[arg(long, value_name = "PATH")]
        to: Option<String>,
    },
    /// What the trash of a conduit holds: every version, newest first.
    Trash {
        name: String,
        /// Only versions of this path (or below this folder).
        path: Option<String>,
        /// Remove versions for good instead of listing them (with --older-than).
        #[arg(long, requires = "older_than")]
        purge: bool,
        /// With --purge: only versions trashed longer ago than this (30d, 1y).
        #[arg(long, value_name = "AGE", requires = "purge")]
        older_than: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Re-hash both sides against the index.
    Verify {
        name: String,
        /// Put a corrupted copy right from the side that still matches the
        /// index (the bad copy goes to the trash).
        #[arg(long)]
        repair: bool,
        #[arg(long)]
        json: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), e.g. `conduit man | man -l -`.
    Man,
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
        /// Also answer paired devices, listening on this address (e.g. 0.0.0.0:8378).
        #[arg(long, value_name = "ADDR")]
        devices: Option<String>,
        /// How often instant conduits get a full rescan anyway (watchers miss events).
        #[arg(long, default_value = "1h", value_name = "INTERVAL")]
        full_rescan: String,
        /// One JSON object per event on stdout.
        #[arg(long)]
        json: bool,
    },
    /// `watch`, plus the HTTP API and the web UI (docs/http-api.md), until SIGINT/SIGTERM.
    Serve {
        /// Conduits to run by cadence (default: all); the API reaches every one.
        names: Vec<String>,
        /// The address to listen on (port 0: any free port).
        #[arg(long, default_value = crate::serve::DEFAULT_LISTEN, value_name = "ADDR")]
        listen: String,
        /// Allow a --listen address other than loopback (unencrypted; only the key protects it).
        #[arg(long)]
        expose: bool,
        /// Also answer paired devices, listening on this address (e.g. 0.0.0.0:8378).
        #[arg(long, value_name = "ADDR")]
        devices: Option<String>,
        /// Print the API key (making it on first use) and exit.
        #[arg(long)]
        print_key: bool,
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
    /// This home's device ID, and the devices paired with it.
    #[command(subcommand)]
    Device(device_cmd::DeviceCommand),
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
    use std::io::IsTerminal;
    let out = Output {
        verbose: cli.verbose,
        quiet: cli.quiet,
        color: cli.color.enabled(std::io::stdout().is_terminal()),
    };
    let stderr_color = cli.color.enabled(std::io::stderr().is_terminal());
    if let Err(e) = init_logging(
        &cli.command,
        cli.verbose,
        stderr_color,
        cli.log_file.as_deref(),
    ) {
        eprintln!("error: {e:#}");
        return exit::USAGE;
    }
    let home = cli.home.unwrap_or_else(default_home);
    let outcome = match cli.command {
        Command::Policy(cmd) => policy_cmd::run(&home, cmd),
        Command::Device(cmd) => device_cmd::run(&home, cmd),
        Command::Demo { dir } => demo::run(dir, out),
        Command::Sync {
            names,
            all,
            dry_run,
            force,
            json,
        } => sync_cmd::run(&home, names, all, dry_run, force, json, out),
        Command::Watch {
            names,
            devices,
            full_rescan,
            json,
        } => watch_cmd::run(&home, names, devices, &full_rescan, json, out),
        Command::Serve {
            names,
            listen,
            expose,
            devices,
            print_key,
            full_rescan,
            json,
        } => match print_key {
            true => crate::serve::api_key(&home).map(|key| {
                println!("{key}");
                exit::OK
            }),
            false => watch_cmd::serve(
                &home,
                watch_cmd::Serving {
                    names,
                    listen,
                    expose,
                    devices,
                },
                &full_rescan,
                json,
                out,
            ),
        },
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "conduit",
                &mut std::io::stdout(),
            );
            Ok(exit::OK)
        }
        Command::Man => clap_mangen::Man::new(Cli::command())
            .render(&mut std::io::stdout())
            .map(|()| exit::OK)
            .map_err(anyhow::Error::from),
        other => conduit_cmd::run(&home, other, out),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            let message = format!("error: {e:#}");
            eprintln!(
                "{}",
                match stderr_color {
                    true => Output { color: true, ..out }.paint(Paint::Error, &message),
                    false => message,
                }
            );
            if e.downcast_ref::<crate::api::UsageError>().is_some() {
                exit::USAGE
            } else {
                exit::ERROR
            }
        }
    }
}

/// Logs go to stderr (and to `--log-file`): a service logs what it does by
/// default, one-shot commands only errors unless `-v`; `CONDUIT_LOG`
/// (a tracing filter) overrides both.
fn init_logging(
    command: &Command,
    verbose: bool,
    color: bool,
    log_file: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use tracing_subscriber::prelude::*;
    let default_log = match (command, verbose) {
        (Command::Watch { .. } | Command::Serve { .. }, _) | (_, true) => "conduit=info",
        _ => "error",
    };
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_env("CONDUIT_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_log))
    };
    let file = match log_file {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| anyhow::anyhow!("cannot open the log file {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_filter(filter());
    let file = file.map(|f| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::sync::Mutex::new(f))
            .with_ansi(false)
            .with_filter(filter())
    });
    tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .init();
    Ok(())
}

/// Milliseconds for people: `0.4 s`, `12 s`, `3 min 20 s`, `2 h 5 min`.
pub(crate) fn human_duration(ms: u64) -> String {
    let secs = ms / 1000;
    match secs {
        0..10 => format!("{:.1} s", ms as f64 / 1000.0),
        10..60 => format!("{secs} s"),
        60..3600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
    }
}

/// The platform's data directory (e.g. `~/.local/share/conduit`).
fn default_home() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("conduit")
}

/// `value` as `--json` prints it: every object at the top (or, for a list,
/// every object in it) carries `schema`, the version of docs/json.md it
/// follows.
pub(crate) fn json(value: &impl serde::Serialize, pretty: bool) -> anyhow::Result<String> {
    let mut value = serde_json::to_value(value)?;
    let stamp = |v: &mut serde_json::Value| {
        if let Some(object) = v.as_object_mut() {
            object.shift_insert(0, "schema".into(), crate::api::JSON_SCHEMA.into());
        }
    };
    match value.as_array_mut() {
        Some(list) => list.iter_mut().for_each(stamp),
        None => stamp(&mut value),
    }
    Ok(match pretty {
        true => serde_json::to_string_pretty(&value)?,
        false => serde_json::to_string(&value)?,
    })
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
        &Keep::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let help = match self {
            Keep::Source => "The source's version wins",
            Keep::Destination => "The destination's version wins",
            Keep::Both => {
                "The source's version keeps the name; the destination's is kept on both sides \
                 under a conflict name (a folder always keeps the name; a file against it is the \
                 one set aside)"
            }
        };
        Some(clap::builder::PossibleValue::new(self.name()).help(help))
    }
}
