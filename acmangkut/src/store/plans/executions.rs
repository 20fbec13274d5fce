//! Executions of plans: the durable record the execution engine drives. An execution is a row
//! with a lease; its steps and its timeline are rows of their own. Every change here is a
//! compare-and-set on the state it expects (and, for a replica, on its lease), committed with
//! its timeline event, so a replica that lost its lease, or an operator racing it, changes
//! nothing by mistake.

use crate::db;
use crate::store::actions;
use crate::store::audit::{self, Actor};
use crate::store::inspection::{parse, to_json};
use crate::store::schema::{
    plan_execution_events as events, plan_execution_steps as steps, plan_executions as ex,
};
use crate::store::{DbConn, StoreError, StoreResult, now_ms, to_datetime};
use diesel::prelude::*;
use shared::check::CheckOutcome;
use shared::execution::{
    EventView, ExecutionState, ExecutionView, ResolvedPlan, StepState, StepView,
};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = ex)]
pub struct ExecutionRow {
    pub id: i64,
    pub plan: String,
    pub version: i32,
    pub resolved: String,
    pub parameters: String,
    pub state: String,
    pub rollback: bool,
    pub started_by: String,
    pub comment: String,
    pub detail: Option<String>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub rto_ms: Option<i64>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = steps)]
pub struct StepRow {
    pub execution_id: i64,
    pub step: String,
    pub stage: i32,
    pub position: i32,
    pub state: String,
    pub attempts: i32,
    pub round_start: i32,
    pub completed: Option<i32>,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = events)]
pub struct EventRow {
    pub id: i64,
    pub execution_id: i64,
    pub at: i64,
    pub actor: String,
    pub what: String,
    pub step: Option<String>,
    pub comment: String,
}

impl ExecutionRow {
    pub fn state(&self) -> ExecutionState {
        ExecutionState::parse(&self.state).unwrap_or(ExecutionState::Paused)
    }

    pub fn plan(&self) -> StoreResult<ResolvedPlan> {
        parse("resolved plan", &self.resolved)
    }

    pub fn parameters(&self) -> StoreResult<serde_json::Value> {
        parse("execution parameters", &self.parameters)
    }
}

impl StepRow {
    pub fn state(&self) -> StepState {
        StepState::parse(&self.state).unwrap_or(StepState::OutcomeUnknown)
    }
}

/// An execution and its steps (plan order), read together.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub execution: ExecutionRow,
    pub steps: Vec<StepRow>,
}

impl Snapshot {
    pub fn step(&self, id: &str) -> Option<&StepRow> {
        self.steps.iter().find(|s| s.step == id)
    }
}

/// Who changes an execution: the replica holding its lease, or a person (no lease needed).
#[derive(Debug, Clone, Copy)]
pub enum By<'a> {
    Lease(&'a str),
    Operator(&'a Actor),
}

impl By<'_> {
    fn name(&self) -> &str {
        match self {
            Self::Lease(owner) => owner,
            Self::Operator(actor) => &actor.name,
        }
    }
}

/// What is said on the timeline with a change.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    pub what: &'a str,
    pub step: Option<&'a str>,
    pub comment: &'a str,
}

impl<'a> Event<'a> {
    pub fn new(what: &'a str) -> Self {
        Self {
            what,
            step: None,
            comment: "",
        }
    }

    pub fn step(mut self, step: &'a str) -> Self {
        self.step = Some(step);
        self
    }

    pub fn comment(mut self, comment: &'a str) -> Self {
        self.comment = comment;
        self
    }
}

