//! The text forms of sizes and durations, as typed after `--set`: the CLI and
//! a policy's table tests read `500M` or `7d` with these same functions.

const SIZE_UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("b", 1),
    ("k", 1 << 10),
    ("kib", 1 << 10),
    ("kb", 1000),
    ("m", 1 << 20),
    ("mib", 1 << 20),
    ("mb", 1_000_000),
    ("g", 1 << 30),
    ("gib", 1 << 30),
    ("gb", 1_000_000_000),
    ("t", 1 << 40),
    ("tib", 1 << 40),
    ("tb", 1_000_000_000_000),
];

/// `500`, `500M`, `1.5GiB`, `10GB`: bare letters are binary (as in rsync and
/// rclone), `KB`/`MB`/… are decimal.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let unit = unit.trim().to_ascii_lowercase();
    let (_, factor) = SIZE_UNITS.iter().find(|(u, _)| *u == unit)?;
    let bytes = number * *factor as f64;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// `90`, `90s`, `30m`, `12h`, `7d`, `2w`, `1y` (365 days), in seconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "y" => 365 * 86_400,
        _ => return None,
    };
    number.checked_mul(factor)
}

/// A size in the largest binary unit that divides it, as `parse_size` reads it.
pub fn render_size(n: u64) -> String {
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

/// A duration in the largest unit that divides it, as `parse_duration` reads it.
pub fn render_duration(s: u64) -> String {
    for (unit, factor) in [
        ("y", 365 * 86_400u64),
        ("w", 7 * 86_400),
        ("d", 86_400),
        ("h", 3600),
        ("m", 60),
    ] {
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
            ("1y", Some(31_536_000)),
            ("1x", None),
            ("-1d", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_duration(text), want, "{text}");
        }
    }
}
