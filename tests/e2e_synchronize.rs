//! End to end through the binary: synchronize, the two-way merge. The change
//! matrix as tables (one-sided new/modified/deleted, changes that agree,
//! modify vs delete, differing edits under every `conflict` rule, a file and
//! a folder at one path, renames), then first runs without a base, idle
//! re-runs, dry runs, manual conflicts with `conflicts` and `resolve`,
//! conflict-copy names, and deletes into the trash.

use crate::support::*;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde_json::Value;

/// Every counter of a sync report.
const COUNTERS: &[&str] = &[
    "copied",
    "updated",
    "unresolved",
    "deleted",
    "moved",
    "renamed",
    "conflicts",
    "evicted",
    "hydrated",
    "accepted",
    "skipped",
    "bytes",
    "verified",
    "failed",
];

/// The counters a row states exactly (bytes and verified follow from copies).
const DECISIONS: &[&str] = &[
    "copied",
    "folders_created",
    "folders_removed",
    "updated",
    "unresolved",
    "deleted",
    "moved",
    "renamed",
    "conflicts",
    "evicted",
    "hydrated",
    "accepted",
    "skipped",
    "failed",
];

/// Modification times (seconds): the base versions, an older and a newer edit.
const BASE_T: i64 = 1_000_000_000;
const OLDER: i64 = 1_100_000_000;
const NEWER: i64 = 1_200_000_000;

/// In every row's base and touched by no row: they keep a row's deletes
/// under the mass-delete guard's share.
const UNTOUCHED: Files = &[
    ("keep/k1", "k1"),
    ("keep/k2", "k2"),
    ("keep/k3", "k3"),
    ("keep/k4", "k4"),
];

type Files = &'static [(&'static str, &'static str)];

/// A change made by hand on one side between two runs.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// Write a file (parents created) with this content and mtime (s).
    Put(&'static str, &'static str, i64),
    /// Remove a file, or a folder with everything in it.
    Del(&'static str),
    /// Rename (parents of the new name created).
    Mv(&'static str, &'static str),
    /// Make an empty folder.
    Dir(&'static str),
    /// Change a path's permission bits only.
    Chmod(&'static str, u32),
}
use Op::*;

fn apply(root: &Path, ops: &[Op]) {
    for op in ops {
        match *op {
            Put(rel, content, secs) => {
                write(root, rel, content);
                set_mtime(root, rel, secs);
            }
            Del(rel) => {
                let path = root.join(rel);
                if std::fs::symlink_metadata(&path).unwrap().is_dir() {
                    std::fs::remove_dir_all(path).unwrap();
                } else {
                    std::fs::remove_file(path).unwrap();
                }
            }
            Mv(from, to) => {
                std::fs::create_dir_all(root.join(to).parent().unwrap()).unwrap();
                std::fs::rename(root.join(from), root.join(to)).unwrap();
            }
            Dir(rel) => std::fs::create_dir_all(root.join(rel)).unwrap(),
            Chmod(rel, mode) => set_mode(root, rel, mode),
        }
    }
}

/// One cell of the change matrix: a synced base, hand changes on each side,
/// one run -> both trees, both trashes and the counters.
pub(crate) struct Row {
    name: &'static str,
    conflict: &'static str,
    /// Besides [`UNTOUCHED`]; written in the source and synced first.
    base: Files,
    a: &'static [Op],
    b: &'static [Op],
    /// Both trees after the run (parent folders implied, empty folders as
    /// `dir/`, [`UNTOUCHED`] implied), conflict stamps written as `T`.
    want: Files,
    /// The destination's tree, when it differs from the source's.
    want_b: Option<Files>,
    /// What the run put in each trash: path inside the generation -> content.
    trash_a: Files,
    trash_b: Files,
    /// The decision counters that are not 0.
    counts: &'static [(&'static str, u64)],
}

const ROW: Row = Row {
    name: "",
    conflict: "keep-both",
    base: &[("f.txt", "base")],
    a: &[],
    b: &[],
    want: &[],
    want_b: None,
    trash_a: &[],
    trash_b: &[],
    counts: &[],
};

/// The conflict stamp (`YYYYMMDD-HHMMSS`, UTC) of unix time `secs`.
fn stamp(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn stamp_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    stamp(secs as i64)
}

/// `path` with its conflict stamp replaced by `T`, after checking the stamp
/// is well formed and taken between `lo` and `hi`.
fn unstamp(path: &str, lo: &str, hi: &str) -> String {
    const MARK: &str = ".conflict-";
    let Some(at) = path.find(MARK) else {
        return path.to_string();
    };
    let start = at + MARK.len();
    let stamp = path.get(start..start + 19).unwrap_or_default();
    let well_formed = stamp.len() == 19
        && stamp.char_indices().all(|(i, c)| match i {
            8 => c == '-',
            15 => c == '.',
            _ => c.is_ascii_digit(),
        });
    let second = &stamp[..stamp.len().min(15)];
    assert!(
        well_formed && lo <= second && second <= hi,
        "conflict stamp of {path:?}: want YYYYMMDD-HHMMSS.mmm between {lo} and {hi}"
    );
    format!("{}T{}", &path[..start], &path[start + 19..])
}

fn unstamped(map: BTreeMap<String, String>, lo: &str, hi: &str) -> BTreeMap<String, String> {
    map.into_iter()
        .map(|(k, v)| (unstamp(&k, lo, hi), v))
        .collect()
}

/// A tree as [`tree`] shows it: `files` plus [`UNTOUCHED`], parents implied.
fn expected(files: Files) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (path, content) in UNTOUCHED.iter().chain(files) {
        let mut parent = Path::new(path).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            out.insert(p.to_string_lossy().into_owned(), "dir/".to_string());
            parent = p.parent();
        }
        out.insert(path.to_string(), content.to_string());
    }
    out
}

