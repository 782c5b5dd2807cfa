//! A policy's options: the schema it declares in `describe`, the values a
//! conduit sets (`--set K=V`), and the context a `plan` call receives. The
//! host and the SDK's table tests parse, check and render options with these
//! functions only, so a value reads the same in a test and on the command
//! line.

#[cfg(feature = "wasmtime")]
use wasmtime::component::{ComponentType, Lift, Lower};

use crate::units::{parse_duration, parse_size, render_duration, render_size};

/// The type of an option, as declared in `describe`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "wasmtime", derive(ComponentType, Lift), component(variant))]
pub enum OptionType {
    #[cfg_attr(feature = "wasmtime", component(name = "flag"))]
    Flag,
    #[cfg_attr(feature = "wasmtime", component(name = "integer"))]
    Integer,
    #[cfg_attr(feature = "wasmtime", component(name = "text"))]
    Text,
    #[cfg_attr(feature = "wasmtime", component(name = "choice"))]
    Choice(Vec<String>),
    #[cfg_attr(feature = "wasmtime", component(name = "size"))]
    Size,
    #[cfg_attr(feature = "wasmtime", component(name = "duration"))]
    Duration,
    #[cfg_attr(feature = "wasmtime", component(name = "size-or-percent"))]
    SizeOrPercent,
}

/// An option's value: sizes in bytes, durations in seconds.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(
    feature = "wasmtime",
    derive(ComponentType, Lift, Lower),
    component(variant)
)]
pub enum Value {
    #[cfg_attr(feature = "wasmtime", component(name = "flag"))]
    Flag(bool),
    #[cfg_attr(feature = "wasmtime", component(name = "integer"))]
    Integer(i64),
    #[cfg_attr(feature = "wasmtime", component(name = "text"))]
    Text(String),
    #[cfg_attr(feature = "wasmtime", component(name = "choice"))]
    Choice(String),
    #[cfg_attr(feature = "wasmtime", component(name = "size"))]
    Size(u64),
    #[cfg_attr(feature = "wasmtime", component(name = "duration"))]
    Duration(u64),
    #[cfg_attr(feature = "wasmtime", component(name = "percent"))]
    Percent(f64),
}

/// One option a policy takes.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "wasmtime", derive(ComponentType, Lift), component(record))]
pub struct OptionSpec {
    pub name: String,
    #[cfg_attr(feature = "wasmtime", component(name = "type"))]
    pub type_: OptionType,
    pub default: Option<Value>,
    pub help: String,
}

/// Which entries a policy is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "wasmtime", derive(ComponentType, Lift), component(enum))]
#[repr(u8)]
pub enum Scope {
    /// Only paths that changed on some side since base.
    #[cfg_attr(feature = "wasmtime", component(name = "changes"))]
    Changes,
    /// Every path either side or base holds.
    #[cfg_attr(feature = "wasmtime", component(name = "everything"))]
    Everything,
}

/// What a policy says of itself in `describe`.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "wasmtime", derive(ComponentType, Lift), component(record))]
pub struct Info {
    pub name: String,
    pub version: String,
    pub summary: String,
    pub options: Vec<OptionSpec>,
    pub scope: Scope,
}

/// A resolved option: a declared name and a value of its type.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "wasmtime", derive(ComponentType, Lower), component(record))]
pub struct Setting {
    pub name: String,
    pub value: Value,
}

/// The size of a root's volume, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "wasmtime", derive(ComponentType, Lower), component(record))]
pub struct Volume {
    pub capacity: u64,
    pub free: u64,
}

/// Everything a `plan` call knows besides the entries.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "wasmtime", derive(ComponentType, Lower), component(record))]
pub struct Context {
    pub conduit: String,
    #[cfg_attr(feature = "wasmtime", component(name = "now-ns"))]
    pub now_ns: i64,
    #[cfg_attr(feature = "wasmtime", component(name = "first-run"))]
    pub first_run: bool,
    pub settings: Vec<Setting>,
    #[cfg_attr(feature = "wasmtime", component(name = "source-volume"))]
    pub source_volume: Option<Volume>,
    #[cfg_attr(feature = "wasmtime", component(name = "local-bytes"))]
    pub local_bytes: u64,
}

