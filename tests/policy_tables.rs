//! The built-in policies' semantics (docs/architecture.md) as tables: each
//! row is base / source / destination states and options, and the plan the
//! built-in policy must produce. Every row runs
//! through the real wasm component and the host's plan validation.

use crate::common::*;

#[test]
fn replicate() {
    check_table(
        "replicate",
        vec![
            row(
                "first run: source only",
                vec![e("a").src(file("v1"))],
                vec!["a: copy from source"],
            ),
            row(
                "first run: equal",
                vec![e("a").src(file("v1")).dst(file("v1"))],
                vec!["a: accept"],
            ),
            row(
                "first run: differ",
                vec![e("a").src(file("v1")).dst(file("v2"))],
                vec!["a: copy from source"],
            ),
            row(
                "source modified",
                vec![e("a").base(file("v1")).src(file("v2")).dst(file("v1"))],
                vec!["a: copy from source"],
            ),
            row(
                "source deleted",
                vec![e("a").base(file("v1")).dst(file("v1"))],
                vec!["a: delete destination"],
            ),
            row(
                "source deleted, propagate-deletes off",
                vec![e("a").base(file("v1")).dst(file("v1"))],
                vec!["a: skip"],
            )
            .set("propagate-deletes", "false"),
            row(
                "destination drifted",
                vec![e("a").base(file("v1")).src(file("v1")).dst(file("v2"))],
                vec!["a: copy from source"],
            ),
            row(
                "destination deleted",
                vec![e("a").base(file("v1")).src(file("v1"))],
                vec!["a: copy from source"],
            ),
            row(
                "extraneous",
                vec![e("x").dst(file("v1"))],
                vec!["x: delete destination"],
            ),
            row(
                "extraneous, delete-extraneous off",
                vec![e("x").dst(file("v1"))],
                vec!["x: skip"],
            )
            .set("delete-extraneous", "false"),
            row(
                "deleted on both",
                vec![e("a").base(file("v1"))],
                vec!["a: accept"],
            ),
            row(
                "changed identically on both",
                vec![e("a").base(file("v1")).src(file("v2")).dst(file("v2"))],
                vec!["a: accept"],
            ),
            row(
                "unreadable source",
                vec![e("a").src(unreadable())],
                vec!["a: skip"],
            ),
            row(
                "new directory",
                vec![e("d").src(dir()), e("d/f").src(file("v1"))],
                vec!["d: copy from source", "d/f: copy from source"],
            ),
            row(
                "file became directory",
                vec![e("d").base(file("v1")).src(dir()).dst(file("v1"))],
                vec!["d: copy from source"],
            ),
            row(
                "symlink retargeted",
                vec![
                    e("l")
                        .base(symlink("x"))
                        .src(symlink("y"))
                        .dst(symlink("x")),
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
                    e("a").src(file("v1")),
                    e("b").dst(file("v1")),
                    e("c").src(file("v1")).dst(file("v1")),
                ],
                vec![
                    "a: copy from source",
                    "b: copy from destination",
                    "c: accept",
                ],
            ),
            row(
                "first run: differing paths are conflicts (keep-both, newer wins)",
                vec![e("x.txt").src(older()).dst(newer())],
                vec![
                    "x.txt: copy from source to x.conflict-20231114-221320-source.txt",
                    "x.txt: rename source to x.conflict-20231114-221320-source.txt",
                    "x.txt: copy from destination",
                ],
            ),
            row(
                "modified on source",
                vec![e("a").base(file("v1")).src(file("v2")).dst(file("v1"))],
                vec!["a: copy from source"],
            ),
            row(
                "modified on destination",
                vec![e("a").base(file("v1")).src(file("v1")).dst(file("v2"))],
                vec!["a: copy from destination"],
            ),
            row(
                "created on destination",
                vec![e("n").dst(file("v1")).base(file("v0")).src(file("v0"))],
                vec!["n: copy from destination"],
            ),
            row(
                "deleted on source",
                vec![e("a").base(file("v1")).dst(file("v1"))],
                vec!["a: delete destination"],
            ),
            row(
                "deleted on destination",
                vec![e("a").base(file("v1")).src(file("v1"))],
                vec!["a: delete source"],
            ),
            row(
                "changed identically on both",
                vec![e("a").base(file("v1")).src(file("v2")).dst(file("v2"))],
                vec!["a: accept"],
            ),
            row(
                "deleted on both",
                vec![e("a").base(file("v1"))],
                vec!["a: accept"],
            ),
            row(
                "conflict, keep-both, source newer",
                vec![e("docs/r.pdf").base(file("v1")).src(newer()).dst(older())],
                vec![
                    "docs/r.pdf: copy from destination to docs/r.conflict-20231114-221320-destination.pdf",
                    "docs/r.pdf: rename destination to docs/r.conflict-20231114-221320-destination.pdf",
                    "docs/r.pdf: copy from source",
                ],
            ),
            row(
                "conflict, newer",
                vec![e("a").base(file("v1")).src(older()).dst(newer())],
                vec!["a: copy from destination"],
            )
            .set("conflict", "newer"),
            row(
                "conflict, older",
                vec![e("a").base(file("v1")).src(older()).dst(newer())],
                vec!["a: copy from source"],
            )
            .set("conflict", "older"),
            row(
                "conflict, source",
                vec![e("a").base(file("v1")).src(older()).dst(newer())],
                vec!["a: copy from source"],
            )
            .set("conflict", "source"),
            row(
                "conflict, destination",
                vec![e("a").base(file("v1")).src(newer()).dst(older())],
                vec!["a: copy from destination"],
            )
            .set("conflict", "destination"),
            row(
                "conflict, larger",
                vec![
                    e("a")
                        .base(file("v1"))
                        .src(newer())
                        .dst(file("a much longer text")),
                ],
                vec!["a: copy from destination"],
            )
            .set("conflict", "larger"),
            row(
                "conflict, larger, equal sizes: newer wins",
                vec![
                    e("a")
                        .base(file("v1"))
                        .src(file_at("v2", NOW - 3 * DAY))
                        .dst(file_at("v3", NOW)),
                ],
                vec!["a: copy from destination"],
            )
            .set("conflict", "larger"),
            row(
                "conflict, manual",
                vec![e("a").base(file("v1")).src(older()).dst(newer())],
                vec!["a: conflict"],
            )
            .set("conflict", "manual"),
            row(
                "modified on source, deleted on destination",
                vec![e("a").base(file("v1")).src(file("v2"))],
                vec!["a: copy from source"],
            ),
            row(
                "deleted on source, modified on destination",
                vec![e("a").base(file("v1")).dst(file("v2"))],
                vec!["a: copy from destination"],
            ),
            row(
                "file versus directory: keep both",
                vec![e("x").src(file("v1")).dst(dir()), e("x/f").dst(file("v2"))],
                vec![
                    "x: copy from source to x.conflict-20231114-221320-source",
                    "x: rename source to x.conflict-20231114-221320-source",
                    "x: copy from destination",
                    "x/f: copy from destination",
                ],
            ),
            row(
                "directory versus file: keep both",
                vec![e("x").src(dir()).dst(file("v1"))],
                vec![
                    "x: copy from destination to x.conflict-20231114-221320-destination",
                    "x: rename destination to x.conflict-20231114-221320-destination",
                    "x: copy from source",
                ],
            ),
            row(
                "file versus directory, manual",
                vec![e("x").src(file("v1")).dst(dir())],
                vec!["x: conflict"],
            )
            .set("conflict", "manual"),
            row(
                "rename on source becomes a rename on destination",
                vec![
                    e("a.txt").base(file("v1")).dst(file("v1")),
                    e("b.txt").src(file("v1")),
                ],
                vec!["a.txt: rename destination to b.txt"],
            ),
            row(
                "rename on destination becomes a rename on source",
                vec![
                    e("a.txt").base(file("v1")).src(file("v1")),
                    e("b.txt").dst(file("v1")),
                ],
                vec!["a.txt: rename source to b.txt"],
            ),
            row(
                "rename detection off",
                vec![
                    e("a.txt").base(file("v1")).dst(file("v1")),
                    e("b.txt").src(file("v1")),
                ],
                vec!["a.txt: delete destination", "b.txt: copy from source"],
            )
            .set("detect-renames", "false"),
            row(
                "a delete plus a create of other content is no rename",
                vec![
                    e("a.txt").base(file("v1")).dst(file("v1")),
                    e("b.txt").src(file("v2")),
                ],
                vec!["a.txt: delete destination", "b.txt: copy from source"],
            ),
            row(
                "unreadable file is skipped",
                vec![e("a").base(file("v1")).src(unreadable()).dst(file("v1"))],
                vec!["a: skip"],
            ),
            row(
                "type changed on one side",
                vec![e("l").base(file("v1")).src(symlink("t")).dst(file("v1"))],
                vec!["l: copy from source"],
            ),
        ],
    );
}

