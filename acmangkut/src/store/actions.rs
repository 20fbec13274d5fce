//! Intents and outcomes of actions (written by the engine's executor): one row per attempt of an
//! action, inserted (committed) before the side effect and completed after it.

use super::schema::action_runs;
use super::{DbConn, now_ms};
use crate::db;
use diesel::prelude::*;
use diesel::result::QueryResult;
use shared::check::CheckOutcome;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable)]
#[diesel(table_name = action_runs)]
pub struct ActionRun {
    pub id: i64,
    pub subject: String,
    pub attempt: i32,
    pub summary: String,
    pub idempotent: bool,
    pub owner: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub status: Option<String>,
    pub value: Option<String>,
    pub evidence: Option<String>,
}

/// Records the intent to run the next attempt of `subject`; returns the new row.
pub fn intend(
    conn: &mut DbConn,
    subject: &str,
    summary: &str,
    idempotent: bool,
    owner: &str,
) -> QueryResult<ActionRun> {
    super::write(conn, |c| {
        db!(c, |c| {
            let last: Option<i32> = action_runs::table
                .filter(action_runs::subject.eq(subject))
                .select(diesel::dsl::max(action_runs::attempt))
                .first(c)?;
            diesel::insert_into(action_runs::table)
                .values((
                    action_runs::subject.eq(subject),
                    action_runs::attempt.eq(last.unwrap_or(0) + 1),
                    action_runs::summary.eq(summary),
                    action_runs::idempotent.eq(idempotent),
                    action_runs::owner.eq(owner),
                    action_runs::started_at.eq(now_ms()),
                ))
                .returning(ActionRun::as_returning())
                .get_result(c)
        })
    })
}

/// Completes intent `id` with what happened.
pub fn record(conn: &mut DbConn, id: i64, outcome: &CheckOutcome) -> QueryResult<()> {
    db!(conn, |c| diesel::update(action_runs::table.find(id))
        .set((
            action_runs::finished_at.eq(now_ms()),
            action_runs::status.eq(outcome.status.as_str()),
            action_runs::value.eq(outcome.value.as_deref()),
            action_runs::evidence.eq(&outcome.evidence),
        ))
        .execute(c))
    .map(drop)
}

/// Every attempt of `subject`, oldest first.
pub fn attempts(conn: &mut DbConn, subject: &str) -> QueryResult<Vec<ActionRun>> {
    db!(conn, |c| action_runs::table
        .filter(action_runs::subject.eq(subject))
        .order(action_runs::attempt.asc())
        .select(ActionRun::as_select())
        .load(c))
}

/// Intents without an outcome whose subject starts with `prefix`: what a crash interrupted.
pub fn unfinished(conn: &mut DbConn, prefix: &str) -> QueryResult<Vec<ActionRun>> {
    let pattern = format!(
        "{}%",
        prefix
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    );
    db!(conn, |c| action_runs::table
        .filter(action_runs::finished_at.is_null())
        .filter(action_runs::subject.like(&pattern).escape('\\'))
        .order(action_runs::id.asc())
        .select(ActionRun::as_select())
        .load(c))
}
