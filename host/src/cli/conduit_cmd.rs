//! Conduit management and inspection commands: add, list, show, set, pause,
//! resume, remove, status, history, conflicts, resolve, restore, verify,
//! pin, unpin, hydrate.

use std::path::Path;

use serde_json::json;

use super::{Command, exit, human_bytes};
use crate::api::{Host, NewConduit};
use crate::exec::Outcome;
use crate::index::Conduit;

pub(super) fn run(home: &Path, command: Command, out: super::Output) -> anyhow::Result<i32> {
    let mut host = Host::open(home)?;
    match command {
        Command::Add {
            name,
            source,
            destination,
            policy,
            set,
            cadence,
            ignore,
        } => {
            let c = host.add(NewConduit {
                name,
                source,
                destination,
                policy,
                options: set,
                cadence,
                ignore,
            })?;
            println!(
                "added `{}`: {} -> {} ({}); run it with `conduit sync {}`",
                c.name, c.source, c.destination, c.policy, c.name
            );
        }
        Command::List { json } => {
            let all = host.conduits()?;
            if json {
                let list: Vec<_> = all.iter().map(crate::api::json::conduit).collect();
                println!("{}", super::json(&list, true)?);
            } else if all.is_empty() {
                println!(
                    "no conduits yet; create one with `conduit add NAME SOURCE DEST --policy P`"
                );
            } else {
                for c in &all {
                    let paused = if c.enabled { "" } else { "  [paused]" };
                    println!(
                        "{:<16} {:<12} {} -> {}{paused}",
                        c.name, c.policy, c.source, c.destination
                    );
                }
            }
        }
        Command::Show { name, json } => {
            let c = host.conduit(&name)?;
            if json {
                println!("{}", super::json(&crate::api::json::conduit(&c), true)?);
            } else {
                print_conduit(&c);
            }
        }
        Command::Set { name, settings } => {
            let c = host.set(&name, &settings)?;
            print_conduit(&c);
        }
        Command::Pause { name } => {
            host.set_enabled(&name, false)?;
            println!("paused `{name}`: it will not run by itself until `conduit resume {name}`");
        }
        Command::Resume { name } => {
            host.set_enabled(&name, true)?;
            println!("resumed `{name}`");
        }
        Command::Remove { name } => {
            let c = host.remove(&name)?;
            println!(
                "removed `{}`; its files in {} and {} are untouched",
                c.name, c.source, c.destination
            );
        }
        Command::Status {
            name,
            offloaded,
            json,
        } => return status(&host, name, offloaded, json),
        Command::History {
            name,
            generation: Some(generation),
            json,
            ..
        } => {
            let run = host.run_record(&name, generation)?;
            if json {
                println!("{}", super::json(&run, true)?);
            } else {
                println!("{}", when(&run.started));
                super::sync_cmd::print_report(&run, out);
                if run.items.is_empty() && run.halted.is_none() {
                    println!("  (no action was taken on any path)");
                }
            }
        }
        Command::History {
            name,
            generation: None,
            limit,
            json,
        } => {
            let runs = host.history(&name, limit)?;
            if json {
                println!("{}", super::json(&runs, true)?);
            } else if runs.is_empty() {
                println!("`{name}` has not run yet");
            } else {
                for r in &runs {
                    print!("{}  ", when(&r.started));
                    super::sync_cmd::print_report(r, out);
                }
                println!("`conduit history {name} GEN` lists what a run did to each path");
            }
        }
        Command::Trash {
            name,
            path,
            purge: true,
            older_than,
            json,
        } => {
            if path.is_some() {
                return Err(crate::api::UsageError(
                    "--purge takes no PATH: it purges by age across the whole trash".into(),
                )
                .into());
            }
            let age = older_than.unwrap_or_default();
            let Some(secs) = conduit_contract::units::parse_duration(&age) else {
                return Err(crate::api::UsageError(format!(
                    "--older-than {age:?} is not an age: use e.g. 30d, 12w or 1y"
                ))
                .into());
            };
            let purged = host.purge_trash(&name, secs)?;
            if json {
                println!("{}", super::json(&purged, true)?);
            } else {
                println!(
                    "purged {} version(s), {}, trashed more than {age} ago",
                    purged.versions,
                    human_bytes(purged.bytes)
                );
                for p in &purged.problems {
                    println!("  ! {p}");
                }
            }
            if !purged.problems.is_empty() {
                return Ok(exit::PARTIAL);
            }
        }
        Command::Trash {
            name, path, json, ..
        } => {
            let versions = host.trash(&name, path.as_deref())?;
            if json {
                println!("{}", super::json(&versions, true)?);
            } else if versions.is_empty() {
                println!(
                    "the trash of `{name}` holds nothing{}",
                    match &path {
                        Some(p) => format!(" at {p:?}"),
                        None => String::new(),
                    }
                );
            } else {
                for v in &versions {
                    println!(
                        "{}  #{}  {:<11} {:>10}  {}  gen {}  in {}",
                        when(&v.trashed),
                        v.version,
                        v.side,
                        human_bytes(v.size),
                        v.path,
                        v.generation.map_or("-".to_string(), |g| g.to_string()),
                        v.trashed_as
                    );
                }
                println!(
                    "bring one back with `conduit restore {name} PATH --version N` (#N above)"
                );
            }
        }
        Command::Conflicts {
            name,
            all: settled_too,
            json,
        } => {
            let names = match name {
                Some(n) => vec![n],
                None => host.conduits()?.into_iter().map(|c| c.name).collect(),
            };
            let mut open = Vec::new();
            let mut settled = Vec::new();
            for n in names {
                for (path, reason) in host.conflicts(&n)? {
                    open.push(json!({ "conduit": n, "path": path, "reason": reason }));
                }
                if settled_too {
                    for run in host.history(&n, usize::MAX)? {
                        for c in run.conflict_list.iter().filter(|c| !c.unresolved) {
                            settled.push(json!({
                                "conduit": n,
                                "generation": run.generation,
                                "path": c.path,
                                "how": c.how,
                                "copies": c.copies,
                            }));
                        }
                    }
                }
            }
            if json {
                let out = match settled_too {
                    true => json!({ "open": open, "settled": settled }),
                    false => json!(open),
                };
                println!("{}", super::json(&out, true)?);
                return Ok(super::exit::OK);
            }
            let text =
                |v: &serde_json::Value, key: &str| v[key].as_str().unwrap_or_default().to_string();
            if open.is_empty() {
                println!("no open conflicts");
            } else {
                for c in &open {
                    println!(
                        "{}: {}: {}",
                        text(c, "conduit"),
                        text(c, "path"),
                        text(c, "reason")
                    );
                }
                println!(
                    "settle one with `conduit resolve NAME PATH --keep source|destination|both`"
                );
            }
            if settled_too {
                println!("settled by a rule ({}):", settled.len());
                for c in &settled {
                    println!(
                        "  {}: generation {}: {}: {}",
                        text(c, "conduit"),
                        c["generation"],
                        text(c, "path"),
                        text(c, "how")
                    );
                }
            }
        }
        Command::Resolve { name, path, keep } => {
            let outcome = host.resolve(&name, &path, keep)?;
            return Ok(report_outcome(&format!("resolved {path:?}"), &outcome));
        }
        Command::Restore {
            name,
            path,
            version,
            before,
            to,
        } => {
            let before_ns = match before {
                Some(text) => Some(
                    crate::clock::parse_when(&text, crate::clock::now_ns())
                        .map_err(|e| crate::api::UsageError(format!("--before: {e}")))?,
                ),
                None => None,
            };
            let choice = crate::api::RestoreChoice {
                version,
                before_ns,
                to,
            };
            let restored = host.restore(&name, &path, &choice)?;
            let trashed = restored
                .version
                .as_ref()
                .map(|v| format!(", trashed {}", v.trashed))
                .unwrap_or_default();
            println!(
                "restored {:?} from the {}{trashed}",
                restored.path, restored.from
            );
            for line in &restored.replaced {
                println!("  replaced: {line}");
            }
            return Ok(report_outcome(
                &format!("{:?} is on both sides", restored.path),
                &restored.outcome,
            ));
        }
        Command::Verify { name, repair, json } => {
            let r = host.verify(&name, repair)?;
            if json {
                println!("{}", super::json(&r, true)?);
            } else {
                println!(
                    "{}: {} files ({}) match the index",
                    r.conduit,
                    r.verified,
                    human_bytes(r.bytes)
                );
                for line in &r.corrupted {
                    println!("  ! {line}");
                }
                for line in &r.changed {
                    println!("  ~ {line}");
                }
                for line in &r.repaired {
                    println!("  repaired: {line}");
                }
                for line in &r.unrepaired {
                    println!("  ! not repaired: {line}");
                }
            }
            let all_repaired =
                repair && r.unrepaired.is_empty() && r.repaired.len() == r.corrupted.len();
            return Ok(if r.corrupted.is_empty() || all_repaired {
                exit::OK
            } else {
                exit::PARTIAL
            });
        }
        Command::Pin { name, glob } => {
            host.pin(&name, &glob, true)?;
            println!(
                "pinned {glob:?} in `{name}`: matching files stay local, offloaded ones return at the next run"
            );
        }
        Command::Unpin { name, glob } => {
            if !host.pin(&name, &glob, false)? {
                return Err(
                    crate::api::UsageError(format!("{glob:?} was not pinned in `{name}`")).into(),
                );
            }
            println!("unpinned {glob:?} in `{name}`");
        }
        Command::Hydrate { name, paths } => {
            let outcome = host.hydrate(&name, &paths)?;
            return Ok(report_outcome("hydrated", &outcome));
        }
        Command::Sync { .. }
        | Command::Watch { .. }
        | Command::Serve { .. }
        | Command::Policy(_)
        | Command::Device(_)
        | Command::Completions { .. }
        | Command::Man
        | Command::Demo { .. } => {
            unreachable!("dispatched in cli::run")
        }
    }
    Ok(exit::OK)
}