/// Check that a policy's `describe()` is usable: option names unique and
/// kebab-case, defaults of the declared type, choices non-empty.
pub fn check_schema(info: &Info) -> Result<(), String> {
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    if !valid_name(&info.name) {
        return Err(format!("policy name {:?} is not kebab-case", info.name));
    }
    for (i, spec) in info.options.iter().enumerate() {
        if !valid_name(&spec.name) {
            return Err(format!("option name {:?} is not kebab-case", spec.name));
        }
        if info.options[..i].iter().any(|o| o.name == spec.name) {
            return Err(format!("option `{}` is declared twice", spec.name));
        }
        if let OptionType::Choice(choices) = &spec.type_
            && choices.is_empty()
        {
            return Err(format!(
                "option `{}` is a choice with no choices",
                spec.name
            ));
        }
        if let Some(default) = &spec.default
            && !matches_type(&spec.type_, default)
        {
            return Err(format!(
                "the default of option `{}` ({}) is not a {}",
                spec.name,
                render(default),
                type_name(&spec.type_)
            ));
        }
    }
    Ok(())
}

/// Turn `name=value` pairs into typed settings, with defaults for the rest.
/// Refuses undeclared options and values that do not parse as the declared
/// type; a later pair for the same name replaces an earlier one.
pub fn resolve(info: &Info, given: &[(String, String)]) -> Result<Vec<Setting>, String> {
    let mut chosen: Vec<Option<Value>> = info.options.iter().map(|o| o.default.clone()).collect();
    for (name, text) in given {
        let Some(i) = info.options.iter().position(|o| &o.name == name) else {
            let known: Vec<&str> = info.options.iter().map(|o| o.name.as_str()).collect();
            return Err(if known.is_empty() {
                format!("`{}` takes no options, but `{name}` was given", info.name)
            } else {
                format!(
                    "`{}` has no option `{name}`; its options are: {}",
                    info.name,
                    known.join(", ")
                )
            });
        };
        chosen[i] = Some(parse(&info.options[i], text)?);
    }
    Ok(info
        .options
        .iter()
        .zip(chosen)
        .filter_map(|(spec, value)| {
            value.map(|value| Setting {
                name: spec.name.clone(),
                value,
            })
        })
        .collect())
}

/// Split `key=value` as given on the command line.
pub fn split_assignment(arg: &str) -> Result<(String, String), String> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("expected KEY=VALUE, got {arg:?}")),
    }
}

/// Parse one value against its option's declared type.
pub fn parse(spec: &OptionSpec, text: &str) -> Result<Value, String> {
    let bad = |expected: &str| format!("option `{}` expects {expected}, got {text:?}", spec.name);
    match &spec.type_ {
        OptionType::Flag => match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(Value::Flag(true)),
            "false" | "no" | "off" | "0" => Ok(Value::Flag(false)),
            _ => Err(bad("true or false")),
        },
        OptionType::Integer => text
            .parse()
            .map(Value::Integer)
            .map_err(|_| bad("a whole number")),
        OptionType::Text => Ok(Value::Text(text.to_string())),
        OptionType::Choice(choices) => match choices.iter().find(|c| c.as_str() == text) {
            Some(c) => Ok(Value::Choice(c.clone())),
            None => Err(bad(&format!("one of {}", choices.join(", ")))),
        },
        OptionType::Size => parse_size(text)
            .map(Value::Size)
            .ok_or_else(|| bad("a size such as 500M or 10GiB")),
        OptionType::Duration => parse_duration(text)
            .map(Value::Duration)
            .ok_or_else(|| bad("a duration such as 90s, 30m, 12h or 7d")),
        OptionType::SizeOrPercent => match text.strip_suffix('%') {
            Some(p) => match p.trim().parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) => Ok(Value::Percent(p)),
                _ => Err(bad("a percentage from 0% to 100%")),
            },
            None => parse_size(text)
                .map(Value::Size)
                .ok_or_else(|| bad("a size such as 10G, or a share such as 15%")),
        },
    }
}

