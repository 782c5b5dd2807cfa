//! What Conduit tells and keeps about its runs, through the real binary:
//! the itemized history of each generation, per-conduit generation
//! numbers, the browsable trash and restore of any version, `verify
//! --repair`, and the command-line conventions (colour, completions, man).

use serde_json::Value;

use crate::support::*;

fn items(run: &Value) -> Vec<&Value> {
    run["items"]
        .as_array()
        .map_or(Vec::new(), |a| a.iter().collect())
}

/// The one item of `run` on `path` with action `action`.
fn item<'a>(run: &'a Value, path: &str, action: &str) -> &'a Value {
    let found: Vec<&Value> = items(run)
        .into_iter()
        .filter(|i| i["path"] == path && i["action"] == action)
        .collect();
    assert_eq!(found.len(), 1, "one {action} of {path} in {run:#}");
    found[0]
}

#[test]
fn history_of_a_generation_lists_each_action_with_its_reason_and_trash_name() {
    let w = World::new();
    write(&w.a, "keep.txt", "keep");
    write(&w.a, "edit.txt", "version 1");
    write(&w.a, "gone/old.txt", "old");
    write(&w.a, "private.txt", "secret");
    w.add("mirror", "replicate", &[]);
    let first = w.sync("mirror", &[], 0);
    assert_eq!(first["schema"], 1, "{first}");
    assert_eq!(first["generation"], 1);
    // Files and folders are counted apart.
    assert_eq!(n(&first, "copied"), 4, "{first}");
    assert_eq!(n(&first, "folders_created"), 1, "{first}");
    for stamp in ["started", "ended"] {
        let t = first[stamp].as_str().unwrap();
        assert!(
            t.len() == 24 && t.ends_with('Z'),
            "{stamp} is RFC 3339: {t}"
        );
    }

    write(&w.a, "edit.txt", "version 2");
    std::fs::remove_dir_all(w.a.join("gone")).unwrap();
    set_mode(&w.a, "private.txt", 0o600);
    let second = w.sync("mirror", &[], 0);
    assert_eq!(second["generation"], 2);
    assert_eq!(n(&second, "deleted"), 1, "{second}");
    // The emptied folder is removed, not counted as a deleted file.
    assert_eq!(n(&second, "folders_removed"), 1, "{second}");
    assert_eq!(n(&second, "updated"), 1, "{second}");

    let run = w
        .run(&["history", "mirror", "2", "--json"])
        .expect(0)
        .json();
    assert_eq!(run["generation"], 2);
    assert_eq!(run["started"], second["started"]);
    let edit = item(&run, "edit.txt", "copy");
    assert_eq!(edit["why"], "content changed on the source", "{edit}");
    assert_eq!(edit["outcome"], "done");
    let replaced = edit["trashed"][0].as_str().unwrap();
    assert!(
        replaced.starts_with(".conduit/trash/2/") && replaced.ends_with("edit.txt"),
        "the replaced version's place in the trash: {replaced}"
    );
    assert_eq!(
        std::fs::read_to_string(w.b.join(replaced)).unwrap(),
        "version 1"
    );
    let old = item(&run, "gone/old.txt", "delete");
    assert_eq!(old["why"], "deleted on the source");
    assert_eq!(
        std::fs::read_to_string(w.b.join(old["trashed"][0].as_str().unwrap())).unwrap(),
        "old"
    );
    assert_eq!(item(&run, "gone", "delete")["why"], "deleted on the source");
    assert_eq!(
        item(&run, "private.txt", "copy")["why"],
        "mode changed on the source"
    );
    assert!(
        items(&run).iter().all(|i| i["path"] != "keep.txt"),
        "an untouched path is not listed: {run:#}"
    );

    let human = w.run(&["history", "mirror", "2"]).expect(0).stdout;
    assert!(
        human.contains("edit.txt  (content changed on the source)"),
        "{human}"
    );
    assert!(human.contains(replaced), "{human}");

    let missing = w.run(&["history", "mirror", "9"]).expect(2);
    assert!(
        missing.stderr.contains("numbered 1 to 2"),
        "{}",
        missing.stderr
    );
}

