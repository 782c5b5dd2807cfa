//! The policy runtime: loads policy components, runs `plan` in a sandbox with
//! explicit limits, and turns every way a policy can fail into a
//! [`PolicyError`] a user can act on.
//!
//! A call is `plan(context, entries) -> actions`. Each call gets a fresh store
//! (no state survives between runs), fuel and memory budgets that grow with
//! the number of entries, and a wall-clock deadline as a backstop. What comes
//! back is unvalidated: [`crate::plan`] checks it before anything acts on it.

// Generated from wit/policy.wit; the generator carries the .wit's docs where
// it can but leaves a few world-level items bare.
#[allow(missing_docs)]
mod bindings;
mod builtin;
mod cache;
mod inspect;
mod lower;
#[cfg(target_os = "linux")]
mod memory;
mod sandbox;
mod store;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{ComponentExportIndex, Instance, Linker};
use wasmtime::{Config, Engine, Store, Trap};

pub use bindings::{
    Action, CONTRACT, Change, Context, Digest, Entry, Info, Kind, Operation, OptionSpec,
    OptionType, POLICY_INTERFACE, Rename, Scope, Setting, Side, State, Transfer, Value, Volume,
    digest_from_bytes, digest_to_bytes,
};
pub use builtin::builtin_names;
pub use conduit_contract::options;
pub use store::{Installed, PolicyStore, short_digest};

use bindings::PolicyComponentPre;
use sandbox::Sandbox;

/// Budgets for one `plan` call. The defaults scale with input size so that a
/// large diff is never starved, while a runaway policy on a small diff is
/// stopped within a second or two.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Fuel (roughly, wasm instructions) for any call.
    pub base_fuel: u64,
    /// Extra fuel per entry in the diff.
    pub fuel_per_entry: u64,
    /// Linear memory for any call, in bytes.
    pub base_memory: usize,
    /// Extra memory per entry (path bytes are added on top).
    pub memory_per_entry: usize,
    /// Wall-clock backstop for any call.
    pub base_deadline: Duration,
    /// Extra wall-clock time per entry.
    pub deadline_per_entry: Duration,
    /// Bytes of stdout + stderr kept for the log; the rest is dropped.
    pub max_output: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            base_fuel: 2_000_000_000,
            fuel_per_entry: 100_000,
            base_memory: 64 << 20,
            memory_per_entry: 4 << 10,
            base_deadline: Duration::from_secs(10),
            deadline_per_entry: Duration::from_micros(100),
            max_output: 64 << 10,
        }
    }
}

impl Limits {
    fn fuel(&self, entries: usize) -> u64 {
        self.base_fuel
            .saturating_add(self.fuel_per_entry.saturating_mul(entries as u64))
    }

    fn memory(&self, entries: usize, path_bytes: usize) -> usize {
        // 32-bit linear memory tops out at 4 GiB.
        let wanted = self
            .base_memory
            .saturating_add(self.memory_per_entry.saturating_mul(entries))
            .saturating_add(path_bytes.saturating_mul(4));
        wanted.min(4 << 30)
    }

    fn deadline(&self, entries: usize) -> Duration {
        self.base_deadline + self.deadline_per_entry * entries.min(u32::MAX as usize) as u32
    }
}

