//! Background engines: they run beside the HTTP server, share its store and metrics, and stop
//! when the shutdown signal flips.
//!
//! - [`monitors`]: the scheduler that claims due monitors by lease, probes them through
//!   pageinspect and records; the pure rules of monitor health; retention of results.
//! - [`metric_log`]: mirrors `controllermanager.failure` to the per-day metric log.
//! - [`inspection`]: inspection runs, their reports, risk events and notifications, built on
//!   [`checks`] (the one evaluator of checks) and [`notify`] (the channel senders).
//! - [`config`]: config as code: every kind of definition exported and applied as one YAML
//!   document.
//! - [`executor`]: the one executor of actions (http, command, ssh) for plans and drills.
//! - [`operations`]: the atomic operations catalog's rules: checked documents, the lifecycle,
//!   what a plan version may pin.
//! - [`drills`]: fault drills: documents, runs, and the reconcile loop that injects and
//!   always recovers each target's faults.
//! - [`plans`]: disaster-recovery plans: evaluation, saving versions, previews, diffs, and
//!   executions driven durably by lease.

pub mod checks;
pub mod config;
pub mod drills;
mod error;
pub mod executor;
pub mod inspection;
pub mod metric_log;
pub mod monitors;
pub mod notify;
pub mod operations;
pub mod plans;

pub use error::{Error, Result};

/// An error and its causes on one line (`outer: inner: innermost`), for the one log line
/// written per failure.
pub fn chain(e: impl Into<anyhow::Error>) -> String {
    format!("{:#}", e.into())
}

/// Names for a message: `a, b, c`, or `none` when there are none.
pub(crate) fn names<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let list: Vec<&str> = names.map(String::as_str).collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(", ")
    }
}

/// Reads a YAML document as `T`; an error names the field (`rules[2].level`) and the line.
pub fn from_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    Ok(shared::extract::parse_yaml(text)?)
}

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
