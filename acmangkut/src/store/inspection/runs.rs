//! Runs and their findings: the durable record of an inspection. A run is a row whose state
//! changes commit before the next step; findings are written as checks complete, so a run cut
//! short by a crash keeps what it found and is marked `interrupted`.

use super::{parse, to_json};
use crate::db;
use crate::store::StoreError;
use crate::store::audit::{Actor, AuditWrite};
use crate::store::schema::{inspection_findings as f, inspection_runs as runs};
use crate::store::{DbConn, now_ms, to_datetime};
use diesel::prelude::*;
use shared::check::CheckStatus;
use shared::inspection::{Change, Finding, Level, Run, RunState, RunSummary};
use shared::page::Page;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = runs)]
pub struct RunRow {
    pub id: i64,
    pub task_id: i64,
    pub task_name: String,
    pub trigger_kind: String,
    pub scheduled_for: Option<i64>,
    pub state: String,
    pub actor: String,
    pub queued_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub plan: String,
    pub total: i32,
    pub passed: i32,
    pub failed: i32,
    pub errors: i32,
    pub score: Option<f64>,
    pub summary: String,
    pub previous_run_id: Option<i64>,
    pub detail: Option<String>,
}

impl RunRow {
    pub fn state(&self) -> RunState {
        RunState::parse(&self.state).unwrap_or(RunState::Interrupted)
    }

    pub fn to_api(&self) -> Result<Run, StoreError> {
        Ok(Run {
            id: self.id,
            task_id: self.task_id,
            task_name: self.task_name.clone(),
            trigger: self.trigger_kind.clone(),
            state: self.state(),
            actor: self.actor.clone(),
            queued_at: to_datetime(self.queued_at),
            started_at: self.started_at.map(to_datetime),
            finished_at: self.finished_at.map(to_datetime),
            total: self.total.into(),
            passed: self.passed.into(),
            failed: self.failed.into(),
            errors: self.errors.into(),
            score: self.score,
            summary: parse::<RunSummary>("run summary", &self.summary).unwrap_or_default(),
            previous_run_id: self.previous_run_id,
            detail: self.detail.clone(),
        })
    }
}

pub fn row(conn: &mut DbConn, id: i64) -> Result<RunRow, StoreError> {
    crate::find_row!(conn, runs::table, RunRow, id, "run")
}

pub fn rows(conn: &mut DbConn, ids: &[i64]) -> Result<Vec<RunRow>, StoreError> {
    Ok(db!(conn, |c| runs::table
        .filter(runs::id.eq_any(ids))
        .order(runs::id.asc())
        .select(RunRow::as_select())
        .load(c))?)
}

/// The newest run of each task given.
pub fn latest(conn: &mut DbConn, task_ids: &[i64]) -> Result<Vec<Run>, StoreError> {
    if task_ids.is_empty() {
        return Ok(Vec::new());
    }
    let newest: Vec<Option<i64>> = db!(conn, |c| runs::table
        .filter(runs::task_id.eq_any(task_ids))
        .group_by(runs::task_id)
        .select(diesel::dsl::max(runs::id))
        .load(c))?;
    let ids: Vec<i64> = newest.into_iter().flatten().collect();
    rows(conn, &ids)?.iter().map(RunRow::to_api).collect()
}

pub fn list(
    conn: &mut DbConn,
    task_id: Option<i64>,
    (limit, offset): (i64, i64),
) -> Result<Page<Run>, StoreError> {
    let (items, total): (Vec<RunRow>, i64) = db!(conn, |c| {
        let mut q = runs::table.select(RunRow::as_select()).into_boxed();
        let mut n = runs::table.count().into_boxed();
        if let Some(t) = task_id {
            q = q.filter(runs::task_id.eq(t));
            n = n.filter(runs::task_id.eq(t));
        }
        let items = q
            .order(runs::id.desc())
            .limit(limit)
            .offset(offset)
            .load(c)?;
        QueryResult::Ok((items, n.get_result(c)?))
    })?;
    let items = items.iter().map(RunRow::to_api).collect::<Result<_, _>>()?;
    Ok(Page::new(items, (limit, offset), total))
}

/// Queues a manual run ("run now"), audited.
pub fn enqueue_manual(
    conn: &mut DbConn,
    actor: &Actor,
    task_id: i64,
    task_name: &str,
) -> Result<Run, StoreError> {
    let now = now_ms();
    let id = crate::store::write(conn, |c| {
        db!(c, |c| {
            let id: i64 = diesel::insert_into(runs::table)
                .values((
                    runs::task_id.eq(task_id),
                    runs::task_name.eq(task_name),
                    runs::trigger_kind.eq("manual"),
                    runs::state.eq("queued"),
                    runs::actor.eq(&actor.name),
                    runs::queued_at.eq(now),
                    runs::plan.eq("{}"),
                ))
                .returning(runs::id)
                .get_result(c)?;
            c.audit(
                &actor
                    .event("task.run", "inspection_task", Some(task_id.to_string()))
                    .detail(format!("run {id}")),
            )?;
            Ok::<_, StoreError>(id)
        })
    })?;
    row(conn, id)?.to_api()
}

