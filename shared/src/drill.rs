//! Fault drills (故障演练) as documents and the views of their runs.
//!
//! A drill names its targets (each with template variables), how many of them one run hits
//! (the [`BlastRadius`], always the first ones in the order listed, so what a preview shows is
//! what a start picks), the steady-state checks that must hold before anything is injected and
//! after everything is recovered, the stop conditions evaluated while faults are in place, and
//! its faults: published `kind: fault` operations (inject = `do`, recover = `undo`) with
//! parameters. Parameter values are templates over the target's variables (`{{ target }}`,
//! `{{ port }}`); `fault_id` and `max_duration` are set by the run, never by the document.
//!
//! [`DrillDocument::validate`] checks what needs nothing but the document; acmangkut checks the
//! rest (the operations exist, are published faults, take these parameters; the maximum
//! duration is within `drills.max_fault_duration`).

use crate::check::{Check, CheckOutcome};
use crate::inspection::{Target, validate_name, validate_text};
use crate::operation::validate_code;
use crate::plan::{Duration, count, listed_once, templates, vars, version, within};
use crate::problem::ApiError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

pub const MAX_TARGETS: usize = 1000;
pub const MAX_CHECKS: usize = 32;
pub const MAX_FAULTS: usize = 16;
/// The longest any fault may stay injected, whatever the config says: a day.
pub const MAX_FAULT_MS: u64 = 24 * 3_600_000;
/// Stop conditions are evaluated at most this often.
pub const MIN_INTERVAL_MS: u64 = 100;
/// Parameters every fault operation takes that a run sets itself.
pub const RUN_PARAMETERS: [&str; 2] = ["fault_id", "max_duration"];

/// A drill as its author writes it; stored as one version per save.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DrillDocument {
    /// 1-100 characters, no control characters, no spaces at either end; unique.
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Hosts or URLs, each with its variables (`{{ target }}` is the name).
    pub targets: Vec<Target>,
    #[serde(default)]
    pub blast_radius: BlastRadius,
    /// Must all pass before injecting (else nothing is injected) and after recovering.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steady_state: Vec<Check>,
    #[serde(default, skip_serializing_if = "StopConditions::is_empty")]
    pub stop_conditions: StopConditions,
    /// Injected into every selected target, in order; recovered in reverse order.
    pub faults: Vec<Fault>,
    /// How long the faults stay in place once injected (at most each fault's max duration).
    pub observe: Duration,
    /// A disaster-recovery plan by name, for game days (stored; run by a later version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

/// How many of the targets one run hits: the first ones, in the order listed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BlastRadius {
    One,
    #[default]
    All,
    /// This many (at most the number of targets).
    Fixed(u32),
    /// This share of them, rounded up (1-100).
    Percent(u32),
}

/// Read by hand: serde_yaml takes an enum's data variant only as a YAML tag (`!fixed 2`),
/// where people write the map `{fixed: 2}` as in JSON; both documents read the same.
impl<'de> Deserialize<'de> for BlastRadius {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Word {
            One,
            All,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(Word),
            Map(std::collections::BTreeMap<String, u32>),
        }
        let bad = || {
            serde::de::Error::custom(
                "expected `one`, `all`, `{fixed: n}` or `{percent: n}` (n a whole number)",
            )
        };
        match Raw::deserialize(d).map_err(|_| bad())? {
            Raw::Word(Word::One) => Ok(Self::One),
            Raw::Word(Word::All) => Ok(Self::All),
            Raw::Map(m) if m.len() == 1 => match m.into_iter().next().ok_or_else(bad)? {
                (k, n) if k == "fixed" => Ok(Self::Fixed(n)),
                (k, n) if k == "percent" => Ok(Self::Percent(n)),
                _ => Err(bad()),
            },
            Raw::Map(_) => Err(bad()),
        }
    }
}

impl BlastRadius {
    /// How many of `targets` are hit.
    pub fn count(self, targets: usize) -> usize {
        let n = match self {
            Self::One => 1,
            Self::All => targets,
            Self::Fixed(n) => usize::try_from(n).unwrap_or(usize::MAX),
            Self::Percent(p) => {
                let p = usize::try_from(p).unwrap_or(100);
                targets.saturating_mul(p).div_ceil(100)
            }
        };
        n.min(targets)
    }

    fn validate(self, targets: usize, field: &str) -> Result<(), ApiError> {
        match self {
            Self::Fixed(n) if n == 0 || usize::try_from(n).unwrap_or(usize::MAX) > targets => {
                Err(ApiError::invalid(
                    format!("{field}.fixed"),
                    format!("must be between 1 and the number of targets ({targets})"),
                ))
            }
            Self::Percent(p) if p == 0 || p > 100 => Err(ApiError::invalid(
                format!("{field}.percent"),
                "must be between 1 and 100",
            )),
            _ => Ok(()),
        }
    }
}

