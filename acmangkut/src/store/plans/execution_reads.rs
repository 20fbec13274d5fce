//! What the console and the list route read of executions besides one execution's snapshot:
//! a plan's executions (paged, without their snapshots), every attempt of an execution's
//! actions in one range read, and the approvals waiting across executions. Each is one
//! bounded query, so a page's cost does not grow with a query per step.

use crate::db;
use crate::store::actions::ActionRun;
use crate::store::schema::{action_runs, plan_execution_steps as steps, plan_executions as ex};
use crate::store::{DbConn, StoreError, to_datetime};
use diesel::prelude::*;
use shared::execution::{ExecutionState, ExecutionSummary, ResolvedPlan};
use shared::page::Page;

/// The columns of an execution its summary shows (not its resolved plan or parameters).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ex)]
struct SummaryRow {
    id: i64,
    plan: String,
    version: i32,
    state: String,
    rollback: bool,
    started_by: String,
    comment: String,
    created_at: i64,
    started_at: Option<i64>,
    ended_at: Option<i64>,
    rto_ms: Option<i64>,
}

fn summary(r: SummaryRow) -> ExecutionSummary {
    ExecutionSummary {
        id: r.id,
        plan: r.plan,
        version: r.version,
        state: ExecutionState::parse(&r.state).unwrap_or(ExecutionState::Paused),
        rollback: r.rollback,
        started_by: r.started_by,
        comment: r.comment,
        created_at: to_datetime(r.created_at),
        started_at: r.started_at.map(to_datetime),
        ended_at: r.ended_at.map(to_datetime),
        rto_ms: r.rto_ms,
    }
}

/// The executions of the plan named `plan`, newest first.
pub fn list(
    conn: &mut DbConn,
    plan: &str,
    (limit, offset): (i64, i64),
) -> Result<Page<ExecutionSummary>, StoreError> {
    let (rows, total): (Vec<SummaryRow>, i64) = db!(conn, |c| {
        let rows = ex::table
            .filter(ex::plan.eq(plan))
            .select(SummaryRow::as_select())
            .order(ex::id.desc())
            .limit(limit)
            .offset(offset)
            .load(c)?;
        let total = ex::table.filter(ex::plan.eq(plan)).count().get_result(c)?;
        QueryResult::Ok((rows, total))
    })?;
    Ok(Page::new(
        rows.into_iter().map(summary).collect(),
        (limit, offset),
        total,
    ))
}

/// The executions that have not ended (newest first, at most `limit`) and how many there are.
pub fn in_flight(
    conn: &mut DbConn,
    limit: i64,
) -> Result<(Vec<ExecutionSummary>, i64), StoreError> {
    let (rows, total): (Vec<SummaryRow>, i64) = db!(conn, |c| {
        let rows = ex::table
            .filter(ex::ended_at.is_null())
            .select(SummaryRow::as_select())
            .order(ex::id.desc())
            .limit(limit)
            .load(c)?;
        let total = ex::table
            .filter(ex::ended_at.is_null())
            .count()
            .get_result(c)?;
        QueryResult::Ok((rows, total))
    })?;
    Ok((rows.into_iter().map(summary).collect(), total))
}

/// Every attempt of execution `id`'s actions (`do` and `undo`, see
/// `engine::plans::executions::subject`), oldest first: one range read on the runs' unique
/// `(subject, attempt)` index (`;` sorts right after `:`).
pub fn attempts(conn: &mut DbConn, id: i64) -> Result<Vec<ActionRun>, StoreError> {
    let (from, to) = (format!("execution:{id}:"), format!("execution:{id};"));
    Ok(db!(conn, |c| action_runs::table
        .filter(action_runs::subject.ge(&from))
        .filter(action_runs::subject.lt(&to))
        .order(action_runs::id.asc())
        .select(ActionRun::as_select())
        .load(c))?)
}

/// A step waiting for an approver, with what answering it needs to know.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub execution: ExecutionSummary,
    pub step: String,
    pub since: Option<i64>,
    pub plan: ResolvedPlan,
}

/// At most this many waiting approvals are listed.
pub const MAX_WAITING: i64 = 200;

/// The steps waiting for approval in executions that have not ended, oldest execution first.
pub fn waiting(conn: &mut DbConn) -> Result<Vec<Waiting>, StoreError> {
    let rows: Vec<(SummaryRow, String, Option<i64>, String)> = db!(conn, |c| steps::table
        .inner_join(ex::table)
        .filter(ex::ended_at.is_null())
        .filter(steps::state.eq(shared::execution::StepState::WaitingApproval.as_str()))
        .select((
            SummaryRow::as_select(),
            steps::step,
            steps::started_at,
            ex::resolved
        ))
        .order((ex::id.asc(), steps::position.asc()))
        .limit(MAX_WAITING)
        .load(c))?;
    rows.into_iter()
        .map(|(r, step, since, resolved)| {
            Ok(Waiting {
                execution: summary(r),
                step,
                since,
                plan: crate::store::inspection::parse("resolved plan", &resolved)?,
            })
        })
        .collect()
}
