//! Leases on due work: a replica claims rows by writing its name and an expiry; rows whose
//! lease expired (the replica died or stalled) are claimable again by anyone.
//!
//! PostgreSQL: `FOR UPDATE SKIP LOCKED`, so concurrent claimers never wait on or double-take a
//! row. SQLite: a write transaction, `BEGIN IMMEDIATE` (one writer at a time; one replica by
//! design).

use super::DbConn;
use super::monitors::models::MonitorRow;
use super::schema::monitors;
use diesel::prelude::*;
use diesel::result::QueryResult;
use diesel::sql_types::{BigInt, Text};

/// A claimed monitor, and who held its lease before if that lease had expired (a takeover).
#[derive(diesel::QueryableByName)]
pub struct Claimed {
    #[diesel(embed)]
    pub monitor: MonitorRow,
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    pub previous_owner: Option<String>,
}

/// Claims up to `limit` due, unpaused monitors for `owner` until `now + lease_ms`.
pub fn claim_due_monitors(
    conn: &mut DbConn,
    owner: &str,
    now: i64,
    limit: i64,
    lease_ms: i64,
) -> QueryResult<Vec<Claimed>> {
    match conn {
        DbConn::Pg(c) => diesel::sql_query(
            "WITH due AS (SELECT id, lease_owner AS previous_owner FROM monitors \
                 WHERE paused = FALSE AND next_run_at <= $3 \
                   AND (lease_owner IS NULL OR lease_expires_at < $3) \
                 ORDER BY next_run_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
             UPDATE monitors SET lease_owner = $1, lease_expires_at = $2 \
             FROM due WHERE monitors.id = due.id \
             RETURNING monitors.*, due.previous_owner",
        )
        .bind::<Text, _>(owner)
        .bind::<BigInt, _>(now + lease_ms)
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(limit)
        .load::<Claimed>(c)
        .map(|mut rows| {
            rows.sort_by_key(|r| r.monitor.next_run_at);
            rows
        }),
        // Both backends compile the body; only SQLite runs it.
        DbConn::Sqlite(_) => super::write(conn, |conn| {
            crate::db!(conn, |c| {
                let due: Vec<(i64, Option<String>)> = monitors::table
                    .filter(monitors::paused.eq(false))
                    .filter(monitors::next_run_at.le(now))
                    .filter(
                        monitors::lease_owner
                            .is_null()
                            .or(monitors::lease_expires_at.lt(now)),
                    )
                    .order(monitors::next_run_at.asc())
                    .limit(limit)
                    .select((monitors::id, monitors::lease_owner))
                    .load(c)?;
                if due.is_empty() {
                    return Ok(Vec::new());
                }
                let ids: Vec<i64> = due.iter().map(|(id, _)| *id).collect();
                let mut previous: std::collections::HashMap<i64, Option<String>> =
                    due.into_iter().collect();
                diesel::update(monitors::table.filter(monitors::id.eq_any(&ids)))
                    .set((
                        monitors::lease_owner.eq(owner),
                        monitors::lease_expires_at.eq(now + lease_ms),
                    ))
                    .execute(c)?;
                let rows: Vec<MonitorRow> = monitors::table
                    .filter(monitors::id.eq_any(&ids))
                    .order(monitors::next_run_at.asc())
                    .select(MonitorRow::as_select())
                    .load(c)?;
                Ok(rows
                    .into_iter()
                    .map(|monitor| Claimed {
                        previous_owner: previous.remove(&monitor.id).flatten(),
                        monitor,
                    })
                    .collect())
            })
        }),
    }
}

/// Extends `owner`'s leases on `ids` (monitors whose probes are still out) to `until`. A lease
/// another replica has taken over meanwhile is left alone. Returns how many were renewed.
pub fn renew_monitors(
    conn: &mut DbConn,
    owner: &str,
    ids: &[i64],
    until: i64,
) -> QueryResult<usize> {
    crate::db!(conn, |c| diesel::update(
        monitors::table
            .filter(monitors::id.eq_any(ids))
            .filter(monitors::lease_owner.eq(owner))
    )
    .set(monitors::lease_expires_at.eq(until))
    .execute(c))
}

/// Gives claimed rows back without a result, still due at the time they were due: a run
/// given back stays on its monitor's interval grid (so do the runs after it).
pub fn release(conn: &mut DbConn, owner: &str, ids: &[i64]) -> QueryResult<usize> {
    crate::db!(conn, |c| diesel::update(
        monitors::table
            .filter(monitors::id.eq_any(ids))
            .filter(monitors::lease_owner.eq(owner))
    )
    .set((
        monitors::lease_owner.eq(None::<String>),
        monitors::lease_expires_at.eq(None::<i64>)
    ))
    .execute(c))
}

