//! Plan validation: the host's check of everything a policy returned, before
//! anything touches the disk.
//!
//! A policy is untrusted. Its actions must name entries that exist, form one
//! coherent change per entry, be consistent with each entry's state, and only
//! ever write relative paths inside the root. A plan with any problem is
//! rejected whole, with every problem listed.

pub mod guards;
pub mod json;

use std::collections::HashMap;

use crate::policy::PolicyError;
use conduit_contract::{Action, Change, Digest, Entry, Kind, Operation, Side, State};

/// A plan that passed validation: actions grouped by entry, in entry order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The actions, grouped by entry, in entry order.
    pub actions: Vec<Action>,
}

/// The most actions a plan may hold per entry: one entry's change is a
/// few actions at most (a conflict copy, a rename, a copy).
const MAX_ACTIONS_PER_ENTRY: usize = 8;
/// The longest reason a skip or a conflict may give, in bytes: it is shown
/// to people and kept in the index.
const MAX_REASON: usize = 4096;

/// At most this many problems are listed; the count of the rest is given.
const MAX_LISTED_PROBLEMS: usize = 20;

/// Check `actions` against `entries`; on success, return them grouped by entry.
pub fn validate(
    policy: &str,
    entries: &[Entry],
    mut actions: Vec<Action>,
) -> Result<Plan, PolicyError> {
    let mut problems = Vec::new();
    let most = entries.len().saturating_mul(MAX_ACTIONS_PER_ENTRY) + MAX_ACTIONS_PER_ENTRY;
    if actions.len() > most {
        problems.push(format!(
            "it returned {} actions for {} entries (at most {most}: a few per entry)",
            actions.len(),
            entries.len()
        ));
        actions.clear();
    }
    for a in &actions {
        if let Operation::Skip(text) | Operation::Conflict(text) = &a.operation
            && text.len() > MAX_REASON
        {
            problems.push(format!(
                "an action's reason is {} bytes long (at most {MAX_REASON})",
                text.len()
            ));
            break;
        }
    }
    for a in &actions {
        if a.entry as usize >= entries.len() {
            problems.push(format!(
                "an action names entry {} but there are only {} entries",
                a.entry,
                entries.len()
            ));
        }
    }
    if problems.is_empty() {
        // Stable: the order a policy gives within one entry is kept.
        actions.sort_by_key(|a| a.entry);
        let holders = only_copy_holders(entries);
        for group in actions.chunk_by(|a, b| a.entry == b.entry) {
            let entry = &entries[group[0].entry as usize];
            check_entry(entry, group, &mut problems);
            check_only_copy(entry, &holders, group, &mut problems);
        }
        check_targets(entries, &actions, &mut problems);
    }
    if problems.is_empty() {
        return Ok(Plan { actions });
    }
    let extra = problems.len().saturating_sub(MAX_LISTED_PROBLEMS);
    problems.truncate(MAX_LISTED_PROBLEMS);
    if extra > 0 {
        problems.push(format!("… and {extra} more problems"));
    }
    Err(PolicyError::InvalidPlan {
        policy: policy.to_string(),
        problems,
    })
}

pub use conduit_contract::check_relative_path;

/// Why an entry is in the diff, in words, for dry runs and the history:
/// `new on the source`, `content and mode changed on the destination`,
/// `deleted on the source`, one clause per side that changed.
pub fn reason(e: &Entry) -> String {
    let clauses: Vec<String> = Side::BOTH
        .into_iter()
        .filter_map(|side| {
            let change = match side {
                Side::Source => e.source_change,
                Side::Destination => e.destination_change,
            };
            let what = match change {
                Change::Unchanged => return None,
                Change::Created => "new".to_string(),
                Change::Deleted => "deleted".to_string(),
                Change::TypeChanged => "type changed".to_string(),
                Change::Modified => match (&e.base, e.state(side)) {
                    (Some(base), Some(now)) => format!("{} changed", what_changed(base, now)),
                    _ => "changed".to_string(),
                },
            };
            Some(format!("{what} on the {}", side.name()))
        })
        .collect();
    match clauses.is_empty() {
        true if e.offloaded => "offloaded".to_string(),
        true => "unchanged".to_string(),
        false => clauses.join(", "),
    }
}

