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
