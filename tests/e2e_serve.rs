//! `conduit serve` through real HTTP: who may call it, bad input that
//! changes nothing, runs and their event stream, and the API as
//! docs/http-api.md and `/api/openapi.json` describe it.

use crate::support::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

/// A running `conduit serve` on a free loopback port.
pub struct Server {
    child: Child,
    pub url: String,
    pub key: String,
    agent: ureq::Agent,
}

impl Server {
    pub fn start(w: &World) -> Server {
        Server::start_with(w, None)
    }

    /// With `CONDUIT_TEST_HOOK` set to `hook`.
    pub fn start_with(w: &World, hook: Option<&str>) -> Server {
        let mut cmd = w.cmd();
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if let Some(hook) = hook {
            cmd.env("CONDUIT_TEST_HOOK", hook);
        }
        let mut child = cmd.spawn().expect("start conduit serve");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("serve prints its URL").unwrap();
        let url = first
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {first:?}"))
            .trim_end_matches('/')
            .to_string();
        // The service's own lines: drained so the pipe never fills.
        std::thread::spawn(move || lines.for_each(drop));
        let key = std::fs::read_to_string(w.home.join("api-key"))
            .unwrap()
            .trim()
            .to_string();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Server {
            child,
            url,
            key,
            agent,
        }
    }

    /// `METHOD path` with the key and `body`, plus `headers`: status and JSON.
    pub fn call_with(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let bearer = format!("Bearer {}", self.key);
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Authorization", &bearer);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let request = request
            .header("Content-Type", "application/json")
            .body(bytes)
            .unwrap();
        let mut response = self.agent.run(request).expect("the server answers");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call_with(method, path, body, &[])
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None)
    }

    /// `GET path` with exactly these headers, over a bare connection (to
    /// send what no well-behaved client would: another Host, no key).
    pub fn raw_get(&self, path: &str, headers: &[&str]) -> u16 {
        let addr = self.url.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        let mut request = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
        for h in headers {
            request.push_str(&format!("{h}\r\n"));
        }
        request.push_str("\r\n");
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
    }

    /// The event stream from after `after`: (id, event, data) as they come.
    pub fn events(&self, after: Option<u64>) -> mpsc::Receiver<(u64, String, Value)> {
        let (tx, rx) = mpsc::channel();
        let url = format!("{}/api/events", self.url);
        let key = self.key.clone();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut request = agent.get(&url).header("X-API-Key", &key);
            if let Some(after) = after {
                request = request.header("Last-Event-ID", after.to_string());
            }
            let response = request.call().expect("the event stream opens");
            let _ = ready_tx.send(response.status().as_u16());
            let reader = BufReader::new(response.into_body().into_reader());
            let (mut id, mut name, mut data) = (0, String::new(), String::new());
            for line in reader.lines() {
                let Ok(line) = line else { return };
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.parse().unwrap();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    name = v.to_string();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data = v.to_string();
                } else if line.is_empty() && !name.is_empty() {
                    let value = serde_json::from_str(&data).unwrap();
                    if tx.send((id, std::mem::take(&mut name), value)).is_err() {
                        return;
                    }
                }
            }
        });
        assert_eq!(ready_rx.recv_timeout(Duration::from_secs(30)), Ok(200));
        rx
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        if !wait_until(30, || self.child.try_wait().unwrap().is_some()) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Events until one named `last` (for `conduit`), within `secs`.
pub fn events_until(
    rx: &mpsc::Receiver<(u64, String, Value)>,
    last: &str,
    secs: u64,
) -> Vec<(u64, String, Value)> {
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if let Ok(event) = rx.recv_timeout(Duration::from_millis(200)) {
            let done = event.1 == last;
            seen.push(event);
            if done {
                return seen;
            }
        }
    }
    panic!("no {last} within {secs} s; saw {seen:?}");
}

fn new_conduit(w: &World, name: &str, policy: &str) -> Value {
    json!({
        "name": name,
        "source": w.a,
        "destination": w.b,
        "policy": policy,
    })
}

fn markers(w: &World) -> [bool; 2] {
    [w.a.join(".conduit").exists(), w.b.join(".conduit").exists()]
}

