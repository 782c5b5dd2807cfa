//! Policies beyond the built-ins: install (from a file or from bytes an
//! embedding app ships), remove, list, and the check that a conduit still
//! runs the component it was set up (or last confirmed) with.

use super::{Host, UsageError, usage};
use crate::index::Conduit;
use crate::plan::guards::Halt;
use crate::policy::{self, Installed, LoadedPolicy, Origin, PolicyStore, short_digest};

/// How to install.
#[derive(Debug, Clone, Default)]
pub struct InstallOptions {
    /// Install under this name instead of the one the policy's `describe()`
    /// gives.
    pub name: Option<String>,
    /// Replace an installed policy of the same name. Conduits using it then
    /// halt at their next sync until the new component is confirmed.
    pub replace: bool,
    /// Where the bytes came from, for `policy info` (a file path, or an
    /// app's name).
    pub from: Option<String>,
}

/// What an install did.
#[derive(Debug, Clone)]
pub struct InstallReport {
    /// The policy as installed now.
    pub installed: Installed,
    /// The policy it replaced, if any.
    pub replaced: Option<Installed>,
    /// The same component was already installed under this name: nothing
    /// changed.
    pub unchanged: bool,
    /// Conduits that use the name and recorded another digest: their next
    /// sync halts until confirmed with `conduit set NAME policy-digest=…`.
    pub to_confirm: Vec<String>,
}

/// A policy as `policy list` shows it.
#[derive(Debug, Clone)]
pub struct PolicyListing {
    /// The name conduits use.
    pub name: String,
    /// The loaded component (info, digest, contract, origin), or why an
    /// installed one cannot be loaded (its file was damaged or removed).
    pub policy: Result<LoadedPolicy, String>,
    /// For installed policies: the record in the home.
    pub installed: Option<Installed>,
    /// Conduits that use it.
    pub used_by: Vec<String>,
}

impl Host {
    /// The installed policies of this home.
    pub fn policy_store(&self) -> PolicyStore {
        PolicyStore::new(self.home.join("policies"))
    }

    /// Check and install a policy component. Nothing is stored unless every
    /// check passes (contract version, imports, `describe()`, a dry plan on
    /// an empty diff with each declared choice and flag value).
    pub fn install_policy(
        &mut self,
        bytes: &[u8],
        opts: &InstallOptions,
    ) -> anyhow::Result<InstallReport> {
        let label = opts.from.as_deref().unwrap_or("the component");
        let policy = self.runtime.check(label, bytes)?;
        let name = opts
            .name
            .clone()
            .unwrap_or_else(|| policy.info().name.clone());
        check_policy_name(&name)?;
        if policy::builtin_names().any(|b| b == name) {
            return usage(format!(
                "`{name}` is the name of a built-in policy; install this one under another name \
                 with --name"
            ));
        }
        let record = Installed {
            name: name.clone(),
            digest: policy.digest().to_string(),
            version: policy.info().version.clone(),
            contract: policy.contract().to_string(),
            installed_at: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            from: opts.from.clone(),
        };
        let (replaced, unchanged) = self.policy_store().modify(|store, list| {
            let existing = list.iter().position(|p| p.name == name);
            if let Some(i) = existing {
                let old = &list[i];
                if old.digest == record.digest {
                    // Same component: nothing to replace, but a damaged or
                    // missing stored copy is repaired.
                    store.put(&record.digest, bytes)?;
                    return Ok((None, true));
                }
                if !opts.replace {
                    return usage(format!(
                        "a policy named `{name}` is already installed (version {}, digest {}); \
                         pass --replace to replace it, or choose another name with --name",
                        old.version,
                        short_digest(&old.digest)
                    ));
                }
            }
            store.put(&record.digest, bytes)?;
            Ok(match existing {
                Some(i) => (Some(std::mem::replace(&mut list[i], record.clone())), false),
                None => {
                    list.push(record.clone());
                    (None, false)
                }
            })
        })?;
        let installed = if unchanged {
            self.policy_store().get(&name)?.unwrap_or(record)
        } else {
            record
        };
        let to_confirm = self
            .index
            .conduits()?
            .into_iter()
            .filter(|c| c.policy == name && c.policy_digest != installed.digest)
            .map(|c| c.name)
            .collect();
        Ok(InstallReport {
            installed,
            replaced,
            unchanged,
            to_confirm,
        })
    }

    /// Uninstall a policy; refused while a conduit uses it.
    pub fn remove_policy(&mut self, name: &str) -> anyhow::Result<Installed> {
        let users = self.policy_users(name)?;
        if !users.is_empty() {
            return usage(format!(
                "policy `{name}` is used by conduit(s) {}; remove them (`conduit remove NAME`) \
                 before the policy",
                users.join(", ")
            ));
        }
        self.policy_store().modify(|_, list| {
            let Some(i) = list.iter().position(|p| p.name == name) else {
                return usage(if policy::builtin_names().any(|b| b == name) {
                    format!("`{name}` is a built-in policy; built-ins cannot be removed")
                } else {
                    format!("no installed policy named `{name}` (`conduit policy list` shows them)")
                });
            };
            Ok(list.remove(i))
        })
    }

