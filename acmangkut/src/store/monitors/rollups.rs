//! Hourly rollups: per monitor and hour, the count of checks and successes and a latency
//! histogram over fixed buckets. Summaries read these, never the raw results, so a 7-day
//! summary costs the same whatever the probe rate.

use crate::store::DbConn;
use crate::store::schema::{rollup_hours, rollup_latency};
use diesel::prelude::*;
use diesel::result::QueryResult;
use shared::monitor::WindowSummary;
use std::collections::BTreeMap;

pub const HOUR_MS: i64 = 3_600_000;

/// Upper bounds (seconds) of the latency buckets; the last bucket is everything above.
pub const BUCKET_BOUNDS: [f64; 24] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0,
    7.5, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0,
];

pub fn bucket_of(seconds: f64) -> i32 {
    BUCKET_BOUNDS
        .iter()
        .position(|b| seconds <= *b)
        .unwrap_or(BUCKET_BOUNDS.len()) as i32
}

pub fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// What one batch of results adds to the rollups.
#[derive(Debug, Default)]
pub struct RollupDelta {
    /// (monitor, hour) → (checks, successes)
    pub hours: BTreeMap<(i64, i64), (i64, i64)>,
    /// (monitor, hour, bucket) → count, for successful checks only.
    pub latency: BTreeMap<(i64, i64, i32), i64>,
}

impl RollupDelta {
    pub fn add(&mut self, monitor_id: i64, started_at: i64, success: bool, seconds: f64) {
        let hour = hour_of(started_at);
        let e = self.hours.entry((monitor_id, hour)).or_default();
        e.0 += 1;
        if success {
            e.1 += 1;
            *self
                .latency
                .entry((monitor_id, hour, bucket_of(seconds)))
                .or_default() += 1;
        }
    }
}

/// Adds a [`RollupDelta`] with upserts on a concrete connection `$c` (either backend); used
/// inside the transaction that stores the results, so rollups never drift from results.
macro_rules! apply_delta {
    ($c:ident, $delta:expr) => {{
        use $crate::store::schema::{rollup_hours as rh, rollup_latency as rl};
        for ((monitor_id, hour), (checks, successes)) in &$delta.hours {
            diesel::insert_into(rh::table)
                .values((
                    rh::monitor_id.eq(monitor_id),
                    rh::hour_start.eq(hour),
                    rh::checks.eq(checks),
                    rh::successes.eq(successes),
                ))
                .on_conflict((rh::monitor_id, rh::hour_start))
                .do_update()
                .set((
                    rh::checks.eq(rh::checks + diesel::upsert::excluded(rh::checks)),
                    rh::successes.eq(rh::successes + diesel::upsert::excluded(rh::successes)),
                ))
                .execute($c)?;
        }
        for ((monitor_id, hour, bucket), count) in &$delta.latency {
            diesel::insert_into(rl::table)
                .values((
                    rl::monitor_id.eq(monitor_id),
                    rl::hour_start.eq(hour),
                    rl::bucket.eq(bucket),
                    rl::count.eq(count),
                ))
                .on_conflict((rl::monitor_id, rl::hour_start, rl::bucket))
                .do_update()
                .set(rl::count.eq(rl::count + diesel::upsert::excluded(rl::count)))
                .execute($c)?;
        }
    }};
}
pub(crate) use apply_delta;