/// A recorded time for people: `2026-12-02 06:40:12 (5 min ago)`.
fn when(rfc3339: &str) -> String {
    let at = crate::clock::parse_when(rfc3339, 0).ok();
    let short = rfc3339.get(..19).unwrap_or(rfc3339).replace('T', " ");
    match at {
        Some(ns) => format!(
            "{short} ({})",
            crate::clock::relative(ns, crate::clock::now_ns())
        ),
        None => short,
    }
}

fn report_outcome(what: &str, o: &Outcome) -> i32 {
    if o.counts.failed > 0 || o.counts.skipped > 0 {
        println!("not everything could be done:");
        for p in &o.problems {
            println!("  ! {p}");
        }
        exit::PARTIAL
    } else {
        println!(
            "{what}: {} file(s) copied, {} verified",
            o.counts.copied + o.counts.hydrated + o.counts.updated,
            o.counts.verified
        );
        exit::OK
    }
}

fn print_conduit(c: &Conduit) {
    println!("{}", c.name);
    println!("  source:      {}", c.source);
    println!("  destination: {}", c.destination);
    println!("  policy:      {}", c.policy);
    for (k, v) in &c.options {
        println!("    {k} = {v}");
    }
    println!(
        "  cadence:     {}{}",
        c.cadence,
        if c.enabled { "" } else { " (paused)" }
    );
    if !c.ignore.is_empty() {
        println!("  ignore:      {}", c.ignore.join(", "));
    }
    println!("  max-delete:  {}%", c.max_delete_pct);
    println!("  trash-days:  {}", c.trash_days);
    println!("  verify-from: {}", c.verify_from);
    println!("  keep-owner:  {}", if c.keep_owner { "yes" } else { "no" });
    if let Some(rate) = c.bandwidth {
        println!("  bandwidth:   {rate} B/s with a device");
    }
    if let Some(capacity) = c.source_capacity {
        println!("  source-capacity: {} (assumed)", human_bytes(capacity));
    }
}

