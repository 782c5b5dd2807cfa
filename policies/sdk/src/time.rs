//! Calendar arithmetic for names derived from time (conflict copies,
//! `by-date` archive layout). Policies have no clock and no time zone: every
//! instant comes from the host and is rendered in UTC.

use conduit_contract::NAME_MAX;

/// Split seconds since the Unix epoch into UTC
/// `(year, month, day, hour, minute, second)`.
///
/// Howard Hinnant's days-to-civil algorithm; kept here rather than pulling a
/// date crate into every component for one conversion.
pub fn civil_from_unix(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    (year, month, day, h as u32, m as u32, s as u32)
}

/// The name a conflicting version is kept under:
/// `<stem>.conflict-<YYYYMMDD-HHMMSS.mmm>-<source|destination>[.<ext>]`, in
/// the same directory as `path`. The milliseconds keep conflicts of
/// separate runs within one second apart (conflicts of one run are kept
/// apart by [`ConflictNames`]).
pub fn conflict_name(path: &str, now_ns: i64, side: crate::Side) -> String {
    conflict_name_numbered(path, now_ns, side, None)
}

/// [`conflict_name`], made unique: where `taken(name)` says a name is in
/// use, a counter joins the tag (`…-destination-2.txt`), so conflicts that
/// come within one second never share a name.
pub fn conflict_name_where(
    path: &str,
    now_ns: i64,
    side: crate::Side,
    taken: impl Fn(&str) -> bool,
) -> String {
    std::iter::once(None)
        .chain((2u64..).map(Some))
        .map(|n| conflict_name_numbered(path, now_ns, side, n))
        .find(|candidate| !taken(candidate))
        .expect("an unbounded range yields a free name")
}

fn conflict_name_numbered(path: &str, now_ns: i64, side: crate::Side, n: Option<u64>) -> String {
    let (dir, name) = match path.rfind('/') {
        Some(i) => path.split_at(i + 1),
        None => ("", path),
    };
    // A leading dot starts a hidden name, not an extension.
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => name.split_at(i),
        _ => (name, ""),
    };
    let (y, mo, d, h, mi, s) = civil_from_unix(now_ns.div_euclid(1_000_000_000));
    let ms = now_ns.rem_euclid(1_000_000_000) / 1_000_000;
    let counter = n.map(|n| format!("-{n}")).unwrap_or_default();
    let tag = format!(
        ".conflict-{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}.{ms:03}-{}{counter}",
        side.name()
    );
    format!("{dir}{}", fit_name(stem, &tag, ext))
}

/// Conflict names for one plan: none is a path the diff holds on either
/// side, and none is given twice.
pub struct ConflictNames {
    taken: std::collections::HashSet<String>,
}

impl ConflictNames {
    /// Names in use: every path of `entries` that exists on a side.
    pub fn new(entries: &[crate::Entry]) -> ConflictNames {
        ConflictNames {
            taken: entries
                .iter()
                .filter(|e| e.source.is_some() || e.destination.is_some())
                .map(|e| e.path.clone())
                .collect(),
        }
    }

    /// A fresh conflict name for `path`'s `side` version.
    pub fn name(&mut self, path: &str, now_ns: i64, side: crate::Side) -> String {
        let name = conflict_name_where(path, now_ns, side, |n| self.taken.contains(n));
        self.taken.insert(name.clone());
        name
    }
}

/// `stem + tag + ext` as one file name of at most [`NAME_MAX`] bytes: the
/// stem is shortened (at a character boundary) so that the tag, which makes
/// the name new, always fits; an extension too long to keep is dropped into
/// the stem's share first.
pub fn fit_name(stem: &str, tag: &str, ext: &str) -> String {
    let (stem, ext) = if tag.len() + ext.len() + 1 > NAME_MAX {
        (format!("{stem}{ext}"), "")
    } else {
        (stem.to_string(), ext)
    };
    let room = NAME_MAX.saturating_sub(tag.len() + ext.len());
    let mut cut = stem.len().min(room);
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}{tag}{ext}", &stem[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Side;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_unix(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil_from_unix(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil_from_unix(1_700_000_000), (2023, 11, 14, 22, 13, 20));
        assert_eq!(civil_from_unix(-1), (1969, 12, 31, 23, 59, 59));
    }

    #[test]
    fn conflict_names() {
        let t = 1_700_000_000_042_000_000;
        let cases = [
            (
                "a/report.pdf",
                Side::Source,
                "a/report.conflict-20231114-221320.042-source.pdf",
            ),
            (
                "notes",
                Side::Destination,
                "notes.conflict-20231114-221320.042-destination",
            ),
            (
                ".bashrc",
                Side::Source,
                ".bashrc.conflict-20231114-221320.042-source",
            ),
            (
                "x/a.tar.gz",
                Side::Source,
                "x/a.tar.conflict-20231114-221320.042-source.gz",
            ),
        ];
        for (path, side, want) in cases {
            assert_eq!(conflict_name(path, t, side), want, "{path}");
        }
    }

    #[test]
    fn conflict_names_of_names_at_the_length_limit_still_fit() {
        let t = 1_700_000_000_000_000_000;
        for name in [
            "n".repeat(255),
            format!("{}.txt", "n".repeat(251)),
            "日".repeat(85),
            format!("a.{}", "e".repeat(253)),
        ] {
            let got = conflict_name(&format!("dir/{name}"), t, Side::Destination);
            let file = got.strip_prefix("dir/").unwrap();
            assert!(file.len() <= NAME_MAX, "{} bytes: {file}", file.len());
            assert!(
                file.contains(".conflict-20231114-221320.000-destination"),
                "{file}"
            );
            assert_ne!(file, name);
        }
        // A short extension is kept at the end.
        let got = conflict_name(&format!("{}.txt", "n".repeat(251)), t, Side::Source);
        assert!(got.ends_with("-source.txt"), "{got}");
    }
}
