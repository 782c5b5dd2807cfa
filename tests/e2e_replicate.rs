//! End to end through the binary: replicate, the one-way mirror. New,
//! modified and deleted files, drift and extraneous files on the
//! destination (always into its trash), dry runs, awkward names, symlinks,
//! empty folders, modes and mtimes, ignore rules, `restore`, `verify`,
//! `add`'s refusals and the JSON of the inspection commands.

use crate::support::*;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Every counter of a sync report, by name.
const COUNTERS: &[&str] = &[
    "copied",
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

fn assert_idle(report: &serde_json::Value) {
    for key in COUNTERS {
        assert_eq!(
            n(report, key),
            0,
            "{key} in a run with nothing to do: {report}"
        );
    }
}

/// The destination's trash as (path inside the generation, content).
fn trashed(root: &Path) -> BTreeMap<String, String> {
    trash_contents(root)
        .into_iter()
        .map(|(slot, content)| {
            let (_, rel) = slot.split_once('/').expect("generation/path");
            (rel.to_string(), content)
        })
        .collect()
}

/// A synced world with a few files in folders; `mirror` is its conduit.
fn mirrored(extra: &[&str]) -> World {
    let w = World::new();
    write(&w.a, "docs/a.txt", "alpha");
    write(&w.a, "docs/b.txt", "bravo");
    write(&w.a, "top.txt", "top");
    write(&w.a, "sub/deep/c.txt", "charlie");
    write(&w.a, "sub/deep/d.txt", "delta");
    w.add("mirror", "replicate", extra);
    let r = w.sync("mirror", &[], 0);
    assert_eq!(n(&r, "failed"), 0, "{r}");
    assert_eq!(tree(&w.b), tree(&w.a));
    w
}

#[test]
fn new_modified_and_deleted_files_reach_the_destination_and_drift_is_repaired() {
    let w = World::new();
    write(&w.a, "docs/a.txt", "alpha");
    write(&w.a, "docs/b.txt", "bravo");
    write(&w.a, "top.txt", "top");
    write(&w.a, "sub/deep/c.txt", "charlie");
    w.add("mirror", "replicate", &[]);
    let r = w.sync("mirror", &[], 0);
    // Four files and three folders (docs, sub, sub/deep), counted apart.
    assert_eq!((n(&r, "copied"), n(&r, "verified")), (4, 4), "{r}");
    assert_eq!(n(&r, "folders_created"), 3, "{r}");
    assert_eq!(n(&r, "bytes"), 5 + 5 + 3 + 7);
    assert!(r["halted"].is_null() && r["generation"].as_i64().unwrap() > 0);
    assert_eq!(tree(&w.b), tree(&w.a));
    assert!(trash(&w.b).is_empty());

    write(&w.a, "docs/a.txt", "alpha, second edition");
    write(&w.a, "new/fresh.txt", "fresh");
    std::fs::remove_file(w.a.join("top.txt")).unwrap();
    // Drift: someone edited the mirror.
    write(&w.b, "docs/b.txt", "edited on the mirror");
    let r = w.sync("mirror", &[], 0);
    // a.txt, b.txt (repaired) and new/fresh.txt; the folder new/.
    assert_eq!(n(&r, "copied"), 3, "{r}");
    assert_eq!(n(&r, "folders_created"), 1, "{r}");
    assert_eq!(n(&r, "verified"), 3, "{r}");
    assert_eq!(n(&r, "deleted"), 1, "{r}");
    assert_eq!(tree(&w.b), tree(&w.a));
    assert_eq!(read(&w.b, "docs/b.txt").as_deref(), Some("bravo"));
    // Every version the run replaced or removed is in the destination's trash.
    let gen2 = r["generation"].as_i64().unwrap();
    assert_eq!(
        trash(&w.b),
        vec![
            format!("{gen2}/docs/a.txt"),
            format!("{gen2}/docs/b.txt"),
            format!("{gen2}/top.txt"),
        ]
    );
    let old = trashed(&w.b);
    assert_eq!(old["docs/a.txt"], "alpha");
    assert_eq!(old["docs/b.txt"], "edited on the mirror");
    assert_eq!(old["top.txt"], "top");
    assert!(trash(&w.a).is_empty(), "the source is never touched");

    let r = w.sync("mirror", &[], 0);
    assert_idle(&r);
    assert!(r["generation"].as_i64().unwrap() > gen2);
}

#[test]
fn extraneous_destination_files_are_trashed_or_kept_as_the_options_say() {
    let w = mirrored(&[]);
    write(&w.b, "stray.txt", "not in the source");
    write(&w.b, "junk/old.txt", "old junk");
    let r = w.sync("mirror", &[], 0);
    // stray.txt and junk/old.txt; the folder junk, emptied, is removed.
    assert_eq!(n(&r, "deleted"), 2, "{r}");
    assert_eq!(n(&r, "folders_removed"), 1, "{r}");
    assert_eq!(tree(&w.b), tree(&w.a));
    let old = trashed(&w.b);
    assert_eq!(old["stray.txt"], "not in the source");
    assert_eq!(old["junk/old.txt"], "old junk");

    // delete-extraneous=false keeps them, and says so with a skip.
    w.run(&["set", "mirror", "delete-extraneous=false"])
        .expect(0);
    write(&w.b, "keep-me.txt", "mine");
    let r = w.sync("mirror", &[], 0);
    assert_eq!((n(&r, "deleted"), n(&r, "skipped")), (0, 1), "{r}");
    assert_eq!(read(&w.b, "keep-me.txt").as_deref(), Some("mine"));

    // propagate-deletes=false keeps what the source deleted.
    let w = mirrored(&["--set", "propagate-deletes=false"]);
    std::fs::remove_file(w.a.join("docs/a.txt")).unwrap();
    write(&w.b, "stray.txt", "not in the source");
    let r = w.sync("mirror", &[], 0);
    assert_eq!((n(&r, "deleted"), n(&r, "skipped")), (1, 1), "{r}");
    assert_eq!(read(&w.b, "docs/a.txt").as_deref(), Some("alpha"));
    assert_eq!(read(&w.b, "stray.txt"), None);
    assert_eq!(trashed(&w.b)["stray.txt"], "not in the source");
}

#[test]
fn a_dry_run_reports_the_plan_and_changes_nothing() {
    let w = mirrored(&[]);
    write(&w.a, "docs/a.txt", "changed");
    write(&w.a, "added.txt", "added");
    std::fs::remove_file(w.a.join("top.txt")).unwrap();
    write(&w.b, "stray.txt", "stray");
    let (a, b) = (snapshot(&w.a), snapshot(&w.b));
    let history = w.run(&["history", "mirror", "--json"]).expect(0).json();

    let r = w.dry_run("mirror");
    assert_eq!(r["dry_run"], true);
    assert_eq!((n(&r, "copied"), n(&r, "deleted")), (2, 2), "{r}");
    assert_eq!(n(&r, "verified"), 0);
    assert_dry_run(
        &w,
        &r,
        &["docs/a.txt", "added.txt", "top.txt", "stray.txt"],
        &a,
        &b,
    );

    // The real run does what the dry run said.
    let real = w.sync("mirror", &[], 0);
    assert_eq!(real["dry_run"], false);
    assert!(real.get("plan").is_none(), "{real}");
    assert_eq!((n(&real, "copied"), n(&real, "deleted")), (2, 2));
    assert_eq!(tree(&w.b), tree(&w.a));
    let after = w.run(&["history", "mirror", "--json"]).expect(0).json();
    // Only the real run is in the history; the dry run used up no number.
    assert_eq!(
        after.as_array().unwrap().len(),
        history.as_array().unwrap().len() + 1
    );
    assert_eq!(after[0]["dry_run"], false, "{after}");
    assert_eq!(
        after[0]["generation"].as_i64(),
        history[0]["generation"].as_i64().map(|g| g + 1),
        "{after}"
    );
}

#[test]
fn names_with_spaces_unicode_and_newlines_are_synced() {
    let w = World::new();
    let names = [
        "with space.txt",
        "  leading and trailing  ",
        "ünïcødé/日本語のファイル.txt",
        "emoji 🎉/x.txt",
        "line\nbreak.txt",
        "tab\there",
        "-dash-first",
        "quote\"and'apostrophe",
        "back\\slash",
    ];
    for (i, name) in names.iter().enumerate() {
        write(&w.a, name, &format!("content {i}"));
    }
    w.add("mirror", "replicate", &[]);
    let r = w.sync("mirror", &[], 0);
    assert!(r["unsupported_names"].as_array().unwrap().is_empty(), "{r}");
    assert_eq!(tree(&w.b), tree(&w.a));
    for (i, name) in names.iter().enumerate() {
        assert_eq!(read(&w.b, name), Some(format!("content {i}")), "{name:?}");
    }
    assert_idle(&w.sync("mirror", &[], 0));
}

#[test]
fn names_that_are_not_utf8_are_reported_on_every_run_never_dropped_silently() {
    let w = World::new();
    write(&w.a, "fine.txt", "fine");
    let bad_file = w.a.join(OsStr::from_bytes(b"caf\xe9.txt"));
    std::fs::write(&bad_file, "latin-1 name").unwrap();
    let bad_dir = w.a.join(OsStr::from_bytes(b"dir\xff"));
    std::fs::create_dir(&bad_dir).unwrap();
    std::fs::write(bad_dir.join("inside.txt"), "inside").unwrap();
    std::fs::write(w.b.join(OsStr::from_bytes(b"mirror\xfe")), "on the mirror").unwrap();
    w.add("mirror", "replicate", &[]);

    for _ in 0..2 {
        let r = w.sync("mirror", &[], 0);
        let listed: Vec<&str> = r["unsupported_names"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        assert_eq!(listed.len(), 3, "{r}");
        for (side, name) in [
            ("source", "caf\u{fffd}.txt"),
            ("source", "dir\u{fffd}"),
            ("destination", "mirror\u{fffd}"),
        ] {
            assert!(
                listed
                    .iter()
                    .any(|l| l.starts_with(side) && l.contains(name) && l.contains("UTF-8")),
                "{side} {name} in {listed:?}"
            );
        }
    }
    // The readable file is synced; the others are left where they are.
    assert_eq!(read(&w.b, "fine.txt").as_deref(), Some("fine"));
    assert!(bad_file.exists() && bad_dir.join("inside.txt").exists());
    assert!(w.b.join(OsStr::from_bytes(b"mirror\xfe")).exists());
    let names: Vec<String> = tree(&w.b).into_keys().collect();
    assert_eq!(
        names.len(),
        2,
        "fine.txt and the mirror's own file: {names:?}"
    );
    // People see it too.
    let human = w.run(&["sync", "mirror"]).expect(0);
    assert!(human.stdout.contains("not valid UTF-8"), "{}", human.stdout);
}

#[test]
fn symlinks_are_copied_as_links_and_never_followed() {
    let w = World::new();
    let outside = w.tmp.path().join("outside");
    write(&outside, "secret.txt", "outside the root");
    write(&outside, "dir/inner.txt", "also outside");
    write(&w.a, "real.txt", "real");
    let link = |target: &Path, rel: &str| {
        std::os::unix::fs::symlink(target, w.a.join(rel)).unwrap();
    };
    link(&outside.join("secret.txt"), "to-outside-file");
    link(&outside.join("dir"), "to-outside-dir");
    link(Path::new("real.txt"), "relative");
    link(Path::new("nowhere/at/all"), "dangling");
    w.add("mirror", "replicate", &[]);
    let r = w.sync("mirror", &[], 0);
    assert_eq!(n(&r, "failed"), 0, "{r}");
    assert_eq!(tree(&w.b), tree(&w.a));
    for rel in ["to-outside-file", "to-outside-dir", "relative", "dangling"] {
        let meta = std::fs::symlink_metadata(w.b.join(rel)).unwrap();
        assert!(meta.file_type().is_symlink(), "{rel} is a link");
        assert_eq!(
            std::fs::read_link(w.b.join(rel)).unwrap(),
            std::fs::read_link(w.a.join(rel)).unwrap()
        );
    }
    assert_eq!(
        tree(&w.b).get("to-outside-dir").map(String::as_str),
        Some(format!("-> {}", outside.join("dir").display()).as_str())
    );
    assert!(!tree(&w.b).keys().any(|p| p.contains("inner.txt")));

    // A retargeted link is replaced; the old link goes to the trash.
    std::fs::remove_file(w.a.join("relative")).unwrap();
    link(Path::new("elsewhere.txt"), "relative");
    let r = w.sync("mirror", &[], 0);
    assert_eq!(n(&r, "copied"), 1, "{r}");
    assert_eq!(
        std::fs::read_link(w.b.join("relative")).unwrap(),
        Path::new("elsewhere.txt")
    );
    let t = trash(&w.b);
    assert_eq!(t.len(), 1, "{t:?}");
    let old = w.b.join(".conduit/trash").join(&t[0]);
    assert_eq!(std::fs::read_link(old).unwrap(), Path::new("real.txt"));
    assert_idle(&w.sync("mirror", &[], 0));
}

#[test]
fn empty_folders_modes_and_mtimes_are_preserved() {
    let w = World::new();
    std::fs::create_dir_all(w.a.join("empty")).unwrap();
    std::fs::create_dir_all(w.a.join("nested/empty/too")).unwrap();
    write(&w.a, "private/key", "secret");
    write(&w.a, "bin/tool.sh", "#!/bin/sh\n");
    write(&w.a, "shared.txt", "shared");
    set_mode(&w.a, "private/key", 0o600);
    set_mode(&w.a, "bin/tool.sh", 0o755);
    set_mode(&w.a, "shared.txt", 0o664);
    set_mode(&w.a, "private", 0o700);
    set_mode(&w.a, "nested/empty", 0o750);
    // Sub-second mtimes, old and new.
    let times = [
        ("private/key", 1_000_000_000, 123_456_789),
        ("bin/tool.sh", 1_600_000_000, 1),
        ("shared.txt", 86_400, 999_999_999),
    ];
    for (rel, secs, nanos) in times {
        let t = std::time::UNIX_EPOCH + std::time::Duration::new(secs, nanos);
        std::fs::File::options()
            .write(true)
            .open(w.a.join(rel))
            .unwrap()
            .set_modified(t)
            .unwrap();
    }
    let dir_time = std::time::UNIX_EPOCH + std::time::Duration::new(1_234_567_890, 500);
    for dir in ["empty", "private", "nested/empty/too"] {
        std::fs::File::open(w.a.join(dir))
            .unwrap()
            .set_modified(dir_time)
            .unwrap();
    }
    w.add("mirror", "replicate", &[]);
    w.sync("mirror", &[], 0);

    assert_eq!(tree(&w.b), tree(&w.a));
    let b_tree = tree(&w.b);
    for dir in ["empty", "nested/empty/too"] {
        assert_eq!(b_tree.get(dir).map(String::as_str), Some("dir/"), "{dir}");
    }
    let stamp = |root: &Path, rel: &str| {
        let meta = std::fs::symlink_metadata(root.join(rel)).unwrap();
        (mode(root, rel), meta.modified().unwrap())
    };
    for rel in [
        "private/key",
        "bin/tool.sh",
        "shared.txt",
        "private",
        "nested/empty",
        "empty",
        "nested/empty/too",
    ] {
        assert_eq!(stamp(&w.b, rel), stamp(&w.a, rel), "{rel}");
    }
    assert_eq!(mode(&w.b, "private/key"), 0o600);
    assert_eq!(mtime(&w.b, "private/key"), 1_000_000_000);
    assert_idle(&w.sync("mirror", &[], 0));
}

#[test]
fn ignore_rules_from_the_command_line_and_conduitignore_apply_to_both_sides() {
    let w = World::new();
    write(
        &w.a,
        ".conduitignore",
        "build/\n# a comment\n*.bak\n!keep.bak\n",
    );
    write(&w.a, "src/main.rs", "fn main() {}");
    write(&w.a, "build/out.o", "object");
    write(&w.a, "src/build/gen.rs", "generated");
    write(&w.a, "notes.bak", "backup");
    write(&w.a, "keep.bak", "wanted");
    write(&w.a, "debug.log", "log");
    write(&w.a, "logs/today.log", "log");
    // On the mirror, ignored files are not extraneous: they stay.
    write(&w.b, "local.log", "the mirror's own log");
    write(&w.b, "build/cache", "the mirror's own build");
    w.add("mirror", "replicate", &["--ignore", "*.log"]);
    let r = w.sync("mirror", &[], 0);
    assert_eq!(n(&r, "deleted"), 0, "{r}");

    let b: Vec<String> = tree(&w.b).into_keys().collect();
    assert_eq!(
        b,
        vec![
            ".conduitignore",
            "build",
            "build/cache",
            "keep.bak",
            "local.log",
            "logs",
            "src",
            "src/main.rs",
        ],
        "`build/` ignores a folder named build at any depth; logs/ stays, empty"
    );
    assert!(trash(&w.b).is_empty());
    let show = w.run(&["show", "mirror", "--json"]).expect(0).json();
    assert_eq!(show["ignore"], serde_json::json!(["*.log"]));

    // A rule added later hides files from then on (they stay on the mirror).
    write(&w.a, ".conduitignore", "build/\n*.bak\n!keep.bak\nsrc/\n");
    write(&w.a, "src/main.rs", "fn main() { changed() }");
    let r = w.sync("mirror", &[], 0);
    assert_eq!((n(&r, "copied"), n(&r, "deleted")), (1, 0), "{r}");
    assert_eq!(read(&w.b, "src/main.rs").as_deref(), Some("fn main() {}"));
}

#[test]
fn restore_brings_back_files_a_sync_deleted_or_overwrote() {
    let w = mirrored(&[]);
    // Deleted by a sync.
    std::fs::remove_file(w.a.join("docs/a.txt")).unwrap();
    // Overwritten by a sync.
    write(&w.a, "docs/b.txt", "bravo, rewritten");
    w.sync("mirror", &[], 0);
    assert_eq!(read(&w.b, "docs/a.txt"), None);
    assert_eq!(
        read(&w.b, "docs/b.txt").as_deref(),
        Some("bravo, rewritten")
    );

    let out = w.run(&["restore", "mirror", "docs/a.txt"]).expect(0);
    assert!(out.stdout.contains("restored"), "{}", out.stdout);
    assert_eq!(read(&w.a, "docs/a.txt").as_deref(), Some("alpha"));
    assert_eq!(read(&w.b, "docs/a.txt").as_deref(), Some("alpha"));

    w.run(&["restore", "mirror", "docs/b.txt"]).expect(0);
    assert_eq!(read(&w.a, "docs/b.txt").as_deref(), Some("bravo"));
    assert_eq!(read(&w.b, "docs/b.txt").as_deref(), Some("bravo"));
    // The version the restore replaced is itself in a trash, not lost.
    let source_trash: Vec<String> = trash(&w.a)
        .into_iter()
        .filter(|t| t.ends_with("docs/b.txt"))
        .collect();
    assert_eq!(source_trash.len(), 1, "{:?}", trash(&w.a));
    assert_eq!(
        std::fs::read_to_string(w.a.join(".conduit/trash").join(&source_trash[0])).unwrap(),
        "bravo, rewritten"
    );
    // Both sides agree after a restore: the next run has nothing to do.
    assert_idle(&w.sync("mirror", &[], 0));
    assert_eq!(tree(&w.b), tree(&w.a));

    let refused = w.run(&["restore", "mirror", "never/there.txt"]).expect(2);
    assert!(refused.stderr.contains("trash"), "{}", refused.stderr);
    w.run(&["restore", "mirror", "../escape"]).expect(2);
}

#[test]
fn verify_finds_a_flipped_byte_and_names_the_file() {
    let w = mirrored(&[]);
    let clean = w.run(&["verify", "mirror", "--json"]).expect(0).json();
    // Five files on each side.
    assert_eq!(clean["verified"], 10, "{clean}");
    assert_eq!(clean["corrupted"], serde_json::json!([]));
    assert_eq!(clean["changed"], serde_json::json!([]));

    flip_a_byte(&w.b, "sub/deep/c.txt");
    let out = w.run(&["verify", "mirror", "--json"]).expect(3);
    let report = out.json();
    let corrupted = report["corrupted"].as_array().unwrap();
    assert_eq!(corrupted.len(), 1, "{report}");
    let line = corrupted[0].as_str().unwrap();
    assert!(
        line.starts_with("destination sub/deep/c.txt"),
        "names the side and the file: {line}"
    );
    assert_eq!(report["verified"], 9);
    let human = w.run(&["verify", "mirror"]).expect(3);
    assert!(human.stdout.contains("sub/deep/c.txt"), "{}", human.stdout);
}

#[test]
fn add_refuses_bad_requests_with_a_clear_message_and_changes_nothing() {
    let w = World::new();
    std::fs::create_dir_all(w.a.join("inner")).unwrap();
    let (a, b) = (w.a.to_str().unwrap(), w.b.to_str().unwrap());
    let inner = w.a.join("inner");
    let inner = inner.to_str().unwrap();
    let missing = w.tmp.path().join("missing");
    let missing = missing.to_str().unwrap();
    let rows: &[(&[&str], &[&str])] = &[
        (
            &["add", "m", a, inner, "--policy", "replicate"],
            &["inside", "nested"],
        ),
        (
            &["add", "m", inner, a, "--policy", "replicate"],
            &["inside", "nested"],
        ),
        (
            &["add", "m", a, a, "--policy", "replicate"],
            &["same folder"],
        ),
        (
            &["add", "m", a, missing, "--policy", "replicate"],
            &["missing", "create the folder"],
        ),
        (
            &["add", "m", a, b, "--policy", "mirror-ish"],
            &["unknown policy", "replicate"],
        ),
        (
            &[
                "add",
                "m",
                a,
                b,
                "--policy",
                "replicate",
                "--set",
                "colour=blue",
            ],
            &["colour", "propagate-deletes", "delete-extraneous"],
        ),
        (
            &[
                "add",
                "m",
                a,
                b,
                "--policy",
                "replicate",
                "--set",
                "delete-extraneous=perhaps",
            ],
            &["delete-extraneous", "true or false", "perhaps"],
        ),
        (
            &[
                "add",
                "m",
                a,
                b,
                "--policy",
                "replicate",
                "--set",
                "no-equals-sign",
            ],
            &["no-equals-sign"],
        ),
        (
            &[
                "add",
                "m",
                a,
                b,
                "--policy",
                "replicate",
                "--set",
                "max-delete=150%",
            ],
            &["max-delete", "between 0% and 100%"],
        ),
        (
            &[
                "add",
                "m",
                a,
                b,
                "--policy",
                "replicate",
                "--cadence",
                "sometimes",
            ],
            &["cadence", "sometimes"],
        ),
        (
            &["add", "bad name", a, b, "--policy", "replicate"],
            &["bad name", "name"],
        ),
        (&["add", "m", a, b], &["--policy"]),
    ];
    for (args, words) in rows {
        let out = w.run(args);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        for word in *words {
            assert!(
                out.stderr.contains(word),
                "{args:?}: {word:?} in {}",
                out.stderr
            );
        }
        assert!(!w.a.join(".conduit").exists(), "{args:?} marked the source");
        assert!(
            !w.b.join(".conduit").exists(),
            "{args:?} marked the destination"
        );
    }
    let list = w.run(&["list", "--json"]).expect(0).json();
    assert_eq!(list, serde_json::json!([]));

    // A name is taken once. `add --set` takes host settings as `set` does.
    w.add("m", "replicate", &["--set", "max-delete=20%"]);
    let show = w.run(&["show", "m", "--json"]).expect(0).json();
    assert_eq!(show["max_delete_pct"], 20.0, "{show}");
    let again = w
        .run(&["add", "m", a, b, "--policy", "replicate"])
        .expect(2);
    assert!(again.stderr.contains("already exists"), "{}", again.stderr);
    // Commands about unknown conduits are usage errors too.
    let unknown = w.run(&["sync", "nope", "--json"]).expect(2);
    assert!(unknown.stderr.contains("nope"), "{}", unknown.stderr);
    w.run(&["set", "m", "max-delete=150%"]).expect(2);
    w.run(&["set", "m", "colour=blue"]).expect(2);
}

#[test]
fn list_show_status_and_history_describe_the_conduit_in_json() {
    let w = mirrored(&["--set", "delete-extraneous=false", "--ignore", "*.tmp"]);
    write(&w.a, "more.txt", "more");
    let second = w.sync("mirror", &[], 0);
    let canonical = |p: &Path| std::fs::canonicalize(p).unwrap().display().to_string();

    let list = w.run(&["list", "--json"]).expect(0).json();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["name"], "mirror");
    assert_eq!(list[0]["policy"], "replicate");
    assert_eq!(list[0]["source"], canonical(&w.a));
    assert_eq!(list[0]["destination"], canonical(&w.b));

    let show = w.run(&["show", "mirror", "--json"]).expect(0).json();
    assert_eq!(show["name"], "mirror");
    assert_eq!(show["options"]["delete-extraneous"], "false");
    assert_eq!(show["ignore"], serde_json::json!(["*.tmp"]));
    assert_eq!(show["cadence"], "manual");
    assert_eq!(show["enabled"], true);
    assert_eq!(show["max_delete_pct"], 50.0);
    assert_eq!(show, list[0], "show and list agree");

    let status = w.run(&["status", "mirror", "--json"]).expect(0).json();
    assert_eq!(status["conduit"], "mirror");
    assert_eq!(status["state"], "idle");
    assert_eq!(status["conflicts"], 0);
    assert_eq!(status["last_run"]["generation"], second["generation"]);
    assert_eq!(status["last_run"]["copied"], 1);
    let all = w.run(&["status", "--json"]).expect(0).json();
    assert_eq!(all[0], status);

    let history = w.run(&["history", "mirror", "--json"]).expect(0).json();
    let runs = history.as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["generation"], second["generation"], "newest first");
    assert!(runs[0]["generation"].as_i64() > runs[1]["generation"].as_i64());
    for key in COUNTERS {
        assert_eq!(runs[0][key], second[key], "history keeps {key}");
    }
    assert_eq!(runs[1]["copied"], 5, "{}", runs[1]);
    assert_eq!(runs[1]["folders_created"], 3, "{}", runs[1]);
    let limited = w
        .run(&["history", "mirror", "--limit", "1", "--json"])
        .expect(0)
        .json();
    assert_eq!(limited.as_array().unwrap().len(), 1);
    w.run(&["show", "nope", "--json"]).expect(2);
    w.run(&["history", "nope", "--json"]).expect(2);
}

#[test]
fn fifos_and_sockets_are_reported_and_never_block_the_run() {
    let w = World::new();
    write(&w.a, "plain.txt", "plain");
    let fifo = std::ffi::CString::new(w.a.join("pipe").as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let _socket = std::os::unix::net::UnixListener::bind(w.a.join("sock")).unwrap();
    w.add("mirror", "replicate", &[]);

    // Hashing a FIFO would wait for a writer forever: bound the run.
    let mut child = w
        .cmd()
        .args(["sync", "mirror", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if !wait_until(60, || child.try_wait().unwrap().is_some()) {
        child.kill().unwrap();
        panic!("the run hung on a FIFO");
    }
    let r = Run::from(child.wait_with_output().unwrap())
        .expect(0)
        .json();
    let listed = r["unsupported_names"].to_string();
    for name in ["pipe", "sock"] {
        assert!(
            listed.contains(&format!("source \\\"{name}\\\": a FIFO, socket or device")),
            "{name} in {listed}"
        );
    }
    assert_eq!(
        tree(&w.b).into_keys().collect::<Vec<_>>(),
        vec!["plain.txt"]
    );
}
