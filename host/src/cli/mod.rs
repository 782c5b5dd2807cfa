//! The `conduit` command line (DESIGN §7): parses arguments, calls the
//! library, prints for people or as JSON, and maps outcomes to exit codes.

mod policy_cmd;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Exit codes of DESIGN §7.
pub mod exit {
    pub const OK: i32 = 0;
    pub const ERROR: i32 = 1;
    pub const USAGE: i32 = 2;
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
    /// List, inspect and try out sync policies.
    #[command(subcommand)]
    Policy(policy_cmd::PolicyCommand),
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
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("CONDUIT_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let home = cli.home.unwrap_or_else(default_home);
    let outcome = match cli.command {
        Command::Policy(cmd) => policy_cmd::run(&home, cmd),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            exit::ERROR
        }
    }
}

/// The platform's data directory (e.g. `~/.local/share/conduit`).
fn default_home() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("conduit")
}
