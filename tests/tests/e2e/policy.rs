//! Probing policy: several locations with a k-of-n rule, the degraded state, and backing off
//! when pageinspect is at its limit instead of counting the page as down.

use has_tests::{
    Targets, TestDb, eventually, spawn::test_config, spawn_acmangkut, spawn_pageinspect_with,
};
use serde_json::{Value, json};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitor_is_down_only_when_k_of_its_n_locations_fail() {
    let targets = Targets::start().await;
    let (near, _h1) = spawn_pageinspect_with(None, |c| c.location = "near".into()).await;
    // The "far" executor reads at most 1 byte of a body: the healthy page fails there.
    let (far, _h2) = spawn_pageinspect_with(None, |c| {
        c.location = "far".into();
        c.probe.max_body_bytes = 1;
    })
    .await;
    let db = TestDb::new();
    let mut config = test_config(&db, &near);
    config.pageinspect.locations.insert("far".into(), far);
    let app = spawn_acmangkut(config).await;

    let monitor = |name: &str, k: i32| {
        json!({"name": name, "interval_seconds": 1, "locations": ["default", "far"],
               "location_failure_threshold": k,
               "probe": {"kind": "http", "target": targets.url("/healthy")}})
    };
    let tolerant = app.create_monitor(monitor("two-of-two", 2)).await["id"]
        .as_i64()
        .expect("id");
    let strict = app.create_monitor(monitor("one-of-two", 1)).await["id"]
        .as_i64()
        .expect("id");
    app.wait_for_state(tolerant, "up").await;
    app.wait_for_state(strict, "down").await;

    let results = app.results(tolerant).await;
    let at = |loc: &str| {
        results
            .iter()
            .find(|r| r["location"] == loc)
            .cloned()
            .expect("a result from each location")
    };
    assert_eq!(at("default")["success"], true);
    assert_eq!(at("far")["success"], false);
    assert_eq!(at("far")["failure_reason"], "body_too_large");
    assert_eq!(
        at("far")["detail"]["location"],
        "far",
        "pageinspect labels its results"
    );

    let bad = json!({"name": "x", "locations": ["default"], "location_failure_threshold": 2,
                     "probe": {"kind": "tcp", "target": "127.0.0.1:9"}});
    let r = app.post_json("/api/v1/monitors", &bad).await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["field"], "location_failure_threshold");
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_pass_is_degraded_and_recorded_as_a_success() {
    let (targets, (_pi, _h), _db, app) = has_tests::probing().await;
    let id = app
        .create_monitor(
            json!({"name": "slowish", "interval_seconds": 1, "degraded_threshold_ms": 100,
                               "probe": {"kind": "http", "target": targets.url("/slowish")}}),
        )
        .await["id"]
        .as_i64()
        .expect("id");
    app.wait_for_state(id, "degraded").await;
    let summary = app
        .get_json(&format!("/api/v1/monitors/{id}/summary"))
        .await;
    assert_eq!(
        summary["windows"][0]["availability_percent"], 100.0,
        "degraded is still available"
    );
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_executor_makes_acmangkut_back_off_not_fail() {
    let targets = Targets::start().await;
    // One probe at a time, each taking 300 ms: concurrent batches are answered 429. Four
    // monitors every 2 s need 1.2 s of probing per 2 s, so the executor can keep up once the
    // scheduler spreads the batches out (every second would overload it for good).
    let (pi, _h) = spawn_pageinspect_with(None, |c| c.probe.max_concurrency = 1).await;
    let db = TestDb::new();
    let mut config = test_config(&db, &pi);
    config.scheduler.batch_size = 1;
    config.scheduler.max_in_flight = 4;
    let app = spawn_acmangkut(config).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let m = app
            .create_monitor(json!({"name": format!("m{i}"), "interval_seconds": 2,
                                   "probe": {"kind": "http", "target": targets.url("/slowish")}}))
            .await;
        ids.push(m["id"].as_i64().expect("id"));
    }
    eventually(Duration::from_secs(15), "back-offs", || async {
        (app.metric("has_scheduler_backoffs_total").await >= 2.0).then_some(())
    })
    .await;
    // Deferred batches come back and pass: nobody was marked down for the executor's limit.
    for id in &ids {
        app.wait_for_state(*id, "up").await;
        let results = app.results(*id).await;
        assert!(results.iter().all(|r| r["success"] == true), "{results:?}");
    }
    assert_eq!(app.metric("has_controllermanager_failure_total").await, 0.0);
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_attempt_of_a_retried_probe_is_recorded() {
    let (targets, (_pi, _h), _db, app) = has_tests::probing().await;
    let monitor = |name: &str, path: &str| {
        json!({"name": name, "interval_seconds": 3600,
               "probe": {"kind": "http", "target": targets.url(path), "retries": 2,
                         "retry_delay_ms": 50}})
    };
    let broken = app.create_monitor(monitor("broken", "/500")).await["id"]
        .as_i64()
        .expect("id");
    let flaky = app.create_monitor(monitor("flaky", "/flaky")).await["id"]
        .as_i64()
        .expect("id");

    // One run each (the next is an hour away): all three attempts of the broken one...
    app.wait_for_state(broken, "down").await;
    let mut attempts: Vec<i64> = app
        .results(broken)
        .await
        .iter()
        .filter_map(|r| r["attempt"].as_i64())
        .collect();
    attempts.sort_unstable();
    assert_eq!(attempts, [1, 2, 3]);
    // ...and the flaky one's failed first attempt next to its passing retry.
    app.wait_for_state(flaky, "up").await;
    let results = app.results(flaky).await;
    assert_eq!(results.len(), 2, "{results:?}");
    let first = results
        .iter()
        .find(|r| r["attempt"] == 1)
        .expect("attempt 1");
    let second = results
        .iter()
        .find(|r| r["attempt"] == 2)
        .expect("attempt 2");
    assert_eq!(
        (first["success"].as_bool(), second["success"].as_bool()),
        (Some(false), Some(true))
    );
    app.handle.stop().await;
}
