//! Probe results: written in batches with the state changes and rollups they cause, in one
//! transaction, so a crash never leaves a result without its effect on the monitor.

use super::health::{self as state, Health};
use super::models::{MonitorRow, NewResult, NewStateChange, ResultRow};
use super::rollups::{self, RollupDelta};
use crate::config::DEFAULT_LOCATION;
use crate::store::schema::{
    monitors, probe_results, rollup_hours, rollup_latency, screenshots, state_changes,
};
use crate::store::{DbConn, now_ms};
use base64::Engine;
use diesel::prelude::*;
use diesel::result::QueryResult;
use shared::monitor::{MonitorResult, MonitorState};
use shared::probe::{FailureReason, ProbeResult};
use std::collections::HashMap;

/// A finished run of a claimed monitor: one final result per location it ran from (each
/// carrying its earlier attempts).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub monitor_id: i64,
    /// When the run was due (`next_run_at` at claim time).
    pub scheduled_at: i64,
    pub results: Vec<ProbeResult>,
}

/// What recording a batch did, for metrics and logs.
#[derive(Debug, Default, Clone, Copy)]
pub struct Recorded {
    pub results: usize,
    pub state_changes: usize,
    /// Runs dropped because the lease had passed to another replica meanwhile.
    pub stale: usize,
}

/// One stored row: an attempt at one location, with its screenshot if it has one.
struct Row {
    result: NewResult,
    screenshot: Option<Vec<u8>>,
}

fn rows_of(monitor_id: i64, final_result: &ProbeResult) -> Vec<Row> {
    let mut attempts: Vec<&ProbeResult> = final_result.previous_attempts.iter().collect();
    attempts.push(final_result);
    let location = final_result
        .location
        .clone()
        .unwrap_or_else(|| DEFAULT_LOCATION.into());
    attempts
        .into_iter()
        .map(|r| {
            let screenshot = r.screenshot_png_base64.as_deref().and_then(|b| {
                base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .map_err(|e| tracing::warn!(error = %e, "screenshot is not base64; dropped"))
                    .ok()
            });
            // The stored detail is this attempt alone, without the (separately kept) picture.
            let mut detail = r.clone();
            detail.previous_attempts.clear();
            detail.screenshot_png_base64 = None;
            Row {
                result: NewResult {
                    monitor_id,
                    started_at: r.started_at.timestamp_millis(),
                    success: r.success,
                    failure_reason: r.failure_reason.map(|f| f.as_str().to_string()),
                    error: r.error.clone(),
                    duration_seconds: r.duration_seconds,
                    status_code: r.status_code.map(i32::from),
                    detail_json: serde_json::to_string(&detail).ok(),
                    location: location.clone(),
                    attempt: i32::try_from(r.attempt).unwrap_or(1),
                    has_screenshot: screenshot.is_some(),
                },
                screenshot,
            }
        })
        .collect()
}

