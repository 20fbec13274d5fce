//! Disaster-recovery plans (容灾预案) as documents: what the API, the console's editor and
//! config files carry, in JSON or YAML. A plan has typed parameters, named groups of targets,
//! and stages run in order; the steps of a stage run in parallel.
//!
//! Strings in steps are templates ([`crate::template`]): `{{ params.NAME }}` is a parameter,
//! and in a step over a target group, `{{ target }}` (the member's name), `{{ group }}` and the
//! variables the group and member define; `{{ secret.NAME }}` is left for the executor. A
//! template naming anything else is refused at its field.
//!
//! [`PlanDocument::validate`] checks what needs nothing but the document; acmangkut's plan
//! engine checks the rest (operations published, executables allow-listed, hosts known).

use crate::check::Check;
use crate::inspection::{Target, validate_name, validate_text};
use crate::operation::{Param, validate_code};
use crate::problem::ApiError;
use crate::template::{self, TemplateError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

pub mod triggers;
pub use triggers::{RiskTrigger, ScheduleTrigger, Triggers};

pub const MAX_PARAMETERS: usize = 64;
pub const MAX_GROUPS: usize = 64;
pub const MAX_MEMBERS: usize = 1000;
pub const MAX_STAGES: usize = 100;
pub const MAX_STEPS: usize = 1000;
pub const MAX_RETRIES: u32 = 10;
pub const MAX_PARALLELISM: usize = 256;
/// A step's timeout, a wait, a back-off: at most a day.
pub const MAX_STEP_MS: u64 = 24 * 3_600_000;
/// An approval's expiry and the RTO objective: at most 30 days.
pub const MAX_LONG_MS: u64 = 30 * 24 * 3_600_000;
/// The largest document the API and the console take (JSON or YAML).
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;

/// A length of time, written `90s`, `5m`, `1h30m`, `250ms` or `2d` (a bare number: seconds);
/// always written back in that form, largest unit first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(u64);

const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
];

impl Duration {
    pub fn from_millis(ms: u64) -> Self {
        Self(ms)
    }

    pub fn as_millis(self) -> u64 {
        self.0
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a duration (like 30s, 5m, 1h30m, 250ms)");
        let t = s.trim();
        if t.is_empty() {
            return Err(bad());
        }
        if let Ok(secs) = t.parse::<u64>() {
            return secs.checked_mul(1000).map(Self).ok_or_else(bad);
        }
        crate::operation::parse_duration(t)
            .map(Self)
            .ok_or_else(bad)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        let mut rest = self.0;
        for (unit, ms) in UNITS {
            if rest >= ms {
                write!(f, "{}{unit}", rest / ms)?;
                rest %= ms;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Seconds(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Seconds(s) => s
                .checked_mul(1000)
                .map(Self)
                .ok_or_else(|| serde::de::Error::custom("too long")),
            Raw::Text(t) => Self::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

impl utoipa::PartialSchema for Duration {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("A duration: `30s`, `5m`, `1h30m`, `250ms`, `2d`"))
            .examples(["5m"])
            .into()
    }
}

impl utoipa::ToSchema for Duration {}

pub(crate) fn within(d: Duration, max_ms: u64, field: &str) -> Result<(), ApiError> {
    if d.0 == 0 || d.0 > max_ms {
        return Err(ApiError::invalid(
            field,
            format!("must be more than 0s and at most {}", Duration(max_ms)),
        ));
    }
    Ok(())
}

/// A plan as its author writes it; stored as one version per save.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanDocument {
    /// 1-100 characters, no control characters, no spaces at either end; unique.
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The recovery time the plan must achieve (start to last step done).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_objective: Option<Duration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    /// Typed values given when the plan runs: `{{ params.NAME }}` (the same kinds of
    /// parameters as operations have).
    pub parameters: Vec<Param>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetGroup>,
    /// Run in order; at least one.
    pub stages: Vec<Stage>,
    /// What starts the plan besides a person: a schedule, risk events.
    #[serde(default, skip_serializing_if = "Triggers::is_empty")]
    pub triggers: Triggers,
    /// Who hears about the plan's executions, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<PlanNotify>,
}

/// The inspection center's notification channels told about an execution: when it starts, when
/// a step waits for approval, when a step fails, when it ends. Sent through the outbox: a
/// channel that fails never holds up or fails the execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanNotify {
    /// Channels by name (at least one).
    pub channels: Vec<String>,
    /// Default: all four.
    #[serde(default = "Notice::all")]
    pub on: Vec<Notice>,
}

/// A moment of an execution worth telling people about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    Start,
    /// A step waits for an approver.
    Approval,
    /// A step failed: the execution pauses or rolls back.
    Failure,
    /// Succeeded, failed, rolled back or aborted.
    End,
}