/// Which parts of a state differ: `content`, `mode`, `mtime`, joined.
fn what_changed(before: &State, now: &State) -> String {
    let (b, n) = (before.content(), now.content());
    let mut parts = Vec::new();
    if !b.same_data(&n) {
        parts.push("content");
    }
    if n.kind != Kind::Symlink && b.mode != n.mode {
        parts.push("mode");
    }
    if b.same_data(&n) && n.kind != Kind::Directory && b.mtime_ns != n.mtime_ns {
        parts.push("mtime");
    }
    match parts.as_slice() {
        [] => "metadata".to_string(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// One action in words, for dry runs and logs: `copy a/b.txt source -> destination`.
pub fn describe_action(entries: &[Entry], a: &Action) -> String {
    let path = &entries[a.entry as usize].path;
    match &a.operation {
        Operation::Copy(c) => match &c.to_path {
            Some(to) => format!(
                "copy {path} {} -> {} as {to}",
                c.from.name(),
                c.from.other().name()
            ),
            None => format!("copy {path} {} -> {}", c.from.name(), c.from.other().name()),
        },
        Operation::Delete(side) => format!("delete {path} on the {}", side.name()),
        Operation::MoveToDestination(to) => match to {
            Some(to) => format!("move {path} -> destination as {to}"),
            None => format!("move {path} -> destination"),
        },
        Operation::Rename(r) => format!("rename {path} -> {} on the {}", r.to_path, r.side.name()),
        Operation::Evict => format!("evict {path}"),
        Operation::Hydrate => format!("hydrate {path}"),
        Operation::Accept => format!("accept {path}"),
        Operation::Conflict(reason) => format!("conflict {path}: {reason}"),
        Operation::Skip(reason) => format!("skip {path}: {reason}"),
    }
}

/// Destination folders that hold offloaded files: their content exists
/// nowhere else.
fn only_copy_holders(entries: &[Entry]) -> std::collections::HashSet<&str> {
    let mut holders = std::collections::HashSet::new();
    for e in entries.iter().filter(|e| e.offloaded) {
        let mut p = e.path.as_str();
        while let Some(slash) = p.rfind('/') {
            p = &p[..slash];
            if !holders.insert(p) {
                break;
            }
        }
    }
    holders
}

/// The destination copy of an offloaded file is the only copy: no plan may
/// delete or replace it, or a folder holding such copies, unless the same
/// entry's actions first bring that version back to the source under a new
/// name (a conflict copy).
fn check_only_copy(
    e: &Entry,
    holders: &std::collections::HashSet<&str>,
    group: &[Action],
    problems: &mut Vec<String>,
) {
    let holds_files = holders.contains(e.path.as_str());
    if !e.offloaded && !holds_files {
        return;
    }
    let mut saved = false;
    for a in group {
        let replaces = match &a.operation {
            Operation::Copy(c) if c.from == Side::Destination && c.to_path.is_some() => {
                saved = e.offloaded;
                false
            }
            // A folder is only ever removed once empty.
            Operation::Delete(Side::Destination) => e
                .destination
                .as_ref()
                .is_some_and(|d| d.kind != Kind::Directory),
            Operation::Copy(c) if c.from == Side::Source && c.to_path.is_none() => {
                // A folder over a folder keeps what is inside.
                !(holds_files && e.source.as_ref().is_some_and(|s| s.kind == Kind::Directory))
            }
            _ => false,
        };
        if replaces && !saved {
            let what = if e.offloaded {
                "an offloaded file's destination copy"
            } else {
                "a destination folder holding offloaded files"
            };
            problems.push(format!(
                "entry {:?}: {} would remove {what}, the only copy of that content",
                e.path,
                a.operation.name()
            ));
        }
    }
}

/// A conflict the plan reports: left for `conduit resolve`, or settled by
/// the actions that follow the entry's `conflict` action.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ConflictSeen {
    /// The entry in conflict.
    pub path: String,
    /// The policy's words: what happened and, if settled, the rule.
    pub how: String,
    /// Left for `conduit resolve`.
    pub unresolved: bool,
    /// Where the losing versions are kept (conflict copies, renames).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub copies: Vec<String>,
}

/// An entry's actions split into the conflict they settle, if they begin
/// with one (`conflict` followed by other actions: the contract's form of
/// a conflict a rule settled), and the actions that change something.
pub fn settling(group: &[Action]) -> (Option<&str>, &[Action]) {
    match group {
        [first, rest @ ..] if !rest.is_empty() => match &first.operation {
            Operation::Conflict(how) => (Some(how.as_str()), rest),
            _ => (None, group),
        },
        _ => (None, group),
    }
}

/// Every conflict of a validated plan, in path order.
pub fn conflicts(entries: &[Entry], plan: &Plan) -> Vec<ConflictSeen> {
    let mut out = Vec::new();
    for group in plan.actions.chunk_by(|a, b| a.entry == b.entry) {
        let path = &entries[group[0].entry as usize].path;
        let seen = match settling(group) {
            (Some(how), rest) => ConflictSeen {
                path: path.clone(),
                how: how.to_string(),
                unresolved: false,
                copies: rest
                    .iter()
                    .filter_map(|a| match &a.operation {
                        Operation::Copy(c) => c.to_path.clone(),
                        Operation::Rename(r) => Some(r.to_path.clone()),
                        _ => None,
                    })
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect(),
            },
            (None, [a]) => match &a.operation {
                Operation::Conflict(how) => ConflictSeen {
                    path: path.clone(),
                    how: how.clone(),
                    unresolved: true,
                    copies: Vec::new(),
                },
                _ => continue,
            },
            _ => continue,
        };
        out.push(seen);
    }
    out
}

/// The actions of one entry: each consistent with the entry's state, and
/// together one coherent change.
fn check_entry(e: &Entry, group: &[Action], problems: &mut Vec<String>) {
    let mut report = |msg: String| problems.push(format!("entry {:?}: {msg}", e.path));
    for a in group {
        if let Err(msg) = check_state(e, group, &a.operation) {
            report(msg);
        }
    }
    let names: Vec<&str> = group.iter().map(|a| a.operation.name()).collect();
    let contradictory = || format!("contradictory actions: {}", names.join(" + "));
    // A leading conflict reports what the rest settles: the rest must
    // change something.
    let (declared, group) = settling(group);
    let settles_nothing = group.iter().any(|a| {
        matches!(
            a.operation,
            Operation::Accept | Operation::Conflict(_) | Operation::Skip(_)
        )
    });
    if declared.is_some() && settles_nothing {
        report(contradictory());
        return;
    }
    if group.len() == 1 {
        return;
    }
    let exclusive = group.iter().any(|a| {
        matches!(
            a.operation,
            Operation::Accept
                | Operation::Conflict(_)
                | Operation::Skip(_)
                | Operation::Delete(_)
                | Operation::MoveToDestination(_)
                | Operation::Hydrate
        )
    });
    if exclusive {
        report(contradictory());
        return;
    }
    let count =
        |pred: &dyn Fn(&Operation) -> bool| group.iter().filter(|a| pred(&a.operation)).count();
    let settle_from = group.iter().find_map(|a| match &a.operation {
        Operation::Copy(c) if c.to_path.is_none() => Some(c.from),
        _ => None,
    });
    let copies_in_place = count(&|o| matches!(o, Operation::Copy(c) if c.to_path.is_none()));
    let conflict_copies = count(&|o| matches!(o, Operation::Copy(c) if c.to_path.is_some()));
    let evicts = count(&|o| matches!(o, Operation::Evict));
    let renames_per_side = |side| count(&|o| matches!(o, Operation::Rename(r) if r.side == side));
    let renamed_away = |side| renames_per_side(side) > 0;
    let bad = copies_in_place > 1
        || conflict_copies > 1
        || evicts > 1
        || renames_per_side(Side::Source) > 1
        || renames_per_side(Side::Destination) > 1
        // Evicting goes with nothing but storing the source copy first.
        || (evicts == 1 && (group.len() > 2 || (group.len() == 2 && settle_from != Some(Side::Source))))
        // Renaming a side's copy away and then copying it from there.
        || settle_from.is_some_and(renamed_away);
    if bad {
        report(contradictory());
    }
}

/// One action against the entry's state.
fn check_state(e: &Entry, group: &[Action], op: &Operation) -> Result<(), String> {
    let present = |side: Side| e.state(side).is_some();
    let need = |side: Side, what: &str| {
        if present(side) {
            Ok(())
        } else {
            Err(format!(
                "{what} on the {}, where the entry does not exist",
                side.name()
            ))
        }
    };
    match op {
        Operation::Copy(c) => {
            need(c.from, "copy from")?;
            let state = e.state(c.from).expect("checked present");
            if state.kind == Kind::File && state.digest.is_none() {
                return Err(format!(
                    "copy from the {}, whose file could not be read",
                    c.from.name()
                ));
            }
            if c.from == Side::Destination && e.offloaded && c.to_path.is_none() {
                return Err("copy over an offloaded entry's source; use hydrate".into());
            }
            c.to_path.as_deref().map_or(Ok(()), check_target(e))
        }
        Operation::Delete(side) => need(*side, "delete"),
        Operation::Rename(r) => {
            need(r.side, "rename")?;
            check_target(e)(&r.to_path)
        }
        Operation::MoveToDestination(to) => {
            need(Side::Source, "move-to-destination from")?;
            let kind = e.source.as_ref().expect("checked present").kind;
            if kind == Kind::Directory {
                return Err("move-to-destination of a directory; move its files instead".into());
            }
            to.as_deref().map_or(Ok(()), check_relative_path)
        }
        Operation::Evict => {
            if e.source.as_ref().is_none_or(|s| s.kind != Kind::File) {
                return Err("evict, but the source holds no file here".into());
            }
            if e.pinned {
                return Err("evict of a pinned file".into());
            }
            let stored = e
                .destination
                .as_ref()
                .zip(e.source.as_ref())
                .is_some_and(|(b, a)| {
                    b.kind == Kind::File && a.digest.is_some() && a.digest == b.digest
                });
            let copied_now = group
                .iter()
                .any(|a| matches!(&a.operation, Operation::Copy(c) if c.from == Side::Source && c.to_path.is_none()));
            if stored || copied_now {
                Ok(())
            } else {
                Err(
                    "evict without a matching destination copy (copy it first in the same plan)"
                        .into(),
                )
            }
        }
        Operation::Hydrate => {
            if !e.offloaded {
                return Err("hydrate of an entry that is not offloaded".into());
            }
            if present(Side::Source) {
                return Err("hydrate over a file that exists in the source".into());
            }
            need(Side::Destination, "hydrate from")
        }
        Operation::Accept | Operation::Conflict(_) | Operation::Skip(_) => Ok(()),
    }
}

fn check_target(e: &Entry) -> impl Fn(&str) -> Result<(), String> + '_ {
    move |to: &str| {
        check_relative_path(to)?;
        if to == e.path {
            return Err(format!("target {to:?} is the entry's own path"));
        }
        Ok(())
    }
}

/// Across the whole plan: no two actions write the same path on the same
/// side, and no new name lands on a path that already exists there. Moves
/// of identical content may share a target (archive's dedupe).
fn check_targets(entries: &[Entry], actions: &[Action], problems: &mut Vec<String>) {
    let by_path: HashMap<&str, &Entry> = entries.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut writers: HashMap<(Side, &str), (&str, Option<Digest>)> = HashMap::new();
    for a in actions {
        let e = &entries[a.entry as usize];
        // (side written, path written, digest when identical content there is fine)
        let (side, path, shareable) = match &a.operation {
            Operation::Copy(c) => (
                c.from.other(),
                c.to_path.as_deref().unwrap_or(&e.path),
                None,
            ),
            Operation::Rename(r) => (r.side, r.to_path.as_str(), None),
            Operation::MoveToDestination(to) => {
                let digest = e.source.as_ref().and_then(|s| s.digest);
                (Side::Destination, to.as_deref().unwrap_or(&e.path), digest)
            }
            _ => continue,
        };
        if let Some((previous, digest)) = writers.insert((side, path), (&e.path, shareable))
            && (digest.is_none() || digest != shareable)
        {
            problems.push(format!(
                "entries {previous:?} and {:?} both write {path:?} on the {}",
                e.path,
                side.name()
            ));
        }
        if path == e.path {
            continue;
        }
        let Some(existing) = by_path.get(path).and_then(|t| t.state(side)) else {
            continue;
        };
        if shareable.is_none() || shareable != existing.digest {
            problems.push(format!(
                "entry {:?}: {} onto {path:?}, which already exists on the {}",
                e.path,
                a.operation.name(),
                side.name()
            ));
        }
    }
}