/// Checks evaluated every `interval` while faults are in place; the first that does not pass
/// stops the drill and recovers every target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StopConditions {
    #[serde(default)]
    pub checks: Vec<Check>,
    #[serde(default = "one_second")]
    pub interval: Duration,
}

fn one_second() -> Duration {
    Duration::from_millis(1000)
}

impl Default for StopConditions {
    fn default() -> Self {
        Self {
            checks: Vec::new(),
            interval: one_second(),
        }
    }
}

impl StopConditions {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One fault: a `kind: fault` operation and its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// The operation's code (`fault.http.switch`).
    pub operation: String,
    /// The operation version (default: its latest, pinned when the drill is saved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub version: Option<i32>,
    /// Values of the operation's parameters; strings are templates over target variables.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub parameters: Map<String, Value>,
    /// The fault ends by itself after this (the guard on the target; `max_duration`).
    pub max_duration: Duration,
}

impl DrillDocument {
    pub fn validate(&self) -> Result<(), ApiError> {
        validate_name(&self.name, "name")?;
        validate_text(&self.description, "description")?;
        count(self.targets.len(), 1, MAX_TARGETS, "targets", "targets")?;
        for (i, t) in self.targets.iter().enumerate() {
            let at = format!("targets[{i}]");
            validate_name(&t.name, &format!("{at}.name"))?;
            listed_once(&self.targets[..i], &t.name, &at, |o| &o.name)?;
            vars(&t.vars, &format!("{at}.vars"))?;
        }
        self.blast_radius
            .validate(self.targets.len(), "blast_radius")?;
        checks(&self.steady_state, "steady_state")?;
        checks(&self.stop_conditions.checks, "stop_conditions.checks")?;
        let interval = self.stop_conditions.interval;
        if interval.as_millis() < MIN_INTERVAL_MS {
            return Err(ApiError::invalid(
                "stop_conditions.interval",
                format!("must be at least {MIN_INTERVAL_MS}ms"),
            ));
        }
        within(interval, 3_600_000, "stop_conditions.interval")?;
        within(self.observe, MAX_FAULT_MS, "observe")?;
        count(self.faults.len(), 1, MAX_FAULTS, "faults", "faults")?;
        let names = self.common_variables();
        for (i, f) in self.faults.iter().enumerate() {
            let at = format!("faults[{i}]");
            validate_code(&f.operation, &format!("{at}.operation"))?;
            version(f.version, &format!("{at}.version"))?;
            within(f.max_duration, MAX_FAULT_MS, &format!("{at}.max_duration"))?;
            if f.max_duration < self.observe {
                return Err(ApiError::invalid(
                    format!("{at}.max_duration"),
                    format!(
                        "must be at least `observe` ({}): the fault would end before the drill",
                        self.observe
                    ),
                ));
            }
            if let Some(p) = RUN_PARAMETERS
                .iter()
                .find(|p| f.parameters.contains_key(**p))
            {
                return Err(ApiError::invalid(
                    format!("{at}.parameters.{p}"),
                    "is set by the run (one per run and target; max_duration from the fault)",
                ));
            }
            templates(
                &Value::Object(f.parameters.clone()),
                &names,
                &format!("{at}.parameters"),
            )?;
        }
        if let Some(plan) = &self.plan {
            validate_name(plan, "plan")?;
        }
        Ok(())
    }

    /// Variables every target defines (`target` and the ones all of them set).
    fn common_variables(&self) -> BTreeSet<String> {
        let mut each = self.targets.iter().map(Target::variables);
        let first: BTreeSet<String> = each
            .next()
            .map(|v| v.into_keys().collect())
            .unwrap_or_default();
        each.fold(first, |acc, v| {
            acc.into_iter().filter(|k| v.contains_key(k)).collect()
        })
    }

    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).unwrap_or_default()
    }

    /// The targets one run hits, in order.
    pub fn selected(&self) -> &[Target] {
        &self.targets[..self.blast_radius.count(self.targets.len())]
    }

    /// The longest `max_duration` of the faults, in ms.
    pub fn max_fault_ms(&self) -> u64 {
        self.faults
            .iter()
            .map(|f| f.max_duration.as_millis())
            .max()
            .unwrap_or(0)
    }
}

fn checks(list: &[Check], field: &str) -> Result<(), ApiError> {
    count(list.len(), 0, MAX_CHECKS, field, "checks")?;
    for (i, c) in list.iter().enumerate() {
        c.validate(&format!("{field}[{i}]."))?;
    }
    Ok(())
}

/// The id of one injection on its host: `drill-<run>-<target>`, cut to what the fault
/// scripts accept (a-z, 0-9, `-`, `_`; the target's other characters become `_`).
pub fn fault_id(run: i64, target: &str) -> String {
    let clean: String = target
        .chars()
        .take(64)
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '_' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .collect();
    format!("drill-{run}-{clean}")
}

