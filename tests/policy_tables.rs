//! The built-in policies' semantics (docs/architecture.md) as tables: each
//! row is base / source / destination states and options, and the plan the
//! built-in policy must produce. The rows are the SDK's cases
//! (`conduit_policy::testing`), run through the real wasm component and the
//! host's plan validation by `conduit_harness`, as a policy author's are.

use conduit_harness::Harness;
use conduit_policy::testing::{
    Case, DAY, EntryBuilder, NOW, dir, entry, file, file_at, file_sized, symlink, unreadable,
};

/// A case from its entries and expected plan.
fn row(name: &str, entries: Vec<EntryBuilder>, expect: Vec<&str>) -> Case {
    entries
        .into_iter()
        .fold(Case::new(name), Case::entry)
        .expect(&expect)
}

/// Check every row against the built-in `policy`.
fn check_table(policy: &str, rows: Vec<Case>) {
    let policy = crate::common::builtin(policy);
    Harness::new(policy).check(&rows);
}

#[test]
fn replicate() {
    check_table(
        "replicate",
        vec![
            row(
                "first run: source only",
                vec![entry("a").source(file("v1"))],
                vec!["a: copy from source"],
            ),
            row(
                "first run: equal",
                vec![entry("a").source(file("v1")).destination(file("v1"))],
                vec!["a: accept"],
            ),
            row(
                "first run: differ",
                vec![entry("a").source(file("v1")).destination(file("v2"))],
                vec!["a: copy from source"],
            ),
            row(
                "source modified",
                vec![
                    entry("a")
                        .base(file("v1"))
                        .source(file("v2"))
                        .destination(file("v1")),
                ],
                vec!["a: copy from source"],
            ),
            row(
                "source deleted",
                vec![entry("a").base(file("v1")).destination(file("v1"))],
                vec!["a: delete destination"],
            ),
            row(
                "source deleted, propagate-deletes off",
                vec![entry("a").base(file("v1")).destination(file("v1"))],
                vec!["a: skip"],
            )
            .set("propagate-deletes", "false"),
            row(
                "destination drifted",
                vec![
                    entry("a")
                        .base(file("v1"))
                        .source(file("v1"))
                        .destination(file("v2")),
                ],
                vec!["a: copy from source"],
            ),
            row(
                "destination deleted",
                vec![entry("a").base(file("v1")).source(file("v1"))],
                vec!["a: copy from source"],
            ),
            row(
                "extraneous",
                vec![entry("x").destination(file("v1"))],
                vec!["x: delete destination"],
            ),
            row(
                "extraneous, delete-extraneous off",
                vec![entry("x").destination(file("v1"))],
                vec!["x: skip"],
            )
            .set("delete-extraneous", "false"),
            row(
                "deleted on both",
                vec![entry("a").base(file("v1"))],
                vec!["a: accept"],
            ),
            row(
                "changed identically on both",
                vec![
                    entry("a")
                        .base(file("v1"))
                        .source(file("v2"))
                        .destination(file("v2")),
                ],
                vec!["a: accept"],
            ),
            row(
                "unreadable source",
                vec![entry("a").source(unreadable())],
                vec!["a: skip"],
            ),
            row(
                "new directory",
                vec![entry("d").source(dir()), entry("d/f").source(file("v1"))],
                vec!["d: copy from source", "d/f: copy from source"],
            ),
            row(
                "file became directory",
                vec![
                    entry("d")
                        .base(file("v1"))
                        .source(dir())
                        .destination(file("v1")),
                ],
                vec!["d: copy from source"],
            ),
            row(
                "symlink retargeted",
                vec![
                    entry("l")
                        .base(symlink("x"))
                        .source(symlink("y"))
                        .destination(symlink("x")),
                ],
                vec!["l: copy from source"],
            ),
        ],
    );
}