impl Notice {
    pub fn all() -> Vec<Self> {
        vec![Self::Start, Self::Approval, Self::Failure, Self::End]
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Approval => "approval",
            Self::Failure => "failure",
            Self::End => "end",
        }
    }
}

/// A named group of targets (hosts, URLs, databases), each with its variables; the group's
/// `vars` apply to every member that does not set its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetGroup {
    pub name: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vars: BTreeMap<String, String>,
    pub members: Vec<Target>,
}

impl TargetGroup {
    /// A member's template variables: the group's, the member's, `target` and `group`.
    pub fn variables(&self, member: &Target) -> BTreeMap<String, String> {
        let mut v = self.vars.clone();
        v.extend(member.variables());
        v.insert("group".into(), self.name.clone());
        v
    }

    /// Variables every member defines.
    fn common_variables(&self) -> BTreeSet<String> {
        let mut members = self.members.iter().map(|m| self.variables(m));
        let first: BTreeSet<String> = members
            .next()
            .map(|v| v.into_keys().collect())
            .unwrap_or_default();
        members.fold(first, |acc, v| {
            acc.into_iter().filter(|k| v.contains_key(k)).collect()
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub name: String,
    /// Steps running at once (default: all of them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallelism: Option<usize>,
    /// Run in parallel; at least one.
    #[schema(value_type = Vec<StepDocument>)]
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Wait for the operator (retry, skip, abort).
    #[default]
    Pause,
    /// Carry on with the plan.
    Continue,
    /// Undo what was done, in reverse order of completion.
    Rollback,
}

impl OnFailure {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// One step: what it does ([`StepKind`]) and how it is run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StepDocument", into = "StepDocument")]
pub struct Step {
    pub name: String,
    pub kind: StepKind,
    pub timeout: Option<Duration>,
    /// Attempts after the first.
    pub retries: u32,
    /// Wait before the first retry; doubled before each one after.
    pub retry_backoff: Option<Duration>,
    pub on_failure: OnFailure,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    Operation(OperationStep),
    Wait(Duration),
    Approval(ApprovalStep),
    /// Boxed: a check is larger than every other kind.
    Check(Box<CheckStep>),
    Batches(BatchesStep),
    Plan(SubPlanStep),
    Notify(NotifyStep),
}

impl StepKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Operation(_) => "operation",
            Self::Wait(_) => "wait",
            Self::Approval(_) => "approval",
            Self::Check(_) => "check",
            Self::Batches(_) => "batches",
            Self::Plan(_) => "plan",
            Self::Notify(_) => "notify",
        }
    }
}

/// A step as written: a name, exactly one of the kinds, and how it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepDocument {
    /// Unique in the plan.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<OperationStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batches: Option<BatchesStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<SubPlanStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<NotifyStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_backoff: Option<Duration>,
    #[serde(default, skip_serializing_if = "OnFailure::is_default")]
    pub on_failure: OnFailure,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

const KINDS: &str = "operation, wait, approval, check, batches, plan or notify";

impl TryFrom<StepDocument> for Step {
    type Error = String;

