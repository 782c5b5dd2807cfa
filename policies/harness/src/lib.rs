//! The host side of the policy SDK's table tests: run the same
//! [`conduit_policy::testing::Case`] rows against the *compiled component*,
//! in the real sandbox, with the host's own option parsing and plan
//! validation — what a `conduit sync` would do with the policy.
//!
//! Out of the host's library on purpose: it builds components with cargo.
//! In a policy crate (with `conduit-harness` as a dev-dependency):
//!
//! ```no_run
//! use conduit_harness::{Harness, build_component};
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

use conduit::policy::{LoadedPolicy, Runtime};
use conduit_contract::{Action, Context, Entry, Setting, options};

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

    /// A policy already loaded (a built-in, say).
    pub fn new(policy: LoadedPolicy) -> Harness {
        Harness { policy }
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
    /// writes ([`Action::line`]).
    pub fn plan(&self, case: &Case) -> Result<Vec<String>, String> {
        let entries = entries(case);
        let settings = options::resolve(self.policy.info(), &case.settings)?;
        let ctx = context(case, settings);
        let actions = self
            .policy
            .plan(&ctx, &entries)
            .map_err(|e| e.to_string())?;
        let plan = conduit::plan::validate(self.policy.name(), &entries, actions)
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
    options::check_schema(&info.clone().into())
        .map_err(|m| format!("describe() is unusable: {m}"))?;
    let actions = P::plan(&case.context(&info)?, &case.entries)?;
    let entries = entries(case);
    let actions = actions.into_iter().map(Into::into).collect();
    let plan = conduit::plan::validate(&info.name, &entries, actions).map_err(|e| e.to_string())?;
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

/// The case's entries in the contract's types.
fn entries(case: &Case) -> Vec<Entry> {
    case.entries.iter().cloned().map(Into::into).collect()
}

fn render(case: &Case, actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| a.line(&case.entries[a.entry as usize].path))
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
        source_volume: case.source_volume.map(Into::into),
        local_bytes: case.local_bytes,
    }
}