#[test]
fn synchronize() {
    let older = || file_at("old", NOW - 2 * DAY);
    let newer = || file_at("new!", NOW - DAY);
    check_table(
        "synchronize",
        vec![
            row(
                "first run: one-sided paths cross, equal paths are accepted",
                vec![
                    entry("a").source(file("v1")),
                    entry("b").destination(file("v1")),
                    entry("c").source(file("v1")).destination(file("v1")),
                ],
                vec![
                    "a: copy from source",
                    "b: copy from destination",
                    "c: accept",
                ],
            ),
            row(
                "first run: differing paths are conflicts (keep-both, newer wins)",
                vec![entry("x.txt").source(older()).destination(newer())],
                vec![
                    "x.txt: conflict",
                    "x.txt: copy from source to x.conflict-20231114-221320.000-source.txt",
                    "x.txt: rename source to x.conflict-20231114-221320.000-source.txt",
                    "x.txt: copy from destination",
                ],
            ),
            row(
                "modified on source",
                vec![
                    entry("a")
                        .base(file("v1"))
                        .source(file("v2"))
                        .destination(file("v1")),
                ],
                vec!["a: copy from source"],
            ),
            row(
                "modified on destination",
                vec![
                    entry("a")
                        .base(file("v1"))
                        .source(file("v1"))
                        .destination(file("v2")),
                ],
                vec!["a: copy from destination"],
            ),
            row(
                "created on destination",
                vec![
                    entry("n")
                        .destination(file("v1"))
                        .base(file("v0"))
                        .source(file("v0")),
                ],
                vec!["n: copy from destination"],
            ),
            row(
                "deleted on source",
                vec![entry("a").base(file("v1")).destination(file("v1"))],
                vec!["a: delete destination"],
            ),
            row(
                "deleted on destination",
                vec![entry("a").base(file("v1")).source(file("v1"))],
                vec!["a: delete source"],
            ),
            row(
                "changed identically on both",
                vec![
                    entry("a")
                        .base(file("v1"))
                        .source(file("v2"))
                        .destination(file("v2")),
                ],
                vec!["a: accept"],
            ),
            row(
                "deleted on both",
                vec![entry("a").base(file("v1"))],
                vec!["a: accept"],
            ),
            row(
                "conflict, keep-both, source newer",
                vec![
                    entry("docs/r.pdf")
                        .base(file("v1"))
                        .source(newer())
                        .destination(older()),
                ],
                vec![
                    "docs/r.pdf: conflict",
                    "docs/r.pdf: copy from destination to docs/r.conflict-20231114-221320.000-destination.pdf",
                    "docs/r.pdf: rename destination to docs/r.conflict-20231114-221320.000-destination.pdf",
                    "docs/r.pdf: copy from source",
                ],
            ),
            row(
                "conflict, newer",
                vec![
                    entry("a")
                        .base(file("v1"))
                        .source(older())
                        .destination(newer()),
                ],
                vec!["a: conflict", "a: copy from destination"],
            )
            .set("conflict", "newer"),
            row(
                "conflict, older",
                vec![
                    entry("a")
                        .base(file("v1"))
                        .source(older())
                        .destination(newer()),
                ],
                vec!["a: conflict", "a: copy from source"],
            )
            .set("conflict", "older"),
            row(
                "conflict, source",
                vec![
                    entry("a")
                        .base(file("v1"))
                        .source(older())
                        .destination(newer()),
                ],
                vec!["a: conflict", "a: copy from source"],
            )
            .set("conflict", "source"),
            row(
                "conflict, destination",
                vec![
                    entry("a")
                        .base(file("v1"))
                        .source(newer())
                        .destination(older()),
                ],
                vec!["a: conflict", "a: copy from destination"],
            )
            .set("conflict", "destination"),
            row(
                "conflict, larger",
                vec![
                    entry("a")
                        .base(file("v1"))
                        .source(newer())
                        .destination(file("a much longer text")),
                ],
                vec!["a: conflict", "a: copy from destination"],
            )
            .set("conflict", "larger"),
            row(
                "conflict, larger, equal sizes: newer wins",
                vec![
                    entry("a")
                        .base(file("v1"))
                        .source(file_at("v2", NOW - 3 * DAY))
                        .destination(file_at("v3", NOW)),
                ],
                vec!["a: conflict", "a: copy from destination"],
            )
            .set("conflict", "larger"),
            row(
                "conflict, manual",
                vec![
                    entry("a")
                        .base(file("v1"))
                        .source(older())
                        .destination(newer()),
                ],
                vec!["a: conflict"],
            )
            .set("conflict", "manual"),
            row(
                "modified on source, deleted on destination",
                vec![entry("a").base(file("v1")).source(file("v2"))],
                vec!["a: conflict", "a: copy from source"],
            ),
            row(
                "deleted on source, modified on destination",
                vec![entry("a").base(file("v1")).destination(file("v2"))],
                vec!["a: conflict", "a: copy from destination"],
            ),
            row(
                "file versus directory: keep both",
                vec![
                    entry("x").source(file("v1")).destination(dir()),
                    entry("x/f").destination(file("v2")),
                ],
                vec![
                    "x: conflict",
                    "x: copy from source to x.conflict-20231114-221320.000-source",
                    "x: rename source to x.conflict-20231114-221320.000-source",
                    "x: copy from destination",
                    "x/f: copy from destination",
                ],
            ),
            row(
                "directory versus file: keep both",
                vec![entry("x").source(dir()).destination(file("v1"))],
                vec![
                    "x: conflict",
                    "x: copy from destination to x.conflict-20231114-221320.000-destination",
                    "x: rename destination to x.conflict-20231114-221320.000-destination",
                    "x: copy from source",
                ],
            ),
            row(
                "file versus directory, manual",
                vec![entry("x").source(file("v1")).destination(dir())],
                vec!["x: conflict"],
            )
            .set("conflict", "manual"),
            row(
                "rename on source becomes a rename on destination",
                vec![
                    entry("a.txt").base(file("v1")).destination(file("v1")),
                    entry("b.txt").source(file("v1")),
                ],
                vec!["a.txt: rename destination to b.txt"],
            ),
            row(
                "rename on destination becomes a rename on source",
                vec![
                    entry("a.txt").base(file("v1")).source(file("v1")),
                    entry("b.txt").destination(file("v1")),
                ],
                vec!["a.txt: rename source to b.txt"],
            ),
            row(
                "rename detection off",
                vec![
                    entry("a.txt").base(file("v1")).destination(file("v1")),
                    entry("b.txt").source(file("v1")),
                ],
                vec!["a.txt: delete destination", "b.txt: copy from source"],
            )
            .set("detect-renames", "false"),
            row(
                "a delete plus a create of other content is no rename",
                vec![
                    entry("a.txt").base(file("v1")).destination(file("v1")),
                    entry("b.txt").source(file("v2")),
                ],
                vec!["a.txt: delete destination", "b.txt: copy from source"],
            ),
            row(
                "unreadable file is skipped",
                vec![
                    entry("a")
                        .base(file("v1"))
                        .source(unreadable())
                        .destination(file("v1")),
                ],
                vec!["a: skip"],
            ),
            row(
                "type changed on one side",
                vec![
                    entry("l")
                        .base(file("v1"))
                        .source(symlink("t"))
                        .destination(file("v1")),
                ],
                vec!["l: copy from source"],
            ),
        ],
    );
}

