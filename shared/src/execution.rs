//! Executions of disaster-recovery plans: what a plan version becomes once its templates are
//! rendered for its parameters and targets (a [`ResolvedPlan`], the execution engine's only
//! input, stored with each execution as its snapshot), the states an execution and its steps go
//! through, and the API views of both.
//!
//! Stages run in order; the steps of a stage run in parallel (at most `max_parallelism` at once).
//! A step is an action (an atomic operation's `do`, with its `undo` for rollback), a wait, an
//! approval (four eyes: never the person who started the execution), a check gate or a message
//! to notification channels. A plan step that runs in order within its stage (a `batches`
//! step's batches, a sub-plan's stages) becomes steps in [`Phase`]s.

use crate::action::{Action, MAX_ACTION_TIMEOUT_MS};
use crate::check::Check;
/// What a failed step leads to: the plan document's own choice, carried over.
pub use crate::plan::OnFailure;
use crate::plan::PlanNotify;
use crate::problem::ApiError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

pub const MAX_STAGES: usize = 100;
pub const MAX_STEPS: usize = 500;
pub const MAX_RETRIES: u32 = 100;
/// A wait or an approval may last a day; an action or a check an hour.
pub const MAX_WAIT_MS: u64 = 86_400_000;
pub const DEFAULT_STEP_TIMEOUT_MS: u64 = 300_000;
pub const DEFAULT_BACKOFF_MS: u64 = 1000;
pub const DEFAULT_RETRY_INTERVAL_MS: u64 = 5000;
/// A notify step's message, rendered.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolvedPlan {
    /// The plan's name.
    pub plan: String,
    pub version: i32,
    pub stages: Vec<ResolvedStage>,
    /// The plan's `rto_objective` when it was resolved: what the execution's RTO is held to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_objective_ms: Option<u64>,
    /// Channels told when the execution starts, waits for approval, fails, ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<PlanNotify>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolvedStage {
    pub name: String,
    /// Steps running at once; none: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallelism: Option<u32>,
    pub steps: Vec<ResolvedStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolvedStep {
    /// Stable within the plan (`s1.restart-db`): names the step's rows and its actions' runs.
    pub id: String,
    pub name: String,
    pub kind: StepKind,
    /// One attempt of an action or a check; the whole of a check gate's tries.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Attempts after the first (actions).
    #[serde(default)]
    pub retries: u32,
    /// Before the first retry; doubled before each one after.
    #[serde(default = "default_backoff")]
    pub backoff_ms: u64,
    #[serde(default)]
    pub on_failure: OnFailure,
    /// The phases the step belongs to, outermost first (a sub-plan's stage, then a batch).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phases: Vec<Phase>,
}

/// One of the ordered parts of a plan step within its stage: phase `n + 1` of `of` begins once
/// every step of phase `n` is settled (and, after a phase with `pause_after`, the operator
/// resumed the execution).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    /// The step id of the plan step the phases divide (`s2.1`).
    pub of: String,
    /// From 1.
    pub n: u32,
    /// How many phases `of` has.
    pub count: u32,
    /// `batch` or `stage` (of a sub-plan).
    pub kind: String,
    /// Steps of this phase running at once; none: all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallelism: Option<u32>,
    /// The execution pauses for the operator once this phase is settled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pause_after: bool,
}

