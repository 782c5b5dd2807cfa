//! Write Conduit sync policies in Rust.
//!
//! A policy is a type implementing [`Policy`]: `describe` says what it is and
//! which options it takes, `plan` turns the entries of a three-way diff into
//! [`Action`]s. [`export_policy!`] turns it into a WebAssembly component when
//! built for `wasm32-wasip2`; natively the same type is an ordinary Rust value,
//! which is how policies are unit-tested and benchmarked.
//!
//! - [`spec`] builds the option schema, [`Settings`] reads typed options
//!   from the context, [`act`] builds actions, [`changed`] and [`indexed`]
//!   walk entries with their indices, [`Entry`] and [`State`] have helpers
//!   (`extension`, `same_content`, `sides_agree`, …).
//! - [`testing`] runs tables of cases natively; the same tables run against
//!   the compiled component with `conduit_harness`.
//! - docs/writing-policies.md walks through a policy from nothing to
//!   installed; `policies/examples/mirror-types` is a complete one.
//!
//! ```ignore
//! struct NeverDelete;
//! impl conduit_policy::Policy for NeverDelete {
//!     fn describe() -> Info { /* … */ }
//!     fn plan(ctx: &Context, entries: &[Entry]) -> Result<Vec<Action>, String> {
//!         Ok(entries.iter().enumerate()
//!             .filter(|(_, e)| e.source_change == Change::Created)
//!             .map(|(i, _)| act::copy(i, Side::Source))
//!             .collect())
//!     }
//! }
//! conduit_policy::export_policy!(NeverDelete);
//! ```

mod convert;
pub mod testing;
mod time;

/// Sizes and durations in their text forms (`500M`, `7d`), as options take them.
pub use conduit_contract::units;

/// The bindings generated from `wit/policy.wit`. Policies rarely need more
/// than the re-exports at the crate root.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "policy-component",
        pub_export_macro: true,
        default_bindings_module: "conduit_policy::bindings",
        additional_derives: [PartialEq],
    });
}

pub use bindings::exports::conduit::policy::policy::{
    Action, Change, Context, Digest, Entry, Info, Kind, Operation, OptionSpec, OptionType, Rename,
    Scope, Setting, Side, State, Transfer, Value, Volume,
};
pub use conduit_contract::{NAME_MAX, check_relative_path};
pub use time::{ConflictNames, civil_from_unix, conflict_name, conflict_name_where, fit_name};

/// A sync policy: decides, never does.
pub trait Policy {
    /// Name, version, option schema and scope. Must not depend on input.
    fn describe() -> Info;
    /// Decide what to do with `entries`; actions name entries by index.
    fn plan(ctx: &Context, entries: &[Entry]) -> Result<Vec<Action>, String>;
}

/// Export a [`Policy`] as the component's `conduit:policy/policy` interface.
/// Expands to nothing useful on native targets, so invoke it under
/// `#[cfg(target_arch = "wasm32")]`.
#[macro_export]
macro_rules! export_policy {
    ($policy:ident) => {
        impl $crate::bindings::exports::conduit::policy::policy::Guest for $policy {
            fn describe() -> $crate::Info {
                <$policy as $crate::Policy>::describe()
            }
            fn plan(
                context: $crate::Context,
                entries: ::std::vec::Vec<$crate::Entry>,
            ) -> ::std::result::Result<::std::vec::Vec<$crate::Action>, ::std::string::String> {
                let plan = <$policy as $crate::Policy>::plan(&context, &entries);
                // The host runs every call in a fresh instance and throws it
                // away afterwards; freeing each entry's path first is wasted
                // work (a tenth of the call on a million entries).
                ::std::mem::forget(entries);
                plan
            }
        }
        $crate::bindings::export!($policy with_types_in $crate::bindings);
    };
}

impl Side {
    /// The other root.
    pub fn other(self) -> Side {
        match self {
            Side::Source => Side::Destination,
            Side::Destination => Side::Source,
        }
    }

    /// `source` or `destination`, as used in conflict names and messages.
    pub fn name(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Destination => "destination",
        }
    }
}

impl State {
    /// True when both states hold the same content: same kind and, for files
    /// and symlinks, equal known digests. Directories are equal by kind.
    pub fn same_content(&self, other: &State) -> bool {
        self.content().same_data(&other.content())
    }

    /// True when one is an exact copy of the other: same content, and the
    /// same mode (files, folders) and mtime (files, symlinks).
    pub fn same_as(&self, other: &State) -> bool {
        self.content().same_as(&other.content())
    }
}

