//! Leases on due work: a replica claims rows by writing its name and an expiry; rows whose
//! lease expired (the replica died or stalled) are claimable again by anyone.
//!
//! PostgreSQL: `FOR UPDATE SKIP LOCKED`, so concurrent claimers never wait on or double-take a
//! row. SQLite: an immediate transaction (one writer at a time; one replica by design).

use super::DbConn;
use super::models::MonitorRow;
use super::schema::monitors;
use diesel::prelude::*;
use diesel::result::QueryResult;
use diesel::sql_types::{BigInt, Text};

/// Claims up to `limit` due, unpaused monitors for `owner` until `now + lease_ms`.
pub fn claim_due_monitors(
    conn: &mut DbConn,
    owner: &str,
    now: i64,
    limit: i64,
    lease_ms: i64,
) -> QueryResult<Vec<MonitorRow>> {
    match conn {
        DbConn::Pg(c) => diesel::sql_query(
            "UPDATE monitors SET lease_owner = $1, lease_expires_at = $2 \
             WHERE id IN (SELECT id FROM monitors \
                 WHERE paused = FALSE AND next_run_at <= $3 \
                   AND (lease_owner IS NULL OR lease_expires_at < $3) \
                 ORDER BY next_run_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING *",
        )
        .bind::<Text, _>(owner)
        .bind::<BigInt, _>(now + lease_ms)
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(limit)
        .load(c),
        DbConn::Sqlite(c) => c.immediate_transaction(|c| {
            let ids: Vec<i64> = monitors::table
                .filter(monitors::paused.eq(false))
                .filter(monitors::next_run_at.le(now))
                .filter(
                    monitors::lease_owner
                        .is_null()
                        .or(monitors::lease_expires_at.lt(now)),
                )
                .order(monitors::next_run_at.asc())
                .limit(limit)
                .select(monitors::id)
                .load(c)?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            diesel::update(monitors::table.filter(monitors::id.eq_any(&ids)))
                .set((
                    monitors::lease_owner.eq(owner),
                    monitors::lease_expires_at.eq(now + lease_ms),
                ))
                .execute(c)?;
            monitors::table
                .filter(monitors::id.eq_any(&ids))
                .order(monitors::next_run_at.asc())
                .select(MonitorRow::as_select())
                .load(c)
        }),
    }
}

/// Gives claimed rows back without a result (pageinspect asked us to back off): they become
/// due again at `retry_at`.
pub fn release(conn: &mut DbConn, owner: &str, ids: &[i64], retry_at: i64) -> QueryResult<usize> {
    crate::db!(conn, |c| diesel::update(
        monitors::table
            .filter(monitors::id.eq_any(ids))
            .filter(monitors::lease_owner.eq(owner))
    )
    .set((
        monitors::lease_owner.eq(None::<String>),
        monitors::lease_expires_at.eq(None::<i64>),
        monitors::next_run_at.eq(retry_at),
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
