//! Risk events: what needs attention first. Opened by a failing high-level finding or a monitor
//! going down, one open event per key (`rule:<id>:<target>`, `monitor:<id>`; a partial unique
//! index enforces it), acknowledged and resolved by people, resolved by the system when the
//! next run passes or the monitor is up again.

use crate::db;
use crate::store::StoreError;
use crate::store::audit::{Actor, AuditWrite};
use crate::store::schema::{monitors, risk_events as e};
use crate::store::{DbConn, now_ms, to_datetime};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Integer;
use shared::inspection::{Level, RiskEvent, RiskState};
use shared::page::Page;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = e)]
pub struct RiskRow {
    pub id: i64,
    pub dedup_key: String,
    pub source: String,
    pub level: String,
    pub title: String,
    pub detail: String,
    pub state: String,
    pub rule_id: Option<i64>,
    pub target: Option<String>,
    pub monitor_id: Option<i64>,
    pub task_id: Option<i64>,
    pub run_id: Option<i64>,
    pub occurrences: i32,
    pub opened_at: i64,
    pub last_seen_at: i64,
    pub acknowledged_at: Option<i64>,
    pub acknowledged_by: Option<String>,
    pub resolved_at: Option<i64>,
    pub resolved_by: Option<String>,
    pub comment: Option<String>,
}

impl RiskRow {
    pub fn to_api(&self) -> RiskEvent {
        RiskEvent {
            id: self.id,
            source: self.source.clone(),
            level: Level::parse(&self.level).unwrap_or(Level::Low),
            title: self.title.clone(),
            detail: self.detail.clone(),
            state: RiskState::parse(&self.state).unwrap_or(RiskState::Open),
            rule_id: self.rule_id,
            target: self.target.clone(),
            monitor_id: self.monitor_id,
            task_id: self.task_id,
            run_id: self.run_id,
            occurrences: self.occurrences.into(),
            opened_at: to_datetime(self.opened_at),
            last_seen_at: to_datetime(self.last_seen_at),
            acknowledged_at: self.acknowledged_at.map(to_datetime),
            acknowledged_by: self.acknowledged_by.clone(),
            resolved_at: self.resolved_at.map(to_datetime),
            resolved_by: self.resolved_by.clone(),
            comment: self.comment.clone(),
        }
    }
}

/// A finding or monitor that opens (or refreshes) a risk event.
#[derive(Debug, Clone)]
pub struct Raise {
    pub key: String,
    pub source: &'static str,
    pub level: Level,
    pub title: String,
    pub detail: String,
    pub rule_id: Option<i64>,
    pub target: Option<String>,
    pub monitor_id: Option<i64>,
    pub task_id: Option<i64>,
    pub run_id: Option<i64>,
}

pub fn rule_key(rule_id: i64, target: &str) -> String {
    format!("rule:{rule_id}:{target}")
}

pub fn monitor_key(monitor_id: i64) -> String {
    format!("monitor:{monitor_id}")
}

/// Opens an event for `r.key`, or, when one is open, counts another occurrence. Returns the
/// id of a newly opened event.
pub fn raise(conn: &mut DbConn, r: &Raise) -> Result<Option<i64>, StoreError> {
    let now = now_ms();
    if seen_again(conn, r, now)? > 0 {
        return Ok(None);
    }
    // In a savepoint: on PostgreSQL a unique violation aborts the whole transaction (a run's
    // ending) unless only the savepoint is rolled back.
    let id = crate::store::write(conn, |c| {
        db!(c, |c| diesel::insert_into(e::table)
            .values((
                e::dedup_key.eq(&r.key),
                e::source.eq(r.source),
                e::level.eq(r.level.as_str()),
                e::title.eq(&r.title),
                e::detail.eq(&r.detail),
                e::state.eq("open"),
                e::rule_id.eq(r.rule_id),
                e::target.eq(&r.target),
                e::monitor_id.eq(r.monitor_id),
                e::task_id.eq(r.task_id),
                e::run_id.eq(r.run_id),
                e::opened_at.eq(now),
                e::last_seen_at.eq(now),
            ))
            .returning(e::id)
            .get_result::<i64>(c))
    });
    match id {
        Ok(id) => Ok(Some(id)),
        // Another replica opened it a moment ago: the partial unique index kept it single, and
        // this sighting counts on it.
        Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        )) => seen_again(conn, r, now).map(|_| None),
        Err(e) => Err(e.into()),
    }
}