impl Entry {
    /// The entry's state on `side`, if present.
    pub fn state(&self, side: Side) -> Option<&State> {
        match side {
            Side::Source => self.source.as_ref(),
            Side::Destination => self.destination.as_ref(),
        }
    }

    /// How `side` changed since base.
    pub fn change(&self, side: Side) -> Change {
        match side {
            Side::Source => self.source_change,
            Side::Destination => self.destination_change,
        }
    }

    /// The last component of the path.
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// The file name's extension, lowercased (`Photo.JPG` -> `jpg`); none
    /// for names without one and for dot-files such as `.profile`.
    pub fn extension(&self) -> Option<String> {
        let name = self.file_name();
        match name.rfind('.') {
            Some(0) | None => None,
            Some(dot) => Some(name[dot + 1..].to_ascii_lowercase()),
        }
    }

    /// True when each side is an exact copy of the other (content, mode
    /// and mtime), or both are absent.
    pub fn sides_agree(&self) -> bool {
        match (&self.source, &self.destination) {
            (Some(a), Some(b)) => a.same_as(b),
            (None, None) => true,
            _ => false,
        }
    }

    /// True when both sides hold the same content, whatever their mode and
    /// mtime: a copy between them only has to set metadata.
    pub fn content_agrees(&self) -> bool {
        match (&self.source, &self.destination) {
            (Some(a), Some(b)) => a.same_content(b),
            _ => false,
        }
    }
}

/// The entries with their indices (actions name entries by index).
pub fn indexed(entries: &[Entry]) -> impl Iterator<Item = (usize, &Entry)> {
    entries.iter().enumerate()
}

/// The entries (with indices) whose `side` changed as `change` says, e.g.
/// every file created in the source: `changed(entries, Side::Source, Change::Created)`.
pub fn changed(
    entries: &[Entry],
    side: Side,
    change: Change,
) -> impl Iterator<Item = (usize, &Entry)> {
    indexed(entries).filter(move |(_, e)| e.change(side) == change)
}

/// Typed access to the context's settings. The host has already checked every
/// value against the declared type, so a getter returns `None` only for an
/// option that is unset (declared without default) or of another type.
pub trait Settings {
    /// The raw value of an option.
    fn setting(&self, name: &str) -> Option<&Value>;

    fn flag(&self, name: &str) -> Option<bool> {
        match self.setting(name)? {
            Value::Flag(b) => Some(*b),
            _ => None,
        }
    }

    fn integer(&self, name: &str) -> Option<i64> {
        match self.setting(name)? {
            Value::Integer(i) => Some(*i),
            _ => None,
        }
    }

    fn text(&self, name: &str) -> Option<&str> {
        match self.setting(name)? {
            Value::Text(s) | Value::Choice(s) => Some(s),
            _ => None,
        }
    }

    fn size(&self, name: &str) -> Option<u64> {
        match self.setting(name)? {
            Value::Size(n) => Some(*n),
            _ => None,
        }
    }

    /// A duration in seconds.
    fn duration(&self, name: &str) -> Option<u64> {
        match self.setting(name)? {
            Value::Duration(s) => Some(*s),
            _ => None,
        }
    }

    /// A choice option as the policy's own type: `table` pairs each choice
    /// with its value, the first pair being the default (declare it with
    /// [`spec::choice_of`] from the same table). Unset (a context built by
    /// hand): the default. A value outside the table is an error naming it.
    fn choice<T: Copy>(&self, name: &str, table: &[(&str, T)]) -> Result<T, String> {
        let Some(text) = self.text(name) else {
            return table
                .first()
                .map(|(_, value)| *value)
                .ok_or_else(|| format!("option `{name}` has no choices"));
        };
        table
            .iter()
            .find(|(choice, _)| *choice == text)
            .map(|(_, value)| *value)
            .ok_or_else(|| format!("option `{name}` has no choice {text:?}"))
    }

    /// A `size-or-percent` option resolved against a total (e.g. capacity).
    fn bytes_of(&self, name: &str, total: u64) -> Option<u64> {
        match self.setting(name)? {
            Value::Size(n) => Some(*n),
            Value::Percent(p) => Some((total as f64 * p.clamp(0.0, 100.0) / 100.0) as u64),
            _ => None,
        }
    }
}

impl Settings for Context {
    fn setting(&self, name: &str) -> Option<&Value> {
        self.settings
            .iter()
            .find(|s| s.name == name)
            .map(|s| &s.value)
    }
}

/// Builders for the common option specs, so `describe` reads as a table.
pub mod spec {
    use super::{OptionSpec, OptionType, Value};

    fn spec(name: &str, kind: OptionType, default: Option<Value>, help: &str) -> OptionSpec {
        OptionSpec {
            name: name.to_string(),
            type_: kind,
            default,
            help: help.to_string(),
        }
    }

