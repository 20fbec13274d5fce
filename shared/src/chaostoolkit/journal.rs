//! The journal `chaos run --journal-path` writes, read and written key for key (the order of
//! the fields is the library's).

use chrono::{DateTime, SubsecRound, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// A run's end state. The console's "deviated" is `completed` with `deviated: true`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JournalStatus {
    Completed,
    Failed,
    Aborted,
    Interrupted,
}

/// An activity's end state; an interrupted activity has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Succeeded,
    Failed,
}

/// An instant as Python's `isoformat()` writes an aware UTC time: microseconds (left out
/// when zero) and `+00:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub DateTime<Utc>);

impl Timestamp {
    pub fn now() -> Self {
        Self::from(Utc::now())
    }
}

impl From<DateTime<Utc>> for Timestamp {
    /// Truncated to microseconds, as Python keeps them.
    fn from(t: DateTime<Utc>) -> Self {
        Self(t.trunc_subsecs(6))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let format = match self.0.nanosecond() / 1000 {
            0 => "%Y-%m-%dT%H:%M:%S+00:00",
            _ => "%Y-%m-%dT%H:%M:%S%.6f+00:00",
        };
        self.0.format(format).to_string().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| Self::from(t.with_timezone(&Utc)))
            .map_err(|e| serde::de::Error::custom(format!("`{text}` is not an ISO 8601 time: {e}")))
    }
}

/// One activity as it ran: the activity as declared (a copy), its output and times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub activity: Value,
    pub output: Value,
    pub start: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<RunStatus>,
    /// The traceback's lines, for a failed activity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<Vec<String>>,
    pub end: Timestamp,
    /// Seconds.
    pub duration: f64,
    /// For the hypothesis' probes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_met: Option<bool>,
}

/// One check of the steady-state hypothesis; `steady_state_met` is `null` while running.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SteadyState {
    pub steady_state_met: Option<bool>,
    pub probes: Vec<Run>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SteadyStates {
    pub before: Option<SteadyState>,
    pub after: Option<SteadyState>,
    #[serde(default)]
    pub during: Vec<SteadyState>,
}

/// A Chaos Toolkit journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    #[serde(rename = "chaoslib-version")]
    pub chaoslib_version: String,
    pub platform: String,
    pub node: String,
    /// The experiment as written (`${name}` not expanded), with `dry` added.
    pub experiment: Value,
    pub start: Timestamp,
    pub status: JournalStatus,
    pub deviated: bool,
    pub steady_states: SteadyStates,
    #[serde(default)]
    pub run: Vec<Run>,
    #[serde(default)]
    pub rollbacks: Vec<Run>,
    pub end: Timestamp,
    /// Seconds.
    pub duration: f64,
}

impl Journal {
    /// Reads a journal as `chaos run` wrote it.
    pub fn parse(text: &str) -> Result<Self, crate::problem::ApiError> {
        crate::extract::parse(text.as_bytes())
    }

    /// The journal as JSON, keys in the library's order.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The exit code `chaos run` ends with for this journal: 1 when the run did not complete
    /// or deviated, else 0.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.status != JournalStatus::Completed || self.deviated)
    }
}
