//! Liveness, readiness and the Prometheus metrics.

use crate::helpers::{spawn_app, spawn_target};
use serde_json::json;

#[tokio::test]
async fn healthz_and_readyz_answer_200() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    assert_eq!(app.get("/readyz").await.status(), 200);
}

fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_probes_by_kind_and_result() {
    let (app, target) = (spawn_app().await, spawn_target().await);
    app.probe(&json!({ "kind": "http", "target": target.url("/healthy") }))
        .await;
    app.probe(&json!({ "kind": "http", "target": target.url("/error") }))
        .await;
    let resp = app
        .batch(vec![
            json!({ "kind": "http", "target": target.url("/healthy") }),
        ])
        .await;
    assert_eq!(resp.status(), 200);

    let resp = app.get("/metrics").await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("text");
    assert_eq!(
        sample(&text, r#"has_probes_total{kind="http",result="success"}"#),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"has_probes_total{kind="http",result="failure"}"#),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"has_probe_failures_total{kind="http",reason="condition_failed"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, r#"has_probe_duration_seconds_count{kind="http"}"#),
        Some(3.0)
    );
    assert_eq!(sample(&text, "has_probes_in_flight"), Some(0.0));
    assert_eq!(sample(&text, "has_probe_batch_size_count"), Some(1.0));
}