    /// Free text; `None`: unset unless the user sets it.
    pub fn text(name: &str, default: Option<&str>, help: &str) -> OptionSpec {
        let default = default.map(|d| Value::Text(d.to_string()));
        spec(name, OptionType::Text, default, help)
    }

    /// A whole number; `None`: unset unless the user sets it.
    pub fn integer(name: &str, default: Option<i64>, help: &str) -> OptionSpec {
        spec(name, OptionType::Integer, default.map(Value::Integer), help)
    }

    pub fn flag(name: &str, default: bool, help: &str) -> OptionSpec {
        spec(name, OptionType::Flag, Some(Value::Flag(default)), help)
    }

    pub fn choice(name: &str, choices: &[&str], default: &str, help: &str) -> OptionSpec {
        let choices = choices.iter().map(|c| c.to_string()).collect();
        let default = Some(Value::Choice(default.to_string()));
        spec(name, OptionType::Choice(choices), default, help)
    }

    /// A choice read with [`super::Settings::choice`] from `table`, whose
    /// first pair is the default.
    pub fn choice_of<T>(name: &str, table: &[(&str, T)], help: &str) -> OptionSpec {
        let choices: Vec<&str> = table.iter().map(|(c, _)| *c).collect();
        choice(
            name,
            &choices,
            choices.first().copied().unwrap_or_default(),
            help,
        )
    }

    pub fn size(name: &str, default: Option<u64>, help: &str) -> OptionSpec {
        spec(name, OptionType::Size, default.map(Value::Size), help)
    }

    pub fn duration(name: &str, default: Option<u64>, help: &str) -> OptionSpec {
        spec(
            name,
            OptionType::Duration,
            default.map(Value::Duration),
            help,
        )
    }

    pub fn size_or_percent(name: &str, default: Option<Value>, help: &str) -> OptionSpec {
        spec(name, OptionType::SizeOrPercent, default, help)
    }
}

/// Builders for actions, so a plan reads as a list of decisions.
pub mod act {
    use super::{Action, Operation, Rename, Side, Transfer};

    fn action(entry: usize, operation: Operation) -> Action {
        Action {
            entry: entry as u32,
            operation,
        }
    }

    /// Copy entry `entry` from side `from` to the other side, same path.
    pub fn copy(entry: usize, from: Side) -> Action {
        action(
            entry,
            Operation::Copy(Transfer {
                from,
                to_path: None,
            }),
        )
    }

    /// Copy entry `entry` from side `from` to `to_path` on the other side.
    pub fn copy_to(entry: usize, from: Side, to_path: String) -> Action {
        let to_path = Some(to_path);
        action(entry, Operation::Copy(Transfer { from, to_path }))
    }

    pub fn delete(entry: usize, side: Side) -> Action {
        action(entry, Operation::Delete(side))
    }

    pub fn rename(entry: usize, side: Side, to_path: String) -> Action {
        action(entry, Operation::Rename(Rename { side, to_path }))
    }

    pub fn move_to_destination(entry: usize, to_path: Option<String>) -> Action {
        action(entry, Operation::MoveToDestination(to_path))
    }

    pub fn evict(entry: usize) -> Action {
        action(entry, Operation::Evict)
    }

    pub fn hydrate(entry: usize) -> Action {
        action(entry, Operation::Hydrate)
    }

    pub fn accept(entry: usize) -> Action {
        action(entry, Operation::Accept)
    }

    pub fn conflict(entry: usize, reason: impl Into<String>) -> Action {
        action(entry, Operation::Conflict(reason.into()))
    }

    pub fn skip(entry: usize, reason: impl Into<String>) -> Action {
        action(entry, Operation::Skip(reason.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_choice_reads_into_the_policy_type_or_says_what_is_wrong() {
        let ctx = |value: Option<Value>| Context {
            conduit: "c".into(),
            now_ns: 0,
            first_run: false,
            settings: value
                .into_iter()
                .map(|value| Setting {
                    name: "mode".into(),
                    value,
                })
                .collect(),
            source_volume: None,
            local_bytes: 0,
        };
        let table = [("a", 1), ("b", 2)];
        let choice = |v: &str| Some(Value::Choice(v.into()));
        assert_eq!(ctx(choice("b")).choice("mode", &table), Ok(2));
        assert_eq!(
            ctx(choice("c")).choice("mode", &table),
            Err("option `mode` has no choice \"c\"".into())
        );
        assert_eq!(
            ctx(None).choice("mode", &table),
            Ok(1),
            "the first is the default"
        );
    }
}
