//! `synchronize`: two-way sync, a three-way merge of source and destination
//! against base. One-sided changes propagate (deletes included), identical
//! changes are accepted, and real conflicts are settled by the `conflict`
//! option without ever losing a version.

use std::collections::HashMap;

use conduit_policy::{
    Action, Change, ConflictNames, Context, Digest, Entry, Info, Kind, Policy, Scope, Settings,
    Side, State, act, spec,
};

pub struct Synchronize;

/// How a path changed differently on both sides is settled.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rule {
    KeepBoth,
    Newer,
    Older,
    Source,
    Destination,
    Larger,
    Manual,
}

/// The `conflict` option's choices, the default first.
const RULES: &[(&str, Rule)] = &[
    ("keep-both", Rule::KeepBoth),
    ("newer", Rule::Newer),
    ("older", Rule::Older),
    ("source", Rule::Source),
    ("destination", Rule::Destination),
    ("larger", Rule::Larger),
    ("manual", Rule::Manual),
];

impl Policy for Synchronize {
    fn describe() -> Info {
        Info {
            name: "synchronize".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "Two-way sync: changes on either side reach the other; conflicts keep both versions."
                .into(),
            options: vec![
                spec::choice_of(
                    "conflict",
                    RULES,
                    "How to settle a path changed differently on both sides. keep-both: the newer \
                     keeps the name, the other is kept beside it as <stem>.conflict-<time>-<side>.<ext>; \
                     newer/older/larger/source/destination: that version wins; manual: leave both \
                     untouched until `conduit resolve`. A losing version always goes to the trash.",
                ),
                spec::flag(
                    "detect-renames",
                    true,
                    "Turn a delete plus a create of identical content into a rename on the other side.",
                ),
            ],
            scope: Scope::Changes,
        }
    }

    fn plan(ctx: &Context, entries: &[Entry]) -> Result<Vec<Action>, String> {
        let rule = ctx.choice("conflict", RULES)?;
        let mut plan = Vec::with_capacity(entries.len());
        let mut names = ConflictNames::new(entries);
        let mut settled = vec![false; entries.len()];
        if ctx.flag("detect-renames").unwrap_or(true) {
            detect_renames(entries, &mut plan, &mut settled);
        }
        let contested = contested_folders(entries);
        // Folders left in a manual file-vs-folder conflict: what is inside
        // cannot be copied to the side where a file has the folder's name.
        let mut held: Vec<&str> = Vec::new();
        // Contested folders that keep their name: what they hold comes back.
        let mut restored: Vec<(&str, Side)> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if settled[i] {
                continue;
            }
            let inside = |p: &str| e.path.strip_prefix(p).is_some_and(|r| r.starts_with('/'));
            if let Some(p) = held.iter().find(|p| inside(p)) {
                plan.push(act::skip(i, format!("waits for the conflict at {p}")));
                continue;
            }
            if let Some(&(_, folder)) = restored.iter().find(|(p, _)| inside(p)) {
                plan.push(match e.state(folder) {
                    Some(_) => act::copy(i, folder),
                    None => act::accept(i),
                });
                continue;
            }
            match contested.get(&i) {
                Some(_) if rule == Rule::Manual => {
                    plan.push(act::conflict(
                        i,
                        "a file on one side, a folder with changes inside on the other",
                    ));
                    held.push(&e.path);
                }
                Some(&folder) => {
                    keep_both(ctx, i, e, folder, &mut names, &mut plan);
                    restored.push((&e.path, folder));
                }
                None => {
                    merge(ctx, rule, i, e, &mut names, &mut plan);
                    if rule == Rule::Manual && file_vs_folder_conflict(e) {
                        held.push(&e.path);
                    }
                }
            }
        }
        Ok(plan)
    }
}

