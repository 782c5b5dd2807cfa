//! Conduit: file-content synchronization with sandboxed WebAssembly policies.
//!
//! The data path of one sync run, one module per stage:
//! `scan` both roots → [`diff`] against base → [`policy`] (a wasm component
//! decides) → [`plan`] (the host validates) → `exec` (commit-then-verify) →
//! back to the index. [`cli`] is a thin layer over the library.

pub mod cli;
pub mod diff;
pub mod plan;
pub mod policy;

/// The folder inside each root that holds Conduit's marker and trash. Always
/// ignored by scans; no policy may name a path inside it.
pub const BOOKKEEPING_DIR: &str = ".conduit";
