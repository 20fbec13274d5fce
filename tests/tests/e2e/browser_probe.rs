//! Browser probes end to end: acmangkut schedules them, pageinspect drives Chromium, a page
//! that answers 200 but throws in JavaScript is down, and its failure screenshot is served.

use has_tests::eventually;
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_broken_by_javascript_is_down_with_a_screenshot() {
    let (targets, (_pi, _h), _db, app) = has_tests::probing().await;
    let monitor = |name: &str, path: &str| {
        json!({"name": name, "interval_seconds": 3600,
               "probe": {"kind": "browser", "target": targets.url(path), "timeout_ms": 20000,
                         "conditions": ["[JS_ERRORS] == 0", "[DOM].#app.ready == true",
                                        "[TITLE] == Shop"]}})
    };
    let good = app.create_monitor(monitor("good page", "/page/good")).await["id"]
        .as_i64()
        .expect("id");
    let broken = app
        .create_monitor(monitor("broken page", "/page/broken"))
        .await["id"]
        .as_i64()
        .expect("id");

    let state = |id: i64| {
        let app = &app;
        async move {
            app.get_json(&format!("/api/v1/monitors/{id}")).await["state"]
                .as_str()
                .map(str::to_string)
        }
    };
    eventually(
        Duration::from_secs(60),
        "both browser monitors decided",
        || async {
            let (g, b) = (state(good).await?, state(broken).await?);
            (g != "pending" && b != "pending").then_some(())
        },
    )
    .await;
    assert_eq!(
        state(good).await.as_deref(),
        Some("up"),
        "{:?}",
        app.results(good).await
    );
    assert_eq!(state(broken).await.as_deref(), Some("down"));

    let r: Value = app
        .results(broken)
        .await
        .into_iter()
        .next()
        .expect("a result");
    assert_eq!(r["status_code"], 200, "the server answered fine: {r}");
    assert_eq!(r["failure_reason"], "condition_failed");
    let errors = r["detail"]["browser"]["js_errors"].to_string();
    assert!(errors.contains("checkout widget exploded"), "{errors}");
    let shot = r["screenshot_url"].as_str().expect("a screenshot was kept");
    let resp = app.get(shot).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/png");
    let png = resp.bytes().await.expect("body");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    assert!(
        r["detail"].get("screenshot_png_base64").is_none(),
        "the picture is not inlined in results"
    );
    assert!(
        app.results(good).await[0]["screenshot_url"].is_null(),
        "no screenshot for a pass"
    );
    app.handle.stop().await;
}