pub fn record_batch(conn: &mut DbConn, owner: &str, outcomes: &[Outcome]) -> QueryResult<Recorded> {
    let ids: Vec<i64> = outcomes.iter().map(|o| o.monitor_id).collect();
    let now = now_ms();
    crate::store::write(conn, |c| {
        crate::db!(c, |c| {
            let rows: Vec<MonitorRow> = monitors::table
                .filter(monitors::id.eq_any(&ids))
                .filter(monitors::lease_owner.eq(owner))
                .select(MonitorRow::as_select())
                .load(c)?;
            let rows: HashMap<i64, MonitorRow> = rows.into_iter().map(|r| (r.id, r)).collect();
            let mut recorded = Recorded::default();
            let mut plain = Vec::with_capacity(outcomes.len());
            let mut pictured = Vec::new();
            let mut changes = Vec::new();
            let mut delta = RollupDelta::default();
            for o in outcomes {
                let Some(row) = rows.get(&o.monitor_id) else {
                    recorded.stale += 1;
                    continue;
                };
                for r in &o.results {
                    for stored in rows_of(o.monitor_id, r) {
                        recorded.results += 1;
                        if stored.screenshot.is_some() {
                            pictured.push(stored)
                        } else {
                            plain.push(stored.result)
                        }
                    }
                    let unknown = matches!(
                        r.failure_reason,
                        Some(FailureReason::ExecutorUnavailable | FailureReason::BrowserError)
                    );
                    if !unknown {
                        delta.add(
                            o.monitor_id,
                            r.started_at.timestamp_millis(),
                            r.success,
                            r.duration_seconds,
                        );
                    }
                }
                let finals: Vec<&ProbeResult> = o.results.iter().collect();
                let observed = state::verdict(
                    &finals,
                    row.location_failure_threshold,
                    row.degraded_threshold_ms,
                );
                let before = Health {
                    state: row.state(),
                    consecutive_failures: row.consecutive_failures,
                    consecutive_successes: row.consecutive_successes,
                };
                let after = state::next(
                    before,
                    observed,
                    row.failure_threshold,
                    row.success_threshold,
                );
                let changed = after.state != before.state;
                if changed {
                    changes.push(NewStateChange {
                        monitor_id: o.monitor_id,
                        from_state: before.state.as_str().to_string(),
                        to_state: after.state.as_str().to_string(),
                        at: now,
                        reason: describe_run(&finals),
                    });
                }
                let last_checked = o
                    .results
                    .iter()
                    .map(|r| r.started_at.timestamp_millis())
                    .max();
                let next = state::next_run_at(o.scheduled_at, row.interval_seconds * 1000, now);
                diesel::update(monitors::table.find(o.monitor_id))
                    .set((
                        monitors::consecutive_failures.eq(after.consecutive_failures),
                        monitors::consecutive_successes.eq(after.consecutive_successes),
                        monitors::state.eq(after.state.as_str()),
                        monitors::state_changed_at.eq(if changed {
                            now
                        } else {
                            row.state_changed_at
                        }),
                        monitors::last_checked_at.eq(last_checked.or(row.last_checked_at)),
                        monitors::next_run_at.eq(next),
                        monitors::lease_owner.eq(None::<String>),
                        monitors::lease_expires_at.eq(None::<i64>),
                    ))
                    .execute(c)?;
            }
            for chunk in plain.chunks(500) {
                diesel::insert_into(probe_results::table)
                    .values(chunk)
                    .execute(c)?;
            }
            for stored in pictured {
                let result_id: i64 = diesel::insert_into(probe_results::table)
                    .values(&stored.result)
                    .returning(probe_results::id)
                    .get_result(c)?;
                diesel::insert_into(screenshots::table)
                    .values((
                        screenshots::result_id.eq(result_id),
                        screenshots::monitor_id.eq(stored.result.monitor_id),
                        screenshots::created_at.eq(now),
                        screenshots::png.eq(stored.screenshot.unwrap_or_default()),
                    ))
                    .execute(c)?;
            }
            recorded.state_changes = changes.len();
            if !changes.is_empty() {
                diesel::insert_into(state_changes::table)
                    .values(&changes)
                    .execute(c)?;
            }
            rollups::apply_delta!(c, delta);
            QueryResult::Ok(recorded)
        })
    })
}

/// Why a run changed the state: the first failing location's reason, or "probe succeeded".
fn describe_run(results: &[&ProbeResult]) -> Option<String> {
    let failing = results.iter().find(|r| !r.success).or(results.first())?;
    let mut text = describe(failing)?;
    if results.len() > 1 {
        let failed = results.iter().filter(|r| !r.success).count();
        text = format!("{failed}/{} locations failed; {text}", results.len());
        if let Some(l) = &failing.location {
            text.push_str(&format!(" (at {l})"));
        }
    }
    Some(text)
}

fn describe(r: &ProbeResult) -> Option<String> {
    if r.success {
        return Some("probe succeeded".into());
    }
    let reason = r.failure_reason.map_or("failed", FailureReason::as_str);
    Some(match &r.error {
        Some(e) => format!("{reason}: {}", e.chars().take(300).collect::<String>()),
        None => reason.to_string(),
    })
}

pub fn list(
    conn: &mut DbConn,
    monitor_id: i64,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<MonitorResult>, i64)> {
    let (rows, total): (Vec<ResultRow>, i64) = crate::db!(conn, |c| {
        monitors::table
            .find(monitor_id)
            .select(monitors::id)
            .first::<i64>(c)?;
        let total = probe_results::table
            .filter(probe_results::monitor_id.eq(monitor_id))
            .count()
            .get_result(c)?;
        let rows = probe_results::table
            .filter(probe_results::monitor_id.eq(monitor_id))
            .order(probe_results::started_at.desc())
            .then_order_by(probe_results::id.desc())
            .limit(limit)
            .offset(offset)
            .select(ResultRow::as_select())
            .load(c)?;
        QueryResult::Ok((rows, total))
    })?;
    Ok((rows.into_iter().map(ResultRow::into_api).collect(), total))
}

