//! Plan executions over HTTP: the execution and its timeline, and the approval gate with four
//! eyes (the starter is refused, a viewer and an operator lack `plans:approve`, a comment is
//! required) before a second admin approves and the execution runs to its end. Executions are
//! started through the engine (the start route comes with plans, which resolve a version).
//! Saved plans run `batches` steps batch by batch, sub-plans inlined (and rolled back with
//! their parent), `notify` steps through real channels, and tell their own channels of the
//! start, approvals, failures and the end.

use acmangkut::config::AllowedCommand;
use acmangkut::engine::plans::executions::operate;
use acmangkut::store::audit::Actor;
use has_tests::{TestApp, TestDb, spawn::test_config, spawn_acmangkut};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const PASSWORD: &str = "executions-password";

async fn app() -> (TestApp, TestDb) {
    app_with(false).await
}

/// With the inspection engine on when `outbox`: it delivers the notification outbox.
async fn app_with(outbox: bool) -> (TestApp, TestDb) {
    let db = TestDb::new();
    let mut config = test_config(&db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    config.inspection.enabled = outbox;
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

fn read_lines(file: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Saves `doc` as a plan; its id.
async fn save(app: &TestApp, doc: &Value) -> i64 {
    let r = app.post_json("/api/v1/plans", doc).await;
    let made: Value = r.json().await.expect("json");
    made["id"].as_i64().unwrap_or_else(|| panic!("{made}"))
}

/// Starts plan `pid` over HTTP with `params`; the execution's id.
async fn start_saved(app: &TestApp, pid: i64, params: Value) -> i64 {
    let path = format!("/api/v1/plans/{pid}/executions");
    let r = app.post_json(&path, &json!({"params": params})).await;
    let started: Value = r.json().await.expect("json");
    started["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("{started}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_batches_step_pauses_after_its_first_batch_until_resumed() {
    let (app, _db) = app().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("log");
    appender(&app, &file).await;
    let members: Vec<Value> = ["web1", "web2", "web3"]
        .iter()
        .map(|m| json!({"name": m}))
        .collect();
    let doc = json!({"name": "switch", "targets": [{"name": "web", "members": members}],
        "stages": [{"name": "switch", "steps": [{"name": "flip", "batches": {
            "code": "t.append", "params": {"line": "{{ target }}"}, "targets": "web",
            "size": 2, "pause": "after_first"}}]}]});
    let pid = save(&app, &doc).await;
    let id = start_saved(&app, pid, json!({})).await;
    let view = until(&app, id, "paused").await;
    assert!(
        view["detail"]
            .as_str()
            .is_some_and(|d| d.contains("batch 1 of 2 of s1.1")),
        "{view}"
    );
    let mut first = read_lines(&file);
    first.sort();
    assert_eq!(first, ["web1", "web2"], "the first batch only");
    let r = app
        .post_json(
            &format!("/api/v1/executions/{id}/resume"),
            &json!({"comment": "canary fine"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let view = until(&app, id, "succeeded").await;
    assert_eq!(read_lines(&file).len(), 3, "each member once");
    assert_eq!(read_lines(&file)[2], "web3");
    let ids: Vec<&str> = view["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(ids, ["s1.1.web1", "s1.1.web2", "s1.1.web3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sub_plan_runs_inlined_and_rolls_back_with_its_parent() {
    let (app, _db) = app().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("log");
    appender(&app, &file).await;
    let op = |name: &str, line: &str, code: i64| {
        json!({"name": name, "operation": {"code": "t.append",
            "params": {"line": line, "code": code}}, "on_failure": "rollback"})
    };
    let child = json!({"name": "child",
        "parameters": [{"name": "what", "type": "string", "required": true}],
        "stages": [{"name": "a", "steps": [op("c1", "c1", 0)]},
                   {"name": "b", "steps": [op("c2", "{{ params.what }}", 0)]}]});
    save(&app, &child).await;
    let parent = json!({"name": "parent", "stages": [
        {"name": "one", "steps": [op("p1", "p1", 0)]},
        {"name": "two", "steps": [{"name": "sub", "plan": {"name": "child",
            "params": {"what": "c2-rendered"}}}]},
        {"name": "three", "steps": [op("broken", "broken", 1)]}]});
    let pid = save(&app, &parent).await;
    let id = start_saved(&app, pid, json!({})).await;
    let view = until(&app, id, "rolled_back").await;
    assert_eq!(
        read_lines(&file),
        [
            "p1",
            "c1",
            "c2-rendered",
            "broken",
            "undo-c2-rendered",
            "undo-c1",
            "undo-p1"
        ],
        "the sub-plan's stages in order, undone with the parent's steps, last first"
    );
    let steps = view["steps"].as_array().expect("steps");
    let sub: Vec<(&str, &str)> = steps
        .iter()
        .filter(|s| s["id"].as_str().is_some_and(|i| i.starts_with("s2.1.")))
        .map(|s| {
            (
                s["id"].as_str().unwrap_or(""),
                s["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(sub, [("s2.1.s1.1", "sub / c1"), ("s2.1.s2.1", "sub / c2")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_steps_and_execution_notices_reach_a_webhook_and_a_mailbox() {
    use has_tests::smtp::SmtpSink;
    use has_tests::webhook::WebhookReceiver;
    let (app, _db) = app_with(true).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("log");
    appender(&app, &file).await;
    app.create_user("adam", PASSWORD, &["admin"]).await;
    let hook = WebhookReceiver::start().await;
    let sink = SmtpSink::start().await;
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead_url = format!("http://{}/gone", dead.local_addr().expect("addr"));
    drop(dead);
    for (name, spec) in [
        ("hook", json!({"kind": "webhook", "url": hook.url("/has")})),
        (
            "mail",
            json!({"kind": "email", "host": "127.0.0.1", "port": sink.port,
            "tls": "none", "from": "HAS <has@example.com>", "to": ["ops@example.com"]}),
        ),
        ("dead", json!({"kind": "webhook", "url": dead_url})),
    ] {
        let r = app
            .post_json(
                "/api/v1/inspection/channels",
                &json!({"name": name, "spec": spec}),
            )
            .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    }
    let doc = json!({"name": "told",
        "parameters": [{"name": "reason", "type": "string", "required": true}],
        "notify": {"channels": ["hook"]},
        "stages": [
            {"name": "gate", "steps": [{"name": "ok", "approval": {"roles": ["admin"]}}]},
            {"name": "tell", "steps": [{"name": "tell", "notify": {
                "channels": ["hook", "mail"], "message": "switching: {{ params.reason }}"}}]},
            {"name": "break", "steps": [{"name": "broken", "on_failure": "rollback",
                "operation": {"code": "t.append", "params": {"line": "x", "code": 1}}}]}]});
    let pid = save(&app, &doc).await;
    let id = start_saved(&app, pid, json!({"reason": "drill"})).await;
    until(&app, id, "waiting_approval").await;
    let adam = app.sign_in("adam", PASSWORD).await;
    let r = adam
        .request(Method::POST, &format!("/api/v1/executions/{id}/approve"))
        .json(&json!({"comment": "go"}))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 200);
    until(&app, id, "rolled_back").await;

    let wanted = [
        "plan.execution.start",
        "plan.execution.approval",
        "plan.execution.notify",
        "plan.execution.failure",
        "plan.execution.end",
    ];
    let deadline = Instant::now() + Duration::from_secs(20);
    let events = loop {
        let events: Vec<Value> = hook.requests().iter().map(|r| r.json()).collect();
        let seen = |w: &str| events.iter().filter(|e| e["event"] == w).count();
        if wanted.iter().all(|w| seen(w) == 1) {
            break events;
        }
        assert!(
            Instant::now() < deadline,
            "not all notices arrived: {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let of = |w: &str| events.iter().find(|e| e["event"] == w).expect(w).clone();
    assert_eq!(of("plan.execution.start")["execution"], id);
    assert_eq!(of("plan.execution.approval")["step"], "s1.1");
    assert_eq!(of("plan.execution.notify")["message"], "switching: drill");
    assert_eq!(of("plan.execution.failure")["state"], "rolling_back");
    assert_eq!(of("plan.execution.end")["state"], "rolled_back");
    let mails = sink.messages();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert!(mails[0].body.contains("switching: drill"), "{:?}", mails[0]);

    // A channel that cannot be reached fails the step, naming it; the run pauses.
    let doc = json!({"name": "unheard", "stages": [{"name": "tell", "steps": [{"name": "tell",
        "notify": {"channels": ["dead"], "message": "anyone?"}}]}]});
    let pid = save(&app, &doc).await;
    let id = start_saved(&app, pid, json!({})).await;
    let view = until(&app, id, "paused").await;
    let error = view["steps"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("channel `dead`"), "{view}");
}