/// Folders that one side replaced with a file while the other side changed
/// what is inside: a file-vs-folder conflict, not a one-sided change (the
/// folder's new content must not go to the trash unasked). Entry index ->
/// the side that kept the folder.
fn contested_folders(entries: &[Entry]) -> HashMap<usize, Side> {
    let mut out = HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        for folder in [Side::Source, Side::Destination] {
            let kept = e.change(folder) == Change::Unchanged
                && e.state(folder).is_some_and(|s| s.kind == Kind::Directory);
            if !kept || e.change(folder.other()) != Change::TypeChanged {
                continue;
            }
            let prefix = format!("{}/", e.path);
            if entries.iter().any(|d| {
                d.path.starts_with(&prefix)
                    && d.change(folder) != Change::Unchanged
                    && d.state(folder).is_some()
            }) {
                out.insert(i, folder);
            }
        }
    }
    out
}

/// Changed on both sides into a file on one and a folder on the other.
fn file_vs_folder_conflict(e: &Entry) -> bool {
    let changed = |c: Change| c != Change::Unchanged;
    match (&e.source, &e.destination) {
        (Some(a), Some(b)) => {
            changed(e.source_change)
                && changed(e.destination_change)
                && (a.kind == Kind::Directory) != (b.kind == Kind::Directory)
        }
        _ => false,
    }
}

/// Decide one entry by the three-way rules.
fn merge(
    ctx: &Context,
    rule: Rule,
    i: usize,
    e: &Entry,
    names: &mut ConflictNames,
    plan: &mut Vec<Action>,
) {
    if e.sides_agree() {
        plan.push(act::accept(i));
        return;
    }
    let (a, b) = (e.source.as_ref(), e.destination.as_ref());
    if let (true, Some(a), Some(b)) = (e.content_agrees(), a, b) {
        // Same content, other mode or mtime: never a conflict. The side that
        // changed gives its metadata; if both did, the newer.
        let from = match (e.source_change, e.destination_change) {
            (_, Change::Unchanged) => Side::Source,
            (Change::Unchanged, _) => Side::Destination,
            _ if b.mtime_ns > a.mtime_ns => Side::Destination,
            _ => Side::Source,
        };
        plan.push(act::copy(i, from));
        return;
    }
    for (side, state) in [(Side::Source, a), (Side::Destination, b)] {
        if state.is_some_and(|s| s.kind == Kind::File && s.digest.is_none()) {
            plan.push(act::skip(
                i,
                format!("the {} file could not be read", side.name()),
            ));
            return;
        }
    }
    match (e.source_change, e.destination_change) {
        (_, Change::Unchanged) => propagate(i, e, Side::Source, plan),
        (Change::Unchanged, _) => propagate(i, e, Side::Destination, plan),
        // Modified (or created) on one side, deleted on the other: the
        // modification wins and is restored on the deleting side.
        _ if a.is_none() || b.is_none() => {
            let kept = if a.is_none() {
                Side::Destination
            } else {
                Side::Source
            };
            plan.push(act::conflict(
                i,
                format!(
                    "deleted on the {}, changed on the {}: the change is kept",
                    kept.other().name(),
                    kept.name()
                ),
            ));
            plan.push(act::copy(i, kept));
        }
        _ => {
            let (a, b) = (a.expect("present"), b.expect("present"));
            resolve_conflict(ctx, rule, i, e, (a, b), names, plan);
        }
    }
}

/// Only `from` changed: make the other side match it.
fn propagate(i: usize, e: &Entry, from: Side, plan: &mut Vec<Action>) {
    plan.push(match e.state(from) {
        Some(_) => act::copy(i, from),
        None => act::delete(i, from.other()),
    });
}