fn files(list: &[(&str, &str)]) -> BTreeMap<String, String> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A root's trash as path -> content, every slot in `generation`.
fn trashed_in(root: &Path, generation: i64) -> BTreeMap<String, String> {
    trash_contents(root)
        .into_iter()
        .map(|(slot, content)| {
            let (g, rel) = slot.split_once('/').expect("generation/path");
            assert_eq!(g, generation.to_string(), "trash slot {slot}");
            (rel.to_string(), content)
        })
        .collect()
}

/// Every file content on both sides, trashes included.
fn all_contents(w: &World) -> BTreeSet<String> {
    [&w.a, &w.b]
        .into_iter()
        .flat_map(|root| {
            tree(root)
                .into_values()
                .chain(trash_contents(root).into_values())
        })
        .filter(|c| c != "dir/")
        .collect()
}

fn assert_idle(report: &Value) {
    for key in COUNTERS {
        assert_eq!(
            n(report, key),
            0,
            "{key} in a run with nothing to do: {report}"
        );
    }
}

/// A world whose conduit `sync` (synchronize, `extra` options) has synced
/// `base` plus [`UNTOUCHED`] once.
fn synced(base: &[(&str, &str)], extra: &[&str]) -> World {
    synced_on(base, extra, None)
}

/// [`synced`], with the destination on the device `far` when given.
fn synced_on(base: &[(&str, &str)], extra: &[&str], far: Option<&Far>) -> World {
    let w = World::new();
    for (path, content) in UNTOUCHED.iter().chain(base) {
        write(&w.a, path, content);
        set_mtime(&w.a, path, BASE_T);
    }
    match far {
        Some(far) => far.add(&w, "sync", "synchronize", extra),
        None => w.add("sync", "synchronize", extra),
    }
    let r = w.sync("sync", &[], 0);
    assert_eq!(n(&r, "failed"), 0, "{r}");
    assert_eq!(tree(&w.b), tree(&w.a), "the base run");
    w
}

/// Run one row, with the destination on the device `far` when given.
pub(crate) fn check(row: &Row, far: Option<&Far>) {
    let name = row.name;
    let option = format!("conflict={}", row.conflict);
    let w = synced_on(row.base, &["--set", &option], far);
    apply(&w.a, row.a);
    apply(&w.b, row.b);
    let before = all_contents(&w);

    let lo = stamp_now();
    // A conflict left for `resolve` is not in sync: exit 3.
    let left_over = row.counts.iter().any(|&(k, v)| k == "unresolved" && v > 0);
    let r = w.sync("sync", &[], if left_over { 3 } else { 0 });
    let hi = stamp_now();
    for key in DECISIONS {
        let want = row
            .counts
            .iter()
            .find(|(k, _)| k == key)
            .map_or(0, |(_, v)| *v);
        assert_eq!(n(&r, key), want, "{key} in row {name:?}: {r}");
    }
    assert!(r["halted"].is_null(), "row {name:?}: {r}");
    assert_eq!(
        unstamped(tree(&w.a), &lo, &hi),
        expected(row.want),
        "source tree in row {name:?}"
    );
    assert_eq!(
        unstamped(tree(&w.b), &lo, &hi),
        expected(row.want_b.unwrap_or(row.want)),
        "destination tree in row {name:?}"
    );
    let generation = r["generation"].as_i64().unwrap();
    assert_eq!(
        trashed_in(&w.a, generation),
        files(row.trash_a),
        "source trash in row {name:?}"
    );
    assert_eq!(
        trashed_in(&w.b, generation),
        files(row.trash_b),
        "destination trash in row {name:?}"
    );
    let after = all_contents(&w);
    let lost: Vec<&String> = before.difference(&after).collect();
    assert!(lost.is_empty(), "row {name:?} lost {lost:?}");

    // Converged: the next run has nothing to do but report open conflicts
    // (and skip what waits for them).
    let again = w.sync("sync", &[], if left_over { 3 } else { 0 });
    let pending = ["unresolved", "skipped"];
    assert_eq!(
        n(&again, "conflicts"),
        n(&r, "unresolved"),
        "row {name:?}: {again}"
    );
    for key in pending {
        assert_eq!(n(&again, key), n(&r, key), "{key} in row {name:?}: {again}");
    }
    for key in COUNTERS
        .iter()
        .filter(|k| !pending.contains(k) && **k != "conflicts")
    {
        assert_eq!(n(&again, key), 0, "{key} in row {name:?}'s re-run: {again}");
    }
}

#[test]
fn a_change_on_one_side_reaches_the_other() {
    for row in &one_sided_rows() {
        check(row, None);
    }
}

