//! Scheduled inspections across replicas (each slot runs once), and the risk event overview:
//! what needs attention first (high before medium before low, oldest first), with filters.

use acmangkut::store::inspection::risks::{Raise, raise};
use has_tests::inspection::{
    create, id, inspection_config, page_rule, risks, run_and_report, update,
};
use has_tests::{Targets, TestApp, TestDb, eventually, spawn_acmangkut};
use serde_json::{Value, json};
use shared::inspection::Level;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn replica_config(db: &TestDb, name: &str) -> acmangkut::Config {
    let mut c = inspection_config(db, "http://127.0.0.1:9");
    c.scheduler.enabled = false;
    c.scheduler.replica_id = name.into();
    c.inspection.lease_seconds = 5;
    c.inspection.commands = [("echo".to_string(), "/bin/echo".into())].into();
    c
}

/// `scheduled_for` of the given runs, read behind the API's back (the API does not show it).
async fn slots(app: &TestApp, ids: Vec<i64>) -> Vec<i64> {
    let store = app.open_store().await;
    let rows = store
        .run(move |c| acmangkut::store::inspection::runs::rows(c, &ids))
        .await
        .expect("runs");
    rows.iter()
        .map(|r| r.scheduled_for.expect("a scheduled run has a slot"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risk_events_a_task_scheduled_every_second_runs_each_slot_once_across_replicas() {
    // Two replicas race for every slot on PostgreSQL; SQLite has one replica by design.
    let db = TestDb::new();
    let a = spawn_acmangkut(replica_config(&db, "replica-a")).await;
    let b = if TestDb::is_postgres() {
        Some(spawn_acmangkut(replica_config(&db, "replica-b")).await)
    } else {
        None
    };
    create(
        &a,
        "rules",
        &json!({"name": "echo-ok", "plugin": "command", "level": "low",
                "params": {"command": "echo", "args": ["ok"], "stdout_contains": "ok"}}),
    )
    .await;
    let mut body = json!({"name": "every-second", "rules": ["echo-ok"],
                          "schedule": "*/1 * * * * *", "timezone": "Asia/Shanghai"});
    let task = create(&a, "tasks", &body).await;
    let started = Instant::now();

    tokio::time::sleep(Duration::from_secs(6)).await;
    body["enabled"] = json!(false);
    update(&a, "tasks", id(&task), &body).await;
    let window = started.elapsed().as_secs_f64();
    let runs = eventually(Duration::from_secs(10), "every run finished", || async {
        let page = a
            .get_json(&format!(
                "/api/v1/inspection/runs?task_id={}&per_page=500",
                id(&task)
            ))
            .await;
        let runs = page["items"].as_array()?.clone();
        runs.iter()
            .all(|r| r["state"] == "completed")
            .then_some(runs)
    })
    .await;

    for r in &runs {
        assert_eq!(
            (&r["trigger"], &r["passed"]),
            (&json!("schedule"), &json!(1)),
            "{r}"
        );
    }
    let mut slots = slots(&a, runs.iter().map(id).collect()).await;
    slots.sort_unstable();
    let unique: BTreeSet<i64> = slots.iter().copied().collect();
    assert_eq!(unique.len(), slots.len(), "a slot ran twice: {slots:?}");
    assert!(
        slots.iter().all(|s| s % 1000 == 0),
        "slots are whole seconds: {slots:?}"
    );
    let n = slots.len() as f64;
    assert!(
        n >= window / 2.0 && n <= window + 1.0,
        "{n} runs in {window:.1} s: {slots:?}"
    );
    let gaps = slots.windows(2).filter(|w| w[1] - w[0] != 1000).count();
    assert!(gaps <= 1, "slots follow each other: {slots:?}");
    let mut executed = a.metric("has_inspection_runs_total").await;
    if let Some(b) = &b {
        executed += b.metric("has_inspection_runs_total").await;
    }
    assert_eq!(executed, n, "each run was executed by one replica, once");
    // Disabled: no more runs.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = a
        .get_json(&format!("/api/v1/inspection/runs?task_id={}", id(&task)))
        .await;
    assert_eq!(after["total"], runs.len());
    if let Some(b) = b {
        b.handle.stop().await;
    }
    a.handle.stop().await;
}

/// Opens an event behind the API's back, as a source other than inspections and monitors
/// (drills, plans) will: those are the ones that are not all high.
async fn raise_event(app: &TestApp, key: &str, level: Level, title: &str) {
    let store = app.open_store().await;
    let r = Raise {
        key: key.into(),
        source: "inspection",
        level,
        title: title.into(),
        detail: "raised by the test".into(),
        rule_id: None,
        target: None,
        monitor_id: None,
        task_id: None,
        run_id: None,
    };
    store
        .run(move |c| raise(c, &r))
        .await
        .expect("raise")
        .expect("a new event");
}

fn titles(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| e["title"].as_str().map(String::from))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risk_events_list_what_needs_attention_first_and_filter_by_state_level_and_source() {
    let (pageinspect, _h) = has_tests::spawn_pageinspect(None).await;
    let targets = Targets::start().await;
    let db = TestDb::new();
    let app = spawn_acmangkut(inspection_config(&db, &pageinspect)).await;
    let tick = || tokio::time::sleep(Duration::from_millis(20));

    // Oldest first: a low event, two high findings of one run, a medium event, a monitor.
    raise_event(&app, "test:disk", Level::Low, "disk filling").await;
    tick().await;
    page_rule(&app, "page-ok", "high", 1000).await;
    let task = create(
        &app,
        "tasks",
        &json!({"name": "pages", "rules": ["page-ok"], "targets": [
            {"name": "x", "vars": {"url": targets.url("/500")}},
            {"name": "y", "vars": {"url": targets.url("/500")}}]}),
    )
    .await;
    run_and_report(&app, id(&task)).await;
    tick().await;
    raise_event(&app, "test:cert", Level::Medium, "certificate expires soon").await;
    tick().await;
    app.create_monitor(
        json!({"name": "db", "interval_seconds": 1, "failure_threshold": 1,
            "probe": {"kind": "tcp", "target": format!("127.0.0.1:{}", targets.refused_port),
                      "timeout_ms": 500}}),
    )
    .await;
    eventually(Duration::from_secs(15), "the monitor's event", || async {
        (!risks(&app, "source=monitor").await.is_empty()).then_some(())
    })
    .await;

    let all = risks(&app, "").await;
    assert_eq!(
        titles(&all),
        [
            "page-ok failed on x",
            "page-ok failed on y",
            "Monitor db is down",
            "certificate expires soon",
            "disk filling"
        ],
        "high first, then oldest first"
    );
    let by = |q: &'static str| {
        let app = &app;
        async move { titles(&risks(app, q).await) }
    };
    assert_eq!(by("level=medium").await, ["certificate expires soon"]);
    assert_eq!(by("source=monitor").await, ["Monitor db is down"]);
    assert_eq!(by("source=inspection&level=high").await.len(), 2);
    let page = app
        .get_json("/api/v1/inspection/risks?per_page=2&page=2")
        .await;
    assert_eq!(page["total"], 5);
    assert_eq!(
        titles(page["items"].as_array().expect("items")),
        ["Monitor db is down", "certificate expires soon"]
    );

    // Acknowledged events still need attention; resolved ones leave the default view.
    let disk = all.last().expect("disk");
    let r = app
        .post_json(
            &format!("/api/v1/inspection/risks/{}/resolve", id(disk)),
            &json!({"comment": "cleaned up"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .post_json(
            &format!("/api/v1/inspection/risks/{}/acknowledge", id(&all[0])),
            &json!({"comment": "on it"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(by("").await.len(), 4);
    assert_eq!(by("state=resolved").await, ["disk filling"]);
    assert_eq!(by("state=acknowledged").await, ["page-ok failed on x"]);
    assert_eq!(by("state=open").await.len(), 3);
    assert_eq!(by("state=all").await.len(), 5);
    assert_eq!(by("state=open,resolved&level=low").await, ["disk filling"]);
    for (query, field) in [
        ("level=urgent", "level"),
        ("source=drill", "source"),
        ("state=open,gone", "state"),
    ] {
        let r = app.get(&format!("/api/v1/inspection/risks?{query}")).await;
        assert_eq!(r.status(), 400, "{query}");
        let problem: Value = r.json().await.expect("json");
        assert_eq!(problem["field"], field, "{query}: {problem}");
    }
    app.handle.stop().await;
}

fn event(key: &str, run_id: Option<i64>) -> Raise {
    Raise {
        key: key.into(),
        source: "inspection",
        level: Level::High,
        title: "page-ok failed on shop".into(),
        detail: "status code 500".into(),
        rule_id: None,
        target: Some("shop".into()),
        monitor_id: None,
        task_id: None,
        run_id,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn risk_events_two_replicas_opening_the_same_event_at_once_keep_one_and_both_finish() {
    // Replica B opens the event in a run's ending that has not committed yet; replica A's
    // ending, raising the same key, waits on the unique index and then finds it taken. A must
    // count an occurrence instead and go on with the rest of its ending in the same transaction.
    let db = TestDb::new();
    let app = spawn_acmangkut(replica_config(&db, "replica-a")).await;
    let (a, b) = (app.open_store().await, app.open_store().await);
    let ending_b = tokio::spawn(async move {
        b.run(|c| {
            acmangkut::store::write(c, |c| {
                raise(c, &event("rule:1:shop", Some(2)))?;
                std::thread::sleep(Duration::from_millis(800));
                Ok::<_, acmangkut::store::StoreError>(())
            })
        })
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let ending_a = a
        .run(|c| {
            acmangkut::store::write(c, |c| {
                let opened = raise(c, &event("rule:1:shop", Some(1)))?;
                // The rest of A's ending: clear what passed, in the same transaction.
                acmangkut::store::inspection::risks::clear(c, &["rule:1:blog".into()], "passed")?;
                Ok::<_, acmangkut::store::StoreError>(opened)
            })
        })
        .await;

    ending_b.await.expect("join").expect("B's ending commits");
    assert_eq!(
        ending_a.expect("A's ending commits"),
        None,
        "B opened it first"
    );
    let open = risks(&app, "").await;
    assert_eq!(open.len(), 1, "{open:#?}");
    assert_eq!(open[0]["occurrences"], 2, "A's sighting counts: {open:#?}");
    assert_eq!(open[0]["run_id"], 1, "A saw it last");
    app.handle.stop().await;
}