/// Every way loading or running a policy can fail. Messages name the policy
/// and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// No built-in or installed policy has this name.
    #[error("unknown policy `{0}`: `conduit policy list` shows the available ones")]
    Unknown(String),
    /// The component could not be read or compiled.
    #[error("cannot load policy `{policy}`: {reason}")]
    Load {
        /// The policy's name.
        policy: String,
        /// What was wrong.
        reason: String,
    },
    /// The component imports something outside the deny-all set.
    #[error(
        "policy `{policy}` imports `{import}`, which policies may not use: a policy decides from \
         the diff alone and gets no filesystem, network or environment of its own"
    )]
    ForbiddenImport {
        /// The policy's name.
        policy: String,
        /// The refused import, as the component names it.
        import: String,
    },
    /// The component targets another contract version or lacks the interface.
    #[error("policy `{policy}` does not implement the contract {expected}: {reason}")]
    WrongContract {
        /// The policy's name.
        policy: String,
        /// The contract this host speaks.
        expected: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The policy trapped (a panic, an unreachable, a bad memory access).
    #[error("policy `{policy}` crashed: {message}")]
    Trap {
        /// The policy's name.
        policy: String,
        /// What the policy or the runtime said.
        message: String,
    },
    /// The policy used up its fuel.
    #[error(
        "policy `{policy}` ran out of fuel after {fuel} instructions for {entries} entries \
         (it probably loops forever); nothing was changed"
    )]
    OutOfFuel {
        /// The policy's name.
        policy: String,
        /// The fuel it had.
        fuel: u64,
        /// Entries in the diff it was given.
        entries: usize,
    },
    /// The policy asked for more linear memory than its budget.
    #[error(
        "policy `{policy}` tried to use more than {limit_mib} MiB of memory for {entries} \
         entries; nothing was changed"
    )]
    OutOfMemory {
        /// The policy's name.
        policy: String,
        /// Its memory budget.
        limit_mib: usize,
        /// Entries in the diff it was given.
        entries: usize,
    },
    /// The policy recursed past its stack.
    #[error("policy `{policy}` overflowed its stack (recursion too deep); nothing was changed")]
    StackOverflow {
        /// The policy's name.
        policy: String,
    },
    /// The policy ran past its wall-clock deadline.
    #[error("policy `{policy}` did not finish within {seconds:.1} s; nothing was changed")]
    Deadline {
        /// The policy's name.
        policy: String,
        /// The deadline it had.
        seconds: f64,
    },
    /// The policy returned an error instead of a plan.
    #[error("policy `{policy}` refused to plan: {message}")]
    Refused {
        /// The policy's name.
        policy: String,
        /// What the policy or the runtime said.
        message: String,
    },
    /// The plan failed the host's validation.
    #[error("policy `{policy}` returned an invalid plan; nothing was changed:\n  - {}", problems.join("\n  - "))]
    InvalidPlan {
        /// The policy's name.
        policy: String,
        /// Each validation failure, one line each.
        problems: Vec<String>,
    },
    /// An option the policy does not declare, or a value of the wrong type.
    #[error("invalid option for policy `{policy}`: {message}")]
    Option {
        /// The policy's name.
        policy: String,
        /// What the policy or the runtime said.
        message: String,
    },
    /// A component failed `policy install`'s checks.
    #[error("policy `{policy}` failed the install checks: {reason}")]
    Unfit {
        /// The policy's name.
        policy: String,
        /// What was wrong.
        reason: String,
    },
}

/// Where a loaded policy comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Compiled from `policies/*` and embedded in this Conduit.
    BuiltIn,
    /// Installed into the home with `conduit policy install`.
    Installed,
    /// Loaded from a file or bytes for a one-off look (`policy info FILE`).
    File,
}

impl Origin {
    /// `built-in`, `installed` or `file`, as `policy list` shows it.
    pub fn name(self) -> &'static str {
        match self {
            Origin::BuiltIn => "built-in",
            Origin::Installed => "installed",
            Origin::File => "file",
        }
    }
}

/// Contract versions this host loads, oldest first (see
/// docs/contract-versioning.md). The last is the one in `wit/policy.wit`.
pub const SUPPORTED_CONTRACTS: &[&str] = &["1.0.0"];

/// The contract version a component implements, from its export names.
fn contract_of<'a>(exports: impl Iterator<Item = &'a str>) -> Result<String, String> {
    const PREFIX: &str = "conduit:policy/policy";
    let found: Vec<&str> = exports.filter(|e| e.starts_with(PREFIX)).collect();
    if let Some(version) = found
        .iter()
        .filter_map(|e| e.strip_prefix(PREFIX)?.strip_prefix('@'))
        .find(|v| SUPPORTED_CONTRACTS.contains(v))
    {
        return Ok(version.to_string());
    }
    let supported = SUPPORTED_CONTRACTS
        .iter()
        .map(|v| format!("conduit:policy@{v}"))
        .collect::<Vec<_>>()
        .join(", ");
    match found.first() {
        Some(other) => {
            let version = other.strip_prefix(PREFIX).unwrap_or_default();
            let version = version.strip_prefix('@').unwrap_or("(no version)");
            Err(format!(
                "it was built against conduit:policy@{version}, which this Conduit does not \
                 load (it loads {supported}); rebuild the policy against this Conduit's \
                 `wit/policy.wit`, or use a Conduit that supports that version"
            ))
        }
        None => Err(format!(
            "it exports no `{PREFIX}` interface; a policy exports `{PREFIX}@VERSION` as \
             generated from `wit/policy.wit` (this Conduit loads {supported})"
        )),
    }
}