#[test]
fn the_api_needs_the_key_and_a_loopback_host() {
    let w = World::new();
    let server = Server::start(&w);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(w.home.join("api-key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600, "only the owner reads the key");
    let printed = w.run(&["serve", "--print-key"]).expect(0);
    assert_eq!(printed.stdout.trim(), server.key, "the same key every time");
    let key_file = w.home.join("api-key");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    w.run(&["serve", "--print-key"]).expect(0);
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "a key others could read is kept to its owner"
    );

    let host = format!("Host: {}", server.url.trim_start_matches("http://"));
    let key = format!("X-API-Key: {}", server.key);
    assert_eq!(server.raw_get("/api/status", &[&host]), 401, "no key");
    assert_eq!(
        server.raw_get("/api/status", &[&host, "X-API-Key: not-the-key"]),
        401
    );
    assert_eq!(server.raw_get("/api/status", &[&host, &key]), 200);
    for foreign in ["Host: evil.example", "Host: 127.0.0.1.evil.example:80"] {
        assert_eq!(server.raw_get("/api/status", &[foreign, &key]), 403);
        assert_eq!(server.raw_get("/", &[foreign]), 403, "the page too");
    }
    assert_eq!(server.raw_get("/", &[&host]), 200, "the page needs no key");

    let (status, body) = server.get("/api/no-such-thing");
    assert_eq!(status, 404);
    assert!(
        body["error"].as_str().unwrap().contains("openapi"),
        "{body}"
    );
    let (status, body) = server.call("PUT", "/api/status", None);
    assert_eq!(status, 405);
    assert!(body["error"].as_str().unwrap().contains("method"), "{body}");
}

#[test]
fn a_browser_needs_the_csrf_token_and_its_own_origin_to_change_anything() {
    let w = World::new();
    w.add("docs", "replicate", &[]);
    let server = Server::start(&w);
    let origin = server.url.clone();
    let (_, session) = server.get("/api/session");
    let token = session["csrf"].as_str().unwrap().to_string();

    let (status, _) = server.call_with(
        "POST",
        "/api/conduits/docs/pause",
        None,
        &[("Origin", &origin)],
    );
    assert_eq!(status, 403, "no token");
    let (status, _) = server.call_with(
        "POST",
        "/api/conduits/docs/pause",
        None,
        &[("Origin", "http://evil.example"), ("X-CSRF-Token", &token)],
    );
    assert_eq!(status, 403, "another site's page");
    assert_eq!(
        server.get("/api/conduits/docs").1["enabled"],
        true,
        "nothing changed"
    );

    let (status, c) = server.call_with(
        "POST",
        "/api/conduits/docs/pause",
        None,
        &[("Origin", &origin), ("X-CSRF-Token", &token)],
    );
    assert_eq!((status, &c["enabled"]), (200, &json!(false)));
    // A program (no Origin) needs only the key.
    let (status, c) = server.call("POST", "/api/conduits/docs/resume", None);
    assert_eq!((status, &c["enabled"]), (200, &json!(true)));
    let shown = w.run(&["show", "docs", "--json"]).expect(0).json();
    assert_eq!(shown["enabled"], true);
}

#[test]
fn bad_input_is_a_400_that_says_what_is_wrong_and_changes_nothing() {
    let w = World::new();
    write(&w.a, "a.txt", "a");
    let server = Server::start(&w);
    let missing = w.tmp.path().join("missing");
    let cases: Vec<(Value, &str)> = vec![
        (json!({ "name": "x" }), "missing field"),
        (json!("not an object"), "not what this endpoint takes"),
        (
            json!({ "name": "x", "source": w.a, "destination": w.b, "policy": "nope" }),
            "unknown policy",
        ),
        (
            json!({ "name": "x", "source": missing, "destination": w.b, "policy": "replicate" }),
            "source",
        ),
        (
            json!({ "name": "x", "source": w.a, "destination": w.a, "policy": "replicate" }),
            "same folder",
        ),
        (
            json!({ "name": "x", "source": w.a, "destination": w.b, "policy": "replicate",
                    "cadence": "sometimes" }),
            "cadence",
        ),
        (
            json!({ "name": "x", "source": w.a, "destination": w.b, "policy": "synchronize",
                    "options": { "conflict": "coin-toss" } }),
            "conflict",
        ),
        (
            json!({ "name": "x", "source": w.a, "destination": w.b, "policy": "replicate",
                    "options": { "no-such-option": "1" } }),
            "no option",
        ),
        (
            json!({ "name": "bad/name", "source": w.a, "destination": w.b, "policy": "replicate" }),
            "name",
        ),
        (
            json!({ "name": "..", "source": w.a, "destination": w.b, "policy": "replicate" }),
            "name",
        ),
    ];
    for (body, says) in &cases {
        for path in ["/api/conduits", "/api/preview"] {
            let (status, answer) = server.call("POST", path, Some(body.clone()));
            assert_eq!(status, 400, "{path} {body}: {answer}");
            let message = answer["error"].as_str().unwrap_or_default();
            assert!(
                message.contains(says),
                "{path} {body}: {message:?} should say {says:?}"
            );
        }
    }
    assert_eq!(
        server.get("/api/conduits").1,
        json!([]),
        "nothing was created"
    );
    assert_eq!(markers(&w), [false, false], "no root was marked");

    let (status, _) = server.call(
        "POST",
        "/api/conduits",
        Some(new_conduit(&w, "docs", "replicate")),
    );
    assert_eq!(status, 201);
    let before = server.get("/api/conduits/docs").1;
    let bad_requests: Vec<(&str, String, Option<Value>)> = vec![
        (
            "PATCH",
            "/api/conduits/docs".into(),
            Some(json!({ "settings": { "trash-days": "soon" } })),
        ),
        (
            "PATCH",
            "/api/conduits/docs".into(),
            Some(json!({ "settings": { "cadence": "1h", "max-delete": "lots" } })),
        ),
        (
            "PATCH",
            "/api/conduits/docs".into(),
            Some(json!({ "nonsense": 1 })),
        ),
        ("POST", "/api/conduits/nope/sync".into(), None),
        (
            "POST",
            "/api/conduits/docs/sync".into(),
            Some(json!({ "dry_run": "maybe" })),
        ),
        (
            "POST",
            "/api/conduits/docs/resolve".into(),
            Some(json!({ "path": "a.txt", "keep": "source" })),
        ),
        (
            "POST",
            "/api/conduits/docs/resolve".into(),
            Some(json!({ "path": "a.txt", "keep": "mine" })),
        ),
        (
            "POST",
            "/api/conduits/docs/restore".into(),
            Some(json!({ "path": "a.txt" })),
        ),
        (
            "POST",
            "/api/conduits/docs/restore".into(),
            Some(json!({ "path": "a.txt", "before": "whenever" })),
        ),
        ("GET", "/api/conduits/docs/history/latest".into(), None),
        ("GET", "/api/conduits/docs/history?limit=many".into(), None),
        ("GET", "/api/browse?path=relative/folder".into(), None),
        (
            "GET",
            format!("/api/browse?path={}", missing.display()),
            None,
        ),
        ("GET", "/api/policies/nope".into(), None),
        ("DELETE", "/api/conduits/nope".into(), None),
    ];
    for (method, path, body) in bad_requests {
        let (status, answer) = server.call(method, &path, body.clone());
        assert_eq!(status, 400, "{method} {path} {body:?}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|m| m.len() > 10),
            "{answer}"
        );
    }
    assert_eq!(
        server.get("/api/conduits/docs").1,
        before,
        "settings unchanged"
    );
    assert_eq!(read(&w.b, "a.txt"), None, "nothing ran");
    assert_eq!(server.get("/api/conduits/docs/history").1, json!([]));
}

#[test]
fn a_preview_plans_the_first_run_and_writes_nothing() {
    let w = World::new();
    write(&w.a, "new.txt", "new");
    write(&w.a, "both.txt", "source");
    write(&w.b, "both.txt", "destination");
    let server = Server::start(&w);
    let (status, plan) = server.call(
        "POST",
        "/api/preview",
        Some(new_conduit(&w, "docs", "replicate")),
    );
    assert_eq!(status, 200, "{plan}");
    assert_eq!(
        (plan["dry_run"].clone(), plan["generation"].clone()),
        (json!(true), json!(0))
    );
    let mut items: Vec<(String, String)> = plan["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["path"].as_str().unwrap().into(),
                i["action"].as_str().unwrap().into(),
            )
        })
        .collect();
    items.sort();
    assert_eq!(
        items,
        [
            ("both.txt".into(), "copy".into()),
            ("new.txt".into(), "copy".into())
        ]
    );
    assert_eq!(markers(&w), [false, false], "not even a marker");
    assert_eq!(server.get("/api/conduits").1, json!([]));
    assert_eq!(read(&w.b, "both.txt").as_deref(), Some("destination"));
}