    fn try_from(d: StepDocument) -> Result<Self, String> {
        let mut kinds = Vec::new();
        kinds.extend(d.operation.map(StepKind::Operation));
        kinds.extend(d.wait.map(StepKind::Wait));
        kinds.extend(d.approval.map(StepKind::Approval));
        kinds.extend(d.check.map(|c| StepKind::Check(Box::new(c))));
        kinds.extend(d.batches.map(StepKind::Batches));
        kinds.extend(d.plan.map(StepKind::Plan));
        kinds.extend(d.notify.map(StepKind::Notify));
        if kinds.len() != 1 {
            return Err(format!(
                "step `{}` must have exactly one of {KINDS}",
                d.name
            ));
        }
        Ok(Self {
            name: d.name,
            kind: kinds.remove(0),
            timeout: d.timeout,
            retries: d.retries,
            retry_backoff: d.retry_backoff,
            on_failure: d.on_failure,
        })
    }
}

impl From<Step> for StepDocument {
    fn from(s: Step) -> Self {
        let mut d = StepDocument {
            name: s.name,
            operation: None,
            wait: None,
            approval: None,
            check: None,
            batches: None,
            plan: None,
            notify: None,
            timeout: s.timeout,
            retries: s.retries,
            retry_backoff: s.retry_backoff,
            on_failure: s.on_failure,
        };
        match s.kind {
            StepKind::Operation(o) => d.operation = Some(o),
            StepKind::Wait(w) => d.wait = Some(w),
            StepKind::Approval(a) => d.approval = Some(a),
            StepKind::Check(c) => d.check = Some(*c),
            StepKind::Batches(b) => d.batches = Some(b),
            StepKind::Plan(p) => d.plan = Some(p),
            StepKind::Notify(n) => d.notify = Some(n),
        }
        d
    }
}

/// An atomic operation from the catalog, with its parameters (templates).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationStep {
    /// The operation's code (`db.promote-standby`).
    pub code: String,
    /// A pinned version; none: the latest published version when the plan is saved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, Value>,
    /// A target group: the operation runs once for each member, in parallel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalStep {
    /// Roles whose members may approve (at least one); never the person who started the run.
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub instructions: String,
    /// Unanswered this long: the approval is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Duration>,
}

/// A gate: the check must pass; it is tried again every `retry_interval` until the step's
/// timeout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckStep {
    pub gate: Check,
    #[serde(default = "default_retry_interval")]
    pub retry_interval: Duration,
    /// A target group: the gate must pass for every member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<String>,
}

fn default_retry_interval() -> Duration {
    Duration(5000)
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchPause {
    #[default]
    #[serde(alias = "none")]
    Never,
    /// Wait for the operator after the first batch (a canary).
    AfterFirst,
    /// Wait for the operator after every batch but the last.
    #[serde(alias = "after_every")]
    EveryBatch,
}

/// An operation over a target group, `size` members at a time (the switch plans, 开关预案).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchesStep {
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, Value>,
    pub targets: String,
    pub size: usize,
    #[serde(default)]
    pub pause: BatchPause,
}

/// Another plan run as this step (one level: that plan has no `plan` step).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubPlanStep {
    pub name: String,
    /// A pinned version; none: its latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// Its parameters (templates).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyStep {
    /// Notification channels of the inspection center, by name.
    pub channels: Vec<String>,
    /// A template.
    pub message: String,
}

/// Where a step is in its plan: `stages[1].steps[0]`.
pub fn step_path(stage: usize, step: usize) -> String {
    format!("stages[{stage}].steps[{step}]")
}

