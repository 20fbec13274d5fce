//! A browser killed under pageinspect is replaced and the next probe succeeds. A binary of its
//! own, so the only Chromium processes that are children of this process are this pool's.

#[path = "browser/helpers.rs"]
#[expect(
    dead_code,
    reason = "shared with tests/browser; this binary uses part of it"
)]
mod helpers;

use helpers::{metric, spawn_app, spawn_site};
use serde_json::json;
use std::time::Duration;

/// Chromium processes whose parent is this test process (the pool's browsers).
fn our_browsers() -> Vec<u32> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some(close) = stat.rfind(')') else {
                return false;
            };
            let comm = &stat[stat.find('(').unwrap_or(0) + 1..close];
            let ppid = stat[close + 1..].split_whitespace().nth(1);
            comm.contains("chrom") && ppid == Some(me.as_str())
        })
        .collect()
}

#[tokio::test]
async fn a_killed_browser_is_replaced_and_the_next_probe_succeeds() {
    let site = spawn_site().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let app = spawn_app(dir.path()).await;
    let spec = json!({ "kind": "browser", "target": site.url("/healthy"), "timeout_ms": 15000 });
    let first = app.probe(&spec).await;
    assert!(first.success, "{first:?}");
    let browsers = our_browsers();
    assert_eq!(browsers.len(), 1, "one browser in the pool: {browsers:?}");

    let killed = std::process::Command::new("kill")
        .args(["-9", &browsers[0].to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(500)).await;

    let next = app.probe(&spec).await;
    assert!(next.success, "{next:?}");
    let now = our_browsers();
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now[0], browsers[0], "a new browser");
    let text = app.metrics().await;
    assert!(
        text.contains("has_browser_restarts_total{reason=\"crashed\"} 1"),
        "{text}"
    );
    assert_eq!(metric(&text, "has_browser_pool_browsers"), Some(1.0));
}
