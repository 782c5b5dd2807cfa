//! The policy's semantics as one table, run three ways: natively (fast, for
//! the edit-test loop), natively through the host's plan validation, and as
//! the compiled component in the host's sandbox (what `conduit sync` runs).

mod cases;

use cases::cases;
use conduit_harness::{Harness, build_component, check_native};
use conduit_policy::testing::check;
use conduit_policy_mirror_types::MirrorTypes;

#[test]
fn natively() {
    check::<MirrorTypes>(&cases());
}

#[test]
fn natively_with_the_hosts_validation() {
    check_native::<MirrorTypes>(&cases());
}

#[test]
fn as_the_compiled_component() {
    let wasm = build_component(env!("CARGO_MANIFEST_DIR").as_ref()).expect("builds");
    let harness = Harness::load(&wasm).expect("passes the install checks");
    assert_eq!(harness.policy().info().name, "mirror-types");
    harness.check(&cases());
}
