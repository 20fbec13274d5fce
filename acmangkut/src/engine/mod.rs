//! Background engines: they run beside the HTTP server, share its store and metrics, and stop
//! when the shutdown signal flips.
//!
//! - [`scheduler`]: claims due monitors by lease, probes them through pageinspect, records.
//! - [`retention`]: prunes raw results and old rollups.
//! - [`metric_log`]: mirrors `controllermanager.failure` to the per-day metric log.
//! - [`state`]: the pure rules of monitor health.
//! - [`summary`]: a monitor's availability and latency windows.
//! - [`inspection`]: inspection runs, their reports, risk events and notifications, built on
//!   [`checks`] (the one evaluator of checks) and [`notify`] (the channel senders).

pub mod checks;
pub mod inspection;
pub mod metric_log;
pub mod notify;
pub mod retention;
pub mod scheduler;
pub mod state;
pub mod summary;

/// Flips to `true` once when the process should stop.
pub type Shutdown = tokio::sync::watch::Receiver<bool>;

/// Resolves when `shutdown` flips (or its sender is gone).
pub async fn stopped(shutdown: &mut Shutdown) {
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}
