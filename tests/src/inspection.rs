//! Helpers for the inspection center's end-to-end tests: define rules and tasks over HTTP, run
//! a task and wait for its report.

use crate::spawn::{TestApp, test_config};
use crate::{TestDb, eventually};
use serde_json::Value;
use std::time::Duration;

/// The test config with the inspection engine ticking every 100 ms.
pub fn inspection_config(db: &TestDb, pageinspect_url: &str) -> acmangkut::Config {
    let mut c = test_config(db, pageinspect_url);
    c.inspection.tick_ms = 100;
    c
}

/// `POST /api/v1/inspection/{what}` that must answer 201; returns the created object.
pub async fn create(app: &TestApp, what: &str, body: &Value) -> Value {
    let r = app
        .post_json(&format!("/api/v1/inspection/{what}"), body)
        .await;
    let status = r.status();
    let json: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 201, "create {what}: {json}");
    json
}

/// A `page_probe` rule of `level` on the target's `url` variable that passes on status 200,
/// with a suggestion naming it.
pub async fn page_rule(app: &TestApp, name: &str, level: &str, timeout_ms: u64) -> Value {
    create(
        app,
        "rules",
        &serde_json::json!({"name": name, "plugin": "page_probe", "level": level,
                "params": {"target": "{{url}}", "timeout_ms": timeout_ms,
                           "conditions": ["[STATUS] == 200"]},
                "suggestion": format!("look at {name}")}),
    )
    .await
}

/// `PUT /api/v1/inspection/{what}/{id}` that must answer 200; returns the object.
pub async fn update(app: &TestApp, what: &str, id: i64, body: &Value) -> Value {
    let r = app
        .http
        .put(app.url(&format!("/api/v1/inspection/{what}/{id}")))
        .json(body)
        .send()
        .await
        .expect("PUT");
    let status = r.status();
    let json: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 200, "update {what} {id}: {json}");
    json
}

pub fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no id in {v}"))
}

/// Queues a run of task `task_id` now; returns the run's id.
pub async fn run_now(app: &TestApp, task_id: i64) -> i64 {
    let r = app
        .post_json(
            &format!("/api/v1/inspection/tasks/{task_id}/run"),
            &Value::Null,
        )
        .await;
    let status = r.status();
    let json: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 202, "run task {task_id}: {json}");
    assert_eq!(json["state"], "queued", "{json}");
    id(&json)
}

/// Waits (up to `timeout`) until run `run_id` has finished; returns the run.
pub async fn wait_run(app: &TestApp, run_id: i64, timeout: Duration) -> Value {
    eventually(timeout, &format!("run {run_id} to finish"), || async {
        let run = app
            .get_json(&format!("/api/v1/inspection/runs/{run_id}"))
            .await;
        let done = matches!(
            run["state"].as_str(),
            Some("completed" | "timed_out" | "interrupted")
        );
        done.then_some(run)
    })
    .await
}

/// Runs task `task_id` and waits (20 s at most) for it to finish; returns its report.
pub async fn run_and_report(app: &TestApp, task_id: i64) -> Value {
    let run = run_now(app, task_id).await;
    wait_run(app, run, Duration::from_secs(20)).await;
    report(app, run).await
}

pub async fn report(app: &TestApp, run_id: i64) -> Value {
    app.get_json(&format!("/api/v1/inspection/runs/{run_id}/report"))
        .await
}

/// The finding of `rule` on `target` in a report; panics when there is none.
pub fn finding<'a>(report: &'a Value, rule: &str, target: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|f| f["rule_name"] == rule && f["target"] == target)
        })
        .unwrap_or_else(|| panic!("no finding of {rule} on {target} in {report:#}"))
}

/// Risk events matching the query string (`state=all&source=inspection`).
pub async fn risks(app: &TestApp, query: &str) -> Vec<Value> {
    app.get_json(&format!("/api/v1/inspection/risks?per_page=500&{query}"))
        .await["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Notification deliveries of a run, newest first.
pub async fn deliveries(app: &TestApp, run_id: i64) -> Vec<Value> {
    app.get_json(&format!("/api/v1/inspection/runs/{run_id}/deliveries"))
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// How many audit rows of actions starting with `prefix` (`rule.`) exist; `""`: all of them.
pub async fn audit_count(app: &TestApp, prefix: &str) -> i64 {
    let filter = if prefix.is_empty() {
        String::new()
    } else {
        format!("&action={prefix}")
    };
    app.get_json(&format!("/api/v1/audit?per_page=1{filter}"))
        .await["total"]
        .as_i64()
        .expect("total")
}
