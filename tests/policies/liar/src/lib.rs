//! A policy whose `describe()` lies: it declares `strategy=paranoid`, but its
//! `plan` does not know that value. Install must refuse it, before any user
//! picks the value and their sync fails.

use conduit_policy::{Action, Context, Entry, Info, Policy, Scope, Settings, act, spec};

pub struct Liar;

impl Policy for Liar {
    fn describe() -> Info {
        Info {
            name: "liar".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "Promises an option value it cannot handle (test fixture).".into(),
            options: vec![spec::choice(
                "strategy",
                &["fast", "careful", "paranoid"],
                "fast",
                "How careful to be.",
            )],
            scope: Scope::Changes,
        }
    }

    fn plan(ctx: &Context, entries: &[Entry]) -> Result<Vec<Action>, String> {
        match ctx.text("strategy") {
            Some("fast" | "careful") => Ok((0..entries.len()).map(act::accept).collect()),
            other => Err(format!("unknown strategy {other:?}")),
        }
    }
}

#[cfg(target_arch = "wasm32")]
conduit_policy::export_policy!(Liar);
