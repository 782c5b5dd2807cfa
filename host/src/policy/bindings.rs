//! Host-side bindings of `wit/policy.wit`: the generated world checks a
//! component's exports when it is loaded. The values that cross are the
//! contract crate's types (`conduit_contract`), which carry wasmtime's
//! derives themselves, so a diff goes in and a plan comes out without a
//! conversion.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "policy-component",
});

/// The contract version this host speaks, as in `wit/policy.wit`.
pub const CONTRACT: &str = "conduit:policy@1.0.0";
/// The interface a policy component must export.
pub const POLICY_INTERFACE: &str = "conduit:policy/policy@1.0.0";

pub use conduit_contract::{
    Action, Change, Context, Digest, Entry, Info, Kind, Operation, OptionSpec, OptionType, Rename,
    Scope, Setting, Side, State, Transfer, Value, Volume, digest_from_bytes, digest_to_bytes,
};