impl Phase {
    /// `batch 1 of 3 of s2.1`.
    pub fn label(&self) -> String {
        format!("{} {} of {} of {}", self.kind, self.n, self.count, self.of)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepKind {
    /// An operation step after rendering: what it does, and what undoes it in a rollback.
    Action {
        #[serde(rename = "do")]
        run: Action,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        undo: Option<Action>,
    },
    Wait {
        ms: u64,
    },
    /// Someone with one of `roles`, other than the starter, approves with a comment.
    Approval {
        roles: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_after_ms: Option<u64>,
    },
    /// A gate: tried every `retry_interval_ms` until it passes or the step's timeout passes.
    Check {
        check: Check,
        #[serde(default = "default_retry_interval")]
        retry_interval_ms: u64,
    },
    /// A message (rendered) to the inspection center's channels, by name; each attempt sends
    /// to every channel, and fails when one of them does.
    Notify {
        channels: Vec<String>,
        message: String,
    },
}

impl StepKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Action { .. } => "action",
            Self::Wait { .. } => "wait",
            Self::Approval { .. } => "approval",
            Self::Check { .. } => "check",
            Self::Notify { .. } => "notify",
        }
    }
}

fn default_timeout() -> u64 {
    DEFAULT_STEP_TIMEOUT_MS
}

fn default_backoff() -> u64 {
    DEFAULT_BACKOFF_MS
}

fn default_retry_interval() -> u64 {
    DEFAULT_RETRY_INTERVAL_MS
}

impl ResolvedPlan {
    /// Checks what serde cannot; errors name the field (`stages[1].steps[0].timeout_ms`).
    pub fn validate(&self) -> Result<(), ApiError> {
        text(&self.plan, "plan")?;
        if self.stages.is_empty() || self.stages.len() > MAX_STAGES {
            return Err(ApiError::invalid(
                "stages",
                format!("1 to {MAX_STAGES} stages"),
            ));
        }
        let mut ids = HashSet::new();
        let mut count = 0;
        for (i, stage) in self.stages.iter().enumerate() {
            let at = format!("stages[{i}]");
            text(&stage.name, &format!("{at}.name"))?;
            if stage.max_parallelism == Some(0) {
                return Err(ApiError::invalid(
                    format!("{at}.max_parallelism"),
                    "at least 1",
                ));
            }
            if stage.steps.is_empty() {
                return Err(ApiError::invalid(
                    format!("{at}.steps"),
                    "at least one step",
                ));
            }
            count += stage.steps.len();
            if count > MAX_STEPS {
                return Err(ApiError::invalid(
                    format!("{at}.steps"),
                    format!("at most {MAX_STEPS} steps in a plan"),
                ));
            }
            for (j, step) in stage.steps.iter().enumerate() {
                let at = format!("{at}.steps[{j}]");
                step.validate(&at)?;
                if !ids.insert(step.id.as_str()) {
                    return Err(ApiError::invalid(
                        format!("{at}.id"),
                        "another step has this id",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Every step with its stage's index, in plan order.
    pub fn steps(&self) -> impl Iterator<Item = (usize, &ResolvedStep)> {
        self.stages
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.steps.iter().map(move |step| (i, step)))
    }

    pub fn step(&self, id: &str) -> Option<&ResolvedStep> {
        self.steps().map(|(_, s)| s).find(|s| s.id == id)
    }
}

impl ResolvedStep {
    fn validate(&self, at: &str) -> Result<(), ApiError> {
        let f = |name: &str| format!("{at}.{name}");
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 128
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !id_ok {
            return Err(ApiError::invalid(
                f("id"),
                "1 to 128 characters of a-z, A-Z, 0-9, '-', '_', '.'",
            ));
        }
        text(&self.name, &f("name"))?;
        bounded(self.timeout_ms, MAX_ACTION_TIMEOUT_MS, &f("timeout_ms"))?;
        if self.retries > MAX_RETRIES {
            return Err(ApiError::invalid(
                f("retries"),
                format!("at most {MAX_RETRIES}"),
            ));
        }
        bounded(self.backoff_ms, MAX_ACTION_TIMEOUT_MS, &f("backoff_ms"))?;
        match &self.kind {
            StepKind::Action { run, undo } => {
                run.validate(&f("kind.do."))?;
                if let Some(undo) = undo {
                    undo.validate(&f("kind.undo."))?;
                }
            }
            StepKind::Wait { ms } => bounded(*ms, MAX_WAIT_MS, &f("kind.ms"))?,
            StepKind::Approval {
                roles,
                expires_after_ms,
            } => {
                if roles.is_empty() {
                    return Err(ApiError::invalid(f("kind.roles"), "at least one role"));
                }
                for (i, role) in roles.iter().enumerate() {
                    text(role, &f(&format!("kind.roles[{i}]")))?;
                }
                if let Some(ms) = expires_after_ms {
                    bounded(*ms, MAX_WAIT_MS, &f("kind.expires_after_ms"))?;
                }
            }
            StepKind::Check {
                check,
                retry_interval_ms,
            } => {
                check.validate(&f("kind.check."))?;
                bounded(
                    *retry_interval_ms,
                    MAX_WAIT_MS,
                    &f("kind.retry_interval_ms"),
                )?;
            }
            StepKind::Notify { channels, message } => {
                if channels.is_empty() {
                    return Err(ApiError::invalid(
                        f("kind.channels"),
                        "at least one channel",
                    ));
                }
                for (i, c) in channels.iter().enumerate() {
                    text(c, &f(&format!("kind.channels[{i}]")))?;
                }
                if message.len() > MAX_MESSAGE_BYTES {
                    return Err(ApiError::invalid(
                        f("kind.message"),
                        format!("at most {MAX_MESSAGE_BYTES} bytes"),
                    ));
                }
            }
        }
        for (i, p) in self.phases.iter().enumerate() {
            let at = f(&format!("phases[{i}]"));
            text(&p.of, &format!("{at}.of"))?;
            text(&p.kind, &format!("{at}.kind"))?;
            if p.n == 0 || p.n > p.count {
                return Err(ApiError::invalid(
                    format!("{at}.n"),
                    "between 1 and the phase count",
                ));
            }
            if p.max_parallelism == Some(0) {
                return Err(ApiError::invalid(
                    format!("{at}.max_parallelism"),
                    "at least 1",
                ));
            }
        }
        Ok(())
    }

    /// What the step runs when undone, if anything.
    pub fn undo(&self) -> Option<&Action> {
        match &self.kind {
            StepKind::Action { undo, .. } => undo.as_ref(),
            _ => None,
        }
    }
}

fn text(s: &str, field: &str) -> Result<(), ApiError> {
    if s.trim().is_empty() || s.len() > 256 {
        return Err(ApiError::invalid(field, "1 to 256 characters"));
    }
    Ok(())
}

fn bounded(ms: u64, max: u64, field: &str) -> Result<(), ApiError> {
    if ms == 0 || ms > max {
        return Err(ApiError::invalid(field, format!("between 1 and {max}")));
    }
    Ok(())
}

macro_rules! states {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize,
            utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $variant),+ }

        impl $name {
            pub const ALL: &[Self] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|x| x.as_str() == s)
            }
        }
    };
}

