//! What people do to executions: start one, pause, resume, skip or retry a step, approve or
//! reject an approval, abort (with or without a rollback). Each is checked against the rows in
//! the transaction that changes them, recorded on the execution's timeline and audited there
//! too; the replica driving the execution sees the change at its next look.

use super::notices::{self, Happened};
use crate::engine::Error;
use crate::store::audit::{self, Actor};
use crate::store::plans::executions::{self as store, By, Event, Snapshot, StepChange};
use crate::store::{DbConn, Store, StoreError};
use shared::execution::{ExecutionState as Ex, OnFailure, ResolvedPlan, StepKind, StepState};
use shared::plan::Notice;
use shared::{ApiError, ErrorCode};

/// Starts `plan` with `parameters`; 409 while the plan has an active execution.
pub async fn start(
    store: &Store,
    actor: Actor,
    plan: ResolvedPlan,
    parameters: serde_json::Value,
    comment: String,
) -> Result<i64, Error> {
    store
        .run(move |c| start_in(c, &actor, &plan, &parameters, &comment))
        .await
}

/// [`start`] on a connection (the API resolves the plan in the same transaction).
pub fn start_in(
    c: &mut DbConn,
    actor: &Actor,
    plan: &ResolvedPlan,
    parameters: &serde_json::Value,
    comment: &str,
) -> Result<i64, Error> {
    plan.validate()?;
    if !parameters.is_object() {
        return Err(Error::invalid("parameters", "must be an object"));
    }
    if comment.chars().count() > MAX_COMMENT {
        return Err(Error::invalid(
            "comment",
            format!("at most {MAX_COMMENT} characters"),
        ));
    }
    Ok(store::start(c, actor, plan, parameters, comment.trim())?)
}

/// An operator's action on an execution.
#[derive(Debug, Clone)]
pub enum Op {
    Pause,
    /// Carries on (forward, or with the rollback under way); refused while a step waits for
    /// a retry or a skip.
    Resume,
    /// Leaves a step out (a comment is required): pending, failed, outcome unknown, waiting
    /// for approval; in a rollback, a completed step's undo.
    Skip {
        step: String,
    },
    /// Runs a failed step (or one whose outcome is unknown) again; in a rollback, its undo.
    Retry {
        step: String,
    },
    /// Approves the step waiting for approval (the first, when none is named) as a holder of
    /// `roles`; never by the person who started the execution; a comment is required.
    Approve {
        step: Option<String>,
        roles: Vec<String>,
    },
    /// Refuses it (the step fails, and its `on_failure` applies); a comment is required.
    Reject {
        step: Option<String>,
        roles: Vec<String>,
    },
    /// Ends the execution; with `rollback`, after undoing what completed.
    Abort {
        rollback: bool,
    },
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Skip { .. } => "skip",
            Self::Retry { .. } => "retry",
            Self::Approve { .. } => "approve",
            Self::Reject { .. } => "reject",
            Self::Abort { rollback: false } => "abort",
            Self::Abort { rollback: true } => "abort_rollback",
        }
    }

    fn needs_comment(&self) -> bool {
        matches!(
            self,
            Self::Skip { .. } | Self::Approve { .. } | Self::Reject { .. }
        )
    }
}

/// Applies `op` to execution `id` as `actor`, with `comment`; audited in the same transaction.
pub async fn operate(
    store: &Store,
    actor: Actor,
    id: i64,
    op: Op,
    comment: String,
) -> Result<(), Error> {
    store
        .run(move |c| operate_in(c, &actor, id, &op, &comment))
        .await
}

/// [`operate`] on a connection (the API's handlers run it as the caller).
pub fn operate_in(
    c: &mut DbConn,
    actor: &Actor,
    id: i64,
    op: &Op,
    comment: &str,
) -> Result<(), Error> {
    let comment = comment.trim();
    if op.needs_comment() && comment.is_empty() {
        return Err(Error::invalid("comment", "a comment is required"));
    }
    if comment.chars().count() > MAX_COMMENT {
        return Err(Error::invalid(
            "comment",
            format!("at most {MAX_COMMENT} characters"),
        ));
    }
    let event = actor
        .event(
            &format!("execution.{}", op.name()),
            "plan_execution",
            Some(id.to_string()),
        )
        .detail(comment);
    audit::audited(c, &event, |c| apply(c, actor, id, op, comment))
}

const MAX_COMMENT: usize = 4000;

/// The step of an execution proposed for a risk event (`triggers`) that waits for its
/// approval; rejecting it ends the execution.
pub const PROPOSAL_STEP: &str = "proposal";