/// A saved drill: its latest version.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Drill {
    pub id: i64,
    pub version: i32,
    pub document: DrillDocument,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DrillSummary {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub version: i32,
    pub targets: usize,
    pub faults: usize,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DrillVersion {
    pub drill_id: i64,
    pub version: i32,
    pub document: DrillDocument,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

/// FIS's run states: `pending → initiating → running → stopping → completed | stopped |
/// failed`, or `cancelled` before anything was injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Created; no replica has taken it up yet.
    Pending,
    /// Prepare: the steady state is being verified.
    Initiating,
    /// Injecting and observing.
    Running,
    /// Every target's desired phase is `recovered`; recovering and verifying.
    Stopping,
    /// Observed to the end, recovered, the steady state held again.
    Completed,
    /// A stop condition, an operator or the safety lever stopped it; recovered.
    Stopped,
    /// The steady state did not hold, an injection failed, a timeout, an interruption.
    Failed,
    /// Stopped before anything was injected.
    Cancelled,
}

impl RunState {
    pub const ALL: [RunState; 8] = [
        Self::Pending,
        Self::Initiating,
        Self::Running,
        Self::Stopping,
        Self::Completed,
        Self::Stopped,
        Self::Failed,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Initiating => "initiating",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Completed => "completed",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn ended(self) -> bool {
        matches!(
            self,
            Self::Completed | Self::Stopped | Self::Failed | Self::Cancelled
        )
    }
}

/// Where a run is: prepare, inject, observe, recover, verify, then done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Prepare,
    Inject,
    Observe,
    Recover,
    Verify,
    Done,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Self::Prepare,
        Self::Inject,
        Self::Observe,
        Self::Recover,
        Self::Verify,
        Self::Done,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prepare => "prepare",
            Self::Inject => "inject",
            Self::Observe => "observe",
            Self::Recover => "recover",
            Self::Verify => "verify",
            Self::Done => "done",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A target's phase: desired is `injected` or `recovered`; observed may also be `unknown`
/// (an injection that did not finish as expected: recovered, since recovery is idempotent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Injected,
    Recovered,
    Unknown,
}

impl Phase {
    pub const ALL: [Phase; 3] = [Self::Injected, Self::Recovered, Self::Unknown];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Injected => "injected",
            Self::Recovered => "recovered",
            Self::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// `POST /api/v1/drills/{id}/runs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    /// A saved version (default: the latest).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub version: Option<i32>,
    /// Select the targets, render the faults and verify the steady state; inject nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// A comment for an operator's action (stop, force-cleanup).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Comment {
    #[serde(default)]
    pub comment: String,
}

/// `POST /api/v1/drills/lever`: pull (`engaged: true`) or release the safety lever.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeverChange {
    pub engaged: bool,
    #[serde(default)]
    pub comment: String,
}

/// The safety lever: while engaged, every running drill is stopped and none may start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Lever {
    pub engaged: bool,
    #[serde(default)]
    pub changed_by: String,
    #[serde(default)]
    pub changed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub comment: String,
}

/// The lever after a change, and the runs pulling it stopped.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LeverChanged {
    pub lever: Lever,
    pub stopped: Vec<i64>,
}

/// What a run would do: the selected targets with their rendered faults, and the steady
/// state now.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Preview {
    pub drill_id: i64,
    pub version: i32,
    pub selected: Vec<PreviewTarget>,
    /// Targets the blast radius leaves out.
    pub not_selected: Vec<String>,
    pub steady_state: Vec<CheckResult>,
    /// Every steady-state check passed: a run would inject.
    pub steady_state_holds: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PreviewTarget {
    pub target: String,
    pub fault_id: String,
    /// Per fault, what its injection and its recovery would call.
    pub faults: Vec<RenderedFault>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RenderedFault {
    pub operation: String,
    pub version: i32,
    pub inject: String,
    pub recover: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckResult {
    pub subject: String,
    pub outcome: CheckOutcome,
}

/// One target's record in a run.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TargetRecord {
    pub target: String,
    pub fault_id: String,
    pub desired: Phase,
    pub observed: Phase,
    pub injects: i32,
    pub recovers: i32,
    #[schema(value_type = Object)]
    pub vars: BTreeMap<String, String>,
    pub updated_at: DateTime<Utc>,
}

/// What happened in a run, oldest first: stage changes, injections, recoveries, checks.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunEvent {
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    pub what: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub evidence: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunSummary {
    pub id: i64,
    pub drill_id: i64,
    pub drill: String,
    pub version: i32,
    pub state: RunState,
    pub stage: Stage,
    pub reason: String,
    pub started_by: String,
    pub created_at: DateTime<Utc>,
    pub injected_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunView {
    #[serde(flatten)]
    pub summary: RunSummary,
    pub targets: Vec<TargetRecord>,
    pub events: Vec<RunEvent>,
}

#[cfg(test)]
mod tests;
