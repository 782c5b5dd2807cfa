//! Putting things right by hand: `restore` from the trash, `resolve` a
//! conflict, `verify` what is on disk against the index, pins and
//! `hydrate`. Each change runs through the same executor as a sync, on a
//! single entry built from a fresh look at both sides.

use std::collections::HashMap;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Serialize;

use super::{Host, usage};
use crate::exec::manifest::{self, ManifestEntry};
use crate::exec::{self, Outcome, Run};
use crate::index::{Conduit, Record};
use crate::location::Location;
use crate::plan::{self, guards};
use crate::scan::{Rules, Walk};
use conduit_contract::{Action, Entry, Kind, Operation, Rename, Side, Transfer};

/// Which version `resolve` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The source's version wins.
    Source,
    /// The destination's version wins.
    Destination,
    /// The source's version keeps the name; the destination's is kept on
    /// both sides under a conflict name (a folder always keeps the name; a
    /// file against it is the one set aside).
    Both,
}

impl Keep {
    /// Every choice.
    pub const ALL: [Keep; 3] = [Keep::Source, Keep::Destination, Keep::Both];

    /// The word `--keep` and the HTTP API take.
    pub fn name(self) -> &'static str {
        match self {
            Keep::Source => "source",
            Keep::Destination => "destination",
            Keep::Both => "both",
        }
    }
}

impl std::str::FromStr for Keep {
    type Err = String;

    fn from_str(text: &str) -> Result<Keep, String> {
        Keep::ALL
            .into_iter()
            .find(|k| k.name() == text)
            .ok_or_else(|| format!("keep {text:?}: expected source, destination or both"))
    }
}

/// What `verify` found.
#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    /// The conduit's name.
    pub conduit: String,
    /// Files re-read and found identical to the index.
    pub verified: u64,
    /// Bytes re-read and matched.
    pub bytes: u64,
    /// Files whose content differs although size and mtime did not change
    /// (bit rot, tampering): `side path: what`.
    pub corrupted: Vec<String>,
    /// Files changed or gone since the last scan (a sync will handle them).
    pub changed: Vec<String>,
    /// Entries of the destination's archive manifest checked (each must
    /// still hold the content archive recorded).
    pub archived: u64,
    /// With `--repair`: corrupted files put right from the other side,
    /// and where each corrupted copy went.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repaired: Vec<String>,
    /// With `--repair`: corrupted files that could not be put right, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unrepaired: Vec<String>,
}

/// One version in a conduit's trash.
#[derive(Debug, Clone, Serialize)]
pub struct TrashedVersion {
    /// Its number among the versions of its path, 1 the newest (0 when
    /// not counted).
    pub version: usize,
    /// The path it had, relative to the roots.
    pub path: String,
    /// The root whose trash holds it: source or destination.
    pub side: &'static str,
    /// Where it is, relative to that root.
    pub trashed_as: String,
    /// file, directory or symlink.
    pub kind: &'static str,
    /// Bytes.
    pub size: u64,
    /// When it went to the trash (RFC 3339, UTC).
    pub trashed: String,
    /// The run that put it there.
    pub generation: Option<i64>,
}

impl TrashedVersion {
    fn of(t: crate::index::TrashRecord, version: usize) -> TrashedVersion {
        TrashedVersion {
            version,
            path: t.path,
            side: t.side.name(),
            trashed_as: t.trashed_as,
            kind: t.kind.name(),
            size: t.size,
            trashed: crate::clock::rfc3339(t.trashed_ns),
            generation: t.generation,
        }
    }
}

/// Which trashed version `restore` brings back, and where.
#[derive(Debug, Clone, Default)]
pub struct RestoreChoice {
    /// Its number in [`Host::trash`] for the path (1: the newest).
    pub version: Option<usize>,
    /// The newest trashed before this time (ns since the epoch).
    pub before_ns: Option<i64>,
    /// Restore under this path (which must be free on both sides).
    pub to: Option<String>,
}

