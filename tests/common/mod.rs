//! Helpers shared by the workspace tests that call the policy runtime
//! directly: one runtime per binary, contexts, and planning with the host's
//! validation. Entries are built with the SDK's builders
//! (`conduit_policy::testing`), converted to the contract's types.

use std::sync::OnceLock;

use conduit::plan::{self, Plan};
use conduit::policy::{Context, Entry, LoadedPolicy, PolicyError, Runtime, Setting, options};
use conduit_policy::testing::{EntryBuilder, NOW};

/// One runtime per test binary (compiling components is the slow part).
pub fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(|| Runtime::new(None).expect("runtime"))
}

pub fn builtin(name: &str) -> LoadedPolicy {
    runtime().builtin(name).expect("built-in loads")
}

/// An SDK-built entry in the contract's types, as the host sends it.
pub fn host_entry(e: EntryBuilder) -> Entry {
    e.build().into()
}

/// A context at `NOW` with the given options resolved against the policy's schema.
pub fn context(policy: &LoadedPolicy, set: &[(&str, &str)], entries: &[Entry]) -> Context {
    let given: Vec<(String, String)> = set
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let settings: Vec<Setting> = options::resolve(policy.info(), &given).expect("valid options");
    Context {
        conduit: "test".into(),
        now_ns: NOW,
        first_run: entries.iter().all(|e| e.base.is_none()),
        settings,
        source_volume: None,
        local_bytes: 0,
    }
}

/// Run a policy through the wasm runtime and the host's validation.
pub fn plan_with(
    policy: &LoadedPolicy,
    ctx: &Context,
    entries: &[Entry],
) -> Result<Plan, PolicyError> {
    let actions = policy.plan(ctx, entries)?;
    plan::validate(policy.name(), entries, actions)
}
