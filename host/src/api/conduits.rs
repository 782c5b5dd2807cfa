//! Creating, changing and removing conduits.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{Host, SyncReport, usage};
use crate::index::Conduit;
use crate::location::{LocalRoot, Location, Opener};
use crate::place::Place;
use crate::policy::LoadedPolicy;
use crate::scan::Rules;
use crate::settings::Cadence;
use conduit_contract::{Side, options};

/// What `add` needs; see [`NewConduit::new`] for the defaults.
#[derive(Debug, Clone)]
pub struct NewConduit {
    /// The conduit's name: letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// The source root (A), an existing folder.
    pub source: PathBuf,
    /// The destination root (B), an existing folder.
    pub destination: PathBuf,
    /// A policy name (`conduit policy list`).
    pub policy: String,
    /// Settings, `key=value` as typed after `--set`: the policy's options or
    /// host settings (`set` takes the same).
    pub options: Vec<(String, String)>,
    /// When it runs by itself: manual unless set.
    pub cadence: Cadence,
    /// Gitignore-syntax rules.
    pub ignore: Vec<String>,
}

impl NewConduit {
    /// A conduit with no options, manual cadence and no ignore rules.
    pub fn new(
        name: &str,
        source: impl Into<PathBuf>,
        destination: impl Into<PathBuf>,
        policy: &str,
    ) -> NewConduit {
        NewConduit {
            name: name.to_string(),
            source: source.into(),
            destination: destination.into(),
            policy: policy.to_string(),
            options: Vec::new(),
            cadence: Cadence::Manual,
            ignore: Vec::new(),
        }
    }
}

/// Settings of the host itself (not of the policy) that `add --set` and `set` accept.
const HOST_SETTINGS: &[(&str, &str)] = &[
    (
        "cadence",
        "manual, instant, or an interval like 30s, 5m, 1h, 1d",
    ),
    (
        "max-delete",
        "the mass-delete guard: the largest share of a side one run may delete, e.g. 50%",
    ),
    ("trash-days", "days a trashed file is kept, e.g. 30"),
    (
        "keep-owner",
        "yes (the default) or no: as root, copies get the original's owner and group, as rsync -a",
    ),
    (
        "verify-from",
        "where copies are re-read to verify them: media (from the device), cache, or auto (media where a source copy is removed afterwards)",
    ),
    (
        "policy-digest",
        "confirm the policy component a conduit runs after `conduit policy install --replace`: its digest from `conduit policy info`",
    ),
    (
        "bandwidth",
        "transfers with a device at most this many bytes a second, e.g. 10M, or none",
    ),
    (
        "source-capacity",
        "treat the source as a volume of this size holding only this conduit's files, e.g. 50G; `measure` for the real volume",
    ),
];

/// The default mass-delete threshold (a safety guard, docs/architecture.md), in percent.
pub const DEFAULT_MAX_DELETE_PCT: f64 = 50.0;
const DEFAULT_TRASH_DAYS: u32 = 30;

impl Host {
    /// Create a conduit: check everything, then mark both roots.
    pub fn add(&mut self, new: NewConduit) -> anyhow::Result<Conduit> {
        let (mut c, roots) = self.check_new(new)?;
        let [source_marker, destination_marker] = [0, 1].map(|i| {
            roots[i]
                .ensure_marker()
                .map_err(|e| super::UsageError(format!("cannot mark {}: {e}", roots[i])))
        });
        (c.source_marker, c.destination_marker) = (source_marker?, destination_marker?);
        self.index.add_conduit(&c)
    }

    /// What the first run of a conduit not yet created would do: `add`'s
    /// checks, then a dry run. Nothing is written, not even the markers.
    pub fn preview(&mut self, new: NewConduit) -> anyhow::Result<SyncReport> {
        let (c, roots) = self.check_new(new)?;
        let opts = super::SyncOptions {
            dry_run: true,
            ..Default::default()
        };
        self.dry_run_unmarked(&c, roots, &opts)
    }

