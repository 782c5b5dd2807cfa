//! Installed policies: components added with `conduit policy install`, kept
//! in the home by content hash.
//!
//! `HOME/policies/<blake3>.wasm` holds each component once, whatever names
//! point at it; `HOME/policies/installed.json` maps names to digests. Every
//! change happens under a lock and is written atomically, so two installs at
//! once never lose one another, and a component no name uses is removed.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// One installed policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Installed {
    /// The name conduits use (`--policy NAME`).
    pub name: String,
    /// BLAKE3 of the component (hex); also its file name in the store.
    pub digest: String,
    /// The policy's own version, from its `describe()`.
    pub version: String,
    /// The contract it implements, e.g. `conduit:policy@1.0.0`.
    pub contract: String,
    /// Seconds since the Unix epoch.
    pub installed_at: u64,
    /// Where it was installed from (a file path, or what an embedding app
    /// said), for people only.
    pub from: Option<String>,
}

#[derive(Default, Serialize, Deserialize)]
struct Manifest {
    policies: Vec<Installed>,
}

/// The installed policies of one home.
#[derive(Clone, Debug)]
pub struct PolicyStore {
    dir: PathBuf,
}

const MANIFEST: &str = "installed.json";

impl PolicyStore {
    /// The store in `dir` (normally `HOME/policies`); created on first install.
    pub fn new(dir: PathBuf) -> PolicyStore {
        PolicyStore { dir }
    }

    /// Where components are kept.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every installed policy, by name.
    pub fn list(&self) -> anyhow::Result<Vec<Installed>> {
        let mut policies = self.read_manifest()?.policies;
        policies.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(policies)
    }

    /// One installed policy by name.
    pub fn get(&self, name: &str) -> anyhow::Result<Option<Installed>> {
        Ok(self.list()?.into_iter().find(|p| p.name == name))
    }

    /// The file of the component with `digest`.
    pub fn component_path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}.wasm"))
    }

    /// The component's bytes, checked against its digest: a component that
    /// changed on disk is never run under the name it was installed as.
    pub fn read(&self, p: &Installed) -> anyhow::Result<Vec<u8>> {
        let path = self.component_path(&p.digest);
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "the installed policy `{}` is missing its component {} (reinstall it with \
                 `conduit policy install FILE --name {} --replace`)",
                p.name,
                path.display(),
                p.name
            )
        })?;
        let actual = blake3::hash(&bytes).to_hex().to_string();
        anyhow::ensure!(
            actual == p.digest,
            "the installed policy `{}` is damaged: {} no longer has the digest it was installed \
             with (reinstall it with `conduit policy install FILE --name {} --replace`)",
            p.name,
            path.display(),
            p.name
        );
        Ok(bytes)
    }

    /// Change the list of installed policies under the store's lock. `f` may
    /// [`PolicyStore::put`] components; afterwards, components no name uses
    /// are removed. Nothing is written when `f` fails.
    pub(crate) fn modify<R>(
        &self,
        f: impl FnOnce(&PolicyStore, &mut Vec<Installed>) -> anyhow::Result<R>,
    ) -> anyhow::Result<R> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let lock = File::create(self.dir.join(".lock"))?;
        lock.lock()?;
        let mut manifest = self.read_manifest()?;
        let result = f(self, &mut manifest.policies)?;
        let tmp = self
            .dir
            .join(format!("{MANIFEST}.tmp{}", std::process::id()));
        std::fs::write(&tmp, serde_json::to_vec_pretty(&manifest)?)?;
        File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(MANIFEST))?;
        self.collect_garbage(&manifest.policies);
        Ok(result)
    }

    /// Store a component under its digest (a no-op when it is there).
    pub(crate) fn put(&self, digest: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let path = self.component_path(digest);
        if path.is_file() && blake3::hash(&std::fs::read(&path)?).to_hex().as_str() == digest {
            return Ok(());
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &path)
            .with_context(|| format!("storing the component as {}", path.display()))?;
        Ok(())
    }

    fn read_manifest(&self) -> anyhow::Result<Manifest> {
        let path = self.dir.join(MANIFEST);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!("reading the list of installed policies {}", path.display())
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Manifest::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    fn collect_garbage(&self, keep: &[Installed]) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in dir.flatten() {
            let path = entry.path();
            let Some(stem) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".wasm"))
            else {
                continue;
            };
            if !keep.iter().any(|p| p.digest == stem)
                && let Err(e) = std::fs::remove_file(&path)
            {
                tracing::warn!(path = %path.display(), "could not remove an unused policy component: {e}");
            }
        }
    }
}

/// A component digest as people compare it: its first 12 hex digits.
pub fn short_digest(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}
