//! The embedding API: everything the `conduit` command does, as a library.
//!
//! ```no_run
//! use conduit::api::{Host, NewConduit, SyncOptions};
//! # fn main() -> anyhow::Result<()> {
//! let mut host = Host::open("/tmp/conduit-home".as_ref())?;
//! host.add(NewConduit::new("photos", "/data/photos", "/backup/photos", "replicate"))?;
//! let report = host.sync("photos", &SyncOptions::default(), &|event| eprintln!("{event:?}"))?;
//! assert!(report.halted.is_none());
//! # Ok(()) }
//! ```
//!
//! A [`Host`] owns one home folder: the index database, the compiled-policy
//! cache and the per-conduit run locks. Runs of different conduits may
//! proceed in different processes at once; two runs of one conduit may not.

mod conduits;
mod devices;
pub mod json;
mod policies;
mod repair;
pub(crate) mod served;
mod status;
mod sync;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::settings::Cadence;
pub use conduits::NewConduit;
pub use devices::DeviceListing;
pub use policies::{InstallOptions, InstallReport, PolicyListing};
pub use repair::{Keep, Purged, RestoreChoice, Restored, TrashedVersion, VerifyReport};
pub use served::{Served, ServiceState};
pub use status::{ConduitStatus, OffloadedFile};
pub use sync::{Event, RunInProgress, SyncOptions};

use crate::exec::Counts;
use crate::index::{Conduit, Index};
pub use crate::plan::guards::Halt;
use crate::policy::{LoadedPolicy, Runtime};

/// A mistake in what the caller asked for (a bad name, path or option): the
/// CLI maps it to exit code 2. Nothing was changed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Shorthand for refusing a request with a [`UsageError`].
fn usage<T>(message: impl Into<String>) -> anyhow::Result<T> {
    Err(UsageError(message.into()).into())
}

/// The version of the JSON that `--json` prints (docs/json.md): raised
/// when a field changes meaning or goes away, not when one is added.
pub const JSON_SCHEMA: u32 = 1;

/// The result of one sync run of one conduit: what `sync --json` prints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncReport {
    /// The conduit's name.
    pub conduit: String,
    /// The run's number in the conduit's history, counted per conduit from
    /// 1 and never reused (0 for a dry run, which records nothing, and for
    /// a run halted before it began).
    pub generation: i64,
    /// When the run started (RFC 3339, UTC).
    #[serde(default)]
    pub started: String,
    /// When it ended (RFC 3339, UTC); empty while running or after a crash.
    #[serde(default)]
    pub ended: String,
    /// `started` in ns, for the run itself.
    #[serde(skip)]
    pub(crate) started_ns: i64,
    /// True when the run only planned.
    pub dry_run: bool,
    /// Why a safety guard stopped the run; nothing was changed on disk.
    pub halted: Option<Halt>,
    /// What the run did (flattened into the JSON object).
    #[serde(flatten)]
    pub counts: Counts,
    /// Paths the scan could not read (they block deletes for the run).
    pub scan_errors: Vec<String>,
    /// Names that are not valid UTF-8 (shown lossily), and FIFOs, sockets
    /// and device files: not synced.
    pub unsupported_names: Vec<String>,
    /// Failed and skipped actions, one line each.
    pub problems: Vec<String>,
    /// Every conflict detected, how it was settled and where the losing
    /// versions are kept (`conflicts` counts them).
    #[serde(default)]
    pub conflict_list: Vec<crate::plan::ConflictSeen>,
    /// Path by path, what the run did and why (`history NAME GEN`), or
    /// what a dry run would do. Kept in the journal, not in the report.
    #[serde(skip_serializing_if = "Vec::is_empty", skip_deserializing)]
    pub items: Vec<Item>,
    /// Wall time of the run.
    pub duration_ms: u64,
}

/// One action on one path: what a run did and why, or what a dry run
/// would do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// The entry's path, relative to the roots.
    pub path: String,
    /// The journal's verb: copy, delete, rename, move-to-destination, …
    pub action: String,
    /// The change that led to it: `new on the source`, `mode changed on
    /// the destination`, …
    pub why: String,
    /// done, failed or skipped; absent in a dry run's plan.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The action in words (where to), or what went wrong.
    pub detail: Option<String>,
    /// Where the versions it displaced went, inside their root's trash.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trashed: Vec<String>,
}

impl Item {
    /// Action `a` of a plan, not yet done (a dry run's).
    pub(crate) fn planned(
        entries: &[conduit_contract::Entry],
        a: &conduit_contract::Action,
    ) -> Item {
        let e = &entries[a.entry as usize];
        Item {
            path: e.path.clone(),
            action: crate::index::Verb::from(&a.operation).name().to_string(),
            why: crate::plan::reason(e),
            outcome: None,
            detail: Some(crate::plan::describe_action(entries, a)),
            trashed: Vec::new(),
        }
    }

    /// A journal row as the API shows it.
    pub(crate) fn done(row: &crate::index::JournalRow) -> Item {
        Item {
            path: row.path.clone(),
            action: row.verb.name().to_string(),
            why: row.why.clone(),
            outcome: Some(row.ended.name().to_string()),
            detail: row.detail.clone(),
            trashed: row.trashed.clone(),
        }
    }
}

/// A home folder opened for use.
pub struct Host {
    home: PathBuf,
    index: Index,
    runtime: Runtime,
}