    /// Every check of `add`, nothing written: the conduit as it would be
    /// stored (without markers) and its roots.
    fn check_new(&self, new: NewConduit) -> anyhow::Result<(Conduit, [Box<dyn Location>; 2])> {
        check_name(&new.name)?;
        if self.index.conduit(&new.name)?.is_some() {
            return usage(format!(
                "a conduit named `{}` already exists (`conduit show {}`); pick another name",
                new.name, new.name
            ));
        }
        let opener = self.opener()?;
        let source = place(&opener, &new.source, "source")?;
        let destination = place(&opener, &new.destination, "destination")?;
        let (a, b) = (source.path(), destination.path());
        if source.device() == destination.device() && a == b {
            return usage(format!(
                "source and destination are the same folder ({source})"
            ));
        }
        if source.device() == destination.device() && (b.starts_with(a) || a.starts_with(b)) {
            let (inner, outer) = if b.starts_with(a) {
                (&destination, &source)
            } else {
                (&source, &destination)
            };
            return usage(format!(
                "{inner} is inside {outer}: a conduit's roots may not be nested (the inner one \
                 would be synced into itself); choose folders side by side"
            ));
        }
        let policy = self.load_policy(&new.policy)?;
        Rules::check(&new.ignore).map_err(|e| super::UsageError(e.to_string()))?;
        let mut c = Conduit {
            id: 0,
            name: new.name,
            source,
            destination,
            source_marker: String::new(),
            destination_marker: String::new(),
            policy: new.policy,
            policy_digest: policy.digest().to_string(),
            options: Vec::new(),
            cadence: new.cadence,
            ignore: new.ignore,
            enabled: true,
            max_delete_pct: DEFAULT_MAX_DELETE_PCT,
            trash_days: DEFAULT_TRASH_DAYS,
            source_capacity: None,
            verify_from: Default::default(),
            keep_owner: true,
            bandwidth: None,
        };
        if let Some(digest) = apply_settings(&mut c, &policy, &new.options)? {
            c.policy_digest = self.check_confirmation(&c, &policy, digest)?;
        }

        if let (Some(source), Some(destination)) = (c.source.local(), c.destination.local()) {
            self.check_disjoint(&[LocalRoot::open(source)?, LocalRoot::open(destination)?])?;
        }
        let roots = [
            opener.open_side(&c, Side::Source)?,
            opener.open_side(&c, Side::Destination)?,
        ];
        // A folder on a device: reachable, a folder, its marker readable.
        let mut markers = Vec::new();
        for root in &roots {
            match root.marker() {
                Ok(marker) => markers.push(marker),
                Err(e) if root.identity()?.is_none() => return usage(format!("{root}: {e}")),
                Err(e) => {
                    return usage(format!(
                        "{root} cannot be a root: {e}; Conduit keeps its marker and trash in \
                         the root's own {} folder",
                        crate::BOOKKEEPING_DIR
                    ));
                }
            }
        }
        if matches!(markers.as_slice(), [Some(a), Some(b)] if a == b) {
            let halt = crate::plan::guards::Halt::SameFolder {
                source: c.source.clone(),
                destination: c.destination.clone(),
            };
            return usage(halt.to_string());
        }
        Ok((c, roots))
    }

