//! Probe results: written in batches with the state changes and rollups they cause, in one
//! transaction, so a crash never leaves a result without its effect on the monitor.

use super::models::{MonitorRow, NewResult, NewStateChange, ResultRow};
use super::rollups::{self, RollupDelta};
use super::schema::{monitors, probe_results, rollup_hours, rollup_latency, state_changes};
use super::{DbConn, now_ms};
use crate::engine::state::{self, Health, Observed};
use diesel::prelude::*;
use diesel::result::QueryResult;
use shared::monitor::{MonitorResult, MonitorState};
use shared::probe::{FailureReason, ProbeResult};
use std::collections::HashMap;

/// A finished probe of a claimed monitor.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub monitor_id: i64,
    /// When the run was due (`next_run_at` at claim time).
    pub scheduled_at: i64,
    pub result: ProbeResult,
}

/// What recording a batch did, for metrics and logs.
#[derive(Debug, Default, Clone, Copy)]
pub struct Recorded {
    pub results: usize,
    pub state_changes: usize,
    /// Results dropped because the lease had passed to another replica meanwhile.
    pub stale: usize,
}

pub fn record_batch(conn: &mut DbConn, owner: &str, outcomes: &[Outcome]) -> QueryResult<Recorded> {
    let ids: Vec<i64> = outcomes.iter().map(|o| o.monitor_id).collect();
    let now = now_ms();
    crate::db!(conn, |c| c.transaction(|c| {
        let rows: Vec<MonitorRow> = monitors::table
            .filter(monitors::id.eq_any(&ids))
            .filter(monitors::lease_owner.eq(owner))
            .select(MonitorRow::as_select())
            .load(c)?;
        let rows: HashMap<i64, MonitorRow> = rows.into_iter().map(|r| (r.id, r)).collect();
        let mut recorded = Recorded::default();
        let mut new_results = Vec::with_capacity(outcomes.len());
        let mut changes = Vec::new();
        let mut delta = RollupDelta::default();
        for o in outcomes {
            let Some(row) = rows.get(&o.monitor_id) else {
                recorded.stale += 1;
                continue;
            };
            let r = &o.result;
            let observed = match (r.success, r.failure_reason) {
                (true, _) => Observed::Success,
                (false, Some(FailureReason::ExecutorUnavailable)) => Observed::Unknown,
                (false, _) => Observed::Failure,
            };
            let started_at = r.started_at.timestamp_millis();
            new_results.push(NewResult {
                monitor_id: o.monitor_id,
                started_at,
                success: r.success,
                failure_reason: r.failure_reason.map(|f| f.as_str().to_string()),
                error: r.error.clone(),
                duration_seconds: r.duration_seconds,
                status_code: r.status_code.map(i32::from),
                detail_json: serde_json::to_string(r).ok(),
                location: r.location.clone().unwrap_or_else(|| "default".into()),
                attempt: i32::try_from(r.attempt).unwrap_or(1),
                has_screenshot: false,
            });
            if observed != Observed::Unknown {
                delta.add(o.monitor_id, started_at, r.success, r.duration_seconds);
            }
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
                    reason: describe(r),
                });
            }
            let next = state::next_run_at(o.scheduled_at, row.interval_seconds * 1000, now);
            diesel::update(monitors::table.find(o.monitor_id))
                .set((
                    monitors::consecutive_failures.eq(after.consecutive_failures),
                    monitors::consecutive_successes.eq(after.consecutive_successes),
                    monitors::state.eq(after.state.as_str()),
                    monitors::last_checked_at.eq(Some(started_at)),
                    monitors::next_run_at.eq(next),
                    monitors::lease_owner.eq(None::<String>),
                    monitors::lease_expires_at.eq(None::<i64>),
                ))
                .execute(c)?;
            if changed {
                diesel::update(monitors::table.find(o.monitor_id))
                    .set(monitors::state_changed_at.eq(now))
                    .execute(c)?;
            }
            recorded.results += 1;
        }
        for chunk in new_results.chunks(500) {
            diesel::insert_into(probe_results::table)
                .values(chunk)
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
    }))
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