/// Compiles, caches and runs policy components. One per process is enough;
/// it is cheap to clone.
#[derive(Clone)]
pub struct Runtime {
    engine: Engine,
    linker: Arc<Linker<Sandbox>>,
    cache_dir: Option<PathBuf>,
    limits: Limits,
}

/// How often the engine's epoch advances; deadlines are counted in ticks.
const EPOCH_TICK: Duration = Duration::from_millis(50);

impl Runtime {
    /// A runtime whose compiled components are cached under `cache_dir` (none:
    /// compile in memory on every load).
    pub fn new(cache_dir: Option<PathBuf>) -> anyhow::Result<Runtime> {
        let mut config = Config::new();
        config
            .consume_fuel(true)
            .epoch_interruption(true)
            .wasm_component_model(true);
        // wasmtime's copy-on-write data images only work with its own memories.
        #[cfg(target_os = "linux")]
        config
            .with_host_memory(Arc::new(memory::HugePages))
            .memory_init_cow(false);
        let engine = Engine::new(&config)?;
        start_epoch_ticker(&engine);
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        sandbox::link_frozen_clock(&mut linker)?;
        Ok(Runtime {
            engine,
            linker: Arc::new(linker),
            cache_dir,
            limits: Limits::default(),
        })
    }

    /// Replace the per-call budgets (tests use small ones).
    pub fn with_limits(mut self, limits: Limits) -> Runtime {
        self.limits = limits;
        self
    }

    /// Load a built-in policy by name.
    pub fn builtin(&self, name: &str) -> Result<LoadedPolicy, PolicyError> {
        let bytes =
            builtin::component(name).ok_or_else(|| PolicyError::Unknown(name.to_string()))?;
        let mut policy = self.load(name, bytes)?;
        policy.origin = Origin::BuiltIn;
        Ok(policy)
    }

    /// Load a policy for installing it: everything [`Runtime::load`] checks,
    /// plus that `describe()` answers the same twice and that `plan` accepts
    /// an empty diff with its defaults and with every declared choice and
    /// flag value (a policy whose `describe()` promises options its `plan`
    /// cannot handle is refused here, not in a user's sync).
    pub fn check(&self, label: &str, bytes: &[u8]) -> Result<LoadedPolicy, PolicyError> {
        let policy = self.load(label, bytes)?;
        let unfit = |reason: String| PolicyError::Unfit {
            policy: policy.name().to_string(),
            reason,
        };
        if policy.describe()? != *policy.info() {
            return Err(unfit(
                "describe() answered differently when asked twice; it must not depend on \
                 anything"
                    .into(),
            ));
        }
        let info = policy.info();
        let mut trials: Vec<Vec<(String, String)>> = vec![Vec::new()];
        for o in &info.options {
            let values: Vec<String> = match &o.type_ {
                OptionType::Choice(choices) => choices.clone(),
                OptionType::Flag => vec!["true".into(), "false".into()],
                _ => Vec::new(),
            };
            trials.extend(values.into_iter().map(|v| vec![(o.name.clone(), v)]));
        }
        for given in trials {
            let settings = options::resolve(info, &given).map_err(&unfit)?;
            let context = Context {
                conduit: "install-check".into(),
                now_ns: crate::clock::now_ns(),
                first_run: true,
                settings,
                source_volume: Some(Volume {
                    capacity: 1 << 40,
                    free: 1 << 39,
                }),
                local_bytes: 0,
            };
            let shown = match given.first() {
                Some((k, v)) => format!("with {k}={v}"),
                None => "with its default options".into(),
            };
            let actions = policy
                .plan(&context, &[])
                .map_err(|e| unfit(format!("planning an empty diff {shown} failed: {e}")))?;
            if !actions.is_empty() {
                return Err(unfit(format!(
                    "planning an empty diff {shown} returned {} action(s) for entries that do \
                     not exist",
                    actions.len()
                )));
            }
        }
        Ok(policy)
    }

