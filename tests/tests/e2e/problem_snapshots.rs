//! Error answers as a client receives them, pinned by snapshots: status, content type and the
//! problem+json body byte for byte. The unique violation's detail quotes the database's own
//! words, so that one has a snapshot per backend.

use has_tests::{TestDb, spawn::test_config, spawn_acmangkut};
use serde_json::json;

async fn answer(r: reqwest::Response) -> String {
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    // The body byte for byte, as sent.
    let body = r.text().await.expect("a body");
    format!("{status} {content_type}\n{body}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_answers_are_the_published_problems() {
    let db = TestDb::new();
    let mut config = test_config(&db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    let app = spawn_acmangkut(config).await;
    let monitor = json!({"name": "taken", "probe": {"kind": "tcp", "target": "127.0.0.1:9"}});
    app.create_monitor(monitor.clone()).await;

    insta::assert_snapshot!(
        "not_found",
        answer(app.get("/api/v1/monitors/987654").await).await
    );
    let mut bad = monitor.clone();
    bad["name"] = json!("other");
    bad["interval_seconds"] = json!(0);
    insta::assert_snapshot!(
        "invalid_field",
        answer(app.post_json("/api/v1/monitors", &bad).await).await
    );
    let backend = if TestDb::is_postgres() {
        "postgres"
    } else {
        "sqlite"
    };
    let taken = answer(app.post_json("/api/v1/monitors", &monitor).await).await;
    insta::with_settings!({ snapshot_suffix => backend }, {
        insta::assert_snapshot!("name_taken", taken);
    });
}