/// The rows of [`a_change_on_one_side_reaches_the_other`].
pub(crate) fn one_sided_rows() -> Vec<Row> {
    let rows = [
        Row {
            name: "new file in a new folder on a",
            a: &[Put("new/n.txt", "fresh", OLDER)],
            want: &[("f.txt", "base"), ("new/n.txt", "fresh")],
            counts: &[("copied", 1), ("folders_created", 1)],
            ..ROW
        },
        Row {
            name: "new file on b",
            b: &[Put("n.txt", "fresh", OLDER)],
            want: &[("f.txt", "base"), ("n.txt", "fresh")],
            counts: &[("copied", 1)],
            ..ROW
        },
        Row {
            name: "modified on a",
            a: &[Put("f.txt", "edited on a", OLDER)],
            want: &[("f.txt", "edited on a")],
            trash_b: &[("f.txt", "base")],
            counts: &[("copied", 1)],
            ..ROW
        },
        Row {
            name: "modified on b",
            b: &[Put("f.txt", "edited on b", OLDER)],
            want: &[("f.txt", "edited on b")],
            trash_a: &[("f.txt", "base")],
            counts: &[("copied", 1)],
            ..ROW
        },
        Row {
            name: "deleted on a",
            a: &[Del("f.txt")],
            want: &[],
            trash_b: &[("f.txt", "base")],
            counts: &[("deleted", 1)],
            ..ROW
        },
        Row {
            name: "deleted on b",
            b: &[Del("f.txt")],
            want: &[],
            trash_a: &[("f.txt", "base")],
            counts: &[("deleted", 1)],
            ..ROW
        },
        Row {
            name: "empty folder made on b",
            b: &[Dir("empty")],
            want: &[("f.txt", "base"), ("empty", "dir/")],
            counts: &[("folders_created", 1)],
            ..ROW
        },
        Row {
            name: "folder deleted on a",
            base: &[("f.txt", "base"), ("d/x", "x"), ("d/y", "y")],
            a: &[Del("d")],
            want: &[("f.txt", "base")],
            trash_b: &[("d/x", "x"), ("d/y", "y")],
            counts: &[("deleted", 2), ("folders_removed", 1)],
            ..ROW
        },
        Row {
            name: "file replaced by a folder on b",
            b: &[Del("f.txt"), Put("f.txt/inner", "in", OLDER)],
            want: &[("f.txt/inner", "in")],
            trash_a: &[("f.txt", "base")],
            counts: &[("copied", 1), ("folders_created", 1)],
            ..ROW
        },
        Row {
            name: "folder replaced by a file on a",
            base: &[("f.txt", "base"), ("d/x", "x")],
            a: &[Del("d"), Put("d", "now a file", OLDER)],
            want: &[("f.txt", "base"), ("d", "now a file")],
            trash_b: &[("d/x", "x")],
            counts: &[("copied", 1), ("deleted", 1)],
            ..ROW
        },
    ];
    rows.into()
}

#[test]
fn changes_on_both_sides_that_agree_or_where_an_edit_meets_a_delete() {
    for row in &agreeing_rows() {
        check(row, None);
    }
}

/// The rows of [`changes_on_both_sides_that_agree_or_where_an_edit_meets_a_delete`].
pub(crate) fn agreeing_rows() -> Vec<Row> {
    let rows = [
        Row {
            name: "same edit on both",
            a: &[Put("f.txt", "same", OLDER)],
            b: &[Put("f.txt", "same", NEWER)],
            want: &[("f.txt", "same")],
            // Not a conflict: the newer mtime is set on the other side.
            counts: &[("updated", 1)],
            ..ROW
        },
        Row {
            name: "same new file on both",
            a: &[Put("n.txt", "same", OLDER)],
            b: &[Put("n.txt", "same", NEWER)],
            want: &[("f.txt", "base"), ("n.txt", "same")],
            counts: &[("updated", 1)],
            ..ROW
        },
        Row {
            name: "same new folder on both",
            a: &[Dir("d")],
            b: &[Dir("d")],
            want: &[("f.txt", "base"), ("d", "dir/")],
            counts: &[("accepted", 1)],
            ..ROW
        },
        Row {
            name: "deleted on both",
            a: &[Del("f.txt")],
            b: &[Del("f.txt")],
            want: &[],
            counts: &[("accepted", 1)],
            ..ROW
        },
        Row {
            name: "modified on a, deleted on b",
            a: &[Put("f.txt", "edited on a", OLDER)],
            b: &[Del("f.txt")],
            want: &[("f.txt", "edited on a")],
            counts: &[("copied", 1), ("conflicts", 1)],
            ..ROW
        },
        // A mode change is a modification too (as Unison sees it).
        Row {
            name: "chmod on a, deleted on b",
            a: &[Chmod("f.txt", 0o600)],
            b: &[Del("f.txt")],
            want: &[("f.txt", "base")],
            counts: &[("copied", 1), ("conflicts", 1)],
            ..ROW
        },
        Row {
            name: "chmod on a, edited on b: a conflict, keep-both",
            a: &[Chmod("f.txt", 0o600)],
            b: &[Put("f.txt", "edited on b", NEWER)],
            want: &[
                ("f.txt", "edited on b"),
                ("f.conflict-T-source.txt", "base"),
            ],
            counts: &[("copied", 2), ("renamed", 1), ("conflicts", 1)],
            ..ROW
        },
        Row {
            name: "chmod on a only",
            a: &[Chmod("f.txt", 0o600)],
            want: &[("f.txt", "base")],
            counts: &[("updated", 1)],
            ..ROW
        },
        Row {
            name: "deleted on a, modified on b",
            a: &[Del("f.txt")],
            b: &[Put("f.txt", "edited on b", OLDER)],
            want: &[("f.txt", "edited on b")],
            counts: &[("copied", 1), ("conflicts", 1)],
            ..ROW
        },
        Row {
            name: "modified on a, deleted on b, under conflict=destination",
            conflict: "destination",
            a: &[Put("f.txt", "edited on a", OLDER)],
            b: &[Del("f.txt")],
            want: &[("f.txt", "edited on a")],
            counts: &[("copied", 1), ("conflicts", 1)],
            ..ROW
        },
        Row {
            name: "renamed on a, modified on b",
            a: &[Mv("f.txt", "g.txt")],
            b: &[Put("f.txt", "edited on b", NEWER)],
            want: &[("f.txt", "edited on b"), ("g.txt", "base")],
            counts: &[("copied", 2), ("conflicts", 1)],
            ..ROW
        },
        Row {
            name: "renamed alike on both",
            a: &[Mv("f.txt", "g.txt")],
            b: &[Mv("f.txt", "g.txt")],
            want: &[("g.txt", "base")],
            counts: &[("accepted", 2)],
            ..ROW
        },
    ];
    rows.into()
}

/// The source's edit is older and larger than the destination's.
const OLD_LARGE: &[Op] = &[Put("f.txt", "the source's longer edit", OLDER)];
const NEW_SMALL: &[Op] = &[Put("f.txt", "dest edit", NEWER)];

#[test]
fn differing_edits_are_settled_by_the_conflict_rule() {
    for row in &differing_rows() {
        check(row, None);
    }
}