    /// Load a policy component from a file; `label` names it in errors until
    /// its own `describe()` is known.
    pub fn load_file(&self, path: &Path) -> Result<LoadedPolicy, PolicyError> {
        let label = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| PolicyError::Load {
            policy: label.clone(),
            reason: e.to_string(),
        })?;
        self.load(&label, &bytes)
    }

    /// Load a policy component from bytes: compile (or reuse the cache), check
    /// its imports and exports, and ask it to `describe()` itself.
    pub fn load(&self, label: &str, bytes: &[u8]) -> Result<LoadedPolicy, PolicyError> {
        let load_error = |reason: String| PolicyError::Load {
            policy: label.to_string(),
            reason,
        };
        let wrong_contract = |reason: String| PolicyError::WrongContract {
            policy: label.to_string(),
            expected: POLICY_INTERFACE,
            reason,
        };
        // Refusals that need no compile come first.
        if let Some(surface) = inspect::surface(bytes).map_err(load_error)? {
            if let Some(import) =
                sandbox::forbidden_import(surface.imports.iter().map(String::as_str))
            {
                return Err(PolicyError::ForbiddenImport {
                    policy: label.to_string(),
                    import,
                });
            }
            contract_of(surface.exports.iter().map(String::as_str)).map_err(wrong_contract)?;
        }
        let digest = blake3::hash(bytes).to_hex().to_string();
        let component = cache::compile(&self.engine, self.cache_dir.as_deref(), &digest, bytes)
            .map_err(|e| PolicyError::Load {
                policy: label.to_string(),
                reason: format!("{e:#}"),
            })?;
        let ty = component.component_type();
        if let Some(import) = sandbox::forbidden_import(ty.imports(&self.engine).map(|(n, _)| n)) {
            return Err(PolicyError::ForbiddenImport {
                policy: label.to_string(),
                import,
            });
        }
        let contract =
            contract_of(ty.exports(&self.engine).map(|(n, _)| n)).map_err(wrong_contract)?;
        let mismatch = |e: wasmtime::Error| wrong_contract(format!("{e:#}"));
        let instance_pre = self.linker.instantiate_pre(&component).map_err(mismatch)?;
        let pre = PolicyComponentPre::new(instance_pre).map_err(mismatch)?;
        let mut policy = LoadedPolicy {
            runtime: self.clone(),
            pre,
            label: label.to_string(),
            digest,
            contract: format!("conduit:policy@{contract}"),
            origin: Origin::File,
            installed_as: None,
            info: None,
        };
        policy.info = Some(policy.describe()?);
        Ok(policy)
    }
}

/// Advance the engine's epoch in the background for as long as the engine
/// lives; a store's deadline is a number of ticks.
/// The policy interface's function `name` in `instance`.
fn export(
    instance: &Instance,
    store: &mut Store<Sandbox>,
    name: &str,
) -> wasmtime::Result<ComponentExportIndex> {
    let interface = instance
        .get_export_index(&mut *store, None, POLICY_INTERFACE)
        .ok_or_else(|| wasmtime::format_err!("no export {POLICY_INTERFACE}"))?;
    instance
        .get_export_index(&mut *store, Some(&interface), name)
        .ok_or_else(|| wasmtime::format_err!("no export {POLICY_INTERFACE}#{name}"))
}

fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("conduit-policy-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawn the policy deadline thread");
}

/// A compiled, checked policy component, ready to plan.
#[derive(Clone)]
pub struct LoadedPolicy {
    runtime: Runtime,
    pre: PolicyComponentPre<Sandbox>,
    label: String,
    digest: String,
    contract: String,
    origin: Origin,
    installed_as: Option<String>,
    info: Option<Info>,
}

impl std::fmt::Debug for LoadedPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPolicy")
            .field("name", &self.name())
            .field("digest", &self.digest)
            .finish()
    }
}

impl LoadedPolicy {
    /// What the policy said about itself at load time.
    pub fn info(&self) -> &Info {
        self.info.as_ref().expect("set by Runtime::load")
    }

    /// BLAKE3 of the component's bytes (hex).
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// The name to use in messages: the name it was installed under, else
    /// the one its `describe()` gives.
    pub fn name(&self) -> &str {
        if let Some(name) = &self.installed_as {
            return name;
        }
        self.info.as_ref().map_or(&self.label, |i| &i.name)
    }

    /// The contract it implements, e.g. `conduit:policy@1.0.0`.
    pub fn contract(&self) -> &str {
        &self.contract
    }

