//! Plan executions over HTTP: the execution and its timeline, and the approval gate with four
//! eyes (the starter is refused, a viewer and an operator lack `plans:approve`, a comment is
//! required) before a second admin approves and the execution runs to its end. Executions are
//! started through the engine (the start route comes with plans, which resolve a version).

use acmangkut::config::AllowedCommand;
use acmangkut::engine::plans::executions::operate;
use acmangkut::store::audit::Actor;
use has_tests::{TestApp, TestDb, spawn::test_config, spawn_acmangkut};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PASSWORD: &str = "executions-password";

async fn app() -> (TestApp, TestDb) {
    let db = TestDb::new();
    let mut config = test_config(&db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    config.inspection.enabled = false;
    config.plans.tick_ms = 50;
    config.inspection.commands = [("sh".to_string(), AllowedCommand::from("/bin/sh"))].into();
    (spawn_acmangkut(config).await, db)
}

/// Starts a plan gated by an approval (admins) as `starter`; returns the execution's id.
async fn start(app: &TestApp, starter: &str) -> i64 {
    let approval = json!({"id": "s1.ok", "name": "go?",
        "kind": {"type": "approval", "roles": ["admin"]}});
    let switch = json!({"id": "s2.do", "name": "switch", "kind": {"type": "action",
        "do": {"action": "command", "command": "sh", "args": ["-c", "true"]}}});
    let plan = serde_json::from_value(json!({"plan": "failover", "version": 2, "stages": [
        {"name": "gate", "steps": [approval]},
        {"name": "switch", "steps": [switch]}
    ]}))
    .expect("a resolved plan");
    let actor = Actor {
        name: starter.into(),
        kind: "user",
        peer: "127.0.0.1".into(),
    };
    let store = app.open_store().await;
    operate::start(&store, actor, plan, json!({}), "quarterly drill".into())
        .await
        .expect("start")
}

async fn state_of(app: &TestApp, id: i64) -> Value {
    app.get_json(&format!("/api/v1/executions/{id}")).await
}

async fn until(app: &TestApp, id: i64, state: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let view = state_of(app, id).await;
        if view["state"] == state {
            return view;
        }
        assert!(Instant::now() < deadline, "never {state}: {view}");
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_over_http_needs_four_eyes_the_permission_and_a_comment() {
    let (app, _db) = app().await;
    for (user, role) in [
        ("ada", "admin"),
        ("adam", "admin"),
        ("olga", "operator"),
        ("vic", "viewer"),
    ] {
        app.create_user(user, PASSWORD, &[role]).await;
    }
    let id = start(&app, "ada").await;
    until(&app, id, "waiting_approval").await;
    let approve = format!("/api/v1/executions/{id}/approve");
    let body = |comment: &str| json!({"comment": comment});
    let cases = [
        ("ada", body("go"), 403, "the starter: four eyes"),
        ("vic", body("go"), 403, "a viewer lacks plans:approve"),
        ("olga", body("go"), 403, "an operator lacks plans:approve"),
        ("adam", body(" "), 400, "no comment"),
        ("adam", json!({"comment": 7}), 400, "a comment is text"),
    ];
    for (user, body, status, why) in cases {
        let session = app.sign_in(user, PASSWORD).await;
        let r = session
            .request(Method::POST, &approve)
            .json(&body)
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status().as_u16(), status, "{why}");
        assert_eq!(
            r.headers()["content-type"],
            "application/problem+json",
            "{why}"
        );
    }
    let adam = app.sign_in("adam", PASSWORD).await;
    let r = adam
        .request(Method::POST, &approve)
        .json(&body("lag below 1 s"))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 200);
    let after: Value = r.json().await.expect("json");
    assert_eq!(after["steps"][0]["state"], "succeeded", "{after}");

    let view = until(&app, id, "succeeded").await;
    assert_eq!(view["started_by"], "ada");
    assert!(view["rto_ms"].as_i64().is_some(), "{view}");
    let events = app
        .get_json(&format!("/api/v1/executions/{id}/events"))
        .await;
    let approved = events
        .as_array()
        .expect("a list")
        .iter()
        .find(|e| e["what"] == "approve")
        .expect("the approval is on the timeline");
    assert_eq!(
        (&approved["actor"], &approved["comment"]),
        (&json!("adam"), &json!("lag below 1 s"))
    );

    // An ended execution takes no more; an unknown one is 404; a skip names its step.
    let r = adam
        .request(Method::POST, &format!("/api/v1/executions/{id}/pause"))
        .json(&json!({}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 409);
    let r = app.get("/api/v1/executions/999999").await;
    assert_eq!(r.status(), 404);
    let r = adam
        .request(Method::POST, &format!("/api/v1/executions/{id}/skip"))
        .json(&json!({"comment": "x"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 400);
    let problem: Value = r.json().await.expect("json");
    assert_eq!(problem["field"], "step", "{problem}");
}

/// A published operation that appends `line` to `file` (and exits `code`); its undo appends
/// `undo-<line>`.
async fn appender(app: &TestApp, file: &std::path::Path) {
    let f = file.display();
    let op = json!({
        "code": "t.append", "name": "Append a line", "kind": "plan",
        "parameters": [{"name": "line", "type": "string", "required": true},
                       {"name": "code", "type": "integer", "default": 0}],
        "do": {"action": "command", "command": "sh",
               "args": ["-c", format!("echo {{{{ line }}}} >> {f}; exit {{{{ code }}}}")]},
        "undo": {"action": "command", "command": "sh",
                 "args": ["-c", format!("echo undo-{{{{ line }}}} >> {f}")]}
    });
    let r = app.post_json("/api/v1/operations", &op).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let r = app
        .post_json("/api/v1/operations/t.append/publish", &Value::Null)
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_started_over_http_rolls_back_in_reverse_order_when_a_step_fails() {
    let (app, _db) = app().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("log");
    appender(&app, &file).await;
    let step = |line: &str, code: i64| {
        json!({"name": line, "operation": {"code": "t.append",
            "params": {"line": line, "code": code}}, "on_failure": "rollback"})
    };
    let doc = json!({"name": "recover", "stages": [
        {"name": "one", "steps": [step("first", 0)]},
        {"name": "two", "steps": [step("second", 0)]},
        {"name": "three", "steps": [step("broken", 1)]}
    ]});
    let r = app.post_json("/api/v1/plans", &doc).await;
    let made: Value = r.json().await.expect("json");
    let pid = made["id"].as_i64().unwrap_or_else(|| panic!("{made}"));

    let path = format!("/api/v1/plans/{pid}/executions");
    let r = app.post_json(&path, &json!({"comment": "drill"})).await;
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().expect("text").to_string();
    let started: Value = r.json().await.expect("json");
    let id = started["id"].as_i64().expect("id");
    assert_eq!(location, format!("/api/v1/executions/{id}"));
    assert_eq!(started["version"], 1);
    assert_eq!(started["comment"], "drill");
    let again = app.post_json(&path, &json!({})).await;
    assert_eq!(again.status(), 409, "one active execution per plan");

    let view = until(&app, id, "rolled_back").await;
    let lines: Vec<String> = std::fs::read_to_string(&file)
        .expect("log")
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(
        lines,
        ["first", "second", "broken", "undo-second", "undo-first"],
        "undone last completed first; the failed step is not undone"
    );
    assert_eq!(view["steps"][2]["state"], "failed", "{view}");
    let r = app
        .post_json("/api/v1/plans/999999/executions", &json!({}))
        .await;
    assert_eq!(r.status(), 404);
}
