//! Retries: up to 1 + `retries` attempts, stopping at the first success, every attempt
//! reported; every result carries the location label.

use crate::helpers::{refused_port, spawn_app, spawn_app_with, spawn_flaky};
use serde_json::json;
use shared::probe::{BatchResponse, FailureReason};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_target_that_fails_twice_succeeds_on_the_third_attempt_with_both_failures_recorded() {
    let (app, target) = (spawn_app().await, spawn_flaky(2).await);
    let r = app
        .probe(&json!({ "kind": "http", "target": target.url("/"), "retries": 2 }))
        .await;
    assert!(r.success, "{r:?}");
    assert_eq!(r.attempt, 3);
    assert_eq!(r.status_code, Some(200));
    let earlier: Vec<_> = r
        .previous_attempts
        .iter()
        .map(|a| (a.attempt, a.success, a.failure_reason, a.status_code))
        .collect();
    assert_eq!(
        earlier,
        vec![
            (1, false, Some(FailureReason::ConditionFailed), Some(503)),
            (2, false, Some(FailureReason::ConditionFailed), Some(503)),
        ]
    );
    assert!(
        r.previous_attempts
            .iter()
            .all(|a| a.previous_attempts.is_empty())
    );
    assert_eq!(target.hits(), 3);

    let metrics = app.get("/metrics").await.text().await.expect("text");
    assert!(
        metrics.contains(r#"has_probe_attempts_total{kind="http",result="failure"} 2"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"has_probe_attempts_total{kind="http",result="success"} 1"#));
    assert!(metrics.contains(r#"has_probes_total{kind="http",result="success"} 1"#));
}

#[tokio::test]
async fn a_first_success_stops_the_attempts() {
    let (app, target) = (spawn_app().await, spawn_flaky(0).await);
    let r = app
        .probe(&json!({ "kind": "http", "target": target.url("/"), "retries": 5 }))
        .await;
    assert!(r.success);
    assert_eq!(r.attempt, 1);
    assert!(r.previous_attempts.is_empty());
    assert_eq!(target.hits(), 1);
}

#[tokio::test]
async fn exhausted_retries_report_every_attempt_and_pause_between_them() {
    let app = spawn_app().await;
    let target = format!("127.0.0.1:{}", refused_port());
    let start = Instant::now();
    let r = app
        .probe(&json!({ "kind": "tcp", "target": target, "retries": 2, "retry_delay_ms": 150 }))
        .await;
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "two pauses of 150 ms"
    );
    assert!(!r.success);
    assert_eq!(r.failure_reason, Some(FailureReason::ConnectionRefused));
    assert_eq!(r.attempt, 3);
    let numbers: Vec<u32> = r.previous_attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, [1, 2]);
    assert!(
        r.previous_attempts
            .iter()
            .all(|a| a.failure_reason == Some(FailureReason::ConnectionRefused))
    );
    assert!(r.previous_attempts[1].started_at > r.previous_attempts[0].started_at);
}

#[tokio::test]
async fn a_denied_target_is_not_retried() {
    let app = spawn_app().await;
    let r = app
        .probe(&json!({ "kind": "http", "target": "http://169.254.169.254/", "retries": 3 }))
        .await;
    assert_eq!(r.failure_reason, Some(FailureReason::TargetDenied));
    assert_eq!(r.attempt, 1);
    assert!(r.previous_attempts.is_empty());
}

#[tokio::test]
async fn every_result_and_attempt_carries_the_location_label() {
    let app = spawn_app_with(|c| c.location = "eu-west".into()).await;
    let target = spawn_flaky(1).await;
    let r = app
        .probe(&json!({ "kind": "http", "target": target.url("/"), "retries": 1 }))
        .await;
    assert!(r.success, "{r:?}");
    assert_eq!(r.location.as_deref(), Some("eu-west"));
    assert_eq!(r.previous_attempts[0].location.as_deref(), Some("eu-west"));

    let resp = app
        .batch(vec![
            json!({ "kind": "http", "target": target.url("/") }),
            json!({
                "kind": "tcp",
                "target": format!("127.0.0.1:{}", refused_port()),
                "retries": 1
            }),
        ])
        .await;
    let body: BatchResponse = resp.json().await.expect("batch response");
    assert!(
        body.results
            .iter()
            .all(|r| r.location.as_deref() == Some("eu-west"))
    );
    assert_eq!(body.results[1].attempt, 2);
}
