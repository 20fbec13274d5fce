//! At `max_concurrency` probes in flight, new requests get 429 with Retry-After at once.

use crate::helpers::{assert_problem, spawn_app_with, spawn_target};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_probe_over_the_concurrency_limit_is_429_with_retry_after() {
    let app = Arc::new(spawn_app_with(|c| c.probe.max_concurrency = 1).await);
    let target = spawn_target().await;
    let slow = json!({ "kind": "http", "target": target.url("/slow"), "timeout_ms": 3000 });
    let holder = {
        let (app, slow) = (app.clone(), slow.clone());
        tokio::spawn(async move { app.probe(&slow).await })
    };
    // Wait until the slow probe holds the only permit (readiness turns 503).
    let deadline = Instant::now() + Duration::from_secs(2);
    while app.get("/readyz").await.status() == 200 {
        assert!(Instant::now() < deadline, "the slow probe never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let start = Instant::now();
    let resp = app.post_probe(&slow).await;
    assert!(
        start.elapsed() < Duration::from_millis(500),
        "429 must not queue"
    );
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_problem(resp, 429, None).await;
    let resp = app
        .batch(vec![json!({ "kind": "tcp", "target": "127.0.0.1:1" })])
        .await;
    assert_problem(resp, 429, None).await;

    let held = holder.await.expect("holder finished");
    assert_eq!(
        held.failure_reason,
        Some(shared::probe::FailureReason::Timeout)
    );
    assert_eq!(app.get("/readyz").await.status(), 200, "ready again");
}
