//! Host-side bindings of `wit/policy.wit`: the Rust types that cross the
//! policy boundary. The rest of the host builds entries and reads actions in
//! these types, so nothing is converted on the way in or out.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "policy-component",
    additional_derives: [PartialEq],
});

pub use exports::conduit::policy::policy::{
    Action, Change, Context, Entry, Info, Kind, Operation, OptionSpec, OptionType, Rename, Scope,
    Setting, Side, State, Transfer, Value, Volume,
};

/// The contract version this host speaks, as in `wit/policy.wit`.
pub const CONTRACT: &str = "conduit:policy@1.0.0";
/// The interface a policy component must export.
pub const POLICY_INTERFACE: &str = "conduit:policy/policy@1.0.0";

/// A BLAKE3 digest in the contract's layout (four little-endian words).
pub use conduit_contract::Digest;

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

impl Side {
    /// The opposite side.
    pub fn other(self) -> Side {
        match self {
            Side::Source => Side::Destination,
            Side::Destination => Side::Source,
        }
    }

    /// `source` or `destination`, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Destination => "destination",
        }
    }
}

impl Entry {
    /// The entry's state on `side`, if the path exists there.
    pub fn state(&self, side: Side) -> Option<&State> {
        match side {
            Side::Source => self.source.as_ref(),
            Side::Destination => self.destination.as_ref(),
        }
    }
}

// One conversion between these bindings and the contract's plain types.
conduit_contract::convert_bindings!(Kind, Change, State);
