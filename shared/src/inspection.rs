//! API types of the inspection center (巡检中心): plugins, rules, tasks, runs and their reports,
//! risk events and notification channels. Objects refer to each other by name, so the same
//! definitions apply to any installation (config as code).

use crate::check::{CheckStatus, PluginKind};
use crate::monitor::valid_label_key;
use crate::problem::ApiError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub const MAX_NAME_LEN: usize = 100;
pub const MAX_TEXT_LEN: usize = 4000;
pub const MAX_TASK_RULES: usize = 1000;
pub const MAX_TARGETS: usize = 1000;
/// rules × targets of one task
pub const MAX_TASK_CHECKS: usize = 20_000;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    High,
    Medium,
    Low,
}

impl Level {
    pub const ALL: [Level; 3] = [Self::High, Self::Medium, Self::Low];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Medium => "medium",
            Self::Low => "low",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// Weight in the score: a high finding counts five low ones.
    pub fn weight(self) -> f64 {
        match self {
            Self::High => 5.0,
            Self::Medium => 3.0,
            Self::Low => 1.0,
        }
    }

    /// `self` is at least as severe as `min`.
    pub fn at_least(self, min: Level) -> bool {
        self <= min
    }
}

/// [`validate_name`] as a JSON Schema `pattern` (with `maxLength` [`MAX_NAME_LEN`]), for the
/// OpenAPI document: no control character, no white space at either end.
pub const NAME_PATTERN: &str = concat!(
    r"^[^\s\x00-\x1f\x7f-\x9f]",
    r"([^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f])?$"
);

/// Names: 1-100 characters, no control characters, not blank.
pub fn validate_name(name: &str, field: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(ApiError::invalid(
            field,
            format!("must be 1 to {MAX_NAME_LEN} characters"),
        ));
    }
    if name.chars().any(char::is_control) || name.trim() != name {
        return Err(ApiError::invalid(
            field,
            "must not contain control characters or start or end with spaces",
        ));
    }
    Ok(())
}

/// Fails, naming `field`, when `text` is longer than [`MAX_TEXT_LEN`] characters.
pub(crate) fn validate_text(text: &str, field: &str) -> Result<(), ApiError> {
    if text.chars().count() > MAX_TEXT_LEN {
        return Err(ApiError::invalid(
            field,
            format!("must be at most {MAX_TEXT_LEN} characters"),
        ));
    }
    Ok(())
}

fn validate_labels(labels: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if labels.len() > 32 {
        return Err(ApiError::invalid("labels", "at most 32 labels"));
    }
    for (k, v) in labels {
        if !valid_label_key(k) {
            return Err(ApiError::invalid(
                format!("labels.{k}"),
                "label keys are 1-63 characters of a-z, 0-9, '-', '_', '.', '/'",
            ));
        }
        if v.len() > 255 {
            return Err(ApiError::invalid(
                format!("labels.{k}"),
                "label values are at most 255 bytes",
            ));
        }
    }
    Ok(())
}

/// A plugin: a kind of check with default parameters. The built-in ones (one per kind) cannot
/// be changed or deleted; custom ones preset parameters for their rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginInput {
    /// 1-100 characters, no control characters, no spaces at either end ([`NAME_PATTERN`]).
    pub name: String,
    pub kind: PluginKind,
    #[serde(default)]
    pub description: String,
    /// Parameters rules start from (a rule's own parameters win, key by key).
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub defaults: Value,
}

pub fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

