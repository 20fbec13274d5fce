//! Crashes of the real `acmangkut` binary: `kill -9` while a monitor batch is out and while an
//! inspection run is going, then a restart on the same database. Nothing committed is lost,
//! no result or finding is written twice, the interrupted run ends as docs/inspection.md says,
//! and a replica that dies has its monitors taken over within a few intervals.

use acmangkut::store::Store;
use acmangkut::store::schema::{inspection_findings, monitors, probe_results};
use diesel::prelude::*;
use has_tests::process::Process;
use has_tests::{Targets, TestDb, eventually, spawn_pageinspect};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

const INTERVAL_MS: i64 = 2_000;

/// (id, monitor, started_at, success) of every stored probe result.
type ResultRow = (i64, i64, i64, bool);

async fn open(db: &TestDb) -> Store {
    let url = db.url.clone();
    tokio::task::spawn_blocking(move || Store::open(&url, 1, 5_000))
        .await
        .expect("join")
        .expect("open the database")
}

async fn stored_results(store: &Store) -> Vec<ResultRow> {
    store
        .run(|c| {
            acmangkut::db!(c, |c| probe_results::table
                .select((
                    probe_results::id,
                    probe_results::monitor_id,
                    probe_results::started_at,
                    probe_results::success
                ))
                .order(probe_results::id)
                .load::<ResultRow>(c))
        })
        .await
        .expect("read results")
}

/// The monitors whose lease `owner` holds.
async fn leased_by(store: &Store, owner: &'static str) -> Vec<i64> {
    store
        .run(move |c| {
            acmangkut::db!(c, |c| monitors::table
                .filter(monitors::lease_owner.eq(owner))
                .select(monitors::id)
                .load::<i64>(c))
        })
        .await
        .expect("read leases")
}

/// Every monitor's probe start times, sorted.
fn starts_by_monitor(rows: &[ResultRow]) -> BTreeMap<i64, Vec<i64>> {
    let mut by: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (_, monitor, started, _) in rows {
        by.entry(*monitor).or_default().push(*started);
    }
    for v in by.values_mut() {
        v.sort_unstable();
    }
    by
}

/// No slot of any monitor has two results: results of one monitor are an interval apart
/// (at least half of one, for the jitter of claiming).
fn assert_no_slot_twice(rows: &[ResultRow]) {
    for (monitor, starts) in starts_by_monitor(rows) {
        for pair in starts.windows(2) {
            assert!(
                pair[1] - pair[0] >= INTERVAL_MS / 2,
                "monitor {monitor} has two results for one slot: {starts:?}"
            );
        }
    }
}

/// Everything in `before` is still in `after`, unchanged.
fn assert_kept(before: &[ResultRow], after: &[ResultRow]) {
    let after: BTreeMap<i64, &ResultRow> = after.iter().map(|r| (r.0, r)).collect();
    for row in before {
        assert_eq!(
            after.get(&row.0),
            Some(&row),
            "a result committed before the crash is gone or changed"
        );
    }
}

/// The settings of a replica named `name` whose scheduler works in small batches.
fn replica(name: &str, pageinspect: &str) -> Vec<(&'static str, String)> {
    vec![
        ("HAS_SCHEDULER__REPLICA_ID", name.into()),
        ("HAS_SCHEDULER__TICK_MS", "100".into()),
        ("HAS_SCHEDULER__BATCH_SIZE", "5".into()),
        ("HAS_PAGEINSPECT__URL", pageinspect.into()),
    ]
}

/// `n` monitors every 2 s whose probe to `/slow` times out after 1.5 s, so that their leases
/// are held most of the time: a kill at any moment finds a batch out.
async fn slow_monitors(p: &Process, targets: &Targets, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let m = p
            .post(
                "/api/v1/monitors",
                &json!({"name": format!("m{i}"), "interval_seconds": INTERVAL_MS / 1000,
                        "probe": {"kind": "http", "target": targets.url("/slow"),
                                  "timeout_ms": 1500}}),
                201,
            )
            .await;
        ids.push(m["id"].as_i64().expect("id"));
    }
    ids
}