#[test]
fn offload() {
    let hot = |path: &'static str, age_days: i64| {
        entry(path)
            .synced(file_sized(path, 100))
            .accessed(NOW - age_days * DAY)
    };
    check_table(
        "offload",
        vec![
            row(
                "a new local file is stored",
                vec![entry("n").source(file("v1"))],
                vec!["n: copy from source"],
            ),
            row(
                "in sync and no pressure: nothing",
                vec![hot("a", 3)],
                vec![],
            )
            .volume(1000, 900),
            row(
                "a local delete reaches the destination's trash",
                vec![entry("a").base(file("v1")).destination(file("v1"))],
                vec!["a: delete destination"],
            ),
            row(
                "a destination-only file is left alone",
                vec![entry("b").destination(file("v1"))],
                vec![],
            ),
            row(
                "low space: evict least recently accessed until target-free",
                vec![hot("a", 3), hot("b", 1), hot("c", 2)],
                vec!["a: evict", "c: evict"],
            )
            .volume(1000, 50),
            row(
                "hysteresis: between min-free and target-free nothing is evicted",
                vec![hot("a", 3), hot("b", 1)],
                vec![],
            )
            .volume(1000, 150),
            row(
                "explicit thresholds in bytes",
                vec![hot("a", 3), hot("b", 1), hot("c", 2)],
                vec!["a: evict"],
            )
            .volume(1000, 400)
            .set("min-free", "450")
            .set("target-free", "500"),
            row(
                "pinned files are never evicted",
                vec![hot("a", 3).pinned(), hot("b", 1), hot("c", 2)],
                vec!["b: evict", "c: evict"],
            )
            .volume(1000, 50),
            row(
                "evict-after evicts idle files whatever the space",
                vec![hot("a", 3), hot("b", 1)],
                vec!["a: evict"],
            )
            .set("evict-after", "2d"),
            row(
                "a file copied in this run may be evicted in the same run",
                vec![
                    entry("n")
                        .source(file_sized("n", 100))
                        .accessed(NOW - 5 * DAY),
                ],
                vec!["n: copy from source", "n: evict"],
            )
            .volume(1000, 50),
            row(
                "max-local evicts down to 90% of the limit",
                vec![
                    entry("a")
                        .synced(file_sized("a", 250))
                        .accessed(NOW - 4 * DAY),
                    entry("b")
                        .synced(file_sized("b", 250))
                        .accessed(NOW - 3 * DAY),
                    entry("c")
                        .synced(file_sized("c", 250))
                        .accessed(NOW - 2 * DAY),
                    entry("d").synced(file_sized("d", 250)).accessed(NOW - DAY),
                ],
                vec!["a: evict", "b: evict", "c: evict"],
            )
            .set("max-local", "500")
            .local_bytes(1000),
            row(
                "directories are never evicted",
                vec![entry("d").synced(dir()), hot("d/f", 3)],
                vec!["d/f: evict"],
            )
            .volume(1000, 50),
            row(
                "pinning an offloaded file hydrates it",
                vec![
                    entry("a")
                        .base(file("v1"))
                        .destination(file("v1"))
                        .offloaded()
                        .pinned(),
                ],
                vec!["a: hydrate"],
            ),
            row(
                "an offloaded file stays offloaded",
                vec![
                    entry("a")
                        .base(file("v1"))
                        .destination(file("v1"))
                        .offloaded(),
                ],
                vec![],
            ),
            row(
                "an offloaded file whose destination copy vanished is reported",
                vec![entry("a").base(file("v1")).offloaded()],
                vec!["a: conflict"],
            ),
            row(
                "a new local file where an offloaded one was keeps both",
                vec![
                    entry("a.txt")
                        .base(file("v1"))
                        .source(file("v2"))
                        .destination(file("v1"))
                        .offloaded(),
                ],
                vec![
                    "a.txt: conflict",
                    "a.txt: copy from destination to a.conflict-20231114-221320.000-destination.txt",
                    "a.txt: copy from source",
                ],
            ),
            row(
                "a lost destination copy of a local file is restored",
                vec![entry("a").base(file("v1")).source(file("v1"))],
                vec!["a: copy from source"],
            ),
        ],
    );
}