/// Drops every lease `owner` holds (clean shutdown), so others need not wait for expiry.
pub fn release_all(conn: &mut DbConn, owner: &str) -> QueryResult<usize> {
    crate::db!(conn, |c| diesel::update(
        monitors::table.filter(monitors::lease_owner.eq(owner))
    )
    .set((
        monitors::lease_owner.eq(None::<String>),
        monitors::lease_expires_at.eq(None::<i64>)
    ))
    .execute(c))
}

/// Work queues other than monitors that are claimed the same way. Each names its table, what
/// makes a row claimable, and what claiming changes besides the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Queue {
    /// Queued inspection runs: claiming starts them.
    InspectionRuns,
    /// Pending notification deliveries whose next attempt is due.
    Deliveries,
    /// Plan executions with work for a replica (not paused, not ended) and no live lease.
    Executions,
    /// Plan schedules whose next slot is due: the claimer fires the slot and moves it on.
    PlanSchedules,
    /// Drill runs not ended (their targets may need injecting or recovering) and no live lease.
    DrillRuns,
}

impl Queue {
    fn sql(self) -> (&'static str, &'static str, &'static str, &'static str) {
        // (table, claimable rows, extra SET, order)
        match self {
            Self::InspectionRuns => (
                "inspection_runs",
                "state = 'queued'",
                ", state = 'running', started_at = ?3",
                "id",
            ),
            Self::Deliveries => (
                "notification_deliveries",
                "state = 'pending' AND next_attempt_at <= ?3 \
                 AND (lease_owner IS NULL OR lease_expires_at < ?3)",
                "",
                "next_attempt_at",
            ),
            Self::Executions => (
                "plan_executions",
                "state IN ('pending', 'running', 'waiting_approval', 'rolling_back') \
                 AND (lease_owner IS NULL OR lease_expires_at < ?3)",
                "",
                "id",
            ),
            Self::PlanSchedules => (
                "plan_schedules",
                "next_at <= ?3 AND (lease_owner IS NULL OR lease_expires_at < ?3)",
                "",
                "next_at",
            ),
            Self::DrillRuns => (
                "drill_runs",
                "state IN ('pending', 'initiating', 'running', 'stopping') \
                 AND (lease_owner IS NULL OR lease_expires_at < ?3)",
                "",
                "id",
            ),
        }
    }
}

#[derive(diesel::QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Claims up to `limit` rows of `queue` for `owner` until `now + lease_ms`; returns their ids.
/// One statement: on PostgreSQL the inner `SKIP LOCKED` keeps concurrent replicas from taking
/// the same row; on SQLite the statement is its own write transaction.
pub fn claim(
    conn: &mut DbConn,
    queue: Queue,
    owner: &str,
    now: i64,
    limit: i64,
    lease_ms: i64,
) -> QueryResult<Vec<i64>> {
    let (table, due, extra, order) = queue.sql();
    let lock = match conn {
        DbConn::Pg(_) => " FOR UPDATE SKIP LOCKED",
        DbConn::Sqlite(_) => "",
    };
    let text = format!(
        "UPDATE {table} SET lease_owner = ?1, lease_expires_at = ?2{extra} \
         WHERE id IN (SELECT id FROM {table} WHERE {due} ORDER BY {order} LIMIT ?4{lock}) \
         RETURNING id"
    );
    let rows: Vec<IdRow> = match conn {
        DbConn::Pg(c) => diesel::sql_query(text.replace('?', "$"))
            .bind::<Text, _>(owner)
            .bind::<BigInt, _>(now + lease_ms)
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(limit)
            .load(c)?,
        DbConn::Sqlite(c) => diesel::sql_query(text)
            .bind::<Text, _>(owner)
            .bind::<BigInt, _>(now + lease_ms)
            .bind::<BigInt, _>(now)
            .bind::<BigInt, _>(limit)
            .load(c)?,
    };
    let mut ids: Vec<i64> = rows.into_iter().map(|r| r.id).collect();
    ids.sort_unstable();
    Ok(ids)
}

/// Extends `owner`'s leases on rows `ids` of `queue` to `until`; a lease another replica took
/// over meanwhile is left alone. Returns the ids still held.
pub fn renew(
    conn: &mut DbConn,
    queue: Queue,
    owner: &str,
    ids: &[i64],
    until: i64,
) -> QueryResult<Vec<i64>> {
    let (table, ..) = queue.sql();
    let list = ids
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let text = format!(
        "UPDATE {table} SET lease_expires_at = ?2 WHERE lease_owner = ?1 AND id IN ({list}) \
         RETURNING id"
    );
    let rows: Vec<IdRow> = match conn {
        DbConn::Pg(c) => diesel::sql_query(text.replace('?', "$"))
            .bind::<Text, _>(owner)
            .bind::<BigInt, _>(until)
            .load(c)?,
        DbConn::Sqlite(c) => diesel::sql_query(text)
            .bind::<Text, _>(owner)
            .bind::<BigInt, _>(until)
            .load(c)?,
    };
    Ok(rows.into_iter().map(|r| r.id).collect())
}
