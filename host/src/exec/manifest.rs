//! Archive's manifest: one JSON line per verified move, appended durably to
//! the destination root (`.conduit/archive-manifest.jsonl`) before the
//! original is removed. It is the proof of what archive moved; `verify`
//! checks every line against the file it names.

use serde::{Deserialize, Serialize};

use crate::index::Record;
use conduit_contract::{Digest, Kind};

/// One verified move.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ManifestEntry {
    /// Where the content is now, in the destination.
    pub path: String,
    /// Where it came from, in the source.
    pub original: String,
    /// `file` or `symlink`.
    pub kind: ManifestKind,
    /// Bytes of content.
    pub size: u64,
    /// BLAKE3 of the content as hex (of the target, for a symlink).
    pub blake3: Option<String>,
    /// When the move was recorded (ns since the epoch).
    #[serde(default)]
    pub archived_at_ns: i64,
    /// The run that moved it.
    #[serde(default)]
    pub generation: i64,
}

/// What archive moves: files and symlinks (folders are pruned, not moved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ManifestKind {
    File,
    Symlink,
}

impl ManifestEntry {
    /// The entry for `original`, moved to `to` as the scan saw it (`seen`).
    pub fn new(original: &str, to: &str, seen: &Record, generation: i64) -> ManifestEntry {
        ManifestEntry {
            path: to.to_string(),
            original: original.to_string(),
            kind: match seen.kind {
                Kind::Symlink => ManifestKind::Symlink,
                _ => ManifestKind::File,
            },
            size: seen.size,
            blake3: seen.digest.map(hex),
            archived_at_ns: crate::clock::now_ns(),
            generation,
        }
    }

    /// The entry as its manifest line.
    pub fn line(&self) -> String {
        serde_json::to_string(self).expect("plain data serializes")
    }

    /// A manifest line read back.
    pub fn parse(line: &str) -> Result<ManifestEntry, serde_json::Error> {
        serde_json::from_str(line)
    }

    /// The kind to hash the archived path as.
    pub fn kind(&self) -> Kind {
        match self.kind {
            ManifestKind::File => Kind::File,
            ManifestKind::Symlink => Kind::Symlink,
        }
    }
}

/// A digest as the manifest writes it: BLAKE3's hex form.
pub(crate) fn hex(digest: Digest) -> String {
    blake3::Hash::from_bytes(conduit_contract::digest_to_bytes(digest))
        .to_hex()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_reads_back_and_keeps_its_field_names() {
        let seen = Record {
            kind: Kind::Symlink,
            size: 3,
            mtime_ns: 1,
            mode: 0o777,
            inode: 9,
            digest: Some((1, 2, 3, 4)),
            atime_ns: 1,
        };
        let entry = ManifestEntry::new("a/b", "2026/01/b", &seen, 7);
        let line = entry.line();
        assert_eq!(ManifestEntry::parse(&line).unwrap(), entry);
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(json["kind"], "symlink");
        assert_eq!(json["path"], "2026/01/b");
        assert_eq!(json["original"], "a/b");
        assert_eq!(json["generation"], 7);
        assert_eq!(json["blake3"].as_str().map(str::len), Some(64));
    }
}
