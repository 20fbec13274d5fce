//! Row types: what the tables hold, and their conversion to API types.

use crate::store::schema::{monitor_labels, monitors, probe_results, state_changes};
use crate::store::to_datetime;
use diesel::prelude::*;
use shared::monitor::{Monitor, MonitorResult, MonitorState, StateChange, rfc3339};
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
        parse_locations(&self.locations_json)
    }

    pub fn state(&self) -> MonitorState {
        parse_state(&self.state)
    }

    pub fn probe(&self) -> ProbeSpec {
        parse_probe(self.id, &self.probe_json, &self.target)
    }
}

fn parse_locations(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

fn parse_probe(id: i64, json: &str, target: &str) -> ProbeSpec {
    serde_json::from_str(json).unwrap_or_else(|e| {
        tracing::error!(monitor.id = id, error = %e, "stored probe spec does not parse");
        ProbeSpec::new(shared::probe::ProbeKind::Http, target.to_string())
    })
}

fn parse_state(state: &str) -> MonitorState {
    MonitorState::parse(state).unwrap_or(MonitorState::Pending)
}

/// The columns a [`Monitor`] shows: the row without the scheduler's bookkeeping (leases,
/// consecutive counts), for reads through the API.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = monitors)]
pub struct MonitorApiRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// Only for the stand-in probe when the stored spec does not parse.
    pub target: String,
    pub probe_json: String,
    pub interval_seconds: i64,
    pub failure_threshold: i32,
    pub success_threshold: i32,
    pub state: String,
    pub paused: bool,
    pub next_run_at: i64,
    pub last_checked_at: Option<i64>,
    pub state_changed_at: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub degraded_threshold_ms: Option<i64>,
    pub locations_json: String,
    pub location_failure_threshold: i32,
}

impl MonitorApiRow {
    pub fn into_api(self, labels: BTreeMap<String, String>) -> Monitor {
        Monitor {
            id: self.id,
            probe: parse_probe(self.id, &self.probe_json, &self.target),
            state: parse_state(&self.state),
            locations: parse_locations(&self.locations_json),
            name: self.name,
            description: self.description,
            interval_seconds: self.interval_seconds,
            labels,
            failure_threshold: self.failure_threshold,
            success_threshold: self.success_threshold,
            degraded_threshold_ms: self.degraded_threshold_ms,
            location_failure_threshold: self.location_failure_threshold,
            paused: self.paused,
            next_run_at: to_datetime(self.next_run_at),
            last_checked_at: self.last_checked_at.map(to_datetime),
            state_changed_at: to_datetime(self.state_changed_at),
            created_at: to_datetime(self.created_at),
            updated_at: to_datetime(self.updated_at),
        }
    }

    /// Appends the JSON of the [`Monitor`] that [`Self::into_api`] makes of this row, the same
    /// bytes as serde writes it (tests hold the two equal), without building the `Monitor`: a
    /// page of monitors is written straight from its rows. `labels` are this monitor's, ordered
    /// by key as a `BTreeMap` orders them (bytewise).
    pub fn write_json(&self, labels: &[LabelRow], out: &mut Vec<u8>) -> serde_json::Result<()> {
        out.extend_from_slice(b"{\"id\":");
        write_value(out, &self.id)?;
        out.extend_from_slice(b",\"name\":");
        write_value(out, &self.name)?;
        out.extend_from_slice(b",\"description\":");
        write_value(out, &self.description)?;
        out.extend_from_slice(b",\"probe\":");
        // The stored text as it is. `probe_json` is only ever written as the serialisation of
        // a `ProbeSpec` (`MonitorDefinition`), and a stored spec parses and serialises back to
        // the same text (a test holds that), so parsing and re-serialising it would only cost
        // time (a fifth of a page). A change to `ProbeSpec` that changes how stored specs
        // serialise needs a migration that rewrites them (the scheduler parses them too). Text
        // that is not JSON (a row edited by hand) goes through the parse and its stand-in as in
        // `into_api`, so it cannot break the page; JSON that is no `ProbeSpec` is shown as is.
        if serde_json::from_str::<serde::de::IgnoredAny>(&self.probe_json).is_ok() {
            out.extend_from_slice(self.probe_json.as_bytes());
        } else {
            write_value(out, &parse_probe(self.id, &self.probe_json, &self.target))?;
        }
        out.extend_from_slice(b",\"interval_seconds\":");
        write_value(out, &self.interval_seconds)?;
        out.extend_from_slice(b",\"labels\":{");
        for (i, label) in labels.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_value(out, &label.key)?;
            out.push(b':');
            write_value(out, &label.value)?;
        }
        out.extend_from_slice(b"},\"failure_threshold\":");
        write_value(out, &self.failure_threshold)?;
        out.extend_from_slice(b",\"success_threshold\":");
        write_value(out, &self.success_threshold)?;
        if let Some(ms) = self.degraded_threshold_ms {
            out.extend_from_slice(b",\"degraded_threshold_ms\":");
            write_value(out, &ms)?;
        }
        let locations = parse_locations(&self.locations_json);
        if !locations.is_empty() {
            out.extend_from_slice(b",\"locations\":");
            write_value(out, &locations)?;
        }
        out.extend_from_slice(b",\"location_failure_threshold\":");
        write_value(out, &self.location_failure_threshold)?;
        out.extend_from_slice(b",\"state\":\"");
        out.extend_from_slice(parse_state(&self.state).as_str().as_bytes());
        out.extend_from_slice(b"\",\"paused\":");
        out.extend_from_slice(if self.paused { b"true" } else { b"false" });
        out.extend_from_slice(b",\"next_run_at\":");
        write_time(out, self.next_run_at)?;
        if let Some(ms) = self.last_checked_at {
            out.extend_from_slice(b",\"last_checked_at\":");
            write_time(out, ms)?;
        }
        out.extend_from_slice(b",\"state_changed_at\":");
        write_time(out, self.state_changed_at)?;
        out.extend_from_slice(b",\"created_at\":");
        write_time(out, self.created_at)?;
        out.extend_from_slice(b",\"updated_at\":");
        write_time(out, self.updated_at)?;
        out.push(b'}');
        Ok(())
    }
}

