//! Policy options: checking a policy's declared schema, parsing `--set K=V`
//! against it, and rendering values back for people and JSON.
//!
//! Everything a policy receives in `context.settings` went through
//! [`resolve`], so a policy never sees an undeclared option or a value of the
//! wrong type.

use super::{Info, OptionSpec, OptionType, Setting, Value};

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

/// A value as JSON: sizes and durations as plain numbers (bytes, seconds).
pub fn to_json(value: &Value) -> serde_json::Value {
    use serde_json::json;
    match value {
        Value::Flag(b) => json!(b),
        Value::Integer(i) => json!(i),
        Value::Text(s) | Value::Choice(s) => json!(s),
        Value::Size(n) | Value::Duration(n) => json!(n),
        Value::Percent(p) => json!(format!("{p}%")),
    }
}

// One parser for the CLI and for the SDK's table tests, so both read `500M`
// or `7d` the same way.
pub use conduit_policy::units::{parse_duration, parse_size};

fn render_size(n: u64) -> String {
    for (unit, factor) in [
        ("T", 1u64 << 40),
        ("G", 1 << 30),
        ("M", 1 << 20),
        ("K", 1 << 10),
    ] {
        if n >= factor && n.is_multiple_of(factor) {
            return format!("{}{unit}", n / factor);
        }
    }
    n.to_string()
}

fn render_duration(s: u64) -> String {
    for (unit, factor) in [("w", 7 * 86_400u64), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if s >= factor && s.is_multiple_of(factor) {
            return format!("{}{unit}", s / factor);
        }
    }
    format!("{s}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let cases = [
            ("500", Some(500)),
            ("1K", Some(1024)),
            ("1kb", Some(1000)),
            ("1.5G", Some(3 << 29)),
            ("10GiB", Some(10 << 30)),
            ("2 TB", Some(2_000_000_000_000)),
            ("ten", None),
            ("5X", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_size(text), want, "{text}");
        }
    }

    #[test]
    fn durations() {
        let cases = [
            ("90", Some(90)),
            ("90s", Some(90)),
            ("30m", Some(1800)),
            ("12h", Some(43_200)),
            ("7d", Some(604_800)),
            ("2w", Some(1_209_600)),
            ("1y", None),
            ("-1d", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), want, "{text}");
        }
    }

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
            scope: crate::policy::Scope::Changes,
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
