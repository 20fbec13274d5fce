//! Bad input is answered with problem+json naming the field, and no probe runs.

use crate::helpers::{assert_problem, spawn_app, spawn_app_with, spawn_target};
use serde_json::{Value, json};

#[tokio::test]
async fn each_bad_probe_is_a_400_naming_the_field() {
    let (app, target) = (spawn_app().await, spawn_target().await);
    let url = target.url("/healthy");
    // (body, the field the answer must name, why it must fail)
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({ "kind": "http", "target": url, "bogus": 1 }),
            "bogus",
            "unknown field",
        ),
        (
            json!({ "kind": "http", "target": url, "timeout_ms": "fast" }),
            "timeout_ms",
            "wrong type",
        ),
        (
            json!({ "kind": "smtp", "target": url }),
            "kind",
            "unknown kind",
        ),
        (
            json!({ "kind": "http", "target": "example.com/x" }),
            "target",
            "URL without scheme",
        ),
        (
            json!({ "kind": "http", "target": url, "timeout_ms": 0 }),
            "timeout_ms",
            "zero timeout",
        ),
        (
            json!({ "kind": "tcp", "target": "no-port" }),
            "target",
            "tcp target without port",
        ),
        (
            json!({
                "kind": "http",
                "target": url,
                "conditions": ["[STATUS] == 200", "[STATUS] = 200"]
            }),
            "conditions[1]",
            "condition without a valid operator",
        ),
        (
            json!({ "kind": "browser", "target": url, "network_idle_quiet_ms": 10001 }),
            "network_idle_quiet_ms",
            "a network-idle wait past 10 s",
        ),
        (
            json!({ "kind": "browser", "target": url, "network_idle_quiet_ms": -1 }),
            "network_idle_quiet_ms",
            "a negative network-idle wait",
        ),
        (
            json!({ "kind": "http", "target": url, "headers": { "X-Bad": "a\nb" } }),
            "headers.X-Bad",
            "header value with a newline",
        ),
    ];
    for (body, field, why) in cases {
        let resp = app.post_probe(&body).await;
        let problem = assert_problem(resp, 400, Some(field)).await;
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{why}"
        );
    }
    assert_eq!(target.hits(), 0, "no probe may run for bad input");
}

#[tokio::test]
async fn a_bad_condition_names_its_position() {
    let app = spawn_app().await;
    let resp = app
        .post_probe(&json!({
            "kind": "http",
            "target": "http://127.0.0.1:1/",
            "conditions": ["[STATUS] = 200"]
        }))
        .await;
    let problem = assert_problem(resp, 400, Some("conditions[0]")).await;
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("position")),
        "{problem}"
    );
    assert!(
        problem["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("invalid-condition"))
    );
}

#[tokio::test]
async fn one_bad_spec_rejects_the_whole_batch_before_anything_runs() {
    let (app, target) = (spawn_app().await, spawn_target().await);
    let resp = app
        .batch(vec![
            json!({ "kind": "http", "target": target.url("/healthy") }),
            json!({
                "kind": "http",
                "target": target.url("/healthy"),
                "conditions": ["[NOPE] == 1"]
            }),
        ])
        .await;
    assert_problem(resp, 400, Some("probes[1].conditions[0]")).await;
    let resp = app
        .batch(vec![
            json!({ "kind": "http", "target": target.url("/healthy") }),
            json!({ "kind": "http", "target": target.url("/healthy"), "extra": true }),
        ])
        .await;
    assert_problem(resp, 400, Some("probes[1].extra")).await;
    assert_eq!(target.hits(), 0);
}

#[tokio::test]
async fn a_batch_over_max_batch_is_a_400_naming_probes() {
    let app = spawn_app_with(|c| c.probe.max_batch = 2).await;
    let spec = json!({ "kind": "tcp", "target": "127.0.0.1:1" });
    let resp = app.batch(vec![spec.clone(), spec.clone(), spec]).await;
    assert_problem(resp, 400, Some("probes")).await;
}

#[tokio::test]
async fn a_wrong_content_type_is_415() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(format!("{}/api/v1/probe", app.address))
        .header("content-type", "text/plain")
        .body(r#"{"kind":"tcp","target":"127.0.0.1:1"}"#)
        .send()
        .await
        .expect("answer");
    assert_problem(resp, 415, None).await;
}

#[tokio::test]
async fn an_oversize_body_is_413() {
    let app = spawn_app_with(|c| c.server.max_request_bytes = 1024).await;
    let resp = app
        .post_probe(&json!({ "kind": "tcp", "target": "127.0.0.1:1", "body": "x".repeat(4096) }))
        .await;
    assert_problem(resp, 413, None).await;
}

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = spawn_app().await;
    let resp = app
        .client
        .post(format!("{}/api/v1/probe", app.address))
        .header("content-type", "application/json")
        .body("{\"kind\": ")
        .send()
        .await
        .expect("answer");
    let problem = assert_problem(resp, 400, None).await;
    assert!(
        problem["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("malformed-json"))
    );
}

#[tokio::test]
async fn an_unknown_route_is_a_problem_404() {
    let app = spawn_app().await;
    assert_problem(app.get("/api/v1/nothing").await, 404, None).await;
}