fn sized(content: &str, size: u64) -> conduit::policy::State {
    conduit::policy::State {
        size,
        ..file(content)
    }
}

#[test]
fn offload() {
    let hot = |path: &'static str, age_days: i64| {
        e(path)
            .synced(sized(path, 100))
            .accessed(NOW - age_days * DAY)
    };
    check_table(
        "offload",
        vec![
            row(
                "a new local file is stored",
                vec![e("n").src(file("v1"))],
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
                vec![e("a").base(file("v1")).dst(file("v1"))],
                vec!["a: delete destination"],
            ),
            row(
                "a destination-only file is left alone",
                vec![e("b").dst(file("v1"))],
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
                vec![e("n").src(sized("n", 100)).accessed(NOW - 5 * DAY)],
                vec!["n: copy from source", "n: evict"],
            )
            .volume(1000, 50),
            row(
                "max-local evicts down to 90% of the limit",
                vec![
                    e("a").synced(sized("a", 250)).accessed(NOW - 4 * DAY),
                    e("b").synced(sized("b", 250)).accessed(NOW - 3 * DAY),
                    e("c").synced(sized("c", 250)).accessed(NOW - 2 * DAY),
                    e("d").synced(sized("d", 250)).accessed(NOW - DAY),
                ],
                vec!["a: evict", "b: evict", "c: evict"],
            )
            .set("max-local", "500")
            .local_bytes(1000),
            row(
                "directories are never evicted",
                vec![e("d").synced(dir()), hot("d/f", 3)],
                vec!["d/f: evict"],
            )
            .volume(1000, 50),
            row(
                "pinning an offloaded file hydrates it",
                vec![e("a").base(file("v1")).dst(file("v1")).offloaded().pinned()],
                vec!["a: hydrate"],
            ),
            row(
                "an offloaded file stays offloaded",
                vec![e("a").base(file("v1")).dst(file("v1")).offloaded()],
                vec![],
            ),
            row(
                "an offloaded file whose destination copy vanished is reported",
                vec![e("a").base(file("v1")).offloaded()],
                vec!["a: conflict"],
            ),
            row(
                "a new local file where an offloaded one was keeps both",
                vec![
                    e("a.txt")
                        .base(file("v1"))
                        .src(file("v2"))
                        .dst(file("v1"))
                        .offloaded(),
                ],
                vec![
                    "a.txt: copy from destination to a.conflict-20231114-221320-destination.txt",
                    "a.txt: copy from source",
                ],
            ),
            row(
                "a lost destination copy of a local file is restored",
                vec![e("a").base(file("v1")).src(file("v1"))],
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
                vec![e("a.txt").src(file("v1"))],
                vec!["a.txt: move"],
            ),
            row(
                "older-than keeps recent files",
                vec![e("new").src(aged("n", 1)), e("old").src(aged("o", 10))],
                vec!["old: move"],
            )
            .set("older-than", "7d"),
            row(
                "size filters",
                vec![
                    e("small").src(file("s")),
                    e("big").src(file("a bigger file")),
                ],
                vec!["big: move"],
            )
            .set("min-size", "5"),
            row(
                "max-size",
                vec![
                    e("small").src(file("s")),
                    e("big").src(file("a bigger file")),
                ],
                vec!["small: move"],
            )
            .set("max-size", "5"),
            row(
                "identical content already at the path: move without copy",
                vec![e("a.txt").src(file("v1")).dst(file("v1"))],
                vec!["a.txt: move"],
            ),
            row(
                "different content at the path: archived under a new name",
                vec![
                    e("a.txt").src(file("v1")).dst(file("v2")),
                    e("a-2.txt").dst(file("v3")),
                ],
                vec!["a.txt: move to a-3.txt"],
            ),
            row(
                "a folder the destination holds as a file or symlink: archived beside it",
                vec![
                    e("e").src(dir()).dst(symlink("a")),
                    e("e/a").src(file("v1")),
                    e("f").src(dir()).dst(file("v2")),
                    e("f-2").dst(file("v3")),
                    e("f/g/h.txt").src(file("v4")),
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
                    e("old/x.jpg").dst(file("pixels")),
                    e("new/y.jpg").src(file("pixels")),
                ],
                vec!["new/y.jpg: move to old/x.jpg"],
            )
            .set("dedupe", "true"),
            row(
                "without dedupe the same content is archived again",
                vec![
                    e("old/x.jpg").dst(file("pixels")),
                    e("new/y.jpg").src(file("pixels")),
                ],
                vec!["new/y.jpg: move"],
            ),
            row(
                "dedupe within one run",
                vec![e("a.jpg").src(file("p")), e("b.jpg").src(file("p"))],
                vec!["a.jpg: move", "b.jpg: move to a.jpg"],
            )
            .set("dedupe", "true"),
            row(
                "by-date layout",
                vec![e("photos/p.jpg").src(file_at("p", NOW - DAY))],
                vec!["photos/p.jpg: move to 2023/11/p.jpg"],
            )
            .set("layout", "by-date"),
            row(
                "by-date collisions get new names",
                vec![
                    e("a/p.jpg").src(file_at("p1", NOW - DAY)),
                    e("b/p.jpg").src(file_at("p2", NOW - DAY)),
                ],
                vec![
                    "a/p.jpg: move to 2023/11/p.jpg",
                    "b/p.jpg: move to 2023/11/p-2.jpg",
                ],
            )
            .set("layout", "by-date"),
            row(
                "emptied source directories are pruned",
                vec![e("d").src(dir()), e("d/f").src(file("v1"))],
                vec!["d: delete source", "d/f: move"],
            ),
            row(
                "a directory that keeps a file stays",
                vec![
                    e("d").src(dir()),
                    e("d/old").src(aged("o", 10)),
                    e("d/new").src(aged("n", 1)),
                ],
                vec!["d/old: move"],
            )
            .set("older-than", "7d"),
            row(
                "a directory the user left empty stays",
                vec![e("empty").src(dir())],
                vec![],
            ),
            row(
                "destination deletions never propagate",
                vec![e("a").base(file("v1")), e("b").dst(file("v1"))],
                vec![],
            ),
        ],
    );
}
