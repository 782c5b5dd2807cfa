//! Locations: where a conduit's roots live, and the only code that reads or
//! changes files in them. Paths given to a location are relative and
//! `/`-separated; they were checked by [`crate::plan::check_relative_path`]
//! or come from the location's own listing.

mod confined;
mod local;

pub use local::{CommitError, Folder, LocalRoot, Opened, Staged};
pub(crate) use local::{identity_of, record_of};
