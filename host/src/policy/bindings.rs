//! Host-side bindings of `wit/policy.wit` for what only the policy runtime
//! and the plan stage handle: `describe`'s info, the options and the
//! context. Entries and actions are the contract crate's types
//! (`conduit_contract`), which carry wasmtime's derives themselves, so a
//! diff goes in and a plan comes out without a conversion.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "policy-component",
    additional_derives: [PartialEq],
});

pub use exports::conduit::policy::policy::{
    Context, Info, OptionSpec, OptionType, Scope, Setting, Value, Volume,
};

/// The contract version this host speaks, as in `wit/policy.wit`.
pub const CONTRACT: &str = "conduit:policy@1.0.0";
/// The interface a policy component must export.
pub const POLICY_INTERFACE: &str = "conduit:policy/policy@1.0.0";

pub use conduit_contract::{
    Action, Change, Digest, Entry, Kind, Operation, Rename, Side, State, Transfer,
};

/// Pack 32 digest bytes into the contract's layout.
pub fn digest_from_bytes(bytes: &[u8; 32]) -> Digest {
    let word = |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap());
    (word(0), word(1), word(2), word(3))
}

/// Unpack a digest into its 32 bytes.
pub fn digest_to_bytes(d: Digest) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, w) in [d.0, d.1, d.2, d.3].into_iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    out
}
