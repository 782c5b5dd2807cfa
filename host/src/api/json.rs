//! The JSON objects that `--json` prints and the HTTP API answers with,
//! where they are not a type's own serialization: rendered once here
//! (docs/json.md).

use serde_json::json;

use super::{InstallReport, PolicyListing};
use crate::index::Conduit;
use crate::policy::{self, Installed, LoadedPolicy};
use conduit_contract::{Scope, options};

/// A conduit's settings (`show --json`).
pub fn conduit(c: &Conduit) -> serde_json::Value {
    let options: serde_json::Map<String, serde_json::Value> = c
        .options
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({
        "name": c.name,
        "source": c.source,
        "destination": c.destination,
        "policy": c.policy,
        "policy_digest": c.policy_digest,
        "options": options,
        "cadence": c.cadence.to_string(),
        "ignore": c.ignore,
        "enabled": c.enabled,
        "max_delete_pct": c.max_delete_pct,
        "trash_days": c.trash_days,
        "source_capacity": c.source_capacity,
        "verify_from": c.verify_from.to_string(),
        "keep_owner": c.keep_owner,
        "bandwidth": c.bandwidth,
    })
}

/// The word for a policy's scope.
pub fn scope_name(scope: Scope) -> &'static str {
    match scope {
        Scope::Changes => "changes",
        Scope::Everything => "everything",
    }
}

/// An installed policy's record.
pub fn installed(p: &Installed) -> serde_json::Value {
    json!({
        "name": p.name,
        "version": p.version,
        "digest": p.digest,
        "installed_at": p.installed_at,
        "from": p.from,
    })
}

/// A policy with its options schema (`policy info --json`).
pub fn policy(l: &PolicyListing) -> serde_json::Value {
    let p: &LoadedPolicy = match &l.policy {
        Ok(p) => p,
        Err(problem) => {
            return json!({
                "name": l.name,
                "origin": "installed",
                "digest": l.installed.as_ref().map(|r| r.digest.as_str()),
                "installed": l.installed.as_ref().map(installed),
                "used_by": l.used_by,
                "error": problem,
            });
        }
    };
    let i = p.info();
    let options: Vec<_> = i
        .options
        .iter()
        .map(|o| {
            let mut spec = json!({
                "name": o.name,
                "type": options::contract_name(&o.type_),
                "default": o.default.as_ref().map(option_value),
                "help": o.help,
            });
            if let policy::OptionType::Choice(choices) = &o.type_ {
                spec["choices"] = json!(choices);
            }
            spec
        })
        .collect();
    json!({
        "name": p.name(),
        "version": i.version,
        "summary": i.summary,
        "origin": p.origin().name(),
        "contract": p.contract(),
        "digest": p.digest(),
        "scope": scope_name(i.scope),
        "options": options,
        "installed": l.installed.as_ref().map(installed),
        "used_by": l.used_by,
    })
}

/// A value as JSON: sizes and durations as plain numbers (bytes, seconds).
fn option_value(value: &conduit_contract::Value) -> serde_json::Value {
    use conduit_contract::Value;
    match value {
        Value::Flag(b) => json!(b),
        Value::Integer(i) => json!(i),
        Value::Text(s) | Value::Choice(s) => json!(s),
        Value::Size(n) | Value::Duration(n) => json!(n),
        Value::Percent(p) => json!(format!("{p}%")),
    }
}

/// What `policy install` did.
pub fn install(report: &InstallReport) -> serde_json::Value {
    let p = &report.installed;
    json!({
        "name": p.name,
        "version": p.version,
        "contract": p.contract,
        "digest": p.digest,
        "unchanged": report.unchanged,
        "replaced": report.replaced.as_ref().map(installed),
        "to_confirm": report.to_confirm,
    })
}