/// The rows of [`differing_edits_are_settled_by_the_conflict_rule`].
pub(crate) fn differing_rows() -> Vec<Row> {
    const A: &str = "the source's longer edit";
    const B: &str = "dest edit";
    let rows = [
        Row {
            name: "keep-both, destination newer",
            a: OLD_LARGE,
            b: NEW_SMALL,
            want: &[("f.txt", B), ("f.conflict-T-source.txt", A)],
            counts: &[("copied", 2), ("renamed", 1), ("conflicts", 1)],
            ..ROW
        },
        Row {
            name: "keep-both, source newer",
            a: &[Put("f.txt", "new a", NEWER)],
            b: &[Put("f.txt", "old b", OLDER)],
            want: &[
                ("f.txt", "new a"),
                ("f.conflict-T-destination.txt", "old b"),
            ],
            counts: &[("copied", 2), ("renamed", 1), ("conflicts", 1)],
            ..ROW
        },
        Row {
            name: "newer",
            conflict: "newer",
            a: OLD_LARGE,
            b: NEW_SMALL,
            want: &[("f.txt", B)],
            trash_a: &[("f.txt", A)],
            counts: &[("copied", 1), ("conflicts", 1)],
            ..ROW
        },
        Row {
            name: "older",
            conflict: "older",
            a: OLD_LARGE,
            b: NEW_SMALL,
            want: &[("f.txt", A)],
            trash_b: &[("f.txt", B)],
            counts: &[("copied", 1), ("conflicts", 1)],
            ..ROW
        },
        Row {
            name: "source",
            conflict: "source",
            a: OLD_LARGE,
            b: NEW_SMALL,
            want: &[("f.txt", A)],
            trash_b: &[("f.txt", B)],
            counts: &[("copied", 1), ("conflicts", 1)],
            ..ROW
        },
        Row {
            name: "destination",
            conflict: "destination",
            a: OLD_LARGE,
            b: NEW_SMALL,
            want: &[("f.txt", B)],
            trash_a: &[("f.txt", A)],
            counts: &[("copied", 1), ("conflicts", 1)],
            ..ROW
        },
        Row {
            name: "larger",
            conflict: "larger",
            a: OLD_LARGE,
            b: NEW_SMALL,
            want: &[("f.txt", A)],
            trash_b: &[("f.txt", B)],
            counts: &[("copied", 1), ("conflicts", 1)],
            ..ROW
        },
        Row {
            name: "larger, equal sizes: the newer wins",
            conflict: "larger",
            a: &[Put("f.txt", "aaaa", OLDER)],
            b: &[Put("f.txt", "bbbb", NEWER)],
            want: &[("f.txt", "bbbb")],
            trash_a: &[("f.txt", "aaaa")],
            counts: &[("copied", 1), ("conflicts", 1)],
            ..ROW
        },
        Row {
            name: "manual",
            conflict: "manual",
            a: OLD_LARGE,
            b: NEW_SMALL,
            want: &[("f.txt", A)],
            want_b: Some(&[("f.txt", B)]),
            counts: &[("conflicts", 1), ("unresolved", 1)],
            ..ROW
        },
        Row {
            name: "created differently on both, keep-both",
            a: &[Put("docs/n.md", "a's n", NEWER)],
            b: &[Put("docs/n.md", "b's n", OLDER)],
            want: &[
                ("f.txt", "base"),
                ("docs/n.md", "a's n"),
                ("docs/n.conflict-T-destination.md", "b's n"),
            ],
            // docs/ is accepted; the conflict copy and the winner are copied.
            counts: &[
                ("copied", 2),
                ("renamed", 1),
                ("accepted", 1),
                ("conflicts", 1),
            ],
            ..ROW
        },
        Row {
            name: "created differently on both, source",
            conflict: "source",
            a: &[Put("n.txt", "a's n", OLDER)],
            b: &[Put("n.txt", "b's n", NEWER)],
            want: &[("f.txt", "base"), ("n.txt", "a's n")],
            trash_b: &[("n.txt", "b's n")],
            counts: &[("copied", 1), ("conflicts", 1)],
            ..ROW
        },
    ];
    rows.into()
}

/// The source edits `f.txt`; the destination turns it into a folder.
const EDIT: &[Op] = &[Put("f.txt", "edited on a", OLDER)];
const TO_FOLDER: &[Op] = &[Del("f.txt"), Put("f.txt/inner", "in", NEWER)];

/// One side replaces folder `d` with a file; the other edits inside it.
const REPLACE_D: &[Op] = &[Del("d"), Put("d", "now a file", OLDER)];
const EDIT_IN_D: &[Op] = &[
    Put("d/x", "x edited", NEWER),
    Put("d/new", "new in d", NEWER),
];

#[test]
fn a_file_and_a_folder_at_one_path_keep_both_whatever_the_rule() {
    for row in &file_folder_rows() {
        check(row, None);
    }
}