#[test]
fn a_run_streams_its_events_and_a_client_resumes_after_its_last_id() {
    let w = World::new();
    write(&w.a, "docs/a.txt", "alpha");
    write_bytes(&w.a, "big.bin", &vec![7u8; 3 << 20]);
    let gate = w.tmp.path().join("gate");
    let server = Server::start_with(&w, Some(&format!("sync:planned:pause={}", gate.display())));
    let events = server.events(None);
    let (status, _) = server.call(
        "POST",
        "/api/conduits",
        Some(new_conduit(&w, "docs", "replicate")),
    );
    assert_eq!(status, 201);
    let (status, started) = server.call("POST", "/api/conduits/docs/sync", None);
    assert_eq!((status, &started["started"]), (202, &json!(true)));

    // Held after planning: the run is in the status, a second one is refused.
    assert!(wait_until(60, || gate.exists()), "the run reached its plan");
    let (status, answer) = server.call("POST", "/api/conduits/docs/sync", None);
    assert_eq!(status, 409, "{answer}");
    let (status, answer) = server.call("DELETE", "/api/conduits/docs", None);
    assert_eq!(status, 409, "not removed under its run: {answer}");
    let status = server.get("/api/status").1;
    let progress = &status[0]["progress"];
    assert_eq!(progress["phase"], "transferring", "{status}");
    assert_eq!(progress["files_total"], 2);
    assert_eq!(progress["bytes_total"], (3 << 20) + 5);
    std::fs::remove_file(&gate).unwrap();

    let seen = events_until(&events, "sync-completed", 120);
    let names: Vec<&str> = seen.iter().map(|(_, name, _)| name.as_str()).collect();
    assert_eq!(names[0], "conduit-created");
    let at = |name: &str| names.iter().position(|n| *n == name).unwrap();
    assert!(at("sync-started") < at("sync-progress") || names[1] == "sync-progress");
    let (started_id, _, started) = &seen[at("sync-started")];
    assert_eq!(started["generation"], 1);
    let last_progress = &seen[seen.len() - 2];
    assert_eq!(last_progress.1, "sync-progress");
    assert_eq!(last_progress.2["bytes"], last_progress.2["bytes_total"]);
    assert_eq!(last_progress.2["files"], 2);
    let report = &seen.last().unwrap().2["report"];
    assert_eq!((n(report, "copied"), n(report, "verified")), (2, 2));
    assert!(
        seen.windows(2).all(|w| w[1].0 == w[0].0 + 1),
        "ids grow by one"
    );
    assert_eq!(read(&w.b, "docs/a.txt").as_deref(), Some("alpha"));
    assert!(
        server.get("/api/status").1[0]["progress"].is_null(),
        "the run is over"
    );

    // A client that saw up to sync-started gets the rest again, in order.
    let resumed = server.events(Some(*started_id));
    let again = events_until(&resumed, "sync-completed", 10);
    assert_eq!(again.first().unwrap().0, started_id + 1);
    assert_eq!(again.len(), seen.len() - at("sync-started") - 1);

    let (status, history) = server.get("/api/conduits/docs/history/1");
    assert_eq!(status, 200);
    assert_eq!(history["items"].as_array().unwrap().len(), 3, "{history}");
}