/// Waits until `owner` holds at least one lease (a batch is out), then `kill -9`s `p`; returns
/// the monitors leased at the kill and the kill's time (ms).
async fn kill_during_a_batch(
    p: &mut Process,
    store: &Store,
    owner: &'static str,
) -> (Vec<i64>, i64) {
    eventually(
        Duration::from_secs(10),
        "a batch out (leases held)",
        || async { (!leased_by(store, owner).await.is_empty()).then_some(()) },
    )
    .await;
    p.kill9();
    let killed_at = chrono::Utc::now().timestamp_millis();
    let held = leased_by(store, owner).await;
    assert!(!held.is_empty(), "the kill came during a monitor batch");
    (held, killed_at)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_a_replica_killed_during_a_monitor_batch_loses_nothing_and_doubles_nothing() {
    // Arrange: one acmangkut process with 10 slow monitors, running for a few intervals.
    let targets = Targets::start().await;
    let (pi, _pi) = spawn_pageinspect(None).await;
    let db = TestDb::new();
    let logs = tempfile::tempdir().expect("tempdir");
    let log = logs.path().join("acmangkut.log");
    let mut p = Process::start(&db.url, &replica("crash-a", &pi), &log).await;
    let ids = slow_monitors(&p, &targets, 10).await;
    let store = open(&db).await;
    eventually(
        Duration::from_secs(20),
        "two results per monitor",
        || async {
            let by = starts_by_monitor(&stored_results(&store).await);
            ids.iter()
                .all(|id| by.get(id).is_some_and(|s| s.len() >= 2))
                .then_some(())
        },
    )
    .await;

    // Act: kill -9 while a batch is out, then start again on the same database.
    let (held, killed_at) = kill_during_a_batch(&mut p, &store, "crash-a").await;
    let committed = stored_results(&store).await;
    let p = Process::start(&db.url, &replica("crash-a", &pi), &log).await;
    let restarted_at = chrono::Utc::now().timestamp_millis();
    eventually(
        Duration::from_secs(30),
        "two results per monitor after the restart",
        || async {
            let by = starts_by_monitor(&stored_results(&store).await);
            ids.iter()
                .all(|id| {
                    by.get(id)
                        .is_some_and(|s| s.iter().filter(|t| **t > restarted_at).count() >= 2)
                })
                .then_some(())
        },
    )
    .await;
    let takeovers = p.metric("has_scheduler_lease_takeovers_total").await;
    drop(p);
    let after = stored_results(&store).await;

    // Assert
    eprintln!(
        "killed with {} monitors leased at {killed_at}; {} results committed before",
        held.len(),
        committed.len()
    );
    assert_kept(&committed, &after);
    assert_no_slot_twice(&after);
    let monitors = after
        .iter()
        .map(|r| r.1)
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(monitors.len(), ids.len(), "every monitor still checked");
    assert!(
        takeovers >= held.len() as f64,
        "the restarted replica counted taking over the {} leases: {takeovers}",
        held.len()
    );
}

/// A task of one page rule over 5 targets, one check at a time: two quick ones, then three
/// that take 9 s each, so the run is surely going when the kill comes.
async fn long_task(p: &Process, targets: &Targets) -> i64 {
    p.post(
        "/api/v1/inspection/rules",
        &json!({"name": "page", "plugin": "page_probe", "level": "medium",
                "params": {"target": "{{url}}", "timeout_ms": 9000}}),
        201,
    )
    .await;
    let target = |name: &str, path: &str| json!({"name": name, "vars": {"url": targets.url(path)}});
    let task = p
        .post(
            "/api/v1/inspection/tasks",
            &json!({"name": "long", "rules": ["page"], "concurrency": 1, "targets": [
                target("a", "/healthy"), target("b", "/healthy"), target("c", "/slow"),
                target("d", "/slow"), target("e", "/slow")]}),
            201,
        )
        .await;
    task["id"].as_i64().expect("task id")
}

/// (id, rule, target, status) of every finding of run `run`.
async fn stored_findings(store: &Store, run: i64) -> Vec<(i64, String, String, String)> {
    store
        .run(move |c| {
            acmangkut::db!(c, |c| inspection_findings::table
                .filter(inspection_findings::run_id.eq(run))
                .select((
                    inspection_findings::id,
                    inspection_findings::rule_name,
                    inspection_findings::target,
                    inspection_findings::status
                ))
                .order(inspection_findings::id)
                .load(c))
        })
        .await
        .expect("read findings")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_a_replica_killed_during_an_inspection_run_ends_it_interrupted_with_its_findings() {
    // Arrange: an inspection engine that writes each finding as its check completes.
    let targets = Targets::start().await;
    let (pi, _pi) = spawn_pageinspect(None).await;
    let db = TestDb::new();
    let logs = tempfile::tempdir().expect("tempdir");
    let log = logs.path().join("acmangkut.log");
    let settings = vec![
        ("HAS_SCHEDULER__ENABLED", "false".to_string()),
        ("HAS_SCHEDULER__REPLICA_ID", "inspector".into()),
        ("HAS_PAGEINSPECT__URL", pi.clone()),
        ("HAS_INSPECTION__TICK_MS", "100".into()),
        ("HAS_INSPECTION__PROBE_BATCH_SIZE", "1".into()),
        ("HAS_INSPECTION__LEASE_SECONDS", "3".into()),
    ];
    let mut p = Process::start(&db.url, &settings, &log).await;
    let task = long_task(&p, &targets).await;
    let run = p
        .post(
            &format!("/api/v1/inspection/tasks/{task}/run"),
            &Value::Null,
            202,
        )
        .await["id"]
        .as_i64()
        .expect("run id");
    let store = open(&db).await;
    eventually(
        Duration::from_secs(20),
        "the first two findings written",
        || async { (stored_findings(&store, run).await.len() >= 2).then_some(()) },
    )
    .await;

    // Act: kill -9 mid-run; what was written is what a restart must find.
    p.kill9();
    let written = stored_findings(&store, run).await;
    let p = Process::start(&db.url, &settings, &log).await;
    let started = std::time::Instant::now();
    let ended = eventually(Duration::from_secs(20), "the run ended", || async {
        let r = p.get_json(&format!("/api/v1/inspection/runs/{run}")).await;
        (r["state"] != "running").then_some(r)
    })
    .await;
    let waited = started.elapsed();
    // Not resumed: a while later the run has exactly the findings it had.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = stored_findings(&store, run).await;

    // Assert: docs/inspection.md, "Runs, durability and replicas".
    eprintln!("run {run} ended {waited:?} after the restart: {ended}");
    assert_eq!(ended["state"], "interrupted", "{ended:#}");
    assert_eq!(
        ended["score"],
        Value::Null,
        "an interrupted run has no score"
    );
    assert!(
        ended["detail"]
            .as_str()
            .is_some_and(|d| d.contains("inspector")),
        "the detail names the replica that stopped: {ended}"
    );
    if !TestDb::is_postgres() {
        // A single SQLite replica ends it at start; PostgreSQL once its lease expires.
        assert!(
            waited < Duration::from_secs(3),
            "ended at start: {waited:?}"
        );
    }
    assert_eq!(
        after, written,
        "the findings written before the kill, and no more"
    );
    let mut checks: Vec<_> = after.iter().map(|f| (&f.1, &f.2)).collect();
    checks.sort();
    checks.dedup();
    assert_eq!(checks.len(), after.len(), "no check has two findings");
    assert!(
        after.iter().any(|f| f.2 == "a" && f.3 == "pass"),
        "{after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_a_killed_postgres_replica_s_monitors_are_taken_over_within_a_few_intervals() {
    // Arrange: two acmangkut processes on one PostgreSQL database, 20 slow monitors, the
    // default lease (`scheduler.lease_seconds`).
    let targets = Targets::start().await;
    let (pi, _pi) = spawn_pageinspect(None).await;
    let db = TestDb::always_postgres();
    let logs = tempfile::tempdir().expect("tempdir");
    let mut a = Process::start(
        &db.url,
        &replica("replica-a", &pi),
        &logs.path().join("a.log"),
    )
    .await;
    let b = Process::start(
        &db.url,
        &replica("replica-b", &pi),
        &logs.path().join("b.log"),
    )
    .await;
    let ids = slow_monitors(&a, &targets, 20).await;
    let store = open(&db).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        a.metric("has_scheduler_probes_total").await > 0.0,
        "A works"
    );

    // Act: kill -9 A while it holds leases.
    let (held, killed_at) = kill_during_a_batch(&mut a, &store, "replica-a").await;
    let taken = eventually(
        Duration::from_secs(60),
        "every monitor A held probed by B",
        || async {
            let by = starts_by_monitor(&stored_results(&store).await);
            held.iter()
                .map(|id| by.get(id)?.iter().find(|t| **t > killed_at).copied())
                .collect::<Option<Vec<i64>>>()
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Assert: taken over within a few intervals, logged and counted by B.
    let worst = taken.iter().map(|t| t - killed_at).max().unwrap_or(0);
    eprintln!(
        "A held {} of {} monitors at the kill; B probed them again after {:?} ms \
         (worst {worst} ms, lease {} s, interval {} ms)",
        held.len(),
        ids.len(),
        taken.iter().map(|t| t - killed_at).collect::<Vec<_>>(),
        acmangkut::Config::default().scheduler.lease_seconds,
        INTERVAL_MS
    );
    assert!(
        worst <= 5 * INTERVAL_MS,
        "takeover took {worst} ms, over 5 intervals"
    );
    let counted = b.metric("has_scheduler_lease_takeovers_total").await;
    assert!(counted >= held.len() as f64, "B counted {counted}");
    let lines = b.log_lines("took over monitors");
    assert!(
        lines.iter().any(|l| l["previous_owner"] == "replica-a"),
        "B logged the takeover from replica-a: {lines:?}"
    );
    assert_no_slot_twice(&stored_results(&store).await);
}
