//! The host side of the policy SDK's table tests: run the same
//! [`conduit_policy::testing::Case`] rows against the *compiled component*,
//! in the real sandbox, with the host's own option parsing and plan
//! validation — what a `conduit sync` would do with the policy.
//!
//! In a policy crate (with `conduit` as a dev-dependency):
//!
//! ```no_run
//! use conduit::policy::testing::{Harness, build_component};
//! # fn cases() -> Vec<conduit_policy::testing::Case> { Vec::new() }
//!
//! // In tests/table.rs, under #[test]:
//! let wasm = build_component(env!("CARGO_MANIFEST_DIR").as_ref()).unwrap();
//! Harness::load(&wasm).unwrap().check(&cases());
//! ```
//!
//! [`check_native`] runs a policy type natively but through the host's
//! validation, for a fast loop that still catches invalid plans.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;
use conduit_policy as sdk;
use conduit_policy::testing::Case;

use super::{
    Action, Change, Context, Entry, Kind, LoadedPolicy, Operation, Rename, Runtime, Setting, Side,
    State, Transfer, Value, Volume, options,
};

/// A compiled policy under test.
pub struct Harness {
    policy: LoadedPolicy,
}

impl Harness {
    /// Load a component with the same checks `conduit policy install` makes.
    pub fn load(path: &Path) -> anyhow::Result<Harness> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Harness::from_bytes(&path.display().to_string(), &bytes)
    }

    /// Load a component from bytes, with the install checks.
    pub fn from_bytes(label: &str, bytes: &[u8]) -> anyhow::Result<Harness> {
        let runtime = Runtime::new(None)?;
        Ok(Harness {
            policy: runtime.check(label, bytes)?,
        })
    }

    /// The loaded policy (its `info()`, digest, …).
    pub fn policy(&self) -> &LoadedPolicy {
        &self.policy
    }

    /// Run one case in the sandbox and validate the plan as a sync would;
    /// the plan comes back as the lines [`conduit_policy::testing::render`]
    /// writes.
    pub fn plan(&self, case: &Case) -> Result<Vec<String>, String> {
        let entries: Vec<Entry> = case.entries.iter().map(entry).collect();
        let settings = options::resolve(self.policy.info(), &case.settings)?;
        let ctx = context(case, settings);
        let actions = self
            .policy
            .plan(&ctx, &entries)
            .map_err(|e| e.to_string())?;
        let plan = crate::plan::validate(self.policy.name(), &entries, actions)
            .map_err(|e| e.to_string())?;
        Ok(render(case, &plan.actions))
    }

    /// Check every case; panics with a report of all that differ.
    pub fn check(&self, cases: &[Case]) {
        sdk::testing::check_with(cases, |case| self.plan(case));
    }
}

/// Run `P` natively, but parse options and validate its plan with the host's
/// code: the fast loop of [`conduit_policy::testing::check`] with the
/// strictness of a real sync.
pub fn plan_native<P: sdk::Policy>(case: &Case) -> Result<Vec<String>, String> {
    let info = P::describe();
    options::check_schema(&info_to_host(&info))
        .map_err(|m| format!("describe() is unusable: {m}"))?;
    let actions = P::plan(&case.context(&info)?, &case.entries)?;
    let entries: Vec<Entry> = case.entries.iter().map(entry).collect();
    let actions = actions.iter().map(action).collect();
    let plan = crate::plan::validate(&info.name, &entries, actions).map_err(|e| e.to_string())?;
    Ok(render(case, &plan.actions))
}

/// Check every case natively with the host's validation.
pub fn check_native<P: sdk::Policy>(cases: &[Case]) {
    sdk::testing::check_with(cases, plan_native::<P>);
}

/// Build the policy crate at `crate_dir` for `wasm32-wasip2` (release) and
/// return the component's path. Uses its own target directory so that it
/// never waits on the build that runs the tests.
pub fn build_component(crate_dir: &Path) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = crate_dir.join("Cargo.toml");
    let metadata = Command::new(&cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(&manifest)
        .output()
        .context("running cargo metadata")?;
    anyhow::ensure!(
        metadata.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&metadata.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&metadata.stdout)?;
    let manifest_path = std::fs::canonicalize(&manifest)?;
    let package = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["manifest_path"].as_str().map(Path::new) == Some(&manifest_path))
        .context("the crate is not in its own cargo metadata")?;
    let name = package["name"].as_str().context("package name")?;
    let target_dir = PathBuf::from(
        metadata["target_directory"]
            .as_str()
            .context("target directory")?,
    )
    .join("policy-harness");
    let mut cmd = Command::new(&cargo);
    cmd.args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip2",
        "--manifest-path",
    ])
    .arg(&manifest)
    .arg("--target-dir")
    .arg(&target_dir);
    // Flags of the build running the tests are meant for the host target.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd.output().context("running cargo build")?;
    anyhow::ensure!(
        out.status.success(),
        "building {name} for wasm32-wasip2 failed (is the target installed? `rustup target add \
         wasm32-wasip2`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wasm = target_dir
        .join("wasm32-wasip2")
        .join("release")
        .join(format!("{}.wasm", name.replace('-', "_")));
    anyhow::ensure!(
        wasm.is_file(),
        "{} was not built; does the crate have `crate-type = [\"cdylib\"]`?",
        wasm.display()
    );
    Ok(wasm)
}

fn render(case: &Case, actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| sdk::testing::render(&case.entries, &action_to_sdk(a)))
        .collect()
}

