//! Drill runs: a row per run (state, stage, lease), a record per selected target (desired and
//! observed phase, inject and recover counts) and the run's events. Every change of state is
//! committed before the side effect it leads to; any end of a run first sets every target's
//! desired phase to `recovered` in the same transaction ([`end`]).

use crate::db;
use crate::store::audit::{Actor, audited, audited_insert};
use crate::store::inspection::{parse, to_json};
use crate::store::schema::{drill_run_events as ev, drill_run_targets as t, drill_runs as r};
use crate::store::{DbConn, StoreError, now_ms, to_datetime, write};
use diesel::prelude::*;
use shared::drill::{
    DrillDocument, Phase, RunEvent, RunState, RunSummary, RunView, Stage, TargetRecord,
};
use std::collections::BTreeMap;

/// States whose targets may still need work.
pub const ACTIVE: [&str; 4] = ["pending", "initiating", "running", "stopping"];

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = r)]
pub struct RunRow {
    pub id: i64,
    pub drill_id: i64,
    pub drill: String,
    pub version: i32,
    pub definition: String,
    pub state: String,
    pub stage: String,
    pub outcome: Option<String>,
    pub reason: String,
    pub started_by: String,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub created_at: i64,
    pub injected_at: Option<i64>,
    pub observe_until: Option<i64>,
    pub next_check_at: Option<i64>,
    pub ended_at: Option<i64>,
}

impl RunRow {
    pub fn document(&self) -> Result<DrillDocument, StoreError> {
        parse("drill run", &self.definition)
    }

    pub fn state(&self) -> RunState {
        RunState::parse(&self.state).unwrap_or(RunState::Failed)
    }

    pub fn stage(&self) -> Stage {
        Stage::parse(&self.stage).unwrap_or(Stage::Done)
    }

    /// The end state chosen when it began to stop.
    pub fn outcome(&self) -> RunState {
        self.outcome
            .as_deref()
            .and_then(RunState::parse)
            .unwrap_or(RunState::Failed)
    }

    fn summary(&self) -> RunSummary {
        RunSummary {
            id: self.id,
            drill_id: self.drill_id,
            drill: self.drill.clone(),
            version: self.version,
            state: self.state(),
            stage: self.stage(),
            reason: self.reason.clone(),
            started_by: self.started_by.clone(),
            created_at: to_datetime(self.created_at),
            injected_at: self.injected_at.map(to_datetime),
            ended_at: self.ended_at.map(to_datetime),
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = t)]
pub struct TargetRow {
    pub run_id: i64,
    pub target: String,
    pub position: i32,
    pub vars: String,
    pub fault_id: String,
    pub desired: String,
    pub observed: String,
    pub injects: i32,
    pub recovers: i32,
    pub updated_at: i64,
}

impl TargetRow {
    pub fn desired(&self) -> Phase {
        Phase::parse(&self.desired).unwrap_or(Phase::Recovered)
    }

    pub fn observed(&self) -> Phase {
        Phase::parse(&self.observed).unwrap_or(Phase::Unknown)
    }

    pub fn variables(&self) -> Result<BTreeMap<String, String>, StoreError> {
        parse("drill target variables", &self.vars)
    }

