//! Tasks: rules × targets on a schedule. Which rules a task runs is also kept as rows
//! (`inspection_task_rules`) so a rule in use cannot be deleted.

use super::{parse, to_json};
use crate::db;
use crate::store::StoreError;
use crate::store::audit::{Actor, audited, audited_insert};
use crate::store::schema::{
    inspection_runs as runs, inspection_task_rules as tr, inspection_tasks as t,
};
use crate::store::{DbConn, now_ms, to_datetime};
use diesel::prelude::*;
use shared::inspection::{Task, TaskInput};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = t)]
pub struct TaskRow {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    pub definition: String,
    pub next_run_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl TaskRow {
    pub fn input(&self) -> Result<TaskInput, StoreError> {
        parse("task", &self.definition)
    }

    fn into_api(self, last_run: Option<shared::inspection::Run>) -> Result<Task, StoreError> {
        Ok(Task {
            id: self.id,
            input: self.input()?,
            next_run_at: self.next_run_at.map(to_datetime),
            last_run,
            created_at: to_datetime(self.created_at),
            updated_at: to_datetime(self.updated_at),
        })
    }
}

pub fn row(conn: &mut DbConn, id: i64) -> Result<TaskRow, StoreError> {
    crate::find_row!(conn, t::table, TaskRow, id, "task")
}

pub fn id_by_name(conn: &mut DbConn, name: &str) -> Result<Option<i64>, StoreError> {
    Ok(crate::find_by!(conn, t::table, t::name, name, t::id)?)
}

pub fn get(conn: &mut DbConn, id: i64) -> Result<Task, StoreError> {
    let row = row(conn, id)?;
    let last = super::runs::latest(conn, &[id])?.into_iter().next();
    row.into_api(last)
}

pub fn list(conn: &mut DbConn) -> Result<Vec<Task>, StoreError> {
    let rows: Vec<TaskRow> = db!(conn, |c| t::table
        .order(t::name.asc())
        .select(TaskRow::as_select())
        .load(c))?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut last = super::runs::latest(conn, &ids)?;
    rows.into_iter()
        .map(|row| {
            let run = last
                .iter()
                .position(|r| r.task_id == row.id)
                .map(|i| last.swap_remove(i));
            row.into_api(run)
        })
        .collect()
}

/// Names of (at most 5 of) the tasks that notify channel `channel`.
pub fn notifying(conn: &mut DbConn, channel: &str) -> Result<Vec<String>, StoreError> {
    let rows: Vec<TaskRow> = db!(conn, |c| t::table
        .order(t::name.asc())
        .select(TaskRow::as_select())
        .load(c))?;
    let mut names = Vec::new();
    for row in rows {
        if row.input()?.notify.iter().any(|n| n.channel == channel) {
            names.push(row.name);
        }
        if names.len() == 5 {
            break;
        }
    }
    Ok(names)
}

/// Replaces the rules task `task_id` runs with `rule_ids`, in that order.
fn link_rules(conn: &mut DbConn, task_id: i64, rule_ids: &[i64]) -> Result<(), StoreError> {
    let links: Vec<_> = rule_ids
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                tr::task_id.eq(task_id),
                tr::rule_id.eq(*r),
                tr::position.eq(i32::try_from(i).unwrap_or(i32::MAX)),
            )
        })
        .collect();
    db!(conn, |c| {
        diesel::delete(tr::table.filter(tr::task_id.eq(task_id))).execute(c)?;
        for link in &links {
            diesel::insert_into(tr::table).values(*link).execute(c)?;
        }
        QueryResult::Ok(())
    })?;
    Ok(())
}

pub fn create(
    conn: &mut DbConn,
    actor: &Actor,
    input: &TaskInput,
    rule_ids: &[i64],
    next_run_at: Option<i64>,
) -> Result<Task, StoreError> {
    let now = now_ms();
    let def = to_json(input);
    let insert = |c: &mut DbConn| {
        let id: i64 = db!(c, |c| diesel::insert_into(t::table)
            .values((
                t::name.eq(&input.name),
                t::enabled.eq(input.enabled),
                t::definition.eq(&def),
                t::next_run_at.eq(next_run_at),
                t::created_at.eq(now),
                t::updated_at.eq(now),
            ))
            .returning(t::id)
            .get_result(c))?;
        link_rules(c, id, rule_ids)?;
        Ok::<_, StoreError>(id)
    };
    let id = audited_insert(conn, insert, |id| {
        actor
            .event("task.create", "inspection_task", Some(id.to_string()))
            .after(input)
    })?;
    get(conn, id)
}