/// The rows of [`a_file_and_a_folder_at_one_path_keep_both_whatever_the_rule`].
pub(crate) fn file_folder_rows() -> Vec<Row> {
    let folder_wins: Files = &[
        ("f.txt/inner", "in"),
        ("f.conflict-T-source.txt", "edited on a"),
    ];
    let mut rows: Vec<Row> = [
        "keep-both",
        "newer",
        "older",
        "source",
        "destination",
        "larger",
    ]
    .into_iter()
    .map(|conflict| Row {
        name: conflict,
        conflict,
        a: EDIT,
        b: TO_FOLDER,
        want: folder_wins,
        // The conflict copy and the file in the folder; the folder.
        counts: &[
            ("copied", 2),
            ("folders_created", 1),
            ("renamed", 1),
            ("conflicts", 1),
        ],
        ..ROW
    })
    .collect();
    rows.push(Row {
        name: "folder on the source, file edited on the destination",
        a: &[Del("f.txt"), Put("f.txt/inner", "in", OLDER)],
        b: &[Put("f.txt", "edited on b", NEWER)],
        want: &[
            ("f.txt/inner", "in"),
            ("f.conflict-T-destination.txt", "edited on b"),
        ],
        counts: &[
            ("copied", 2),
            ("folders_created", 1),
            ("renamed", 1),
            ("conflicts", 1),
        ],
        ..ROW
    });
    rows.push(Row {
        name: "a nested folder wins over the file",
        a: EDIT,
        b: &[Del("f.txt"), Put("f.txt/sub/inner", "in", NEWER)],
        want: &[
            ("f.txt/sub/inner", "in"),
            ("f.conflict-T-source.txt", "edited on a"),
        ],
        counts: &[
            ("copied", 2),
            ("folders_created", 2),
            ("renamed", 1),
            ("conflicts", 1),
        ],
        ..ROW
    });
    rows.push(Row {
        name: "folder replaced by a file on a while b edits inside it",
        base: &[("d/x", "x"), ("d/y", "y")],
        a: REPLACE_D,
        b: EDIT_IN_D,
        want: &[
            ("d/x", "x edited"),
            ("d/y", "y"),
            ("d/new", "new in d"),
            ("d.conflict-T-source", "now a file"),
        ],
        // The conflict copy and the folder's three files back on a; the folder.
        counts: &[
            ("copied", 4),
            ("folders_created", 1),
            ("renamed", 1),
            ("conflicts", 1),
        ],
        ..ROW
    });
    rows.push(Row {
        name: "folder replaced by a file on b while a edits inside it, conflict=destination",
        conflict: "destination",
        base: &[("d/x", "x"), ("d/y", "y")],
        a: EDIT_IN_D,
        b: REPLACE_D,
        want: &[
            ("d/x", "x edited"),
            ("d/y", "y"),
            ("d/new", "new in d"),
            ("d.conflict-T-destination", "now a file"),
        ],
        counts: &[
            ("copied", 4),
            ("folders_created", 1),
            ("renamed", 1),
            ("conflicts", 1),
        ],
        ..ROW
    });
    rows.push(Row {
        name: "folder replaced by a file on a while b edits inside it, manual",
        conflict: "manual",
        base: &[("d/x", "x"), ("d/y", "y")],
        a: REPLACE_D,
        b: EDIT_IN_D,
        want: &[("d", "now a file")],
        want_b: Some(&[("d/x", "x edited"), ("d/y", "y"), ("d/new", "new in d")]),
        counts: &[("conflicts", 1), ("unresolved", 1), ("skipped", 3)],
        ..ROW
    });
    rows.push(Row {
        name: "manual",
        conflict: "manual",
        a: EDIT,
        b: TO_FOLDER,
        want: &[("f.txt", "edited on a")],
        want_b: Some(&[("f.txt/inner", "in")]),
        // The file inside the folder waits for the conflict to be settled.
        counts: &[("conflicts", 1), ("unresolved", 1), ("skipped", 1)],
        ..ROW
    });
    rows
}

#[test]
fn a_rename_on_one_side_is_renamed_on_the_other() {
    for row in &rename_rows() {
        check(row, None);
    }
}

/// The rows of [`a_rename_on_one_side_is_renamed_on_the_other`].
pub(crate) fn rename_rows() -> Vec<Row> {
    let rows = [
        Row {
            name: "renamed on a",
            a: &[Mv("f.txt", "g.txt")],
            want: &[("g.txt", "base")],
            counts: &[("renamed", 1)],
            ..ROW
        },
        Row {
            name: "renamed on b",
            b: &[Mv("f.txt", "g.txt")],
            want: &[("g.txt", "base")],
            counts: &[("renamed", 1)],
            ..ROW
        },
        Row {
            name: "moved into a new folder on a",
            a: &[Mv("f.txt", "sub/deeper/f.txt")],
            want: &[("sub/deeper/f.txt", "base")],
            counts: &[("folders_created", 2), ("renamed", 1)],
            ..ROW
        },
        Row {
            name: "two identical files renamed on b",
            base: &[("x", "twin"), ("y", "twin")],
            b: &[Mv("x", "x2"), Mv("y", "y2")],
            want: &[("x2", "twin"), ("y2", "twin")],
            counts: &[("renamed", 2)],
            ..ROW
        },
    ];
    rows.into()
}

#[test]
fn a_detected_rename_moves_the_file_instead_of_copying_it() {
    let w = synced(&[("docs/report.pdf", "a large report")], &[]);
    let inode = std::fs::metadata(w.b.join("docs/report.pdf"))
        .unwrap()
        .ino();
    apply(&w.a, &[Mv("docs/report.pdf", "archive/2024/report.pdf")]);
    let r = w.sync("sync", &[], 0);
    assert_eq!(n(&r, "renamed"), 1, "{r}");
    // Only the two new folders are made; not a byte of the file is copied.
    assert_eq!(
        (
            n(&r, "folders_created"),
            n(&r, "copied"),
            n(&r, "bytes"),
            n(&r, "deleted")
        ),
        (2, 0, 0, 0),
        "{r}"
    );
    let moved = w.b.join("archive/2024/report.pdf");
    assert_eq!(
        std::fs::metadata(&moved).unwrap().ino(),
        inode,
        "the same file, moved"
    );
    assert_eq!(
        read(&w.b, "archive/2024/report.pdf").as_deref(),
        Some("a large report")
    );
    assert_eq!(read(&w.b, "docs/report.pdf"), None);
    assert_eq!(mtime(&w.b, "archive/2024/report.pdf"), BASE_T);
    assert!(trash(&w.b).is_empty(), "{:?}", trash(&w.b));
    assert_eq!(tree(&w.a), tree(&w.b));
    assert_idle(&w.sync("sync", &[], 0));

    // With detection off, the same change is a copy plus a delete.
    let w = synced(
        &[("docs/report.pdf", "a large report")],
        &["--set", "detect-renames=false"],
    );
    apply(&w.a, &[Mv("docs/report.pdf", "moved.pdf")]);
    let r = w.sync("sync", &[], 0);
    assert_eq!(
        (n(&r, "renamed"), n(&r, "copied"), n(&r, "deleted")),
        (0, 1, 1),
        "{r}"
    );
    assert_eq!(n(&r, "bytes"), "a large report".len() as u64);
    assert_eq!(tree(&w.a), tree(&w.b));
    let generation = r["generation"].as_i64().unwrap();
    assert_eq!(
        trashed_in(&w.b, generation),
        files(&[("docs/report.pdf", "a large report")])
    );
}