/// Records `plan` as a new execution (`pending`) with its steps, started by `actor`; refuses
/// (409) while the plan has an active execution. Audited.
pub fn start(
    conn: &mut DbConn,
    actor: &Actor,
    plan: &ResolvedPlan,
    parameters: &serde_json::Value,
    comment: &str,
) -> StoreResult<i64> {
    let resolved = to_json(plan);
    let params = to_json(parameters);
    audit::audited_insert(
        conn,
        |c| {
            let active: Option<(i64, String)> = crate::find_by!(
                c,
                ex::table.filter(ex::ended_at.is_null()),
                ex::plan,
                &plan.plan,
                (ex::id, ex::state)
            )?;
            if let Some((id, state)) = active {
                return Err(one_active(&plan.plan, Some((id, &state))));
            }
            let now = now_ms();
            let inserted = db!(c, |c| diesel::insert_into(ex::table)
                .values((
                    ex::plan.eq(&plan.plan),
                    ex::version.eq(plan.version),
                    ex::resolved.eq(&resolved),
                    ex::parameters.eq(&params),
                    ex::state.eq(ExecutionState::Pending.as_str()),
                    ex::started_by.eq(&actor.name),
                    ex::comment.eq(comment),
                    ex::created_at.eq(now),
                ))
                .returning(ex::id)
                .get_result::<i64>(c));
            let id = match inserted {
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                )) => return Err(one_active(&plan.plan, None)),
                other => other?,
            };
            let mut position: i32 = 0;
            for (stage, step) in plan.steps() {
                position += 1;
                db!(c, |c| diesel::insert_into(steps::table)
                    .values((
                        steps::execution_id.eq(id),
                        steps::step.eq(&step.id),
                        steps::stage.eq(i32::try_from(stage).unwrap_or(i32::MAX)),
                        steps::position.eq(position),
                        steps::state.eq(StepState::Pending.as_str()),
                    ))
                    .execute(c))?;
            }
            event(c, id, &actor.name, Event::new("created").comment(comment))?;
            Ok(id)
        },
        |id| {
            actor
                .event("execution.start", "plan_execution", Some(id.to_string()))
                .detail(format!("plan {} version {}", plan.plan, plan.version))
        },
    )
}

fn one_active(plan: &str, active: Option<(i64, &str)>) -> StoreError {
    match active {
        Some((id, state)) => StoreError::conflict(format!(
            "plan `{plan}` already has an active execution: {id} ({state})"
        )),
        None => StoreError::conflict(format!("plan `{plan}` already has an active execution")),
    }
}

pub fn snapshot(conn: &mut DbConn, id: i64) -> StoreResult<Snapshot> {
    let execution = crate::find_row!(conn, ex::table, ExecutionRow, id, "execution")?;
    let steps = db!(conn, |c| steps::table
        .filter(steps::execution_id.eq(id))
        .order(steps::position.asc())
        .select(StepRow::as_select())
        .load(c))?;
    Ok(Snapshot { execution, steps })
}

/// Moves the execution from one of `from` to `to` with `event`; `false` (nothing written)
/// when it is in another state or, for a replica, the lease is no longer its own. Entering an
/// ended state records the end (and, for `succeeded`, the RTO: start to the last step's
/// success); `running` records the start if none yet; `rolling_back` marks the rollback.
pub fn set_state(
    conn: &mut DbConn,
    id: i64,
    by: By<'_>,
    (from, to): (&[ExecutionState], ExecutionState),
    detail: Option<&str>,
    ev: Event<'_>,
) -> StoreResult<bool> {
    crate::store::write(conn, |c| {
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let now = now_ms();
        let target = ex::table
            .filter(ex::id.eq(id))
            .filter(ex::state.eq_any(&from));
        let owner = match by {
            By::Lease(owner) => Some(owner),
            By::Operator(_) => None,
        };
        let n = db!(c, |c| {
            let mut q = diesel::update(target).into_boxed();
            if let Some(owner) = owner {
                q = q.filter(ex::lease_owner.eq(owner));
            }
            q.set((ex::state.eq(to.as_str()), ex::detail.eq(detail)))
                .execute(c)
        })?;
        if n == 0 {
            return Ok(false);
        }
        if to == ExecutionState::Running {
            db!(c, |c| diesel::update(ex::table.find(id))
                .filter(ex::started_at.is_null())
                .set(ex::started_at.eq(now))
                .execute(c))?;
        }
        if to == ExecutionState::RollingBack {
            db!(c, |c| diesel::update(ex::table.find(id))
                .set(ex::rollback.eq(true))
                .execute(c))?;
        }
        if to.ended() {
            let last_success: Option<i64> = db!(c, |c| steps::table
                .filter(steps::execution_id.eq(id))
                .filter(steps::state.eq(StepState::Succeeded.as_str()))
                .select(diesel::dsl::max(steps::ended_at))
                .first(c))?;
            let started: Option<i64> =
                db!(c, |c| ex::table.find(id).select(ex::started_at).first(c))?;
            let rto = match (to, started, last_success) {
                (ExecutionState::Succeeded, Some(s), Some(l)) => Some(l - s),
                (ExecutionState::Succeeded, Some(s), None) => Some(now - s),
                _ => None,
            };
            // The lease stays: nobody claims an ended execution, and the replica that held
            // it still records the outcomes of the steps it has in flight.
            db!(c, |c| diesel::update(ex::table.find(id))
                .set((ex::ended_at.eq(now), ex::rto_ms.eq(rto)))
                .execute(c))?;
        }
        event(c, id, by.name(), ev)?;
        Ok(true)
    })
}