fn write_value<T: serde::Serialize + ?Sized>(
    out: &mut Vec<u8>,
    value: &T,
) -> serde_json::Result<()> {
    serde_json::to_writer(out, value)
}

/// A timestamp as `Monitor` serialises it (see [`shared::monitor::rfc3339`]).
fn write_time(out: &mut Vec<u8>, ms: i64) -> serde_json::Result<()> {
    let t = to_datetime(ms);
    let mut buf = [0u8; rfc3339::MAX_LEN];
    match rfc3339::format(&t, &mut buf) {
        Some(text) => {
            // Nothing in it needs escaping.
            out.push(b'"');
            out.extend_from_slice(text);
            out.push(b'"');
            Ok(())
        }
        None => write_value(out, &t),
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
    /// The `ProbeSpec` as `serde_json` writes it; the list shows this text as it is.
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

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use shared::monitor::MonitorInput;

    /// Monitors that use every field of a `Monitor` and of each kind of probe spec, with texts
    /// that need escaping.
    pub(crate) fn varied_inputs() -> Vec<MonitorInput> {
        let odd =
            "quote \" backslash \\ tab \t newline \n bell \u{7} del \u{7f} ünï 巡检 😀 </script>";
        [
            serde_json::json!({
                "name": odd, "description": odd, "interval_seconds": 17,
                "labels": {"team": "web", "env": "prod \"a\"", "a.b/c": "", "Z": odd},
                "failure_threshold": 3, "success_threshold": 2, "degraded_threshold_ms": 250,
                "locations": ["default", "eu-west"], "location_failure_threshold": 2,
                "probe": {"kind": "http", "target": " http://127.0.0.1:9/p?q=1&x=\"y\" ",
                          "timeout_ms": 1234, "method": "POST", "ip_preference": "ipv6",
                          "headers": {"X-B": "b\"c", "Accept": "*/*"}, "body": odd,
                          "conditions": ["[STATUS] == 200", "[BODY].a == \"x\""],
                          "max_redirects": 0, "insecure_skip_verify": true, "retries": 2,
                          "retry_delay_ms": 100}
            }),
            serde_json::json!({"name": "tcp", "locations": ["default"],
                "probe": {"kind": "tcp", "target": "127.0.0.1:9", "body": "PING\r\n",
                          "expect": "PONG", "ip_preference": "ipv4"}}),
            serde_json::json!({"name": "dns", "labels": {"k": "v"},
                "probe": {"kind": "dns", "target": "example.com", "record_type": "MX",
                          "dns_server": "127.0.0.1:53", "expected_answers": ["a.example.com."]}}),
            serde_json::json!({"name": "tls",
                "probe": {"kind": "tls", "target": "example.com:443", "insecure_skip_verify": true,
                          "conditions": ["[CERTIFICATE_EXPIRATION] > 48h"]}}),
            serde_json::json!({"name": "browser", "description": "logs in",
                "probe": {"kind": "browser", "target": "https://shop.example/login",
                          "timeout_ms": 20000, "screenshot_on_failure": false,
                          "console_error_allow": ["*favicon*"],
                          "steps": [{"action": "goto", "url": "/login"},
                                    {"action": "fill", "selector": "#user", "value": odd},
                                    {"action": "fill", "selector": "#pw",
                                     "secret": "shop-password"},
                                    {"action": "click", "selector": "button[type=submit]"},
                                    {"action": "wait_for", "selector": "h1"},
                                    {"action": "wait_for_navigation"}],
                          "conditions": ["[DOM_TEXT].h1 == pat(Welcome*)", "[JS_ERRORS] == 0"]}}),
            serde_json::json!({
                "name": "defaults", "probe": {"kind": "http", "target": "http://x/"}
            }),
        ]
        .into_iter()
        .map(|v| serde_json::from_value(v).expect("a valid monitor input"))
        .collect()
    }

    /// What a stored row can hold besides its definition.
    const STATES: [&str; 6] = ["pending", "up", "degraded", "down", "paused", "not-a-state"];
    const TIMES: [i64; 8] = [
        0,
        -1,
        1_795_746_799_901,
        1_700_000_000_000,
        1_700_000_000_010,
        // Years past 9999 and before 0, which chrono writes with a sign.
        253_402_300_800_000,
        -62_167_219_200_001,
        i64::MAX,
    ];

    fn rows() -> Vec<(MonitorApiRow, Vec<LabelRow>)> {
        let mut out = Vec::new();
        for (i, input) in varied_inputs().iter().enumerate() {
            let d = MonitorDefinition::from_input(input, TIMES[i % TIMES.len()]).expect("row");
            for (j, state) in STATES.iter().enumerate() {
                let at = |k: usize| TIMES[(i + j + k) % TIMES.len()];
                let id = (i * 10 + j) as i64;
                let row = MonitorApiRow {
                    id,
                    name: d.name.to_string(),
                    description: d.description.to_string(),
                    target: d.target.to_string(),
                    probe_json: d.probe_json.clone(),
                    interval_seconds: d.interval_seconds,
                    failure_threshold: d.failure_threshold,
                    success_threshold: d.success_threshold,
                    state: state.to_string(),
                    paused: *state == "paused",
                    next_run_at: at(0),
                    last_checked_at: (j % 2 == 1).then(|| at(1)),
                    state_changed_at: at(2),
                    created_at: at(3),
                    updated_at: d.updated_at,
                    degraded_threshold_ms: d.degraded_threshold_ms,
                    locations_json: d.locations_json.clone(),
                    location_failure_threshold: d.location_failure_threshold,
                };
                let labels = input
                    .labels
                    .iter()
                    .map(|(k, v)| LabelRow {
                        monitor_id: id,
                        key: k.clone(),
                        value: v.clone(),
                    })
                    .collect();
                out.push((row, labels));
            }
        }
        // Stored texts that do not parse (edited by hand): the stand-in probe, no locations.
        let mut broken = out[0].0.clone();
        broken.probe_json = "not json".into();
        broken.locations_json = "{".into();
        out.push((broken, Vec::new()));
        out
    }

    #[test]
    fn write_json_writes_what_serde_writes_of_the_monitor() {
        for (row, labels) in rows() {
            let mut fast = Vec::new();
            row.write_json(&labels, &mut fast).expect("write");
            let map = labels
                .iter()
                .map(|l| (l.key.clone(), l.value.clone()))
                .collect();
            let serde = serde_json::to_vec(&row.clone().into_api(map)).expect("serialize");
            assert_eq!(
                String::from_utf8_lossy(&fast),
                String::from_utf8_lossy(&serde),
                "{row:?}"
            );
        }
    }

    /// `write_json` shows the stored probe text as it is; that is what parsing and
    /// re-serialising it would give only because a stored spec serialises back to itself.
    #[test]
    fn stored_probe_specs_serialise_back_to_the_stored_text() {
        for input in varied_inputs() {
            let stored = MonitorDefinition::from_input(&input, 0)
                .expect("row")
                .probe_json;
            let parsed: ProbeSpec = serde_json::from_str(&stored).expect("parses");
            assert_eq!(serde_json::to_string(&parsed).expect("serialize"), stored);
        }
    }
}
