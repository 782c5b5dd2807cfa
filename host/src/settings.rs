//! A conduit's own settings (not its policy's options) as types. Each is
//! parsed once, where it enters (`add`, `set`, or a row read from the
//! index), so no stage re-reads text and a bad value is an error where it
//! appears, never a silent default.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use conduit_contract::units::{parse_duration, render_duration};

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

impl FromStr for Cadence {
    type Err = String;

    /// `manual`, `instant`, or a positive duration as policy options take
    /// them (`conduit_contract::units`), with its unit: s, m, h, d or w.
    fn from_str(text: &str) -> Result<Cadence, String> {
        let every = || {
            // A bare number is refused: `5` is too easily meant as minutes.
            text.ends_with(|c: char| c.is_ascii_alphabetic())
                .then_some(())?;
            let secs = parse_duration(text).filter(|s| *s > 0)?;
            Some(Cadence::Every(Duration::from_secs(secs)))
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
            Cadence::Every(every) => f.write_str(&render_duration(every.as_secs())),
        }
    }
}

/// Where a copy is re-read from to verify it (`verify-from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VerifyFrom {
    /// The page cache may serve the re-read: it proves the write path
    /// (staging, rename, what the filesystem returns), not the drive.
    Cache,
    /// The written pages are dropped from the cache first, so the re-read
    /// comes from the device (and catches a failing or fake drive).
    Media,
    /// `media` for copies a source copy is removed after (archive's moves,
    /// offload's evictions), `cache` for the rest.
    #[default]
    Auto,
}

impl FromStr for VerifyFrom {
    type Err = String;

    fn from_str(text: &str) -> Result<VerifyFrom, String> {
        match text {
            "cache" => Ok(VerifyFrom::Cache),
            "media" => Ok(VerifyFrom::Media),
            "auto" => Ok(VerifyFrom::Auto),
            _ => Err(format!(
                "verify-from {text:?} is not valid: use media (re-read from the device), cache, \
                 or auto (media where a source copy is removed afterwards)"
            )),
        }
    }
}

impl fmt::Display for VerifyFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VerifyFrom::Cache => "cache",
            VerifyFrom::Media => "media",
            VerifyFrom::Auto => "auto",
        })
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
            ("14d", "2w"),
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
