//! Conduit: file-content synchronization with sandboxed WebAssembly policies.
//!
//! The data path of one sync run, one module per stage:
//! [`scan`] both roots (into the [`index`]) → [`diff`] against base →
//! [`policy`] (a wasm component decides) → [`plan`] (the host validates and
//! applies the safety guards) → [`exec`] (commit-then-verify through a
//! [`location`]) → back to the [`index`]. [`api`] is the embedding surface
//! that drives it; [`watch`] runs conduits by themselves (filesystem events
//! and cadences); [`serve`] adds the HTTP API and web UI to it; [`cli`] is a
//! thin layer over [`api`], [`watch`] and [`serve`].

#![warn(missing_docs)]

pub mod api;
pub mod cli;
pub mod clock;
pub mod device;
pub mod diff;
pub mod exec;
pub mod index;
pub mod location;
mod locks;
pub mod place;
pub mod plan;
pub mod policy;
pub mod scan;
pub mod serve;
pub mod settings;
pub mod testhook;
pub mod watch;

/// The folder inside each root that holds Conduit's marker, trash and
/// staging area. Always ignored by scans; no policy may name a path inside it.
pub use conduit_contract::BOOKKEEPING_DIR;
