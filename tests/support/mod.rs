//! Helpers for end-to-end tests: run the real `conduit` binary against real
//! temporary folders, and build and read trees on disk.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A scratch world: a home for the index and two roots, `a` (source) and
/// `b` (destination), all inside one temporary directory.
pub struct World {
    pub tmp: tempfile::TempDir,
    pub home: PathBuf,
    pub a: PathBuf,
    pub b: PathBuf,
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The stdout parsed as one JSON value (for `--json` commands about one conduit).
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Each stdout line parsed as JSON (`sync --json` of several conduits).
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// Assert the exit code, showing the output when it differs.
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl World {
    pub fn new() -> World {
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = tmp.path().join("home");
        let a = tmp.path().join("a");
        let b = tmp.path().join("b");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        World { tmp, home, a, b }
    }

    /// A `conduit` command with this world's home.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_conduit"));
        cmd.arg("--home").arg(&self.home);
        cmd.env_remove("CONDUIT_HOME");
        cmd
    }

    /// Run `conduit ARGS...`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.cmd().args(args).output().expect("run conduit").into()
    }

    /// `conduit add NAME a b --policy P EXTRA...`, which must succeed.
    pub fn add(&self, name: &str, policy: &str, extra: &[&str]) {
        let mut args = vec![
            "add",
            name,
            self.a.to_str().unwrap(),
            self.b.to_str().unwrap(),
            "--policy",
            policy,
        ];
        args.extend_from_slice(extra);
        self.run(&args).expect(0);
    }

    /// `conduit add NAME a b --policy offload EXTRA...` on a source assumed to
    /// be a 1 TiB volume holding only this conduit's files. Without that the
    /// machine's real free space decides: on a disk under offload's default
    /// `min-free` of 10%, every file is evicted whatever the test sets.
    pub fn add_cache(&self, name: &str, extra: &[&str]) {
        let mut args = vec!["--set", "source-capacity=1T"];
        args.extend_from_slice(extra);
        self.add(name, "offload", &args);
    }

    /// `conduit sync NAME --json EXTRA...`, expecting `code`; returns the report.
    /// `sync NAME --dry-run --json`, checking that it wrote nothing: the
    /// index file is byte for byte the same, `status` and `history` say
    /// the same. Returns the report.
    pub fn dry_run(&self, name: &str) -> Value {
        let index = self.home.join("index.sqlite");
        let seen = || {
            (
                std::fs::read(&index).unwrap(),
                self.run(&["status", name, "--json"]).expect(0).stdout,
                self.run(&["history", name, "--json"]).expect(0).stdout,
            )
        };
        let before = seen();
        let report = self.sync(name, &["--dry-run"], 0);
        let after = seen();
        assert!(
            before.0 == after.0,
            "a dry run leaves the index file as it was"
        );
        assert_eq!(before.1, after.1, "a dry run leaves `status` as it was");
        assert_eq!(before.2, after.2, "a dry run leaves `history` as it was");
        report
    }

    pub fn sync(&self, name: &str, extra: &[&str], code: i32) -> Value {
        let mut args = vec!["sync", name, "--json"];
        args.extend_from_slice(extra);
        self.run(&args).expect(code).json()
    }
}

/// Write `content` at `root/rel`, creating parent folders.
pub fn write(root: &Path, rel: &str, content: &str) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

pub fn read(root: &Path, rel: &str) -> Option<String> {
    std::fs::read_to_string(root.join(rel)).ok()
}

/// Set a file's mtime to `secs` after the epoch.
pub fn set_mtime(root: &Path, rel: &str, secs: i64) {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64);
    let f = std::fs::File::options()
        .write(true)
        .open(root.join(rel))
        .unwrap();
    f.set_modified(t).unwrap();
}

pub fn set_mode(root: &Path, rel: &str, mode: u32) {
    std::fs::set_permissions(root.join(rel), std::fs::Permissions::from_mode(mode)).unwrap();
}

pub fn mode(root: &Path, rel: &str) -> u32 {
    std::fs::symlink_metadata(root.join(rel)).unwrap().mode() & 0o7777
}

pub fn mtime(root: &Path, rel: &str) -> i64 {
    std::fs::symlink_metadata(root.join(rel)).unwrap().mtime()
}

/// Every path under `root` except Conduit's `.conduit` folder, mapped to
/// its content (`dir/` for directories, `-> target` for symlinks).
pub fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if rel == ".conduit" {
            continue;
        }
        let ft = entry.file_type().unwrap();
        if ft.is_symlink() {
            out.insert(
                rel,
                format!("-> {}", std::fs::read_link(&path).unwrap().display()),
            );
        } else if ft.is_dir() {
            out.insert(rel.clone(), "dir/".into());
            walk(root, &path, out);
        } else {
            out.insert(
                rel,
                String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned(),
            );
        }
    }
}

