//! Wall-clock time as Conduit records it: nanoseconds since the Unix epoch
//! (what the index stores, policies receive and the trash is aged by).

/// Now, in ns since the epoch (0 if the clock is before it).
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// The time `secs` seconds before now, in ns since the epoch; an age
/// beyond the epoch is the epoch's start (so nothing is older), never a
/// wrap into the future.
pub fn ago(secs: u64) -> i64 {
    let span = i64::try_from(secs).map_or(i64::MAX, |s| s.saturating_mul(1_000_000_000));
    now_ns().saturating_sub(span).max(i64::MIN + 1)
}

/// `ns` as an RFC 3339 UTC timestamp with milliseconds, as reports carry it.
pub fn rfc3339(ns: i64) -> String {
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns.max(0) as u64);
    humantime::format_rfc3339_millis(at).to_string()
}

/// A point in time as people type it: an RFC 3339 timestamp (`2026-12-01T10:00:00Z`,
/// the zone optional, UTC assumed), a date (`2026-12-01`, its midnight UTC),
/// or an age before `now_ns` with its unit (`90m`, `2d`, `1y`; a bare
/// number is refused: `2026` is too easily meant as a year). In ns since
/// the epoch.
pub fn parse_when(text: &str, now_ns: i64) -> Result<i64, String> {
    let text = text.trim();
    if text.ends_with(|c: char| c.is_ascii_alphabetic())
        && let Some(secs) = conduit_contract::units::parse_duration(text)
    {
        let span = i64::try_from(secs).map_or(i64::MAX, |s| s.saturating_mul(1_000_000_000));
        return Ok(now_ns.saturating_sub(span));
    }
    let full = match text.len() {
        10 => format!("{text}T00:00:00Z"),
        _ => text.to_string(),
    };
    // "Weak": a space for the T and a missing Z (then UTC) are accepted.
    humantime::parse_rfc3339_weak(&full)
        .map(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i64)
        })
        .map_err(|_| {
            format!(
                "{text:?} is not a time: give a date (2026-12-01), a timestamp \
                 (2026-12-01T10:00:00Z) or an age (30m, 2d, 1y)"
            )
        })
}

/// How long ago (or from now) `ns` is, for people: `2 min ago`, `in 58 min`.
pub fn relative(ns: i64, now_ns: i64) -> String {
    let secs = (now_ns - ns) / 1_000_000_000;
    let amount = secs.unsigned_abs();
    let span = match amount {
        0..45 => return "just now".to_string(),
        45..5400 => format!("{} min", amount.div_ceil(60).max(1)),
        5400..172_800 => format!("{} h", (amount + 1800) / 3600),
        _ => format!("{} days", (amount + 43_200) / 86_400),
    };
    match secs >= 0 {
        true => format!("{span} ago"),
        false => format!("in {span}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn times_people_type() {
        let now = 1_764_590_400 * S; // 2025-12-01T12:00:00Z
        assert_eq!(parse_when("2025-12-01", now), Ok(1_764_547_200 * S));
        assert_eq!(parse_when("2025-12-01T12:00:00Z", now), Ok(now));
        assert_eq!(parse_when("2025-12-01T12:00:00", now), Ok(now));
        assert_eq!(parse_when("2d", now), Ok(now - 2 * 86_400 * S));
        assert_eq!(parse_when("1y", now), Ok(now - 365 * 86_400 * S));
        assert!(parse_when("2026", now).is_err(), "a bare number is no age");
        assert!(
            parse_when("100000000y", now).unwrap() < 0,
            "before the epoch, not after now"
        );
        let err = parse_when("last tuesday", now).unwrap_err();
        assert!(err.contains("\"last tuesday\" is not a time"), "{err}");
        assert_eq!(rfc3339(now), "2025-12-01T12:00:00.000Z");
    }

    #[test]
    fn ages_never_wrap_into_the_future() {
        assert!(ago(0) <= now_ns());
        assert!(ago(u64::MAX) < 0);
        assert!(
            ago(1000 * 365 * 86_400) < 0,
            "a thousand years ago is before the epoch"
        );
    }

    #[test]
    fn ages_for_people() {
        let now = 1_000_000 * S;
        assert_eq!(relative(now - 10 * S, now), "just now");
        assert_eq!(relative(now - 120 * S, now), "2 min ago");
        assert_eq!(relative(now + 58 * 60 * S, now), "in 58 min");
        assert_eq!(relative(now - 3 * 3600 * S, now), "3 h ago");
        assert_eq!(relative(now - 5 * 86_400 * S, now), "5 days ago");
    }
}