impl PlanDocument {
    /// Reads YAML (JSON is YAML too); errors name the field and the line.
    pub fn from_yaml(text: &str) -> Result<Self, ApiError> {
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(ApiError::new(
                crate::ErrorCode::PayloadTooLarge,
                format!("a plan is at most {MAX_DOCUMENT_BYTES} bytes"),
            ));
        }
        crate::extract::parse_yaml(text)
    }

    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).unwrap_or_default()
    }

    pub fn steps(&self) -> impl Iterator<Item = (String, &Step)> {
        self.stages.iter().enumerate().flat_map(|(i, stage)| {
            stage
                .steps
                .iter()
                .enumerate()
                .map(move |(j, s)| (step_path(i, j), s))
        })
    }

    /// Every notification channel the plan names: its own `notify` and its `notify` steps.
    pub fn channels(&self) -> impl Iterator<Item = &str> {
        let own = self.notify.iter().flat_map(|n| n.channels.iter());
        let steps = self
            .stages
            .iter()
            .flat_map(|s| s.steps.iter())
            .filter_map(|s| match &s.kind {
                StepKind::Notify(n) => Some(n.channels.iter()),
                _ => None,
            })
            .flatten();
        own.chain(steps).map(String::as_str)
    }

    pub fn group(&self, name: &str) -> Option<&TargetGroup> {
        self.targets.iter().find(|g| g.name == name)
    }

    /// Everything the document alone can tell; errors name the field.
    pub fn validate(&self) -> Result<(), ApiError> {
        validate_name(&self.name, "name")?;
        validate_text(&self.description, "description")?;
        if let Some(d) = self.rto_objective {
            within(d, MAX_LONG_MS, "rto_objective")?;
        }
        self.validate_parameters()?;
        self.validate_targets()?;
        self.triggers.validate()?;
        if let Some(n) = &self.notify {
            let some = "name at least one channel";
            names_listed(&n.channels, "notify.channels", some)?;
            if n.on.is_empty() {
                return Err(ApiError::invalid(
                    "notify.on",
                    "name at least one of start, approval, failure, end (or leave it out: all)",
                ));
            }
        }
        count(self.stages.len(), 1, MAX_STAGES, "stages", "stages")?;
        let mut names: Vec<&str> = Vec::new();
        for (i, stage) in self.stages.iter().enumerate() {
            let at = format!("stages[{i}]");
            validate_name(&stage.name, &format!("{at}.name"))?;
            if stage.steps.is_empty() {
                return Err(ApiError::invalid(
                    format!("{at}.steps"),
                    "list 1 step or more",
                ));
            }
            if let Some(n) = stage.max_parallelism
                && (n == 0 || n > MAX_PARALLELISM)
            {
                return Err(ApiError::invalid(
                    format!("{at}.max_parallelism"),
                    format!("must be between 1 and {MAX_PARALLELISM}"),
                ));
            }
            for (j, step) in stage.steps.iter().enumerate() {
                let at = step_path(i, j);
                if names.contains(&step.name.as_str()) {
                    return Err(ApiError::invalid(
                        format!("{at}.name"),
                        format!("`{}` names another step too", step.name),
                    ));
                }
                names.push(&step.name);
                if names.len() > MAX_STEPS {
                    return Err(ApiError::invalid(at, format!("at most {MAX_STEPS} steps")));
                }
                self.validate_step(step, &at)?;
            }
        }
        Ok(())
    }

    fn validate_parameters(&self) -> Result<(), ApiError> {
        count(
            self.parameters.len(),
            0,
            MAX_PARAMETERS,
            "parameters",
            "parameters",
        )?;
        for (i, p) in self.parameters.iter().enumerate() {
            let at = format!("parameters[{i}]");
            p.validate(&at)?;
            listed_once(&self.parameters[..i], &p.name, &at, |o| &o.name)?;
        }
        Ok(())
    }

    fn validate_targets(&self) -> Result<(), ApiError> {
        count(self.targets.len(), 0, MAX_GROUPS, "targets", "groups")?;
        for (i, g) in self.targets.iter().enumerate() {
            let at = format!("targets[{i}]");
            validate_name(&g.name, &format!("{at}.name"))?;
            listed_once(&self.targets[..i], &g.name, &at, |o| &o.name)?;
            vars(&g.vars, &format!("{at}.vars"))?;
            let members = format!("{at}.members");
            count(g.members.len(), 1, MAX_MEMBERS, &members, "members")?;
            for (j, m) in g.members.iter().enumerate() {
                let at = format!("{at}.members[{j}]");
                validate_name(&m.name, &format!("{at}.name"))?;
                listed_once(&g.members[..j], &m.name, &at, |o| &o.name)?;
                vars(&m.vars, &format!("{at}.vars"))?;
            }
        }
        Ok(())
    }

    fn validate_step(&self, step: &Step, at: &str) -> Result<(), ApiError> {
        validate_name(&step.name, &format!("{at}.name"))?;
        if let Some(t) = step.timeout {
            within(t, MAX_STEP_MS, &format!("{at}.timeout"))?;
        }
        if step.retries > MAX_RETRIES {
            return Err(ApiError::invalid(
                format!("{at}.retries"),
                format!("at most {MAX_RETRIES}"),
            ));
        }
        if let Some(b) = step.retry_backoff {
            within(b, MAX_STEP_MS, &format!("{at}.retry_backoff"))?;
        }
        let kind = format!("{at}.{}", step.kind.as_str());
        let names = self.variables_of(step, &kind)?;
        match &step.kind {
            StepKind::Operation(o) => {
                validate_code(&o.code, &format!("{kind}.code"))?;
                version(o.version, &format!("{kind}.version"))?;
                params(&o.params, &names, &format!("{kind}.params"))
            }
            StepKind::Wait(d) => within(*d, MAX_STEP_MS, &kind),
            StepKind::Approval(a) => {
                let roles = format!("{kind}.roles");
                let some = "name at least one role whose members may approve";
                names_listed(&a.roles, &roles, some)?;
                validate_text(&a.instructions, &format!("{kind}.instructions"))?;
                match a.expires {
                    Some(d) => within(d, MAX_LONG_MS, &format!("{kind}.expires")),
                    None => Ok(()),
                }
            }
            StepKind::Check(c) => {
                let gate = serde_json::to_value(&c.gate).unwrap_or_default();
                let prefix = format!("{kind}.gate.");
                // A templated field is judged once rendered, for each target (by acmangkut).
                if let Err(e) = c.gate.validate(&prefix) {
                    let path = e.field.as_deref().and_then(|f| f.strip_prefix(&prefix));
                    let value = path.and_then(|p| template::value_at(&gate, p));
                    if !value.is_some_and(|v| v.as_str().is_some_and(|s| s.contains("{{"))) {
                        return Err(e);
                    }
                }
                within(
                    c.retry_interval,
                    MAX_STEP_MS,
                    &format!("{kind}.retry_interval"),
                )?;
                templates(&gate, &names, &format!("{kind}.gate"))
            }
            StepKind::Batches(b) => {
                validate_code(&b.code, &format!("{kind}.code"))?;
                version(b.version, &format!("{kind}.version"))?;
                if b.size == 0 || b.size > MAX_MEMBERS {
                    return Err(ApiError::invalid(
                        format!("{kind}.size"),
                        format!("must be between 1 and {MAX_MEMBERS}"),
                    ));
                }
                params(&b.params, &names, &format!("{kind}.params"))
            }
            StepKind::Plan(p) => {
                validate_name(&p.name, &format!("{kind}.name"))?;
                if p.name == self.name {
                    return Err(ApiError::invalid(
                        format!("{kind}.name"),
                        "a plan cannot run itself",
                    ));
                }
                version(p.version, &format!("{kind}.version"))?;
                params(&p.params, &names, &format!("{kind}.params"))
            }
            StepKind::Notify(n) => {
                let channels = format!("{kind}.channels");
                names_listed(&n.channels, &channels, "name at least one channel")?;
                validate_text(&n.message, &format!("{kind}.message"))?;
                templates(
                    &Value::String(n.message.clone()),
                    &names,
                    &format!("{kind}.message"),
                )
            }
        }
    }

    /// The target group a step runs over, if any.
    pub fn step_group<'a>(&self, step: &'a Step) -> Option<&'a str> {
        match &step.kind {
            StepKind::Operation(o) => o.targets.as_deref(),
            StepKind::Check(c) => c.targets.as_deref(),
            StepKind::Batches(b) => Some(&b.targets),
            _ => None,
        }
    }

    /// The variables a step's templates may use (`secret.*` aside); `kind` is the step's
    /// kind's field path, where an unknown group is blamed.
    fn variables_of(&self, step: &Step, kind: &str) -> Result<BTreeSet<String>, ApiError> {
        let mut names: BTreeSet<String> = self
            .parameters
            .iter()
            .map(|p| format!("params.{}", p.name))
            .collect();
        if let Some(g) = self.step_group(step) {
            let group = self.group(g).ok_or_else(|| {
                ApiError::invalid(
                    format!("{kind}.targets"),
                    format!(
                        "no target group named `{g}` (defined: {})",
                        list(self.targets.iter().map(|g| g.name.as_str()))
                    ),
                )
            })?;
            names.extend(group.common_variables());
        }
        Ok(names)
    }

    /// The parameters' values: `given` checked against their types, defaults filled in;
    /// errors name `params.NAME`.
    pub fn parameter_values(
        &self,
        given: &serde_json::Map<String, Value>,
    ) -> Result<BTreeMap<String, Value>, ApiError> {
        if let Some(k) = given
            .keys()
            .find(|k| !self.parameters.iter().any(|p| &p.name == *k))
        {
            return Err(ApiError::invalid(
                format!("params.{k}"),
                format!("the plan has no parameter `{k}`"),
            ));
        }
        crate::operation::check_values(&self.parameters, given, "params.")
    }

    /// Template variables for a step: the parameters (`params.NAME`; an optional one
    /// without value is empty), then the member's.
    pub fn variables(
        &self,
        values: &BTreeMap<String, Value>,
        member: Option<(&TargetGroup, &Target)>,
    ) -> BTreeMap<String, String> {
        let mut out: BTreeMap<String, String> =
            crate::operation::template_vars(&self.parameters, values)
                .into_iter()
                .map(|(k, v)| (format!("params.{k}"), v))
                .collect();
        if let Some((g, m)) = member {
            out.extend(g.variables(m));
        }
        out
    }
}

