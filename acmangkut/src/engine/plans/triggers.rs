//! What starts plans besides people, run by every replica's execution engine each tick:
//!
//! - **schedules**: a plan's schedule row is a work queue claimed by lease
//!   ([`Queue::PlanSchedules`]); the claimer fires the due slot and moves the row to its next
//!   slot in one transaction, so a slot fires once whichever replicas run. The execution runs
//!   the latest version with its default parameters, started by [`SCHEDULER`] with the comment
//!   `scheduled`. A slot that comes while an execution is active is skipped (concurrency
//!   forbid), said on that execution's timeline. Slots missed while no replica ran are not
//!   replayed: one fires, then the next future slot.
//! - **risk events**: an unresolved risk event that a plan's `triggers.risk_events` match, seen
//!   since that plan version was saved, *proposes* an execution: created `waiting_approval` on
//!   a first step [`PROPOSAL_STEP`] that a `plans:approve` holder answers (four eyes: never the
//!   proposer, [`RISK`]); rejecting it aborts the execution. One proposal per event and plan.

use super::executions::operate::{self, PROPOSAL_STEP};
use super::resolve;
use crate::engine::Error;
use crate::metrics::Metrics;
use crate::store::audit::Actor;
use crate::store::iam::access;
use crate::store::leases::{self, Queue};
use crate::store::plans::executions::{self as exstore, By, Event, StepChange};
use crate::store::plans::{self, PlanRow, triggers as store};
use crate::store::{DbConn, Store, StoreError, now_ms, to_datetime};
use shared::execution::{
    DEFAULT_BACKOFF_MS, DEFAULT_STEP_TIMEOUT_MS, ExecutionState, OnFailure, ResolvedPlan,
    ResolvedStage, ResolvedStep, StepKind, StepState,
};
use shared::permissions::Permission;
use shared::plan::PlanDocument;

/// Who starts scheduled executions.
pub const SCHEDULER: &str = "system:schedule";
/// Who proposes executions for risk events.
pub const RISK: &str = "system:risk-events";

fn system(name: &str) -> Actor {
    Actor {
        name: name.into(),
        kind: "system",
        peer: String::new(),
    }
}

/// Keeps plan `plan_id`'s schedule row in step with `doc` (its version just saved).
pub fn on_save(conn: &mut DbConn, plan_id: i64, doc: &PlanDocument) -> Result<(), Error> {
    let schedule = match &doc.triggers.schedule {
        Some(s) => s.parse()?.next_after(now_ms()).map(|next| (s, next)),
        None => None,
    };
    store::set_schedule(conn, plan_id, schedule)?;
    Ok(())
}

/// What firing a slot did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired {
    Started(i64),
    /// Execution `0` was active: the slot was skipped.
    Skipped(i64),
    /// The plan could not start (a parameter without default): logged, the slot moved on.
    Refused(String),
}

/// One engine tick of triggers: fires due schedules, proposes executions for risk events.
pub async fn tick(store: &Store, metrics: &Metrics, owner: &str, lease_ms: i64) {
    let me = owner.to_string();
    let claimed = store
        .run(move |c| leases::claim(c, Queue::PlanSchedules, &me, now_ms(), 16, lease_ms))
        .await;
    let failed = |what: &str, e: Error| {
        metrics.controllermanager_failure.inc();
        tracing::error!(error = format!("{e:#}"), "plan triggers: {what} failed");
    };
    match claimed {
        Ok(ids) => {
            for id in ids {
                let me = owner.to_string();
                match store.run(move |c| fire(c, id, &me, now_ms())).await {
                    Ok(Some(Fired::Started(ex))) => {
                        tracing::info!(execution = ex, "scheduled execution started")
                    }
                    Ok(Some(Fired::Skipped(ex))) => {
                        metrics.plan_schedule_skipped.inc();
                        tracing::info!(
                            active = ex,
                            "scheduled slot skipped: an execution is active"
                        );
                    }
                    Ok(Some(Fired::Refused(why))) => {
                        tracing::warn!(schedule = id, "scheduled slot not started: {why}")
                    }
                    Ok(None) => {}
                    Err(e) => failed("firing a schedule", e),
                }
            }
        }
        Err(e) => failed("claiming schedules", Error::Store(e)),
    }
    match store.run(propose_for_risks).await {
        Ok(ids) if !ids.is_empty() => tracing::info!(executions = ?ids, "executions proposed"),
        Ok(_) => {}
        Err(e) => failed("proposing executions for risk events", e),
    }
}

/// Fires schedule `id` (claimed by `owner`) for its due slot and moves it to the next slot
/// after `now`, in one transaction; `None` when the lease is no longer `owner`'s.
pub fn fire(conn: &mut DbConn, id: i64, owner: &str, now: i64) -> Result<Option<Fired>, Error> {
    crate::store::write(conn, |c| {
        let Some(row) = store::claimed_schedule(c, id, owner)? else {
            return Ok(None);
        };
        let plan = plans::row(c, row.plan_id)?;
        let doc = plan.document()?;
        let schedule = doc.triggers.schedule.as_ref().and_then(|s| s.parse().ok());
        // No slot left (or no schedule any more): never due again.
        let next = schedule
            .and_then(|s| s.next_after(now.max(row.next_at)))
            .unwrap_or(i64::MAX);
        let slot = to_datetime(row.next_at).to_rfc3339();
        let fired = match store::active_execution(c, &plan.name)? {
            Some((active, state)) => {
                let why = format!("slot {slot} skipped: execution {active} is {state}");
                let ev = Event::new("schedule.skipped").comment(&why);
                exstore::event(c, active, SCHEDULER, ev)?;
                Fired::Skipped(active)
            }
            // In a savepoint: a refusal leaves the slot's move to commit.
            None => match crate::store::write(c, |c| start_scheduled(c, &plan, &doc)) {
                Ok(ex) => Fired::Started(ex),
                Err(e @ (Error::Invalid { .. } | Error::Refused(_))) => {
                    Fired::Refused(e.to_string())
                }
                Err(e) => return Err(e),
            },
        };
        if !store::advance(c, row.id, owner, row.next_at, next)? {
            return Err(Error::Store(StoreError::conflict(
                "the schedule's lease was lost",
            )));
        }
        Ok(Some(fired))
    })
}

