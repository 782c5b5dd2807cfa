//! Compiled components cached on disk, so a CLI call does not recompile.
//!
//! The key is the component's BLAKE3 plus a hash of everything that makes
//! compiled code compatible with an engine (wasmtime version, target,
//! settings): a different engine never picks up a stale artifact.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;

use anyhow::Context as _;
use wasmtime::Engine;
use wasmtime::component::Component;

/// Compile `bytes`, or load the artifact an earlier process cached.
pub(crate) fn compile(
    engine: &Engine,
    cache_dir: Option<&Path>,
    digest: &str,
    bytes: &[u8],
) -> anyhow::Result<Component> {
    let Some(dir) = cache_dir else {
        return Ok(Component::new(engine, bytes)?);
    };
    let mut engine_hash = DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let artifact = dir.join(format!("{digest}-{:016x}.cwasm", engine_hash.finish()));
    if artifact.is_file() {
        // SAFETY: the artifact was written by `Component::serialize` for an
        // engine with this compatibility hash, into Conduit's own cache
        // directory. A damaged file fails to deserialize and is rebuilt.
        match unsafe { Component::deserialize_file(engine, &artifact) } {
            Ok(component) => return Ok(component),
            Err(e) => {
                tracing::warn!(path = %artifact.display(), "recompiling unreadable cached policy: {e:#}")
            }
        }
    }
    let component = Component::new(engine, bytes)?;
    if let Err(e) = store(&artifact, &component) {
        tracing::warn!(path = %artifact.display(), "could not cache the compiled policy: {e:#}");
    }
    Ok(component)
}

/// Write atomically: a concurrent reader sees the whole artifact or none.
fn store(artifact: &Path, component: &Component) -> anyhow::Result<()> {
    let dir = artifact.parent().expect("artifact has a directory");
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = artifact.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, component.serialize()?)?;
    std::fs::rename(&tmp, artifact)?;
    Ok(())
}