/// How a step changes: its new state, and what else is recorded with it.
#[derive(Debug, Clone, Copy)]
pub struct StepChange<'a> {
    pub to: StepState,
    /// A new round of attempts begins after this many: started now, not ended.
    pub begin: Option<i32>,
    /// Ended now; `succeeded` also takes the next place in the order of completion.
    pub end: bool,
    pub error: Option<&'a str>,
    /// The attempts of the current action so far (see [`count_attempts`]), when known.
    pub attempts: Option<i32>,
}

impl StepChange<'_> {
    pub fn begin(to: StepState, round: i32) -> Self {
        Self {
            to,
            begin: Some(round),
            end: false,
            error: None,
            attempts: Some(round),
        }
    }

    pub fn end(to: StepState) -> Self {
        Self {
            to,
            begin: None,
            end: true,
            error: None,
            attempts: None,
        }
    }
}

/// Moves `step` from one of `from` per `change`, with `event`; `false` (nothing written) when
/// it is in another state or, for a replica, the execution's lease is no longer its own.
pub fn set_step(
    conn: &mut DbConn,
    (id, step): (i64, &str),
    by: By<'_>,
    from: &[StepState],
    change: StepChange<'_>,
    ev: Event<'_>,
) -> StoreResult<bool> {
    crate::store::write(conn, |c| {
        // The execution's row is locked first: steps completing at once take their places in
        // the order of completion one after the other.
        let Some(lease_owner) = lock(c, id)? else {
            return Ok(false);
        };
        if let By::Lease(owner) = by
            && lease_owner.as_deref() != Some(owner)
        {
            return Ok(false);
        }
        let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
        let now = now_ms();
        let completed: Option<i32> = if change.end && change.to == StepState::Succeeded {
            let last: Option<i32> = db!(c, |c| steps::table
                .filter(steps::execution_id.eq(id))
                .select(diesel::dsl::max(steps::completed))
                .first(c))?;
            Some(last.unwrap_or(0) + 1)
        } else {
            None
        };
        let target = steps::table
            .filter(steps::execution_id.eq(id))
            .filter(steps::step.eq(step))
            .filter(steps::state.eq_any(&from));
        // One statement whatever the change: a column it does not touch is not set (`None`).
        let ended_at = match (change.begin, change.end) {
            (Some(_), _) => Some(None),
            (None, true) => Some(Some(now)),
            (None, false) => None,
        };
        let n = db!(c, |c| diesel::update(target)
            .set((
                steps::state.eq(change.to.as_str()),
                steps::error.eq(change.error),
                change
                    .begin
                    .map(|round| { (steps::started_at.eq(now), steps::round_start.eq(round)) }),
                change.attempts.map(|n| steps::attempts.eq(n)),
                ended_at.map(|at| steps::ended_at.eq(at)),
                completed.map(|place| steps::completed.eq(place)),
            ))
            .execute(c))?;
        if n == 0 {
            return Ok(false);
        }
        event(c, id, by.name(), ev)?;
        Ok(true)
    })
}

/// Locks execution `id`'s row until the transaction ends (PostgreSQL; SQLite's write
/// transaction already excludes other writers) and reads its lease owner; `None`: no such row.
fn lock(c: &mut DbConn, id: i64) -> StoreResult<Option<Option<String>>> {
    let q = ex::table.find(id).select(ex::lease_owner);
    Ok(match c {
        DbConn::Pg(c) => q.for_update().first(c).optional()?,
        DbConn::Sqlite(c) => q.first(c).optional()?,
    })
}