#[test]
fn a_first_run_without_base_merges_both_sides() {
    let w = World::new();
    write(&w.a, "only-a.txt", "from a");
    write(&w.a, "shared/same.txt", "same");
    write(&w.a, "shared/diff.txt", "a's version");
    set_mtime(&w.a, "shared/diff.txt", OLDER);
    write(&w.b, "only-b/b.txt", "from b");
    write(&w.b, "shared/same.txt", "same");
    write(&w.b, "shared/diff.txt", "b's version");
    set_mtime(&w.b, "shared/diff.txt", NEWER);
    w.add("sync", "synchronize", &[]);
    let lo = stamp_now();
    let r = w.sync("sync", &[], 0);
    let hi = stamp_now();
    // only-a.txt, only-b/b.txt, the conflict copy and the winner; and
    // the folder only-b/.
    assert_eq!(n(&r, "copied"), 4, "{r}");
    assert_eq!(n(&r, "folders_created"), 1, "{r}");
    assert_eq!(n(&r, "renamed"), 1, "{r}");
    // shared/; shared/same.txt gets the newer of its two mtimes.
    assert_eq!(n(&r, "accepted"), 1, "{r}");
    assert_eq!(n(&r, "updated"), 1, "{r}");
    // shared/diff.txt: detected, settled by keep-both, listed.
    assert_eq!(
        (
            n(&r, "deleted"),
            n(&r, "failed"),
            n(&r, "conflicts"),
            n(&r, "unresolved")
        ),
        (0, 0, 1, 0),
        "{r}"
    );
    let listed = &r["conflict_list"][0];
    assert_eq!(listed["path"], "shared/diff.txt", "{r}");
    assert!(listed["how"].as_str().unwrap().contains("keep-both"), "{r}");
    let copy = listed["copies"][0].as_str().unwrap();
    assert_eq!(read(&w.a, copy).as_deref(), Some("a's version"), "{r}");
    // `conflicts --all` keeps it after the run; the open list is empty.
    let all = w
        .run(&["conflicts", "sync", "--all", "--json"])
        .expect(0)
        .json();
    assert_eq!(all["open"].as_array().map(Vec::len), Some(0), "{all}");
    assert_eq!(all["settled"][0]["path"], "shared/diff.txt", "{all}");
    assert_eq!(all["settled"][0]["copies"][0], copy, "{all}");
    let want: BTreeMap<String, String> = [
        ("only-a.txt", "from a"),
        ("only-b", "dir/"),
        ("only-b/b.txt", "from b"),
        ("shared", "dir/"),
        ("shared/same.txt", "same"),
        ("shared/diff.txt", "b's version"),
        ("shared/diff.conflict-T-source.txt", "a's version"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(unstamped(tree(&w.a), &lo, &hi), want);
    assert_eq!(unstamped(tree(&w.b), &lo, &hi), want);
    assert!(trash(&w.a).is_empty() && trash(&w.b).is_empty());
    assert_idle(&w.sync("sync", &[], 0));

    // Under `conflict=source` a first run's differing file goes to the
    // destination's trash.
    let w = World::new();
    write(&w.a, "x.txt", "a's x");
    write(&w.b, "x.txt", "b's x");
    write(&w.b, "y.txt", "b's y");
    w.add("sync", "synchronize", &["--set", "conflict=source"]);
    let r = w.sync("sync", &[], 0);
    assert_eq!(n(&r, "copied"), 2, "{r}");
    assert_eq!(read(&w.b, "x.txt").as_deref(), Some("a's x"));
    assert_eq!(read(&w.a, "y.txt").as_deref(), Some("b's y"));
    let generation = r["generation"].as_i64().unwrap();
    assert_eq!(trashed_in(&w.b, generation), files(&[("x.txt", "b's x")]));
    assert_idle(&w.sync("sync", &[], 0));
}

#[test]
fn a_dry_run_reports_the_plan_and_changes_nothing() {
    let w = synced(
        &[
            ("edit-a.txt", "1"),
            ("edit-b.txt", "2"),
            ("gone.txt", "3"),
            ("clash.txt", "4"),
            ("old-name.txt", "5"),
        ],
        &[],
    );
    apply(
        &w.a,
        &[
            Put("edit-a.txt", "1 edited", OLDER),
            Put("new-a.txt", "new", OLDER),
            Put("clash.txt", "clash a", OLDER),
            Mv("old-name.txt", "new-name.txt"),
        ],
    );
    apply(
        &w.b,
        &[
            Put("edit-b.txt", "2 edited", OLDER),
            Del("gone.txt"),
            Put("clash.txt", "clash b", NEWER),
        ],
    );
    let (a, b) = (snapshot(&w.a), snapshot(&w.b));
    let r = w.dry_run("sync");
    assert_eq!(r["dry_run"], true, "{r}");
    // edit-a, new-a, edit-b, and clash's conflict copy plus its winner.
    assert_eq!(n(&r, "copied"), 5, "{r}");
    assert_eq!((n(&r, "deleted"), n(&r, "renamed")), (1, 2), "{r}");
    assert_eq!(n(&r, "verified"), 0, "{r}");
    let planned = [
        "edit-a.txt",
        "new-a.txt",
        "edit-b.txt",
        "gone.txt",
        "clash.txt",
        "old-name.txt",
    ];
    assert_dry_run(&w, &r, &planned, &a, &b);
    // Nor does it record a base: the real run still does all of it.
    let real = w.sync("sync", &[], 0);
    assert_eq!(real["dry_run"], false);
    for key in ["copied", "deleted", "renamed"] {
        assert_eq!(n(&real, key), n(&r, key), "{key}: {real}");
    }
    assert_eq!(tree(&w.a), tree(&w.b));
    assert_idle(&w.dry_run("sync"));
}

fn open_conflicts(w: &World) -> Vec<(String, String)> {
    let list = w.run(&["conflicts", "sync", "--json"]).expect(0).json();
    list.as_array()
        .expect("a list")
        .iter()
        .map(|c| {
            assert_eq!(c["conduit"], "sync", "{c}");
            (
                c["path"].as_str().unwrap().to_string(),
                c["reason"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn manual_conflicts_are_listed_and_settled_by_resolve() {
    let w = synced(
        &[
            ("p1.txt", "base 1"),
            ("p2.txt", "base 2"),
            ("dir/p3.txt", "base 3"),
            ("p4.txt", "base 4"),
        ],
        &["--set", "conflict=manual"],
    );
    for (i, p) in ["p1.txt", "p2.txt", "dir/p3.txt", "p4.txt"]
        .iter()
        .enumerate()
    {
        write(&w.a, p, &format!("a {i}"));
        set_mtime(&w.a, p, OLDER);
        write(&w.b, p, &format!("b {i}!"));
        set_mtime(&w.b, p, NEWER);
    }
    // Conflicts left for `resolve`: the run exits 3.
    let r = w.sync("sync", &[], 3);
    assert_eq!((n(&r, "conflicts"), n(&r, "unresolved")), (4, 4), "{r}");
    assert_eq!((n(&r, "copied"), n(&r, "deleted")), (0, 0), "{r}");
    let open = open_conflicts(&w);
    let paths: Vec<&str> = open.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["dir/p3.txt", "p1.txt", "p2.txt", "p4.txt"]);
    assert!(open.iter().all(|(_, why)| !why.is_empty()), "{open:?}");
    // Untouched on both sides, and still open after another run.
    assert_eq!(read(&w.a, "p1.txt").as_deref(), Some("a 0"));
    assert_eq!(read(&w.b, "p1.txt").as_deref(), Some("b 0!"));
    assert_eq!(n(&w.sync("sync", &[], 3), "unresolved"), 4);
    assert_eq!(open_conflicts(&w).len(), 4);

    w.run(&["resolve", "sync", "p1.txt", "--keep", "source"])
        .expect(0);
    assert_eq!(read(&w.b, "p1.txt").as_deref(), Some("a 0"));
    w.run(&["resolve", "sync", "p2.txt", "--keep", "destination"])
        .expect(0);
    assert_eq!(read(&w.a, "p2.txt").as_deref(), Some("b 1!"));
    let lo = stamp_now();
    w.run(&["resolve", "sync", "dir/p3.txt", "--keep", "both"])
        .expect(0);
    let hi = stamp_now();
    // The losers went to the trash.
    let in_trash =
        |root: &Path| -> BTreeSet<String> { trash_contents(root).into_values().collect() };
    assert!(
        in_trash(&w.b).contains("b 0!"),
        "{:?}",
        trash_contents(&w.b)
    );
    assert!(in_trash(&w.a).contains("a 1"), "{:?}", trash_contents(&w.a));
    // Both: the source keeps the name, the destination's version sits beside it on both sides.
    for root in [&w.a, &w.b] {
        let dir: BTreeMap<String, String> = unstamped(tree(root), &lo, &hi)
            .into_iter()
            .filter(|(k, _)| k.starts_with("dir/"))
            .collect();
        assert_eq!(
            dir,
            files(&[
                ("dir/p3.txt", "a 2"),
                ("dir/p3.conflict-T-destination.txt", "b 2!")
            ]),
            "{}",
            root.display()
        );
    }
    let open = open_conflicts(&w);
    assert_eq!(
        open.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        ["p4.txt"]
    );
    // A path that is not in conflict is a usage error.
    w.run(&["resolve", "sync", "p1.txt", "--keep", "source"])
        .expect(2);
    w.run(&["resolve", "sync", "nothing.txt", "--keep", "both"])
        .expect(2);

    // Making both sides equal by hand settles the last one.
    write(&w.a, "p4.txt", "b 3!");
    let r = w.sync("sync", &[], 0);
    assert_eq!((n(&r, "updated"), n(&r, "conflicts")), (1, 0), "{r}");
    assert!(open_conflicts(&w).is_empty());
    assert_eq!(tree(&w.a), tree(&w.b));
    assert_idle(&w.sync("sync", &[], 0));
    let text = w.run(&["conflicts", "sync"]).expect(0);
    assert!(text.stdout.contains("no open conflicts"), "{}", text.stdout);
}

#[test]
fn conflict_copies_are_named_by_stem_stamp_side_and_extension() {
    let names = [
        (
            "docs/report.final.pdf",
            "docs/report.final.conflict-T-source.pdf",
        ),
        ("notes", "notes.conflict-T-source"),
        (".env", ".env.conflict-T-source"),
        ("a b/c d.txt", "a b/c d.conflict-T-source.txt"),
    ];
    let base: Vec<(&str, &str)> = names.iter().map(|(p, _)| (*p, "base")).collect();
    let w = synced(&base, &[]);
    for (p, _) in names {
        write(&w.a, p, &format!("{p} on a"));
        set_mtime(&w.a, p, OLDER);
        write(&w.b, p, &format!("{p} on b"));
        set_mtime(&w.b, p, NEWER);
    }
    let lo = stamp_now();
    let r = w.sync("sync", &[], 0);
    let hi = stamp_now();
    assert_eq!((n(&r, "copied"), n(&r, "renamed")), (8, 4), "{r}");
    for root in [&w.a, &w.b] {
        let t = unstamped(tree(root), &lo, &hi);
        for (p, aside) in names {
            assert_eq!(t.get(p), Some(&format!("{p} on b")), "{}", root.display());
            assert_eq!(t.get(aside), Some(&format!("{p} on a")), "{aside} in {t:?}");
        }
    }
}

#[test]
fn deletes_go_to_the_trash_of_their_generation_and_can_be_restored() {
    let w = synced(
        &[
            ("docs/a.txt", "alpha"),
            ("docs/b.txt", "bravo"),
            ("c.txt", "charlie"),
        ],
        &[],
    );
    std::fs::remove_file(w.a.join("docs/a.txt")).unwrap();
    std::fs::remove_file(w.b.join("c.txt")).unwrap();
    let r = w.sync("sync", &[], 0);
    assert_eq!(n(&r, "deleted"), 2, "{r}");
    let generation = r["generation"].as_i64().unwrap();
    let b_slot =
        w.b.join(".conduit/trash")
            .join(generation.to_string())
            .join("docs/a.txt");
    let a_slot =
        w.a.join(".conduit/trash")
            .join(generation.to_string())
            .join("c.txt");
    assert_eq!(std::fs::read_to_string(b_slot).unwrap(), "alpha");
    assert_eq!(std::fs::read_to_string(a_slot).unwrap(), "charlie");
    assert_eq!(read(&w.b, "docs/a.txt"), None);
    assert_eq!(read(&w.a, "c.txt"), None);

    w.run(&["restore", "sync", "docs/a.txt"]).expect(0);
    assert_eq!(read(&w.a, "docs/a.txt").as_deref(), Some("alpha"));
    assert_eq!(read(&w.b, "docs/a.txt").as_deref(), Some("alpha"));
    assert_idle(&w.sync("sync", &[], 0));
}

#[test]
fn resolving_a_file_against_a_folder_keeps_the_folder_and_sets_the_file_aside() {
    // Each row: which side turns f.txt into a folder, --keep -> both trees.
    type Case = (&'static str, Files, Files);
    let folder_wins: Files = &[
        ("f.txt/inner", "in"),
        ("f.conflict-T-source.txt", "edited on a"),
    ];
    let cases: [Case; 3] = [
        ("both", folder_wins, folder_wins),
        (
            "source",
            &[("f.txt", "edited on a")],
            &[("f.txt", "edited on a")],
        ),
        (
            "destination",
            &[("f.txt/inner", "in")],
            &[("f.txt/inner", "in")],
        ),
    ];
    for (keep, want_a, want_b) in cases {
        let w = synced(&[("f.txt", "base")], &["--set", "conflict=manual"]);
        apply(&w.a, EDIT);
        apply(&w.b, TO_FOLDER);
        let r = w.sync("sync", &[], 3);
        assert_eq!((n(&r, "unresolved"), n(&r, "skipped")), (1, 1), "{r}");
        let open = open_conflicts(&w);
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!(open[0].0, "f.txt");
        let lo = stamp_now();
        w.run(&["resolve", "sync", "f.txt", "--keep", keep])
            .expect(0);
        // The folder's content follows with the next run.
        let r = w.sync("sync", &[], 0);
        let hi = stamp_now();
        assert_eq!(
            (n(&r, "failed"), n(&r, "conflicts")),
            (0, 0),
            "--keep {keep}: {r}"
        );
        assert_eq!(
            unstamped(tree(&w.a), &lo, &hi),
            expected(want_a),
            "--keep {keep}"
        );
        assert_eq!(
            unstamped(tree(&w.b), &lo, &hi),
            expected(want_b),
            "--keep {keep}"
        );
        assert!(open_conflicts(&w).is_empty(), "--keep {keep}");
        let kept: BTreeSet<String> = all_contents(&w);
        for version in ["edited on a", "in"] {
            assert!(kept.contains(version), "--keep {keep} lost {version:?}");
        }
        assert_idle(&w.sync("sync", &[], 0));
    }
}

#[test]
fn conflicts_on_one_path_in_quick_succession_each_keep_their_own_copy() {
    let w = synced(&[("f.txt", "base")], &[]);
    let mut kept = Vec::new();
    for round in 0..3 {
        write(&w.a, "f.txt", &format!("a {round}"));
        set_mtime(&w.a, "f.txt", OLDER + round);
        write(&w.b, "f.txt", &format!("b {round}"));
        set_mtime(&w.b, "f.txt", NEWER + round);
        let r = w.sync("sync", &[], 0);
        assert_eq!((n(&r, "conflicts"), n(&r, "failed")), (1, 0), "{r}");
        kept.push(
            r["conflict_list"][0]["copies"][0]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let distinct: std::collections::BTreeSet<&String> = kept.iter().collect();
    assert_eq!(distinct.len(), 3, "one name per conflict: {kept:?}");
    for (round, name) in kept.iter().enumerate() {
        for root in [&w.a, &w.b] {
            assert_eq!(read(root, name), Some(format!("a {round}")), "{name}");
        }
    }
    assert_eq!(tree(&w.a), tree(&w.b));
}

/// A file renamed into a folder that replaced a file the other side edited:
/// the edited file is set aside first, then the rename lands in the folder.
#[test]
fn a_rename_into_a_folder_waits_for_the_file_in_its_way_to_move_aside() {
    let w = synced(&[("a.txt", "moved"), ("d", "a file")], &[]);
    apply(&w.a, &[Del("d"), Mv("a.txt", "d/a.txt")]);
    apply(&w.b, &[Put("d", "edited on b", NEWER)]);
    let r = w.sync("sync", &[], 0);
    assert_eq!((n(&r, "failed"), n(&r, "conflicts")), (0, 1), "{r}");
    assert!(n(&r, "renamed") >= 1, "{r}");
    for root in [&w.a, &w.b] {
        assert_eq!(
            read(root, "d/a.txt").as_deref(),
            Some("moved"),
            "{}",
            root.display()
        );
    }
    let copy = r["conflict_list"][0]["copies"][0].as_str().unwrap();
    assert_eq!(read(&w.a, copy).as_deref(), Some("edited on b"), "{r}");
    assert_eq!(tree(&w.a), tree(&w.b));
    assert_idle(&w.sync("sync", &[], 0));
}