states!(
    /// Where an execution is.
    ExecutionState {
        /// Started, not yet claimed by a replica.
        Pending => "pending",
        Running => "running",
        /// A step waits for an approver (other steps of its stage carry on).
        WaitingApproval => "waiting_approval",
        /// The operator's turn: paused by hand, a failed step, an outcome unknown.
        Paused => "paused",
        Succeeded => "succeeded",
        /// Ended with a failed step whose failure was to be ignored (`continue`).
        Failed => "failed",
        /// Undoing completed steps in reverse order of completion.
        RollingBack => "rolling_back",
        RolledBack => "rolled_back",
        Aborted => "aborted",
    }
);

impl ExecutionState {
    pub fn ended(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::RolledBack | Self::Aborted
        )
    }
}

states!(
    /// Where a step is. In a rollback, `rolling_back` is its undo running, and `failed` and
    /// `outcome_unknown` are its undo's.
    StepState {
        Pending => "pending",
        Running => "running",
        WaitingApproval => "waiting_approval",
        Succeeded => "succeeded",
        Failed => "failed",
        Skipped => "skipped",
        /// An attempt was interrupted (its replica died) and is not idempotent: the operator
        /// retries or skips it.
        OutcomeUnknown => "outcome_unknown",
        RollingBack => "rolling_back",
        RolledBack => "rolled_back",
    }
);

