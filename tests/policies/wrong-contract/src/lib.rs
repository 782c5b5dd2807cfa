//! A policy built against `conduit:policy@2.0.0`, a contract this host does
//! not load: install must name the version and refuse it.

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({ path: "wit", world: "policy-component" });

    struct Future;

    impl exports::conduit::policy::policy::Guest for Future {
        fn describe() -> String {
            "from the future".into()
        }
        fn plan(paths: Vec<String>) -> Vec<u32> {
            (0..paths.len() as u32).collect()
        }
    }

    export!(Future);
}