#[test]
fn conflicts_trash_and_verify_through_the_api() {
    let w = World::new();
    write(&w.a, "notes.txt", "first");
    w.add("docs", "synchronize", &["--set", "conflict=manual"]);
    w.sync("docs", &[], 0);
    write(&w.a, "notes.txt", "source edit");
    write(&w.b, "notes.txt", "destination edit, longer");
    set_mtime(&w.a, "notes.txt", 1_700_000_000);
    set_mtime(&w.b, "notes.txt", 1_700_000_100);
    w.sync("docs", &[], 3);
    let server = Server::start(&w);
    let events = server.events(None);

    let (_, conflicts) = server.get("/api/conduits/docs/conflicts");
    let c = &conflicts[0];
    assert_eq!(c["path"], "notes.txt", "{conflicts}");
    assert_eq!(c["source"]["size"], 11);
    assert_eq!(c["destination"]["size"], 24);
    assert_eq!(c["source"]["mtime"], "2023-11-14T22:13:20.000Z");
    let (status, done) = server.call(
        "POST",
        "/api/conduits/docs/resolve",
        Some(json!({ "path": "notes.txt", "keep": "source" })),
    );
    assert_eq!(status, 200, "{done}");
    assert_eq!(read(&w.b, "notes.txt").as_deref(), Some("source edit"));
    assert_eq!(server.get("/api/conduits/docs/conflicts").1, json!([]));

    let (_, trash) = server.get("/api/conduits/docs/trash?path=notes.txt");
    let version = trash
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["side"] == "destination")
        .unwrap_or_else(|| panic!("the destination's version is in the trash: {trash}"));
    let (status, restored) = server.call(
        "POST",
        "/api/conduits/docs/restore",
        Some(json!({ "path": "notes.txt", "version": version["version"] })),
    );
    assert_eq!(status, 200, "{restored}");
    for root in [&w.a, &w.b] {
        assert_eq!(
            read(root, "notes.txt").as_deref(),
            Some("destination edit, longer")
        );
    }

    flip_a_byte(&w.b, "notes.txt");
    let (status, verified) = server.call("POST", "/api/conduits/docs/verify", None);
    assert_eq!(status, 200);
    assert_eq!(
        verified["corrupted"].as_array().unwrap().len(),
        1,
        "{verified}"
    );
    let seen = events_until(&events, "verification-complete", 10);
    assert_eq!(seen.last().unwrap().2["corrupted"], verified["corrupted"]);
}