/// Stores what a started run will do (the task and rules as they are now).
pub fn set_plan(
    conn: &mut DbConn,
    id: i64,
    owner: &str,
    plan: &impl serde::Serialize,
    total: i32,
) -> Result<(), StoreError> {
    let json = to_json(plan);
    let n = db!(conn, |c| diesel::update(
        runs::table
            .filter(runs::id.eq(id))
            .filter(runs::lease_owner.eq(owner))
    )
    .set((runs::plan.eq(&json), runs::total.eq(total)))
    .execute(c))?;
    if n == 0 {
        return Err(StoreError::conflict(format!("run {id} is no longer ours")));
    }
    Ok(())
}

/// Running runs whose lease expired (their replica stopped), or, with `all`, every running run
/// (a single SQLite replica starting: whatever is still marked running, nobody is running).
pub fn orphaned(conn: &mut DbConn, now: i64, all: bool) -> Result<Vec<RunRow>, StoreError> {
    Ok(db!(conn, |c| {
        let mut q = runs::table
            .filter(runs::state.eq("running"))
            .select(RunRow::as_select())
            .into_boxed();
        if !all {
            q = q.filter(runs::lease_expires_at.lt(now));
        }
        q.limit(50).load(c)
    })?)
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = f)]
pub struct NewFinding {
    pub run_id: i64,
    pub seq: i32,
    pub rule_id: i64,
    pub rule_version: i32,
    pub rule_name: String,
    pub target: String,
    pub level: String,
    pub status: String,
    pub value: Option<String>,
    pub evidence: String,
    pub subject: String,
    pub duration_ms: i64,
    pub checked_at: i64,
}

/// Appends findings (a batch as checks complete), if the run is still `owner`'s.
pub fn add_findings(
    conn: &mut DbConn,
    owner: &str,
    run_id: i64,
    rows: &[NewFinding],
) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    crate::store::write(conn, |c| {
        db!(c, |c| {
            let ours: i64 = runs::table
                .filter(runs::id.eq(run_id))
                .filter(runs::lease_owner.eq(owner))
                .filter(runs::state.eq("running"))
                .count()
                .get_result(c)?;
            if ours == 0 {
                return Err(StoreError::conflict(format!(
                    "run {run_id} is no longer ours"
                )));
            }
            for chunk in rows.chunks(200) {
                diesel::insert_into(f::table).values(chunk).execute(c)?;
            }
            Ok::<_, StoreError>(())
        })
    })
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = f)]
pub struct FindingRow {
    pub seq: i32,
    pub rule_id: i64,
    pub rule_version: i32,
    pub rule_name: String,
    pub target: String,
    pub level: String,
    pub status: String,
    pub value: Option<String>,
    pub evidence: String,
    pub subject: String,
    pub duration_ms: i64,
    pub change_kind: Option<String>,
    pub checked_at: i64,
}

impl FindingRow {
    pub fn status(&self) -> CheckStatus {
        CheckStatus::parse(&self.status).unwrap_or(CheckStatus::Error)
    }

    pub fn level(&self) -> Level {
        Level::parse(&self.level).unwrap_or(Level::Low)
    }

    pub fn to_api(&self) -> Finding {
        Finding {
            rule_id: self.rule_id,
            rule_name: self.rule_name.clone(),
            rule_version: self.rule_version,
            target: self.target.clone(),
            level: self.level(),
            status: self.status(),
            value: self.value.clone(),
            evidence: self.evidence.clone(),
            subject: self.subject.clone(),
            duration_ms: self.duration_ms,
            change: self.change_kind.as_deref().and_then(Change::parse),
            checked_at: to_datetime(self.checked_at),
        }
    }
}

pub fn findings(conn: &mut DbConn, run_id: i64) -> Result<Vec<FindingRow>, StoreError> {
    Ok(db!(conn, |c| f::table
        .filter(f::run_id.eq(run_id))
        .order(f::seq.asc())
        .select(FindingRow::as_select())
        .load(c))?)
}

/// (rule, rule name, target) of every finding of a run.
pub fn keys(conn: &mut DbConn, run_id: i64) -> Result<Vec<(i64, String, String)>, StoreError> {
    Ok(db!(conn, |c| f::table
        .filter(f::run_id.eq(run_id))
        .order(f::seq.asc())
        .select((f::rule_id, f::rule_name, f::target))
        .load(c))?)
}

