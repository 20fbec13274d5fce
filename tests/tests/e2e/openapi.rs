//! The OpenAPI document is generated from the handlers and served.

use has_tests::{TestDb, spawn::test_config, spawn_acmangkut};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_the_monitor_routes() {
    let db = TestDb::new();
    let mut config = test_config(&db, "http://127.0.0.1:9");
    config.scheduler.enabled = false;
    let app = spawn_acmangkut(config).await;
    let doc = app.get_json("/api/openapi.json").await;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{doc}"
    );
    for path in [
        "/api/v1/monitors",
        "/api/v1/monitors/{id}",
        "/api/v1/monitors/{id}/summary",
        "/api/v1/monitors/{id}/results",
    ] {
        assert!(doc["paths"][path].is_object(), "missing {path}");
    }
    assert!(doc["components"]["schemas"]["ProbeSpec"].is_object());
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    app.handle.stop().await;
}
