//! `conduit policy list | info | test`.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Subcommand;
use serde_json::json;

use super::exit;
use crate::plan::{self, json::DiffFile};
use crate::policy::{self, LoadedPolicy, Runtime, Scope, options};

#[derive(Subcommand)]
pub(super) enum PolicyCommand {
    /// List the available policies.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a policy's version, scope and options.
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
}

pub(super) fn run(home: &Path, cmd: PolicyCommand) -> anyhow::Result<i32> {
    let runtime = Runtime::new(Some(home.join("cache").join("policies")))?;
    match cmd {
        PolicyCommand::List { json } => {
            let policies = policy::builtin_names()
                .map(|name| runtime.builtin(name))
                .collect::<Result<Vec<_>, _>>()?;
            if json {
                let list: Vec<_> = policies.iter().map(policy_json).collect();
                println!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                println!("{:<14} {:<9} {:<9} SUMMARY", "NAME", "VERSION", "ORIGIN");
                for p in &policies {
                    let i = p.info();
                    println!(
                        "{:<14} {:<9} {:<9} {}",
                        i.name, i.version, "built-in", i.summary
                    );
                }
            }
        }
        PolicyCommand::Info { policy, json } => {
            let p = load(&runtime, &policy)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&policy_json(&p))?);
            } else {
                print_info(&p);
            }
        }
        PolicyCommand::Test {
            policy,
            diff: diff_file,
            set,
        } => {
            let p = load(&runtime, &policy)?;
            let stdin = diff_file == Path::new("-");
            let text = if stdin {
                std::io::read_to_string(std::io::stdin()).context("reading the diff from stdin")?
            } else {
                std::fs::read_to_string(&diff_file)
                    .with_context(|| format!("reading {}", diff_file.display()))?
            };
            let name = if stdin {
                "stdin".into()
            } else {
                diff_file.display().to_string()
            };
            let diff = DiffFile::parse(&text).map_err(|m| anyhow::anyhow!("{name}: {m}"))?;
            let settings = options::resolve(p.info(), &set).map_err(|message| {
                policy::PolicyError::Option {
                    policy: p.name().to_string(),
                    message,
                }
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
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
    }
    Ok(exit::OK)
}

/// A built-in by name, or a component file by path.
fn load(runtime: &Runtime, policy: &str) -> anyhow::Result<LoadedPolicy> {
    let path = Path::new(policy);
    if policy.ends_with(".wasm") || path.components().count() > 1 {
        anyhow::ensure!(path.is_file(), "no policy component at {}", path.display());
        return Ok(runtime.load_file(path)?);
    }
    Ok(runtime.builtin(policy)?)
}

fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Changes => "changes",
        Scope::Everything => "everything",
    }
}

fn policy_json(p: &LoadedPolicy) -> serde_json::Value {
    let i = p.info();
    let options: Vec<_> = i
        .options
        .iter()
        .map(|o| {
            let mut spec = json!({
                "name": o.name,
                "type": options::type_name(&o.type_).split(' ').next().unwrap_or_default(),
                "default": o.default.as_ref().map(options::to_json),
                "help": o.help,
            });
            if let policy::OptionType::Choice(choices) = &o.type_ {
                spec["type"] = json!("choice");
                spec["choices"] = json!(choices);
            }
            spec
        })
        .collect();
    json!({
        "name": i.name,
        "version": i.version,
        "summary": i.summary,
        "origin": "built-in",
        "contract": policy::CONTRACT,
        "digest": p.digest(),
        "scope": scope_name(i.scope),
        "options": options,
    })
}

fn print_info(p: &LoadedPolicy) {
    let i = p.info();
    println!("{} {}  ({})", i.name, i.version, policy::CONTRACT);
    println!("{}", i.summary);
    println!("digest: {}", p.digest());
    println!("sees:   {} entries", scope_name(i.scope));
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