#[test]
fn generations_are_numbered_per_conduit_and_never_reused() {
    let w = World::new();
    let (c, d) = (w.tmp.path().join("c"), w.tmp.path().join("d"));
    std::fs::create_dir_all(&c).unwrap();
    std::fs::create_dir_all(&d).unwrap();
    write(&w.a, "a.txt", "a");
    write(&c, "c.txt", "c");
    w.add("one", "replicate", &[]);
    w.run(&[
        "add",
        "two",
        c.to_str().unwrap(),
        d.to_str().unwrap(),
        "--policy",
        "replicate",
    ])
    .expect(0);
    assert_eq!(w.sync("one", &[], 0)["generation"], 1);
    assert_eq!(w.sync("two", &[], 0)["generation"], 1);
    assert_eq!(w.sync("one", &[], 0)["generation"], 2);
    // A dry run takes no number.
    assert_eq!(w.dry_run("one")["generation"], 0);
    assert_eq!(w.sync("one", &[], 0)["generation"], 3);
    let history = w.run(&["history", "one", "--json"]).expect(0).json();
    let numbers: Vec<i64> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["generation"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [3, 2, 1]);
}

#[test]
fn sync_verbose_prints_each_action_and_a_dry_run_gives_reasons_per_path() {
    let w = World::new();
    write(&w.a, "a.txt", "a");
    write(&w.a, "b.txt", "b");
    w.add("mirror", "replicate", &[]);
    let plan = w.dry_run("mirror");
    let a = item(&plan, "a.txt", "copy");
    assert_eq!(a["why"], "new on the source", "{plan:#}");
    assert!(a.get("outcome").is_none(), "a plan has no outcome: {a}");
    assert_eq!(a["detail"], "copy a.txt source -> destination");
    let human = w.run(&["sync", "mirror", "--dry-run"]).expect(0).stdout;
    assert!(
        human.contains("copy      a.txt  (new on the source): source -> destination"),
        "{human}"
    );

    let verbose = w.run(&["sync", "mirror", "-v"]).expect(0).stdout;
    for path in ["a.txt", "b.txt"] {
        assert!(
            verbose.contains(&format!("copy      {path}  (new on the source)")),
            "{verbose}"
        );
    }
    write(&w.a, "c.txt", "c");
    let quiet = w.run(&["sync", "mirror", "-q"]).expect(0);
    assert_eq!(quiet.stdout, "", "-q prints nothing on success");
    assert_eq!(read(&w.b, "c.txt").as_deref(), Some("c"));
}

/// Three versions of `doc.txt` in the destination's trash, oldest first:
/// "one", "two", "three" (the live file says "four").
fn three_trashed_versions() -> World {
    let w = World::new();
    w.add("mirror", "replicate", &[]);
    for text in ["one", "two", "three", "four"] {
        write(&w.a, "doc.txt", text);
        w.sync("mirror", &[], 0);
    }
    w
}