impl Host {
    /// Open (creating if needed) the home at `home`.
    pub fn open(home: &Path) -> anyhow::Result<Host> {
        let index = Index::open(&crate::index::path(home))?;
        let runtime = Runtime::new(Some(home.join("cache").join("policies")))?;
        Ok(Host {
            home: home.to_path_buf(),
            index,
            runtime,
        })
    }

    /// The home folder this host uses.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Opens the roots of this home's conduits, here or on its devices.
    pub fn opener(&self) -> anyhow::Result<crate::location::Opener> {
        Ok(crate::location::Opener::new(
            &self.home,
            self.index.devices()?,
        ))
    }

    /// The policy runtime (to load and inspect policies).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// All conduits, by name.
    pub fn conduits(&self) -> anyhow::Result<Vec<Conduit>> {
        self.index.conduits()
    }

    /// One conduit by name, or an error that lists the known ones.
    pub fn conduit(&self, name: &str) -> anyhow::Result<Conduit> {
        if let Some(c) = self.index.conduit(name)? {
            return Ok(c);
        }
        let known: Vec<String> = self.index.conduits()?.into_iter().map(|c| c.name).collect();
        usage(if known.is_empty() {
            format!("no conduit named `{name}`: there are none yet (create one with `conduit add`)")
        } else {
            format!(
                "no conduit named `{name}`; known conduits: {}",
                known.join(", ")
            )
        })
    }

    /// The policy a conduit uses.
    fn policy(&self, c: &Conduit) -> anyhow::Result<LoadedPolicy> {
        self.load_policy(&c.policy)
    }

    /// The conduit's recent runs, newest first.
    pub fn history(&self, name: &str, limit: usize) -> anyhow::Result<Vec<SyncReport>> {
        let c = self.conduit(name)?;
        self.index
            .generations(c.id, limit)?
            .into_iter()
            .map(|g| report_of(&c, g))
            .collect()
    }

    /// Run `generation` of conduit `name`, with every action it took.
    pub fn run_record(&self, name: &str, generation: i64) -> anyhow::Result<SyncReport> {
        let c = self.conduit(name)?;
        let Some(g) = self.index.generation(c.id, generation)? else {
            let last = self
                .index
                .generations(c.id, 1)?
                .first()
                .map_or(0, |g| g.number);
            return usage(match last {
                0 => format!("`{}` has not run yet", c.name),
                last => format!(
                    "`{}` has no generation {generation}: its runs are numbered 1 to {last} \
                     (`conduit history {}` lists them)",
                    c.name, c.name
                ),
            });
        };
        let mut report = report_of(&c, g)?;
        report.items = self
            .index
            .journal(c.id, generation)?
            .iter()
            .map(Item::done)
            .collect();
        Ok(report)
    }

    /// Open conflicts of a conduit: (path, reason).
    pub fn conflicts(&self, name: &str) -> anyhow::Result<Vec<(String, String)>> {
        let c = self.conduit(name)?;
        Ok(self
            .index
            .conflicts(c.id)?
            .into_iter()
            .map(|(path, reason, _)| (path, reason))
            .collect())
    }
}

/// An open conflict with both sides as they are on disk now (for a side
/// by side view).
#[derive(Debug, Clone, Serialize)]
pub struct ConflictSides {
    /// The entry in conflict.
    pub path: String,
    /// What the policy said of it.
    pub reason: String,
    /// The source's version; `None` where it is absent.
    pub source: Option<SideVersion>,
    /// The destination's version; `None` where it is absent.
    pub destination: Option<SideVersion>,
}

/// One side's version of a path.
#[derive(Debug, Clone, Serialize)]
pub struct SideVersion {
    /// file, directory or symlink.
    pub kind: &'static str,
    /// Bytes.
    pub size: u64,
    /// Modification time (RFC 3339, UTC).
    pub mtime: String,
}

impl Host {
    /// Open conflicts of a conduit, each side looked at now. Fails, like a
    /// run, when a root is missing or not the conduit's.
    pub fn conflict_sides(&self, name: &str) -> anyhow::Result<Vec<ConflictSides>> {
        let c = self.conduit(name)?;
        let roots = self.ready_roots(&c)?;
        let look = |side: conduit_contract::Side, path: &str| -> anyhow::Result<_> {
            Ok(roots[side.index()].stat(path)?.map(|r| SideVersion {
                kind: r.kind.name(),
                size: r.size,
                mtime: crate::clock::rfc3339(r.mtime_ns),
            }))
        };
        self.conflicts(name)?
            .into_iter()
            .map(|(path, reason)| {
                Ok(ConflictSides {
                    source: look(conduit_contract::Side::Source, &path)?,
                    destination: look(conduit_contract::Side::Destination, &path)?,
                    path,
                    reason,
                })
            })
            .collect()
    }
}

/// A recorded run as its report; a run that never ended says so.
fn report_of(c: &Conduit, g: crate::index::Generation) -> anyhow::Result<SyncReport> {
    let mut report: SyncReport = match &g.report {
        Some(json) => serde_json::from_str(json)?,
        None => SyncReport {
            conduit: c.name.clone(),
            halted: Some(Halt::Recorded(
                "interrupted: the run did not finish (crash or kill); the next run \
                             redoes its work"
                    .into(),
            )),
            ..SyncReport::default()
        },
    };
    report.generation = g.number;
    report.dry_run = g.dry_run;
    report.started = crate::clock::rfc3339(g.started_ns);
    report.ended = g.ended_ns.map(crate::clock::rfc3339).unwrap_or_default();
    Ok(report)
}
