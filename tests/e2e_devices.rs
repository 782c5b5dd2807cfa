//! End to end through the binary, between two homes in two processes over
//! loopback: pairing and refusal, every policy with a root on a paired
//! device (the synchronize change matrix whole), the device's own
//! validation, transfers cut off and resumed, damaged chunks, a full disk
//! there, and the device going away and coming back.

use crate::support::*;

use std::path::Path;

/// The first lines of `far`'s log that mention `what`.
fn logged(far: &Far, what: &str) -> Vec<String> {
    far.log()
        .lines()
        .filter(|l| l.contains(what))
        .map(str::to_string)
        .collect()
}

/// The value of `key=` in a log line.
fn field(line: &str, key: &str) -> Option<u64> {
    let at = line.find(&format!("{key}="))? + key.len() + 1;
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[test]
fn pairing_is_explicit_and_strangers_and_impostors_are_refused() {
    let far = Far::start();
    let w = World::new();
    write(&w.a, "f.txt", "mine");

    // A typo in an ID is caught, not paired.
    let mut typo = far.id.clone().into_bytes();
    typo[3] = if typo[3] == b'A' { b'B' } else { b'A' };
    let typo = String::from_utf8(typo).unwrap();
    let r = w
        .run(&["device", "add", "far", &typo, &far.address])
        .expect(2);
    assert!(r.stderr.contains("check characters"), "{}", r.stderr);

    // Paired on this side only: the device refuses, and nothing there changes.
    w.run(&["device", "add", "far", &far.id, &far.address])
        .expect(0);
    let b = format!("far:{}", w.b.display());
    let r = w.run(&[
        "add",
        "x",
        w.a.to_str().unwrap(),
        &b,
        "--policy",
        "replicate",
    ]);
    let r = r.expect(2);
    assert!(
        r.stderr
            .contains("refused this home: it is not paired there"),
        "{}",
        r.stderr
    );
    assert!(
        !logged(
            &far,
            "refused a connection from a device that is not paired"
        )
        .is_empty(),
        "{}",
        far.log()
    );
    assert!(tree(&w.b).is_empty(), "nothing written on the device");

    // An impostor: another home answers at the device's address.
    let other = World::new();
    let other_id = other.run(&["device", "id"]).expect(0).stdout;
    let z = World::new();
    z.run(&["device", "add", "far", other_id.trim(), &far.address])
        .expect(0);
    let b = format!("far:{}", z.b.display());
    let r = z.run(&[
        "add",
        "x",
        z.a.to_str().unwrap(),
        &b,
        "--policy",
        "replicate",
    ]);
    let r = r.expect(2);
    assert!(r.stderr.contains("did not prove it is far"), "{}", r.stderr);

    // Paired on both sides: it works, and the listing says so.
    let id = w.run(&["device", "id"]).expect(0).stdout;
    far.run(&["device", "add", "laptop", id.trim()]).expect(0);
    w.run(&[
        "add",
        "x",
        w.a.to_str().unwrap(),
        &format!("far:{}", w.b.display()),
        "--policy",
        "replicate",
    ])
    .expect(0);
    w.sync("x", &[], 0);
    assert_eq!(read(&w.b, "f.txt").as_deref(), Some("mine"));
    let list = w.run(&["device", "list", "--json"]).expect(0).json();
    assert_eq!(list[0]["name"], "far", "{list}");
    assert_eq!(list[0]["conduits"][0], "x", "{list}");
    assert!(list[0]["last_seen"].is_string(), "{list}");
    // A device a conduit uses is not unpaired from under it.
    let r = w.run(&["device", "remove", "far"]).expect(2);
    assert!(r.stderr.contains("holds a root of x"), "{}", r.stderr);
    // Unpaired on the device: refused again.
    far.run(&["device", "remove", "laptop"]).expect(0);
    let r = w.run(&["sync", "x", "--json"]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(r.stdout.contains("not paired there"), "{}", r.stdout);
}

#[test]
fn replicate_to_a_device_verifies_there_trashes_there_and_sends_only_changes() {
    let far = Far::start();
    let w = World::new();
    write(&w.a, "docs/a.txt", "alpha");
    write(&w.a, "docs/b.txt", "beta");
    write_bytes(&w.a, "big.bin", &vec![7u8; 3 << 20]);
    far.add(&w, "rep", "replicate", &[]);
    let r = w.sync("rep", &[], 0);
    assert_eq!((n(&r, "copied"), n(&r, "verified")), (3, 3), "{r}");
    assert_eq!(tree(&w.b), tree(&w.a));

    // Idle runs: the second lists what the first wrote; from then on the
    // device sends no entry, only that nothing changed.
    w.sync("rep", &[], 0);
    let r = w.sync("rep", &[], 0);
    assert_eq!(
        n(&r, "copied") + n(&r, "updated") + n(&r, "deleted"),
        0,
        "{r}"
    );
    let last = logged(&far, "sent a listing").pop().unwrap();
    assert_eq!(field(&last, "changed"), Some(0), "{last}");
    assert!(last.contains("difference=true"), "{last}");

    // Changes: an edit and a delete; what they displace goes to the
    // device's trash, and only the changed entries come back.
    write(&w.a, "docs/a.txt", "alpha, edited");
    std::fs::remove_file(w.a.join("docs/b.txt")).unwrap();
    let r = w.sync("rep", &[], 0);
    assert_eq!((n(&r, "copied"), n(&r, "deleted")), (1, 1), "{r}");
    assert_eq!(tree(&w.b), tree(&w.a));
    let trashed: Vec<String> = trash_contents(&w.b).into_values().collect();
    assert!(trashed.contains(&"alpha".to_string()), "{trashed:?}");
    assert!(trashed.contains(&"beta".to_string()), "{trashed:?}");
    let last = logged(&far, "sent a listing").pop().unwrap();
    assert!(field(&last, "changed").unwrap() <= 3, "{last}");

    // `verify` re-reads on the device: a flipped byte there is caught.
    flip_a_byte(&w.b, "docs/a.txt");
    let v = w.run(&["verify", "rep", "--json"]).expect(3).json();
    assert!(v["corrupted"].to_string().contains("docs/a.txt"), "{v}");

    // Restore from the device's trash.
    w.run(&["restore", "rep", "docs/b.txt"]).expect(0);
    assert_eq!(read(&w.b, "docs/b.txt").as_deref(), Some("beta"));
}

#[test]
fn replicate_from_a_device_pulls_its_content() {
    let far = Far::start();
    let w = World::new();
    write(&w.b, "remote.txt", "from the device");
    write(&w.b, "d/e.txt", "deeper");
    far.pair(&w);
    let a = format!("far:{}", w.b.display());
    w.run(&[
        "add",
        "pull",
        &a,
        w.a.to_str().unwrap(),
        "--policy",
        "replicate",
    ])
    .expect(0);
    let r = w.sync("pull", &[], 0);
    assert_eq!((n(&r, "copied"), n(&r, "verified")), (2, 2), "{r}");
    assert_eq!(tree(&w.a), tree(&w.b));
}

#[test]
fn the_synchronize_change_matrix_holds_with_the_destination_on_a_device() {
    use crate::e2e_synchronize::*;
    let far = Far::start();
    let tables = [
        one_sided_rows(),
        agreeing_rows(),
        differing_rows(),
        file_folder_rows(),
        rename_rows(),
    ];
    for row in tables.iter().flatten() {
        check(row, Some(&far));
    }
}

#[test]
fn archive_to_a_device_removes_a_source_only_after_the_device_verified_it() {
    let far = Far::start();
    let w = World::new();
    write(&w.a, "2019/tax.pdf", "tax");
    write(&w.a, "2019/scan.png", "scan");
    far.add(&w, "shelf", "archive", &[]);
    let r = w.sync("shelf", &[], 0);
    assert_eq!((n(&r, "moved"), n(&r, "verified")), (2, 2), "{r}");
    assert!(tree(&w.a).is_empty(), "{:?}", tree(&w.a));
    assert_eq!(read(&w.b, "2019/tax.pdf").as_deref(), Some("tax"));
    let manifest = std::fs::read_to_string(w.b.join(".conduit/archive-manifest.jsonl")).unwrap();
    assert_eq!(manifest.lines().count(), 2);

    // A copy the device cannot verify keeps its source: the device is gone
    // before the run starts, so nothing moves.
    write(&w.a, "2020/new.txt", "new");
    let mut far = far;
    far.stop();
    let r = w.run(&["sync", "shelf", "--json"]).expect(4).json();
    assert!(
        r["halted"].as_str().unwrap().contains("device offline"),
        "{r}"
    );
    assert_eq!(read(&w.a, "2020/new.txt").as_deref(), Some("new"));
    far.restart();
    let r = w.sync("shelf", &[], 0);
    assert_eq!(n(&r, "moved"), 1, "{r}");
    assert_eq!(read(&w.b, "2020/new.txt").as_deref(), Some("new"));
}

#[test]
fn offload_to_a_device_evicts_and_hydrates_back() {
    let far = Far::start();
    let w = World::new();
    write(&w.a, "cold.bin", "cold content");
    let long_ago = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(w.a.join("cold.bin"))
        .unwrap()
        .set_times(
            std::fs::FileTimes::new()
                .set_accessed(long_ago)
                .set_modified(long_ago),
        )
        .unwrap();
    far.add(
        &w,
        "cache",
        "offload",
        &["--set", "source-capacity=1T", "--set", "evict-after=30d"],
    );
    let r = w.sync("cache", &[], 0);
    assert_eq!(n(&r, "evicted"), 1, "{r}");
    assert!(read(&w.a, "cold.bin").is_none());
    assert_eq!(read(&w.b, "cold.bin").as_deref(), Some("cold content"));
    w.run(&["hydrate", "cache", "cold.bin"]).expect(0);
    assert_eq!(read(&w.a, "cold.bin").as_deref(), Some("cold content"));
}

/// A 200 MB file whose connection the device drops a quarter of the way:
/// the sender dials again and the transfer goes on from what arrived, so
/// the device receives every byte once.
#[test]
fn a_transfer_cut_off_resumes_without_resending_what_arrived() {
    let far = Far::start_with(Some("device:received-chunk@50:fault"));
    let w = World::new();
    let size: usize = 200_000_000;
    let content: Vec<u8> = (0..size).map(|i| (i * 7 % 251) as u8).collect();
    write_bytes(&w.a, "video.mov", &content);
    far.add(&w, "big", "replicate", &[]);
    let r = w.sync("big", &[], 0);
    assert_eq!((n(&r, "copied"), n(&r, "verified")), (1, 1), "{r}");
    assert!(std::fs::read(w.b.join("video.mov")).unwrap() == content);
    let resumed = logged(&far, "a transfer resumes");
    assert_eq!(resumed.len(), 1, "{}", far.log());
    assert_eq!(
        field(&resumed[0], "offset"),
        Some(49 << 20),
        "{}",
        resumed[0]
    );
    let received = logged(&far, "received a copy").pop().unwrap();
    assert_eq!(field(&received, "bytes"), Some(size as u64), "{received}");
}

#[test]
fn a_chunk_damaged_on_the_way_is_caught_and_sent_again() {
    let far = Far::start();
    let w = World::new();
    let content: Vec<u8> = (0..5_000_000u32).map(|i| (i % 253) as u8).collect();
    write_bytes(&w.a, "data.bin", &content);
    far.add(&w, "dmg", "replicate", &[]);
    let r = with_hook(&w, "device:send-chunk@3:fault", &["sync", "dmg", "--json"])
        .output()
        .unwrap();
    let r = Run::from(r).expect(0).json();
    assert_eq!(n(&r, "verified"), 1, "{r}");
    assert!(std::fs::read(w.b.join("data.bin")).unwrap() == content);
    assert_eq!(logged(&far, "arrived damaged").len(), 1, "{}", far.log());
}

#[test]
fn a_full_disk_on_the_device_fails_that_copy_with_a_message_naming_it() {
    let w = World::new();
    let Some(_disk) = SmallDisk::mount(&w.b, "1m") else {
        eprintln!("SKIPPED a_full_disk_on_the_device_fails_that_copy: cannot mount a tmpfs here");
        return;
    };
    // Declared after the disk so it stops (closing its handles on the root) before the unmount.
    let far = Far::start();
    write(&w.a, "small.txt", "fits");
    write_bytes(&w.a, "huge.bin", &vec![1u8; 3 << 20]);
    far.add(&w, "full", "replicate", &[]);
    let r = w.sync("full", &[], 3);
    assert_eq!((n(&r, "copied"), n(&r, "failed")), (1, 1), "{r}");
    assert!(r.to_string().contains("device far"), "{r}");
    assert_eq!(read(&w.b, "small.txt").as_deref(), Some("fits"));
    assert!(!w.b.join("huge.bin").exists());
    assert!(temp_files(&w.b).is_empty(), "{:?}", temp_files(&w.b));
}

#[test]
fn a_device_that_goes_away_pauses_its_conduits_until_it_is_back() {
    let mut far = Far::start();
    let w = World::new();
    write(&w.a, "one.txt", "1");
    far.add(&w, "away", "replicate", &["--cadence", "1s"]);
    let mut watch = w
        .cmd()
        .args(["watch", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let events = std::io::BufRead::lines(std::io::BufReader::new(watch.stdout.take().unwrap()));
    let (tx, rx) = std::sync::mpsc::channel::<serde_json::Value>();
    std::thread::spawn(move || {
        for line in events.map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                let _ = tx.send(v);
            }
        }
    });
    let wait_for = |what: &dyn Fn(&serde_json::Value) -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            match rx.recv_timeout(left) {
                Ok(v) if what(&v) => return v,
                Ok(v) => seen.push(v.to_string()),
                Err(_) => break,
            }
        }
        panic!("the event did not come; saw:\n{}", seen.join("\n"));
    };
    wait_for(&|v| v["event"] == "finished" && v["copied"] == 1);
    far.stop();
    let paused = wait_for(&|v| v["event"] == "state" && v["state"] == "paused");
    assert!(
        paused["detail"]
            .as_str()
            .unwrap()
            .contains("device offline"),
        "{paused}"
    );
    write(&w.a, "two.txt", "2");
    far.restart();
    wait_for(&|v| v["event"] == "finished" && v["copied"] == 1);
    assert_eq!(read(&w.b, "two.txt").as_deref(), Some("2"));
    let _ = watch.kill();
    let _ = watch.wait();
}

