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
    /// Bring back the newest trashed version of `path` on both sides and
    /// record it as agreed; what stood at `path` goes to the trash.
    pub fn restore(&mut self, name: &str, path: &str) -> anyhow::Result<Outcome> {
        let c = self.conduit(name)?;
        plan::check_relative_path(path).or_else(usage)?;
        let _lock = self.lock(&c)?;
        let roots = self.ready_roots(&c)?;
        let newest = match self.index.trashed(c.id, path)?.into_iter().next() {
            Some(t) => Some((t.side, t.trashed_as, Some(t.id))),
            None => Side::BOTH
                .into_iter()
                .filter_map(|side| {
                    let (generation, slot) = roots[side.index()].find_in_trash(path)?;
                    Some((generation, side, slot))
                })
                .max_by_key(|(generation, ..)| *generation)
                .map(|(_, side, slot)| (side, slot, None)),
        };
        let Some((side, trashed_as, record)) = newest else {
            return usage(format!(
                "nothing at {path:?} is in the trash of `{}` (paths are relative to the roots; \
                 trashed files expire after {} days)",
                c.name, c.trash_days
            ));
        };
        let generation = self.index.start_generation(c.id, false, false)?;
        let root = &roots[side.index()];
        let displaced = root.untrash(&trashed_as, path, generation)?;
        if let Some(id) = record {
            self.index.forget_trash(id)?;
        }
        let mut batch = crate::index::Batch::default();
        if let Some(slot) = displaced {
            let seen = root.stat(&slot).ok().flatten();
            batch.trash.push(crate::index::TrashRecord {
                id: 0,
                side,
                path: path.to_string(),
                trashed_as: slot,
                kind: seen.as_ref().map_or(Kind::File, |r| r.kind),
                size: seen.map_or(0, |r| r.size),
                digest: None,
                trashed_ns: crate::clock::now_ns(),
            });
        }
        self.index.commit(c.id, generation, &batch)?;
        let copy = Operation::Copy(Transfer {
            from: side,
            to_path: None,
        });
        self.run_by_hand(&c, &roots, generation, path, vec![copy], "restore")
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
        let generation = self.index.start_generation(c.id, false, false)?;
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
        self.run_by_hand(&c, &roots, generation, path, ops, "resolve")
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
        let generation = self.index.start_generation(c.id, false, false)?;
        let mut total = Outcome::default();
        for path in wanted {
            let one = self.run_by_hand(
                &c,
                &roots,
                generation,
                &path,
                vec![Operation::Hydrate],
                "hydrate",
            )?;
            merge(&mut total, one);
        }
        Ok(total)
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
    pub fn verify(&mut self, name: &str) -> anyhow::Result<VerifyReport> {
        let c = self.conduit(name)?;
        let roots = self.ready_roots(&c)?;
        let mut report = VerifyReport {
            conduit: c.name.clone(),
            ..VerifyReport::default()
        };
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
                    }
                    Ok(_) => report.corrupted.push(format!(
                        "{} {path}: content differs from the index although size and mtime did \
                         not change (disk corruption or tampering); restore it from the other \
                         side or a backup",
                        side.name()
                    )),
                    Err(e) => report
                        .corrupted
                        .push(format!("{} {path}: unreadable: {e}", side.name())),
                }
            }
        }
        self.verify_manifest(&*roots[1], &mut report)?;
        Ok(report)
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
    fn ready_roots(&self, c: &Conduit) -> anyhow::Result<[Box<dyn Location>; 2]> {
        guards::preflight(c).map_err(|halt| anyhow::anyhow!("{halt}"))
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
            if let Some(mut r) = root.stat(path)? {
                if r.kind != Kind::Directory {
                    r.digest = Some(root.hash(path, r.kind)?);
                }
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
            deletes_withheld: None,
            on_progress: &|_| {},
            cancel: None,
        };
        let outcome = exec::execute(&run, &plan, &mut self.index)?;
        let report = super::SyncReport {
            conduit: c.name.clone(),
            generation,
            counts: outcome.counts.clone(),
            problems: outcome.problems.clone(),
            ..Default::default()
        };
        self.index
            .finish_generation(generation, None, &serde_json::to_string(&report)?)?;
        Ok(outcome)
    }
}

fn merge(total: &mut Outcome, one: Outcome) {
    let (t, o) = (&mut total.counts, one.counts);
    t.copied += o.copied;
    t.hydrated += o.hydrated;
    t.bytes += o.bytes;
    t.verified += o.verified;
    t.failed += o.failed;
    t.skipped += o.skipped;
    total.problems.extend(one.problems);
}
