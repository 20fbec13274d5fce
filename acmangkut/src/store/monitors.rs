//! Monitor rows: create, read, list, update, delete, pause and resume.

use super::audit::{Actor, AuditWrite};
use super::models::{LabelRow, MonitorDefinition, MonitorRow, NewMonitor, StateChangeRow};
use super::schema::{monitor_labels, monitors, state_changes};
use super::{DbConn, now_ms};
use crate::db;
use diesel::prelude::*;
use diesel::result::{Error as DbError, QueryResult};
use shared::monitor::{Monitor, MonitorInput, MonitorState, StateChange};
use std::collections::{BTreeMap, HashMap};

/// Filters of `GET /api/v1/monitors`.
#[derive(Debug, Default, Clone)]
pub struct MonitorFilter {
    /// Every `(key, value)` must be on the monitor.
    pub labels: Vec<(String, String)>,
    pub state: Option<MonitorState>,
    /// Case-insensitive substring of the name or target.
    pub search: Option<String>,
}

pub fn create(conn: &mut DbConn, actor: &Actor, input: &MonitorInput) -> QueryResult<Monitor> {
    let now = now_ms();
    let row = NewMonitor {
        definition: MonitorDefinition::from_input(input, now)?,
        state: MonitorState::Pending.as_str(),
        paused: false,
        next_run_at: now,
        state_changed_at: now,
        created_at: now,
    };
    let id = crate::write_tx!(conn, |c| {
        let id: i64 = diesel::insert_into(monitors::table)
            .values(&row)
            .returning(monitors::id)
            .get_result(c)?;
        let labels = label_rows(id, &input.labels);
        diesel::insert_into(monitor_labels::table)
            .values(&labels)
            .execute(c)?;
        c.audit(
            &actor
                .event("monitor.create", "monitor", Some(id.to_string()))
                .after(input),
        )?;
        QueryResult::Ok(id)
    })?;
    get(conn, id)
}

fn label_rows(id: i64, labels: &BTreeMap<String, String>) -> Vec<LabelRow> {
    labels
        .iter()
        .map(|(k, v)| LabelRow {
            monitor_id: id,
            key: k.clone(),
            value: v.clone(),
        })
        .collect()
}

pub fn get(conn: &mut DbConn, id: i64) -> QueryResult<Monitor> {
    let row: MonitorRow = db!(conn, |c| monitors::table
        .find(id)
        .select(MonitorRow::as_select())
        .first(c))?;
    // `= ?` rather than `IN (?)`: a fixed statement shape stays in diesel's prepared cache.
    let labels: Vec<(String, String)> = db!(conn, |c| monitor_labels::table
        .filter(monitor_labels::monitor_id.eq(id))
        .select((monitor_labels::key, monitor_labels::value))
        .load(c))?;
    Ok(row.into_api(labels.into_iter().collect()))
}

fn group_labels(rows: Vec<LabelRow>) -> HashMap<i64, BTreeMap<String, String>> {
    let mut out: HashMap<i64, BTreeMap<String, String>> = HashMap::new();
    for r in rows {
        out.entry(r.monitor_id).or_default().insert(r.key, r.value);
    }
    out
}

fn labels_of(
    conn: &mut DbConn,
    ids: &[i64],
) -> QueryResult<HashMap<i64, BTreeMap<String, String>>> {
    let rows: Vec<LabelRow> = db!(conn, |c| monitor_labels::table
        .filter(monitor_labels::monitor_id.eq_any(ids))
        .select(LabelRow::as_select())
        .load(c))?;
    Ok(group_labels(rows))
}

pub fn list(
    conn: &mut DbConn,
    filter: &MonitorFilter,
    limit: i64,
    offset: i64,
) -> QueryResult<(Vec<Monitor>, i64)> {
    // Built as a boxed query per backend; the label filter is one EXISTS per label.
    macro_rules! filtered {
        ($c:ident) => {{
            let mut q = monitors::table.into_boxed();
            if let Some(state) = filter.state {
                q = q.filter(monitors::state.eq(state.as_str()));
            }
            if let Some(s) = &filter.search {
                let pattern = format!("%{}%", s.replace('%', "").replace('_', ""));
                q = q.filter(
                    monitors::name
                        .like(pattern.clone())
                        .or(monitors::target.like(pattern)),
                );
            }
            for (k, v) in &filter.labels {
                q = q.filter(diesel::dsl::exists(
                    monitor_labels::table
                        .filter(monitor_labels::monitor_id.eq(monitors::id))
                        .filter(monitor_labels::key.eq(k.clone()))
                        .filter(monitor_labels::value.eq(v.clone())),
                ));
            }
            q
        }};
    }
    if filter.labels.is_empty() && filter.state.is_none() && filter.search.is_none() {
        return list_all(conn, limit, offset);
    }
    let (rows, total): (Vec<MonitorRow>, i64) = db!(conn, |c| {
        let total = filtered!(c).count().get_result(c)?;
        let rows = filtered!(c)
            .order(monitors::id.asc())
            .limit(limit)
            .offset(offset)
            .select(MonitorRow::as_select())
            .load(c)?;
        QueryResult::Ok((rows, total))
    })?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut labels = labels_of(conn, &ids)?;
    let items = rows
        .into_iter()
        .map(|r| {
            let l = labels.remove(&r.id).unwrap_or_default();
            r.into_api(l)
        })
        .collect();
    Ok((items, total))
}