/// What `restore` did.
#[derive(Debug, Serialize)]
pub struct Restored {
    /// Where the version is now, on both sides.
    pub path: String,
    /// The side and trash path it came from.
    pub from: String,
    /// The version, as the trash listed it.
    pub version: Option<TrashedVersion>,
    /// The generation that recorded the restore.
    pub generation: i64,
    /// What stood in its way and where that went: `the destination's a.txt
    /// went to .conduit/trash/7/a.txt`.
    pub replaced: Vec<String>,
    /// What the copy to the other side did.
    #[serde(skip)]
    pub outcome: Outcome,
}

/// What `trash --purge` removed.
#[derive(Debug, Default, Serialize)]
pub struct Purged {
    /// Versions removed for good.
    pub versions: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Versions that could not be removed.
    pub problems: Vec<String>,
}

/// What `root` holds at `path` now, hashed.
fn fresh_look(root: &dyn Location, path: &str) -> anyhow::Result<Option<Record>> {
    let Some(mut r) = root.stat(path)? else {
        return Ok(None);
    };
    if r.kind != Kind::Directory {
        r.digest = Some(root.hash(path, r.kind)?);
    }
    Ok(Some(r))
}

/// Pins as one matcher.
pub(crate) fn pin_matcher(globs: &[String]) -> anyhow::Result<GlobSet> {
    let mut set = GlobSetBuilder::new();
    for g in globs {
        set.add(Glob::new(g)?);
    }
    Ok(set.build()?)
}

fn sdk_side(side: Side) -> conduit_policy::Side {
    match side {
        Side::Source => conduit_policy::Side::Source,
        Side::Destination => conduit_policy::Side::Destination,
    }
}

impl Host {
    /// Every version in the conduit's trash (or only those of `path` and
    /// below it), newest first, numbered per path as `restore --version`
    /// takes them.
    pub fn trash(&self, name: &str, path: Option<&str>) -> anyhow::Result<Vec<TrashedVersion>> {
        let c = self.conduit(name)?;
        let path = path.map(|p| p.trim_end_matches('/'));
        if let Some(p) = path {
            plan::check_relative_path(p).or_else(usage)?;
        }
        let mut seen: HashMap<String, usize> = HashMap::new();
        Ok(self
            .index
            .trash(c.id, path)?
            .into_iter()
            .map(|t| {
                let n = seen.entry(t.path.clone()).or_default();
                *n += 1;
                TrashedVersion::of(t, *n)
            })
            .collect())
    }

    /// Remove for good what went to the trash longer than `older_than_secs`
    /// ago (before the conduit's own retention would).
    pub fn purge_trash(&mut self, name: &str, older_than_secs: u64) -> anyhow::Result<Purged> {
        let c = self.conduit(name)?;
        let _lock = self.lock(&c)?;
        let roots = self.ready_roots(&c)?;
        self.purge_before(&c, &roots, crate::clock::ago(older_than_secs))
    }

    /// Remove for good what went to the trash before `cutoff_ns`.
    pub(super) fn purge_before(
        &mut self,
        c: &Conduit,
        roots: &[Box<dyn Location>; 2],
        cutoff_ns: i64,
    ) -> anyhow::Result<Purged> {
        let mut purged = Purged::default();
        for t in self.index.trash_older_than(c.id, cutoff_ns)? {
            match roots[t.side.index()].purge(&t.trashed_as) {
                Ok(()) => {
                    self.index.forget_trash(t.id)?;
                    purged.versions += 1;
                    purged.bytes += t.size;
                }
                Err(e) => purged
                    .problems
                    .push(format!("{} {}: {e}", t.side.name(), t.trashed_as)),
            }
        }
        Ok(purged)
    }

