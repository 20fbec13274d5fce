//! Batches run concurrently and answer in request order.

use crate::helpers::{refused_port, spawn_app, spawn_target};
use serde_json::json;
use shared::probe::{BatchResponse, FailureReason, ProbeKind};
use std::time::{Duration, Instant};

#[tokio::test]
async fn results_come_back_in_request_order() {
    let (app, target) = (spawn_app().await, spawn_target().await);
    let refused = format!("127.0.0.1:{}", refused_port());
    let resp = app
        .batch(vec![
            json!({ "kind": "http", "target": target.url("/slow"), "timeout_ms": 300 }),
            json!({ "kind": "http", "target": target.url("/healthy") }),
            json!({ "kind": "tcp", "target": refused }),
            json!({ "kind": "http", "target": target.url("/error") }),
        ])
        .await;
    assert_eq!(resp.status(), 200);
    let body: BatchResponse = resp.json().await.expect("batch response");
    let reasons: Vec<_> = body.results.iter().map(|r| r.failure_reason).collect();
    assert_eq!(
        reasons,
        vec![
            Some(FailureReason::Timeout),
            None,
            Some(FailureReason::ConnectionRefused),
            Some(FailureReason::ConditionFailed)
        ]
    );
    assert_eq!(body.results[2].kind, ProbeKind::Tcp);
    assert_eq!(body.results[1].target, target.url("/healthy"));
}

#[tokio::test]
async fn slow_probes_in_a_batch_run_concurrently() {
    let (app, target) = (spawn_app().await, spawn_target().await);
    let slow = json!({ "kind": "http", "target": target.url("/slow"), "timeout_ms": 500 });
    let start = Instant::now();
    let resp = app
        .batch(vec![slow.clone(), slow.clone(), slow.clone(), slow])
        .await;
    assert_eq!(resp.status(), 200);
    let body: BatchResponse = resp.json().await.expect("batch response");
    assert_eq!(body.results.len(), 4);
    assert!(
        start.elapsed() < Duration::from_millis(1500),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn an_empty_batch_is_an_empty_answer() {
    let app = spawn_app().await;
    let body: BatchResponse = app.batch(vec![]).await.json().await.expect("json");
    assert!(body.results.is_empty());
}