    /// Every policy this home can use: the built-ins, then the installed
    /// (one that cannot be loaded is listed with the reason).
    pub fn policies(&self) -> anyhow::Result<Vec<PolicyListing>> {
        let conduits = self.index.conduits()?;
        let users = |name: &str| -> Vec<String> {
            conduits
                .iter()
                .filter(|c| c.policy == name)
                .map(|c| c.name.clone())
                .collect()
        };
        let installed = self.policy_store().list()?;
        let mut out = Vec::new();
        for name in policy::builtin_names() {
            if installed.iter().any(|p| p.name == name) {
                continue; // shadowed (see `load_policy`)
            }
            out.push(PolicyListing {
                name: name.to_string(),
                policy: Ok(self.runtime.builtin(name)?),
                installed: None,
                used_by: users(name),
            });
        }
        for record in installed {
            out.push(PolicyListing {
                name: record.name.clone(),
                policy: self.load_installed(&record).map_err(|e| format!("{e:#}")),
                used_by: users(&record.name),
                installed: Some(record),
            });
        }
        Ok(out)
    }

    /// A policy by name: an installed one, else a built-in. (Built-in names
    /// cannot be installed; an installed policy only shadows a built-in that
    /// a later Conduit introduced, so that its conduits keep their policy.)
    pub fn load_policy(&self, name: &str) -> anyhow::Result<LoadedPolicy> {
        if let Some(record) = self.policy_store().get(name)? {
            return self.load_installed(&record);
        }
        match self.runtime.builtin(name) {
            Ok(p) => Ok(p),
            Err(policy::PolicyError::Unknown(_)) => {
                let mut known: Vec<String> = policy::builtin_names().map(str::to_string).collect();
                known.extend(self.policy_store().list()?.into_iter().map(|p| p.name));
                usage(format!(
                    "unknown policy `{name}`; available: {} (install others with `conduit policy \
                     install FILE.wasm`)",
                    known.join(", ")
                ))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Record that conduit `name` may run its policy's current component:
    /// `digest` must be that component's digest (or a prefix of at least 12
    /// hex digits), so that what was reviewed is what runs.
    pub fn confirm_policy(&mut self, name: &str, digest: &str) -> anyhow::Result<Conduit> {
        self.set(name, &[("policy-digest".into(), digest.into())])
    }

    /// Conduits that use policy `name`.
    pub fn policy_users(&self, name: &str) -> anyhow::Result<Vec<String>> {
        Ok(self
            .index
            .conduits()?
            .into_iter()
            .filter(|c| c.policy == name)
            .map(|c| c.name)
            .collect())
    }

    /// Why conduit `c` may not run `p` without confirmation: the installed
    /// component is not the one it was set up or last confirmed with.
    /// Built-ins change only with Conduit itself and need no confirmation.
    pub(super) fn policy_changed(&self, c: &Conduit, p: &LoadedPolicy) -> Option<Halt> {
        if p.origin() != Origin::Installed || p.digest() == c.policy_digest {
            return None;
        }
        Some(Halt::PolicyReplaced {
            conduit: c.name.clone(),
            policy: p.name().to_string(),
            was: c.policy_digest.clone(),
            now: p.digest().to_string(),
            version: p.info().version.clone(),
        })
    }

    /// Check a `policy-digest=` confirmation against the policy `c` uses.
    pub(super) fn check_confirmation(
        &self,
        c: &Conduit,
        p: &LoadedPolicy,
        digest: &str,
    ) -> anyhow::Result<String> {
        let digest = digest.trim().to_ascii_lowercase();
        if digest.len() >= 12 && p.digest().starts_with(&digest) {
            return Ok(p.digest().to_string());
        }
        Err(UsageError(format!(
            "policy-digest {digest} is not the digest of policy `{}` as installed now ({}); \
             `conduit policy info {}` shows it",
            c.policy,
            p.digest(),
            c.policy
        ))
        .into())
    }

    fn load_installed(&self, record: &Installed) -> anyhow::Result<LoadedPolicy> {
        let bytes = self.policy_store().read(record)?;
        Ok(self
            .runtime
            .load(&record.name, &bytes)?
            .installed(&record.name))
    }
}

fn check_policy_name(name: &str) -> anyhow::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        usage(format!(
            "{name:?} is not a usable policy name: use up to 64 lowercase letters, digits and `-`"
        ))
    }
}
