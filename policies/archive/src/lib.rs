//! `archive`: move and consolidate. Source files (optionally filtered by age
//! and size) are copied to the destination, verified, then removed from the
//! source. The destination is never overwritten; its deletions never
//! propagate anywhere.

use std::collections::{HashMap, HashSet};

use conduit_policy::{
    Action, Context, Digest, Entry, Info, Kind, Policy, Scope, Settings, act, civil_from_unix,
    fit_name, spec,
};

pub struct Archive;

/// Where an archived file goes in the destination.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// The same relative path.
    Keep,
    /// `YYYY/MM/<name>` from the file's mtime.
    ByDate,
}

/// The `layout` option's choices, the default first.
const LAYOUTS: &[(&str, Layout)] = &[("keep", Layout::Keep), ("by-date", Layout::ByDate)];

impl Policy for Archive {
    fn describe() -> Info {
        Info {
            name: "archive".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "Move files to the destination, removing each original only after its copy verifies."
                .into(),
            options: vec![
                spec::duration("older-than", None, "Only archive files last modified at least this long ago."),
                spec::size("min-size", None, "Only archive files of at least this size."),
                spec::size("max-size", None, "Only archive files of at most this size."),
                spec::flag(
                    "dedupe",
                    false,
                    "Do not copy content the destination already holds anywhere; just remove the original.",
                ),
                spec::choice_of(
                    "layout",
                    LAYOUTS,
                    "keep: same relative paths; by-date: YYYY/MM/<name> from the file's mtime.",
                ),
            ],
            scope: Scope::Everything,
        }
    }

    fn plan(ctx: &Context, entries: &[Entry]) -> Result<Vec<Action>, String> {
        let by_date = ctx.choice("layout", LAYOUTS)? == Layout::ByDate;
        let dedupe = ctx.flag("dedupe").unwrap_or(false);
        // What the destination holds, and what this plan will add to it.
        let mut taken: HashMap<String, Held> = entries
            .iter()
            .filter_map(|e| {
                let d = e.destination.as_ref()?;
                let held = match d.kind {
                    Kind::Directory => Held::Folder,
                    _ => Held::Content(d.digest),
                };
                Some((e.path.clone(), held))
            })
            .collect();
        let mut stored: HashMap<Digest, String> = HashMap::new();
        if dedupe {
            for e in entries {
                if let Some(d) = e.destination.as_ref().and_then(|d| d.digest) {
                    stored.entry(d).or_insert_with(|| e.path.clone());
                }
            }
        }
        let mut plan = Vec::new();
        let mut moved: HashSet<&str> = HashSet::new();
        for (i, e) in entries.iter().enumerate() {
            let Some(a) = &e.source else { continue };
            let Some(digest) = a
                .digest
                .filter(|_| matches!(a.kind, Kind::File | Kind::Symlink))
            else {
                continue;
            };
            if !selected(ctx, a.mtime_ns, a.size) {
                continue;
            }
            let target = match stored.get(&digest) {
                Some(existing) => existing.clone(),
                None => {
                    let wanted = if by_date {
                        dated_path(&e.path, a.mtime_ns)
                    } else {
                        e.path.clone()
                    };
                    free_name(&wanted, digest, &taken)
                }
            };
            taken.insert(target.clone(), Held::Content(Some(digest)));
            if dedupe {
                stored.entry(digest).or_insert_with(|| target.clone());
            }
            plan.push(act::move_to_destination(
                i,
                (target != e.path).then_some(target),
            ));
            moved.insert(&e.path);
        }
        prune_emptied_dirs(entries, &moved, &mut plan);
        Ok(plan)
    }
}

fn selected(ctx: &Context, mtime_ns: i64, size: u64) -> bool {
    let old_enough = ctx.duration("older-than").is_none_or(|secs| {
        let age_ns = ctx.now_ns.saturating_sub(mtime_ns);
        age_ns
            >= i64::try_from(secs)
                .unwrap_or(i64::MAX)
                .saturating_mul(1_000_000_000)
    });
    old_enough
        && ctx.size("min-size").is_none_or(|min| size >= min)
        && ctx.size("max-size").is_none_or(|max| size <= max)
}

/// `YYYY/MM/<name>` from the file's mtime (UTC).
fn dated_path(path: &str, mtime_ns: i64) -> String {
    let name = path.rsplit('/').next().unwrap_or(path);
    let (year, month, ..) = civil_from_unix(mtime_ns.div_euclid(1_000_000_000));
    format!("{year:04}/{month:02}/{name}")
}

/// What the destination holds at a path.
enum Held {
    Folder,
    /// A file or symlink, with its digest where known.
    Content(Option<Digest>),
}

/// `wanted` if it is free or already holds this content, else the first free
/// `<stem>-<n>[.<ext>]` beside it. A folder on the way that the destination
/// holds as a file or symlink is renamed the same way (`<name>-<n>`), so the
/// copy never has to pass through it.
fn free_name(wanted: &str, digest: Digest, taken: &HashMap<String, Held>) -> String {
    let is_content = |p: &str| matches!(taken.get(p), Some(Held::Content(_)));
    let blocked = wanted
        .match_indices('/')
        .map(|(slash, _)| &wanted[..slash])
        .find(|folder| is_content(folder));
    if let Some(folder) = blocked {
        let (parent, name) = folder.split_at(folder.rfind('/').map_or(0, |i| i + 1));
        let free = (2u64..)
            .map(|n| format!("{parent}{}", fit_name(name, &format!("-{n}"), "")))
            .find(|candidate| !is_content(candidate))
            .expect("an unbounded range yields a free name");
        return free_name(&format!("{free}{}", &wanted[folder.len()..]), digest, taken);
    }
    let usable = |p: &str| match taken.get(p) {
        None => true,
        Some(Held::Content(d)) => *d == Some(digest),
        Some(Held::Folder) => false,
    };
    if usable(wanted) {
        return wanted.to_string();
    }
    let name_start = wanted.rfind('/').map_or(0, |i| i + 1);
    let (dir, name) = wanted.split_at(name_start);
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => name.split_at(dot),
        _ => (name, ""),
    };
    (2u64..)
        .map(|n| format!("{dir}{}", fit_name(stem, &format!("-{n}"), ext)))
        .find(|candidate| usable(candidate))
        .expect("an unbounded range yields a free name")
}

/// Source directories that this plan empties are removed. Only ancestors of
/// moved files qualify (a directory the user left empty stays), and the host
/// removes a directory only if it is empty by then, so a failed move keeps it.
fn prune_emptied_dirs(entries: &[Entry], moved: &HashSet<&str>, plan: &mut Vec<Action>) {
    let mut emptied: HashSet<&str> = HashSet::new();
    let mut kept: HashSet<&str> = HashSet::new();
    for e in entries {
        let is_file = e.source.as_ref().is_some_and(|s| s.kind != Kind::Directory);
        if !is_file {
            continue;
        }
        let set = if moved.contains(e.path.as_str()) {
            &mut emptied
        } else {
            &mut kept
        };
        let mut p = e.path.as_str();
        while let Some(slash) = p.rfind('/') {
            p = &p[..slash];
            set.insert(p);
        }
    }
    for (i, e) in entries.iter().enumerate() {
        let is_dir = e.source.as_ref().is_some_and(|s| s.kind == Kind::Directory);
        let path = e.path.as_str();
        if is_dir && emptied.contains(path) && !kept.contains(path) {
            plan.push(act::delete(i, conduit_policy::Side::Source));
        }
    }
}

#[cfg(target_arch = "wasm32")]
conduit_policy::export_policy!(Archive);
