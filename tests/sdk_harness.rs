//! The policy SDK's test harness: tables run natively and against compiled
//! components, and a wrong expectation, an invalid plan or an unfit
//! component each make a test fail with a message that names the case.

use conduit_harness::{Harness, check_native, plan_native};
use conduit_policy::testing::{Case, check, entry, file, plan};
use conduit_policy_replicate::Replicate;

const EXAMPLE: &str = env!("CONDUIT_FIXTURE_MIRROR_TYPES");
const MISBEHAVE: &str = env!("CONDUIT_FIXTURE_MISBEHAVE");
const LIAR: &str = env!("CONDUIT_FIXTURE_LIAR");

fn replicate_cases() -> Vec<Case> {
    vec![
        Case::new("new files are copied")
            .entry(entry("a").source(file("x")))
            .expect(&["a: copy from source"]),
        Case::new("deletes propagate")
            .entry(entry("a").base(file("x")).destination(file("x")))
            .expect(&["a: delete destination"]),
        Case::new("unless turned off")
            .set("propagate-deletes", "off")
            .entry(entry("a").base(file("x")).destination(file("x")))
            .expect(&["a: skip"]),
        Case::new("a bad value")
            .set("propagate-deletes", "perhaps")
            .expect_error("true or false"),
    ]
}

/// The panic message of `f`, which must panic.
fn panic_message(f: impl FnOnce()) -> String {
    let payload =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("the check must fail");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn a_table_passes_natively_with_and_without_the_hosts_validation() {
    check::<Replicate>(&replicate_cases());
    check_native::<Replicate>(&replicate_cases());
}

#[test]
fn a_wrong_expectation_fails_and_names_the_case() {
    let cases = vec![
        Case::new("right")
            .entry(entry("a").source(file("x")))
            .expect(&["a: copy from source"]),
        Case::new("wrong on purpose")
            .entry(entry("a").source(file("x")))
            .expect(&["a: accept"]),
        Case::new("expects an error that does not come")
            .entry(entry("a").source(file("x")))
            .expect_error("boom"),
    ];
    let message = panic_message(|| check::<Replicate>(&cases));
    assert!(message.contains("2 of 3 cases failed"), "{message}");
    assert!(message.contains("wrong on purpose"), "{message}");
    assert!(
        message.contains("a: copy from source"),
        "shows what came: {message}"
    );
    assert!(!message.contains("case \"right\""), "{message}");

    let harness = Harness::load(EXAMPLE.as_ref()).unwrap();
    let cases = vec![
        Case::new("the component disagrees")
            .entry(entry("a.jpg").source(file("x")))
            .expect(&[]),
    ];
    let message = panic_message(|| harness.check(&cases));
    assert!(message.contains("the component disagrees"), "{message}");
}

#[test]
fn the_component_runs_in_the_sandbox_with_the_hosts_rules() {
    let harness = Harness::load(EXAMPLE.as_ref()).unwrap();
    assert_eq!(harness.policy().info().name, "mirror-types");
    harness.check(&[
        Case::new("photos go")
            .entry(entry("a.jpg").source(file("x")))
            .entry(entry("b.txt").source(file("y")))
            .expect(&["a.jpg: copy from source"]),
        // Parsed by the host's parser, as `conduit set` would.
        Case::new("sizes in the CLI's units")
            .set("max-size", "1.5K")
            .entry(entry("a.jpg").source(conduit_policy::testing::file_sized("x", 1600)))
            .expect(&["a.jpg: skip"]),
    ]);

    // Invalid plans are caught by the host's validation, in the component
    // and natively alike.
    let misbehave = Harness::load(MISBEHAVE.as_ref()).unwrap();
    let one = |mode: &str| {
        Case::new(mode)
            .set("mode", mode)
            .entry(entry("a").source(file("x")))
    };
    misbehave.check(&[
        one("rename-absolute").expect_error("is absolute"),
        one("contradict").expect_error("contradictory actions: copy + delete"),
        one("spin").expect_error("ran out of fuel"),
        one("behave").expect(&["a: accept"]),
    ]);
}

#[test]
fn native_runs_catch_plans_the_host_would_reject() {
    struct Sloppy;
    impl conduit_policy::Policy for Sloppy {
        fn describe() -> conduit_policy::Info {
            conduit_policy::Info {
                name: "sloppy".into(),
                version: "0.0.1".into(),
                summary: "Copies from a side that has nothing.".into(),
                options: vec![],
                scope: conduit_policy::Scope::Changes,
            }
        }
        fn plan(
            _: &conduit_policy::Context,
            entries: &[conduit_policy::Entry],
        ) -> Result<Vec<conduit_policy::Action>, String> {
            Ok((0..entries.len())
                .map(|i| conduit_policy::act::copy(i, conduit_policy::Side::Destination))
                .collect())
        }
    }
    let case = Case::new("x").entry(entry("a").source(file("x")));
    // The SDK alone checks indices and paths; the host's validation knows
    // that the destination holds nothing to copy.
    assert_eq!(plan::<Sloppy>(&case).unwrap(), ["a: copy from destination"]);
    let err = plan_native::<Sloppy>(&case).unwrap_err();
    assert!(err.contains("where the entry does not exist"), "{err}");
}

/// The SDK's own run checks new paths with the contract's rule, the same
/// the host applies: NUL bytes, Conduit's folder and overlong names too.
#[test]
fn native_runs_refuse_every_path_the_host_refuses() {
    struct Renamer;
    thread_local!(static TARGET: std::cell::RefCell<String> = Default::default());
    impl conduit_policy::Policy for Renamer {
        fn describe() -> conduit_policy::Info {
            conduit_policy::Info {
                name: "renamer".into(),
                version: "0.0.1".into(),
                summary: "Renames to whatever the test says.".into(),
                options: vec![],
                scope: conduit_policy::Scope::Changes,
            }
        }
        fn plan(
            _: &conduit_policy::Context,
            _: &[conduit_policy::Entry],
        ) -> Result<Vec<conduit_policy::Action>, String> {
            let to = TARGET.with(|t| t.borrow().clone());
            Ok(vec![conduit_policy::act::rename(
                0,
                conduit_policy::Side::Source,
                to,
            )])
        }
    }
    let case = Case::new("x").entry(entry("a").source(file("x")));
    let long = "n".repeat(300);
    for (to, why) in [
        ("a\0b", "NUL"),
        (".conduit/trash/a", "own `.conduit` folder"),
        (long.as_str(), "300 bytes"),
        ("../a", "`..`"),
    ] {
        TARGET.with(|t| *t.borrow_mut() = to.to_string());
        let err = plan::<Renamer>(&case).unwrap_err();
        assert!(err.contains(why), "{to:?}: {err}");
    }
}

#[test]
fn unfit_components_do_not_load_into_the_harness() {
    let err = Harness::load(LIAR.as_ref()).err().expect("refused");
    assert!(err.to_string().contains("strategy=paranoid"), "{err}");
}
