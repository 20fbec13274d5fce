//! Row types: what the tables hold, and their conversion to API types.

use super::schema::{monitor_labels, monitors, probe_results, state_changes};
use super::to_datetime;
use diesel::prelude::*;
use shared::monitor::{Monitor, MonitorResult, MonitorState, StateChange};
use shared::probe::{FailureReason, ProbeSpec};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = monitors)]
pub struct MonitorRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub probe_kind: String,
    pub target: String,
    pub probe_json: String,
    pub interval_seconds: i64,
    pub failure_threshold: i32,
    pub success_threshold: i32,
    pub state: String,
    pub paused: bool,
    pub consecutive_failures: i32,
    pub consecutive_successes: i32,
    pub next_run_at: i64,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<i64>,
    pub last_checked_at: Option<i64>,
    pub state_changed_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub degraded_threshold_ms: Option<i64>,
    pub locations_json: String,
    pub location_failure_threshold: i32,
}

impl MonitorRow {
    pub fn locations(&self) -> Vec<String> {
        serde_json::from_str(&self.locations_json).unwrap_or_default()
    }

    pub fn state(&self) -> MonitorState {
        MonitorState::parse(&self.state).unwrap_or(MonitorState::Pending)
    }

    pub fn probe(&self) -> ProbeSpec {
        serde_json::from_str(&self.probe_json).unwrap_or_else(|e| {
            tracing::error!(monitor.id = self.id, error = %e, "stored probe spec does not parse");
            ProbeSpec::new(shared::probe::ProbeKind::Http, self.target.clone())
        })
    }

    pub fn into_api(self, labels: BTreeMap<String, String>) -> Monitor {
        let locations = self.locations();
        Monitor {
            id: self.id,
            probe: self.probe(),
            state: self.state(),
            name: self.name,
            description: self.description,
            interval_seconds: self.interval_seconds,
            labels,
            failure_threshold: self.failure_threshold,
            success_threshold: self.success_threshold,
            degraded_threshold_ms: self.degraded_threshold_ms,
            locations,
            location_failure_threshold: self.location_failure_threshold,
            paused: self.paused,
            next_run_at: to_datetime(self.next_run_at),
            last_checked_at: self.last_checked_at.map(to_datetime),
            state_changed_at: to_datetime(self.state_changed_at),
            created_at: to_datetime(self.created_at),
            updated_at: to_datetime(self.updated_at),
        }
    }
}

/// A new monitor: its definition plus the state it starts in.
#[derive(Debug, Insertable)]
#[diesel(table_name = monitors)]
pub struct NewMonitor<'a> {
    #[diesel(embed)]
    pub definition: MonitorDefinition<'a>,
    pub state: &'a str,
    pub paused: bool,
    pub next_run_at: i64,
    pub state_changed_at: i64,
    pub created_at: i64,
}

/// What a user defines (create, or replace with PUT): `None` clears the column.
#[derive(Debug, Insertable, AsChangeset)]
#[diesel(table_name = monitors, treat_none_as_null = true)]
pub struct MonitorDefinition<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub probe_kind: &'a str,
    pub target: &'a str,
    pub probe_json: String,
    pub interval_seconds: i64,
    pub failure_threshold: i32,
    pub success_threshold: i32,
    pub updated_at: i64,
    pub degraded_threshold_ms: Option<i64>,
    pub locations_json: String,
    pub location_failure_threshold: i32,
}

impl<'a> MonitorDefinition<'a> {
    pub fn from_input(
        input: &'a shared::monitor::MonitorInput,
        now: i64,
    ) -> diesel::QueryResult<Self> {
        Ok(Self {
            name: input.name.trim(),
            description: &input.description,
            probe_kind: input.probe.kind.as_str(),
            target: input.probe.target.trim(),
            probe_json: to_json(&input.probe)?,
            interval_seconds: input.interval_seconds,
            failure_threshold: input.failure_threshold,
            success_threshold: input.success_threshold,
            updated_at: now,
            degraded_threshold_ms: input.degraded_threshold_ms,
            locations_json: to_json(&input.locations)?,
            location_failure_threshold: input.location_failure_threshold,
        })
    }
}

/// A value for a JSON text column; failing to serialise is a diesel serialisation error.
fn to_json<T: serde::Serialize>(value: &T) -> diesel::QueryResult<String> {
    serde_json::to_string(value).map_err(|e| diesel::result::Error::SerializationError(e.into()))
}

#[derive(Debug, Insertable, Queryable, Selectable)]
#[diesel(table_name = monitor_labels)]
pub struct LabelRow {
    pub monitor_id: i64,
    pub key: String,
    pub value: String,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = probe_results)]
pub struct ResultRow {
    pub id: i64,
    pub monitor_id: i64,
    pub started_at: i64,
    pub success: bool,
    pub failure_reason: Option<String>,
    pub error: Option<String>,
    pub duration_seconds: f64,
    pub status_code: Option<i32>,
    pub detail_json: Option<String>,
    pub location: String,
    pub attempt: i32,
    pub has_screenshot: bool,
}

impl ResultRow {
    pub fn into_api(self) -> MonitorResult {
        MonitorResult {
            id: self.id,
            monitor_id: self.monitor_id,
            started_at: to_datetime(self.started_at),
            location: self.location,
            attempt: self.attempt,
            screenshot_url: self.has_screenshot.then(|| {
                format!(
                    "/api/v1/monitors/{}/results/{}/screenshot",
                    self.monitor_id, self.id
                )
            }),
            success: self.success,
            failure_reason: self
                .failure_reason
                .as_deref()
                .and_then(FailureReason::parse),
            error: self.error,
            duration_seconds: self.duration_seconds,
            status_code: self.status_code.and_then(|s| u16::try_from(s).ok()),
            detail: self.detail_json.and_then(|d| serde_json::from_str(&d).ok()),
        }
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = probe_results)]
pub struct NewResult {
    pub monitor_id: i64,
    pub started_at: i64,
    pub success: bool,
    pub failure_reason: Option<String>,
    pub error: Option<String>,
    pub duration_seconds: f64,
    pub status_code: Option<i32>,
    pub detail_json: Option<String>,
    pub location: String,
    pub attempt: i32,
    pub has_screenshot: bool,
}

#[derive(Debug, Queryable)]
pub struct StateChangeRow {
    pub monitor_id: i64,
    pub monitor_name: String,
    pub from_state: String,
    pub to_state: String,
    pub at: i64,
    pub reason: Option<String>,
}

impl StateChangeRow {
    pub fn into_api(self) -> StateChange {
        let parse = |s: &str| MonitorState::parse(s).unwrap_or(MonitorState::Pending);
        StateChange {
            monitor_id: self.monitor_id,
            monitor_name: self.monitor_name,
            from_state: parse(&self.from_state),
            to_state: parse(&self.to_state),
            at: to_datetime(self.at),
            reason: self.reason,
        }
    }
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = state_changes)]
pub struct NewStateChange {
    pub monitor_id: i64,
    pub from_state: String,
    pub to_state: String,
    pub at: i64,
    pub reason: Option<String>,
}