    fn api(&self) -> Result<TargetRecord, StoreError> {
        Ok(TargetRecord {
            target: self.target.clone(),
            fault_id: self.fault_id.clone(),
            desired: self.desired(),
            observed: self.observed(),
            injects: self.injects,
            recovers: self.recovers,
            vars: self.variables()?,
            updated_at: to_datetime(self.updated_at),
        })
    }
}

/// A selected target as a new run records it: name and variables.
pub struct NewTarget {
    pub name: String,
    pub vars: BTreeMap<String, String>,
}

/// Inserts a pending run of `doc` (version `version` of drill `drill_id`) with a record per
/// selected target (desired and observed `recovered`), audited as `drill.run.start`.
pub fn insert(
    conn: &mut DbConn,
    actor: &Actor,
    (drill_id, version): (i64, i32),
    doc: &DrillDocument,
    targets: &[NewTarget],
) -> Result<i64, StoreError> {
    let now = now_ms();
    let insert = |c: &mut DbConn| {
        let id: i64 = db!(c, |c| diesel::insert_into(r::table)
            .values((
                r::drill_id.eq(drill_id),
                r::drill.eq(&doc.name),
                r::version.eq(version),
                r::definition.eq(to_json(doc)),
                r::state.eq(RunState::Pending.as_str()),
                r::stage.eq(Stage::Prepare.as_str()),
                r::started_by.eq(&actor.name),
                r::created_at.eq(now),
            ))
            .returning(r::id)
            .get_result(c))?;
        for (i, target) in targets.iter().enumerate() {
            db!(c, |c| diesel::insert_into(t::table)
                .values((
                    t::run_id.eq(id),
                    t::target.eq(&target.name),
                    t::position.eq(i32::try_from(i).unwrap_or(i32::MAX)),
                    t::vars.eq(to_json(&target.vars)),
                    t::fault_id.eq(shared::drill::fault_id(id, &target.name)),
                    t::desired.eq(Phase::Recovered.as_str()),
                    t::observed.eq(Phase::Recovered.as_str()),
                    t::updated_at.eq(now),
                ))
                .execute(c))?;
        }
        event(c, id, None, "created", &format!("by {}", actor.name))?;
        Ok::<_, StoreError>(id)
    };
    audited_insert(conn, insert, |id| {
        actor
            .event("drill.run.start", "drill_run", Some(id.to_string()))
            .detail(format!("drill {drill_id} version {version}"))
    })
}

pub fn row(conn: &mut DbConn, id: i64) -> Result<RunRow, StoreError> {
    crate::find_row!(conn, r::table, RunRow, id, "drill run")
}

pub fn targets(conn: &mut DbConn, id: i64) -> Result<Vec<TargetRow>, StoreError> {
    Ok(db!(conn, |c| t::table
        .filter(t::run_id.eq(id))
        .order(t::position.asc())
        .select(TargetRow::as_select())
        .load(c))?)
}

/// Appends an event to the run's timeline.
pub fn event(
    conn: &mut DbConn,
    id: i64,
    target: Option<&str>,
    what: &str,
    evidence: &str,
) -> Result<(), StoreError> {
    db!(conn, |c| diesel::insert_into(ev::table)
        .values((
            ev::run_id.eq(id),
            ev::at.eq(now_ms()),
            ev::target.eq(target),
            ev::what.eq(what),
            ev::evidence.eq(shared::check::excerpt(evidence)),
        ))
        .execute(c))?;
    Ok(())
}

/// Moves run `id` from one of `from` to `to` at `stage`, with the timeline event `what`;
/// false when it was no longer in `from` (an operator or the lever ended it meanwhile).
pub fn set_state(
    conn: &mut DbConn,
    id: i64,
    (from, to, stage): (&[RunState], RunState, Stage),
    (what, evidence): (&str, &str),
) -> Result<bool, StoreError> {
    let from: Vec<&str> = from.iter().map(|s| s.as_str()).collect();
    write(conn, |c| {
        let ended = to.ended().then(now_ms);
        let n = db!(c, |c| diesel::update(
            r::table.filter(r::id.eq(id)).filter(r::state.eq_any(&from))
        )
        .set((
            r::state.eq(to.as_str()),
            r::stage.eq(stage.as_str()),
            r::ended_at.eq(ended),
        ))
        .execute(c))?;
        if n == 1 {
            event(c, id, None, what, evidence)?;
        }
        Ok(n == 1)
    })
}

/// Ends run `id` (from any active state): every target's desired phase becomes `recovered`,
/// the run `stopping` towards `outcome` for `reason` — one transaction, committed before any
/// recovery starts. A pending run, which injected nothing, is `cancelled` at once instead.
/// False when it had already ended or begun to stop.
pub fn end(
    conn: &mut DbConn,
    id: i64,
    outcome: RunState,
    reason: &str,
) -> Result<bool, StoreError> {
    write(conn, |c| {
        let run = row(c, id)?;
        let state = run.state();
        let (to, stage) = match state {
            RunState::Pending => (RunState::Cancelled, Stage::Done),
            RunState::Initiating | RunState::Running => (RunState::Stopping, Stage::Recover),
            _ => return Ok(false),
        };
        let ended = to.ended().then(now_ms);
        db!(c, |c| diesel::update(t::table.filter(t::run_id.eq(id)))
            .set(t::desired.eq(Phase::Recovered.as_str()))
            .execute(c))?;
        db!(c, |c| diesel::update(
            r::table
                .filter(r::id.eq(id))
                .filter(r::state.eq(state.as_str()))
        )
        .set((
            r::state.eq(to.as_str()),
            r::stage.eq(stage.as_str()),
            r::outcome.eq(outcome.as_str()),
            r::reason.eq(reason),
            r::ended_at.eq(ended),
        ))
        .execute(c))?;
        event(c, id, None, &format!("end: {}", outcome.as_str()), reason)?;
        Ok(true)
    })
}

/// Ends every active run (the safety lever); returns their ids.
pub fn end_all(conn: &mut DbConn, reason: &str) -> Result<Vec<i64>, StoreError> {
    let ids = active(conn)?;
    for id in &ids {
        end(conn, *id, RunState::Stopped, reason)?;
    }
    Ok(ids)
}

/// Ids of the runs that have not ended.
pub fn active(conn: &mut DbConn) -> Result<Vec<i64>, StoreError> {
    Ok(db!(conn, |c| r::table
        .filter(r::state.eq_any(ACTIVE))
        .order(r::id.asc())
        .select(r::id)
        .load(c))?)
}

/// The end of a stopping run once every target is recovered (and verified): `state`.
pub fn finish(
    conn: &mut DbConn,
    id: i64,
    owner: &str,
    state: RunState,
    reason: &str,
) -> Result<bool, StoreError> {
    write(conn, |c| {
        let n = db!(c, |c| diesel::update(
            r::table
                .filter(r::id.eq(id))
                .filter(r::state.eq(RunState::Stopping.as_str()))
                .filter(r::lease_owner.eq(owner))
        )
        .set((
            r::state.eq(state.as_str()),
            r::stage.eq(Stage::Done.as_str()),
            r::reason.eq(reason),
            r::ended_at.eq(now_ms()),
            r::lease_owner.eq(None::<String>),
            r::lease_expires_at.eq(None::<i64>),
        ))
        .execute(c))?;
        if n == 1 {
            event(c, id, None, state.as_str(), reason)?;
        }
        Ok(n == 1)
    })
}

/// Sets every target's desired phase (the run starting to inject).
pub fn desire_all(conn: &mut DbConn, id: i64, phase: Phase) -> Result<(), StoreError> {
    db!(conn, |c| diesel::update(t::table.filter(t::run_id.eq(id)))
        .set((t::desired.eq(phase.as_str()), t::updated_at.eq(now_ms())))
        .execute(c))?;
    Ok(())
}

/// The target's observed phase; `attempt` counts an injection or a recovery begun.
pub fn observe(
    conn: &mut DbConn,
    id: i64,
    target: &str,
    phase: Phase,
    attempt: Option<Phase>,
    (what, evidence): (&str, &str),
) -> Result<(), StoreError> {
    write(conn, |c| {
        let q = || {
            t::table
                .filter(t::run_id.eq(id))
                .filter(t::target.eq(target))
        };
        db!(c, |c| diesel::update(q())
            .set((t::observed.eq(phase.as_str()), t::updated_at.eq(now_ms())))
            .execute(c))?;
        match attempt {
            Some(Phase::Injected) => db!(c, |c| diesel::update(q())
                .set(t::injects.eq(t::injects + 1))
                .execute(c))?,
            Some(_) => db!(c, |c| diesel::update(q())
                .set(t::recovers.eq(t::recovers + 1))
                .execute(c))?,
            None => 0,
        };
        event(c, id, Some(target), what, evidence)
    })
}

/// Sets the run's stage and its clock fields.
pub fn set_times(
    conn: &mut DbConn,
    id: i64,
    stage: Stage,
    (injected_at, observe_until, next_check_at): (Option<i64>, Option<i64>, Option<i64>),
) -> Result<(), StoreError> {
    db!(conn, |c| diesel::update(r::table.find(id))
        .set((
            r::stage.eq(stage.as_str()),
            r::injected_at.eq(injected_at),
            r::observe_until.eq(observe_until),
            r::next_check_at.eq(next_check_at),
        ))
        .execute(c))?;
    Ok(())
}

/// Gives back `owner`'s lease of run `id`.
pub fn release(conn: &mut DbConn, id: i64, owner: &str) -> Result<(), StoreError> {
    db!(conn, |c| diesel::update(
        r::table
            .filter(r::id.eq(id))
            .filter(r::lease_owner.eq(owner))
    )
    .set((
        r::lease_owner.eq(None::<String>),
        r::lease_expires_at.eq(None::<i64>)
    ))
    .execute(c))?;
    Ok(())
}

/// Gives back the leases of active runs held by `owner` (a replica starting again under its
/// name), or by anyone (`None`: a sole replica starting); returns how many.
pub fn release_held(conn: &mut DbConn, owner: Option<&str>) -> Result<usize, StoreError> {
    let active = r::table
        .filter(r::state.eq_any(ACTIVE))
        .filter(r::lease_owner.is_not_null());
    let free = (
        r::lease_owner.eq(None::<String>),
        r::lease_expires_at.eq(None::<i64>),
    );
    Ok(match owner {
        Some(o) => db!(conn, |c| diesel::update(
            active.filter(r::lease_owner.eq(o))
        )
        .set(free)
        .execute(c))?,
        None => db!(conn, |c| diesel::update(active).set(free).execute(c))?,
    })
}

/// Targets of any run whose fault is (or may be) in place: observed not `recovered`.
pub fn injected_count(conn: &mut DbConn) -> Result<i64, StoreError> {
    Ok(db!(conn, |c| t::table
        .filter(t::observed.ne(Phase::Recovered.as_str()))
        .count()
        .get_result(c))?)
}

pub fn list(conn: &mut DbConn, drill_id: i64) -> Result<Vec<RunSummary>, StoreError> {
    let rows: Vec<RunRow> = db!(conn, |c| r::table
        .filter(r::drill_id.eq(drill_id))
        .order(r::id.desc())
        .limit(100)
        .select(RunRow::as_select())
        .load(c))?;
    Ok(rows.iter().map(RunRow::summary).collect())
}

pub fn view(conn: &mut DbConn, id: i64) -> Result<RunView, StoreError> {
    let run = row(conn, id)?;
    let targets = targets(conn, id)?
        .iter()
        .map(TargetRow::api)
        .collect::<Result<_, _>>()?;
    type EventRow = (i64, Option<String>, String, String);
    let events: Vec<EventRow> = db!(conn, |c| ev::table
        .filter(ev::run_id.eq(id))
        .order(ev::id.asc())
        .select((ev::at, ev::target, ev::what, ev::evidence))
        .load(c))?;
    Ok(RunView {
        summary: run.summary(),
        targets,
        events: events
            .into_iter()
            .map(|(at, target, what, evidence)| RunEvent {
                at: to_datetime(at),
                target,
                what,
                evidence,
            })
            .collect(),
    })
}

/// Deletes an ended run whose every target is recovered; 409 naming the others otherwise.
pub fn delete(conn: &mut DbConn, actor: &Actor, id: i64) -> Result<(), StoreError> {
    let run = row(conn, id)?;
    let pending: Vec<String> = targets(conn, id)?
        .into_iter()
        .filter(|t| t.observed() != Phase::Recovered)
        .map(|t| t.target)
        .collect();
    if !pending.is_empty() {
        return Err(StoreError::conflict(format!(
            "run {id} has targets not recovered ({}): stop it and wait for the recovery, or \
             force-clean a target that is gone",
            pending.join(", ")
        )));
    }
    if !run.state().ended() {
        return Err(StoreError::conflict(format!(
            "run {id} is {}: stop it first",
            run.state().as_str()
        )));
    }
    let event = actor.event("drill.run.delete", "drill_run", Some(id.to_string()));
    audited(conn, &event.detail(run.drill), |c| {
        db!(c, |c| diesel::delete(r::table.find(id)).execute(c))?;
        Ok::<_, StoreError>(())
    })
}

/// Deletes the ended runs of drill `drill_id` (the drill being deleted).
pub(super) fn delete_ended_of(conn: &mut DbConn, drill_id: i64) -> Result<(), StoreError> {
    db!(conn, |c| diesel::delete(
        r::table
            .filter(r::drill_id.eq(drill_id))
            .filter(r::ended_at.is_not_null())
    )
    .execute(c))?;
    Ok(())
}

/// Marks `target` of run `id` recovered without recovering it (the target is gone), audited
/// as `drill.run.force_cleanup` with the operator's comment.
pub fn force_cleanup(
    conn: &mut DbConn,
    actor: &Actor,
    id: i64,
    target: &str,
    comment: &str,
) -> Result<(), StoreError> {
    row(conn, id)?;
    let found = targets(conn, id)?.into_iter().any(|t| t.target == target);
    if !found {
        return Err(StoreError::not_found(format!(
            "run {id} has no target `{target}`"
        )));
    }
    let audit = actor
        .event("drill.run.force_cleanup", "drill_run", Some(id.to_string()))
        .detail(format!("target {target}: {comment}"));
    audited(conn, &audit, |c| {
        let q = t::table
            .filter(t::run_id.eq(id))
            .filter(t::target.eq(target));
        db!(c, |c| diesel::update(q)
            .set((
                t::desired.eq(Phase::Recovered.as_str()),
                t::observed.eq(Phase::Recovered.as_str()),
                t::updated_at.eq(now_ms()),
            ))
            .execute(c))?;
        let said = format!("by {}: {comment}", actor.name);
        event(c, id, Some(target), "force_cleanup", &said)
    })
}

/// Sets the run's stage, with the timeline event `what`.
pub fn set_stage(conn: &mut DbConn, id: i64, stage: Stage, what: &str) -> Result<(), StoreError> {
    write(conn, |c| {
        db!(c, |c| diesel::update(r::table.find(id))
            .set(r::stage.eq(stage.as_str()))
            .execute(c))?;
        event(c, id, None, what, "")
    })
}
