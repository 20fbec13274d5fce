//! The console in a real browser: headless Chromium (Debian's `chromium`, installed by
//! `scripts/test`) loads a monitor's page; its latency chart and availability bar are drawn.

use has_tests::browser::{TestBrowser, dom, sign_in};
use has_tests::eventually;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitor_page_renders_its_chart_in_headless_chromium() {
    let (targets, (_pi, _h), _db, app) = has_tests::probing().await;
    let m = app
        .create_monitor(json!({"name": "shop front", "interval_seconds": 1,
                               "probe": {"kind": "http", "target": targets.url("/healthy")}}))
        .await;
    let id = m["id"].as_i64().expect("id");
    eventually(Duration::from_secs(20), "five results", || async {
        (app.results(id).await.len() >= 5).then_some(())
    })
    .await;

    app.create_user("operator1", "operator-password-1", &["operator"])
        .await;
    let page = app.url(&format!("/monitors/{id}?lang=en"));
    let browser = TestBrowser::launch().await;
    let tab = browser.open(&page).await;
    assert!(
        dom(&tab).await.contains("id=\"username\""),
        "without a session the page asks to sign in"
    );
    sign_in(&tab, "operator1", "operator-password-1").await;
    let dom = has_tests::browser::dom(&tab).await;
    assert!(
        dom.contains("shop front"),
        "the page names the monitor: {}",
        &dom[..dom.len().min(3000)]
    );
    let chart_start = dom
        .find("id=\"latency-chart\"")
        .expect("the latency chart is in the DOM");
    let chart = &dom[chart_start
        ..dom[chart_start..]
            .find("</svg>")
            .map_or(dom.len(), |e| chart_start + e)];
    let points = chart
        .split("points=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a polyline");
    assert!(
        points.split_whitespace().count() >= 5,
        "one point per result: {points}"
    );
    assert!(
        dom.contains("class=\"chart availability\""),
        "the availability bar is drawn"
    );

    let png = tab
        .screenshot(
            chromiumoxide::page::ScreenshotParams::builder()
                .full_page(true)
                .build(),
        )
        .await
        .expect("screenshot");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real page screenshot ({} bytes)",
        png.len()
    );
    if let Ok(dir) = std::env::var("HAS_TEST_SCREENSHOT_DIR") {
        let _ = std::fs::write(std::path::Path::new(&dir).join("monitor.png"), &png);
    }

    tab.goto(app.url(&format!("/monitors/{id}?lang=zh-CN")))
        .await
        .expect("navigate");
    let zh = has_tests::browser::dom(&tab).await;
    assert!(
        zh.contains("lang=\"zh-CN\""),
        "the Chinese page declares its language (same session)"
    );
    app.handle.stop().await;
}
