//! A user defines monitors; acmangkut schedules them, pageinspect probes them, results,
//! states and summaries come back through the API.

use has_tests::{
    Targets, TestDb, eventually, spawn::test_config, spawn_acmangkut, spawn_pageinspect,
};
use serde_json::{Value, json};
use std::time::Duration;

fn http_monitor(name: &str, target: String, extra: Value) -> Value {
    let mut probe = json!({"kind": "http", "target": target, "timeout_ms": 1500});
    if let (Some(p), Some(e)) = (probe.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    json!({"name": name, "probe": probe, "interval_seconds": 1,
           "failure_threshold": 2, "success_threshold": 1,
           "labels": {"env": "test", "team": name}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_are_probed_and_their_state_follows_the_target() {
    let (targets, (_pi, _pi_handle), _db, app) = has_tests::probing().await;

    let healthy = app
        .create_monitor(http_monitor(
            "healthy",
            targets.url("/healthy"),
            json!({"conditions": ["[STATUS] == 200", "[BODY].status == UP"]}),
        ))
        .await;
    let failing = app
        .create_monitor(http_monitor("failing", targets.url("/500"), json!({})))
        .await;
    let refused = app
        .create_monitor(http_monitor(
            "refused",
            format!("http://127.0.0.1:{}/", targets.refused_port),
            json!({}),
        ))
        .await;
    let looping = app
        .create_monitor(http_monitor(
            "loop",
            targets.url("/loop"),
            json!({"max_redirects": 3}),
        ))
        .await;

    let id = |m: &Value| m["id"].as_i64().expect("id");
    app.wait_for_state(id(&healthy), "up").await;
    app.wait_for_state(id(&failing), "down").await;
    app.wait_for_state(id(&refused), "down").await;
    app.wait_for_state(id(&looping), "down").await;

    let ok = &app.results(id(&healthy)).await[0];
    assert_eq!(ok["success"], true);
    assert_eq!(ok["status_code"], 200);
    assert_eq!(ok["detail"]["conditions"][1]["observed"], "UP", "{ok}");
    let bad = &app.results(id(&failing)).await[0];
    assert_eq!(bad["status_code"], 500);
    assert_eq!(
        app.results(id(&refused)).await[0]["failure_reason"],
        "connection_refused"
    );
    assert_eq!(
        app.results(id(&looping)).await[0]["failure_reason"],
        "too_many_redirects"
    );

    // Two consecutive failures were needed before `down`: the state change says so.
    let changes = app
        .get_json(&format!(
            "/api/v1/state-changes?monitor_id={}",
            id(&failing)
        ))
        .await;
    assert_eq!(changes[0]["to_state"], "down", "{changes}");
    let failures_before_down = app.results(id(&failing)).await.len();
    assert!(
        failures_before_down >= 2,
        "went down after {failures_before_down} result(s)"
    );

    let summary = app
        .get_json(&format!("/api/v1/monitors/{}/summary", id(&healthy)))
        .await;
    let hour = &summary["windows"][0];
    assert_eq!(hour["window"], "1h");
    assert_eq!(hour["availability_percent"], 100.0, "{summary}");
    assert!(hour["latency_p50_seconds"].as_f64().expect("p50") > 0.0);
    let down_summary = app
        .get_json(&format!("/api/v1/monitors/{}/summary", id(&failing)))
        .await;
    assert_eq!(down_summary["windows"][2]["availability_percent"], 0.0);

    let overview = app.get_json("/api/v1/overview").await;
    assert_eq!(overview["counts"]["up"], 1, "{overview}");
    assert_eq!(overview["counts"]["down"], 3, "{overview}");
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_target_times_out_without_holding_the_scheduler() {
    let (targets, (_pi, _h), _db, app) = has_tests::probing().await;
    let slow = app
        .create_monitor(http_monitor(
            "slow",
            targets.url("/slow"),
            json!({"timeout_ms": 500}),
        ))
        .await;
    let endless = app
        .create_monitor(http_monitor(
            "endless",
            targets.url("/endless"),
            json!({"timeout_ms": 1000}),
        ))
        .await;
    let healthy = app
        .create_monitor(http_monitor("fast", targets.url("/healthy"), json!({})))
        .await;
    for (m, reason) in [(&slow, "timeout"), (&endless, "body_too_large")] {
        let id = m["id"].as_i64().expect("id");
        let r = eventually(Duration::from_secs(15), "a result", || async {
            app.results(id).await.into_iter().next()
        })
        .await;
        assert_eq!(r["failure_reason"], reason, "{r}");
        assert!(
            r["duration_seconds"].as_f64().expect("duration") < 1.5,
            "{r}"
        );
    }
    app.wait_for_state(healthy["id"].as_i64().expect("id"), "up")
        .await;
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_run_now_update_and_delete() {
    let (targets, (_pi, _h), _db, app) = has_tests::probing().await;
    let mut body = http_monitor("web", targets.url("/healthy"), json!({}));
    body["interval_seconds"] = json!(3600);
    body["degraded_threshold_ms"] = json!(5000);
    let m = app.create_monitor(body.clone()).await;
    let id = m["id"].as_i64().expect("id");
    // The first run happens right after creation, the next not for an hour.
    app.wait_for_state(id, "up").await;
    assert_eq!(app.results(id).await.len(), 1);

    let r = app
        .post_json(&format!("/api/v1/monitors/{id}/run"), &json!({}))
        .await;
    assert_eq!(r.status(), 202);
    eventually(Duration::from_secs(10), "the run-now result", || async {
        (app.results(id).await.len() == 2).then_some(())
    })
    .await;

    let paused: Value = app
        .post_json(&format!("/api/v1/monitors/{id}/pause"), &json!({}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(paused["state"], "paused");
    let r = app
        .post_json(&format!("/api/v1/monitors/{id}/run"), &json!({}))
        .await;
    assert_eq!(r.status(), 409, "a paused monitor does not run");
    let resumed: Value = app
        .post_json(&format!("/api/v1/monitors/{id}/resume"), &json!({}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(resumed["state"], "pending");
    app.wait_for_state(id, "up").await;

    body["description"] = json!("edited");
    body.as_object_mut()
        .expect("object")
        .remove("degraded_threshold_ms");
    body["labels"] = json!({"env": "prod"});
    let r = app
        .http
        .put(app.url(&format!("/api/v1/monitors/{id}")))
        .json(&body)
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 200);
    let listed = app
        .get_json("/api/v1/monitors?label=env=prod&state=up")
        .await;
    assert_eq!(listed["total"], 1, "{listed}");
    assert_eq!(listed["items"][0]["description"], "edited");
    assert!(
        listed["items"][0].get("degraded_threshold_ms").is_none(),
        "PUT replaces: an absent field is cleared"
    );
    assert_eq!(
        app.get_json("/api/v1/monitors?label=env=test").await["total"],
        0
    );

    let r = app
        .http
        .delete(app.url(&format!("/api/v1/monitors/{id}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);
    assert_eq!(
        app.get(&format!("/api/v1/monitors/{id}")).await.status(),
        404
    );
    app.handle.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_paginates() {
    let (pi, _h) = spawn_pageinspect(None).await;
    let db = TestDb::new();
    let mut config = test_config(&db, &pi);
    config.scheduler.enabled = false;
    let app = spawn_acmangkut(config).await;
    for i in 0..7 {
        app.create_monitor(
            json!({"name": format!("m{i}"), "probe": {"kind": "tcp", "target": "127.0.0.1:9"}}),
        )
        .await;
    }
    let page = app.get_json("/api/v1/monitors?page=2&per_page=3").await;
    assert_eq!(page["total"], 7);
    assert_eq!(page["page"], 2);
    let names: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(names, ["m3", "m4", "m5"]);
    app.handle.stop().await;
}

/// A page of the list shows each monitor exactly as reading it alone does: the page is written
/// straight from the rows, a monitor alone through serde.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_page_shows_each_monitor_as_reading_it_alone_does() {
    let (targets, (_pi, _h), _db, app) = has_tests::probing().await;
    let odd = "quote \" backslash \\ tab \t newline \n ünï 巡检 😀 </script>";
    // Label keys that bytewise order and a PostgreSQL collation order differently.
    let labels = json!({"ab": odd, "a-z": "1", "a.b/c": "", "env": "prod"});
    let bodies = [
        json!({"name": format!("{odd} http"), "description": odd, "interval_seconds": 3600,
               "labels": labels, "degraded_threshold_ms": 60000, "locations": ["default"],
               "probe": {"kind": "http", "target": targets.url("/healthy"), "timeout_ms": 1500,
                         "method": "GET", "headers": {"X-Odd": odd, "Accept": "*/*"},
                         "conditions": ["[STATUS] == 200"], "max_redirects": 2}}),
        json!({"name": "tcp down", "interval_seconds": 3600, "labels": {"env": "prod"},
               "probe": {"kind": "tcp", "target": "127.0.0.1:9", "timeout_ms": 500,
                         "body": "PING\r\n", "expect": "PONG", "ip_preference": "ipv4"}}),
        json!({"name": "tls down", "interval_seconds": 3600, "failure_threshold": 2,
               "probe": {"kind": "tls", "target": "127.0.0.1:9", "timeout_ms": 500,
                         "insecure_skip_verify": true, "retries": 1, "retry_delay_ms": 10}}),
        json!({"name": "paused", "interval_seconds": 3600,
               "probe": {"kind": "http", "target": targets.url("/healthy")}}),
    ];
    let mut ids = Vec::new();
    for body in bodies {
        ids.push(app.create_monitor(body).await["id"].as_i64().expect("id"));
    }
    // Each is checked once right away, then not for an hour: wait for those checks to land.
    for id in &ids[..3] {
        eventually(Duration::from_secs(20), "the first check", || async {
            let m = app.get_json(&format!("/api/v1/monitors/{id}")).await;
            m.get("last_checked_at").map(|_| ())
        })
        .await;
    }
    let r = app
        .post_json(&format!("/api/v1/monitors/{}/pause", ids[3]), &json!({}))
        .await;
    assert_eq!(r.status(), 200);

    let mut seen = 0;
    for query in [
        "per_page=50",
        "per_page=2&page=2",
        "label=env=prod",
        "state=paused",
    ] {
        let text = body_of(&app, &format!("/api/v1/monitors?{query}")).await;
        let page: Value = serde_json::from_str(&text).expect("json");
        let items = page["items"].as_array().expect("items");
        assert!(!items.is_empty(), "{query}: {page}");
        for item in items {
            let id = item["id"].as_i64().expect("id");
            let alone = body_of(&app, &format!("/api/v1/monitors/{id}")).await;
            // The same bytes (fields and labels in the same order), hence the same values.
            assert!(
                text.contains(&alone),
                "{query}: monitor {id} reads\n{alone}\nbut the page has\n{item}"
            );
            assert_eq!(item, &serde_json::from_str::<Value>(&alone).expect("json"));
            seen += 1;
        }
    }
    assert_eq!(seen, 4 + 2 + 2 + 1);
    app.handle.stop().await;
}

async fn body_of(app: &has_tests::TestApp, path: &str) -> String {
    let r = app.get(path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.text().await.expect("body")
}

/// `has_scheduler_lag_seconds` counts from when a run was due to when its probe started, not
/// to when the monitor was claimed: a probe that waits for pageinspect's only probe slot
/// behind a slow one is late by that wait, though it was claimed at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lag_is_measured_when_the_probe_starts_not_when_it_is_claimed() {
    let targets = Targets::start().await;
    let (pi, _h) =
        has_tests::spawn::spawn_pageinspect_with(None, |c| c.probe.max_concurrency = 1).await;
    let db = TestDb::new();
    // Both monitors are created before any scheduler runs, so one claim takes both into one
    // batch, the slow one first (it was due first).
    let mut quiet = test_config(&db, &pi);
    quiet.scheduler.enabled = false;
    let setup = spawn_acmangkut(quiet).await;
    let slow = json!({"timeout_ms": 1500});
    let mut first = http_monitor("slow", targets.url("/slow"), slow);
    let mut second = http_monitor("behind", targets.url("/healthy"), json!({}));
    for m in [&mut first, &mut second] {
        m["interval_seconds"] = json!(3600);
    }
    setup.create_monitor(first).await;
    let behind = setup.create_monitor(second).await;
    setup.handle.stop().await;

    let app = spawn_acmangkut(test_config(&db, &pi)).await;
    let id = behind["id"].as_i64().expect("id");
    let r = eventually(Duration::from_secs(15), "a result", || async {
        app.results(id).await.into_iter().next()
    })
    .await;
    assert_eq!(r["success"], true, "{r}");
    let text = app.get("/metrics").await.text().await.expect("metrics");
    let lag = |s: &str| has_tests::spawn::metric_sum(&text, s);
    assert_eq!(lag("has_scheduler_lag_seconds_count"), 2.0, "{text}");
    assert!(lag("has_scheduler_lag_seconds_sum") >= 1.5, "{text}");
    // Both were claimed together (an equal claim-time lag, however long the restart took), so
    // only a lag taken at probe start puts the two in different buckets, 1.5 s apart.
    let first_edge = |n: f64| {
        acmangkut::metrics::SCHEDULER_LAG_BUCKETS
            .into_iter()
            .find(|le| lag(&format!("has_scheduler_lag_seconds_bucket{{le=\"{le}\"}}")) >= n)
    };
    assert!(
        first_edge(1.0) < first_edge(2.0),
        "the probe behind the slow one started 1.5 s after the other:\n{text}"
    );
    app.handle.stop().await;
}

/// A run pageinspect refuses with 429 (its probe slots taken, as by another replica sharing
/// it) is sent again while its lease is held, so it is late by the wait, counted as lag from
/// when it was due, and its monitor stays on its interval grid. Giving it back due "after the
/// Retry-After" moved that run and every later one, and the lag metric then hid the delay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_refused_as_busy_is_sent_again_and_stays_on_its_schedule() {
    // Room for more probes than pageinspect takes: the second batch reaches it while the slow
    // probe holds its only slot.
    let text = two_runs_for_one_probe_slot(4).await;
    assert!(
        metric_sum(&text, "has_scheduler_backoffs_total") >= 1.0,
        "{text}"
    );
}

/// With `max_probes_in_flight` matching pageinspect's slots, the batch waits in acmangkut for
/// room instead of being refused: no 429 at all, and the wait still counts as lag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_waits_for_room_at_pageinspect_instead_of_being_refused() {
    let text = two_runs_for_one_probe_slot(1).await;
    assert_eq!(
        metric_sum(&text, "has_scheduler_backoffs_total"),
        0.0,
        "{text}"
    );
}

fn metric_sum(text: &str, name: &str) -> f64 {
    has_tests::spawn::metric_sum(text, name)
}

/// Two monitors due at once whose probes each take 1.5 s, one probe per batch, against a
/// pageinspect with one probe slot. Asserts that both ran once, whichever came second after
/// waiting for the other's slot (lag),
/// and both stay on their interval grid; returns acmangkut's metrics.
async fn two_runs_for_one_probe_slot(max_probes_in_flight: usize) -> String {
    let targets = Targets::start().await;
    let (pi, _h) =
        has_tests::spawn::spawn_pageinspect_with(None, |c| c.probe.max_concurrency = 1).await;
    let db = TestDb::new();
    let mut quiet = test_config(&db, &pi);
    quiet.scheduler.enabled = false;
    let setup = spawn_acmangkut(quiet).await;
    let mut created = Vec::new();
    for name in ["slow", "also slow"] {
        let mut m = http_monitor(name, targets.url("/slow"), json!({"timeout_ms": 1500}));
        m["interval_seconds"] = json!(3600);
        created.push(setup.create_monitor(m).await);
    }
    setup.handle.stop().await;
    let due = |m: &Value| {
        let at = m["next_run_at"].as_str().expect("next_run_at");
        chrono::DateTime::parse_from_rfc3339(at).expect("a time")
    };

    let mut config = test_config(&db, &pi);
    config.scheduler.batch_size = 1;
    config.scheduler.max_probes_in_flight = max_probes_in_flight;
    let app = spawn_acmangkut(config).await;
    for m in &created {
        let id = m["id"].as_i64().expect("id");
        let results = eventually(Duration::from_secs(15), "a result", || async {
            Some(app.results(id).await).filter(|r| !r.is_empty())
        })
        .await;
        assert_eq!(results.len(), 1, "run once: {results:?}");
    }
    let text = app.get("/metrics").await.text().await.expect("metrics");
    assert!(
        metric_sum(&text, "has_scheduler_lag_seconds_sum") >= 1.0,
        "one run waited for the other's slot, counted from when it was due:\n{text}"
    );
    for m in &created {
        let now = app.get(&format!("/api/v1/monitors/{}", m["id"])).await;
        let now: Value = now.json().await.expect("monitor");
        assert_eq!(
            due(&now) - due(m),
            chrono::TimeDelta::seconds(3600),
            "the next run is one interval after the one that was due: {now}"
        );
    }
    app.handle.stop().await;
    text
}
