//! Third-party policies through the binary: install, list, info, replace,
//! remove; every kind of component that must be refused (and leaves nothing
//! installed); invalid plans in a real sync; the confirmation a replaced
//! policy needs; and the released contract staying frozen.

use crate::support::*;

use std::path::{Path, PathBuf};

use serde_json::Value;

const EXAMPLE: &str = env!("CONDUIT_FIXTURE_MIRROR_TYPES");
const MISBEHAVE: &str = env!("CONDUIT_FIXTURE_MISBEHAVE");
const LIAR: &str = env!("CONDUIT_FIXTURE_LIAR");
const EAGER: &str = env!("CONDUIT_FIXTURE_EAGER");
const WRONG_CONTRACT: &str = env!("CONDUIT_FIXTURE_WRONG_CONTRACT");

fn digest_of(path: &str) -> String {
    blake3::hash(&std::fs::read(path).unwrap())
        .to_hex()
        .to_string()
}

fn list(w: &World) -> Vec<Value> {
    w.run(&["policy", "list", "--json"])
        .expect(0)
        .json()
        .as_array()
        .unwrap()
        .clone()
}

fn names(w: &World) -> Vec<String> {
    list(w)
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

/// Component files kept in the home.
fn stored(w: &World) -> Vec<String> {
    let dir = w.home.join("policies");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".wasm"))
        .collect();
    out.sort();
    out
}