#[test]
fn the_trash_lists_every_version_and_restore_brings_back_the_one_asked_for() {
    let w = three_trashed_versions();
    let listed = w
        .run(&["trash", "mirror", "doc.txt", "--json"])
        .expect(0)
        .json();
    let versions = listed.as_array().unwrap();
    assert_eq!(versions.len(), 3, "{listed:#}");
    let content =
        |v: &Value| std::fs::read_to_string(w.b.join(v["trashed_as"].as_str().unwrap())).unwrap();
    assert_eq!(
        versions.iter().map(content).collect::<Vec<_>>(),
        ["three", "two", "one"],
        "newest first"
    );
    for (i, v) in versions.iter().enumerate() {
        assert_eq!(v["version"], i + 1);
        assert_eq!(v["side"], "destination");
        assert_eq!(v["size"], content(v).len());
        assert_eq!(v["generation"], 4 - i as i64, "{v}");
        assert!(v["trashed"].as_str().unwrap().ends_with('Z'));
    }
    let human = w.run(&["trash", "mirror"]).expect(0).stdout;
    assert!(human.contains("#2") && human.contains("doc.txt"), "{human}");

    // The second-newest version, on both sides; the live file goes to the
    // trash and the message says where.
    let out = w
        .run(&["restore", "mirror", "doc.txt", "--version", "2"])
        .expect(0)
        .stdout;
    assert_eq!(read(&w.a, "doc.txt").as_deref(), Some("two"));
    assert_eq!(read(&w.b, "doc.txt").as_deref(), Some("two"));
    let replaced: Vec<&str> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("replaced: "))
        .collect();
    assert_eq!(replaced.len(), 2, "both live copies are named: {out}");
    for line in replaced {
        let (side, slot) = line.split_once(" went to ").unwrap();
        let root = match side {
            "the destination's doc.txt" => &w.b,
            "the source's doc.txt" => &w.a,
            other => panic!("unexpected {other:?} in {out}"),
        };
        assert_eq!(std::fs::read_to_string(root.join(slot)).unwrap(), "four");
    }
    assert_eq!(n(&w.sync("mirror", &[], 0), "copied"), 0, "in sync after");

    // --to: beside the live file, replacing nothing.
    let oldest = w
        .run(&["trash", "mirror", "doc.txt", "--json"])
        .expect(0)
        .json()
        .as_array()
        .unwrap()
        .iter()
        .find(|v| content(v) == "one")
        .unwrap()["version"]
        .to_string();
    w.run(&[
        "restore",
        "mirror",
        "doc.txt",
        "--version",
        &oldest,
        "--to",
        "doc-v1.txt",
    ])
    .expect(0);
    assert_eq!(read(&w.a, "doc-v1.txt").as_deref(), Some("one"));
    assert_eq!(read(&w.b, "doc-v1.txt").as_deref(), Some("one"));
    assert_eq!(read(&w.b, "doc.txt").as_deref(), Some("two"));
    let taken = w.run(&["restore", "mirror", "doc.txt", "--to", "doc-v1.txt"]);
    let taken = taken.expect(2);
    assert!(taken.stderr.contains("already exists"), "{}", taken.stderr);

    // --before picks by date; a date before everything is refused.
    let none = w
        .run(&["restore", "mirror", "doc.txt", "--before", "2000-01-01"])
        .expect(2);
    assert!(
        none.stderr
            .contains("no version of \"doc.txt\" was trashed before"),
        "{}",
        none.stderr
    );
    w.run(&["restore", "mirror", "doc.txt", "--before", "yesterday"])
        .expect(2);
    w.run(&["restore", "mirror", "doc.txt", "--version", "99"])
        .expect(2);
}

#[test]
fn purge_removes_only_versions_older_than_asked() {
    let w = three_trashed_versions();
    let kept = w
        .run(&["trash", "mirror", "--purge", "--older-than", "1d", "--json"])
        .expect(0)
        .json();
    assert_eq!(kept["versions"], 0, "{kept}");
    assert_eq!(trash(&w.b).len(), 3);
    w.run(&["trash", "mirror", "--older-than", "1d"]).expect(2);
    w.run(&["trash", "mirror", "--purge", "--older-than", "soon"])
        .expect(2);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let purged = w
        .run(&["trash", "mirror", "--purge", "--older-than", "1s", "--json"])
        .expect(0)
        .json();
    assert_eq!(purged["versions"], 3, "{purged}");
    assert_eq!(purged["bytes"], 3 + 3 + 5);
    assert_eq!(trash(&w.b), Vec::<String>::new());
    let listed = w.run(&["trash", "mirror", "--json"]).expect(0).json();
    assert_eq!(listed, serde_json::json!([]));
}

#[test]
fn verify_repair_puts_a_rotten_copy_right_from_the_sound_side() {
    let w = World::new();
    write(&w.a, "photo.jpg", "the only good copy");
    write(&w.a, "notes.txt", "notes");
    w.add("mirror", "replicate", &[]);
    w.sync("mirror", &[], 0);
    flip_a_byte(&w.b, "photo.jpg");
    // Without --repair: found, named, nothing changed.
    let found = w.run(&["verify", "mirror", "--json"]).expect(3).json();
    assert_eq!(found["corrupted"].as_array().unwrap().len(), 1, "{found}");
    assert_ne!(
        read(&w.b, "photo.jpg").as_deref(),
        Some("the only good copy")
    );

    let repaired = w
        .run(&["verify", "mirror", "--repair", "--json"])
        .expect(0)
        .json();
    let line = repaired["repaired"][0].as_str().unwrap();
    assert!(
        line.starts_with("destination photo.jpg: put right from the source"),
        "{repaired}"
    );
    assert_eq!(
        read(&w.b, "photo.jpg").as_deref(),
        Some("the only good copy")
    );
    // The rotten copy is kept, in the destination's trash.
    let slot = line.rsplit_once(" is in ").unwrap().1;
    assert_eq!(
        std::fs::read(w.b.join(slot)).unwrap()[0],
        b'T',
        "the corrupted bytes"
    );
    let clean = w.run(&["verify", "mirror", "--json"]).expect(0).json();
    assert_eq!(clean["corrupted"], serde_json::json!([]));

    // Both sides rotten: nothing to repair from, and it says so.
    flip_a_byte(&w.a, "notes.txt");
    flip_a_byte(&w.b, "notes.txt");
    let stuck = w
        .run(&["verify", "mirror", "--repair", "--json"])
        .expect(3)
        .json();
    assert_eq!(stuck["repaired"], Value::Null, "{stuck}");
    assert_eq!(stuck["unrepaired"].as_array().unwrap().len(), 2, "{stuck}");
}

