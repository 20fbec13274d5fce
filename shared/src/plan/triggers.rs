//! What starts a plan besides a person: a schedule (practice runs) and risk events of the
//! inspection center (which *propose* an execution that waits for approval).

use crate::inspection::{Level, validate_name};
use crate::problem::ApiError;
use crate::schedule::Schedule;
use serde::{Deserialize, Serialize};

/// Risk-event triggers a plan may declare.
pub const MAX_RISK_TRIGGERS: usize = 32;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Triggers {
    /// Runs the plan with its default parameters at each slot (comment `scheduled`); a slot
    /// that comes while an execution is active is skipped, not queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleTrigger>,
    /// Risk events that propose an execution (waiting for a `plans:approve` holder).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub risk_events: Vec<RiskTrigger>,
}

impl Triggers {
    pub fn is_empty(&self) -> bool {
        self.schedule.is_none() && self.risk_events.is_empty()
    }

    /// Errors name `triggers.…`.
    pub fn validate(&self) -> Result<(), ApiError> {
        if let Some(s) = &self.schedule {
            s.parse()?;
        }
        if self.risk_events.len() > MAX_RISK_TRIGGERS {
            return Err(ApiError::invalid(
                "triggers.risk_events",
                format!("at most {MAX_RISK_TRIGGERS} risk-event triggers"),
            ));
        }
        for (i, r) in self.risk_events.iter().enumerate() {
            let at = format!("triggers.risk_events[{i}]");
            if let Some(rule) = &r.rule {
                validate_name(rule, &format!("{at}.rule"))?;
            }
            if let Some(monitor) = &r.monitor {
                validate_name(monitor, &format!("{at}.monitor"))?;
            }
            if r.rule.is_some() && r.monitor.is_some() {
                return Err(ApiError::invalid(
                    format!("{at}.monitor"),
                    "name a rule or a monitor, not both",
                ));
            }
        }
        Ok(())
    }
}

/// A cron expression (5 fields, or 6 with seconds first) in an IANA time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleTrigger {
    pub cron: String,
    /// Default `UTC`.
    #[serde(default = "utc")]
    pub time_zone: String,
}

fn utc() -> String {
    "UTC".into()
}

impl ScheduleTrigger {
    /// The schedule; errors name `triggers.schedule.cron` or `triggers.schedule.time_zone`.
    pub fn parse(&self) -> Result<Schedule, ApiError> {
        Schedule::parse(&self.cron, &self.time_zone).map_err(|(part, detail)| {
            let field = match part {
                "timezone" => "triggers.schedule.time_zone",
                _ => "triggers.schedule.cron",
            };
            ApiError::invalid(field, detail)
        })
    }
}

/// Which risk events a plan answers: those of an inspection rule (by name) or a monitor (by
/// name), or any event when neither is named; at `min_level` or above.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RiskTrigger {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<String>,
    /// Default `high`.
    #[serde(default = "high")]
    pub min_level: Level,
}

fn high() -> Level {
    Level::High
}

impl RiskTrigger {
    /// Whether an event at `level` of rule `rule` / monitor `monitor` (names) matches.
    pub fn matches(&self, level: Level, rule: Option<&str>, monitor: Option<&str>) -> bool {
        // `High` orders first: an event matches at its trigger's level or a more severe one.
        level <= self.min_level
            && self.rule.as_deref().is_none_or(|r| Some(r) == rule)
            && self.monitor.as_deref().is_none_or(|m| Some(m) == monitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(cron: &str, tz: &str) -> Triggers {
        Triggers {
            schedule: Some(ScheduleTrigger {
                cron: cron.into(),
                time_zone: tz.into(),
            }),
            risk_events: vec![],
        }
    }

    #[test]
    fn a_bad_schedule_names_its_field() {
        let field = |t: Triggers| t.validate().err().and_then(|e| e.field);
        assert_eq!(
            field(schedule("61 * * * *", "UTC")).as_deref(),
            Some("triggers.schedule.cron")
        );
        assert_eq!(
            field(schedule("0 8 * * *", "Mars/Olympus")).as_deref(),
            Some("triggers.schedule.time_zone")
        );
        assert_eq!(field(schedule("*/2 * * * * *", "Asia/Shanghai")), None);
    }

    #[test]
    fn risk_triggers_match_by_name_and_level() {
        let t = RiskTrigger {
            rule: Some("disk".into()),
            monitor: None,
            min_level: Level::Medium,
        };
        assert!(t.matches(Level::High, Some("disk"), None));
        assert!(t.matches(Level::Medium, Some("disk"), None));
        assert!(!t.matches(Level::Low, Some("disk"), None));
        assert!(!t.matches(Level::High, Some("cpu"), None));
        let any: RiskTrigger = serde_json::from_str("{}").expect("defaults");
        assert_eq!(any.min_level, Level::High);
        assert!(any.matches(Level::High, None, Some("web")));
        let both = Triggers {
            schedule: None,
            risk_events: vec![RiskTrigger {
                monitor: Some("web".into()),
                ..t
            }],
        };
        assert_eq!(
            both.validate().err().and_then(|e| e.field).as_deref(),
            Some("triggers.risk_events[0].monitor")
        );
    }
}