fn scratch(w: &World, name: &str, bytes: &[u8]) -> String {
    let path = w.tmp.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

#[test]
fn install_list_info_and_remove() {
    let w = World::new();
    let out = w
        .run(&["policy", "install", EXAMPLE, "--json"])
        .expect(0)
        .json();
    let digest = digest_of(EXAMPLE);
    assert_eq!(out["name"], "mirror-types");
    assert_eq!(out["contract"], "conduit:policy@1.0.0");
    assert_eq!(out["digest"], digest.as_str());
    assert_eq!(out["unchanged"], false);
    assert_eq!(stored(&w), [format!("{digest}.wasm")]);

    let listed = list(&w);
    let p = listed
        .iter()
        .find(|p| p["name"] == "mirror-types")
        .expect("listed");
    assert_eq!(p["origin"], "installed");
    assert_eq!(p["contract"], "conduit:policy@1.0.0");
    assert_eq!(p["digest"], digest.as_str());
    assert!(
        listed
            .iter()
            .filter(|p| p["name"] != "mirror-types")
            .all(|p| p["origin"] == "built-in")
    );
    let text = w.run(&["policy", "list"]).expect(0).stdout;
    let line = text
        .lines()
        .find(|l| l.starts_with("mirror-types"))
        .unwrap();
    assert!(
        line.contains("installed") && line.contains(&digest[..12]),
        "{line}"
    );

    let info = w
        .run(&["policy", "info", "mirror-types", "--json"])
        .expect(0)
        .json();
    assert_eq!(info["origin"], "installed");
    assert_eq!(
        info["installed"]["from"],
        std::fs::canonicalize(EXAMPLE).unwrap().to_str().unwrap()
    );
    let names: Vec<&str> = info["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["types", "max-size", "overwrite"]);
    let text = w.run(&["policy", "info", "mirror-types"]).expect(0).stdout;
    assert!(text.contains("installed, conduit:policy@1.0.0"), "{text}");

    // The same component again is not a clash.
    let again = w
        .run(&["policy", "install", EXAMPLE, "--json"])
        .expect(0)
        .json();
    assert_eq!(again["unchanged"], true);

    let r = w.run(&["policy", "remove", "mirror-types"]).expect(0);
    assert!(r.stdout.contains("removed policy `mirror-types`"));
    assert!(!self::names(&w).contains(&"mirror-types".to_string()));
    assert!(stored(&w).is_empty(), "the component file goes too");
    let r = w.run(&["policy", "remove", "mirror-types"]).expect(2);
    assert!(
        r.stderr
            .contains("no installed policy named `mirror-types`")
    );
    let r = w.run(&["policy", "remove", "replicate"]).expect(2);
    assert!(
        r.stderr.contains("built-ins cannot be removed"),
        "{}",
        r.stderr
    );
}

#[test]
fn names_clash_only_with_replace() {
    let w = World::new();
    w.run(&["policy", "install", EXAMPLE]).expect(0);

    // Another component under a taken name.
    let r = w
        .run(&["policy", "install", MISBEHAVE, "--name", "mirror-types"])
        .expect(2);
    assert!(r.stderr.contains("already installed"), "{}", r.stderr);
    assert!(r.stderr.contains("--replace"), "{}", r.stderr);
    assert_eq!(
        list(&w)
            .iter()
            .find(|p| p["name"] == "mirror-types")
            .unwrap()["digest"],
        digest_of(EXAMPLE).as_str()
    );

    let out = w
        .run(&[
            "policy",
            "install",
            MISBEHAVE,
            "--name",
            "mirror-types",
            "--replace",
            "--json",
        ])
        .expect(0)
        .json();
    assert_eq!(out["replaced"]["digest"], digest_of(EXAMPLE).as_str());
    assert_eq!(out["digest"], digest_of(MISBEHAVE).as_str());
    let info = w
        .run(&["policy", "info", "mirror-types", "--json"])
        .expect(0)
        .json();
    assert_eq!(info["digest"], digest_of(MISBEHAVE).as_str());
    assert_eq!(info["name"], "mirror-types", "known by its installed name");
    assert_eq!(stored(&w), [format!("{}.wasm", digest_of(MISBEHAVE))]);

    // Built-in names are reserved, replace or not; names must be usable.
    for args in [
        vec!["--name", "replicate"],
        vec!["--name", "replicate", "--replace"],
    ] {
        let mut cmd = vec!["policy", "install", EXAMPLE];
        cmd.extend(args);
        let r = w.run(&cmd).expect(2);
        assert!(r.stderr.contains("built-in policy"), "{}", r.stderr);
    }
    let r = w
        .run(&["policy", "install", EXAMPLE, "--name", "My Photos"])
        .expect(2);
    assert!(
        r.stderr.contains("not a usable policy name"),
        "{}",
        r.stderr
    );

    // Under a second name, the component is stored once.
    w.run(&["policy", "install", EXAMPLE, "--name", "photos"])
        .expect(0);
    w.run(&["policy", "install", EXAMPLE, "--name", "photos-2"])
        .expect(0);
    assert_eq!(stored(&w).len(), 2);
    w.run(&["policy", "remove", "photos"]).expect(0);
    assert_eq!(stored(&w).len(), 2, "photos-2 still uses it");
}

#[test]
fn unfit_components_are_refused_and_nothing_is_installed() {
    let w = World::new();
    let mut truncated = std::fs::read(EXAMPLE).unwrap();
    truncated.truncate(truncated.len() / 2);
    // Wasm has no checksum: damage is found where it breaks the structure,
    // here the first sections after the header.
    let mut flipped = std::fs::read(EXAMPLE).unwrap();
    for b in &mut flipped[8..40] {
        *b = !*b;
    }
    let forbidden =
        wat::parse_str(r#"(component (import "wasi:filesystem/preopens@0.2.0" (instance)))"#)
            .unwrap();
    let sockets = r#"(component (import "wasi:sockets/tcp@0.2.0" (instance)))"#;
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "a future contract",
            WRONG_CONTRACT.to_string(),
            "built against conduit:policy@2.0.0, which this Conduit does not load",
        ),
        (
            "no contract at all",
            scratch(&w, "empty.wasm", &wat::parse_str("(component)").unwrap()),
            "exports no `conduit:policy/policy` interface",
        ),
        (
            "a truncated file",
            scratch(&w, "truncated.wasm", &truncated),
            "damaged",
        ),
        (
            "flipped bytes",
            scratch(&w, "flipped.wasm", &flipped),
            "damaged",
        ),
        (
            "not WebAssembly at all",
            scratch(&w, "photo.wasm", b"\xff\xd8\xff\xe0JFIF"),
            "not a WebAssembly component",
        ),
        (
            "a core module",
            scratch(&w, "core.wasm", &wat::parse_str("(module)").unwrap()),
            "core WebAssembly module, not a component",
        ),
        (
            "a filesystem import",
            scratch(&w, "fs.wasm", &forbidden),
            "imports `wasi:filesystem/preopens@0.2.0`, which policies may not use",
        ),
        (
            "a network import (as text)",
            scratch(&w, "net.wasm", sockets.as_bytes()),
            "imports `wasi:sockets/tcp@0.2.0`",
        ),
        (
            "a describe() that promises an option value plan() refuses",
            LIAR.to_string(),
            "planning an empty diff with strategy=paranoid failed",
        ),
        (
            "a plan naming an entry that does not exist",
            EAGER.to_string(),
            "planning an empty diff with its default options returned 1 action(s) for entries \
             that do not exist",
        ),
        (
            "a missing file",
            w.tmp.path().join("nope.wasm").display().to_string(),
            "reading the component",
        ),
    ];
    for (what, file, expected) in cases {
        let r = w.run(&["policy", "install", &file]);
        assert_eq!(r.code, 1, "{what}: {}", r.stderr);
        assert!(r.stderr.contains(expected), "{what}: {}", r.stderr);
        assert!(
            !r.stderr.contains("\n  ") && r.stderr.lines().count() <= 2,
            "{what}: one clear message, no backtrace: {}",
            r.stderr
        );
    }
    assert_eq!(
        names(&w),
        ["replicate", "synchronize", "offload", "archive"]
    );
    assert!(stored(&w).is_empty());
}

#[test]
fn invalid_plans_fail_the_sync_and_change_nothing() {
    let w = World::new();
    w.run(&["policy", "install", MISBEHAVE]).expect(0);
    write(&w.a, "a.txt", "one");
    write(&w.a, "dir/b.txt", "two");
    let before = (tree(&w.a), tree(&w.b));
    let cases = [
        ("out-of-range", "returned an invalid plan"),
        ("rename-parent", "contains `..`"),
        ("rename-absolute", "is absolute"),
        ("contradict", "contradictory actions"),
        ("copy-missing", "where the entry does not exist"),
        ("rename-nul", "contains a NUL byte"),
        (
            "rename-bookkeeping",
            "inside Conduit's own `.conduit` folder",
        ),
        ("rename-long", "has a name of 300 bytes"),
        ("flood", "returned 100000 actions"),
        ("long-reason", "reason is 8388608 bytes long"),
        ("spin", "ran out of fuel"),
        ("memory-bomb", "MiB of memory"),
        ("panic", "policy `misbehave` crashed"),
        ("refuse", "this diff makes no sense to me"),
    ];
    for (i, (mode, expected)) in cases.into_iter().enumerate() {
        let name = format!("c{i}");
        w.add(&name, "misbehave", &["--set", &format!("mode={mode}")]);
        let r = w.run(&["sync", &name, "--json"]).expect(1);
        assert!(r.stderr.contains(expected), "{mode}: {}", r.stderr);
        assert_eq!((tree(&w.a), tree(&w.b)), before, "{mode}: nothing changed");
    }
    // The same policy behaving is fine, and `policy remove` waits for its users.
    w.add("ok", "misbehave", &[]);
    let r = w.sync("ok", &[], 0);
    assert_eq!(n(&r, "accepted"), 3);
    let r = w.run(&["policy", "remove", "misbehave"]).expect(2);
    assert!(r.stderr.contains("used by conduit(s) c0"), "{}", r.stderr);
}

#[test]
fn a_replaced_policy_halts_its_conduits_until_confirmed() {
    let w = World::new();
    w.run(&["policy", "install", EXAMPLE]).expect(0);
    w.add("photos", "mirror-types", &[]);
    let show = w.run(&["show", "photos", "--json"]).expect(0).json();
    assert_eq!(show["policy_digest"], digest_of(EXAMPLE).as_str());
    write(&w.a, "a.jpg", "first");
    assert_eq!(n(&w.sync("photos", &[], 0), "copied"), 1);

    // Another component takes the name.
    let out = w
        .run(&[
            "policy",
            "install",
            MISBEHAVE,
            "--name",
            "mirror-types",
            "--replace",
            "--json",
        ])
        .expect(0)
        .json();
    assert_eq!(out["to_confirm"], serde_json::json!(["photos"]));
    let new = digest_of(MISBEHAVE);

    write(&w.a, "b.jpg", "second");
    for extra in [&[][..], &["--dry-run"][..]] {
        let r = w.sync("photos", extra, 4);
        let halted = r["halted"].as_str().expect("halted");
        assert!(halted.contains("was replaced"), "{halted}");
        assert!(
            halted.contains(&format!("conduit set photos policy-digest={new}")),
            "{halted}"
        );
    }
    let r = w.run(&["sync", "photos"]).expect(4);
    assert!(r.stdout.contains("policy-digest=") || r.stderr.contains("policy-digest="));
    assert_eq!(read(&w.b, "b.jpg"), None, "nothing ran");

    // A wrong or too short digest is refused; the right one (a 12-digit
    // prefix is enough) is recorded.
    let r = w
        .run(&[
            "set",
            "photos",
            &format!("policy-digest={}", digest_of(EXAMPLE)),
        ])
        .expect(2);
    assert!(
        r.stderr.contains(&new),
        "the message names the digest to use: {}",
        r.stderr
    );
    w.run(&["set", "photos", &format!("policy-digest={}", &new[..6])])
        .expect(2);
    w.run(&["set", "photos", &format!("policy-digest={}", &new[..12])])
        .expect(0);
    let show = w.run(&["show", "photos", "--json"]).expect(0).json();
    assert_eq!(show["policy_digest"], new.as_str());
    let r = w.sync("photos", &[], 0);
    assert_eq!(n(&r, "accepted"), 1, "the new component ran: {r}");

    // Back to the example: confirm again, with the full digest this time.
    w.run(&["policy", "install", EXAMPLE, "--replace"])
        .expect(0);
    w.sync("photos", &[], 4);
    w.run(&[
        "set",
        "photos",
        &format!("policy-digest={}", digest_of(EXAMPLE)),
    ])
    .expect(0);
    assert_eq!(n(&w.sync("photos", &[], 0), "copied"), 1);
    assert_eq!(read(&w.b, "b.jpg").as_deref(), Some("second"));
}

#[test]
fn a_damaged_installed_component_is_not_run() {
    let w = World::new();
    w.run(&["policy", "install", EXAMPLE]).expect(0);
    w.add("photos", "mirror-types", &[]);
    write(&w.a, "a.jpg", "x");
    let stored = w
        .home
        .join("policies")
        .join(format!("{}.wasm", digest_of(EXAMPLE)));
    let mut bytes = std::fs::read(&stored).unwrap();
    bytes.push(0);
    std::fs::write(&stored, bytes).unwrap();
    let r = w.run(&["sync", "photos"]).expect(1);
    assert!(r.stderr.contains("is damaged"), "{}", r.stderr);
    assert!(r.stderr.contains("--replace"), "{}", r.stderr);
    assert!(tree(&w.b).is_empty());
    // `policy list` still lists everything, the damaged one with its reason.
    let listed = list(&w);
    assert_eq!(listed.len(), 5);
    let broken = listed.iter().find(|p| p["name"] == "mirror-types").unwrap();
    assert!(
        broken["error"].as_str().unwrap().contains("is damaged"),
        "{broken}"
    );
    // Reinstalling the original repairs it.
    w.run(&["policy", "install", EXAMPLE, "--replace"])
        .expect(0);
    assert_eq!(n(&w.sync("photos", &[], 0), "copied"), 1);
}

#[test]
fn the_example_policy_end_to_end() {
    let w = World::new();
    w.run(&["policy", "install", EXAMPLE]).expect(0);
    write(&w.a, "DCIM/a.jpg", "photo a");
    write(&w.a, "DCIM/b.PNG", "photo b");
    write(&w.a, "DCIM/notes.txt", "not a photo");
    write(&w.a, "big.jpg", &"x".repeat(4096));
    write(&w.b, "only-here.jpg", "the destination's own");
    w.add(
        "photos",
        "mirror-types",
        &["--set", "types=jpg,png", "--set", "max-size=1K"],
    );

    let plan = w.sync("photos", &["--dry-run"], 0);
    assert_eq!(n(&plan, "copied"), 2);
    assert!(tree(&w.b).len() == 1, "a dry run changes nothing");

    let r = w.sync("photos", &[], 0);
    assert_eq!(n(&r, "copied"), 2, "{r}");
    assert_eq!(n(&r, "skipped"), 1, "big.jpg: {r}");
    assert_eq!(n(&r, "deleted"), 0);
    let b = tree(&w.b);
    assert_eq!(b.get("DCIM/a.jpg").map(String::as_str), Some("photo a"));
    assert_eq!(b.get("DCIM/b.PNG").map(String::as_str), Some("photo b"));
    assert!(!b.contains_key("DCIM/notes.txt") && !b.contains_key("big.jpg"));
    assert!(b.contains_key("only-here.jpg"));

    // Deleting in the source never deletes in the destination.
    std::fs::remove_file(w.a.join("DCIM/a.jpg")).unwrap();
    let r = w.sync("photos", &[], 0);
    assert_eq!(n(&r, "deleted"), 0);
    assert_eq!(read(&w.b, "DCIM/a.jpg").as_deref(), Some("photo a"));

    // A newer source version replaces the destination's; with
    // overwrite=never it would not.
    write(&w.a, "DCIM/b.PNG", "photo b, edited");
    set_mtime(&w.a, "DCIM/b.PNG", 2_000_000_000);
    w.run(&["set", "photos", "overwrite=never"]).expect(0);
    let r = w.sync("photos", &[], 0);
    assert_eq!(n(&r, "copied"), 0, "{r}");
    assert_eq!(read(&w.b, "DCIM/b.PNG").as_deref(), Some("photo b"));
    w.run(&["set", "photos", "overwrite=newer"]).expect(0);
    let r = w.sync("photos", &[], 0);
    assert_eq!(n(&r, "copied"), 1, "{r}");
    assert_eq!(read(&w.b, "DCIM/b.PNG").as_deref(), Some("photo b, edited"));
    assert_eq!(trash(&w.b).len(), 1, "the old version is in the trash");

    // Options are checked against the installed policy's schema.
    let r = w.run(&["set", "photos", "overwrite=sometimes"]).expect(2);
    assert!(
        r.stderr.contains("one of newer, always, never"),
        "{}",
        r.stderr
    );
    let c = w.tmp.path().join("c");
    std::fs::create_dir(&c).unwrap();
    let r = w.run(&[
        "add",
        "other",
        w.a.to_str().unwrap(),
        c.to_str().unwrap(),
        "--policy",
        "mirror-typo",
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("mirror-types"),
        "lists what exists: {}",
        r.stderr
    );
}

#[test]
fn an_embedding_app_registers_a_policy_from_bytes() {
    use conduit::api::{Host, InstallOptions, NewConduit, SyncOptions};
    use conduit::policy::Origin;

    let w = World::new();
    let bytes = std::fs::read(EXAMPLE).unwrap();
    let mut host = Host::open(&w.home).unwrap();
    let report = host
        .install_policy(
            &bytes,
            &InstallOptions {
                name: Some("app-photos".into()),
                from: Some("photo-app 2.1".into()),
                ..InstallOptions::default()
            },
        )
        .unwrap();
    assert_eq!(report.installed.name, "app-photos");
    let listed = host.policies().unwrap();
    let ours = listed.iter().find(|l| l.name == "app-photos").unwrap();
    assert_eq!(ours.policy.as_ref().unwrap().origin(), Origin::Installed);
    assert_eq!(
        ours.installed.as_ref().unwrap().from.as_deref(),
        Some("photo-app 2.1")
    );

    // Bytes that fail the checks are an error, with nothing registered.
    let err = host
        .install_policy(&std::fs::read(LIAR).unwrap(), &InstallOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("install checks"), "{err}");

    write(&w.a, "x.jpg", "x");
    host.add(NewConduit::new("app", &w.a, &w.b, "app-photos"))
        .unwrap();
    let report = host.sync("app", &SyncOptions::default(), &|_| {}).unwrap();
    assert_eq!(report.counts.copied, 1);
    assert_eq!(read(&w.b, "x.jpg").as_deref(), Some("x"));

    // The CLI sees what the app registered.
    let info = w
        .run(&["policy", "info", "app-photos", "--json"])
        .expect(0)
        .json();
    assert_eq!(info["used_by"], serde_json::json!(["app"]));

    assert!(host.remove_policy("app-photos").is_err(), "in use");
    host.remove("app").unwrap();
    host.remove_policy("app-photos").unwrap();
    assert!(host.load_policy("app-photos").is_err());
}

/// The text of a WIT file without comments and blank lines.
fn wit_definitions(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| l.split("//").next().unwrap().trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn released_contracts_are_frozen_and_all_supported() {
    let wit = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let current = wit_definitions(&wit.join("policy.wit"));
    let version = current
        .lines()
        .find_map(|l| l.strip_prefix("package conduit:policy@"))
        .and_then(|v| v.strip_suffix(';'))
        .expect("a versioned package");
    assert_eq!(
        format!("conduit:policy@{version}"),
        conduit::policy::CONTRACT,
        "the host's bindings speak the version in wit/policy.wit"
    );
    let mut released: Vec<String> = std::fs::read_dir(wit.join("released"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    released.sort();
    assert!(
        released.iter().any(|v| v == version),
        "wit/released/{version}/ must hold the released copy of the current contract"
    );
    for v in &released {
        assert!(
            conduit::policy::SUPPORTED_CONTRACTS.contains(&v.as_str()),
            "the host must keep loading released contract {v}"
        );
    }
    // A component built against the oldest frozen contract loads and plans.
    let runtime = conduit::policy::Runtime::new(None).unwrap();
    let v1 = runtime
        .check(
            "contract-1.0.0",
            &std::fs::read(env!("CONDUIT_FIXTURE_CONTRACT_1_0_0")).unwrap(),
        )
        .expect("a 1.0.0 component passes the install checks");
    assert_eq!(v1.contract(), "conduit:policy@1.0.0");
    install_and_sync_one_file(&v1);

    assert_eq!(
        current,
        wit_definitions(&wit.join("released").join(version).join("policy.wit")),
        "a released contract may change only in its comments; anything else is a new version \
         (docs/contract-versioning.md)"
    );
}

/// Install the 1.0.0 fixture through the binary and sync one file with it.
fn install_and_sync_one_file(p: &conduit::policy::LoadedPolicy) {
    let w = World::new();
    w.run(&["policy", "install", env!("CONDUIT_FIXTURE_CONTRACT_1_0_0")])
        .expect(0);
    w.add("v1", &p.info().name, &[]);
    write(&w.a, "a.txt", "made for 1.0.0");
    assert_eq!(n(&w.sync("v1", &[], 0), "copied"), 1);
    assert_eq!(read(&w.b, "a.txt").as_deref(), Some("made for 1.0.0"));
}
