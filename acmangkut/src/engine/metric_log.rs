//! The `controllermanager.failure` metric log, as the original product's log-based collector
//! reads it: one file per day, `<metric_log.dir>/YYYYMMDD.log` (UTC dates), one line a minute:
//!
//! ```text
//! 2026-11-26T10:15:00Z|controllermanager.failure|3|17
//! ```
//! fields: time of the line (RFC 3339, UTC) | metric name | failures in the interval since the
//! previous line | failures since the process started. Alert on the third field (> 200).

use super::{Shutdown, stopped};
use crate::metrics::Metrics;
use chrono::{DateTime, Utc};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const METRIC_NAME: &str = "controllermanager.failure";

/// The line for one interval.
pub fn format_line(at: DateTime<Utc>, in_interval: u64, total: u64) -> String {
    format!(
        "{}|{METRIC_NAME}|{in_interval}|{total}\n",
        at.format("%Y-%m-%dT%H:%M:%SZ")
    )
}

pub fn file_for(dir: &Path, at: DateTime<Utc>) -> PathBuf {
    dir.join(format!("{}.log", at.format("%Y%m%d")))
}

/// Appends one line; opened per write so rotation by date (and by operators) just works.
pub fn append(dir: &Path, at: DateTime<Utc>, in_interval: u64, total: u64) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file_for(dir, at))?;
    f.write_all(format_line(at, in_interval, total).as_bytes())?;
    f.sync_data()
}

pub async fn run(dir: PathBuf, interval: Duration, metrics: Metrics, mut shutdown: Shutdown) {
    let mut last = metrics.controllermanager_failure.get();
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await; // the first tick is immediate; the first line comes after one interval
    loop {
        tokio::select! {
            () = stopped(&mut shutdown) => return,
            _ = ticker.tick() => {}
        }
        let total = metrics.controllermanager_failure.get();
        let now = Utc::now();
        let dir = dir.clone();
        let delta = total.saturating_sub(last);
        last = total;
        match tokio::task::spawn_blocking(move || append(&dir, now, delta, total)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "cannot write the metric log"),
            Err(e) => tracing::error!(error = %e, "metric log task failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn lines_go_to_one_file_per_day_in_the_documented_format() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t1 = Utc
            .with_ymd_and_hms(2026, 11, 26, 23, 59, 0)
            .single()
            .expect("time");
        let t2 = Utc
            .with_ymd_and_hms(2026, 11, 27, 0, 0, 0)
            .single()
            .expect("time");
        append(dir.path(), t1, 3, 17).expect("append");
        append(dir.path(), t2, 0, 17).expect("append");
        let day1 = std::fs::read_to_string(dir.path().join("20261126.log")).expect("day 1");
        let day2 = std::fs::read_to_string(dir.path().join("20261127.log")).expect("day 2");
        assert_eq!(
            day1,
            "2026-11-26T23:59:00Z|controllermanager.failure|3|17\n"
        );
        assert_eq!(
            day2,
            "2026-11-27T00:00:00Z|controllermanager.failure|0|17\n"
        );
    }
}
