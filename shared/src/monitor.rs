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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonitorInput {
    /// 1-200 characters, not blank.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
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
    #[serde(serialize_with = "rfc3339::serialize")]
    pub next_run_at: DateTime<Utc>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "rfc3339::serialize_option"
    )]
    pub last_checked_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub state_changed_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339::serialize")]
    pub updated_at: DateTime<Utc>,
}

impl Monitor {
    /// Its definition, as `POST /api/v1/monitors` would take it back.
    pub fn input(&self) -> MonitorInput {
        MonitorInput {
            name: self.name.clone(),
            description: self.description.clone(),
            probe: self.probe.clone(),
            interval_seconds: self.interval_seconds,
            labels: self.labels.clone(),
            failure_threshold: self.failure_threshold,
            success_threshold: self.success_threshold,
            degraded_threshold_ms: self.degraded_threshold_ms,
            locations: self.locations.clone(),
            location_failure_threshold: self.location_failure_threshold,
        }
    }
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

/// Timestamps written exactly as chrono's `Serialize` writes them (RFC 3339 in UTC with `Z`,
/// fractional seconds of 0, 3, 6 or 9 digits), but formatted into a stack buffer and handed to
/// the serializer as one string. chrono goes through `fmt` and serde_json's `collect_str`, which
/// escapes each formatted piece separately: the five timestamps of a monitor were over a quarter
/// of the instructions of a page of monitors (docs/performance.md, API).
pub mod rfc3339 {
    use chrono::{DateTime, Datelike, Timelike, Utc};
    use serde::{Serialize, Serializer};

    /// The longest text: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
    pub const MAX_LEN: usize = 30;

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; MAX_LEN];
        match format(t, &mut buf).and_then(|text| std::str::from_utf8(text).ok()) {
            Some(text) => s.serialize_str(text),
            None => t.serialize(s),
        }
    }

    pub fn serialize_option<S: Serializer>(
        t: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        struct Fast<'a>(&'a DateTime<Utc>);
        impl Serialize for Fast<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                serialize(self.0, s)
            }
        }
        match t {
            Some(t) => s.serialize_some(&Fast(t)),
            None => s.serialize_none(),
        }
    }

    /// The text chrono would write, in ASCII digits and `-`, `:`, `.`, `T`, `Z` only (nothing a
    /// JSON string escapes); `None` for years outside 0..=9999, which chrono writes with a sign
    /// (callers fall back to chrono for those).
    pub fn format<'b>(t: &DateTime<Utc>, buf: &'b mut [u8; MAX_LEN]) -> Option<&'b [u8]> {
        let dt = t.naive_utc();
        let year = u32::try_from(dt.year()).ok().filter(|y| *y <= 9999)?;
        let (mut second, mut nano) = (dt.second(), dt.nanosecond());
        if nano >= 1_000_000_000 {
            // A leap second: chrono writes it as second 60.
            second += 1;
            nano -= 1_000_000_000;
        }
        let fields = [
            (year / 100, b'\0'),
            (year % 100, b'-'),
            (dt.month(), b'-'),
            (dt.day(), b'T'),
            (dt.hour(), b':'),
            (dt.minute(), b':'),
            (second, b'\0'),
        ];
        let mut n = 0;
        for (value, separator) in fields {
            buf[n] = b'0' + (value / 10) as u8;
            buf[n + 1] = b'0' + (value % 10) as u8;
            n += 2;
            if separator != b'\0' {
                buf[n] = separator;
                n += 1;
            }
        }
        let digits = match nano {
            0 => 0,
            _ if nano % 1_000_000 == 0 => 3,
            _ if nano % 1_000 == 0 => 6,
            _ => 9,
        };
        if digits > 0 {
            buf[n] = b'.';
            let mut v = nano / 10u32.pow(9 - digits);
            for i in (1..=digits as usize).rev() {
                buf[n + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
            n += 1 + digits as usize;
        }
        buf[n] = b'Z';
        Some(&buf[..=n])
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use chrono::{NaiveDate, NaiveTime};
        use proptest::prelude::*;

        fn fast(t: &DateTime<Utc>) -> String {
            let mut out = Vec::new();
            serialize(t, &mut serde_json::Serializer::new(&mut out)).expect("serialize");
            String::from_utf8(out).expect("utf-8")
        }

        fn chrono_json(t: &DateTime<Utc>) -> String {
            serde_json::to_string(t).expect("serialize")
        }

        #[test]
        fn edges_are_written_as_chrono_writes_them() {
            let at = |y, mo, d, h, mi, s, nano| {
                let time = NaiveTime::from_hms_nano_opt(h, mi, s, nano).expect("valid time");
                let date = NaiveDate::from_ymd_opt(y, mo, d).expect("valid date");
                date.and_time(time).and_utc()
            };
            for t in [
                DateTime::<Utc>::default(),
                at(0, 1, 1, 0, 0, 0, 0),
                at(9999, 12, 31, 23, 59, 59, 999_999_999),
                at(10000, 1, 1, 0, 0, 0, 0),
                at(-1, 12, 31, 23, 59, 59, 0),
                at(2026, 11, 27, 2, 5, 17, 100_000_000),
                at(2026, 11, 27, 2, 5, 17, 1_000),
                at(2026, 11, 27, 2, 5, 17, 1),
                at(2016, 12, 31, 23, 59, 59, 1_000_000_000),
                at(2016, 12, 31, 23, 59, 59, 1_500_000_000),
            ] {
                assert_eq!(fast(&t), chrono_json(&t), "{t:?}");
            }
            let none: Option<DateTime<Utc>> = None;
            let mut out = Vec::new();
            serialize_option(&none, &mut serde_json::Serializer::new(&mut out)).expect("none");
            assert_eq!(out, b"null");
        }

        proptest! {
            #[test]
            fn any_instant_is_written_as_chrono_writes_it(
                secs in -70_000_000_000i64..260_000_000_000i64,
                nano in prop_oneof![Just(0u32), (0u32..1000).prop_map(|m| m * 1_000_000),
                                    (0u32..1_000_000).prop_map(|u| u * 1000), 0u32..1_000_000_000],
            ) {
                let t = DateTime::from_timestamp(secs, nano).expect("in range");
                prop_assert_eq!(fast(&t), chrono_json(&t));
                let mut out = Vec::new();
                serialize_option(&Some(t), &mut serde_json::Serializer::new(&mut out))
                    .expect("some");
                prop_assert_eq!(String::from_utf8(out).expect("utf-8"), chrono_json(&t));
            }
        }
    }
}