fn resolve_conflict(
    ctx: &Context,
    rule: Rule,
    i: usize,
    e: &Entry,
    (a, b): (&State, &State),
    names: &mut ConflictNames,
    plan: &mut Vec<Action>,
) {
    let newer = if b.mtime_ns > a.mtime_ns {
        Side::Destination
    } else {
        Side::Source
    };
    let file_vs_dir = (a.kind == Kind::Directory) != (b.kind == Kind::Directory);
    let winner = match rule {
        Rule::Manual => {
            let what = if file_vs_dir {
                "a file on one side, a directory on the other"
            } else {
                "changed differently on both sides"
            };
            plan.push(act::conflict(i, what));
            return;
        }
        // A file and a directory cannot overwrite each other: keep both.
        _ if file_vs_dir => {
            let file_side = if a.kind == Kind::Directory {
                Side::Destination
            } else {
                Side::Source
            };
            keep_both(ctx, i, e, file_side.other(), names, plan);
            return;
        }
        Rule::KeepBoth => {
            keep_both(ctx, i, e, newer, names, plan);
            return;
        }
        Rule::Older => newer.other(),
        Rule::Source => Side::Source,
        Rule::Destination => Side::Destination,
        Rule::Larger if a.size != b.size => {
            if b.size > a.size {
                Side::Destination
            } else {
                Side::Source
            }
        }
        // Equal sizes: the newer wins.
        Rule::Larger | Rule::Newer => newer,
    };
    let name = RULES
        .iter()
        .find(|(_, r)| *r == rule)
        .map_or("?", |(name, _)| name);
    plan.push(act::conflict(
        i,
        format!(
            "changed on both sides: the {} version won (conflict={name}); the other is in the {}'s trash",
            winner.name(),
            winner.other().name()
        ),
    ));
    plan.push(act::copy(i, winner));
}

/// `winner` keeps the path on both sides; the loser's version is kept on both
/// sides under a conflict name.
fn keep_both(
    ctx: &Context,
    i: usize,
    e: &Entry,
    winner: Side,
    names: &mut ConflictNames,
    plan: &mut Vec<Action>,
) {
    let loser = winner.other();
    let aside = names.name(&e.path, ctx.now_ns, loser);
    plan.push(act::conflict(
        i,
        format!(
            "changed on both sides: kept both (conflict=keep-both); the {} version keeps the name",
            winner.name()
        ),
    ));
    plan.push(act::copy_to(i, loser, aside.clone()));
    plan.push(act::rename(i, loser, aside));
    plan.push(act::copy(i, winner));
}

/// A path deleted on one side plus a path created on that side as its exact
/// copy (content, mode and mtime: what `mv` keeps) is a rename: rename on
/// the other side instead of copy + delete. Among equal candidates the one
/// whose path is most like the old one is taken, so equal files moved
/// together keep their own names' metadata.
fn detect_renames(entries: &[Entry], plan: &mut Vec<Action>, settled: &mut [bool]) {
    for side in [Side::Source, Side::Destination] {
        let other = side.other();
        let mut created: HashMap<Digest, Vec<usize>> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            let fresh_on_side_only = e.change(side) == Change::Created && e.state(other).is_none();
            if let (true, Some(s)) = (fresh_on_side_only, e.state(side))
                && s.kind == Kind::File
                && let Some(d) = s.digest
            {
                created.entry(d).or_default().push(i);
            }
        }
        if created.is_empty() {
            continue;
        }
        for (i, e) in entries.iter().enumerate() {
            if settled[i]
                || e.change(side) != Change::Deleted
                || e.change(other) != Change::Unchanged
            {
                continue;
            }
            let Some(old) = e.state(other).filter(|s| s.kind == Kind::File) else {
                continue;
            };
            let Some(targets) = old.digest.and_then(|d| created.get_mut(&d)) else {
                continue;
            };
            let best = targets
                .iter()
                .enumerate()
                .filter(|&(_, &j)| entries[j].state(side).is_some_and(|s| s.same_as(old)))
                .max_by_key(|&(_, &j)| likeness(e, &entries[j]))
                .map(|(at, _)| at);
            if let Some(at) = best {
                let j = targets.swap_remove(at);
                plan.push(act::rename(i, other, entries[j].path.clone()));
                settled[i] = true;
                settled[j] = true;
            }
        }
    }
}

/// How alike two paths are: the same file name first, then the length of
/// the common leading part, then the shorter.
fn likeness(a: &Entry, b: &Entry) -> (bool, usize, std::cmp::Reverse<usize>) {
    let common = a
        .path
        .bytes()
        .zip(b.path.bytes())
        .take_while(|(x, y)| x == y)
        .count();
    (
        a.file_name() == b.file_name(),
        common,
        std::cmp::Reverse(b.path.len()),
    )
}

#[cfg(target_arch = "wasm32")]
conduit_policy::export_policy!(Synchronize);