#[test]
fn colour_follows_no_color_and_the_flag_and_completions_and_man_are_generated() {
    let w = World::new();
    // A failing command's error, coloured only when asked.
    let plain = w.cmd().args(["show", "nope"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&plain.stderr).contains('\x1b'));
    let forced = w
        .cmd()
        .args(["--color", "always", "show", "nope"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&forced.stderr).contains("\x1b[31m"));
    let never = w
        .cmd()
        .args(["--color", "never", "show", "nope"])
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&never.stderr).contains('\x1b'));
    assert_eq!(never.status.code(), Some(2));

    for shell in ["bash", "zsh", "fish"] {
        let script = w.run(&["completions", shell]).expect(0).stdout;
        assert!(script.contains("conduit"), "{shell}");
        assert!(script.contains("restore"), "{shell}: subcommands");
    }
    w.run(&["completions", "tcsh"]).expect(2);
    let man = w.run(&["man"]).expect(0).stdout;
    assert!(
        man.starts_with(".ie") || man.contains(".TH conduit"),
        "{man}"
    );
    assert!(man.contains("sync"), "subcommands are listed");

    // A log file gets what -v logs.
    write(&w.a, "a.txt", "a");
    w.add("mirror", "replicate", &[]);
    let log = w.tmp.path().join("conduit.log");
    w.run(&["sync", "mirror", "-v", "--log-file", log.to_str().unwrap()])
        .expect(0);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("scanned"), "{logged}");
    assert!(!logged.contains('\x1b'), "no colour in a file");
}

#[test]
fn ages_of_a_year_are_accepted_where_durations_are() {
    let w = World::new();
    w.add("old", "archive", &["--set", "older-than=1y"]);
    let shown = w.run(&["show", "old", "--json"]).expect(0).json();
    assert_eq!(shown["options"]["older-than"], "1y", "{shown}");
}

/// How many of the file's pages are in the page cache (`mincore` on a
/// mapping that is never touched, so looking does not load them).
fn resident_pages(path: &std::path::Path) -> usize {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).unwrap();
    let len = file.metadata().unwrap().len() as usize;
    let page = 4096;
    // SAFETY: a private read-only mapping of a file this test owns, only
    // handed to mincore and unmapped before return; no byte is read.
    unsafe {
        let map = libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        );
        assert_ne!(map, libc::MAP_FAILED);
        let mut vec = vec![0u8; len.div_ceil(page)];
        assert_eq!(libc::mincore(map, len, vec.as_mut_ptr()), 0);
        libc::munmap(map, len);
        vec.iter().filter(|b| **b & 1 == 1).count()
    }
}

#[test]
fn verification_from_the_media_rereads_pages_that_are_not_in_the_cache() {
    const SIZE: usize = 4 << 20;
    let pages = SIZE / 4096;
    let w = World::new();
    write_bytes(&w.a, "big.bin", &vec![7u8; SIZE]);
    // So that removing the copy below does not empty the destination.
    write(&w.a, "small.txt", "small");

    // From the cache (the default for replicate): the copy's pages are
    // still resident after the run.
    w.add("cached", "replicate", &[]);
    w.sync("cached", &[], 0);
    let resident = resident_pages(&w.b.join("big.bin"));
    assert!(resident > pages / 2, "{resident} of {pages} pages cached");

    // From the media: when the re-read starts, none of the copy's pages
    // is resident, so every byte hashed comes from the device.
    std::fs::remove_file(w.b.join("big.bin")).unwrap();
    w.run(&["set", "cached", "verify-from=media"]).expect(0);
    let (child, gate) = paused_at(
        &w,
        "location:dropped-from-cache",
        &["sync", "cached", "--json"],
    );
    let resident = resident_pages(&w.b.join("big.bin"));
    std::fs::remove_file(&gate).unwrap();
    let report = finish(child).expect(0).json();
    assert_eq!(
        resident, 0,
        "pages resident when the re-read began (a temp folder on tmpfs keeps them: its pages are \
         its storage)"
    );
    assert_eq!(n(&report, "verified"), 1, "{report}");
    assert_eq!(std::fs::read(w.b.join("big.bin")).unwrap(), vec![7u8; SIZE]);

    let shown = w.run(&["show", "cached", "--json"]).expect(0).json();
    assert_eq!(shown["verify_from"], "media");
    let bad = w.run(&["set", "cached", "verify-from=disk"]).expect(2);
    assert!(bad.stderr.contains("verify-from"), "{}", bad.stderr);
}