    /// Where it comes from.
    pub fn origin(&self) -> Origin {
        self.origin
    }

    /// Mark as installed under `name`.
    pub(crate) fn installed(mut self, name: &str) -> LoadedPolicy {
        self.origin = Origin::Installed;
        self.installed_as = Some(name.to_string());
        self
    }

    fn describe(&self) -> Result<Info, PolicyError> {
        let info = self.call(0, 0, 0, |instance, store| {
            let describe = export(instance, &mut *store, "describe")?;
            let describe = instance.get_typed_func::<(), (Info,)>(&mut *store, &describe)?;
            Ok(describe.call(store, ())?.0)
        })?;
        options::check_schema(&info).map_err(|message| PolicyError::Load {
            policy: self.label.clone(),
            reason: format!("its describe() is unusable: {message}"),
        })?;
        Ok(info)
    }

    /// Run `plan` in a fresh sandbox. The result is not yet validated.
    pub fn plan(&self, context: &Context, entries: &[Entry]) -> Result<Vec<Action>, PolicyError> {
        let path_bytes = entries.iter().map(|e| e.path.len()).sum();
        let result = self.call(
            context.now_ns,
            entries.len(),
            path_bytes,
            |instance, store| {
                // The entries are lowered in bulk.
                let plan = export(instance, &mut *store, "plan")?;
                let plan = instance.get_typed_func::<
                    (&Context, lower::Entries<'_>),
                    (Result<Vec<Action>, String>,),
                >(&mut *store, &plan)?;
                let (result,) = plan.call(store, (context, lower::Entries(entries)))?;
                Ok(result)
            },
        )?;
        result.map_err(|message| PolicyError::Refused {
            policy: self.name().to_string(),
            message,
        })
    }

    /// Instantiate in a fresh store with budgets for `entries`, run `f`, and
    /// turn traps into typed errors. Captured output goes to the log.
    fn call<R>(
        &self,
        now_ns: i64,
        entries: usize,
        path_bytes: usize,
        f: impl FnOnce(&Instance, &mut Store<Sandbox>) -> wasmtime::Result<R>,
    ) -> Result<R, PolicyError> {
        let limits = &self.runtime.limits;
        let (fuel, memory, deadline) = (
            limits.fuel(entries),
            limits.memory(entries, path_bytes),
            limits.deadline(entries),
        );
        let mut store = Store::new(
            &self.runtime.engine,
            Sandbox::new(now_ns, memory, limits.max_output),
        );
        store.limiter(|s| &mut s.limits);
        store.set_fuel(fuel).expect("fuel is enabled");
        let ticks = deadline.as_nanos().div_ceil(EPOCH_TICK.as_nanos()) as u64 + 1;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();

        let started = std::time::Instant::now();
        let outcome = self
            .pre
            .instance_pre()
            .instantiate(&mut store)
            .and_then(|instance| f(&instance, &mut store));
        let (printed, dropped) = store.data().output.take();
        if !printed.is_empty() {
            tracing::info!(
                policy = self.name(),
                dropped_bytes = dropped,
                "policy output:\n{printed}"
            );
        }
        outcome.map_err(|error| {
            tracing::debug!(policy = self.name(), "policy call failed: {error:?}");
            let policy = self.name().to_string();
            match error.downcast_ref::<Trap>() {
                Some(Trap::OutOfFuel) => PolicyError::OutOfFuel {
                    policy,
                    fuel,
                    entries,
                },
                Some(Trap::StackOverflow) => PolicyError::StackOverflow { policy },
                Some(Trap::Interrupt) => PolicyError::Deadline {
                    policy,
                    seconds: started.elapsed().as_secs_f64(),
                },
                _ if store.data().limits.denied => PolicyError::OutOfMemory {
                    policy,
                    limit_mib: memory >> 20,
                    entries,
                },
                Some(Trap::MemoryOutOfBounds) => PolicyError::Trap {
                    policy,
                    message: "it accessed memory out of bounds (deep recursion that exhausts \
                              its stack ends this way too)"
                        .into(),
                },
                Some(trap) => PolicyError::Trap {
                    policy,
                    message: trap.to_string(),
                },
                None => PolicyError::Trap {
                    policy,
                    message: error.root_cause().to_string(),
                },
            }
        })
    }
}