/// Availability and latency percentiles over the whole hours overlapping `[now - window, now]`.
pub fn window_summary(
    conn: &mut DbConn,
    monitor_id: i64,
    now: i64,
    label: &str,
    window_ms: i64,
) -> QueryResult<WindowSummary> {
    let since = hour_of(now - window_ms);
    type Rows = (Vec<(i64, i64)>, Vec<(i32, i64)>);
    let (hours, buckets): Rows = crate::db!(conn, |c| {
        let hours = rollup_hours::table
            .filter(rollup_hours::monitor_id.eq(monitor_id))
            .filter(rollup_hours::hour_start.ge(since))
            .select((rollup_hours::checks, rollup_hours::successes))
            .load(c)?;
        let buckets = rollup_latency::table
            .filter(rollup_latency::monitor_id.eq(monitor_id))
            .filter(rollup_latency::hour_start.ge(since))
            .select((rollup_latency::bucket, rollup_latency::count))
            .load(c)?;
        QueryResult::Ok((hours, buckets))
    })?;
    let checks: i64 = hours.iter().map(|h| h.0).sum();
    let successes: i64 = hours.iter().map(|h| h.1).sum();
    let mut histogram = vec![0i64; BUCKET_BOUNDS.len() + 1];
    for (b, n) in buckets {
        if let Some(slot) = usize::try_from(b).ok().and_then(|b| histogram.get_mut(b)) {
            *slot += n;
        }
    }
    Ok(WindowSummary {
        window: label.to_string(),
        checks,
        successes,
        availability_percent: (checks > 0).then(|| successes as f64 * 100.0 / checks as f64),
        latency_p50_seconds: quantile(&histogram, 0.50),
        latency_p95_seconds: quantile(&histogram, 0.95),
        latency_p99_seconds: quantile(&histogram, 0.99),
    })
}

/// Linear interpolation inside the bucket holding the q-th observation.
pub fn quantile(histogram: &[i64], q: f64) -> Option<f64> {
    let total: i64 = histogram.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut seen = 0i64;
    for (i, n) in histogram.iter().enumerate() {
        if *n == 0 {
            continue;
        }
        if (seen + n) as f64 >= rank {
            let lower = if i == 0 { 0.0 } else { BUCKET_BOUNDS[i - 1] };
            let upper = BUCKET_BOUNDS.get(i).copied().unwrap_or(lower * 2.0);
            let within = ((rank - seen as f64) / *n as f64).clamp(0.0, 1.0);
            return Some(lower + (upper - lower) * within);
        }
        seen += n;
    }
    BUCKET_BOUNDS.last().copied()
}

/// One point of the availability bar: an hour and how it went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HourPoint {
    pub hour_start: i64,
    pub checks: i64,
    pub successes: i64,
}

pub fn hourly(conn: &mut DbConn, monitor_id: i64, since: i64) -> QueryResult<Vec<HourPoint>> {
    let rows: Vec<(i64, i64, i64)> = crate::db!(conn, |c| rollup_hours::table
        .filter(rollup_hours::monitor_id.eq(monitor_id))
        .filter(rollup_hours::hour_start.ge(hour_of(since)))
        .order(rollup_hours::hour_start.asc())
        .select((
            rollup_hours::hour_start,
            rollup_hours::checks,
            rollup_hours::successes
        ))
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|(hour_start, checks, successes)| HourPoint {
            hour_start,
            checks,
            successes,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_latency() {
        assert_eq!(bucket_of(0.0), 0);
        assert_eq!(bucket_of(0.005), 0);
        assert_eq!(bucket_of(0.006), 1);
        assert_eq!(bucket_of(1e9), BUCKET_BOUNDS.len() as i32);
    }

    #[test]
    fn quantiles_interpolate_within_the_bucket() {
        let mut h = vec![0i64; BUCKET_BOUNDS.len() + 1];
        h[bucket_of(0.09) as usize] = 100; // all in (0.075, 0.1]
        let p50 = quantile(&h, 0.5).expect("some");
        assert!((0.075..=0.1).contains(&p50), "{p50}");
        assert_eq!(quantile(&[0; 3], 0.5), None);
    }

    proptest::proptest! {
        #[test]
        fn quantiles_are_monotonic(counts in proptest::collection::vec(0i64..1000, 25)) {
            let p50 = quantile(&counts, 0.5);
            let p99 = quantile(&counts, 0.99);
            if let (Some(a), Some(b)) = (p50, p99) {
                proptest::prop_assert!(a <= b);
            }
        }
    }
}