#[test]
fn progress_shows_on_a_terminal_and_never_when_piped() {
    let w = World::new();
    write_bytes(&w.a, "big.bin", &vec![1u8; 64 << 20]);
    w.add("mirror", "replicate", &[]);
    // Piped: not a byte of progress on stderr.
    let piped = w.run(&["sync", "mirror", "--dry-run"]).expect(0);
    assert_eq!(piped.stderr, "");
    // On a terminal (`script` gives the run a pseudo-terminal): the scan's
    // spinner, then bytes and files done with a speed.
    let command = format!(
        "{} --home {} sync mirror",
        env!("CARGO_BIN_EXE_conduit"),
        w.home.display()
    );
    let typescript = w.tmp.path().join("typescript");
    let status = std::process::Command::new("script")
        .args(["-qec", &command])
        .arg(&typescript)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("script(1) from util-linux");
    assert!(status.success());
    let shown = String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).into_owned();
    for part in [
        "mirror: scanning: ",
        "/1 files",
        "64.00 MiB/64.00 MiB",
        "MiB/s",
    ] {
        assert!(shown.contains(part), "{part:?} in {shown:?}");
    }
    assert_eq!(read(&w.b, "big.bin").map(|s| s.len()), Some(64 << 20));
}

#[test]
fn ages_too_large_to_count_purge_nothing_and_hand_runs_are_always_recorded() {
    let w = three_trashed_versions();
    // A thousand years back is before the epoch: nothing is that old. (A
    // wrapped subtraction made it the future, and purged everything.)
    let purged = w
        .run(&[
            "trash",
            "mirror",
            "--purge",
            "--older-than",
            "1000y",
            "--json",
        ])
        .expect(0)
        .json();
    assert_eq!(purged["versions"], 0, "{purged}");
    w.run(&["set", "mirror", "trash-days=4000000000"]).expect(0);
    w.sync("mirror", &[], 0);
    assert_eq!(trash(&w.b).len(), 3, "a huge retention keeps everything");
    // A bare number is no age: `2026` is too easily meant as a year.
    w.run(&["restore", "mirror", "doc.txt", "--before", "2026"])
        .expect(2);

    // verify --repair with nothing it can repair leaves no run behind.
    let runs = |w: &World| {
        w.run(&["history", "mirror", "--json"])
            .expect(0)
            .json()
            .as_array()
            .unwrap()
            .len()
    };
    let before = runs(&w);
    flip_a_byte(&w.a, "doc.txt");
    flip_a_byte(&w.b, "doc.txt");
    w.run(&["verify", "mirror", "--repair"]).expect(3);
    assert_eq!(runs(&w), before);
    let status = w.run(&["status", "mirror", "--json"]).expect(0).json();
    assert_eq!(status["state"], "idle", "{status}");
}

