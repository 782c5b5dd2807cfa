//! The index schema, in one place, with its migrations.
//!
//! The schema version is SQLite's `user_version`. Each migration takes the
//! database from version `n` to `n + 1`; a database newer than this binary
//! knows is refused rather than guessed at.
//!
//! Tables (all per conduit, removed with it):
//!
//! - `conduits`: name, policy (name + digest of the component it was created
//!   with), policy options as given (`key`, `value` text pairs in JSON, checked
//!   against the policy's schema on use), cadence, ignore globs (JSON), enabled,
//!   the delete guard's threshold and the trash retention; since version 2,
//!   an optional capacity to assume for the source volume (offload).
//! - `roots`: the two locations of a conduit (`side` 0 = source, 1 =
//!   destination), their path and the id written in their root marker.
//! - `entries`: what the last scan saw in a root, per relative path: kind,
//!   size, mtime (ns), mode, inode, BLAKE3 (32 bytes, NULL when unreadable or
//!   a directory), access time (ns) and when it was hashed. A rescan rehashes
//!   only rows whose size, mtime or inode changed.
//! - `base`: per conduit and path, the state both sides agreed on after the
//!   last run that settled the path; `offloaded` marks a file whose source
//!   copy was evicted (its content lives in the destination).
//! - `generations`: one row per sync run: start/end, dry run, forced, halt
//!   reason, action counts, bytes, verified copies, failures, errors (JSON).
//!   `ended_ns` is NULL while a run is in progress or after a crash.
//! - `journal`: append-only, one row per executed action: generation, path,
//!   action, detail, outcome (`done`, `failed`, `skipped`), error text.
//! - `conflicts`: open conflicts per conduit and path, with the reason.
//! - `trash`: what a run moved into a root's trash: side, original path, the
//!   path inside the root's trash, size, digest, when; `restored` once
//!   brought back.
//! - `pins`: globs whose matches an offload conduit keeps local.
//! - `dirty` (version 3): subtrees the watcher saw change since the last
//!   run (`side`, relative `path`; `""` is the whole root). A watched run
//!   rescans only these and then clears the marks it read.
//! - `evicting` (version 4): offload's evictions in flight. A row (path and
//!   the destination's verified state) is written before a source copy is
//!   removed and dropped when the base records the file as offloaded, so a
//!   crash between the two never makes an evicted file look deleted by the
//!   user.
//! - version 5: generations are numbered per conduit (`number`, 1, 2, …,
//!   never reused: the next is one past the conduit's highest); `trash` and
//!   `conflicts` name that number. Journal rows say why (`why`: the change
//!   that led to the action) and where a displaced version went (`trashed`,
//!   a JSON list of trash paths). `conduits.verify_from`: where copies
//!   are re-read from (`cache`, `media`, `auto`); `conduits.keep_owner`:
//!   copies get the original's owner when running as root.
//! - version 6: `devices`, the devices paired with this home (name, device
//!   ID, address to dial, when last seen). `peer_listings`: per paired
//!   device and root of this home it syncs, the listing last sent to it, and
//!   `remote_listings`: per conduit side on a device, the listing last
//!   received, both under one token: a later scan sends only the difference.
//!   `conduits.bandwidth`: a limit (bytes a second) on transfers with a device.

use rusqlite::Connection;