/// Renders every string of `value` with `vars`, leaving `{{ secret.NAME }}` for the executor;
/// an error names `{field}.path` and the variable.
pub fn render(
    value: &Value,
    vars: &BTreeMap<String, String>,
    field: &str,
) -> Result<Value, ApiError> {
    let mut vars = vars.clone();
    let used = template::json_variables(value).map_err(|(p, e)| template_error(field, &p, &e))?;
    for n in used.into_iter().filter(|n| n.starts_with("secret.")) {
        vars.insert(n.clone(), format!("{{{{ {n} }}}}"));
    }
    template::render_json(value, &vars).map_err(|(p, e)| template_error(field, &p, &e))
}

fn template_error(field: &str, path: &str, e: &TemplateError) -> ApiError {
    let at = match path {
        "" => field.to_string(),
        p if p.starts_with('[') => format!("{field}{p}"),
        p => format!("{field}.{p}"),
    };
    let detail = match e {
        TemplateError::Unknown { name } => format!(
            "`{{{{ {name} }}}}` names no parameter (params.NAME) or variable of the step's \
             target group"
        ),
        other => other.to_string(),
    };
    ApiError::invalid(at, detail)
}

/// Every template in `value` names a variable in `names` (or a secret).
pub(crate) fn templates(
    value: &Value,
    names: &BTreeSet<String>,
    field: &str,
) -> Result<(), ApiError> {
    let stand_ins = names.iter().map(|n| (n.clone(), String::new())).collect();
    render(value, &stand_ins, field).map(drop)
}