#[test]
fn a_folder_restored_whole_takes_its_files_out_of_the_trash_listing() {
    let w = World::new();
    write(&w.a, "d/x.txt", "x");
    write(&w.a, "d/y.txt", "y");
    write(&w.a, "keep.txt", "keep");
    w.add("mirror", "replicate", &[]);
    w.sync("mirror", &[], 0);
    // A version that is gone from disk is refused, and nothing moves.
    write(&w.a, "keep.txt", "keep, edited");
    w.sync("mirror", &[], 0);
    let listed = w
        .run(&["trash", "mirror", "keep.txt", "--json"])
        .expect(0)
        .json();
    let slot = listed[0]["trashed_as"].as_str().unwrap().to_string();
    std::fs::remove_file(w.b.join(&slot)).unwrap();
    let gone = w.run(&["restore", "mirror", "keep.txt"]).expect(1);
    assert!(
        gone.stderr.contains("no longer in the trash"),
        "{}",
        gone.stderr
    );
    assert_eq!(read(&w.b, "keep.txt").as_deref(), Some("keep, edited"));
    assert_eq!(read(&w.a, "keep.txt").as_deref(), Some("keep, edited"));

    std::fs::remove_dir_all(w.a.join("d")).unwrap();
    // Two of three files: past the mass-delete guard.
    w.sync("mirror", &["--force"], 0);
    // The trash holds d/x.txt and d/y.txt, inside the folder d of the
    // run's trash folder; `restore d` brings that folder back whole.
    w.run(&["restore", "mirror", "d"]).expect(0);
    // On both sides, everything in it: the next run has nothing to do.
    for root in [&w.a, &w.b] {
        assert_eq!(read(root, "d/x.txt").as_deref(), Some("x"));
        assert_eq!(read(root, "d/y.txt").as_deref(), Some("y"));
    }
    let after = w.sync("mirror", &[], 0);
    for key in ["copied", "deleted", "updated"] {
        assert_eq!(n(&after, key), 0, "{after}");
    }
    let listed = w.run(&["trash", "mirror", "d", "--json"]).expect(0).json();
    assert_eq!(
        listed,
        serde_json::json!([]),
        "what came back is not listed"
    );
    // So restoring a file of it is refused, and moves nothing.
    w.run(&["restore", "mirror", "d/x.txt"]).expect(2);
    assert_eq!(read(&w.b, "d/x.txt").as_deref(), Some("x"));
}

#[test]
fn each_run_trashes_into_a_folder_of_its_own() {
    let w = World::new();
    write(&w.a, "d/x.txt", "x1");
    w.add("mirror", "replicate", &[]);
    w.sync("mirror", &[], 0);
    // A folder named like this conduit's next run is already in the trash
    // (another conduit on the same root, or an index numbered otherwise):
    // the run must not write into it.
    let foreign = w.b.join(".conduit/trash/2/d");
    std::fs::create_dir_all(&foreign).unwrap();
    write(&w.a, "d/x.txt", "x2");
    let r = w.sync("mirror", &[], 0);
    assert_eq!(r["generation"], 2);
    let run = w
        .run(&["history", "mirror", "2", "--json"])
        .expect(0)
        .json();
    let slot = run["items"][0]["trashed"][0].as_str().unwrap();
    assert_eq!(slot, ".conduit/trash/2-2/d/x.txt", "{run:#}");
    assert_eq!(std::fs::read_dir(&foreign).unwrap().count(), 0);
}

#[test]
fn the_history_names_trash_paths_whatever_the_file_name_holds() {
    let w = World::new();
    let names = ["two\nlines.txt", "tab\there.txt", "quote\"and,comma.txt"];
    for name in names {
        write(&w.a, name, "old");
    }
    w.add("mirror", "replicate", &[]);
    w.sync("mirror", &[], 0);
    for name in names {
        write(&w.a, name, "new");
    }
    w.sync("mirror", &[], 0);
    let run = w
        .run(&["history", "mirror", "2", "--json"])
        .expect(0)
        .json();
    for name in names {
        let slots = item(&run, name, "copy")["trashed"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(slots.len(), 1, "{name:?}: {run:#}");
        let slot = slots[0].as_str().unwrap();
        assert!(slot.ends_with(name), "{name:?} in {slot:?}");
        assert_eq!(std::fs::read_to_string(w.b.join(slot)).unwrap(), "old");
    }
}

#[test]
fn by_default_only_copies_a_source_is_deleted_after_are_verified_from_the_media() {
    // The trace of hook points passed says whether a re-read dropped the
    // copy's pages first.
    let from_media = |policy: &str| {
        let w = World::new();
        write(&w.a, "a.bin", "content");
        write(&w.a, "b.bin", "more content");
        w.add("c", policy, &[]);
        let trace = w.tmp.path().join("trace");
        let run: Run = with_hook(
            &w,
            &format!("trace={}", trace.display()),
            &["sync", "c", "--json"],
        )
        .output()
        .unwrap()
        .into();
        let report = run.expect(0).json();
        assert_eq!(n(&report, "verified"), 2, "{policy}: {report}");
        std::fs::read_to_string(&trace)
            .unwrap()
            .lines()
            .filter(|p| *p == "location:dropped-from-cache")
            .count()
    };
    assert_eq!(from_media("replicate"), 0, "a mirror keeps its source");
    assert_eq!(from_media("archive"), 2, "archive deletes the source after");
}
