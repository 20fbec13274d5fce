//! Retention: raw results older than `raw_days`, rollups older than `rollup_days` and failure
//! screenshots past `screenshot_days` or beyond `screenshots_per_monitor` are
//! deleted in small batches, each its own short transaction, so result writes never wait long.

use crate::config::RetentionConfig;
use crate::engine::{Shutdown, stopped};
use crate::metrics::Metrics;
use crate::store::monitors::{results, rollups};
use crate::store::{Store, now_ms};
use std::time::Duration;

const DAY_MS: i64 = 86_400_000;

/// One pruning pass; returns the rows deleted.
pub async fn prune_once(store: &Store, config: &RetentionConfig, metrics: &Metrics) -> u64 {
    let now = now_ms();
    let raw_before = now - i64::from(config.raw_days) * DAY_MS;
    let rollup_before = rollups::hour_of(now - i64::from(config.rollup_days) * DAY_MS);
    let batch = config.prune_batch.max(1);
    let mut total = 0u64;
    loop {
        match store
            .run(move |c| results::prune_results(c, raw_before, batch))
            .await
        {
            Ok(0) => break,
            Ok(n) => total += n as u64,
            Err(e) => {
                metrics.controllermanager_failure.inc();
                tracing::error!(
                    error = crate::engine::chain(e),
                    "pruning raw results failed"
                );
                break;
            }
        }
        tokio::task::yield_now().await;
    }
    let shots_before = now - i64::from(config.screenshot_days) * DAY_MS;
    let keep = config.screenshots_per_monitor.max(1);
    match store
        .run(move |c| results::prune_screenshots(c, shots_before, keep))
        .await
    {
        Ok(n) => total += n as u64,
        Err(e) => {
            metrics.controllermanager_failure.inc();
            tracing::error!(
                error = crate::engine::chain(e),
                "pruning screenshots failed"
            );
        }
    }
    match store
        .run(move |c| results::prune_rollups(c, rollup_before))
        .await
    {
        Ok(n) => total += n as u64,
        Err(e) => {
            metrics.controllermanager_failure.inc();
            tracing::error!(error = crate::engine::chain(e), "pruning rollups failed");
        }
    }
    metrics.pruned_rows.inc_by(total);
    if total > 0 {
        tracing::info!(rows = total, "retention pruned old rows");
    }
    total
}

pub async fn run(store: Store, config: RetentionConfig, metrics: Metrics, mut shutdown: Shutdown) {
    let mut ticker =
        tokio::time::interval(Duration::from_secs(config.prune_interval_seconds.max(1)));
    loop {
        tokio::select! {
            () = stopped(&mut shutdown) => return,
            _ = ticker.tick() => {}
        }
        prune_once(&store, &config, &metrics).await;
    }
}