/// Files in a root's trash (relative to the trash folder, generation first).
pub fn trash(root: &Path) -> Vec<String> {
    let t = root.join(".conduit").join("trash");
    if !t.exists() {
        return Vec::new();
    }
    let mut out: Vec<String> = tree(&t)
        .into_iter()
        .filter(|(_, v)| v != "dir/")
        .map(|(k, _)| k)
        .collect();
    out.sort();
    out
}

/// The JSON report's counter `key` as a number.
pub fn n(report: &Value, key: &str) -> u64 {
    report[key]
        .as_u64()
        .unwrap_or_else(|| panic!("report has no counter {key}: {report}"))
}

/// Everything under `path`, Conduit's `.conduit` folder included: kind,
/// mode, mtime (ns) and a content hash per path. Equal snapshots mean a run
/// changed nothing on disk at all.
pub fn snapshot(path: &Path) -> BTreeMap<String, String> {
    fn visit(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let stamp = format!(
                "{:o} {}.{:09}",
                meta.mode() & 0o7777,
                meta.mtime(),
                meta.mtime_nsec()
            );
            let what = if meta.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                visit(root, &path, out);
                "dir/".to_string()
            } else {
                let hash = blake3::hash(&std::fs::read(&path).unwrap());
                format!("{} bytes #{}", meta.len(), &hash.to_hex()[..16])
            };
            out.insert(rel, format!("{what} {stamp}"));
        }
    }
    let mut out = BTreeMap::new();
    if path.exists() {
        visit(path, path, &mut out);
    }
    out
}

/// Poll `cond` until it holds or `secs` seconds pass; false on time-out.
pub fn wait_until(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    cond()
}

/// A `conduit` command with the test hook `hook` armed (host/src/testhook.rs).
pub fn with_hook(w: &World, hook: &str, args: &[&str]) -> Command {
    let mut cmd = w.cmd();
    cmd.env("CONDUIT_TEST_HOOK", hook).args(args);
    cmd
}

/// Start `args` with a pause hook at `point`; returns once the run is held
/// there, with the file whose removal lets it go on.
pub fn paused_at(w: &World, point: &str, args: &[&str]) -> (std::process::Child, PathBuf) {
    let gate = w
        .tmp
        .path()
        .join(format!("gate-{}", point.replace(':', "-")));
    let child = with_hook(w, &format!("{point}:pause={}", gate.display()), args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_until(60, || gate.exists()), "the run reached {point}");
    (child, gate)
}

/// Wait for a started run and collect what it printed.
pub fn finish(child: std::process::Child) -> Run {
    child.wait_with_output().unwrap().into()
}

/// Copies staged but not committed: the files in `root`'s staging area
/// (`.conduit/tmp/RUN/N`). Safe to call while a run changes the tree:
/// vanished entries are passed over.
pub fn temp_files(root: &Path) -> Vec<String> {
    let area = root.join(".conduit/tmp");
    let mut out = Vec::new();
    for run in std::fs::read_dir(&area).into_iter().flatten().flatten() {
        for staged in std::fs::read_dir(run.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if staged.file_type().is_ok_and(|t| !t.is_dir()) {
                out.push(format!(
                    "{}/{}",
                    run.file_name().to_string_lossy(),
                    staged.file_name().to_string_lossy()
                ));
            }
        }
    }
    out.sort();
    out
}