    /// Refuse roots that are one folder, or nested, or hold the home, however
    /// the filesystem makes them so (bind mounts and second mounts share a
    /// folder's identity, not its path). Nothing is written.
    fn check_disjoint(&self, roots: &[LocalRoot; 2]) -> anyhow::Result<()> {
        let ids = [roots[0].dev_ino()?, roots[1].dev_ino()?];
        let markers = [roots[0].marker(), roots[1].marker()];
        for (root, marker) in roots.iter().zip(&markers) {
            if let Err(e) = marker {
                return usage(format!(
                    "{} cannot be a root: {e}; Conduit keeps its marker and trash in the root's \
                     own {} folder",
                    root.path().display(),
                    crate::BOOKKEEPING_DIR
                ));
            }
        }
        let same_marker = matches!(&markers, [Ok(Some(a)), Ok(Some(b))] if a == b);
        if ids[0] == ids[1] || same_marker {
            let halt = crate::plan::guards::Halt::SameFolder {
                source: Place::Local(roots[0].path().to_path_buf()),
                destination: Place::Local(roots[1].path().to_path_buf()),
            };
            return usage(halt.to_string());
        }
        let inside = |path: &Path, id: (u64, u64)| {
            path.ancestors()
                .filter_map(|p| std::fs::metadata(p).ok())
                .any(|m| (m.dev(), m.ino()) == id)
        };
        for (inner, outer, id) in [(1, 0, ids[0]), (0, 1, ids[1])] {
            if inside(roots[inner].path(), id) {
                return usage(format!(
                    "{} is inside {} (through a bind mount or a second mount): a conduit's \
                     roots may not be nested; choose folders side by side",
                    roots[inner].path().display(),
                    roots[outer].path().display()
                ));
            }
        }
        let home = std::fs::canonicalize(&self.home)?;
        for (root, id) in roots.iter().zip(ids) {
            if inside(&home, id) {
                return usage(format!(
                    "the Conduit home {} is inside the root {}: a sync would take Conduit's own \
                     index for data; choose another --home, or another root",
                    home.display(),
                    root.path().display()
                ));
            }
        }
        Ok(())
    }

    /// Change settings: host settings (`cadence`, `max-delete`,
    /// `trash-days`) or the policy's options. All are checked before any is
    /// saved.
    pub fn set(&mut self, name: &str, settings: &[(String, String)]) -> anyhow::Result<Conduit> {
        // A stored cadence that no longer reads makes the conduit unusable
        // until a valid one is set: this is the one place that may write it
        // without reading the rest first.
        let repair = settings
            .iter()
            .rev()
            .find(|(k, _)| k == "cadence")
            .and_then(|(_, v)| v.parse::<Cadence>().ok());
        let mut c = match (self.conduit(name), repair) {
            (Ok(c), _) => c,
            (Err(_), Some(cadence)) if self.index.repair_cadence(name, cadence)? => {
                self.conduit(name)?
            }
            (Err(e), _) => return Err(e),
        };
        let policy = self.policy(&c)?;
        if let Some(digest) = apply_settings(&mut c, &policy, settings)? {
            c.policy_digest = self.check_confirmation(&c, &policy, digest)?;
        }
        self.index.update_conduit(&c)?;
        Ok(c)
    }

    /// Stop (`false`) or restart (`true`) scheduled runs of a conduit.
    pub fn set_enabled(&mut self, name: &str, enabled: bool) -> anyhow::Result<Conduit> {
        let mut c = self.conduit(name)?;
        c.enabled = enabled;
        self.index.update_conduit(&c)?;
        Ok(c)
    }

    /// Forget a conduit. Its files, trash and root markers stay on disk.
    pub fn remove(&mut self, name: &str) -> anyhow::Result<Conduit> {
        let c = self.conduit(name)?;
        // Not under a run: it would go on writing rows for a removed conduit.
        let _lock = self.lock(&c)?;
        self.index.remove_conduit(c.id)?;
        Ok(c)
    }
}

