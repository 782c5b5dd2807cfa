//! `replicate`: a one-way mirror. The destination becomes an exact copy of
//! the source; drift on the destination is repaired from the source.

use conduit_policy::{
    Action, Change, Context, Entry, Info, Kind, Policy, Scope, Settings, Side, act, spec,
};

pub struct Replicate;

impl Policy for Replicate {
    fn describe() -> Info {
        Info {
            name: "replicate".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "One-way mirror: the destination becomes an exact copy of the source.".into(),
            options: vec![
                spec::flag(
                    "propagate-deletes",
                    true,
                    "Delete on the destination what was deleted on the source.",
                ),
                spec::flag(
                    "delete-extraneous",
                    true,
                    "Delete destination files the source never had (they go to the destination's trash).",
                ),
            ],
            scope: Scope::Changes,
        }
    }

    fn plan(ctx: &Context, entries: &[Entry]) -> Result<Vec<Action>, String> {
        let propagate_deletes = ctx.flag("propagate-deletes").unwrap_or(true);
        let delete_extraneous = ctx.flag("delete-extraneous").unwrap_or(true);
        let mut plan = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let action = match (&e.source, &e.destination) {
                _ if e.sides_agree() => act::accept(i),
                (Some(a), _) if a.kind == Kind::File && a.digest.is_none() => {
                    act::skip(i, "the source file could not be read")
                }
                (Some(_), _) => act::copy(i, Side::Source),
                (None, Some(_)) if e.source_change == Change::Deleted => {
                    if propagate_deletes {
                        act::delete(i, Side::Destination)
                    } else {
                        act::skip(
                            i,
                            "deleted on the source; kept because propagate-deletes is off",
                        )
                    }
                }
                (None, Some(_)) => {
                    if delete_extraneous {
                        act::delete(i, Side::Destination)
                    } else {
                        act::skip(
                            i,
                            "not on the source; kept because delete-extraneous is off",
                        )
                    }
                }
                (None, None) => unreachable!("absent on both sides means the sides agree"),
            };
            plan.push(action);
        }
        Ok(plan)
    }
}

#[cfg(target_arch = "wasm32")]
conduit_policy::export_policy!(Replicate);