    /// Bring back a trashed version of `path` (the newest, unless `choice`
    /// picks another) on both sides and record it as agreed. What stood at
    /// the path on either side goes to the trash, and the report says where.
    pub fn restore(
        &mut self,
        name: &str,
        path: &str,
        choice: &RestoreChoice,
    ) -> anyhow::Result<Restored> {
        let c = self.conduit(name)?;
        plan::check_relative_path(path).or_else(usage)?;
        let to = choice.to.as_deref().unwrap_or(path);
        plan::check_relative_path(to).or_else(usage)?;
        let _lock = self.lock(&c)?;
        let roots = self.ready_roots(&c)?;
        let versions = self.index.trashed(c.id, path)?;
        let picked = match (choice.version, choice.before_ns) {
            (Some(0), _) => return usage("versions are numbered from 1 (the newest)"),
            (Some(v), _) => match versions.get(v - 1) {
                Some(t) => Some(t.clone()),
                None => {
                    return usage(format!(
                        "{path:?} has {} trashed version(s) in `{}`; `conduit trash {} {path}` \
                         lists them",
                        versions.len(),
                        c.name,
                        c.name
                    ));
                }
            },
            (None, Some(before)) => match versions.iter().find(|t| t.trashed_ns < before) {
                Some(t) => Some(t.clone()),
                None => {
                    return usage(format!(
                        "no version of {path:?} was trashed before {}; `conduit trash {} {path}` \
                         lists them",
                        crate::clock::rfc3339(before),
                        c.name
                    ));
                }
            },
            (None, None) => versions.first().cloned(),
        };
        let found = match picked {
            Some(t) => Some((t.side, t.trashed_as.clone(), Some(t))),
            // The index lost the record (a crash between the move and its
            // commit): the newest version on disk.
            None => Side::BOTH
                .into_iter()
                .filter_map(|side| {
                    let (generation, slot) = roots[side.index()].find_in_trash(path)?;
                    Some((generation, side, slot))
                })
                .max_by_key(|(generation, ..)| *generation)
                .map(|(_, side, slot)| (side, slot, None)),
        };
        let Some((side, trashed_as, record)) = found else {
            return usage(format!(
                "nothing at {path:?} is in the trash of `{}` (paths are relative to the roots; \
                 trashed files expire after {} days)",
                c.name, c.trash_days
            ));
        };
        if to != path {
            for s in Side::BOTH {
                if roots[s.index()].stat(to)?.is_some() {
                    return usage(format!(
                        "{to:?} already exists on the {}; --to names a path that is free on \
                         both sides",
                        s.name()
                    ));
                }
            }
        }
        self.by_hand(&c, |host, generation| {
            host.restore_as(&c, &roots, generation, (side, trashed_as, record), to)
        })
    }

    /// Move the trashed version back on its side, then copy it to the other.
    fn restore_as(
        &mut self,
        c: &Conduit,
        roots: &[Box<dyn Location>; 2],
        generation: i64,
        (side, trashed_as, record): (Side, String, Option<crate::index::TrashRecord>),
        to: &str,
    ) -> anyhow::Result<(Restored, Outcome)> {
        let root = &roots[side.index()];
        let displaced = root.untrash(&trashed_as, to, generation)?;
        let mut batch = crate::index::Batch::default();
        if let Some(t) = &record {
            self.index.forget_trash(t.id)?;
        }
        // A folder brought back brings back what was trashed inside it.
        self.index.forget_trash_below(c.id, side, &trashed_as)?;
        let mut replaced = Vec::new();
        if let Some(slot) = displaced {
            let seen = root.stat(&slot).ok().flatten();
            replaced.push(format!("the {}'s {to} went to {slot}", side.name()));
            batch
                .trash
                .push(exec::trash_record(side, to, slot, seen.as_ref()));
        }
        // A folder brings back everything in it, parents first.
        let paths: Vec<String> = std::iter::once(to.to_string())
            .chain(self.below(c, &**root, to)?)
            .collect();
        // The version is back on its side behind the index: record what is
        // there now, or the index would still describe what it displaced.
        for path in &paths {
            if let Some(r) = fresh_look(&**root, path)? {
                batch.entries[side.index()].push((path.clone(), Some(r)));
            }
        }
        self.index.commit(c.id, generation, &batch)?;
        let copy = Operation::Copy(Transfer {
            from: side,
            to_path: None,
        });
        let mut outcome = Outcome::default();
        for path in paths {
            let one =
                self.run_by_hand(c, roots, generation, &path, vec![copy.clone()], "restore")?;
            merge(&mut outcome, one);
        }
        for row in self.index.journal(c.id, generation)? {
            for slot in row.trashed {
                replaced.push(format!(
                    "the {}'s {} went to {slot}",
                    side.other().name(),
                    row.path
                ));
            }
        }
        let restored = Restored {
            path: to.to_string(),
            from: format!("{} {trashed_as}", side.name()),
            version: record.map(|t| TrashedVersion::of(t, 0)),
            generation,
            replaced,
            outcome: outcome.clone(),
        };
        Ok((restored, outcome))
    }

