//! "Run now" on an inspection task writes no error line: the queued run's empty summary (`{}`)
//! reads as zeros, not as an unreadable stored value. A test binary of its own for the reason
//! given in `has_tests::logged`.

use has_tests::inspection::{create, id, page_rule, run_now, wait_run};
use has_tests::logged::start_logging_to_files;
use has_tests::{Targets, TestDb, spawn_pageinspect};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_now_logs_no_error() {
    let (pageinspect, pageinspect_handle) = spawn_pageinspect(None).await;
    let targets = Targets::start().await;
    let db = TestDb::new();
    let (logs, guard, app) = start_logging_to_files(&db, |c| {
        c.pageinspect.url = pageinspect.clone();
        c.inspection.tick_ms = 100;
    })
    .await;
    page_rule(&app, "up", "low", 2000).await;
    let task = create(
        &app,
        "tasks",
        &json!({"name": "now", "rules": ["up"],
                "targets": [{"name": "t", "vars": {"url": targets.url("/")}}]}),
    )
    .await;
    let run_id = run_now(&app, id(&task)).await;
    let queued = app
        .get_json(&format!("/api/v1/inspection/runs/{run_id}"))
        .await;
    assert_eq!(queued["summary"]["high"]["total"], 0, "{queued}");
    let run = wait_run(&app, run_id, Duration::from_secs(60)).await;
    assert_eq!(run["state"], "completed", "{run}");
    app.handle.stop().await;
    pageinspect_handle.stop(true).await;
    drop(guard);

    let errors = std::fs::read_to_string(logs.path().join("common-error.log")).unwrap_or_default();
    assert_eq!(errors, "", "a run started by hand is no error");
    let default_log =
        std::fs::read_to_string(logs.path().join("app-default.log")).expect("default log");
    assert!(default_log.contains("acmangkut listening"), "{default_log}");
    assert!(
        !default_log.contains("ERROR") && !default_log.contains("unreadable"),
        "{default_log}"
    );
}