fn context(case: &Case, settings: Vec<Setting>) -> Context {
    Context {
        conduit: "test".into(),
        now_ns: case.now_ns,
        first_run: case
            .first_run
            .unwrap_or_else(|| case.entries.iter().all(|e| e.base.is_none())),
        settings,
        source_volume: case.source_volume.map(|v| Volume {
            capacity: v.capacity,
            free: v.free,
        }),
        local_bytes: case.local_bytes,
    }
}

// ---- the SDK's types to the host's and back: both are generated from
// ---- `wit/policy.wit`, so the conversions are field by field.

fn side(s: sdk::Side) -> Side {
    match s {
        sdk::Side::Source => Side::Source,
        sdk::Side::Destination => Side::Destination,
    }
}

fn side_to_sdk(s: Side) -> sdk::Side {
    match s {
        Side::Source => sdk::Side::Source,
        Side::Destination => sdk::Side::Destination,
    }
}

fn change(c: sdk::Change) -> Change {
    match c {
        sdk::Change::Unchanged => Change::Unchanged,
        sdk::Change::Created => Change::Created,
        sdk::Change::Modified => Change::Modified,
        sdk::Change::Deleted => Change::Deleted,
        sdk::Change::TypeChanged => Change::TypeChanged,
    }
}

fn state(s: &sdk::State) -> State {
    State {
        kind: match s.kind {
            sdk::Kind::File => Kind::File,
            sdk::Kind::Directory => Kind::Directory,
            sdk::Kind::Symlink => Kind::Symlink,
        },
        size: s.size,
        mtime_ns: s.mtime_ns,
        mode: s.mode,
        digest: s.digest,
    }
}

fn entry(e: &sdk::Entry) -> Entry {
    Entry {
        path: e.path.clone(),
        source: e.source.as_ref().map(state),
        source_change: change(e.source_change),
        destination: e.destination.as_ref().map(state),
        destination_change: change(e.destination_change),
        base: e.base.as_ref().map(state),
        accessed_ns: e.accessed_ns,
        pinned: e.pinned,
        offloaded: e.offloaded,
    }
}

fn value(v: &sdk::Value) -> Value {
    match v {
        sdk::Value::Flag(b) => Value::Flag(*b),
        sdk::Value::Integer(i) => Value::Integer(*i),
        sdk::Value::Text(s) => Value::Text(s.clone()),
        sdk::Value::Choice(s) => Value::Choice(s.clone()),
        sdk::Value::Size(n) => Value::Size(*n),
        sdk::Value::Duration(n) => Value::Duration(*n),
        sdk::Value::Percent(p) => Value::Percent(*p),
    }
}

fn info_to_host(i: &sdk::Info) -> super::Info {
    use super::OptionType as T;
    super::Info {
        name: i.name.clone(),
        version: i.version.clone(),
        summary: i.summary.clone(),
        options: i
            .options
            .iter()
            .map(|o| super::OptionSpec {
                name: o.name.clone(),
                type_: match &o.type_ {
                    sdk::OptionType::Flag => T::Flag,
                    sdk::OptionType::Integer => T::Integer,
                    sdk::OptionType::Text => T::Text,
                    sdk::OptionType::Choice(c) => T::Choice(c.clone()),
                    sdk::OptionType::Size => T::Size,
                    sdk::OptionType::Duration => T::Duration,
                    sdk::OptionType::SizeOrPercent => T::SizeOrPercent,
                },
                default: o.default.as_ref().map(value),
                help: o.help.clone(),
            })
            .collect(),
        scope: match i.scope {
            sdk::Scope::Changes => super::Scope::Changes,
            sdk::Scope::Everything => super::Scope::Everything,
        },
    }
}

fn action(a: &sdk::Action) -> Action {
    let operation = match &a.operation {
        sdk::Operation::Copy(t) => Operation::Copy(Transfer {
            from: side(t.from),
            to_path: t.to_path.clone(),
        }),
        sdk::Operation::Delete(s) => Operation::Delete(side(*s)),
        sdk::Operation::MoveToDestination(to) => Operation::MoveToDestination(to.clone()),
        sdk::Operation::Rename(r) => Operation::Rename(Rename {
            side: side(r.side),
            to_path: r.to_path.clone(),
        }),
        sdk::Operation::Evict => Operation::Evict,
        sdk::Operation::Hydrate => Operation::Hydrate,
        sdk::Operation::Accept => Operation::Accept,
        sdk::Operation::Conflict(r) => Operation::Conflict(r.clone()),
        sdk::Operation::Skip(r) => Operation::Skip(r.clone()),
    };
    Action {
        entry: a.entry,
        operation,
    }
}

fn action_to_sdk(a: &Action) -> sdk::Action {
    let operation = match &a.operation {
        Operation::Copy(t) => sdk::Operation::Copy(sdk::Transfer {
            from: side_to_sdk(t.from),
            to_path: t.to_path.clone(),
        }),
        Operation::Delete(s) => sdk::Operation::Delete(side_to_sdk(*s)),
        Operation::MoveToDestination(to) => sdk::Operation::MoveToDestination(to.clone()),
        Operation::Rename(r) => sdk::Operation::Rename(sdk::Rename {
            side: side_to_sdk(r.side),
            to_path: r.to_path.clone(),
        }),
        Operation::Evict => sdk::Operation::Evict,
        Operation::Hydrate => sdk::Operation::Hydrate,
        Operation::Accept => sdk::Operation::Accept,
        Operation::Conflict(r) => sdk::Operation::Conflict(r.clone()),
        Operation::Skip(r) => sdk::Operation::Skip(r.clone()),
    };
    sdk::Action {
        entry: a.entry,
        operation,
    }
}
