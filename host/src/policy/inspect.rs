//! A look at a component's outer surface (its imports and exports) before it
//! is compiled: refusing a forbidden import or the wrong contract takes
//! milliseconds instead of a compile of many megabytes (an interpreter-based
//! component, such as one built with componentize-py, is ~20 MB).

use wasmparser::{Encoding, Parser, Payload};

/// The names a component imports and exports at its top level.
#[derive(Debug, Default)]
pub(crate) struct Surface {
    pub(crate) imports: Vec<String>,
    pub(crate) exports: Vec<String>,
}

/// Read the top-level imports and exports. `Ok(None)` for text (WAT, which
/// the compiler accepts too); an error when the bytes are not a component.
pub(crate) fn surface(bytes: &[u8]) -> Result<Option<Surface>, String> {
    if !bytes.starts_with(b"\0asm") {
        let text = std::str::from_utf8(bytes).unwrap_or("").trim_start();
        if text.starts_with('(') {
            return Ok(None);
        }
        return Err(
            "this is not a WebAssembly component (it does not start with the `\\0asm` header)"
                .into(),
        );
    }
    let mut surface = Surface::default();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| format!("the component is damaged: {e}"))?;
        match payload {
            Payload::Version {
                encoding: Encoding::Module,
                ..
            } if depth == 0 => {
                return Err(
                    "this is a core WebAssembly module, not a component: build for \
                            `wasm32-wasip2` (or wrap it with `wasm-tools component new`)"
                        .into(),
                );
            }
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(|e| format!("the component is damaged: {e}"))?;
                    surface.imports.push(import.name.name.to_string());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(|e| format!("the component is damaged: {e}"))?;
                    surface.exports.push(export.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(Some(surface))
}
