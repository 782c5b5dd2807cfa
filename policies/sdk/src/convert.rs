//! The one conversion between the SDK's wit-bindgen types and the contract
//! crate's plain types (`conduit_contract`), which the host uses. Both are
//! shaped by `wit/policy.wit`, so each conversion is field by field; native
//! tests go through it to apply the contract's rules (classification, option
//! parsing, rendering) and the host's harness to run SDK cases.

use crate::{
    Action, Change, Context, Entry, Info, Kind, Operation, OptionSpec, OptionType, Rename, Scope,
    Setting, Side, State, Transfer, Value, Volume,
};
use conduit_contract as c;

/// Two `From` impls for a fieldless enum of the same cases on both sides.
macro_rules! cases {
    ($ty:ident { $($case:ident),* $(,)? }) => {
        impl From<$ty> for c::$ty {
            fn from(x: $ty) -> c::$ty {
                match x { $($ty::$case => c::$ty::$case),* }
            }
        }
        impl From<c::$ty> for $ty {
            fn from(x: c::$ty) -> $ty {
                match x { $(c::$ty::$case => $ty::$case),* }
            }
        }
    };
}

cases!(Side {
    Source,
    Destination
});
cases!(Kind {
    File,
    Directory,
    Symlink
});
cases!(Change {
    Unchanged,
    Created,
    Modified,
    Deleted,
    TypeChanged
});
cases!(Scope {
    Changes,
    Everything
});

/// Two `From` impls for a record; each field converts with the given
/// function (`into` for plain fields, `opt`/`all` for options and lists).
macro_rules! record {
    ($ty:ident { $($field:ident: $how:ident),* $(,)? }) => {
        impl From<$ty> for c::$ty {
            fn from(x: $ty) -> c::$ty {
                c::$ty { $($field: $how(x.$field)),* }
            }
        }
        impl From<c::$ty> for $ty {
            fn from(x: c::$ty) -> $ty {
                $ty { $($field: $how(x.$field)),* }
            }
        }
    };
}

fn into<A: Into<B>, B>(a: A) -> B {
    a.into()
}

fn opt<A: Into<B>, B>(a: Option<A>) -> Option<B> {
    a.map(Into::into)
}

fn all<A: Into<B>, B>(a: Vec<A>) -> Vec<B> {
    a.into_iter().map(Into::into).collect()
}

record!(State {
    kind: into,
    size: into,
    mtime_ns: into,
    mode: into,
    digest: into
});
record!(Entry {
    path: into,
    source: opt,
    source_change: into,
    destination: opt,
    destination_change: into,
    base: opt,
    accessed_ns: into,
    pinned: into,
    offloaded: into,
});
record!(Transfer {
    from: into,
    to_path: into
});
record!(Rename {
    side: into,
    to_path: into
});
record!(Action {
    entry: into,
    operation: into
});
record!(OptionSpec {
    name: into,
    type_: into,
    default: opt,
    help: into
});
record!(Info {
    name: into,
    version: into,
    summary: into,
    options: all,
    scope: into
});
record!(Setting {
    name: into,
    value: into
});
record!(Volume {
    capacity: into,
    free: into
});
record!(Context {
    conduit: into,
    now_ns: into,
    first_run: into,
    settings: all,
    source_volume: opt,
    local_bytes: into,
});

/// Two `From` impls for a variant; `$case(x)` payloads convert with `into`.
macro_rules! variant {
    ($ty:ident { $($case:ident),* ; $($with:ident),* $(,)? }) => {
        impl From<$ty> for c::$ty {
            fn from(x: $ty) -> c::$ty {
                match x {
                    $($ty::$case => c::$ty::$case,)*
                    $($ty::$with(p) => c::$ty::$with(into(p)),)*
                }
            }
        }
        impl From<c::$ty> for $ty {
            fn from(x: c::$ty) -> $ty {
                match x {
                    $(c::$ty::$case => $ty::$case,)*
                    $(c::$ty::$with(p) => $ty::$with(into(p)),)*
                }
            }
        }
    };
}

variant!(Operation {
    Evict, Hydrate, Accept;
    Copy, Delete, MoveToDestination, Rename, Conflict, Skip
});
variant!(OptionType {
    Flag, Integer, Text, Size, Duration, SizeOrPercent;
    Choice
});
variant!(Value {
    ;
    Flag, Integer, Text, Choice, Size, Duration, Percent
});

impl State {
    /// The part of the state the contract's rules compare.
    pub fn content(&self) -> c::Content {
        c::Content {
            kind: self.kind.into(),
            digest: self.digest,
            mode: self.mode,
            mtime_ns: self.mtime_ns,
        }
    }
}