fn params(
    p: &serde_json::Map<String, Value>,
    names: &BTreeSet<String>,
    field: &str,
) -> Result<(), ApiError> {
    templates(&Value::Object(p.clone()), names, field)
}

pub(crate) fn version(v: Option<i32>, field: &str) -> Result<(), ApiError> {
    match v {
        Some(n) if n < 1 => Err(ApiError::invalid(field, "versions start at 1")),
        _ => Ok(()),
    }
}

pub(crate) fn vars(v: &BTreeMap<String, String>, field: &str) -> Result<(), ApiError> {
    for (k, val) in v {
        let reserved = ["target", "group"].contains(&k.as_str()) || k.starts_with("params.");
        if reserved || !template::valid_name(k) {
            return Err(ApiError::invalid(
                format!("{field}.{k}"),
                "variable names are 1-64 characters of a-z, A-Z, 0-9, '_', '-', '.' (not \
                 `target`, `group` or `params.…`)",
            ));
        }
        if val.len() > 2048 {
            return Err(ApiError::invalid(
                format!("{field}.{k}"),
                "values are at most 2048 bytes",
            ));
        }
    }
    Ok(())
}

/// Fails, naming `field`, unless `len` is between `min` (0 or 1) and `max`; the message says
/// "list 1 to {max} {what}" or "at most {max} {what}".
pub(crate) fn count(
    len: usize,
    min: usize,
    max: usize,
    field: &str,
    what: &str,
) -> Result<(), ApiError> {
    if len < min || len > max {
        let message = if min == 0 {
            format!("at most {max} {what}")
        } else {
            format!("list {min} to {max} {what}")
        };
        return Err(ApiError::invalid(field, message));
    }
    Ok(())
}

/// Fails unless `names` has one name or more (else `empty` is the message), each valid
/// (naming `{field}[i]`).
fn names_listed(names: &[String], field: &str, empty: &str) -> Result<(), ApiError> {
    if names.is_empty() {
        return Err(ApiError::invalid(field, empty));
    }
    for (i, n) in names.iter().enumerate() {
        validate_name(n, &format!("{field}[{i}]"))?;
    }
    Ok(())
}

