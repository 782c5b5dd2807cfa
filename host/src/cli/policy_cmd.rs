//! `conduit policy list | info | test | install | remove`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;

use super::exit;
use crate::api::{Host, InstallOptions, PolicyListing};
use crate::plan::{self, json::DiffFile};
use crate::policy::{self, short_digest};
use conduit_contract::options;

#[derive(Subcommand)]
pub(super) enum PolicyCommand {
    /// List the available policies: built-in and installed.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a policy's origin, version, contract, digest, scope and options.
    Info {
        /// A policy name, or the path of a policy component (.wasm).
        policy: String,
        #[arg(long)]
        json: bool,
    },
    /// Run a policy on a diff given as JSON and print the validated plan.
    Test {
        /// A policy name, or the path of a policy component (.wasm).
        policy: String,
        /// The diff, as documented in docs/diff-json.md (`-` for stdin).
        diff: PathBuf,
        /// Set a policy option, e.g. `--set conflict=newer` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE", value_parser = options::split_assignment)]
        set: Vec<(String, String)>,
    },
    /// Check a policy component and install it into the home (docs/writing-policies.md).
    Install {
        /// The component, built for wasm32-wasip2.
        file: PathBuf,
        /// Install under this name instead of the one the policy gives itself.
        #[arg(long)]
        name: Option<String>,
        /// Replace an installed policy of the same name; conduits using it
        /// halt at their next sync until the new version is confirmed.
        #[arg(long)]
        replace: bool,
        #[arg(long)]
        json: bool,
    },
    /// Uninstall a policy (refused while a conduit uses it).
    Remove { name: String },
}

pub(super) fn run(home: &Path, cmd: PolicyCommand) -> anyhow::Result<i32> {
    let mut host = Host::open(home)?;
    match cmd {
        PolicyCommand::List { json } => {
            let policies = host.policies()?;
            if json {
                let list: Vec<_> = policies.iter().map(crate::api::json::policy).collect();
                println!("{}", super::json(&list, true)?);
            } else {
                println!(
                    "{:<16} {:<9} {:<10} {:<8} {:<14} SUMMARY",
                    "NAME", "VERSION", "ORIGIN", "CONTRACT", "DIGEST"
                );
                for l in &policies {
                    let Ok(p) = &l.policy else {
                        let digest = l.installed.as_ref().map_or("", |r| short_digest(&r.digest));
                        let problem = l.policy.as_ref().err().map_or("", String::as_str);
                        println!(
                            "{:<16} {:<9} {:<10} {:<8} {:<14} cannot be loaded: {problem}",
                            l.name, "?", "installed", "?", digest
                        );
                        continue;
                    };
                    let i = p.info();
                    println!(
                        "{:<16} {:<9} {:<10} {:<8} {:<14} {}",
                        l.name,
                        i.version,
                        p.origin().name(),
                        p.contract().trim_start_matches("conduit:policy@"),
                        short_digest(p.digest()),
                        i.summary
                    );
                }
            }
        }
        PolicyCommand::Info { policy, json } => {
            let listing = load(&host, &policy)?;
            if json {
                println!(
                    "{}",
                    super::json(&crate::api::json::policy(&listing), true)?
                );
            } else {
                print_info(&listing);
            }
        }
        PolicyCommand::Test {
            policy,
            diff: diff_file,
            set,
        } => {
            let p = load(&host, &policy)?.policy.map_err(anyhow::Error::msg)?;
            let stdin = diff_file == Path::new("-");
            let text = if stdin {
                std::io::read_to_string(std::io::stdin()).context("reading the diff from stdin")?
            } else {
                std::fs::read_to_string(&diff_file).map_err(|e| {
                    crate::api::UsageError(format!("reading {}: {e}", diff_file.display()))
                })?
            };
            let name = if stdin {
                "stdin".into()
            } else {
                diff_file.display().to_string()
            };
            let diff = DiffFile::parse(&text).map_err(|m| anyhow::anyhow!("{name}: {m}"))?;
            // A bad `--set` is a usage mistake here as in `add` and `set`.
            let settings = options::resolve(p.info(), &set).map_err(|message| {
                crate::api::UsageError(
                    policy::PolicyError::Option {
                        policy: p.name().to_string(),
                        message,
                    }
                    .to_string(),
                )
            })?;
            let (context, entries) = diff.into_input("policy-test", settings);
            let actions = p.plan(&context, &entries)?;
            let plan = plan::validate(p.name(), &entries, actions)?;
            let actions: Vec<_> = plan
                .actions
                .iter()
                .map(|a| plan::json::action_json(&entries, a))
                .collect();
            let out =
                json!({ "policy": p.name(), "version": p.info().version, "actions": actions });
            println!("{}", super::json(&out, true)?);
        }
        PolicyCommand::Install {
            file,
            name,
            replace,
            json,
        } => {
            let bytes = std::fs::read(&file)
                .with_context(|| format!("reading the component {}", file.display()))?;
            let started = std::time::Instant::now();
            let report = host.install_policy(
                &bytes,
                &InstallOptions {
                    name,
                    replace,
                    from: Some(
                        std::fs::canonicalize(&file)
                            .unwrap_or(file)
                            .display()
                            .to_string(),
                    ),
                },
            )?;
            let p = &report.installed;
            if json {
                let mut out = crate::api::json::install(&report);
                out["duration_ms"] = json!(started.elapsed().as_millis() as u64);
                println!("{}", super::json(&out, true)?);
            } else {
                if report.unchanged {
                    println!(
                        "policy `{}` {} is already installed with this component",
                        p.name, p.version
                    );
                } else if let Some(old) = &report.replaced {
                    println!(
                        "replaced policy `{}` {} ({}) with {} ({})",
                        p.name,
                        old.version,
                        short_digest(&old.digest),
                        p.version,
                        short_digest(&p.digest)
                    );
                } else {
                    println!(
                        "installed policy `{}` {} ({}, digest {})",
                        p.name,
                        p.version,
                        p.contract,
                        short_digest(&p.digest)
                    );
                }
                for c in &report.to_confirm {
                    println!(
                        "conduit `{c}` uses `{}`: its next sync halts until you confirm the new \
                         version with `conduit set {c} policy-digest={}`",
                        p.name, p.digest
                    );
                }
            }
        }
        PolicyCommand::Remove { name } => {
            let removed = host.remove_policy(&name)?;
            println!("removed policy `{}` {}", removed.name, removed.version);
        }
    }
    Ok(exit::OK)
}