/// Counts one more occurrence on the open event of `r.key`; returns how many rows it touched.
fn seen_again(conn: &mut DbConn, r: &Raise, now: i64) -> Result<usize, StoreError> {
    Ok(db!(conn, |c| diesel::update(
        e::table
            .filter(e::dedup_key.eq(&r.key))
            .filter(e::state.ne("resolved"))
    )
    .set((
        e::occurrences.eq(e::occurrences + 1),
        e::last_seen_at.eq(now),
        e::detail.eq(&r.detail),
        e::run_id.eq(r.run_id),
    ))
    .execute(c))?)
}

/// Resolves the open event of each key as the system (the check passes again).
pub fn clear(conn: &mut DbConn, keys: &[String], why: &str) -> Result<usize, StoreError> {
    let now = now_ms();
    let mut n = 0;
    for chunk in keys.chunks(500) {
        n += db!(conn, |c| diesel::update(
            e::table
                .filter(e::dedup_key.eq_any(chunk))
                .filter(e::state.ne("resolved"))
        )
        .set((
            e::state.eq("resolved"),
            e::resolved_at.eq(now),
            e::resolved_by.eq("system"),
            e::comment.eq(why),
        ))
        .execute(c))?;
    }
    Ok(n)
}

/// Reconciles monitor events with monitor states: every down monitor has an open event, every
/// event of a monitor that is up again (or gone, or paused) is resolved. Run periodically, so
/// no state change can be missed, whichever replica saw it.
pub fn reconcile_monitors(conn: &mut DbConn) -> Result<(usize, usize), StoreError> {
    let down: Vec<(i64, String, String)> = db!(conn, |c| monitors::table
        .filter(monitors::state.eq("down"))
        .filter(monitors::paused.eq(false))
        .select((monitors::id, monitors::name, monitors::target))
        .load(c))?;
    let open: Vec<(i64, Option<i64>)> = db!(conn, |c| e::table
        .filter(e::source.eq("monitor"))
        .filter(e::state.ne("resolved"))
        .select((e::id, e::monitor_id))
        .load(c))?;
    let mut opened = 0;
    for (id, name, target) in &down {
        if open.iter().any(|(_, m)| *m == Some(*id)) {
            continue;
        }
        let r = Raise {
            key: monitor_key(*id),
            source: "monitor",
            level: Level::High,
            title: format!("Monitor {name} is down"),
            detail: format!("{target} failed its checks"),
            rule_id: None,
            target: Some(target.clone()),
            monitor_id: Some(*id),
            task_id: None,
            run_id: None,
        };
        if raise(conn, &r)?.is_some() {
            opened += 1;
        }
    }
    let recovered: Vec<String> = open
        .iter()
        .filter_map(|(_, m)| *m)
        .filter(|m| !down.iter().any(|(d, _, _)| d == m))
        .map(monitor_key)
        .collect();
    let resolved = clear(conn, &recovered, "the monitor is up again")?;
    Ok((opened, resolved))
}

#[derive(Debug, Default, Clone)]
pub struct RiskFilter {
    pub states: Vec<RiskState>,
    pub level: Option<Level>,
    pub source: Option<String>,
}

/// The filter as the API's query string and the console's form write it.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RiskQuery {
    /// Comma-separated states (`open,acknowledged`, the default; `resolved`; `all`).
    #[param(pattern = "^(all|((open|acknowledged|resolved)(,(open|acknowledged|resolved))*))?$")]
    pub state: Option<String>,
    /// `high`, `medium` or `low`.
    #[param(pattern = "^(high|medium|low)?$")]
    pub level: Option<String>,
    /// `inspection` or `monitor`.
    #[param(pattern = "^(inspection|monitor)?$")]
    pub source: Option<String>,
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<i64>,
    #[param(minimum = 1, maximum = 500)]
    pub per_page: Option<i64>,
}

/// A filter value the risk list does not know (the HTTP edge answers it as an invalid query).
#[derive(Debug, thiserror::Error)]
#[error("{field}: {detail}")]
pub struct BadFilter {
    pub field: &'static str,
    pub detail: &'static str,
}