/// Fails, naming `{at}.name`, when one of the `earlier` items already has `name`.
pub(crate) fn listed_once<T>(
    earlier: &[T],
    name: &str,
    at: &str,
    name_of: impl Fn(&T) -> &str,
) -> Result<(), ApiError> {
    if earlier.iter().any(|o| name_of(o) == name) {
        return Err(ApiError::invalid(
            format!("{at}.name"),
            format!("`{name}` is listed twice"),
        ));
    }
    Ok(())
}

fn list<'a>(names: impl Iterator<Item = &'a str>) -> String {
    let v: Vec<&str> = names.collect();
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// A plan as the API shows it: its latest version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Plan {
    pub id: i64,
    /// Starts at 1; every save adds one.
    pub version: i32,
    pub document: PlanDocument,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// A plan in the list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanSummary {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub version: i32,
    pub stages: usize,
    pub steps: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_objective: Option<Duration>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// One saved version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanVersion {
    pub plan_id: i64,
    pub version: i32,
    pub document: PlanDocument,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiffTag {
    Equal,
    Delete,
    Insert,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DiffLine {
    pub tag: DiffTag,
    /// Line numbers in the old and the new YAML (1-based), where the line is in them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<usize>,
    pub text: String,
}

/// Two versions' YAML compared line by line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanDiff {
    pub plan_id: i64,
    pub from: i32,
    pub to: i32,
    /// The unified diff (`---`/`+++` headers, `@@` hunks, 3 lines of context).
    pub unified: String,
    /// Every line of both, in order.
    pub lines: Vec<DiffLine>,
}

/// One thing evaluation found wrong, at its field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Finding {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub detail: String,
}

/// What evaluation found: nothing (`ok`), or each problem at its field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Evaluation {
    pub ok: bool,
    pub problems: Vec<Finding>,
    /// The operation versions the plan's steps run (what a saved version pins).
    pub operations: Vec<OperationPin>,
}

#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
pub struct OperationPin {
    pub code: String,
    pub version: i32,
}

/// Ask for a preview (a dry run: nothing is called).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// Parameter values; the defaults fill in the rest.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: serde_json::Map<String, Value>,
    /// A saved version; none: the latest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
    /// Also run the check steps' gates that only read (probe, PromQL, SQL in a read-only
    /// transaction); the others are listed as not run. Nothing else is called.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub run_checks: bool,
}

/// What one step would do, with every template rendered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PreviewStep {
    /// `stages[1].steps[0]`.
    pub field: String,
    pub name: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    pub retries: u32,
    pub on_failure: OnFailure,
    /// What the step does besides calls (`wait 30s`, `approval by dba`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    pub calls: Vec<PreviewCall>,
}

/// One call a step would make: for an operation, its action rendered (method + URL, or host +
/// argv); for a gate, the check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PreviewCall {
    /// The target group member it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// `batches`: which batch (1-based).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<usize>,
    /// `code@version`, or the sub-plan's `name@version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    /// The parameters, rendered.
    #[schema(value_type = Object)]
    pub params: Value,
    /// `POST https://…`, `db2: pg_ctl promote`, `sql[standby] select …`.
    pub call: String,
    /// The rendered action or check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub spec: Option<Value>,
    /// An operation's `undo`, rendered: what a rollback would run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub undo: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PreviewStage {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallelism: Option<usize>,
    pub steps: Vec<PreviewStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Preview {
    pub plan_id: i64,
    pub name: String,
    pub version: i32,
    #[schema(value_type = Object)]
    pub params: BTreeMap<String, Value>,
    pub stages: Vec<PreviewStage>,
    /// With `run_checks`: each check step's gate, for each target, run or not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<GateRun>,
}

/// A check step's gate run (or not) for a preview.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GateRun {
    /// The step (`stages[0].steps[1]`).
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// What the gate checks (`sql[standby] select …`).
    pub call: String,
    /// `false`: the gate may change something (a command), so it was not run.
    pub ran: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<crate::check::CheckOutcome>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

#[cfg(test)]
mod tests;
