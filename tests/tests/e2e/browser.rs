//! The console in a real browser: headless Chromium (Debian's `chromium`, installed by
//! `scripts/test`) loads a monitor's page; its latency chart and availability bar are drawn.

use has_tests::{
    Targets, TestDb, eventually, spawn::test_config, spawn_acmangkut, spawn_pageinspect,
};
use serde_json::json;
use std::time::Duration;

fn chromium() -> String {
    std::env::var("HAS_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// Runs headless Chromium on `url` with `extra` flags; returns stdout.
async fn headless(url: &str, extra: &[String]) -> String {
    let profile = tempfile::tempdir().expect("profile dir");
    let mut cmd = tokio::process::Command::new(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--virtual-time-budget=3000",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(url)
    .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .expect("chromium finished within 60 s")
        .unwrap_or_else(|e| panic!("cannot run {} (scripts/test installs it): {e}", chromium()));
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitor_page_renders_its_chart_in_headless_chromium() {
    let targets = Targets::start().await;
    let (pi, _h) = spawn_pageinspect(None).await;
    let db = TestDb::new();
    let app = spawn_acmangkut(test_config(&db, &pi)).await;
    let m = app
        .create_monitor(json!({"name": "shop front", "interval_seconds": 1,
                               "probe": {"kind": "http", "target": targets.url("/healthy")}}))
        .await;
    let id = m["id"].as_i64().expect("id");
    eventually(Duration::from_secs(20), "five results", || async {
        (app.results(id).await.len() >= 5).then_some(())
    })
    .await;

    let page = app.url(&format!("/monitors/{id}?lang=en"));
    let dom = headless(&page, &["--dump-dom".into()]).await;
    assert!(dom.contains("shop front"), "the page names the monitor");
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

    let shot_dir = tempfile::tempdir().expect("dir");
    let shot = shot_dir.path().join("monitor.png");
    headless(
        &page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,1000".into(),
        ],
    )
    .await;
    let png = std::fs::read(&shot).expect("a screenshot was written");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "a real page screenshot ({} bytes)",
        png.len()
    );
    if let Ok(dir) = std::env::var("HAS_TEST_SCREENSHOT_DIR") {
        let _ = std::fs::copy(&shot, std::path::Path::new(&dir).join("monitor.png"));
    }

    let zh = headless(
        &app.url(&format!("/monitors/{id}?lang=zh-CN")),
        &["--dump-dom".into()],
    )
    .await;
    assert!(
        zh.contains("lang=\"zh-CN\""),
        "the Chinese page declares its language"
    );
    app.handle.stop().await;
}