/// An execution as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExecutionView {
    pub id: i64,
    pub plan: String,
    pub version: i32,
    pub state: ExecutionState,
    /// Set once a rollback began (a paused execution resumes it).
    pub rollback: bool,
    pub started_by: String,
    pub comment: String,
    #[schema(value_type = Object)]
    pub parameters: serde_json::Value,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    /// Start to the last step's success (succeeded executions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_ms: Option<i64>,
    /// The plan's `rto_objective` (as the executed version had it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_objective_ms: Option<u64>,
    /// Whether the RTO met the objective: none until the execution succeeded, or without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_met: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    pub steps: Vec<StepView>,
}

/// Whether `rto_ms` met `objective_ms` (none when either is unknown).
pub fn rto_met(rto_ms: Option<i64>, objective_ms: Option<u64>) -> Option<bool> {
    let (rto, objective) = (rto_ms?, objective_ms?);
    Some(u64::try_from(rto).unwrap_or(0) <= objective)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StepView {
    pub id: String,
    pub stage: i32,
    pub name: String,
    pub kind: String,
    pub state: StepState,
    pub attempts: i32,
    /// 1 for the first step to complete, 2 for the next...: rollback runs it backwards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One entry of an execution's timeline: who did what, when, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventView {
    pub at: DateTime<Utc>,
    pub actor: String,
    /// `started`, `step.succeeded`, `approved`, `paused`, ...
    pub what: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
}

/// An execution in a plan's list: no steps (`GET /api/v1/executions/{id}` has them).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExecutionSummary {
    pub id: i64,
    pub plan: String,
    pub version: i32,
    pub state: ExecutionState,
    pub rollback: bool,
    pub started_by: String,
    pub comment: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_ms: Option<i64>,
}

/// The bodies of operators' actions on an execution. A comment is at most 4000 characters;
/// where it is required it must say something (not only spaces).
pub mod actions {
    use serde::{Deserialize, Serialize};

