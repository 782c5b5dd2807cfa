//! `offload`: a smart cache. The destination is the authoritative store and
//! receives everything; the source keeps what is hot. When the source volume
//! runs short of space (or the conduit's local bytes exceed `max-local`), the
//! least recently accessed unpinned files whose destination copy verifies are
//! evicted until the target is reached.

use std::collections::HashSet;

use conduit_policy::{
    Action, Change, ConflictNames, Context, Entry, Info, Kind, Operation, Policy, Scope, Settings,
    Side, Value, act, spec,
};

pub struct Offload;

/// With `max-local`, eviction goes this far below the limit (hysteresis), so
/// that one new file does not trigger an eviction on every run.
const MAX_LOCAL_REFILL_PERCENT: u64 = 90;

impl Policy for Offload {
    fn describe() -> Info {
        Info {
            name: "offload".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary:
                "Smart cache: everything goes to the destination, cold files leave the source."
                    .into(),
            options: vec![
                spec::size_or_percent(
                    "min-free",
                    Some(Value::Percent(10.0)),
                    "Start evicting when the source volume has less free space than this.",
                ),
                spec::size_or_percent(
                    "target-free",
                    Some(Value::Percent(20.0)),
                    "Once evicting, go on until the source volume has this much free space.",
                ),
                spec::size(
                    "max-local",
                    None,
                    "Keep at most this many bytes of the conduit's files in the source (evicts down to 90%).",
                ),
                spec::duration(
                    "evict-after",
                    None,
                    "Evict any file not accessed for this long, whatever the free space.",
                ),
            ],
            scope: Scope::Everything,
        }
    }

    fn plan(ctx: &Context, entries: &[Entry]) -> Result<Vec<Action>, String> {
        let holders = holders_of_offloaded(entries);
        let mut names = ConflictNames::new(entries);
        let mut plan = Vec::new();
        // Files that will hold a verified destination copy after this run.
        let mut evictable: Vec<usize> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if e.offloaded {
                offloaded(ctx, i, e, &mut names, &mut plan);
                continue;
            }
            let Some(a) = &e.source else {
                // Deleted by the user: the deletion reaches the destination's
                // trash. A destination-only file is the store's own business.
                if e.source_change == Change::Deleted && e.destination.is_some() {
                    plan.push(act::delete(i, Side::Destination));
                } else if e.destination.is_none() && e.base.is_some() {
                    plan.push(act::accept(i));
                }
                continue;
            };
            if a.kind == Kind::File && a.digest.is_none() {
                plan.push(act::skip(i, "the source file could not be read"));
                continue;
            }
            if a.kind != Kind::Directory && holders.contains(e.path.as_str()) {
                // The destination folder here holds the only copies of
                // offloaded files; a file or link from the source must not
                // replace it.
                plan.push(act::conflict(
                    i,
                    "the source replaced a folder holding offloaded files with a file or \
                     symlink; the offloaded files stay in the destination folder: hydrate or move \
                     them, then remove the source's file",
                ));
                continue;
            }
            if !e.sides_agree() {
                plan.push(act::copy(i, Side::Source));
            } else if e.source_change != Change::Unchanged
                || e.destination_change != Change::Unchanged
            {
                plan.push(act::accept(i));
            }
            if a.kind == Kind::File && !e.pinned {
                evictable.push(i);
            }
        }
        let evicted = choose_evictions(ctx, entries, evictable);
        // An eviction settles the entry by itself (the base records it as
        // offloaded): it replaces an accept, and follows a copy.
        plan.retain(|a| {
            !(evicted.contains(&(a.entry as usize)) && matches!(a.operation, Operation::Accept))
        });
        plan.extend(evicted.into_iter().map(act::evict));
        Ok(plan)
    }
}

/// An entry whose source copy was evicted earlier.
fn offloaded(
    ctx: &Context,
    i: usize,
    e: &Entry,
    names: &mut ConflictNames,
    plan: &mut Vec<Action>,
) {
    match (&e.source, &e.destination) {
        (_, None) => plan.push(act::conflict(
            i,
            "offloaded, but its destination copy is gone: restore it from the destination's trash",
        )),
        // The user made a new file where an offloaded one was: bring the
        // offloaded version back under a conflict name, then store the new one.
        (Some(_), Some(_)) => {
            let aside = names.name(&e.path, ctx.now_ns, Side::Destination);
            plan.push(act::conflict(
                i,
                "a new file where an offloaded one was: both kept, the offloaded one under a \
                 conflict name",
            ));
            plan.push(act::copy_to(i, Side::Destination, aside));
            plan.push(act::copy(i, Side::Source));
        }
        (None, Some(_)) if e.pinned => plan.push(act::hydrate(i)),
        // The store's copy changed: remember the new content.
        (None, Some(_)) if e.destination_change != Change::Unchanged => plan.push(act::accept(i)),
        (None, Some(_)) => {}
    }
}

/// Destination folders that hold offloaded files (their only copies).
fn holders_of_offloaded(entries: &[Entry]) -> HashSet<&str> {
    let mut holders = HashSet::new();
    for e in entries.iter().filter(|e| e.offloaded) {
        let mut p = e.path.as_str();
        while let Some(slash) = p.rfind('/') {
            p = &p[..slash];
            holders.insert(p);
        }
    }
    holders
}

/// The least-recently-accessed candidates to evict until the space targets
/// are met, and anything idle longer than `evict-after`, as entry indices.
fn choose_evictions(ctx: &Context, entries: &[Entry], mut candidates: Vec<usize>) -> Vec<usize> {
    let mut to_free = 0u64;
    if let Some(vol) = &ctx.source_volume {
        let min_free = ctx.bytes_of("min-free", vol.capacity).unwrap_or(0);
        let target_free = ctx
            .bytes_of("target-free", vol.capacity)
            .unwrap_or(0)
            .max(min_free);
        if vol.free < min_free {
            to_free = target_free - vol.free;
        }
    }
    if let Some(max_local) = ctx.size("max-local")
        && ctx.local_bytes > max_local
    {
        let refill_to = max_local / 100 * MAX_LOCAL_REFILL_PERCENT;
        to_free = to_free.max(ctx.local_bytes - refill_to);
    }
    let idle_limit_ns = ctx.duration("evict-after").map(|s| {
        i64::try_from(s)
            .unwrap_or(i64::MAX)
            .saturating_mul(1_000_000_000)
    });
    candidates.sort_by_key(|&i| (entries[i].accessed_ns, i));
    let mut freed = 0u64;
    let mut evicted = Vec::new();
    for i in candidates {
        let e = &entries[i];
        let idle =
            idle_limit_ns.is_some_and(|limit| ctx.now_ns.saturating_sub(e.accessed_ns) >= limit);
        if freed < to_free || idle {
            freed += e.source.as_ref().map_or(0, |s| s.size);
            evicted.push(i);
        }
    }
    evicted
}

#[cfg(target_arch = "wasm32")]
conduit_policy::export_policy!(Offload);
