//! `conduit policy …` through the real binary: what a user sees and scripts
//! rely on (exit codes, JSON).

use std::process::{Command, Output};

use serde_json::Value;

fn conduit(home: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_conduit"))
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .expect("run conduit")
}

fn stdout_json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn policy_list_json_shows_the_four_builtins_with_schemas() {
    let home = tempfile::tempdir().unwrap();
    let out = conduit(home.path(), &["policy", "list", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let list = stdout_json(&out);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["replicate", "synchronize", "offload", "archive"]);
    for p in list.as_array().unwrap() {
        assert_eq!(p["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(p["origin"], "built-in");
        assert_eq!(p["contract"], "conduit:policy@1.0.0");
        assert_eq!(p["digest"].as_str().unwrap().len(), 64);
        assert!(!p["options"].as_array().unwrap().is_empty(), "{p}");
    }
    let sync = &list[1]["options"][0];
    assert_eq!(sync["name"], "conflict");
    assert_eq!(sync["type"], "choice");
    assert_eq!(sync["default"], "keep-both");
    assert!(
        sync["choices"]
            .as_array()
            .unwrap()
            .contains(&"manual".into())
    );
    let min_free = &list[2]["options"][0];
    assert_eq!(
        (min_free["name"].as_str(), min_free["default"].as_str()),
        (Some("min-free"), Some("10%"))
    );
}

#[test]
fn policy_info_for_people_and_scripts() {
    let home = tempfile::tempdir().unwrap();
    let out = conduit(home.path(), &["policy", "info", "archive"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("older-than") && text.contains("layout"),
        "{text}"
    );

    let out = conduit(home.path(), &["policy", "info", "offload", "--json"]);
    assert_eq!(stdout_json(&out)["scope"], "everything");

    // An unknown policy is a usage mistake, as in every command.
    let out = conduit(home.path(), &["policy", "info", "mirror-ish"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown policy `mirror-ish`"),
        "{}",
        stderr(&out)
    );
}

fn write_diff(dir: &std::path::Path, json: &str) -> String {
    let path = dir.join("diff.json");
    std::fs::write(&path, json).unwrap();
    path.display().to_string()
}

#[test]
fn policy_test_prints_the_validated_plan() {
    let home = tempfile::tempdir().unwrap();
    let diff = write_diff(
        home.path(),
        r#"{"now_ns": 1700000000000000000, "entries": [
            {"path": "a.txt", "base": {"digest": "v1"}, "source": {"digest": "v2", "mtime_ns": 2},
             "destination": {"digest": "v3", "mtime_ns": 1}},
            {"path": "b.txt", "source": {"digest": "v1"}}
        ]}"#,
    );
    let out = conduit(
        home.path(),
        &[
            "policy",
            "test",
            "synchronize",
            &diff,
            "--set",
            "conflict=newer",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let plan = stdout_json(&out);
    assert_eq!(plan["policy"], "synchronize");
    let actions = plan["actions"].as_array().unwrap();
    assert_eq!(actions.len(), 3);
    // The conflict, reported with the rule that settles it, then the copy.
    assert_eq!(
        (actions[0]["path"].as_str(), actions[0]["action"].as_str()),
        (Some("a.txt"), Some("conflict"))
    );
    assert_eq!(
        (actions[1]["path"].as_str(), actions[1]["action"].as_str()),
        (Some("a.txt"), Some("copy"))
    );
    assert_eq!(actions[1]["from"], "source");
    assert_eq!(
        (actions[2]["path"].as_str(), actions[2]["from"].as_str()),
        (Some("b.txt"), Some("source"))
    );

    // Default keep-both instead: the conflict and three actions on a.txt.
    let out = conduit(home.path(), &["policy", "test", "synchronize", &diff]);
    let actions = stdout_json(&out)["actions"].as_array().unwrap().clone();
    assert_eq!(actions.iter().filter(|a| a["path"] == "a.txt").count(), 4);
}

#[test]
fn policy_test_errors_are_clear() {
    let home = tempfile::tempdir().unwrap();
    let good = write_diff(
        home.path(),
        r#"{"entries": [{"path": "a", "source": {"digest": "x"}}]}"#,
    );
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec!["policy", "test", "replicate", &good, "--set", "colour=blue"],
            2,
            "has no option `colour`",
        ),
        (
            vec![
                "policy",
                "test",
                "replicate",
                &good,
                "--set",
                "propagate-deletes=perhaps",
            ],
            2,
            "true or false",
        ),
        (
            vec!["policy", "test", "replicate", &good, "--set", "novalue"],
            2,
            "expected KEY=VALUE",
        ),
        (
            vec!["policy", "test", "replicate", "/nonexistent/diff.json"],
            2,
            "reading /nonexistent/diff.json",
        ),
        (
            vec!["policy", "test", "nope", &good],
            2,
            "unknown policy `nope`",
        ),
        (vec!["policy", "test", "replicate"], 2, "DIFF"),
    ];
    for (args, code, expected) in cases {
        let out = conduit(home.path(), &args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let bad_diffs = [
        (r#"{"entries": [{"path": "../escape"}]}"#, "contains `..`"),
        (r#"{"entries": [{"path": "/abs"}]}"#, "is absolute"),
        (
            r#"{"entries": [{"path": "a"}, {"path": "a"}]}"#,
            "appears twice",
        ),
        (
            r#"{"entries": [{"path": "a", "colour": 1}]}"#,
            "unknown field `colour`",
        ),
        (r#"{"entries": "#, "not a valid diff"),
    ];
    for (json, expected) in bad_diffs {
        let diff = write_diff(home.path(), json);
        let out = conduit(home.path(), &["policy", "test", "replicate", &diff]);
        assert_eq!(out.status.code(), Some(1), "{json}");
        assert!(stderr(&out).contains(expected), "{json}: {}", stderr(&out));
    }
}

#[test]
fn policy_test_reports_a_failing_component() {
    let home = tempfile::tempdir().unwrap();
    let diff = write_diff(
        home.path(),
        r#"{"entries": [{"path": "a", "source": {"digest": "x"}}]}"#,
    );
    let fixture = env!("CONDUIT_FIXTURE_MISBEHAVE");
    let out = conduit(
        home.path(),
        &[
            "policy",
            "test",
            fixture,
            &diff,
            "--set",
            "mode=rename-absolute",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("returned an invalid plan"),
        "{}",
        stderr(&out)
    );
    let out = conduit(
        home.path(),
        &["policy", "test", fixture, &diff, "--set", "mode=panic"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("policy `misbehave` crashed"),
        "{}",
        stderr(&out)
    );
}
