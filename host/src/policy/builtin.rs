//! The built-in policies, compiled from `policies/*` by `host/build.rs` and
//! embedded in the binary.

include!(concat!(env!("OUT_DIR"), "/builtin_components.rs"));

/// Names of the built-in policies, in the order `policy list` shows them.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN_COMPONENTS.iter().map(|(name, _)| *name)
}

/// The component bytes of a built-in policy.
pub(crate) fn component(name: &str) -> Option<&'static [u8]> {
    BUILTIN_COMPONENTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, bytes)| *bytes)
}
