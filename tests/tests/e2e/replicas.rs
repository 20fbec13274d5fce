//! Several acmangkut replicas on one PostgreSQL share the work by leases: each due probe runs
//! once, and a dead replica's monitors are taken over by the others.
//!
//! Always on PostgreSQL (`HAS_TEST_DATABASE_URL`, else the local server this machine runs).

use has_tests::{
    Targets, TestDb, eventually, spawn::test_config, spawn_acmangkut, spawn_pageinspect,
};
use serde_json::json;
use std::time::Duration;

const INTERVAL_S: i64 = 2;

fn started_ms(r: &serde_json::Value) -> i64 {
    let s = r["started_at"].as_str().expect("started_at");
    chrono::DateTime::parse_from_rfc3339(s)
        .expect("rfc3339")
        .timestamp_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_run_each_due_probe_once_and_take_over_from_a_dead_one() {
    let targets = Targets::start().await;
    let (pi, _h) = spawn_pageinspect(None).await;
    let db = TestDb::always_postgres();
    let replica = |name: &str| {
        let mut c = test_config(&db, &pi);
        c.scheduler.replica_id = name.into();
        c.scheduler.lease_seconds = 3;
        c.scheduler.batch_size = 5;
        c
    };
    let a = spawn_acmangkut(replica("replica-a")).await;
    let b = spawn_acmangkut(replica("replica-b")).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        let m = a
            .create_monitor(
                json!({"name": format!("m{i}"), "interval_seconds": INTERVAL_S,
                                   "probe": {"kind": "http", "target": targets.url("/healthy"),
                                             "timeout_ms": 1000}}),
            )
            .await;
        ids.push(m["id"].as_i64().expect("id"));
    }
    tokio::time::sleep(Duration::from_secs(9)).await;

    // Each monitor ran on its 2 s grid: never twice for one slot, on whichever replica.
    for id in &ids {
        let mut times: Vec<i64> = a.results(*id).await.iter().map(started_ms).collect();
        times.sort_unstable();
        assert!(
            (3..=6).contains(&times.len()),
            "monitor {id} ran {} times in 9 s",
            times.len()
        );
        for pair in times.windows(2) {
            assert!(
                pair[1] - pair[0] >= 1_000,
                "monitor {id} ran twice for one slot: {times:?}"
            );
        }
    }
    let (done_a, done_b) = (
        a.metric("has_scheduler_probes_total").await,
        b.metric("has_scheduler_probes_total").await,
    );
    assert!(
        done_a > 0.0 && done_b > 0.0,
        "both replicas worked: a={done_a} b={done_b}"
    );

    // Replica A dies without releasing its leases; B takes its monitors over once they expire.
    a.handle.kill().await;
    let killed_at = chrono::Utc::now().timestamp_millis();
    eventually(
        Duration::from_secs(20),
        "every monitor probed after the kill",
        || async {
            for id in &ids {
                let latest = b.results(*id).await.first().map(started_ms).unwrap_or(0);
                if latest <= killed_at + 500 {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
    assert!(b.metric("has_scheduler_probes_total").await > done_b);
    b.handle.stop().await;
}
