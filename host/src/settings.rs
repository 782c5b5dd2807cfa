//! A conduit's own settings (not its policy's options) as types. Each is
//! parsed once, where it enters (`add`, `set`, or a row read from the
//! index), so no stage re-reads text and a bad value is an error where it
//! appears, never a silent default.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// When a conduit runs by itself (under `conduit watch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cadence {
    /// Only when asked (`conduit sync`).
    Manual,
    /// Shortly after changes on either watched side settle.
    Instant,
    /// On a fixed interval (whole seconds, at least one).
    Every(Duration),
}

const UNITS: &[(char, u64)] = &[('d', 86_400), ('h', 3600), ('m', 60), ('s', 1)];

impl FromStr for Cadence {
    type Err = String;

    /// `manual`, `instant`, or a positive whole number followed by s, m, h
    /// or d.
    fn from_str(text: &str) -> Result<Cadence, String> {
        let every = || {
            let unit = text.chars().last()?;
            let (_, secs) = UNITS.iter().find(|(u, _)| *u == unit)?;
            let n: u64 = text[..text.len() - 1].parse().ok().filter(|n| *n > 0)?;
            Some(Cadence::Every(Duration::from_secs(n.checked_mul(*secs)?)))
        };
        match text {
            "manual" => Ok(Cadence::Manual),
            "instant" => Ok(Cadence::Instant),
            _ => every().ok_or_else(|| {
                format!(
                    "cadence {text:?} is not valid: use manual, instant, or an interval like \
                     30s, 5m, 1h, 1d"
                )
            }),
        }
    }
}

/// Written as its text form, as `status --json` shows it.
impl serde::Serialize for Cadence {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for Cadence {
    /// The text form `from_str` reads, in the largest unit that fits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cadence::Manual => f.write_str("manual"),
            Cadence::Instant => f.write_str("instant"),
            Cadence::Every(every) => {
                let secs = every.as_secs();
                let (unit, size) = UNITS
                    .iter()
                    .find(|(_, size)| secs % size == 0)
                    .expect("every whole number of seconds is a multiple of 1");
                write!(f, "{}{unit}", secs / size)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cadences_read_and_render() {
        for (text, shown) in [
            ("manual", "manual"),
            ("instant", "instant"),
            ("30s", "30s"),
            ("90s", "90s"),
            ("120s", "2m"),
            ("5m", "5m"),
            ("1h", "1h"),
            ("48h", "2d"),
            ("1d", "1d"),
        ] {
            let cadence: Cadence = text.parse().unwrap();
            assert_eq!(cadence.to_string(), shown, "{text}");
            assert_eq!(shown.parse::<Cadence>(), Ok(cadence), "{shown} reads back");
        }
        for bad in [
            "",
            "0s",
            "5",
            "5x",
            "-5m",
            "sometimes",
            "1.5h",
            "99999999999999999d",
        ] {
            let err = bad.parse::<Cadence>().unwrap_err();
            assert!(err.contains("not valid"), "{bad:?}: {err}");
        }
    }
}
