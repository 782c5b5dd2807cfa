//! `offload`: a smart cache. The destination is the authoritative store and
//! receives everything; the source keeps what is hot. When the source volume
//! runs short of space (or the conduit's local bytes exceed `max-local`), the
//! least recently accessed unpinned files whose destination copy verifies are
//! evicted until the target is reached.

use conduit_policy::{
    Action, Change, Context, Entry, Info, Kind, Policy, Scope, Settings, Side, Value, act,
    conflict_name, spec,
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
        let mut plan = Vec::new();
        // Files that will hold a verified destination copy after this run.
        let mut evictable: Vec<usize> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if e.offloaded {
                offloaded(ctx, i, e, &mut plan);
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
        choose_evictions(ctx, entries, evictable, &mut plan);
        Ok(plan)
    }
}

/// An entry whose source copy was evicted earlier.
fn offloaded(ctx: &Context, i: usize, e: &Entry, plan: &mut Vec<Action>) {
    match (&e.source, &e.destination) {
        (_, None) => plan.push(act::conflict(
            i,
            "offloaded, but its destination copy is gone: restore it from the destination's trash",
        )),
        // The user made a new file where an offloaded one was: bring the
        // offloaded version back under a conflict name, then store the new one.
        (Some(_), Some(_)) => {
            let aside = conflict_name(&e.path, ctx.now_ns, Side::Destination);
            plan.push(act::copy_to(i, Side::Destination, aside));
            plan.push(act::copy(i, Side::Source));
        }
        (None, Some(_)) if e.pinned => plan.push(act::hydrate(i)),
        // The store's copy changed: remember the new content.
        (None, Some(_)) if e.destination_change != Change::Unchanged => plan.push(act::accept(i)),
        (None, Some(_)) => {}
    }
}

/// Evict least-recently-accessed candidates until the space targets are met;
/// also evict anything idle longer than `evict-after`.
fn choose_evictions(
    ctx: &Context,
    entries: &[Entry],
    mut candidates: Vec<usize>,
    plan: &mut Vec<Action>,
) {
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
    for i in candidates {
        let e = &entries[i];
        let idle =
            idle_limit_ns.is_some_and(|limit| ctx.now_ns.saturating_sub(e.accessed_ns) >= limit);
        if freed < to_free || idle {
            freed += e.source.as_ref().map_or(0, |s| s.size);
            plan.push(act::evict(i));
        }
    }
}

#[cfg(target_arch = "wasm32")]
conduit_policy::export_policy!(Offload);