#[test]
fn device_roots_are_checked_when_a_conduit_is_added() {
    let far = Far::start();
    let w = World::new();
    far.pair(&w);
    let add = |b: &str| {
        w.run(&[
            "add",
            "x",
            w.a.to_str().unwrap(),
            b,
            "--policy",
            "replicate",
        ])
    };
    let r = add("nas:/srv").expect(2);
    assert!(r.stderr.contains("no device named `nas`"), "{}", r.stderr);
    let r = add("far:relative/path").expect(2);
    assert!(r.stderr.contains("absolute path"), "{}", r.stderr);
    let missing = format!("far:{}", Path::new(&w.b).join("absent").display());
    let r = add(&missing).expect(2);
    assert!(r.stderr.contains("absent"), "{}", r.stderr);
    // A local folder whose name has a colon is written ./NAME.
    std::fs::create_dir_all(w.tmp.path().join("far:x")).unwrap();
    let cwd_add = w
        .cmd()
        .current_dir(w.tmp.path())
        .args([
            "add",
            "y",
            w.a.to_str().unwrap(),
            "./far:x",
            "--policy",
            "replicate",
        ])
        .output()
        .unwrap();
    Run::from(cwd_add).expect(0);
}

#[test]
fn a_bandwidth_limit_holds_transfers_with_a_device_to_it() {
    let far = Far::start();
    let w = World::new();
    let content = vec![3u8; 3 << 20];
    write_bytes(&w.a, "slow.bin", &content);
    far.add(&w, "slow", "replicate", &["--set", "bandwidth=1M"]);
    let show = w.run(&["show", "slow", "--json"]).expect(0).json();
    assert_eq!(show["bandwidth"], 1 << 20, "{show}");
    let started = std::time::Instant::now();
    let r = w.sync("slow", &[], 0);
    // 3 MiB at 1 MiB a second cannot take less than 2 s (the first second's
    // worth goes at once).
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "{r}"
    );
    assert!(std::fs::read(w.b.join("slow.bin")).unwrap() == content);
    w.run(&["set", "slow", "bandwidth=fast"]).expect(2);
    w.run(&["set", "slow", "bandwidth=none"]).expect(0);
}

#[test]
fn the_http_api_lists_devices_and_whether_the_service_is_connected_to_them() {
    let far = Far::start();
    let w = World::new();
    write(&w.a, "f.txt", "x");
    far.add(&w, "docs", "replicate", &[]);
    let server = crate::e2e_serve::Server::start(&w);
    let (status, devices) = server.get("/api/devices");
    assert_eq!(status, 200, "{devices}");
    assert_eq!(devices[0]["name"], "far", "{devices}");
    assert_eq!(devices[0]["conduits"][0], "docs", "{devices}");
    // The service reads the conduit's ignore rules on the device at start.
    assert!(wait_until(
        30,
        || server.get("/api/devices").1[0]["connected"] == true
    ));
    let (status, body) = server.call("POST", "/api/conduits/docs/sync", None);
    assert!(status < 300, "{status} {body}");
    assert!(wait_until(30, || read(&w.b, "f.txt").is_some()));
    assert!(wait_until(30, || {
        server.get("/api/devices").1[0]["last_seen"].is_string()
    }));
    let status = w.run(&["status"]).expect(0).stdout;
    assert!(status.contains("device far ("), "{status}");
}