/// Commits attempt `run` (the `attempt`-th of the step's current action) with its `outcome`,
/// its count and, when the attempt settles the step, the step's `end` ([`set_step`]) in one
/// transaction: one commit where there were three. `true` when the step ended.
pub fn settle_attempt(
    conn: &mut DbConn,
    (id, step): (i64, &str),
    (run, attempt, outcome): (i64, i32, &CheckOutcome),
    end: Option<(By<'_>, &[StepState], StepChange<'_>, Event<'_>)>,
) -> StoreResult<bool> {
    crate::store::write(conn, |c| {
        actions::record(c, run, outcome)?;
        let ended = match end {
            Some((by, from, change, ev)) => {
                let change = StepChange {
                    attempts: Some(attempt),
                    ..change
                };
                set_step(c, (id, step), by, from, change, ev)?
            }
            None => false,
        };
        if !ended {
            count_attempts(c, id, step, attempt)?;
        }
        Ok(ended)
    })
}

/// Records how many attempts the step's current action has had.
pub fn count_attempts(conn: &mut DbConn, id: i64, step: &str, attempts: i32) -> StoreResult<()> {
    db!(conn, |c| diesel::update(
        steps::table
            .filter(steps::execution_id.eq(id))
            .filter(steps::step.eq(step))
    )
    .set(steps::attempts.eq(attempts))
    .execute(c))?;
    Ok(())
}

/// Gives the lease back (the execution waits for an operator, or the replica stops).
pub fn release(conn: &mut DbConn, id: i64, owner: &str) -> StoreResult<()> {
    db!(conn, |c| diesel::update(
        ex::table
            .filter(ex::id.eq(id))
            .filter(ex::lease_owner.eq(owner))
    )
    .set((
        ex::lease_owner.eq(None::<String>),
        ex::lease_expires_at.eq(None::<i64>)
    ))
    .execute(c))?;
    Ok(())
}

/// Gives back the lease of every unended execution (a sole replica starting); returns how many.
pub fn release_all(conn: &mut DbConn) -> StoreResult<usize> {
    Ok(db!(conn, |c| diesel::update(
        ex::table
            .filter(ex::ended_at.is_null())
            .filter(ex::lease_owner.is_not_null())
    )
    .set((
        ex::lease_owner.eq(None::<String>),
        ex::lease_expires_at.eq(None::<i64>)
    ))
    .execute(c))?)
}

/// Appends an event to the execution's timeline.
pub fn event(conn: &mut DbConn, id: i64, actor: &str, ev: Event<'_>) -> StoreResult<()> {
    db!(conn, |c| diesel::insert_into(events::table)
        .values((
            events::execution_id.eq(id),
            events::at.eq(now_ms()),
            events::actor.eq(actor),
            events::what.eq(ev.what),
            events::step.eq(ev.step),
            events::comment.eq(ev.comment),
        ))
        .execute(c))?;
    Ok(())
}

/// How many events `what` each step has on the execution's timeline.
pub fn event_steps(
    conn: &mut DbConn,
    id: i64,
    what: &str,
) -> StoreResult<std::collections::HashMap<String, usize>> {
    let steps: Vec<Option<String>> = db!(conn, |c| events::table
        .filter(events::execution_id.eq(id))
        .filter(events::what.eq(what))
        .select(events::step)
        .load(c))?;
    let mut out = std::collections::HashMap::new();
    for s in steps.into_iter().flatten() {
        *out.entry(s).or_default() += 1;
    }
    Ok(out)
}

/// The execution's timeline, oldest first.
pub fn events(conn: &mut DbConn, id: i64) -> StoreResult<Vec<EventView>> {
    let rows = db!(conn, |c| events::table
        .filter(events::execution_id.eq(id))
        .order(events::id.asc())
        .select(EventRow::as_select())
        .load(c))?;
    Ok(rows
        .into_iter()
        .map(|r| EventView {
            at: to_datetime(r.at),
            actor: r.actor,
            what: r.what,
            step: r.step,
            comment: r.comment,
        })
        .collect())
}

/// The execution as the API shows it.
pub fn view(conn: &mut DbConn, id: i64) -> StoreResult<ExecutionView> {
    let Snapshot {
        execution: e,
        steps,
    } = snapshot(conn, id)?;
    let plan = e.plan()?;
    let steps = steps
        .into_iter()
        .map(|s| {
            let resolved = plan.step(&s.step);
            StepView {
                state: s.state(),
                name: resolved.map(|r| r.name.clone()).unwrap_or_default(),
                kind: resolved.map(|r| r.kind.as_str()).unwrap_or("").into(),
                id: s.step,
                stage: s.stage,
                attempts: s.attempts,
                completed: s.completed,
                started_at: s.started_at.map(to_datetime),
                ended_at: s.ended_at.map(to_datetime),
                error: s.error,
            }
        })
        .collect();
    Ok(ExecutionView {
        id: e.id,
        state: e.state(),
        parameters: e.parameters()?,
        plan: e.plan,
        version: e.version,
        rollback: e.rollback,
        started_by: e.started_by,
        comment: e.comment,
        created_at: to_datetime(e.created_at),
        started_at: e.started_at.map(to_datetime),
        ended_at: e.ended_at.map(to_datetime),
        rto_ms: e.rto_ms,
        rto_objective_ms: plan.rto_objective_ms,
        rto_met: shared::execution::rto_met(e.rto_ms, plan.rto_objective_ms),
        detail: e.detail,
        steps,
    })
}