/// A previous run's id with (rule, target, status) of each of its findings.
pub type Previous = (i64, Vec<(i64, String, String)>);

/// The task's newest finished run before `run_id`, with its findings.
pub fn previous(
    conn: &mut DbConn,
    task_id: i64,
    run_id: i64,
) -> Result<Option<Previous>, StoreError> {
    let prev: Option<i64> = db!(conn, |c| runs::table
        .filter(runs::task_id.eq(task_id))
        .filter(runs::id.lt(run_id))
        .filter(runs::state.eq_any(["completed", "timed_out"]))
        .order(runs::id.desc())
        .select(runs::id)
        .first(c)
        .optional())?;
    let Some(prev) = prev else { return Ok(None) };
    let rows: Vec<(i64, String, String)> = db!(conn, |c| f::table
        .filter(f::run_id.eq(prev))
        .select((f::rule_id, f::target, f::status))
        .load(c))?;
    Ok(Some((prev, rows)))
}

/// Who may end a run: its owner, or anyone once its lease expired, or anyone at all while it
/// is running (a single SQLite replica starting: no one else can be running it).
pub enum Guard<'a> {
    Owner(&'a str),
    ExpiredBefore(i64),
    Running,
}

/// How a run ended, computed from its findings.
pub struct Ending {
    pub state: RunState,
    pub detail: Option<String>,
    pub summary: RunSummary,
    pub passed: i32,
    pub failed: i32,
    pub errors: i32,
    pub previous_run_id: Option<i64>,
    pub changes: Vec<(i32, Change)>,
}

/// Marks the run finished with its summary and labels findings new/fixed/still failing.
/// Call inside [`crate::store::write`] together with what else the ending causes.
pub fn finish(
    conn: &mut DbConn,
    run_id: i64,
    guard: Guard<'_>,
    e: &Ending,
) -> Result<(), StoreError> {
    let now = now_ms();
    let summary = to_json(&e.summary);
    // An interrupted run did only part of its checks: a score of those would read as the
    // state of the whole task, so it has none (its findings are kept).
    let score = match e.state {
        RunState::Interrupted => None,
        _ => e.summary.score(),
    };
    let n = db!(conn, |c| {
        let q = runs::table
            .filter(runs::id.eq(run_id))
            .filter(runs::state.eq("running"))
            .into_boxed();
        let q = match guard {
            Guard::Owner(o) => q.filter(runs::lease_owner.eq(o.to_string())),
            Guard::ExpiredBefore(t) => q.filter(runs::lease_expires_at.lt(t)),
            Guard::Running => q,
        };
        let ids: Vec<i64> = q.select(runs::id).load(c)?;
        diesel::update(runs::table.filter(runs::id.eq_any(&ids)))
            .set((
                runs::state.eq(e.state.as_str()),
                runs::finished_at.eq(now),
                runs::passed.eq(e.passed),
                runs::failed.eq(e.failed),
                runs::errors.eq(e.errors),
                runs::score.eq(score),
                runs::summary.eq(&summary),
                runs::previous_run_id.eq(e.previous_run_id),
                runs::detail.eq(&e.detail),
                runs::lease_owner.eq(None::<String>),
                runs::lease_expires_at.eq(None::<i64>),
            ))
            .execute(c)
    })?;
    if n == 0 {
        return Err(StoreError::conflict(format!(
            "run {run_id} was already ended"
        )));
    }
    for kind in [Change::New, Change::Fixed, Change::StillFailing] {
        let seqs: Vec<i32> = e
            .changes
            .iter()
            .filter(|(_, k)| *k == kind)
            .map(|(s, _)| *s)
            .collect();
        for chunk in seqs.chunks(500) {
            db!(conn, |c| diesel::update(
                f::table
                    .filter(f::run_id.eq(run_id))
                    .filter(f::seq.eq_any(chunk))
            )
            .set(f::change_kind.eq(kind.as_str()))
            .execute(c))?;
        }
    }
    Ok(())
}

/// Deletes finished runs (and their findings) that ended before `before`; returns how many.
pub fn prune(conn: &mut DbConn, before: i64, batch: i64) -> Result<usize, StoreError> {
    let ids: Vec<i64> = db!(conn, |c| runs::table
        .filter(runs::finished_at.lt(before))
        .select(runs::id)
        .limit(batch)
        .load(c))?;
    if ids.is_empty() {
        return Ok(0);
    }
    Ok(crate::store::write(conn, |c| {
        db!(c, |c| {
            diesel::delete(f::table.filter(f::run_id.eq_any(&ids))).execute(c)?;
            diesel::delete(runs::table.filter(runs::id.eq_any(&ids))).execute(c)
        })
    })?)
}