impl RiskQuery {
    pub fn filter(&self) -> Result<RiskFilter, BadFilter> {
        let bad = |field, detail| BadFilter { field, detail };
        let states = match self.state.as_deref().unwrap_or("open,acknowledged") {
            "all" | "" => Vec::new(),
            states => states
                .split(',')
                .map(|s| {
                    RiskState::parse(s.trim()).ok_or_else(|| {
                        bad("state", "states are open, acknowledged, resolved or all")
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let level = match self.level.as_deref().filter(|s| !s.is_empty()) {
            Some(l) => {
                Some(Level::parse(l).ok_or_else(|| bad("level", "must be high, medium or low"))?)
            }
            None => None,
        };
        let source = match self.source.as_deref().filter(|s| !s.is_empty()) {
            Some(s @ ("inspection" | "monitor")) => Some(s.to_string()),
            Some(_) => return Err(bad("source", "must be inspection or monitor")),
            None => None,
        };
        Ok(RiskFilter {
            states,
            level,
            source,
        })
    }

    pub fn page(&self) -> shared::page::PageQuery {
        shared::page::PageQuery {
            page: self.page,
            per_page: self.per_page,
        }
    }
}

/// Ordered by level (high first), then age (oldest first): what needs attention first.
pub fn list(
    conn: &mut DbConn,
    filter: &RiskFilter,
    (limit, offset): (i64, i64),
) -> Result<Page<RiskEvent>, StoreError> {
    let states: Vec<&str> = filter.states.iter().map(|s| s.as_str()).collect();
    let (rows, total): (Vec<RiskRow>, i64) = db!(conn, |c| {
        let mut q = e::table.select(RiskRow::as_select()).into_boxed();
        let mut n = e::table.count().into_boxed();
        if !states.is_empty() {
            q = q.filter(e::state.eq_any(states.clone()));
            n = n.filter(e::state.eq_any(states.clone()));
        }
        if let Some(l) = filter.level {
            q = q.filter(e::level.eq(l.as_str()));
            n = n.filter(e::level.eq(l.as_str()));
        }
        if let Some(s) = &filter.source {
            q = q.filter(e::source.eq(s.clone()));
            n = n.filter(e::source.eq(s.clone()));
        }
        let rows = q
            .order((
                sql::<Integer>("CASE level WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END"),
                e::opened_at.asc(),
                e::id.asc(),
            ))
            .limit(limit)
            .offset(offset)
            .load(c)?;
        QueryResult::Ok((rows, n.get_result(c)?))
    })?;
    Ok(Page::new(
        rows.iter().map(RiskRow::to_api).collect(),
        (limit, offset),
        total,
    ))
}

/// Open events per level, for the overview.
pub fn open_counts(conn: &mut DbConn) -> Result<Vec<(String, i64)>, StoreError> {
    Ok(db!(conn, |c| e::table
        .filter(e::state.ne("resolved"))
        .group_by(e::level)
        .select((e::level, diesel::dsl::count_star()))
        .load(c))?)
}

pub fn get(conn: &mut DbConn, id: i64) -> Result<RiskEvent, StoreError> {
    Ok(crate::find_row!(conn, e::table, RiskRow, id, "risk event")?.to_api())
}

/// `acknowledge` (open → acknowledged) or `resolve` (open or acknowledged → resolved), audited.
pub fn act(
    conn: &mut DbConn,
    actor: &Actor,
    id: i64,
    resolve: bool,
    comment: &str,
) -> Result<RiskEvent, StoreError> {
    let before = get(conn, id)?;
    if before.state == RiskState::Resolved {
        return Err(StoreError::conflict(format!(
            "risk event {id} is already resolved"
        )));
    }
    if !resolve && before.state == RiskState::Acknowledged {
        return Err(StoreError::conflict(format!(
            "risk event {id} is already acknowledged"
        )));
    }
    let now = now_ms();
    let who = actor.name.clone();
    crate::store::write(conn, |c| {
        db!(c, |c| {
            let q = e::table
                .filter(e::id.eq(id))
                .filter(e::state.ne("resolved"));
            if resolve {
                diesel::update(q)
                    .set((
                        e::state.eq("resolved"),
                        e::resolved_at.eq(now),
                        e::resolved_by.eq(&who),
                        e::comment.eq(comment),
                    ))
                    .execute(c)?;
            } else {
                diesel::update(q)
                    .set((
                        e::state.eq("acknowledged"),
                        e::acknowledged_at.eq(now),
                        e::acknowledged_by.eq(&who),
                        e::comment.eq(comment),
                    ))
                    .execute(c)?;
            }
            let action = if resolve {
                "risk.resolve"
            } else {
                "risk.acknowledge"
            };
            c.audit(
                &actor
                    .event(action, "risk_event", Some(id.to_string()))
                    .detail(comment.to_string()),
            )?;
            Ok::<_, StoreError>(())
        })
    })?;
    get(conn, id)
}