/// The unfiltered page, the common case, in three statements of fixed shape that diesel keeps
/// prepared (boxed queries and `IN (?, ?, …)` lists are prepared anew on every call).
fn list_all(conn: &mut DbConn, limit: i64, offset: i64) -> QueryResult<(Vec<Monitor>, i64)> {
    let (rows, labels, total): (Vec<MonitorRow>, Vec<LabelRow>, i64) = db!(conn, |c| {
        let total = monitors::table.count().get_result(c)?;
        let rows = monitors::table
            .order(monitors::id.asc())
            .limit(limit)
            .offset(offset)
            .select(MonitorRow::as_select())
            .load(c)?;
        let page = monitors::table
            .order(monitors::id.asc())
            .limit(limit)
            .offset(offset)
            .select(monitors::id);
        let labels = monitor_labels::table
            .filter(monitor_labels::monitor_id.eq_any(page))
            .select(LabelRow::as_select())
            .load(c)?;
        QueryResult::Ok((rows, labels, total))
    })?;
    let mut labels = group_labels(labels);
    let items = rows
        .into_iter()
        .map(|r| {
            let l = labels.remove(&r.id).unwrap_or_default();
            r.into_api(l)
        })
        .collect();
    Ok((items, total))
}

pub fn update(
    conn: &mut DbConn,
    actor: &Actor,
    id: i64,
    input: &MonitorInput,
) -> QueryResult<Monitor> {
    let before = get(conn, id)?;
    let changes = MonitorDefinition::from_input(input, now_ms())?;
    let labels = label_rows(id, &input.labels);
    crate::write_tx!(conn, |c| {
        let n = diesel::update(monitors::table.find(id))
            .set(&changes)
            .execute(c)?;
        if n == 0 {
            return Err(DbError::NotFound);
        }
        diesel::delete(monitor_labels::table.filter(monitor_labels::monitor_id.eq(id)))
            .execute(c)?;
        diesel::insert_into(monitor_labels::table)
            .values(&labels)
            .execute(c)?;
        c.audit(
            &actor
                .event("monitor.update", "monitor", Some(id.to_string()))
                .before(&before)
                .after(input),
        )
    })?;
    get(conn, id)
}

pub fn delete(conn: &mut DbConn, actor: &Actor, id: i64) -> QueryResult<()> {
    let before = get(conn, id)?;
    crate::write_tx!(conn, |c| {
        if diesel::delete(monitors::table.find(id)).execute(c)? == 0 {
            return Err(DbError::NotFound);
        }
        c.audit(
            &actor
                .event("monitor.delete", "monitor", Some(id.to_string()))
                .before(&before),
        )
    })
}

/// Pausing stops scheduling and shows `paused`; resuming starts over from `pending` at once.
pub fn set_paused(conn: &mut DbConn, actor: &Actor, id: i64, paused: bool) -> QueryResult<Monitor> {
    let now = now_ms();
    crate::write_tx!(conn, |c| {
        let current: String = monitors::table.find(id).select(monitors::state).first(c)?;
        let to = if paused {
            MonitorState::Paused
        } else {
            MonitorState::Pending
        };
        if current != to.as_str() {
            diesel::update(monitors::table.find(id))
                .set((
                    monitors::paused.eq(paused),
                    monitors::state.eq(to.as_str()),
                    monitors::consecutive_failures.eq(0),
                    monitors::consecutive_successes.eq(0),
                    monitors::next_run_at.eq(now),
                    monitors::state_changed_at.eq(now),
                    monitors::updated_at.eq(now),
                ))
                .execute(c)?;
            diesel::insert_into(state_changes::table)
                .values(super::models::NewStateChange {
                    monitor_id: id,
                    from_state: current.clone(),
                    to_state: to.as_str().to_string(),
                    at: now,
                    reason: Some(if paused { "paused" } else { "resumed" }.to_string()),
                })
                .execute(c)?;
        }
        let action = if paused {
            "monitor.pause"
        } else {
            "monitor.resume"
        };
        c.audit(
            &actor
                .event(action, "monitor", Some(id.to_string()))
                .before(&serde_json::json!({ "state": current }))
                .after(&serde_json::json!({ "state": to.as_str() })),
        )
    })?;
    get(conn, id)
}

/// Makes the monitor due now (unless paused); the scheduler picks it up on its next tick. The
/// monitor is returned either way: an unknown id is `NotFound`, a paused one says so itself.
pub fn run_now(conn: &mut DbConn, actor: &Actor, id: i64) -> QueryResult<Monitor> {
    crate::write_tx!(conn, |c| {
        let n = diesel::update(monitors::table.find(id).filter(monitors::paused.eq(false)))
            .set(monitors::next_run_at.eq(now_ms()))
            .execute(c)?;
        if n == 1 {
            c.audit(&actor.event("monitor.run_now", "monitor", Some(id.to_string())))?;
        }
        QueryResult::Ok(())
    })?;
    get(conn, id)
}

pub fn counts_by_state(conn: &mut DbConn) -> QueryResult<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> = db!(conn, |c| monitors::table
        .group_by(monitors::state)
        .select((monitors::state, diesel::dsl::count_star()))
        .load(c))?;
    Ok(rows.into_iter().collect())
}

pub fn recent_state_changes(
    conn: &mut DbConn,
    monitor: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<StateChange>> {
    let rows: Vec<StateChangeRow> = db!(conn, |c| {
        let mut q = state_changes::table
            .inner_join(monitors::table)
            .select((
                state_changes::monitor_id,
                monitors::name,
                state_changes::from_state,
                state_changes::to_state,
                state_changes::at,
                state_changes::reason,
            ))
            .order(state_changes::id.desc())
            .limit(limit)
            .into_boxed();
        if let Some(id) = monitor {
            q = q.filter(state_changes::monitor_id.eq(id));
        }
        q.load(c)
    })?;
    Ok(rows.into_iter().map(StateChangeRow::into_api).collect())
}