fn apply(c: &mut DbConn, actor: &Actor, id: i64, op: &Op, comment: &str) -> Result<(), Error> {
    let snap = store::snapshot(c, id)?;
    let plan = snap.execution.plan()?;
    let state = snap.execution.state();
    let rollback = snap.execution.rollback;
    let by = By::Operator(actor);
    let ev = Event::new(op.name()).comment(comment);
    let refused = |why: String| Error::Store(StoreError::conflict(why));
    if state.ended() {
        return Err(refused(format!(
            "execution {id} has ended ({}): nothing to {}",
            state.as_str(),
            op.name()
        )));
    }
    let changed = match op {
        Op::Pause => {
            let from = [
                Ex::Pending,
                Ex::Running,
                Ex::WaitingApproval,
                Ex::RollingBack,
            ];
            let detail = format!("paused by {}", actor.name);
            store::set_state(c, id, by, (&from, Ex::Paused), Some(&detail), ev)?
        }
        Op::Resume => {
            if let Some(blocked) = blocking(&snap, &plan) {
                return Err(refused(format!(
                    "step `{blocked}` waits for a retry or a skip"
                )));
            }
            let to = if rollback {
                Ex::RollingBack
            } else {
                Ex::Running
            };
            store::set_state(c, id, by, (&[Ex::Paused], to), None, ev)?
        }
        Op::Skip { step } | Op::Retry { step } => {
            let row = snap
                .step(step)
                .ok_or_else(|| Error::invalid("step", format!("no step `{step}`")))?;
            let undoing = rollback && row.completed.is_some();
            let skip = matches!(op, Op::Skip { .. });
            let (from, to): (&[StepState], StepState) = match (skip, undoing) {
                (true, false) => (&SKIPPABLE, StepState::Skipped),
                (true, true) => (&UNDO_SKIPPABLE, StepState::Skipped),
                (false, false) => (&RETRYABLE, StepState::Pending),
                // A completed step is `succeeded` until its undo runs.
                (false, true) => (&RETRYABLE, StepState::Succeeded),
            };
            let change = StepChange {
                to,
                begin: None,
                end: skip,
                error: None,
                attempts: None,
            };
            let ev = ev.step(step);
            let done = store::set_step(c, (id, step), by, from, change, ev)?;
            if !done {
                return Err(refused(format!(
                    "step `{step}` is {}: it cannot be {}",
                    row.state().as_str(),
                    if skip { "skipped" } else { "retried" }
                )));
            }
            true
        }
        Op::Approve { step, roles } | Op::Reject { step, roles } => {
            let row = snap
                .steps
                .iter()
                .find(|r| {
                    r.state() == StepState::WaitingApproval
                        && step.as_ref().is_none_or(|s| *s == r.step)
                })
                .ok_or_else(|| refused(format!("execution {id} waits for no approval")))?;
            let Some(StepKind::Approval { roles: needed, .. }) =
                plan.step(&row.step).map(|s| &s.kind)
            else {
                return Err(refused(format!("step `{}` is no approval", row.step)));
            };
            if actor.name == snap.execution.started_by {
                return Err(forbidden(
                    "four eyes: the person who started the execution cannot answer its approvals",
                ));
            }
            if !needed.iter().any(|r| roles.contains(r)) {
                return Err(forbidden(&format!(
                    "approving needs one of the roles: {}",
                    needed.join(", ")
                )));
            }
            let (to, error) = match op {
                Op::Approve { .. } => (StepState::Succeeded, None),
                _ => (
                    StepState::Failed,
                    Some(format!("rejected by {}: {comment}", actor.name)),
                ),
            };
            let change = StepChange {
                error: error.as_deref(),
                ..StepChange::end(to)
            };
            let from = [StepState::WaitingApproval];
            let answered =
                store::set_step(c, (id, &row.step), by, &from, change, ev.step(&row.step))?;
            // A rejected proposal (a risk event's) ends the execution: nothing ran.
            if answered && error.is_some() && row.step == PROPOSAL_STEP {
                let detail = format!("the proposal was rejected by {}", actor.name);
                let from = [Ex::Pending, Ex::Running, Ex::WaitingApproval, Ex::Paused];
                let ev = Event::new("proposal.rejected").comment(comment);
                store::set_state(c, id, by, (&from, Ex::Aborted), Some(&detail), ev)?;
            }
            answered
        }
        Op::Abort { rollback: false } => {
            let from: Vec<Ex> = Ex::ALL.iter().copied().filter(|s| !s.ended()).collect();
            let detail = format!("aborted by {}", actor.name);
            let done = store::set_state(c, id, by, (&from, Ex::Aborted), Some(&detail), ev)?;
            if done {
                let h = Happened {
                    notice: Notice::End,
                    state: Ex::Aborted,
                    step: None,
                    detail: &detail,
                };
                notices::enqueue(c, &plan, id, &h)?;
            }
            done
        }
        Op::Abort { rollback: true } => {
            let from = [Ex::Pending, Ex::Running, Ex::WaitingApproval, Ex::Paused];
            let detail = format!("rollback asked by {}", actor.name);
            store::set_state(c, id, by, (&from, Ex::RollingBack), Some(&detail), ev)?
        }
    };
    if !changed {
        return Err(refused(format!(
            "execution {id} is {}: it cannot {}",
            state.as_str(),
            op.name()
        )));
    }
    Ok(())
}

/// The states a step may be skipped from (forward); the console offers what these allow.
pub const SKIPPABLE: [StepState; 4] = [
    StepState::Pending,
    StepState::Failed,
    StepState::OutcomeUnknown,
    StepState::WaitingApproval,
];
/// In a rollback: a completed step's undo may be skipped from these.
pub const UNDO_SKIPPABLE: [StepState; 3] = [
    StepState::Succeeded,
    StepState::Failed,
    StepState::OutcomeUnknown,
];
pub const RETRYABLE: [StepState; 2] = [StepState::Failed, StepState::OutcomeUnknown];

/// A step that keeps a paused execution paused: one whose outcome is unknown, or one that
/// failed and is not to be ignored (in a rollback: a completed step whose undo failed).
fn blocking(snap: &Snapshot, plan: &ResolvedPlan) -> Option<String> {
    let rollback = snap.execution.rollback;
    snap.steps
        .iter()
        .find(|r| {
            let ignored = plan
                .step(&r.step)
                .is_some_and(|s| s.on_failure == OnFailure::Continue);
            match (r.state(), rollback) {
                (StepState::OutcomeUnknown, false) => true,
                (StepState::Failed, false) => !ignored,
                (StepState::OutcomeUnknown | StepState::Failed, true) => r.completed.is_some(),
                _ => false,
            }
        })
        .map(|r| r.step.clone())
}

fn forbidden(why: &str) -> Error {
    Error::Refused(ApiError::new(ErrorCode::Forbidden, why))
}
