//! With `auth.service_token` set, `/api/` needs the bearer token; health and metrics do not.

use crate::helpers::{assert_problem, spawn_app_with, spawn_target};
use serde_json::json;
use shared::Secret;

#[tokio::test]
async fn without_the_right_token_the_api_is_401_and_the_target_sees_nothing() {
    let app = spawn_app_with(|c| c.auth.service_token = Some(Secret::new("s3cret"))).await;
    let target = spawn_target().await;
    let spec = json!({ "kind": "http", "target": target.url("/healthy") });
    let url = format!("{}/api/v1/probe", app.address);

    let none = app
        .client
        .post(&url)
        .json(&spec)
        .send()
        .await
        .expect("answer");
    assert_eq!(
        none.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    assert_problem(none, 401, None).await;
    let wrong = app
        .client
        .post(&url)
        .bearer_auth("guess")
        .json(&spec)
        .send()
        .await
        .expect("answer");
    assert_problem(wrong, 401, None).await;
    let batch = app
        .client
        .post(format!("{}/api/v1/probes:batch", app.address))
        .json(&json!({ "probes": [spec] }))
        .send()
        .await
        .expect("answer");
    assert_problem(batch, 401, None).await;
    assert_eq!(target.hits(), 0, "no probe may run without the token");

    let r = app.probe(&spec).await;
    assert!(r.success, "{r:?}");
    assert_eq!(target.hits(), 1);
}

#[tokio::test]
async fn health_readiness_and_metrics_need_no_token() {
    let app = spawn_app_with(|c| c.auth.service_token = Some(Secret::new("s3cret"))).await;
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
}
