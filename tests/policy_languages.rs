//! The contract is language-neutral: ports of the `mirror-types` example to
//! Python (componentize-py, from PyPI) and JavaScript (componentize-qjs,
//! from npm) plan exactly like the Rust original on the same table, install,
//! and sync through the binary.
//!
//! Toolchains: `COMPONENTIZE_PY` / `COMPONENTIZE_QJS`, else
//! `target/pytools/bin/componentize-py` / `target/jstools/node_modules/.bin/
//! componentize-qjs` (where `.ci/run` installs them), else the PATH. Without
//! one, its tests say so and pass outside CI; in CI (`CI` set) they fail.

use crate::support::*;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use conduit_harness::Harness;

#[path = "../policies/examples/mirror-types/tests/cases/mod.rs"]
mod cases;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[derive(Clone, Copy, PartialEq)]
enum Lang {
    Python,
    JavaScript,
}

impl Lang {
    fn name(self) -> &'static str {
        match self {
            Lang::Python => "mirror-types-py",
            Lang::JavaScript => "mirror-types-js",
        }
    }

    fn tool(self) -> Option<PathBuf> {
        let (var, local, bare) = match self {
            Lang::Python => (
                "COMPONENTIZE_PY",
                "target/pytools/bin/componentize-py",
                "componentize-py",
            ),
            Lang::JavaScript => (
                "COMPONENTIZE_QJS",
                "target/jstools/node_modules/.bin/componentize-qjs",
                "componentize-qjs",
            ),
        };
        let candidates = [
            std::env::var_os(var).map(PathBuf::from),
            Some(workspace().join(local)),
            Some(PathBuf::from(bare)),
        ];
        candidates.into_iter().flatten().find(|tool| {
            Command::new(tool)
                .arg("--help")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    }

    /// The port as a component; `sandboxed` stubs out the runtime's WASI
    /// imports (the only way such a runtime passes Conduit's sandbox).
    /// `None` when the toolchain is missing outside CI.
    fn build(self, sandboxed: bool) -> Option<PathBuf> {
        static BUILT: [OnceLock<Option<PathBuf>>; 4] = [const { OnceLock::new() }; 4];
        let slot = usize::from(self == Lang::JavaScript) * 2 + usize::from(sandboxed);
        BUILT[slot]
            .get_or_init(|| {
                let Some(tool) = self.tool() else {
                    assert!(
                        std::env::var_os("CI").is_none(),
                        "the toolchain for {} is missing; .ci/run installs it",
                        self.name()
                    );
                    eprintln!(
                        "SKIPPED: no toolchain for {} (see docs/writing-policies.md)",
                        self.name()
                    );
                    return None;
                };
                let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
                let out = tmp.join(format!("{}-{slot}.wasm", self.name()));
                let mut cmd = Command::new(tool);
                cmd.current_dir(workspace());
                match self {
                    Lang::Python => {
                        // componentize-py runs the app to snapshot it and leaves
                        // __pycache__ beside it: build from a copy.
                        let src = tmp.join(format!("python-src-{slot}"));
                        std::fs::create_dir_all(&src).unwrap();
                        std::fs::copy(
                            workspace().join("policies/examples/python-mirror-types/app.py"),
                            src.join("app.py"),
                        )
                        .unwrap();
                        cmd.args(["-d", "wit", "-w", "policy-component", "componentize"])
                            .args(["app", "-p"])
                            .arg(&src)
                            .arg("-o")
                            .arg(&out);
                        if sandboxed {
                            cmd.arg("--stub-wasi");
                        }
                    }
                    Lang::JavaScript => {
                        cmd.args(["--wit", "wit", "--world", "policy-component", "--sync"])
                            .args(["--js", "policies/examples/js-mirror-types/app.js", "-o"])
                            .arg(&out);
                        if sandboxed {
                            cmd.arg("--stub-wasi");
                        }
                    }
                }
                let result = cmd.output().expect("run the toolchain");
                assert!(
                    result.status.success(),
                    "building {} failed:\n{}",
                    self.name(),
                    String::from_utf8_lossy(&result.stderr)
                );
                Some(out)
            })
            .clone()
    }
}

fn plans_like_the_rust_example(lang: Lang) {
    let Some(wasm) = lang.build(true) else { return };
    let harness = Harness::load(&wasm).expect("passes the install checks");
    assert_eq!(harness.policy().info().name, lang.name());
    assert_eq!(harness.policy().contract(), "conduit:policy@1.0.0");
    harness.check(&cases::cases());
}

fn installs_and_syncs(lang: Lang) {
    let Some(wasm) = lang.build(true) else { return };
    let w = World::new();
    let out = w
        .run(&["policy", "install", wasm.to_str().unwrap(), "--json"])
        .expect(0)
        .json();
    assert_eq!(out["name"], lang.name());
    let info = w
        .run(&["policy", "info", lang.name(), "--json"])
        .expect(0)
        .json();
    assert_eq!(info["origin"], "installed");

    write(&w.a, "trip/beach.jpg", "sand");
    write(&w.a, "trip/notes.txt", "packing list");
    w.add("trip", lang.name(), &["--set", "types=jpg"]);
    let r = w.sync("trip", &[], 0);
    assert_eq!(n(&r, "copied"), 1, "{r}");
    assert_eq!(read(&w.b, "trip/beach.jpg").as_deref(), Some("sand"));
    assert_eq!(read(&w.b, "trip/notes.txt"), None);

    std::fs::remove_file(w.a.join("trip/beach.jpg")).unwrap();
    let r = w.sync("trip", &[], 0);
    assert_eq!(n(&r, "deleted"), 0);
    assert_eq!(read(&w.b, "trip/beach.jpg").as_deref(), Some("sand"));
}

#[test]
fn python_plans_exactly_like_the_rust_example() {
    plans_like_the_rust_example(Lang::Python);
}

#[test]
fn python_installs_and_syncs() {
    installs_and_syncs(Lang::Python);
}

/// Built without stubbing, the language runtime imports WASI's filesystem,
/// and the sandbox refuses it by name.
fn unsandboxed_build_is_refused(lang: Lang) {
    let Some(wasm) = lang.build(false) else {
        return;
    };
    let w = World::new();
    let r = w
        .run(&["policy", "install", wasm.to_str().unwrap()])
        .expect(1);
    assert!(
        r.stderr.contains("imports `wasi:filesystem/"),
        "the refusal names the import: {}",
        r.stderr
    );
    assert!(!w.home.join("policies").join("installed.json").exists());
}

#[test]
fn python_without_stubbed_wasi_needs_a_filesystem_and_is_refused() {
    unsandboxed_build_is_refused(Lang::Python);
}

#[test]
fn javascript_without_stubbed_wasi_needs_a_filesystem_and_is_refused() {
    unsandboxed_build_is_refused(Lang::JavaScript);
}

#[test]
fn javascript_plans_exactly_like_the_rust_example() {
    plans_like_the_rust_example(Lang::JavaScript);
}

#[test]
fn javascript_installs_and_syncs() {
    installs_and_syncs(Lang::JavaScript);
}