#[test]
fn archive() {
    let aged = |content: &str, days: i64| file_at(content, NOW - days * DAY);
    check_table(
        "archive",
        vec![
            row(
                "a source file is moved",
                vec![entry("a.txt").source(file("v1"))],
                vec!["a.txt: move"],
            ),
            row(
                "older-than keeps recent files",
                vec![
                    entry("new").source(aged("n", 1)),
                    entry("old").source(aged("o", 10)),
                ],
                vec!["old: move"],
            )
            .set("older-than", "7d"),
            row(
                "size filters",
                vec![
                    entry("small").source(file("s")),
                    entry("big").source(file("a bigger file")),
                ],
                vec!["big: move"],
            )
            .set("min-size", "5"),
            row(
                "max-size",
                vec![
                    entry("small").source(file("s")),
                    entry("big").source(file("a bigger file")),
                ],
                vec!["small: move"],
            )
            .set("max-size", "5"),
            row(
                "identical content already at the path: move without copy",
                vec![entry("a.txt").source(file("v1")).destination(file("v1"))],
                vec!["a.txt: move"],
            ),
            row(
                "different content at the path: archived under a new name",
                vec![
                    entry("a.txt").source(file("v1")).destination(file("v2")),
                    entry("a-2.txt").destination(file("v3")),
                ],
                vec!["a.txt: move to a-3.txt"],
            ),
            row(
                "a folder the destination holds as a file or symlink: archived beside it",
                vec![
                    entry("e").source(dir()).destination(symlink("a")),
                    entry("e/a").source(file("v1")),
                    entry("f").source(dir()).destination(file("v2")),
                    entry("f-2").destination(file("v3")),
                    entry("f/g/h.txt").source(file("v4")),
                ],
                vec![
                    "e: delete source",
                    "e/a: move to e-2/a",
                    "f: delete source",
                    "f/g/h.txt: move to f-3/g/h.txt",
                ],
            ),
            row(
                "dedupe: content anywhere in the destination is not copied again",
                vec![
                    entry("old/x.jpg").destination(file("pixels")),
                    entry("new/y.jpg").source(file("pixels")),
                ],
                vec!["new/y.jpg: move to old/x.jpg"],
            )
            .set("dedupe", "true"),
            row(
                "without dedupe the same content is archived again",
                vec![
                    entry("old/x.jpg").destination(file("pixels")),
                    entry("new/y.jpg").source(file("pixels")),
                ],
                vec!["new/y.jpg: move"],
            ),
            row(
                "dedupe within one run",
                vec![
                    entry("a.jpg").source(file("p")),
                    entry("b.jpg").source(file("p")),
                ],
                vec!["a.jpg: move", "b.jpg: move to a.jpg"],
            )
            .set("dedupe", "true"),
            row(
                "by-date layout",
                vec![entry("photos/p.jpg").source(file_at("p", NOW - DAY))],
                vec!["photos/p.jpg: move to 2023/11/p.jpg"],
            )
            .set("layout", "by-date"),
            row(
                "by-date collisions get new names",
                vec![
                    entry("a/p.jpg").source(file_at("p1", NOW - DAY)),
                    entry("b/p.jpg").source(file_at("p2", NOW - DAY)),
                ],
                vec![
                    "a/p.jpg: move to 2023/11/p.jpg",
                    "b/p.jpg: move to 2023/11/p-2.jpg",
                ],
            )
            .set("layout", "by-date"),
            row(
                "emptied source directories are pruned",
                vec![entry("d").source(dir()), entry("d/f").source(file("v1"))],
                vec!["d: delete source", "d/f: move"],
            ),
            row(
                "a directory that keeps a file stays",
                vec![
                    entry("d").source(dir()),
                    entry("d/old").source(aged("o", 10)),
                    entry("d/new").source(aged("n", 1)),
                ],
                vec!["d/old: move"],
            )
            .set("older-than", "7d"),
            row(
                "a directory the user left empty stays",
                vec![entry("empty").source(dir())],
                vec![],
            ),
            row(
                "destination deletions never propagate",
                vec![
                    entry("a").base(file("v1")),
                    entry("b").destination(file("v1")),
                ],
                vec![],
            ),
        ],
    );
}