/// `(started_at, duration_seconds, success)` of recent results, oldest first, for charts.
pub fn latency_series(
    conn: &mut DbConn,
    monitor_id: i64,
    limit: i64,
) -> QueryResult<Vec<(i64, f64, bool)>> {
    let mut rows: Vec<(i64, f64, bool)> = crate::db!(conn, |c| probe_results::table
        .filter(probe_results::monitor_id.eq(monitor_id))
        .order(probe_results::started_at.desc())
        .limit(limit)
        .select((
            probe_results::started_at,
            probe_results::duration_seconds,
            probe_results::success
        ))
        .load(c))?;
    rows.reverse();
    Ok(rows)
}

/// Deletes up to `batch` raw results older than `before`; returns how many went. Small batches
/// keep each write transaction short so probes keep being recorded while pruning runs.
pub fn prune_results(conn: &mut DbConn, before: i64, batch: i64) -> QueryResult<usize> {
    crate::db!(conn, |c| {
        let ids: Vec<i64> = probe_results::table
            .filter(probe_results::started_at.lt(before))
            .order(probe_results::started_at.asc())
            .limit(batch)
            .select(probe_results::id)
            .load(c)?;
        if ids.is_empty() {
            return Ok(0);
        }
        diesel::delete(probe_results::table.filter(probe_results::id.eq_any(&ids))).execute(c)
    })
}

/// Deletes rollups of hours before `before`.
pub fn prune_rollups(conn: &mut DbConn, before: i64) -> QueryResult<usize> {
    crate::db!(conn, |c| {
        let a = diesel::delete(rollup_latency::table.filter(rollup_latency::hour_start.lt(before)))
            .execute(c)?;
        let b = diesel::delete(rollup_hours::table.filter(rollup_hours::hour_start.lt(before)))
            .execute(c)?;
        Ok(a + b)
    })
}

/// `MonitorState` of a monitor (used by the API's summary).
pub fn state_of(conn: &mut DbConn, monitor_id: i64) -> QueryResult<MonitorState> {
    let s: String = crate::db!(conn, |c| monitors::table
        .find(monitor_id)
        .select(monitors::state)
        .first(c))?;
    Ok(MonitorState::parse(&s).unwrap_or(MonitorState::Pending))
}

/// The PNG kept for a result of `monitor_id`.
pub fn screenshot(conn: &mut DbConn, monitor_id: i64, result_id: i64) -> QueryResult<Vec<u8>> {
    crate::db!(conn, |c| screenshots::table
        .filter(screenshots::result_id.eq(result_id))
        .filter(screenshots::monitor_id.eq(monitor_id))
        .select(screenshots::png)
        .first(c))
}

/// Deletes screenshots older than `before` and all but the newest `keep` of each monitor, and
/// unmarks their results; returns how many went.
pub fn prune_screenshots(conn: &mut DbConn, before: i64, keep: i64) -> QueryResult<usize> {
    crate::store::write(conn, |c| {
        crate::db!(c, |c| {
            let mut gone =
                diesel::delete(screenshots::table.filter(screenshots::created_at.lt(before)))
                    .execute(c)?;
            let crowded: Vec<i64> = screenshots::table
                .group_by(screenshots::monitor_id)
                .having(diesel::dsl::count_star().gt(keep))
                .select(screenshots::monitor_id)
                .load(c)?;
            for monitor in crowded {
                let keep_ids: Vec<i64> = screenshots::table
                    .filter(screenshots::monitor_id.eq(monitor))
                    .order(screenshots::result_id.desc())
                    .limit(keep)
                    .select(screenshots::result_id)
                    .load(c)?;
                gone += diesel::delete(
                    screenshots::table
                        .filter(screenshots::monitor_id.eq(monitor))
                        .filter(screenshots::result_id.ne_all(keep_ids)),
                )
                .execute(c)?;
            }
            if gone > 0 {
                diesel::update(
                    probe_results::table
                        .filter(probe_results::has_screenshot.eq(true))
                        .filter(diesel::dsl::not(diesel::dsl::exists(
                            screenshots::table.filter(screenshots::result_id.eq(probe_results::id)),
                        ))),
                )
                .set(probe_results::has_screenshot.eq(false))
                .execute(c)?;
            }
            QueryResult::Ok(gone)
        })
    })
}