    /// The paths inside folder `dir` of `root` (none if it is not a
    /// folder), sorted so that a folder comes before what it holds; the
    /// conduit's ignore rules apply.
    fn below(&self, c: &Conduit, root: &dyn Location, dir: &str) -> anyhow::Result<Vec<String>> {
        if root.stat(dir)?.is_none_or(|r| r.kind != Kind::Directory) {
            return Ok(Vec::new());
        }
        let rules = Rules::new(&c.ignore, &crate::location::ignore_files(&[root])?)?;
        let (previous, progress) = (HashMap::new(), crate::scan::Progress::default());
        let walk = Walk {
            rules: &rules,
            previous: &previous,
            progress: &progress,
            foreign: &[],
        };
        let prefix = format!("{dir}/");
        let mut paths: Vec<String> = root
            .rescan(&walk, &[dir.to_string()])
            .records
            .into_keys()
            .filter(|p| p.starts_with(&prefix))
            .collect();
        paths.sort();
        Ok(paths)
    }

    /// Settle an open conflict by keeping one version (the other goes to the
    /// trash) or both.
    pub fn resolve(&mut self, name: &str, path: &str, keep: Keep) -> anyhow::Result<Outcome> {
        let c = self.conduit(name)?;
        if !self.index.conflicts(c.id)?.iter().any(|(p, ..)| p == path) {
            return usage(format!(
                "`{}` has no open conflict at {path:?}; `conduit conflicts {}` lists them",
                c.name, c.name
            ));
        }
        let _lock = self.lock(&c)?;
        let roots = self.ready_roots(&c)?;
        let copy =
            |from: Side, to_path: Option<String>| Operation::Copy(Transfer { from, to_path });
        let ops = match keep {
            Keep::Source => vec![copy(Side::Source, None)],
            Keep::Destination => vec![copy(Side::Destination, None)],
            Keep::Both => {
                // A folder cannot be set aside under a file's conflict name:
                // against a file, the folder keeps the name (as synchronize does).
                let is_dir = |root: &dyn Location| {
                    root.stat(path)
                        .is_ok_and(|r| r.is_some_and(|r| r.kind == Kind::Directory))
                };
                let aside_side = if is_dir(&*roots[1]) && !is_dir(&*roots[0]) {
                    Side::Source
                } else {
                    Side::Destination
                };
                let in_use = |name: &str| {
                    roots
                        .iter()
                        .any(|root| !matches!(root.stat(name), Ok(None)))
                };
                let aside = conduit_policy::conflict_name_where(
                    path,
                    crate::clock::now_ns(),
                    sdk_side(aside_side),
                    in_use,
                );
                vec![
                    copy(aside_side, Some(aside.clone())),
                    Operation::Rename(Rename {
                        side: aside_side,
                        to_path: aside,
                    }),
                    copy(aside_side.other(), None),
                ]
            }
        };
        self.by_hand(&c, |host, generation| {
            let outcome = host.run_by_hand(&c, &roots, generation, path, ops, "resolve")?;
            Ok((outcome.clone(), outcome))
        })
    }