#[test]
fn a_halt_shows_in_the_status_with_its_reason() {
    let w = World::new();
    w.add("docs", "replicate", &[]);
    std::fs::remove_dir_all(w.b.join(".conduit")).unwrap();
    let server = Server::start(&w);
    let events = server.events(None);
    let (status, _) = server.call("POST", "/api/conduits/docs/sync", None);
    assert_eq!(status, 202);
    let failed = events_until(&events, "sync-failed", 60).pop().unwrap().2;
    assert_eq!(failed["halted"], true);
    let error = server.get("/api/status").1[0]["error"].clone();
    assert!(error.as_str().unwrap().contains("marker"), "{error}");
    assert_eq!(error, failed["error"]);
}

#[test]
fn serving_beyond_loopback_must_be_asked_for() {
    let w = World::new();
    let refused = w.run(&["serve", "--listen", "0.0.0.0:0"]).expect(2);
    assert!(refused.stderr.contains("--expose"), "{}", refused.stderr);
    let bad = w.run(&["serve", "--listen", "localhost"]).expect(2);
    assert!(bad.stderr.contains("127.0.0.1:8377"), "{}", bad.stderr);

    let mut child = w
        .cmd()
        .args(["serve", "--listen", "0.0.0.0:0", "--expose"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("warning:") && line.contains("not encrypted"),
        "{line}"
    );
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success(), "it stops cleanly");
}

#[test]
fn every_documented_endpoint_is_served_and_described() {
    let w = World::new();
    w.add("docs", "replicate", &[]);
    w.sync("docs", &[], 0);
    let server = Server::start(&w);
    let (status, spec) = server.get("/api/openapi.json");
    assert_eq!(status, 200);
    let described: std::collections::BTreeSet<String> =
        spec["paths"].as_object().unwrap().keys().cloned().collect();
    // The table of docs/http-api.md and the OpenAPI description agree.
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/http-api.md"))
        .unwrap();
    let mut documented = std::collections::BTreeSet::new();
    for line in doc.lines().filter(|l| l.starts_with("| `")) {
        for part in line.split('`').skip(1).step_by(2) {
            if let Some((_, path)) = part.split_once(" /api/") {
                let path = format!("/api/{}", path.split('?').next().unwrap());
                documented.insert(path.replace("/...", ""));
            }
        }
    }
    documented.insert("/api/conduits/{name}/resume".into()); // `.../resume` in the table
    assert_eq!(documented, described);
    // Every GET in it answers (not 404) for a real conduit.
    for (path, item) in spec["paths"].as_object().unwrap() {
        if item.get("get").is_none() || path == "/api/events" {
            continue;
        }
        let name = if path.starts_with("/api/policies/") {
            "replicate"
        } else {
            "docs"
        };
        let path = path.replace("{name}", name).replace("{generation}", "1");
        let (status, body) = server.get(&path);
        assert_eq!(status, 200, "GET {path}: {body}");
    }
}