fn status(host: &Host, name: Option<String>, offloaded: bool, json: bool) -> anyhow::Result<i32> {
    let names = match &name {
        Some(n) => vec![n.clone()],
        None => host.conduits()?.into_iter().map(|c| c.name).collect(),
    };
    let statuses = names
        .iter()
        .map(|n| host.status(n, offloaded))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if json {
        if name.is_some() {
            println!("{}", super::json(&statuses[0], true)?);
        } else {
            println!("{}", super::json(&statuses, true)?);
        }
        return Ok(exit::OK);
    }
    if statuses.is_empty() {
        println!("no conduits yet; create one with `conduit add NAME SOURCE DEST --policy P`");
    }
    for s in &statuses {
        let last = match &s.last_run {
            None => "never run".to_string(),
            Some(r) if let Some(halt) = &r.halted => {
                format!("generation {} halted: {halt}", r.generation)
            }
            Some(r) => format!(
                "generation {} ({}): {} copied, {} deleted, {} failed",
                r.generation,
                when(&r.started),
                r.counts.copied,
                r.counts.deleted,
                r.counts.failed
            ),
        };
        println!(
            "{} ({}, {}): {last}; {} open conflicts; {} offloaded",
            s.conduit, s.policy, s.state, s.conflicts, s.offloaded
        );
        if let Some(service) = &s.service {
            let now = crate::clock::now_ns();
            let when =
                |ns: Option<i64>| ns.map_or("-".to_string(), |ns| crate::clock::relative(ns, now));
            let detail = service
                .detail
                .as_ref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            println!(
                "  watched by pid {}, {} cadence{detail}; last run {}, next scheduled {}",
                service.pid,
                s.cadence,
                when(service.last_run_ns),
                when(service.next_run_ns),
            );
        }
        for file in s.offloaded_files.iter().flatten() {
            println!("  {} ({})", file.path, human_bytes(file.size));
        }
    }
    if name.is_none() {
        for d in host.devices()? {
            let at = d
                .address
                .map_or("dials here".to_string(), |a| format!("at {a}"));
            let seen = d
                .last_seen
                .as_deref()
                .map_or("never seen".to_string(), when);
            let on = match d.conduits.is_empty() {
                true => String::new(),
                false => format!("; roots of {}", d.conduits.join(", ")),
            };
            println!(
                "device {} ({}) {at}, last seen {seen}{on}",
                d.name, d.short_id
            );
        }
    }
    Ok(exit::OK)
}
