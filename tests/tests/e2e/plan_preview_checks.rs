//! A preview with `run_checks`: the check steps' gates that only read are run through the
//! shared checker (an SQL query on the test database in a read-only transaction, a page probe
//! of a loopback server through pageinspect) and shown; a command gate is listed as not run,
//! and nothing else is called.

use acmangkut::config::{AllowedCommand, DataSource};
use has_tests::inspection::{id, inspection_config};
use has_tests::spawn::spawn_pageinspect;
use has_tests::{Targets, TestDb, spawn_acmangkut};
use serde_json::{Value, json};
use shared::Secret;

fn test_database() -> String {
    std::env::var("HAS_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_preview_with_run_checks_runs_the_read_only_gates_and_no_command() {
    let (pageinspect, _handle) = spawn_pageinspect(None).await;
    let targets = Targets::start().await;
    let db = TestDb::new();
    let mut config = inspection_config(&db, &pageinspect);
    config.scheduler.enabled = false;
    config.inspection.enabled = false;
    config.plans.enabled = false;
    config.inspection.commands = [(
        "touch".to_string(),
        AllowedCommand::Path("/usr/bin/touch".into()),
    )]
    .into();
    config.inspection.datasources = [(
        "testdb".to_string(),
        DataSource {
            url: Secret::new(test_database()),
            max_rows: 10,
        },
    )]
    .into();
    let app = spawn_acmangkut(config).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let marker = dir.path().join("touched");
    let gate = |name: &str, gate: Value| json!({"name": name, "check": {"gate": gate}});
    let doc = json!({"name": "gated", "stages": [{"name": "gates", "steps": [
        gate("db answers", json!({"check": "sql", "source": "testdb",
                                  "query": "SELECT 41 + 1", "condition": "== 42"})),
        gate("page up", json!({"check": "probe", "kind": "http",
                               "target": targets.url("/healthy"),
                               "conditions": ["[STATUS] == 200"]})),
        gate("touches", json!({"check": "command", "command": "touch",
                               "args": [marker.display().to_string()]})),
    ]}]});
    let r = app.post_json("/api/v1/plans", &doc).await;
    let body: Value = r.json().await.expect("json");
    let pid = id(&body);
    let path = format!("/api/v1/plans/{pid}/preview");

    let plain = app.post_json(&path, &json!({})).await.json::<Value>().await;
    let plain = plain.expect("json");
    assert!(
        plain.get("gates").is_none(),
        "no gate runs unasked: {plain}"
    );

    let r = app.post_json(&path, &json!({"run_checks": true})).await;
    assert_eq!(r.status(), 200);
    let p: Value = r.json().await.expect("json");
    let gates = p["gates"].as_array().expect("gates");
    let by_field = |f: &str| {
        gates
            .iter()
            .find(|g| g["field"] == f)
            .unwrap_or_else(|| panic!("no gate {f} in {p}"))
    };
    let sql = by_field("stages[0].steps[0]");
    assert_eq!(
        (
            &sql["ran"],
            &sql["outcome"]["status"],
            &sql["outcome"]["value"]
        ),
        (&json!(true), &json!("pass"), &json!("42")),
        "{sql}"
    );
    let probe = by_field("stages[0].steps[1]");
    assert_eq!(
        (&probe["ran"], &probe["outcome"]["status"]),
        (&json!(true), &json!("pass")),
        "{probe}"
    );
    let command = by_field("stages[0].steps[2]");
    assert_eq!(command["ran"], false, "{command}");
    assert!(command.get("outcome").is_none(), "{command}");
    assert!(
        command["note"]
            .as_str()
            .unwrap_or_default()
            .contains("not run"),
        "{command}"
    );
    assert!(!marker.exists(), "the command gate was not run");
    app.handle.stop().await;
}