    /// Pause or resume.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Comment {
        #[serde(default)]
        #[schema(max_length = 4000)]
        pub comment: String,
    }

    /// Retry a step.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Retry {
        #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
        pub step: String,
        #[serde(default)]
        #[schema(max_length = 4000)]
        pub comment: String,
    }

    /// Skip a step: say why.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Skip {
        #[schema(min_length = 1, max_length = 128, pattern = "\\S")]
        pub step: String,
        #[schema(min_length = 1, max_length = 4000, pattern = "\\S")]
        pub comment: String,
    }

    /// Approve or reject: say why; the step waiting for approval, the first when none is named.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Answer {
        #[schema(min_length = 1, max_length = 4000, pattern = "\\S")]
        pub comment: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(max_length = 128)]
        pub step: Option<String>,
    }

    /// Start an execution of a plan version.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Start {
        /// Parameter values; the defaults fill in the rest.
        #[serde(default)]
        #[schema(value_type = Object)]
        pub params: serde_json::Map<String, serde_json::Value>,
        /// A saved version; none: the latest.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub version: Option<i32>,
        #[serde(default)]
        #[schema(max_length = 4000)]
        pub comment: String,
    }

    /// Abort; with `rollback`, after undoing the completed steps.
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
    #[serde(deny_unknown_fields)]
    pub struct Abort {
        #[serde(default)]
        #[schema(max_length = 4000)]
        pub comment: String,
        #[serde(default)]
        pub rollback: bool,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn plan() -> serde_json::Value {
        json!({"plan": "failover", "version": 3, "stages": [
            {"name": "prepare", "steps": [
                {"id": "s1.gate", "name": "lag", "kind": {"type": "check",
                    "check": {"check": "command", "command": "true"}}},
                {"id": "s1.ok", "name": "ok", "kind": {"type": "approval", "roles": ["ops"]}}
            ]},
            {"name": "switch", "max_parallelism": 1, "steps": [
                {"id": "s2.fence", "name": "fence", "retries": 2, "on_failure": "rollback",
                 "kind": {"type": "action",
                    "do": {"action": "command", "command": "fence"},
                    "undo": {"action": "command", "command": "unfence"}}},
                {"id": "s2.wait", "name": "settle", "kind": {"type": "wait", "ms": 500}}
            ]}
        ]})
    }

    #[test]
    fn a_resolved_plan_reads_with_defaults_and_validates() {
        let p: ResolvedPlan = serde_json::from_value(plan()).expect("parses");
        p.validate().expect("valid");
        let fence = p.step("s2.fence").expect("fence");
        assert_eq!(fence.on_failure, OnFailure::Rollback);
        assert_eq!(fence.timeout_ms, DEFAULT_STEP_TIMEOUT_MS);
        assert!(fence.undo().is_some());
        assert_eq!(p.steps().map(|(i, _)| i).collect::<Vec<_>>(), [0, 0, 1, 1]);
    }

    #[test]
    fn each_mistake_names_its_field() {
        let cases: [(&str, serde_json::Value, &str); 6] = [
            ("/stages", json!([]), "stages"),
            (
                "/stages/1/max_parallelism",
                json!(0),
                "stages[1].max_parallelism",
            ),
            (
                "/stages/1/steps/1/id",
                json!("s2.fence"),
                "stages[1].steps[1].id",
            ),
            (
                "/stages/0/steps/1/kind/roles",
                json!([]),
                "stages[0].steps[1].kind.roles",
            ),
            (
                "/stages/1/steps/0/retries",
                json!(MAX_RETRIES + 1),
                "stages[1].steps[0].retries",
            ),
            (
                "/stages/1/steps/0/kind/do/command",
                json!(""),
                "stages[1].steps[0].kind.do.command",
            ),
        ];
        for (pointer, value, field) in cases {
            let mut doc = plan();
            *doc.pointer_mut(pointer).expect(pointer) = value;
            let p: ResolvedPlan = serde_json::from_value(doc).expect(pointer);
            let e = p.validate().expect_err(pointer);
            assert_eq!(e.field.as_deref(), Some(field), "{pointer}: {}", e.detail);
        }
    }

    #[test]
    fn phases_and_notify_steps_validate_naming_their_field() {
        let mut doc = plan();
        doc["stages"][1]["steps"][1] = json!({"id": "s2.tell", "name": "tell",
            "kind": {"type": "notify", "channels": ["ops"], "message": "done"},
            "phases": [{"of": "s2", "n": 2, "count": 2, "kind": "batch", "pause_after": true}]});
        let p: ResolvedPlan = serde_json::from_value(doc.clone()).expect("parses");
        p.validate().expect("valid");
        let back: ResolvedPlan =
            serde_json::from_value(serde_json::to_value(&p).expect("json")).expect("reads back");
        assert_eq!(back, p);
        let cases = [
            ("/stages/1/steps/1/phases/0/n", json!(3), "phases[0].n"),
            (
                "/stages/1/steps/1/kind/channels",
                json!([]),
                "kind.channels",
            ),
        ];
        for (pointer, value, field) in cases {
            let mut bad = doc.clone();
            *bad.pointer_mut(pointer).expect(pointer) = value;
            let p: ResolvedPlan = serde_json::from_value(bad).expect(pointer);
            let e = p.validate().expect_err(pointer);
            let want = format!("stages[1].steps[1].{field}");
            assert_eq!(e.field.as_deref(), Some(want.as_str()), "{}", e.detail);
        }
    }

    #[test]
    fn states_read_back_their_names() {
        for s in ExecutionState::ALL {
            assert_eq!(ExecutionState::parse(s.as_str()), Some(*s));
            let json = serde_json::to_value(s).expect("json");
            assert_eq!(json, json!(s.as_str()));
        }
        for s in StepState::ALL {
            assert_eq!(StepState::parse(s.as_str()), Some(*s));
        }
        assert_eq!(ExecutionState::parse("done"), None);
    }

    fn any_action() -> impl Strategy<Value = Action> {
        (
            "[a-z]{1,8}",
            proptest::collection::vec("[ -~]{0,12}", 0..3),
            1u64..100_000,
            any::<bool>(),
        )
            .prop_map(|(command, args, timeout_ms, idempotent)| {
                serde_json::from_value(json!({"action": "command", "command": command,
                    "args": args, "timeout_ms": timeout_ms, "idempotent": idempotent}))
                .expect("an action")
            })
    }

    fn any_kind() -> impl Strategy<Value = StepKind> {
        prop_oneof![
            (any_action(), proptest::option::of(any_action()))
                .prop_map(|(run, undo)| StepKind::Action { run, undo }),
            (proptest::collection::vec("[a-z]{0,6}", 0..3), "\\PC{0,20}")
                .prop_map(|(channels, message)| StepKind::Notify { channels, message }),
            any::<u64>().prop_map(|ms| StepKind::Wait { ms }),
            (
                proptest::collection::vec("[a-z]{0,6}", 0..3),
                proptest::option::of(any::<u64>())
            )
                .prop_map(|(roles, expires_after_ms)| StepKind::Approval {
                    roles,
                    expires_after_ms
                }),
            ("[a-z]{1,6}", any::<u64>()).prop_map(|(command, retry_interval_ms)| {
                let check = serde_json::from_value(json!({"check": "command",
                    "command": command}))
                .expect("a check");
                StepKind::Check {
                    check,
                    retry_interval_ms,
                }
            }),
        ]
    }

    fn any_step() -> impl Strategy<Value = ResolvedStep> {
        (
            "[a-z0-9.]{0,10}",
            "\\PC{0,10}",
            any_kind(),
            any::<u64>(),
            any::<u32>(),
            any::<u64>(),
            prop_oneof![
                Just(OnFailure::Pause),
                Just(OnFailure::Continue),
                Just(OnFailure::Rollback)
            ],
        )
            .prop_map(
                |(id, name, kind, timeout_ms, retries, backoff_ms, on_failure)| ResolvedStep {
                    id,
                    name,
                    kind,
                    timeout_ms,
                    retries,
                    backoff_ms,
                    on_failure,
                    phases: vec![],
                },
            )
    }

    fn any_plan() -> impl Strategy<Value = ResolvedPlan> {
        let stage = (
            "\\PC{0,8}",
            proptest::option::of(any::<u32>()),
            proptest::collection::vec(any_step(), 0..4),
        )
            .prop_map(|(name, max_parallelism, steps)| ResolvedStage {
                name,
                max_parallelism,
                steps,
            });
        (
            "\\PC{0,12}",
            any::<i32>(),
            proptest::collection::vec(stage, 0..4),
            proptest::option::of(any::<u64>()),
        )
            .prop_map(|(plan, version, stages, rto_objective_ms)| ResolvedPlan {
                plan,
                version,
                stages,
                rto_objective_ms,
                notify: None,
            })
    }

    proptest! {
        #[test]
        fn a_resolved_plan_round_trips_and_validation_never_panics(p in any_plan()) {
            let text = serde_json::to_string(&p).expect("serialises");
            let back: ResolvedPlan = serde_json::from_str(&text).expect("reads back");
            prop_assert_eq!(&back, &p);
            let _ = p.validate();
        }

        #[test]
        fn reading_any_json_never_panics(text in "\\PC{0,200}") {
            let _ = serde_json::from_str::<ResolvedPlan>(&text);
        }
    }
}
