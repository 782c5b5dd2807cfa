//! What a running service tells other processes about the conduits it
//! serves: a lock file held while serving (so a second service cannot serve
//! the same conduit, and a dead one never looks alive) and a small state
//! file beside it, replaced atomically on every change.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where a served conduit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    /// Waiting for changes or for its next scheduled run.
    Idle,
    /// A run is scanning the roots.
    Scanning,
    /// A run is carrying out its plan.
    Syncing,
    /// Not running by itself: paused by the user, or a root is missing.
    Paused,
    /// The last run was stopped by a safety guard; it runs again on the
    /// next change or schedule and halts again until the cause is fixed.
    Halted,
}

impl std::fmt::Display for ServiceState {
    /// The word `--json` uses too.
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(match self {
            ServiceState::Idle => "idle",
            ServiceState::Scanning => "scanning",
            ServiceState::Syncing => "syncing",
            ServiceState::Paused => "paused",
            ServiceState::Halted => "halted",
        })
    }
}

/// A served conduit's state, as `conduit status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Served {
    /// The state.
    pub state: ServiceState,
    /// Why it is paused or halted, or what the last run reported.
    pub detail: Option<String>,
    /// When the last run by the service ended (ns since the epoch).
    pub last_run_ns: Option<i64>,
    /// When the next scheduled run is due (interval cadences and periodic
    /// full rescans), ns since the epoch.
    pub next_run_ns: Option<i64>,
    /// The serving process.
    pub pid: u32,
}

/// Held by the service for each conduit it serves.
pub(crate) struct ServedLock {
    _lock: File,
    state_file: PathBuf,
}

fn lock_path(home: &Path, conduit: i64) -> PathBuf {
    home.join("locks").join(format!("{conduit}.watch"))
}

fn state_path(home: &Path, conduit: i64) -> PathBuf {
    home.join("watch").join(format!("{conduit}.json"))
}

impl ServedLock {
    /// Take the conduit; `None` when another service already serves it.
    pub(crate) fn acquire(home: &Path, conduit: i64) -> anyhow::Result<Option<ServedLock>> {
        let path = lock_path(home, conduit);
        std::fs::create_dir_all(path.parent().expect("under the home"))?;
        std::fs::create_dir_all(home.join("watch"))?;
        Ok(crate::locks::take(&path)?.map(|file| ServedLock {
            _lock: file,
            state_file: state_path(home, conduit),
        }))
    }

    /// Publish `served` for readers.
    pub(crate) fn publish(&self, served: &Served) {
        let temp = self.state_file.with_extension("json.tmp");
        let written = serde_json::to_vec(served)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&temp, bytes))
            .and_then(|()| std::fs::rename(&temp, &self.state_file));
        if let Err(e) = written {
            tracing::warn!("cannot publish the service state: {e}");
        }
    }
}

impl Drop for ServedLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.state_file);
    }
}

/// The state a running service published for `conduit`, or `None` when no
/// service serves it.
pub(super) fn served(home: &Path, conduit: i64) -> Option<Served> {
    let lock = File::open(lock_path(home, conduit)).ok()?;
    match lock.try_lock() {
        // Nobody holds it: a service that died leaves no live state behind.
        Ok(()) => None,
        Err(std::fs::TryLockError::WouldBlock) => {
            let bytes = std::fs::read(state_path(home, conduit)).ok()?;
            serde_json::from_slice(&bytes).ok()
        }
        Err(std::fs::TryLockError::Error(_)) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::ServiceState;

    #[test]
    fn a_state_reads_as_its_json_word() {
        use ServiceState::*;
        for state in [Idle, Scanning, Syncing, Paused, Halted] {
            let json = serde_json::to_value(state).unwrap();
            assert_eq!(json.as_str(), Some(state.to_string().as_str()));
        }
    }
}
