//! Monitor API types: what clients send to and receive from `/api/v1/monitors`.

use crate::probe::{FailureReason, ProbeSpec};
use crate::problem::ApiError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const MIN_INTERVAL_SECONDS: i64 = 1;
pub const MAX_INTERVAL_SECONDS: i64 = 86_400;

/// A monitor's health as derived from consecutive results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MonitorState {
    /// Created or resumed; not enough results yet.
    Pending,
    Up,
    /// Up, but slower than the monitor's `degraded_threshold_ms`.
    Degraded,
    Down,
    Paused,
}

impl MonitorState {
    pub const ALL: [MonitorState; 5] = [
        Self::Pending,
        Self::Up,
        Self::Degraded,
        Self::Down,
        Self::Paused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Up => "up",
            Self::Degraded => "degraded",
            Self::Down => "down",
            Self::Paused => "paused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// Body of `POST /api/v1/monitors` and `PUT /api/v1/monitors/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorInput {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub probe: ProbeSpec,
    #[serde(default = "default_interval")]
    pub interval_seconds: i64,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Consecutive failures before the monitor goes down.
    #[serde(default = "default_threshold")]
    pub failure_threshold: i32,
    /// Consecutive successes before a down monitor comes up.
    #[serde(default = "default_threshold")]
    pub success_threshold: i32,
    /// A passing check slower than this (ms) makes the monitor `degraded` instead of `up`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded_threshold_ms: Option<i64>,
    /// pageinspect locations to probe from; empty: the default location only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<String>,
    /// A check fails when at least this many of its locations fail (default 1).
    #[serde(default = "default_location_threshold")]
    pub location_failure_threshold: i32,
}

fn default_location_threshold() -> i32 {
    1
}

fn default_interval() -> i64 {
    60
}

fn default_threshold() -> i32 {
    1
}

impl MonitorInput {
    /// Everything serde cannot check, with the field named.
    pub fn validate(&self) -> Result<(), ApiError> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(ApiError::invalid("name", "must be 1 to 200 characters"));
        }
        if self.description.chars().count() > 2000 {
            return Err(ApiError::invalid(
                "description",
                "must be at most 2000 characters",
            ));
        }
        if !(MIN_INTERVAL_SECONDS..=MAX_INTERVAL_SECONDS).contains(&self.interval_seconds) {
            return Err(ApiError::invalid(
                "interval_seconds",
                format!("must be between {MIN_INTERVAL_SECONDS} and {MAX_INTERVAL_SECONDS}"),
            ));
        }
        for (field, v) in [
            ("failure_threshold", self.failure_threshold),
            ("success_threshold", self.success_threshold),
        ] {
            if !(1..=100).contains(&v) {
                return Err(ApiError::invalid(field, "must be between 1 and 100"));
            }
        }
        if self
            .degraded_threshold_ms
            .is_some_and(|ms| !(1..=600_000).contains(&ms))
        {
            return Err(ApiError::invalid(
                "degraded_threshold_ms",
                "must be between 1 and 600000",
            ));
        }
        if self.locations.len() > 16 {
            return Err(ApiError::invalid("locations", "at most 16 locations"));
        }
        for (i, l) in self.locations.iter().enumerate() {
            if !valid_label_key(l) || self.locations[..i].contains(l) {
                return Err(ApiError::invalid(
                    format!("locations[{i}]"),
                    "locations are unique names of a-z, 0-9, '-', '_', '.', '/'",
                ));
            }
        }
        let n = self.locations.len().max(1) as i32;
        if !(1..=n).contains(&self.location_failure_threshold) {
            return Err(ApiError::invalid(
                "location_failure_threshold",
                format!("must be between 1 and the number of locations ({n})"),
            ));
        }
        if self.labels.len() > 32 {
            return Err(ApiError::invalid("labels", "at most 32 labels"));
        }
        for (k, v) in &self.labels {
            if !valid_label_key(k) {
                return Err(ApiError::invalid(
                    format!("labels.{k}"),
                    "keys are 1-63 characters of a-z, 0-9, '-', '_', '.', '/'",
                ));
            }
            if v.chars().count() > 200 {
                return Err(ApiError::invalid(
                    format!("labels.{k}"),
                    "values are at most 200 characters",
                ));
            }
        }
        self.probe.validate("probe.")?;
        Ok(())
    }
}

pub fn valid_label_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 63
        && k.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_./".contains(&b))
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Monitor {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub probe: ProbeSpec,
    pub interval_seconds: i64,
    pub labels: BTreeMap<String, String>,
    pub failure_threshold: i32,
    pub success_threshold: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded_threshold_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<String>,
    pub location_failure_threshold: i32,
    pub state: MonitorState,
    pub paused: bool,
    pub next_run_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_checked_at: Option<DateTime<Utc>>,
    pub state_changed_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One stored probe result of a monitor.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MonitorResult {
    pub id: i64,
    pub monitor_id: i64,
    pub started_at: DateTime<Utc>,
    /// The pageinspect location that ran it.
    pub location: String,
    /// 1 for a first attempt, 2.. for retries of the same run.
    pub attempt: i32,
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<FailureReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// The full probe result as pageinspect returned it (phases, conditions, certificate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    /// `/api/v1/monitors/{id}/results/{result}/screenshot` when a screenshot was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screenshot_url: Option<String>,
}

/// Availability and latency of one window, computed from hourly rollups.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WindowSummary {
    pub window: String,
    pub checks: i64,
    pub successes: i64,
    /// `None` when there were no checks (not the same as 0 %).
    pub availability_percent: Option<f64>,
    pub latency_p50_seconds: Option<f64>,
    pub latency_p95_seconds: Option<f64>,
    pub latency_p99_seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MonitorSummary {
    pub monitor_id: i64,
    pub state: MonitorState,
    pub windows: Vec<WindowSummary>,
}

/// A recorded change of a monitor's state.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StateChange {
    pub monitor_id: i64,
    pub monitor_name: String,
    pub from_state: MonitorState,
    pub to_state: MonitorState,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