/// Migrations, in order; migration `i` takes the schema from version `i` to
/// `i + 1`. Never edit a released one: append.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE conduits (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    policy          TEXT NOT NULL,
    policy_digest   TEXT NOT NULL,
    options         TEXT NOT NULL,
    cadence         TEXT NOT NULL,
    ignore          TEXT NOT NULL,
    enabled         INTEGER NOT NULL,
    max_delete_pct  REAL NOT NULL,
    trash_days      INTEGER NOT NULL,
    created_ns      INTEGER NOT NULL
);
CREATE TABLE roots (
    id        INTEGER PRIMARY KEY,
    conduit   INTEGER NOT NULL REFERENCES conduits(id) ON DELETE CASCADE,
    side      INTEGER NOT NULL,
    path      TEXT NOT NULL,
    marker    TEXT NOT NULL,
    UNIQUE (conduit, side)
);
CREATE TABLE entries (
    root      INTEGER NOT NULL REFERENCES roots(id) ON DELETE CASCADE,
    path      TEXT NOT NULL,
    kind      INTEGER NOT NULL,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    mode      INTEGER NOT NULL,
    inode     INTEGER NOT NULL,
    digest    BLOB,
    atime_ns  INTEGER NOT NULL,
    PRIMARY KEY (root, path)
) WITHOUT ROWID;
CREATE TABLE base (
    conduit   INTEGER NOT NULL REFERENCES conduits(id) ON DELETE CASCADE,
    path      TEXT NOT NULL,
    kind      INTEGER NOT NULL,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    mode      INTEGER NOT NULL,
    digest    BLOB,
    offloaded INTEGER NOT NULL,
    PRIMARY KEY (conduit, path)
) WITHOUT ROWID;
CREATE TABLE generations (
    id          INTEGER PRIMARY KEY,
    conduit     INTEGER NOT NULL REFERENCES conduits(id) ON DELETE CASCADE,
    started_ns  INTEGER NOT NULL,
    ended_ns    INTEGER,
    dry_run     INTEGER NOT NULL,
    forced      INTEGER NOT NULL,
    halted      TEXT,
    report      TEXT
);
CREATE TABLE journal (
    id          INTEGER PRIMARY KEY,
    generation  INTEGER NOT NULL REFERENCES generations(id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    action      TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    detail      TEXT,
    at_ns       INTEGER NOT NULL
);
CREATE TABLE conflicts (
    conduit     INTEGER NOT NULL REFERENCES conduits(id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    reason      TEXT NOT NULL,
    generation  INTEGER NOT NULL,
    PRIMARY KEY (conduit, path)
);
CREATE TABLE trash (
    id          INTEGER PRIMARY KEY,
    conduit     INTEGER NOT NULL REFERENCES conduits(id) ON DELETE CASCADE,
    side        INTEGER NOT NULL,
    path        TEXT NOT NULL,
    trashed_as  TEXT NOT NULL,
    kind        INTEGER NOT NULL,
    size        INTEGER NOT NULL,
    digest      BLOB,
    trashed_ns  INTEGER NOT NULL,
    generation  INTEGER,
    restored    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX trash_by_path ON trash (conduit, path);
CREATE TABLE pins (
    conduit     INTEGER NOT NULL REFERENCES conduits(id) ON DELETE CASCADE,
    glob        TEXT NOT NULL,
    PRIMARY KEY (conduit, glob)
);
"#,
    r#"
ALTER TABLE conduits ADD COLUMN source_capacity INTEGER;
"#,
    r#"
CREATE TABLE dirty (
    id          INTEGER PRIMARY KEY,
    conduit     INTEGER NOT NULL REFERENCES conduits(id) ON DELETE CASCADE,
    side        INTEGER NOT NULL,
    path        TEXT NOT NULL
);
CREATE INDEX dirty_by_conduit ON dirty (conduit, id);
"#,
    r#"
CREATE TABLE evicting (
    conduit   INTEGER NOT NULL REFERENCES conduits(id) ON DELETE CASCADE,
    path      TEXT NOT NULL,
    kind      INTEGER NOT NULL,
    size      INTEGER NOT NULL,
    mtime_ns  INTEGER NOT NULL,
    mode      INTEGER NOT NULL,
    digest    BLOB,
    PRIMARY KEY (conduit, path)
) WITHOUT ROWID;
"#,
    r#"
ALTER TABLE generations ADD COLUMN number INTEGER NOT NULL DEFAULT 0;
CREATE TEMP TABLE numbering (id INTEGER PRIMARY KEY, number INTEGER NOT NULL);
INSERT INTO numbering
    SELECT id, row_number() OVER (PARTITION BY conduit ORDER BY id) FROM generations;
UPDATE generations SET number = numbering.number FROM numbering WHERE numbering.id = generations.id;
DROP TABLE numbering;
UPDATE trash SET generation = (SELECT number FROM generations g WHERE g.id = trash.generation)
    WHERE generation IS NOT NULL;
UPDATE conflicts SET generation = coalesce(
    (SELECT number FROM generations g WHERE g.id = conflicts.generation), 0);
CREATE UNIQUE INDEX generation_numbers ON generations (conduit, number);
ALTER TABLE journal ADD COLUMN why TEXT;
ALTER TABLE journal ADD COLUMN trashed TEXT;
CREATE INDEX journal_by_generation ON journal (generation, id);
ALTER TABLE conduits ADD COLUMN verify_from TEXT NOT NULL DEFAULT 'auto';
ALTER TABLE conduits ADD COLUMN keep_owner INTEGER NOT NULL DEFAULT 1;
"#,
    r#"
CREATE TABLE devices (
    name          TEXT PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    address       TEXT,
    last_seen_ns  INTEGER
);
CREATE TABLE peer_listings (
    device   TEXT NOT NULL,
    root     TEXT NOT NULL,
    token    TEXT NOT NULL,
    records  BLOB NOT NULL,
    PRIMARY KEY (device, root)
);
ALTER TABLE conduits ADD COLUMN bandwidth INTEGER;
CREATE TABLE remote_listings (
    conduit  INTEGER NOT NULL REFERENCES conduits(id) ON DELETE CASCADE,
    side     INTEGER NOT NULL,
    token    TEXT NOT NULL,
    records  BLOB NOT NULL,
    PRIMARY KEY (conduit, side)
);
"#,
];

/// The schema version this binary writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Bring `conn` to [`VERSION`], or refuse a database from a newer Conduit.
pub fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    anyhow::ensure!(
        found <= VERSION,
        "this index was written by a newer Conduit (schema version {found}; this binary knows \
         up to {VERSION}): upgrade conduit, or point --home at another folder"
    );
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_version(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn an_index_from_a_newer_conduit_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.sqlite");
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", VERSION + 1)
            .unwrap();
        drop(conn);

        let err = match super::super::Index::open(&path) {
            Ok(_) => panic!("a newer schema must be refused"),
            Err(e) => format!("{e:#}"),
        };
        for part in [
            "newer Conduit".to_string(),
            format!("schema version {}", VERSION + 1),
            format!("knows up to {VERSION}"),
            "upgrade conduit".to_string(),
            path.display().to_string(),
        ] {
            assert!(err.contains(&part), "{part:?} in {err:?}");
        }
        // Refused, not guessed at: no migration touched it.
        let conn = Connection::open(&path).unwrap();
        assert_eq!(user_version(&conn), VERSION + 1);
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0);
    }

    #[test]
    fn migrations_bring_an_old_index_to_the_current_version_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(user_version(&conn), VERSION);
        // Running again is a no-op, not a second CREATE TABLE.
        migrate(&mut conn).unwrap();
        assert_eq!(user_version(&conn), VERSION);
    }

    #[test]
    fn version_5_numbers_the_runs_of_each_conduit_from_one_and_renames_their_references() {
        let mut conn = Connection::open_in_memory().unwrap();
        for (version, sql) in MIGRATIONS.iter().enumerate().take(4) {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", version as i64 + 1)
                .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO conduits VALUES (1, 'a', 'p', 'd', '[]', 'manual', '[]', 1, 50, 30, 0, NULL);
             INSERT INTO conduits VALUES (2, 'b', 'p', 'd', '[]', 'manual', '[]', 1, 50, 30, 0, NULL);
             INSERT INTO generations (id, conduit, started_ns, dry_run, forced) VALUES
                 (1, 1, 0, 0, 0), (2, 2, 0, 0, 0), (3, 1, 0, 0, 0), (4, 2, 0, 0, 0), (5, 1, 0, 0, 0);
             INSERT INTO trash (conduit, side, path, trashed_as, kind, size, trashed_ns, generation)
                 VALUES (2, 1, 'x', '.conduit/trash/4/x', 0, 1, 0, 4);
             INSERT INTO conflicts VALUES (1, 'y', 'both changed', 5);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let numbers: Vec<(i64, i64)> = conn
            .prepare("SELECT conduit, number FROM generations ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(numbers, [(1, 1), (2, 1), (1, 2), (2, 2), (1, 3)]);
        let trash: i64 = conn
            .query_row("SELECT generation FROM trash", [], |r| r.get(0))
            .unwrap();
        assert_eq!(trash, 2, "conduit b's second run");
        let conflict: i64 = conn
            .query_row("SELECT generation FROM conflicts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(conflict, 3, "conduit a's third run");
        let verify_from: String = conn
            .query_row("SELECT verify_from FROM conduits WHERE id = 1", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(verify_from, "auto");
    }
}
