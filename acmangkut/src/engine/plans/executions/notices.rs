//! Execution notifications: the plan's `notify` channels told when an execution starts, a step
//! waits for approval, a step fails, the execution ends. Each is queued in the inspection
//! center's outbox in the transaction that makes the change, and delivered (with retries) by
//! whichever replica drains the outbox: a channel that is down never holds up the execution.
//! Also the message a notify step sends.

use crate::store::inspection::channels;
use crate::store::{DbConn, StoreError};
use shared::execution::{ExecutionState, ResolvedPlan, ResolvedStep};
use shared::notify::Message;
use shared::plan::Notice;

/// The notice a change of the execution's state (with its timeline event `what`) makes.
pub(super) fn for_transition(to: ExecutionState, what: &str) -> Option<Notice> {
    match (to, what) {
        (ExecutionState::Running, "started") => Some(Notice::Start),
        (ExecutionState::Paused, "paused") | (ExecutionState::RollingBack, "rolling_back") => {
            Some(Notice::Failure)
        }
        (to, _) if to.ended() => Some(Notice::End),
        _ => None,
    }
}

/// What happened, for the notice.
pub struct Happened<'a> {
    pub notice: Notice,
    /// The state the execution is in now.
    pub state: ExecutionState,
    pub step: Option<&'a str>,
    /// Why, for people (a step's error, who aborted).
    pub detail: &'a str,
}

/// Queues the notice for each channel of the plan's `notify` that asks for it (inside the
/// caller's transaction). A channel removed since the plan was saved is skipped, with a
/// warning.
pub fn enqueue(
    c: &mut DbConn,
    plan: &ResolvedPlan,
    id: i64,
    h: &Happened<'_>,
) -> Result<(), StoreError> {
    let Some(notify) = plan.notify.as_ref().filter(|n| n.on.contains(&h.notice)) else {
        return Ok(());
    };
    let msg = message(plan, id, h);
    let text = serde_json::to_string(&msg).unwrap_or_default();
    for name in &notify.channels {
        match channels::row_by_name(c, name)? {
            Some(ch) => channels::enqueue(c, ch.id, None, &text)?,
            None => tracing::warn!(
                channel = %name,
                execution = id,
                "a plan notifies a channel that no longer exists"
            ),
        }
    }
    Ok(())
}

fn message(plan: &ResolvedPlan, id: i64, h: &Happened<'_>) -> Message {
    let headline = match h.notice {
        Notice::Start => "started".to_string(),
        Notice::Approval => format!("step `{}` waits for approval", h.step.unwrap_or("")),
        Notice::Failure => format!("a step failed: {}", h.state.as_str()),
        Notice::End => format!("ended: {}", h.state.as_str()),
    };
    let level = match (h.notice, h.state) {
        (Notice::Failure, _)
        | (Notice::End, ExecutionState::Failed | ExecutionState::RolledBack) => "critical",
        (Notice::Approval, _) | (Notice::End, ExecutionState::Aborted) => "warning",
        _ => "info",
    };
    let payload = serde_json::json!({
        "event": format!("plan.execution.{}", h.notice.as_str()),
        "execution": id,
        "plan": plan.plan,
        "version": plan.version,
        "state": h.state.as_str(),
        "step": h.step,
        "detail": h.detail,
    });
    Message {
        title: format!("Plan `{}`, execution {id}: {headline}", plan.plan),
        text: h.detail.to_string(),
        level: Some(level.into()),
        link: None,
        payload,
    }
}

/// What a notify step sends: its message, and the same as an event for webhooks.
pub(super) fn step_message(plan: &str, id: i64, step: &ResolvedStep, text: &str) -> Message {
    Message {
        title: format!("Plan `{plan}`, execution {id}: {}", step.name),
        text: text.to_string(),
        level: Some("info".into()),
        link: None,
        payload: serde_json::json!({
            "event": "plan.execution.notify",
            "execution": id,
            "plan": plan,
            "step": step.id,
            "message": text,
        }),
    }
}