/// Write raw `bytes` at `root/rel`, creating parent folders.
pub fn write_bytes(root: &Path, rel: &str, bytes: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// A root's trash as `generation/path` -> content (files only).
pub fn trash_contents(root: &Path) -> BTreeMap<String, String> {
    let dir = root.join(".conduit").join("trash");
    trash(root)
        .into_iter()
        .map(|slot| {
            let bytes = std::fs::read(dir.join(&slot)).unwrap();
            (slot, String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect()
}

/// A dry run's report lists each of `paths` in its plan, and neither root
/// differs from its snapshot taken before the run (`before_a`, `before_b`).
pub fn assert_dry_run(
    w: &World,
    report: &Value,
    paths: &[&str],
    before_a: &BTreeMap<String, String>,
    before_b: &BTreeMap<String, String>,
) {
    let plan: Vec<&str> = report["items"]
        .as_array()
        .expect("a dry run lists its plan")
        .iter()
        .map(|i| i["detail"].as_str().unwrap())
        .collect();
    for path in paths {
        assert!(
            plan.iter().any(|l| l.contains(path)),
            "{path} in the plan {plan:?}"
        );
    }
    assert_eq!(
        &snapshot(&w.a),
        before_a,
        "a dry run changes nothing in the source"
    );
    assert_eq!(
        &snapshot(&w.b),
        before_b,
        "a dry run changes nothing in the destination"
    );
}

/// Flip one byte of `root/rel` in place, keeping its size and mtime, as bit
/// rot would.
pub fn flip_a_byte(root: &Path, rel: &str) {
    let path = root.join(rel);
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0] ^= 0x20;
    std::fs::write(&path, bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(modified)
        .unwrap();
}

/// A second Conduit home serving as a paired device: `conduit watch
/// --devices 127.0.0.1:0` in its own process, answering for folders of
/// this machine (the tests' roots), as a device on the network would.
pub struct Far {
    pub tmp: tempfile::TempDir,
    pub home: PathBuf,
    /// Its device ID.
    pub id: String,
    /// Where it listens.
    pub address: String,
    /// Its log (stderr), for what it refused or received.
    pub log: PathBuf,
    hook: Option<String>,
    child: Option<std::process::Child>,
}

impl Far {
    /// Start a device.
    pub fn start() -> Far {
        Far::start_with(None)
    }

    /// Start a device with the test hook `hook` armed in its process.
    pub fn start_with(hook: Option<&str>) -> Far {
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = tmp.path().join("home");
        let log = tmp.path().join("far.log");
        let mut far = Far {
            id: String::new(),
            address: String::new(),
            home,
            log,
            tmp,
            hook: hook.map(str::to_string),
            child: None,
        };
        far.id = far
            .run(&["device", "id"])
            .expect(0)
            .stdout
            .trim()
            .to_string();
        far.launch("127.0.0.1:0");
        far
    }

    /// Start (again) the serving process, on `at`.
    fn launch(&mut self, at: &str) {
        use std::io::BufRead;
        let mut cmd = self.cmd();
        cmd.args(["watch", "--devices", at, "--json"])
            .env("CONDUIT_LOG", "conduit=info")
            .stdout(std::process::Stdio::piped())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.log)
                    .unwrap(),
            );
        if let Some(hook) = &self.hook {
            cmd.env("CONDUIT_TEST_HOOK", hook);
        }
        let mut child = cmd.spawn().expect("start the device");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let address = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("the device stopped: {}", self.log()))
                .unwrap();
            let event: Value = serde_json::from_str(&line).unwrap();
            if event["event"] == "devices" {
                break event["listening"][0].as_str().unwrap().to_string();
            }
        };
        // Keep reading, so the device never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        self.address = address;
        self.child = Some(child);
    }

    /// A `conduit` command with the device's home.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_conduit"));
        cmd.arg("--home").arg(&self.home);
        cmd.env_remove("CONDUIT_HOME")
            .env_remove("CONDUIT_TEST_HOOK");
        cmd
    }

    /// Run `conduit ARGS...` on the device's home.
    pub fn run(&self, args: &[&str]) -> Run {
        self.cmd().args(args).output().expect("run conduit").into()
    }

    /// What the device logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Pair `w`'s home and this device both ways: `w` knows it as `far`.
    pub fn pair(&self, w: &World) {
        let id = w.run(&["device", "id"]).expect(0).stdout.trim().to_string();
        let name = format!("home-{}", &id[..7]);
        self.run(&["device", "add", &name, &id]).expect(0);
        w.run(&["device", "add", "far", &self.id, &self.address])
            .expect(0);
    }

    /// Pair `w` and add conduit `name`: `w.a` here to `w.b` on this device.
    pub fn add(&self, w: &World, name: &str, policy: &str, extra: &[&str]) {
        self.pair(w);
        let b = format!("far:{}", w.b.display());
        let mut args = vec!["add", name, w.a.to_str().unwrap(), &b, "--policy", policy];
        args.extend_from_slice(extra);
        let r = w.run(&args);
        assert_eq!(r.code, 0, "{}\nthe device's log:\n{}", r.stderr, self.log());
    }

    /// Stop the device (as when it goes offline).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start it again where it listened.
    pub fn restart(&mut self) {
        let at = self.address.clone();
        self.launch(&at);
    }
}

impl Drop for Far {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A small real filesystem: a tmpfs of a given size, where the machine
/// lets the tests mount one (root in a VM or container with the right
/// capabilities). Unmounted when dropped.
pub struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    pub fn mount(at: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(at).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| SmallDisk(at.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}
