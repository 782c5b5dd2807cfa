//! Adversarial policies: each breaks one sandbox rule and must end in its own
//! clear error, never a panic of the host and never a plan that acts.

use std::time::{Duration, Instant};

use crate::common::*;
use conduit::policy::{Limits, LoadedPolicy, PolicyError, Runtime};
use conduit_policy::testing::{entry, file};

fn misbehave() -> LoadedPolicy {
    let path = env!("CONDUIT_FIXTURE_MISBEHAVE");
    runtime().load_file(path.as_ref()).expect("fixture loads")
}

/// Run the fixture in `mode` on a one-entry diff.
fn run(policy: &LoadedPolicy, mode: &str) -> Result<conduit::plan::Plan, PolicyError> {
    let entries = vec![host_entry(entry("a.txt").source(file("v1")))];
    let ctx = context(policy, &[("mode", mode)], &entries);
    plan_with(policy, &ctx, &entries)
}

#[test]
fn a_well_behaved_run_of_the_fixture_passes() {
    let plan = run(&misbehave(), "behave").expect("plans");
    assert_eq!(plan.actions.len(), 1);
}

#[test]
fn an_infinite_loop_runs_out_of_fuel_quickly() {
    let started = Instant::now();
    let err = run(&misbehave(), "spin").unwrap_err();
    assert!(matches!(err, PolicyError::OutOfFuel { .. }), "{err}");
    assert!(err.to_string().contains("ran out of fuel"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn the_deadline_backs_up_fuel() {
    let limits = Limits {
        base_fuel: u64::MAX / 2,
        base_deadline: Duration::from_millis(300),
        ..Limits::default()
    };
    let rt = Runtime::new(None).unwrap().with_limits(limits);
    let policy = rt
        .load_file(env!("CONDUIT_FIXTURE_MISBEHAVE").as_ref())
        .unwrap();
    let started = Instant::now();
    let err = run(&policy, "spin").unwrap_err();
    assert!(matches!(err, PolicyError::Deadline { .. }), "{err}");
    assert!(err.to_string().contains("did not finish within"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_memory_bomb_is_out_of_memory() {
    let err = run(&misbehave(), "memory-bomb").unwrap_err();
    assert!(matches!(err, PolicyError::OutOfMemory { .. }), "{err}");
    assert!(err.to_string().contains("MiB of memory"), "{err}");
}

#[test]
fn deep_recursion_is_a_stack_overflow() {
    let err = run(&misbehave(), "recurse").unwrap_err();
    assert!(matches!(err, PolicyError::StackOverflow { .. }), "{err}");
}

#[test]
fn deep_recursion_with_large_frames_is_a_memory_fault_in_one_line() {
    let err = run(&misbehave(), "recurse-wide").unwrap_err();
    assert!(matches!(err, PolicyError::Trap { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("out of bounds") && message.contains("recursion"),
        "{message}"
    );
    assert!(
        !message.contains('\n'),
        "no wasm backtrace in the user's message: {message}"
    );
}

#[test]
fn a_panic_is_a_crash_with_the_policy_name() {
    let err = run(&misbehave(), "panic").unwrap_err();
    assert!(matches!(err, PolicyError::Trap { .. }), "{err}");
    assert!(
        err.to_string().starts_with("policy `misbehave` crashed"),
        "{err}"
    );
}

#[test]
fn a_refusal_carries_the_policy_message() {
    let err = run(&misbehave(), "refuse").unwrap_err();
    assert!(
        err.to_string().contains("this diff makes no sense to me"),
        "{err}"
    );
}

#[test]
fn invalid_plans_are_rejected_with_the_reason() {
    let cases = [
        ("out-of-range", "names entry 8 but there are only 1 entries"),
        ("rename-parent", "contains `..`"),
        ("rename-absolute", "is absolute"),
        ("contradict", "contradictory actions: copy + delete"),
        (
            "conflict-settled-by-nothing",
            "contradictory actions: conflict + skip",
        ),
        (
            "copy-missing",
            "copy from on the destination, where the entry does not exist",
        ),
        ("rename-nul", "contains a NUL byte"),
        (
            "rename-bookkeeping",
            "inside Conduit's own `.conduit` folder",
        ),
        ("rename-long", "has a name of 300 bytes"),
        ("flood", "returned 100000 actions for 1 entries"),
        ("long-reason", "reason is 8388608 bytes long"),
    ];
    let policy = misbehave();
    for (mode, expected) in cases {
        let err = run(&policy, mode).unwrap_err();
        assert!(
            matches!(err, PolicyError::InvalidPlan { .. }),
            "{mode}: {err}"
        );
        assert!(err.to_string().contains(expected), "{mode}: {err}");
    }
}

#[test]
fn the_sandbox_has_no_environment_arguments_directory_or_clock_of_its_own() {
    let policy = misbehave();
    let entries = vec![host_entry(entry("a.txt").source(file("v1")))];
    let ctx = context(&policy, &[("mode", "environment")], &entries);
    let plan = plan_with(&policy, &ctx, &entries).expect("plans");
    let conduit::policy::Operation::Skip(seen) = &plan.actions[0].operation else {
        panic!("{plan:?}");
    };
    // The clock is frozen at the context's "now"; there is no directory to
    // be in (the preopens are empty, whatever `current_dir` says).
    assert!(
        seen.starts_with(&format!("vars=0 args=0 now={} ", ctx.now_ns)),
        "{seen}"
    );
}

#[test]
fn gigabytes_of_output_are_stopped_by_the_memory_budget() {
    let err = run(&misbehave(), "output-bomb").unwrap_err();
    assert!(matches!(err, PolicyError::OutOfMemory { .. }), "{err}");
}

#[test]
fn a_policy_that_sleeps_is_not_held_up_by_the_clock() {
    // Sleeping costs no fuel and runs no wasm the deadline could interrupt;
    // the sandbox's clock is frozen, so a sleep returns at once (and a
    // policy that sleeps in a loop meets the fuel or the deadline).
    let started = Instant::now();
    let plan = run(&misbehave(), "sleep").expect("plans");
    assert_eq!(plan.actions.len(), 1);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_chatty_policy_is_capped_not_failed() {
    let plan = run(&misbehave(), "chatty").expect("output beyond the cap is dropped, not an error");
    assert!(plan.actions.is_empty());
}

#[test]
fn a_filesystem_import_is_refused_by_name() {
    let wat = r#"(component (import "wasi:filesystem/types@0.2.0" (instance)))"#;
    let err = runtime().load("snoop", wat.as_bytes()).unwrap_err();
    assert!(matches!(err, PolicyError::ForbiddenImport { .. }), "{err}");
    assert!(
        err.to_string().contains("wasi:filesystem/types@0.2.0"),
        "{err}"
    );
}

#[test]
fn a_network_import_is_refused_by_name() {
    let wat = r#"(component (import "wasi:sockets/tcp@0.2.0" (instance)))"#;
    let err = runtime().load("net", wat.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("wasi:sockets/tcp@0.2.0"), "{err}");
}

#[test]
fn a_component_without_the_contract_is_refused() {
    let err = runtime().load("empty", b"(component)").unwrap_err();
    assert!(matches!(err, PolicyError::WrongContract { .. }), "{err}");
    assert!(
        err.to_string().contains("conduit:policy/policy@1.0.0"),
        "{err}"
    );
}

#[test]
fn corrupted_bytes_are_a_load_error() {
    let mut bytes = std::fs::read(env!("CONDUIT_FIXTURE_MISBEHAVE")).unwrap();
    let middle = bytes.len() / 2;
    bytes.truncate(middle);
    let err = runtime().load("truncated", &bytes).unwrap_err();
    assert!(matches!(err, PolicyError::Load { .. }), "{err}");
}

#[test]
fn undeclared_options_and_wrong_types_are_refused_before_running() {
    let policy = builtin("synchronize");
    let set = |k: &str, v: &str| {
        conduit::policy::options::resolve(policy.info(), &[(k.into(), v.into())])
    };
    let err = set("colour", "blue").unwrap_err();
    assert!(
        err.contains("has no option `colour`") && err.contains("conflict"),
        "{err}"
    );
    let err = set("conflict", "coin-flip").unwrap_err();
    assert!(err.contains("one of keep-both, newer"), "{err}");
    let err = set("detect-renames", "maybe").unwrap_err();
    assert!(err.contains("true or false"), "{err}");
    let offload = builtin("offload");
    let err =
        conduit::policy::options::resolve(offload.info(), &[("min-free".into(), "150%".into())])
            .unwrap_err();
    assert!(err.contains("percentage"), "{err}");
}

#[test]
fn compiled_components_are_cached_across_runtimes() {
    let home = tempfile::tempdir().unwrap();
    let cache = home.path().join("cache");
    Runtime::new(Some(cache.clone()))
        .unwrap()
        .builtin("replicate")
        .unwrap();
    let artifacts: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(artifacts.len(), 1, "{artifacts:?}");
    let before = std::fs::metadata(&artifacts[0])
        .unwrap()
        .modified()
        .unwrap();

    // A second "process" loads the artifact instead of compiling and rewriting it.
    Runtime::new(Some(cache.clone()))
        .unwrap()
        .builtin("replicate")
        .unwrap();
    assert_eq!(
        std::fs::metadata(&artifacts[0])
            .unwrap()
            .modified()
            .unwrap(),
        before
    );

    // A damaged artifact is rebuilt, not trusted.
    std::fs::write(&artifacts[0], b"garbage").unwrap();
    let policy = Runtime::new(Some(cache))
        .unwrap()
        .builtin("replicate")
        .unwrap();
    assert_eq!(policy.info().name, "replicate");
    assert!(std::fs::metadata(&artifacts[0]).unwrap().len() > 1000);
}
