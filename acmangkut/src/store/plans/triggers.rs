//! Triggers of plans: the next slot of each scheduled plan (`plan_schedules`, a work queue
//! claimed by lease) and the executions risk events proposed (`plan_risk_proposals`, one per
//! event and plan).

use crate::db;
use crate::store::inspection::risks::RiskRow;
use crate::store::plans::PlanRow;
use crate::store::schema::{
    inspection_rules, monitors, plan_executions as ex, plan_risk_proposals as rp,
    plan_schedules as ps, plans, risk_events,
};
use crate::store::{DbConn, StoreResult, now_ms};
use diesel::prelude::*;
use shared::plan::ScheduleTrigger;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ps)]
pub struct ScheduleRow {
    pub id: i64,
    pub plan_id: i64,
    pub cron: String,
    pub time_zone: String,
    pub next_at: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
}

/// Keeps plan `plan_id`'s schedule row in step with its latest version: none without a
/// schedule; an unchanged schedule keeps its next slot, a new one starts at `next_at`.
pub fn set_schedule(
    conn: &mut DbConn,
    plan_id: i64,
    schedule: Option<(&ScheduleTrigger, i64)>,
) -> StoreResult<()> {
    let Some((s, next_at)) = schedule else {
        db!(conn, |c| diesel::delete(
            ps::table.filter(ps::plan_id.eq(plan_id))
        )
        .execute(c))?;
        return Ok(());
    };
    let same = db!(conn, |c| ps::table
        .filter(ps::plan_id.eq(plan_id))
        .filter(ps::cron.eq(&s.cron))
        .filter(ps::time_zone.eq(&s.time_zone))
        .count()
        .get_result::<i64>(c))?;
    if same > 0 {
        return Ok(());
    }
    db!(conn, |c| {
        diesel::delete(ps::table.filter(ps::plan_id.eq(plan_id))).execute(c)?;
        diesel::insert_into(ps::table)
            .values((
                ps::plan_id.eq(plan_id),
                ps::cron.eq(&s.cron),
                ps::time_zone.eq(&s.time_zone),
                ps::next_at.eq(next_at),
            ))
            .execute(c)
    })?;
    Ok(())
}

/// Schedule row `id` while `owner` holds its lease.
pub fn claimed_schedule(
    conn: &mut DbConn,
    id: i64,
    owner: &str,
) -> StoreResult<Option<ScheduleRow>> {
    Ok(db!(conn, |c| ps::table
        .filter(ps::id.eq(id))
        .filter(ps::lease_owner.eq(owner))
        .select(ScheduleRow::as_select())
        .first(c)
        .optional())?)
}

/// Moves schedule `id` from slot `slot` to `next` and gives its lease back; `false` (nothing
/// written) when the slot already moved or the lease is no longer `owner`'s.
pub fn advance(conn: &mut DbConn, id: i64, owner: &str, slot: i64, next: i64) -> StoreResult<bool> {
    let n = db!(conn, |c| diesel::update(
        ps::table
            .filter(ps::id.eq(id))
            .filter(ps::lease_owner.eq(owner))
            .filter(ps::next_at.eq(slot))
    )
    .set((
        ps::next_at.eq(next),
        ps::lease_owner.eq(None::<String>),
        ps::lease_expires_at.eq(None::<i64>),
    ))
    .execute(c))?;
    Ok(n == 1)
}

/// The next slot of plan `plan_id`'s schedule, if it has one.
pub fn next_at(conn: &mut DbConn, plan_id: i64) -> StoreResult<Option<i64>> {
    Ok(crate::find_by!(
        conn,
        ps::table,
        ps::plan_id,
        plan_id,
        ps::next_at
    )?)
}

/// The plan's unended execution: `(id, state)`.
pub fn active_execution(conn: &mut DbConn, plan: &str) -> StoreResult<Option<(i64, String)>> {
    Ok(crate::find_by!(
        conn,
        ex::table.filter(ex::ended_at.is_null()),
        ex::plan,
        plan,
        (ex::id, ex::state)
    )?)
}

/// Risk events not resolved yet, oldest first.
pub fn unresolved_events(conn: &mut DbConn) -> StoreResult<Vec<RiskRow>> {
    Ok(db!(conn, |c| risk_events::table
        .filter(risk_events::state.ne("resolved"))
        .order(risk_events::id.asc())
        .limit(1000)
        .select(RiskRow::as_select())
        .load(c))?)
}

/// Whether risk event `event` proposed an execution of `plan` already.
pub fn proposed(conn: &mut DbConn, event: i64, plan: &str) -> StoreResult<bool> {
    let n: i64 = db!(conn, |c| rp::table
        .filter(rp::risk_event_id.eq(event))
        .filter(rp::plan.eq(plan))
        .count()
        .get_result(c))?;
    Ok(n > 0)
}

/// Records that `event` proposed execution `execution` of `plan` (the primary key keeps it
/// to one, whichever replica got there first: the loser's transaction fails and is retried,
/// then finds it proposed).
pub fn record_proposal(
    conn: &mut DbConn,
    event: i64,
    plan: &str,
    execution: i64,
) -> StoreResult<()> {
    db!(conn, |c| diesel::insert_into(rp::table)
        .values((
            rp::risk_event_id.eq(event),
            rp::plan.eq(plan),
            rp::execution_id.eq(execution),
            rp::created_at.eq(now_ms()),
        ))
        .execute(c))?;
    Ok(())
}

/// Every plan's row (its latest version), to find those whose triggers answer risk events.
pub fn plan_rows(conn: &mut DbConn) -> StoreResult<Vec<PlanRow>> {
    Ok(db!(conn, |c| plans::table
        .order(plans::id.asc())
        .select(PlanRow::as_select())
        .load(c))?)
}

/// The name of inspection rule `id` (none: deleted since).
pub fn rule_name(conn: &mut DbConn, id: i64) -> StoreResult<Option<String>> {
    Ok(crate::find_by!(
        conn,
        inspection_rules::table,
        inspection_rules::id,
        id,
        inspection_rules::name
    )?)
}

/// The name of monitor `id` (none: deleted since).
pub fn monitor_name(conn: &mut DbConn, id: i64) -> StoreResult<Option<String>> {
    Ok(crate::find_by!(
        conn,
        monitors::table,
        monitors::id,
        id,
        monitors::name
    )?)
}

/// The id of a monitor named `name` (the first, when several share it).
pub fn monitor_named(conn: &mut DbConn, name: &str) -> StoreResult<Option<i64>> {
    Ok(crate::find_by!(
        conn,
        monitors::table,
        monitors::name,
        name,
        monitors::id
    )?)
}

/// The ids of plan `plan`'s executions, oldest first.
pub fn executions_of(conn: &mut DbConn, plan: &str) -> StoreResult<Vec<i64>> {
    Ok(db!(conn, |c| ex::table
        .filter(ex::plan.eq(plan))
        .order(ex::id.asc())
        .select(ex::id)
        .load(c))?)
}