/// A policy by name (installed or built-in), or a component file by path.
fn load(host: &Host, policy: &str) -> anyhow::Result<PolicyListing> {
    let path = Path::new(policy);
    if policy.ends_with(".wasm") || path.components().count() > 1 {
        if !path.is_file() {
            return Err(crate::api::UsageError(format!(
                "no policy component at {}",
                path.display()
            ))
            .into());
        }
        let policy = host.runtime().load_file(path)?;
        return Ok(PolicyListing {
            name: policy.name().to_string(),
            policy: Ok(policy),
            installed: None,
            used_by: Vec::new(),
        });
    }
    // An unknown name is a usage mistake (exit 2), as in every command; a
    // component that does not load is an error (exit 1).
    let loaded = host.load_policy(policy)?;
    Ok(PolicyListing {
        name: policy.to_string(),
        installed: host.policy_store().get(policy)?,
        used_by: host.policy_users(policy)?,
        policy: Ok(loaded),
    })
}

fn print_info(l: &PolicyListing) {
    let Ok(p) = &l.policy else { return };
    let i = p.info();
    println!(
        "{} {}  ({}, {})",
        p.name(),
        i.version,
        p.origin().name(),
        p.contract()
    );
    println!("{}", i.summary);
    println!("digest:  {}", p.digest());
    if let Some(rec) = &l.installed {
        if let Some(from) = &rec.from {
            println!("from:    {from}");
        }
        if i.name != rec.name {
            println!("calls itself `{}` in its describe()", i.name);
        }
    }
    println!("sees:    {} entries", crate::api::json::scope_name(i.scope));
    if !l.used_by.is_empty() {
        println!("used by: {}", l.used_by.join(", "));
    }
    if i.options.is_empty() {
        println!("options: none");
        return;
    }
    println!("options:");
    for o in &i.options {
        let default = o
            .default
            .as_ref()
            .map_or("unset".to_string(), options::render);
        println!(
            "  {:<18} {} (default: {})",
            o.name,
            options::type_name(&o.type_),
            default
        );
        println!("  {:<18} {}", "", o.help);
    }
}
