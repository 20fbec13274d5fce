//! When pageinspect cannot be reached, results say `executor_unavailable`, the page is not
//! marked down, and `controllermanager.failure` counts the failed dispatches (metric and log).

use has_tests::{TestDb, eventually, spawn::test_config, spawn_acmangkut};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_executor_is_not_a_down_page() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let db = TestDb::new();
    let metric_dir = tempfile::tempdir().expect("tempdir");
    let mut config = test_config(&db, &format!("http://127.0.0.1:{dead}"));
    config.metric_log.dir = metric_dir.path().to_path_buf();
    config.metric_log.interval_seconds = 1;
    let app = spawn_acmangkut(config).await;
    let m = app
        .create_monitor(
            json!({"name": "web", "interval_seconds": 1, "failure_threshold": 1,
                               "probe": {"kind": "http", "target": "http://127.0.0.1:9/"}}),
        )
        .await;
    let id = m["id"].as_i64().expect("id");

    let results = eventually(Duration::from_secs(15), "three results", || async {
        let r = app.results(id).await;
        (r.len() >= 3).then_some(r)
    })
    .await;
    assert!(
        results
            .iter()
            .all(|r| r["failure_reason"] == "executor_unavailable"),
        "{results:?}"
    );
    let monitor = app.get_json(&format!("/api/v1/monitors/{id}")).await;
    assert_eq!(
        monitor["state"], "pending",
        "the page's health is unknown, not down"
    );
    assert!(app.metric("has_controllermanager_failure_total").await >= 3.0);

    // The metric log has a line per interval with the failures of that interval.
    let today = chrono::Utc::now().format("%Y%m%d").to_string();
    let path = metric_dir.path().join(format!("{today}.log"));
    let text = eventually(Duration::from_secs(10), "the metric log", || async {
        std::fs::read_to_string(&path)
            .ok()
            .filter(|t| t.lines().any(|l| !l.ends_with("|0|0")))
    })
    .await;
    let line = text.lines().last().expect("a line");
    let fields: Vec<&str> = line.split('|').collect();
    assert_eq!(fields.len(), 4, "{line}");
    assert_eq!(fields[1], "controllermanager.failure");
    let total: u64 = fields[3].parse().expect("total");
    assert!(total >= 1, "{line}");
    let sum: u64 = text
        .lines()
        .filter_map(|l| l.split('|').nth(2)?.parse::<u64>().ok())
        .sum();
    assert_eq!(sum, total, "interval counts add up to the total: {text}");
    app.handle.stop().await;
}
