//! A policy that returns an invalid plan for any diff, the empty one too: it
//! always accepts entry 0. Install must refuse it.

use conduit_policy::{Action, Context, Entry, Info, Policy, Scope, act};

pub struct Eager;

impl Policy for Eager {
    fn describe() -> Info {
        Info {
            name: "eager".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            summary: "Acts on entries that do not exist (test fixture).".into(),
            options: Vec::new(),
            scope: Scope::Changes,
        }
    }

    fn plan(_: &Context, _: &[Entry]) -> Result<Vec<Action>, String> {
        Ok(vec![act::accept(0)])
    }
}

#[cfg(target_arch = "wasm32")]
conduit_policy::export_policy!(Eager);