fn start_scheduled(c: &mut DbConn, plan: &PlanRow, doc: &PlanDocument) -> Result<i64, Error> {
    let given = serde_json::Map::new();
    let (resolved, params) = resolve::resolve(c, (plan.id, plan.version), doc, &given)?;
    operate::start_in(c, &system(SCHEDULER), &resolved, &params, "scheduled")
}

/// Proposes an execution for each unresolved risk event a plan answers and has not proposed
/// one for; a plan with an active execution is asked again at a later tick. Returns the ids.
pub fn propose_for_risks(conn: &mut DbConn) -> Result<Vec<i64>, Error> {
    let events = store::unresolved_events(conn)?;
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let mut answering = Vec::new();
    for row in store::plan_rows(conn)? {
        let doc = row.document()?;
        if !doc.triggers.risk_events.is_empty() {
            answering.push((row, doc));
        }
    }
    let mut proposed = Vec::new();
    for e in &events {
        let rule = match e.rule_id {
            Some(id) => store::rule_name(conn, id)?,
            None => None,
        };
        let monitor = match e.monitor_id {
            Some(id) => store::monitor_name(conn, id)?,
            None => None,
        };
        let level = e.to_api().level;
        for (plan, doc) in &answering {
            let matches = doc
                .triggers
                .risk_events
                .iter()
                .any(|t| t.matches(level, rule.as_deref(), monitor.as_deref()));
            if !matches || e.last_seen_at < plan.updated_at {
                continue;
            }
            if store::proposed(conn, e.id, &plan.name)?
                || store::active_execution(conn, &plan.name)?.is_some()
            {
                continue;
            }
            match crate::store::write(conn, |c| propose(c, plan, doc, e)) {
                Ok(ex) => proposed.push(ex),
                // Asked again next tick: the plan or the roles may be fixed meanwhile.
                Err(why @ (Error::Invalid { .. } | Error::Refused(_))) => tracing::warn!(
                    plan = %plan.name,
                    risk_event = e.id,
                    "cannot propose an execution: {why}"
                ),
                Err(other) => return Err(other),
            }
        }
    }
    Ok(proposed)
}

/// The execution risk event `e` proposes for `plan`: its latest version with default
/// parameters, behind a first stage whose one step waits for a `plans:approve` holder.
fn propose(
    c: &mut DbConn,
    plan: &PlanRow,
    doc: &PlanDocument,
    e: &crate::store::inspection::risks::RiskRow,
) -> Result<i64, Error> {
    let roles: Vec<String> = access::roles(c)
        .map_err(StoreError::from)?
        .into_iter()
        .filter(|r| {
            r.permissions
                .iter()
                .any(|p| p == Permission::PlansApprove.as_str())
        })
        .map(|r| r.name)
        .collect();
    if roles.is_empty() {
        return Err(Error::invalid(
            "roles",
            "no role grants plans:approve: nobody could approve a proposal",
        ));
    }
    let given = serde_json::Map::new();
    let (resolved, params) = resolve::resolve(c, (plan.id, plan.version), doc, &given)?;
    let proposal = with_proposal(resolved, roles);
    let actor = system(RISK);
    let comment = format!("proposed by risk event {} ({}): {}", e.id, e.level, e.title);
    let id = operate::start_in(c, &actor, &proposal, &params, &comment)?;
    let by = By::Operator(&actor);
    let waiting = (
        &[ExecutionState::Pending][..],
        ExecutionState::WaitingApproval,
    );
    let ev = Event::new("proposed").comment(&comment);
    exstore::set_state(c, id, by, waiting, None, ev)?;
    let change = StepChange::begin(StepState::WaitingApproval, 0);
    let ev = Event::new("approval.requested").step(PROPOSAL_STEP);
    exstore::set_step(
        c,
        (id, PROPOSAL_STEP),
        by,
        &[StepState::Pending],
        change,
        ev,
    )?;
    store::record_proposal(c, e.id, &plan.name, id)?;
    Ok(id)
}

/// `plan` behind a first stage whose one step is the proposal's approval by `roles`.
fn with_proposal(mut plan: ResolvedPlan, roles: Vec<String>) -> ResolvedPlan {
    let step = ResolvedStep {
        id: PROPOSAL_STEP.into(),
        name: "approve the proposed execution".into(),
        kind: StepKind::Approval {
            roles,
            expires_after_ms: None,
        },
        timeout_ms: DEFAULT_STEP_TIMEOUT_MS,
        retries: 0,
        backoff_ms: DEFAULT_BACKOFF_MS,
        on_failure: OnFailure::Pause,
        phases: vec![],
    };
    plan.stages.insert(
        0,
        ResolvedStage {
            name: "proposal".into(),
            max_parallelism: None,
            steps: vec![step],
        },
    );
    plan
}