    /// Bring offloaded files (or every offloaded file under a folder) back
    /// to the source now, verified.
    pub fn hydrate(&mut self, name: &str, paths: &[String]) -> anyhow::Result<Outcome> {
        let c = self.conduit(name)?;
        let _lock = self.lock(&c)?;
        let roots = self.ready_roots(&c)?;
        let base = self.index.base(c.id)?;
        let mut wanted: Vec<String> = Vec::new();
        for p in paths {
            let p = p.trim_end_matches('/');
            let prefix = format!("{p}/");
            let before = wanted.len();
            wanted.extend(
                base.iter()
                    .filter(|(path, b)| b.offloaded && (*path == p || path.starts_with(&prefix)))
                    .map(|(path, _)| path.clone()),
            );
            if wanted.len() == before {
                return usage(format!(
                    "nothing offloaded at {p:?} in `{}` (`conduit status {} --offloaded` lists \
                     offloaded files)",
                    c.name, c.name
                ));
            }
        }
        wanted.sort();
        self.by_hand(&c, |host, generation| {
            let mut total = Outcome::default();
            for path in wanted {
                let one = host.run_by_hand(
                    &c,
                    &roots,
                    generation,
                    &path,
                    vec![Operation::Hydrate],
                    "hydrate",
                )?;
                merge(&mut total, one);
            }
            Ok((total.clone(), total))
        })
    }

    /// Pin (`true`) or unpin a glob.
    pub fn pin(&mut self, name: &str, glob: &str, pinned: bool) -> anyhow::Result<bool> {
        let c = self.conduit(name)?;
        Glob::new(glob).or_else(|e| usage(format!("{glob:?} is not a valid glob: {e}")))?;
        self.index.set_pin(c.id, glob, pinned)
    }