/// Apply `key=value` settings, as `add --set` and `set` take them, to `c`:
/// host settings are parsed here, any other key is one of the policy's
/// options, and the result is checked against the policy's schema. Nothing
/// is saved. Returns the `policy-digest` confirmation, if one was given.
fn apply_settings<'a>(
    c: &mut Conduit,
    policy: &LoadedPolicy,
    settings: &'a [(String, String)],
) -> anyhow::Result<Option<&'a str>> {
    let mut policy_options = c.options.clone();
    let mut confirmed_digest = None;
    for (key, value) in settings {
        match key.as_str() {
            "policy-digest" => confirmed_digest = Some(value.as_str()),
            "cadence" => c.cadence = value.parse().map_err(super::UsageError)?,
            "max-delete" => {
                let pct: f64 = value.trim_end_matches('%').parse().map_err(|_| {
                    super::UsageError(format!(
                        "max-delete must be a percentage like 50%, not {value:?}"
                    ))
                })?;
                if !(0.0..=100.0).contains(&pct) {
                    return usage(format!(
                        "max-delete must be between 0% and 100%, not {value}"
                    ));
                }
                c.max_delete_pct = pct;
            }
            "trash-days" => {
                c.trash_days = value.parse().map_err(|_| {
                    super::UsageError(format!(
                        "trash-days must be a whole number of days, not {value:?}"
                    ))
                })?;
            }
            "verify-from" => c.verify_from = value.parse().map_err(super::UsageError)?,
            "keep-owner" => {
                c.keep_owner = match value.as_str() {
                    "yes" | "true" => true,
                    "no" | "false" => false,
                    _ => {
                        return usage(format!("keep-owner must be yes or no, not {value:?}"));
                    }
                }
            }
            "bandwidth" if value == "none" => c.bandwidth = None,
            "bandwidth" => {
                c.bandwidth = match conduit_contract::units::parse_size(value) {
                    Some(n) if n > 0 => Some(n),
                    _ => {
                        return usage(format!(
                            "bandwidth must be bytes a second like 10M (or `none`), not {value:?}"
                        ));
                    }
                };
            }
            "source-capacity" if value == "measure" => c.source_capacity = None,
            "source-capacity" => {
                c.source_capacity =
                    Some(conduit_contract::units::parse_size(value).ok_or_else(|| {
                        super::UsageError(format!(
                            "source-capacity must be a size like 50G (or `measure`), not {value:?}"
                        ))
                    })?);
            }
            _ => {
                policy_options.retain(|(k, _)| k != key);
                policy_options.push((key.clone(), value.clone()));
            }
        }
    }
    options::resolve(policy.info(), &policy_options).map_err(|m| {
        let host: Vec<String> = HOST_SETTINGS
            .iter()
            .map(|(k, help)| format!("{k} ({help})"))
            .collect();
        super::UsageError(format!(
            "invalid setting: {m}; host settings: {}",
            host.join("; ")
        ))
    })?;
    c.options = policy_options;
    Ok(confirmed_digest)
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        // `.` and `..` mean something else in paths and URLs.
        && name.chars().any(|c| c != '.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        usage(format!(
            "{name:?} is not a usable conduit name: use up to 64 letters, digits, `-`, `_` or `.`"
        ))
    }
}

/// An existing folder, made absolute and free of symlinks.
/// A root as typed: an existing folder here, or an absolute path on a
/// paired device.
fn place(opener: &Opener, typed: &Path, what: &str) -> anyhow::Result<Place> {
    let parsed = match typed.to_str() {
        Some(text) => Place::parse(text),
        None => Place::Local(typed.to_path_buf()),
    };
    match parsed {
        Place::Local(path) => Ok(Place::Local(existing_dir(&path, what)?)),
        Place::Device { device, path } => {
            opener.device(&device).map_err(|e| {
                super::UsageError(format!(
                    "the {what} {}: {e} (a local folder with a colon in its name is written ./{})",
                    typed.display(),
                    typed.display()
                ))
            })?;
            if !path.is_absolute()
                || path
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return usage(format!(
                    "the {what} {}: a folder on a device is given by its absolute path, as in \
                     {device}:/home/me/Documents",
                    typed.display()
                ));
            }
            Ok(Place::Device { device, path })
        }
    }
}

fn existing_dir(path: &Path, what: &str) -> anyhow::Result<PathBuf> {
    match std::fs::canonicalize(path) {
        Ok(p) if p.is_dir() => Ok(p),
        Ok(p) => usage(format!("the {what} {} is not a folder", p.display())),
        Err(e) => usage(format!(
            "the {what} {} cannot be used: {e} (create the folder first, or check the path)",
            path.display()
        )),
    }
}
