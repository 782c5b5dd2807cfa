//! Compiles the built-in policies (and the test fixture policies) to
//! `wasm32-wasip2` components and hands their paths to the crate, which embeds
//! the built-ins with `include_bytes!`.
//!
//! A nested cargo builds them into its own target directory, so it never
//! waits on the lock of the outer build.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
/// Built-in policies, embedded in the binary.
const BUILTINS: &[&str] = &["replicate", "synchronize", "offload", "archive"];
/// Test fixtures and the example third-party policies: built alongside,
/// never embedded; tests load them by path from `CONDUIT_FIXTURE_<NAME>`.
const FIXTURES: &[&str] = &[
    "misbehave",
    "liar",
    "eager",
    "wrong-contract",
    "contract-1-0-0",
    "mirror-types",
];

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.parent().unwrap().to_path_buf();
    for watched in [
        "wit",
        "policies",
        "tests/policies",
        "Cargo.toml",
        "Cargo.lock",
    ] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    ensure_target_installed(&rustc);

    let target_dir = workspace.join("target").join("policies");
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(&workspace)
        .args([
            "build",
            "--target",
            TARGET,
            "--profile",
            "policy",
            "--target-dir",
        ])
        .arg(&target_dir);
    for name in BUILTINS.iter().chain(FIXTURES) {
        cmd.args(["-p", &crate_name(name)]);
    }
    // The outer build's flags and wrappers are meant for the host target.
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
    let status = cmd
        .status()
        .expect("failed to run cargo to build the policy components");
    if !status.success() {
        panic!("building the policy components for {TARGET} failed (see the errors above)");
    }

    let built = target_dir.join(TARGET).join("policy");
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let mut embedded = String::from("/// The built-in policies: (name, component bytes).\n");
    embedded.push_str("pub(crate) const BUILTIN_COMPONENTS: &[(&str, &[u8])] = &[\n");
    for name in BUILTINS {
        let dest = out_dir.join(format!("{name}.wasm"));
        std::fs::copy(component_path(&built, name), &dest).expect("copy built component");
        embedded.push_str(&format!(
            "    ({name:?}, include_bytes!({:?})),\n",
            dest.display().to_string()
        ));
    }
    embedded.push_str("];\n");
    std::fs::write(out_dir.join("builtin_components.rs"), embedded).unwrap();

    for name in FIXTURES {
        let var = format!("CONDUIT_FIXTURE_{}", name.to_uppercase().replace('-', "_"));
        println!(
            "cargo:rustc-env={var}={}",
            component_path(&built, name).display()
        );
    }
}

fn crate_name(policy: &str) -> String {
    format!("conduit-policy-{policy}")
}

fn component_path(dir: &Path, policy: &str) -> PathBuf {
    dir.join(format!("{}.wasm", crate_name(policy).replace('-', "_")))
}

fn ensure_target_installed(rustc: &str) {
    let libdir = Command::new(rustc)
        .args(["--print", "target-libdir", "--target", TARGET])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if !libdir.is_some_and(|dir| dir.is_dir()) {
        panic!(
            "\n\nConduit's built-in policies are WebAssembly components, and the Rust target \
             `{TARGET}` is not installed.\nInstall it with:\n\n    rustup target add {TARGET}\n\n\
             then build again.\n"
        );
    }
}