    /// Offloaded files of a conduit: (path, size).
    pub fn offloaded(&self, name: &str) -> anyhow::Result<Vec<(String, u64)>> {
        let c = self.conduit(name)?;
        let mut out: Vec<(String, u64)> = self
            .index
            .base(c.id)?
            .into_iter()
            .filter(|(_, b)| b.offloaded)
            .map(|(p, b)| (p, b.state.size))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Re-read every indexed file on both sides and compare with the index.
    /// With `repair`, a file whose content no longer matches the index
    /// is put right from the other side, where that side still holds the
    /// indexed content; the corrupted copy goes to the trash.
    pub fn verify(&mut self, name: &str, repair: bool) -> anyhow::Result<VerifyReport> {
        let c = self.conduit(name)?;
        let _lock = match repair {
            true => Some(self.lock(&c)?),
            false => None,
        };
        let roots = self.ready_roots(&c)?;
        let mut report = VerifyReport {
            conduit: c.name.clone(),
            ..VerifyReport::default()
        };
        let mut sound: [HashMap<String, conduit_contract::Digest>; 2] = Default::default();
        let mut rotten: Vec<(Side, String, conduit_contract::Digest)> = Vec::new();
        for side in Side::BOTH {
            let root = &roots[side.index()];
            let mut records: Vec<(String, Record)> =
                self.index.entries(c.id, side)?.into_iter().collect();
            records.sort_by(|a, b| a.0.cmp(&b.0));
            for (path, indexed) in records {
                let Some(digest) = indexed.digest else {
                    continue;
                };
                let now = match root.stat(&path) {
                    Ok(Some(now)) if !indexed.stale_against(&now) => now,
                    Ok(Some(_)) => {
                        report.changed.push(format!(
                            "{} {path}: changed since the last scan",
                            side.name()
                        ));
                        continue;
                    }
                    Ok(None) => {
                        report
                            .changed
                            .push(format!("{} {path}: gone since the last scan", side.name()));
                        continue;
                    }
                    Err(e) => {
                        report
                            .corrupted
                            .push(format!("{} {path}: unreadable: {e}", side.name()));
                        continue;
                    }
                };
                match root.hash(&path, now.kind) {
                    Ok(d) if d == digest => {
                        report.verified += 1;
                        report.bytes += now.size;
                        sound[side.index()].insert(path, digest);
                    }
                    Ok(_) => {
                        report.corrupted.push(format!(
                            "{} {path}: content differs from the index although size and mtime \
                             did not change (disk corruption or tampering); `conduit verify {} \
                             --repair` puts it right from the other side if that one is sound",
                            side.name(),
                            c.name
                        ));
                        rotten.push((side, path, digest));
                    }
                    Err(e) => report
                        .corrupted
                        .push(format!("{} {path}: unreadable: {e}", side.name())),
                }
            }
        }
        self.verify_manifest(&*roots[1], &mut report)?;
        if repair && !rotten.is_empty() {
            self.repair(&c, &roots, &sound, rotten, &mut report)?;
        }
        Ok(report)
    }

    /// Copy each rotten file from the other side, if that side's copy
    /// verified just now with the same indexed content.
    fn repair(
        &mut self,
        c: &Conduit,
        roots: &[Box<dyn Location>; 2],
        sound: &[HashMap<String, conduit_contract::Digest>; 2],
        rotten: Vec<(Side, String, conduit_contract::Digest)>,
        report: &mut VerifyReport,
    ) -> anyhow::Result<()> {
        let (repairable, hopeless): (Vec<_>, Vec<_>) =
            rotten.into_iter().partition(|(side, path, digest)| {
                sound[side.other().index()].get(path) == Some(digest)
            });
        for (side, path, _) in hopeless {
            report.unrepaired.push(format!(
                "{} {path}: the {} does not hold the indexed content either; restore it from a \
                 backup or an older version (`conduit trash {} {path}`)",
                side.name(),
                side.other().name(),
                c.name
            ));
        }
        if repairable.is_empty() {
            return Ok(());
        }
        self.by_hand(c, |host, generation| {
            let total = host.repair_each(c, roots, generation, repairable, report)?;
            Ok(((), total))
        })
    }

    fn repair_each(
        &mut self,
        c: &Conduit,
        roots: &[Box<dyn Location>; 2],
        generation: i64,
        repairable: Vec<(Side, String, conduit_contract::Digest)>,
        report: &mut VerifyReport,
    ) -> anyhow::Result<Outcome> {
        let mut total = Outcome::default();
        for (side, path, _) in repairable {
            let good = side.other();
            let copy = Operation::Copy(Transfer {
                from: good,
                to_path: None,
            });
            let outcome =
                self.run_by_hand(c, roots, generation, &path, vec![copy], "verify --repair")?;
            let failed = outcome.counts.failed + outcome.counts.skipped;
            let problems = outcome.problems.join("; ");
            merge(&mut total, outcome);
            let kept = self
                .index
                .journal(c.id, generation)?
                .into_iter()
                .filter(|row| row.path == path)
                .flat_map(|row| row.trashed)
                .last();
            match (failed, kept) {
                (0, Some(slot)) => report.repaired.push(format!(
                    "{} {path}: put right from the {}; the corrupted copy is in {slot}",
                    side.name(),
                    good.name()
                )),
                (0, None) => report.repaired.push(format!(
                    "{} {path}: put right from the {}",
                    side.name(),
                    good.name()
                )),
                _ => report.unrepaired.push(format!(
                    "{} {path}: the copy from the {} failed: {problems}",
                    side.name(),
                    good.name(),
                )),
            }
        }
        Ok(total)
    }

    /// Every file the archive manifest lists must be there, byte for byte.
    fn verify_manifest(
        &self,
        root: &dyn Location,
        report: &mut VerifyReport,
    ) -> anyhow::Result<()> {
        for line in root.manifest()? {
            let Ok(entry) = ManifestEntry::parse(&line) else {
                report
                    .corrupted
                    .push(format!("archive manifest: unreadable line {line:?}"));
                continue;
            };
            report.archived += 1;
            let path = &entry.path;
            match root.hash(path, entry.kind()).map(manifest::hex) {
                Ok(found) if Some(&found) == entry.blake3.as_ref() => {}
                Ok(_) => report.corrupted.push(format!(
                    "destination {path}: archived content changed since it was archived (from {})",
                    entry.original
                )),
                Err(e) => report.corrupted.push(format!(
                    "destination {path}: archived file is missing or unreadable: {e}"
                )),
            }
        }
        Ok(())
    }

    /// Both roots, after the same preflight as a sync.
    pub(super) fn ready_roots(&self, c: &Conduit) -> anyhow::Result<[Box<dyn Location>; 2]> {
        guards::preflight(c, &self.opener()?).map_err(|halt| anyhow::anyhow!("{halt}"))
    }

    /// Execute `ops` on `path` alone, from a fresh look at both sides.
    fn run_by_hand(
        &mut self,
        c: &Conduit,
        roots: &[Box<dyn Location>; 2],
        generation: i64,
        path: &str,
        ops: Vec<Operation>,
        what: &str,
    ) -> anyhow::Result<Outcome> {
        let mut scans: [HashMap<String, Record>; 2] = Default::default();
        for (i, root) in roots.iter().enumerate() {
            if let Some(r) = fresh_look(&**root, path)? {
                scans[i].insert(path.to_string(), r);
            }
        }
        let base = self.index.base(c.id)?;
        let agreed = base.get(path);
        let entry = Entry {
            path: path.to_string(),
            source: scans[0].get(path).map(Record::state),
            source_change: conduit_contract::Change::Unchanged,
            destination: scans[1].get(path).map(Record::state),
            destination_change: conduit_contract::Change::Unchanged,
            base: agreed.map(|b| b.state),
            accessed_ns: 0,
            pinned: false,
            offloaded: agreed.is_some_and(|b| b.offloaded),
        };
        let entries = [entry];
        let actions = ops
            .into_iter()
            .map(|operation| Action {
                entry: 0,
                operation,
            })
            .collect();
        let plan = plan::validate(what, &entries, actions)?;
        let run = Run {
            conduit: c.id,
            generation,
            roots: [&*roots[0], &*roots[1]],
            entries: &entries,
            scans: [&scans[0], &scans[1]],
            fidelity: crate::location::fidelity(roots),
            verify_from: c.verify_from,
            deletes_withheld: None,
            on_written: &|_| {},
            on_verified: &|_| {},
            on_journal: &|_| {},
            asked_by: Some(what),
            cancel: None,
        };
        exec::execute(&run, &plan, &mut self.index)
    }

    /// One generation for work asked for by hand (`restore`, `resolve`,
    /// `hydrate`, `verify --repair`): started here and recorded once, with
    /// what `work` did or the error that stopped it, so no such run is ever
    /// left looking interrupted.
    fn by_hand<T>(
        &mut self,
        c: &Conduit,
        work: impl FnOnce(&mut Host, i64) -> anyhow::Result<(T, Outcome)>,
    ) -> anyhow::Result<T> {
        let started_ns = crate::clock::now_ns();
        let generation = self.index.start_generation(c.id, started_ns, false)?;
        let result = work(self, generation);
        let ended_ns = crate::clock::now_ns();
        let mut report = super::SyncReport {
            conduit: c.name.clone(),
            generation,
            started: crate::clock::rfc3339(started_ns),
            ended: crate::clock::rfc3339(ended_ns),
            duration_ms: (ended_ns - started_ns).max(0) as u64 / 1_000_000,
            ..Default::default()
        };
        match &result {
            Ok((_, outcome)) => {
                report.counts = outcome.counts.clone();
                report.problems = outcome.problems.clone();
            }
            Err(e) => report.problems.push(format!("{e:#}")),
        }
        self.index.finish_generation(
            c.id,
            generation,
            ended_ns,
            None,
            &serde_json::to_string(&report)?,
        )?;
        result.map(|(done, _)| done)
    }
}

fn merge(total: &mut Outcome, one: Outcome) {
    let (t, o) = (&mut total.counts, one.counts);
    t.copied += o.copied;
    t.updated += o.updated;
    t.folders_created += o.folders_created;
    t.renamed += o.renamed;
    t.hydrated += o.hydrated;
    t.bytes += o.bytes;
    t.verified += o.verified;
    t.failed += o.failed;
    t.skipped += o.skipped;
    total.problems.extend(one.problems);
}