fn matches_type(ty: &OptionType, value: &Value) -> bool {
    match (ty, value) {
        (OptionType::Flag, Value::Flag(_))
        | (OptionType::Integer, Value::Integer(_))
        | (OptionType::Text, Value::Text(_))
        | (OptionType::Size, Value::Size(_))
        | (OptionType::Duration, Value::Duration(_))
        | (OptionType::SizeOrPercent, Value::Size(_)) => true,
        (OptionType::SizeOrPercent, Value::Percent(p)) => (0.0..=100.0).contains(p),
        (OptionType::Choice(choices), Value::Choice(c)) => choices.contains(c),
        _ => false,
    }
}

/// A short name of a type, for messages and `policy info`.
pub fn type_name(ty: &OptionType) -> String {
    match ty {
        OptionType::Flag => "flag".into(),
        OptionType::Integer => "integer".into(),
        OptionType::Text => "text".into(),
        OptionType::Choice(c) => format!("choice of {}", c.join("|")),
        OptionType::Size => "size".into(),
        OptionType::Duration => "duration".into(),
        OptionType::SizeOrPercent => "size or percent".into(),
    }
}

/// The type's name in the contract (WIT): `flag`, `size-or-percent`, …
pub fn contract_name(ty: &OptionType) -> &'static str {
    match ty {
        OptionType::Flag => "flag",
        OptionType::Integer => "integer",
        OptionType::Text => "text",
        OptionType::Choice(_) => "choice",
        OptionType::Size => "size",
        OptionType::Duration => "duration",
        OptionType::SizeOrPercent => "size-or-percent",
    }
}

/// Render a value the way the CLI accepts it back.
pub fn render(value: &Value) -> String {
    match value {
        Value::Flag(b) => b.to_string(),
        Value::Integer(i) => i.to_string(),
        Value::Text(s) | Value::Choice(s) => s.clone(),
        Value::Size(n) => render_size(*n),
        Value::Duration(s) => render_duration(*s),
        Value::Percent(p) => format!("{p}%"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `describe()` whose schema contradicts itself is refused at load.
    #[test]
    fn schemas_that_lie_are_refused() {
        let spec = |name: &str, type_: OptionType, default: Option<Value>| OptionSpec {
            name: name.into(),
            type_,
            default,
            help: String::new(),
        };
        let info = |options: Vec<OptionSpec>| Info {
            name: "p".into(),
            version: "1".into(),
            summary: String::new(),
            options,
            scope: Scope::Changes,
        };
        let choice = |c: &[&str]| OptionType::Choice(c.iter().map(|s| s.to_string()).collect());
        let cases = [
            (
                vec![spec(
                    "limit",
                    OptionType::Integer,
                    Some(Value::Text("ten".into())),
                )],
                "the default of option `limit` (ten) is not a integer",
            ),
            (
                vec![spec(
                    "mode",
                    choice(&["a", "b"]),
                    Some(Value::Choice("c".into())),
                )],
                "is not a choice of a|b",
            ),
            (
                vec![spec(
                    "share",
                    OptionType::SizeOrPercent,
                    Some(Value::Percent(150.0)),
                )],
                "is not a size or percent",
            ),
            (
                vec![
                    spec("x", OptionType::Flag, None),
                    spec("x", OptionType::Text, None),
                ],
                "declared twice",
            ),
            (
                vec![spec("Colour", OptionType::Text, None)],
                "not kebab-case",
            ),
            (vec![spec("mode", choice(&[]), None)], "no choices"),
        ];
        for (options, expected) in cases {
            let err = check_schema(&info(options)).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
        let ok = info(vec![spec(
            "mode",
            choice(&["a"]),
            Some(Value::Choice("a".into())),
        )]);
        assert_eq!(check_schema(&ok), Ok(()));
    }

    #[test]
    fn render_round_trips() {
        for v in [
            Value::Size(10 << 30),
            Value::Size(1234),
            Value::Duration(7 * 86_400),
            Value::Duration(61),
        ] {
            let spec = OptionSpec {
                name: "x".into(),
                type_: if matches!(v, Value::Size(_)) {
                    OptionType::Size
                } else {
                    OptionType::Duration
                },
                default: None,
                help: String::new(),
            };
            assert_eq!(parse(&spec, &render(&v)).unwrap(), v);
        }
    }
}
