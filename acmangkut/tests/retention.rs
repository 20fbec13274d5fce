//! Retention deletes raw results past `raw_days` and rollups past `rollup_days`, in small
//! batches, and keeps everything newer.

use acmangkut::config::RetentionConfig;
use acmangkut::engine::monitors::retention::prune_once;
use acmangkut::metrics::Metrics;
use acmangkut::store::schema::{probe_results, rollup_hours};
use acmangkut::store::{Store, now_ms};
use diesel::prelude::*;
use shared::monitor::MonitorInput;

const DAY: i64 = 86_400_000;

/// A fresh store holding one monitor; keep the database alive as long as the store.
async fn store_with_one_monitor() -> (has_test_db::TestDb, Store, i64) {
    let db = has_test_db::TestDb::new();
    let store = Store::open(&db.url, 2, 5_000).expect("store");
    let input: MonitorInput = serde_json::from_value(serde_json::json!({
        "name": "m", "probe": {"kind": "tcp", "target": "127.0.0.1:9"}
    }))
    .expect("input");
    let id = store
        .run(move |c| acmangkut::store::monitors::create(c, &test_actor(), &input))
        .await
        .expect("create")
        .id;
    (db, store, id)
}

#[tokio::test]
async fn old_results_and_rollups_go_and_recent_ones_stay() {
    let (_db, store, id) = store_with_one_monitor().await;
    let now = now_ms();
    // 25 results 10 days old, 5 from today; rollups 500 and 2 days old.
    store
        .run(move |c| {
            acmangkut::db!(c, |c| {
                for i in 0..30i64 {
                    let at = if i < 25 { now - 10 * DAY + i } else { now - i };
                    diesel::insert_into(probe_results::table)
                        .values((
                            probe_results::monitor_id.eq(id),
                            probe_results::started_at.eq(at),
                            probe_results::success.eq(true),
                            probe_results::duration_seconds.eq(0.01),
                        ))
                        .execute(c)?;
                }
                for age in [500, 2] {
                    diesel::insert_into(rollup_hours::table)
                        .values((
                            rollup_hours::monitor_id.eq(id),
                            rollup_hours::hour_start.eq(now - age * DAY),
                            rollup_hours::checks.eq(1i64),
                            rollup_hours::successes.eq(1i64),
                        ))
                        .execute(c)?;
                }
                diesel::QueryResult::Ok(())
            })
        })
        .await
        .expect("seed");

    let config = RetentionConfig {
        raw_days: 7,
        rollup_days: 400,
        prune_interval_seconds: 60,
        prune_batch: 10,
        screenshot_days: 3,
        screenshots_per_monitor: 20,
    };
    let metrics = Metrics::new();
    let deleted = prune_once(&store, &config, &metrics).await;
    assert_eq!(deleted, 26, "25 results in batches of 10, and one rollup");

    let (results, rollups): (i64, i64) = store
        .run(|c| {
            acmangkut::db!(c, |c| {
                let r = probe_results::table.count().get_result(c)?;
                let h = rollup_hours::table.count().get_result(c)?;
                diesel::QueryResult::Ok((r, h))
            })
        })
        .await
        .expect("count");
    assert_eq!((results, rollups), (5, 1));
    assert_eq!(metrics.pruned_rows.get(), 26);
}

#[tokio::test]
async fn screenshots_are_kept_by_age_and_count_and_their_results_unmarked() {
    use acmangkut::store::schema::screenshots;
    let (_db, store, id) = store_with_one_monitor().await;
    let now = now_ms();
    // Six failed results with screenshots: one 5 days old, five from today.
    store
        .run(move |c| {
            acmangkut::db!(c, |c| {
                for age_days in [5i64, 0, 0, 0, 0, 0] {
                    let at = now - age_days * DAY;
                    let rid: i64 = diesel::insert_into(probe_results::table)
                        .values((
                            probe_results::monitor_id.eq(id),
                            probe_results::started_at.eq(at),
                            probe_results::success.eq(false),
                            probe_results::duration_seconds.eq(0.01),
                            probe_results::has_screenshot.eq(true),
                        ))
                        .returning(probe_results::id)
                        .get_result(c)?;
                    diesel::insert_into(screenshots::table)
                        .values((
                            screenshots::result_id.eq(rid),
                            screenshots::monitor_id.eq(id),
                            screenshots::created_at.eq(at),
                            screenshots::png.eq(b"\x89PNG".to_vec()),
                        ))
                        .execute(c)?;
                }
                diesel::QueryResult::Ok(())
            })
        })
        .await
        .expect("seed");
    let config = RetentionConfig {
        raw_days: 7,
        rollup_days: 400,
        prune_interval_seconds: 60,
        prune_batch: 100,
        screenshot_days: 3,
        screenshots_per_monitor: 3,
    };
    let metrics = Metrics::new();
    prune_once(&store, &config, &metrics).await;
    assert_eq!(
        metrics.controllermanager_failure.get(),
        0,
        "pruning ran without errors"
    );
    let (kept, marked): (i64, i64) = store
        .run(|c| {
            acmangkut::db!(c, |c| {
                let kept = screenshots::table.count().get_result(c)?;
                let marked = probe_results::table
                    .filter(probe_results::has_screenshot.eq(true))
                    .count()
                    .get_result(c)?;
                diesel::QueryResult::Ok((kept, marked))
            })
        })
        .await
        .expect("count");
    assert_eq!(kept, 3, "the old one by age, two more by count");
    assert_eq!(
        marked, 3,
        "results whose screenshot went no longer link to it"
    );
}

fn test_actor() -> acmangkut::store::audit::Actor {
    acmangkut::store::audit::Actor {
        name: "test".into(),
        kind: "user",
        peer: "127.0.0.1".into(),
    }
}
