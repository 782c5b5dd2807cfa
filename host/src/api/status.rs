//! Where each conduit stands, as `conduit status` and `conduit status --json`
//! show it: decided here once, rendered by every front end.

use serde::Serialize;

use super::{Cadence, Host, Served, ServiceState, SyncReport};

/// One conduit's status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConduitStatus {
    /// The conduit's name.
    pub conduit: String,
    /// Its policy's name.
    pub policy: String,
    /// When it runs by itself.
    pub cadence: Cadence,
    /// What it is doing: the service's word when a service serves it;
    /// otherwise paused (by the user), halted (its last run was) or idle.
    pub state: ServiceState,
    /// A service serves it.
    pub watched: bool,
    /// Its latest run.
    pub last_run: Option<SyncReport>,
    /// Open conflicts.
    pub conflicts: usize,
    /// Files whose only copy is in the destination.
    pub offloaded: usize,
    /// Their bytes.
    pub offloaded_bytes: u64,
    /// What the serving process published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<Served>,
    /// The offloaded files, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offloaded_files: Option<Vec<OffloadedFile>>,
}

/// A file whose only copy is in the destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OffloadedFile {
    /// Its path, relative to the roots.
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
}

impl Host {
    /// Where conduit `name` stands; `list_offloaded` adds the offloaded
    /// files themselves.
    pub fn status(&self, name: &str, list_offloaded: bool) -> anyhow::Result<ConduitStatus> {
        let c = self.conduit(name)?;
        let last_run = self.history(name, 1)?.into_iter().next();
        let offloaded = self.offloaded(name)?;
        let service = super::served::served(&self.home, c.id);
        let state = match &service {
            Some(s) => s.state,
            None if !c.enabled => ServiceState::Paused,
            None if last_run.as_ref().is_some_and(|r| r.halted.is_some()) => ServiceState::Halted,
            None => ServiceState::Idle,
        };
        Ok(ConduitStatus {
            conduit: c.name,
            policy: c.policy,
            cadence: c.cadence,
            state,
            watched: service.is_some(),
            last_run,
            conflicts: self.conflicts(name)?.len(),
            offloaded: offloaded.len(),
            offloaded_bytes: offloaded.iter().map(|(_, size)| size).sum(),
            service,
            offloaded_files: list_offloaded.then(|| {
                offloaded
                    .into_iter()
                    .map(|(path, size)| OffloadedFile { path, size })
                    .collect()
            }),
        })
    }
}