/// Returns the task and whether anything changed.
pub fn update(
    conn: &mut DbConn,
    actor: &Actor,
    id: i64,
    input: &TaskInput,
    rule_ids: &[i64],
    next_run_at: Option<i64>,
) -> Result<(Task, bool), StoreError> {
    let old = row(conn, id)?;
    let before = old.input()?;
    if &before == input {
        return Ok((get(conn, id)?, false));
    }
    let now = now_ms();
    let def = to_json(input);
    let event = actor
        .event("task.update", "inspection_task", Some(id.to_string()))
        .before(&before)
        .after(input);
    audited(conn, &event, |c| {
        db!(c, |c| diesel::update(t::table.find(id))
            .set((
                t::name.eq(&input.name),
                t::enabled.eq(input.enabled),
                t::definition.eq(&def),
                t::next_run_at.eq(next_run_at),
                t::updated_at.eq(now),
            ))
            .execute(c))?;
        link_rules(c, id, rule_ids)
    })?;
    Ok((get(conn, id)?, true))
}

/// Deletes the task with its runs and reports (audited with the task's last definition).
pub fn delete(conn: &mut DbConn, actor: &Actor, id: i64) -> Result<(), StoreError> {
    let before = row(conn, id)?.input()?;
    let event = actor.event("task.delete", "inspection_task", Some(id.to_string()));
    audited(conn, &event.before(&before), |c| {
        db!(c, |c| diesel::delete(t::table.find(id)).execute(c)).map_err(StoreError::from)
    })
    .map(drop)
}

/// Queues one run for every enabled task whose slot is due, and moves each task to its next
/// slot, in one transaction. PostgreSQL: due tasks are locked with `SKIP LOCKED`, and the
/// unique (task, slot) index makes a slot run once even if two replicas raced past the lock.
/// Missed slots (every replica was down) are not replayed: one run, then the next future slot.
pub fn queue_due(
    conn: &mut DbConn,
    now: i64,
    next_slot: &dyn Fn(&TaskInput, i64) -> Option<i64>,
) -> Result<Vec<i64>, StoreError> {
    crate::store::write(conn, |conn| {
        let due: Vec<TaskRow> = match conn {
            DbConn::Pg(c) => t::table
                .filter(t::enabled.eq(true))
                .filter(t::next_run_at.le(now))
                .order(t::next_run_at.asc())
                .limit(100)
                .for_update()
                .skip_locked()
                .select(TaskRow::as_select())
                .load(c)?,
            DbConn::Sqlite(c) => t::table
                .filter(t::enabled.eq(true))
                .filter(t::next_run_at.le(now))
                .order(t::next_run_at.asc())
                .limit(100)
                .select(TaskRow::as_select())
                .load(c)?,
        };
        let mut queued = Vec::new();
        for task in due {
            let input = task.input()?;
            let slot = task.next_run_at.unwrap_or(now);
            let next = next_slot(&input, now.max(slot));
            let id: Option<i64> = db!(conn, |c| diesel::insert_into(runs::table)
                .values((
                    runs::task_id.eq(task.id),
                    runs::task_name.eq(&task.name),
                    runs::trigger_kind.eq("schedule"),
                    runs::scheduled_for.eq(slot),
                    runs::state.eq("queued"),
                    runs::queued_at.eq(now),
                    runs::plan.eq("{}"),
                ))
                .on_conflict_do_nothing()
                .returning(runs::id)
                .get_result(c)
                .optional())?;
            db!(conn, |c| diesel::update(t::table.find(task.id))
                .set(t::next_run_at.eq(next))
                .execute(c))?;
            queued.extend(id);
        }
        Ok(queued)
    })
}