impl PluginInput {
    pub fn validate(&self) -> Result<(), ApiError> {
        validate_name(&self.name, "name")?;
        validate_text(&self.description, "description")?;
        if !self.defaults.is_object() {
            return Err(ApiError::invalid("defaults", "must be an object"));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Plugin {
    pub id: i64,
    pub name: String,
    pub kind: PluginKind,
    pub description: String,
    #[schema(value_type = Object)]
    pub defaults: Value,
    pub builtin: bool,
    /// JSON schema of the parameters rules of this plugin take.
    #[schema(value_type = Object)]
    pub schema: Value,
    /// Rules that use the plugin (it cannot be deleted while any do).
    pub rules: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A rule: a plugin with parameters (templated with `{{ var }}` from each target), a level, and a
/// governance suggestion telling the reader how to fix a finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    /// 1-100 characters, no control characters, no spaces at either end ([`NAME_PATTERN`]).
    pub name: String,
    /// The plugin's name.
    pub plugin: String,
    #[serde(default = "empty_object")]
    #[schema(value_type = Object)]
    pub params: Value,
    pub level: Level,
    #[serde(default)]
    pub suggestion: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl RuleInput {
    /// Field checks; the parameters are checked against the plugin by the caller.
    pub fn validate(&self) -> Result<(), ApiError> {
        validate_name(&self.name, "name")?;
        validate_name(&self.plugin, "plugin")?;
        validate_text(&self.suggestion, "suggestion")?;
        validate_text(&self.description, "description")?;
        if !self.params.is_object() {
            return Err(ApiError::invalid("params", "must be an object"));
        }
        validate_labels(&self.labels)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Rule {
    pub id: i64,
    #[serde(flatten)]
    pub input: RuleInput,
    pub plugin_kind: PluginKind,
    /// Starts at 1; every change that alters the rule adds one.
    pub version: i32,
    /// Tasks that run the rule (it cannot be deleted while any do).
    pub tasks: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A rule as it was at one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleVersion {
    pub rule_id: i64,
    pub version: i32,
    pub rule: RuleInput,
    pub created_at: DateTime<Utc>,
}

/// What a task inspects: a name and the variables its rules' templates use
/// (`{{ target }}` is the name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// 1-100 characters, no control characters, no spaces at either end ([`NAME_PATTERN`]).
    pub name: String,
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
}

impl Target {
    /// Template variables: `vars` plus `target` (the name).
    pub fn variables(&self) -> BTreeMap<String, String> {
        let mut v = self.vars.clone();
        v.insert("target".into(), self.name.clone());
        v
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NotifyWhen {
    /// Only when the run has failing findings at `min_level` or above.
    #[default]
    Failures,
    /// After every run.
    Always,
}

/// Send a task's reports to a channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyRule {
    /// The channel's name.
    pub channel: String,
    /// The least severe level that counts (default `high`).
    #[serde(default = "high")]
    pub min_level: Level,
    #[serde(default)]
    pub when: NotifyWhen,
}

fn high() -> Level {
    Level::High
}

fn default_timezone() -> String {
    "UTC".into()
}

fn default_timeout_seconds() -> u64 {
    600
}

fn default_concurrency() -> usize {
    8
}

fn yes() -> bool {
    true
}

pub const MAX_TASK_TIMEOUT_SECONDS: u64 = 24 * 3600;
pub const MAX_CONCURRENCY: usize = 256;

/// Rules × targets on a schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskInput {
    /// 1-100 characters, no control characters, no spaces at either end ([`NAME_PATTERN`]).
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Rule names, run in this order.
    pub rules: Vec<String>,
    /// Every rule runs against every target; none: every rule runs once, with only `{{ target }}`
    /// (empty) defined.
    #[serde(default)]
    pub targets: Vec<Target>,
    /// Cron expression, 5 fields (`0 8 * * *`) or 6 with seconds; none: on demand only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// IANA time zone of the schedule (`Asia/Shanghai`).
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// A run still going after this is stopped; checks not done are reported as errors.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
    /// Checks evaluated at once (probe checks also go to pageinspect in batches).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub notify: Vec<NotifyRule>,
}

impl TaskInput {
    /// Field checks; rules, channels and the schedule are resolved by the caller.
    pub fn validate(&self) -> Result<(), ApiError> {
        validate_name(&self.name, "name")?;
        validate_text(&self.description, "description")?;
        if self.rules.is_empty() || self.rules.len() > MAX_TASK_RULES {
            return Err(ApiError::invalid(
                "rules",
                format!("list 1 to {MAX_TASK_RULES} rule names"),
            ));
        }
        for (i, r) in self.rules.iter().enumerate() {
            validate_name(r, &format!("rules[{i}]"))?;
            if self.rules[..i].contains(r) {
                return Err(ApiError::invalid(
                    format!("rules[{i}]"),
                    format!("`{r}` is listed twice"),
                ));
            }
        }
        if self.targets.len() > MAX_TARGETS {
            return Err(ApiError::invalid(
                "targets",
                format!("at most {MAX_TARGETS} targets"),
            ));
        }
        if self.rules.len() * self.targets.len().max(1) > MAX_TASK_CHECKS {
            return Err(ApiError::invalid(
                "targets",
                format!("rules × targets must be at most {MAX_TASK_CHECKS}"),
            ));
        }
        for (i, t) in self.targets.iter().enumerate() {
            validate_name(&t.name, &format!("targets[{i}].name"))?;
            if self.targets[..i].iter().any(|o| o.name == t.name) {
                return Err(ApiError::invalid(
                    format!("targets[{i}].name"),
                    format!("`{}` is listed twice", t.name),
                ));
            }
            for (k, v) in &t.vars {
                if k == "target" || !crate::template::valid_name(k) {
                    return Err(ApiError::invalid(
                        format!("targets[{i}].vars.{k}"),
                        "variable names are 1-64 characters of a-z, A-Z, 0-9, '_', '-', '.' (and \
                        not `target`)",
                    ));
                }
                if v.len() > 2048 {
                    return Err(ApiError::invalid(
                        format!("targets[{i}].vars.{k}"),
                        "values are at most 2048 bytes",
                    ));
                }
            }
        }
        if self.timeout_seconds == 0 || self.timeout_seconds > MAX_TASK_TIMEOUT_SECONDS {
            return Err(ApiError::invalid(
                "timeout_seconds",
                format!("must be between 1 and {MAX_TASK_TIMEOUT_SECONDS}"),
            ));
        }
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return Err(ApiError::invalid(
                "concurrency",
                format!("must be between 1 and {MAX_CONCURRENCY}"),
            ));
        }
        for (i, n) in self.notify.iter().enumerate() {
            validate_name(&n.channel, &format!("notify[{i}].channel"))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Task {
    pub id: i64,
    #[serde(flatten)]
    pub input: TaskInput,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<Run>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Queued,
    Running,
    Completed,
    /// The task's timeout passed; checks not done are errors.
    TimedOut,
    /// The replica running it stopped (crash, power loss); findings so far are kept.
    Interrupted,
}

impl RunState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::TimedOut => "timed_out",
            Self::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Running,
            Self::Completed,
            Self::TimedOut,
            Self::Interrupted,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }

    pub fn finished(self) -> bool {
        matches!(self, Self::Completed | Self::TimedOut | Self::Interrupted)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Failing now, not in the previous run.
    New,
    /// Passing now, failing in the previous run.
    Fixed,
    StillFailing,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Fixed => "fixed",
            Self::StillFailing => "still_failing",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::New, Self::Fixed, Self::StillFailing]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LevelCounts {
    pub total: i64,
    pub passed: i64,
    pub failed: i64,
    pub errors: i64,
}

/// A queued or running run has none yet: its stored summary is `{}`, which reads as all zeros.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct RunSummary {
    pub high: LevelCounts,
    pub medium: LevelCounts,
    pub low: LevelCounts,
    pub new: i64,
    pub fixed: i64,
    pub still_failing: i64,
}

impl RunSummary {
    pub fn level_mut(&mut self, l: Level) -> &mut LevelCounts {
        match l {
            Level::High => &mut self.high,
            Level::Medium => &mut self.medium,
            Level::Low => &mut self.low,
        }
    }

    pub fn level(&self, l: Level) -> LevelCounts {
        match l {
            Level::High => self.high,
            Level::Medium => self.medium,
            Level::Low => self.low,
        }
    }

    /// 0-100: the weighted share of checks that passed (errors count as not passing, since
    /// nobody could tell the thing is fine). `None` with no checks.
    pub fn score(&self) -> Option<f64> {
        let (mut got, mut all) = (0.0, 0.0);
        for l in Level::ALL {
            let c = self.level(l);
            got += l.weight() * c.passed as f64;
            all += l.weight() * c.total as f64;
        }
        (all > 0.0).then(|| (1000.0 * got / all).round() / 10.0)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Run {
    pub id: i64,
    pub task_id: i64,
    pub task_name: String,
    /// `schedule` or `manual`.
    pub trigger: String,
    pub state: RunState,
    /// Who started a manual run.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub actor: String,
    pub queued_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    pub total: i64,
    pub passed: i64,
    pub failed: i64,
    pub errors: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    pub summary: RunSummary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_run_id: Option<i64>,
    /// Why a run ended early.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Finding {
    pub rule_id: i64,
    pub rule_name: String,
    pub rule_version: i32,
    pub target: String,
    pub level: Level,
    pub status: CheckStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub evidence: String,
    /// What was checked: the probe's target, the query, the command line.
    pub subject: String,
    pub duration_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<Change>,
    pub checked_at: DateTime<Utc>,
}

/// A run with every finding and the rules as they were when it ran.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    pub run: Run,
    pub rules: Vec<RuleVersion>,
    pub findings: Vec<Finding>,
    /// Checks the previous run made that this one did not (`rule on target`): a rule or target
    /// was taken out of the task in between. Empty for interrupted runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gone: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RiskState {
    Open,
    Acknowledged,
    Resolved,
}

impl RiskState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Acknowledged, Self::Resolved]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RiskEvent {
    pub id: i64,
    /// `inspection` or `monitor`.
    pub source: String,
    pub level: Level,
    pub title: String,
    pub detail: String,
    pub state: RiskState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<i64>,
    /// Times seen while open (each failing run, each time the monitor went down).
    pub occurrences: i64,
    pub opened_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// A person, or `system` when the next passing run or the monitor's recovery resolved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Acknowledge or resolve a risk event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskAction {
    /// Required: what was done or why (at most 4000 characters).
    #[schema(min_length = 1, max_length = 4000, pattern = "\\S")]
    pub comment: String,
}

impl RiskAction {
    pub fn validate(&self) -> Result<(), ApiError> {
        if self.comment.trim().is_empty() {
            return Err(ApiError::invalid("comment", "say what was done or why"));
        }
        validate_text(&self.comment, "comment")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_summary_of_a_queued_run_reads_as_zeros() {
        // `inspection_runs.summary` defaults to `{}` until the run ends.
        let s: RunSummary = serde_json::from_str("{}").expect("an empty summary reads");
        assert_eq!(s, RunSummary::default());
    }

    fn task() -> TaskInput {
        serde_json::from_value(serde_json::json!({"name": "daily", "rules": ["a"]})).expect("ok")
    }

    #[test]
    fn task_fields_are_named() {
        task().validate().expect("valid");
        let mut t = task();
        t.rules.push("a".into());
        assert_eq!(
            t.validate().expect_err("dup").field.as_deref(),
            Some("rules[1]")
        );
        let mut t = task();
        t.targets = vec![Target {
            name: "web".into(),
            vars: [("bad name".to_string(), "x".to_string())].into(),
        }];
        assert_eq!(
            t.validate().expect_err("var").field.as_deref(),
            Some("targets[0].vars.bad name")
        );
        let mut t = task();
        t.concurrency = 0;
        assert_eq!(
            t.validate().expect_err("0").field.as_deref(),
            Some("concurrency")
        );
    }

    #[test]
    fn score_weighs_levels() {
        let mut s = RunSummary::default();
        assert_eq!(s.score(), None);
        s.high = LevelCounts {
            total: 1,
            passed: 0,
            failed: 1,
            errors: 0,
        };
        s.low = LevelCounts {
            total: 5,
            passed: 5,
            failed: 0,
            errors: 0,
        };
        assert_eq!(s.score(), Some(50.0));
        assert!(Level::High.at_least(Level::Medium) && !Level::Low.at_least(Level::Medium));
    }
}
