//! A policy built against `wit/released/1.0.0`, the frozen copy of the first
//! released contract, with raw bindings (no SDK, which follows the current
//! contract). Every later host must keep loading it: the compatibility test
//! for contract versions (docs/contract-versioning.md).

#[cfg(target_arch = "wasm32")]
mod component {
    wit_bindgen::generate!({
        path: "../../../wit/released/1.0.0",
        world: "policy-component",
    });

    use exports::conduit::policy::policy::{
        Action, Context, Entry, Guest, Info, Operation, Scope, Side, Transfer,
    };

    struct V1;

    impl Guest for V1 {
        fn describe() -> Info {
            Info {
                name: "contract-v1".into(),
                version: "1.0.0".into(),
                summary: "Copies what the source created (built against contract 1.0.0).".into(),
                options: Vec::new(),
                scope: Scope::Changes,
            }
        }

        fn plan(_: Context, entries: Vec<Entry>) -> Result<Vec<Action>, String> {
            Ok(entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.source.is_some())
                .map(|(i, _)| Action {
                    entry: i as u32,
                    operation: Operation::Copy(Transfer {
                        from: Side::Source,
                        to_path: None,
                    }),
                })
                .collect())
        }
    }

    export!(V1);
}
