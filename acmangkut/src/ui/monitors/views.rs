//! What the monitor pages render: plain structs filled by the handlers, strings already
//! formatted and translated.

use super::form::MonitorForm;
use crate::ui::charts::{Bar, LatencyChart, Segment};
use crate::ui::i18n::Tr;
use crate::ui::views::{Chrome, Opt};
use askama::Template;
use std::collections::BTreeMap;

pub struct ChangeView {
    pub monitor_id: i64,
    pub monitor_name: String,
    pub from: &'static str,
    pub from_label: &'static str,
    pub to: &'static str,
    pub to_label: &'static str,
    pub at: String,
    pub reason: String,
}

pub struct Card {
    pub state: &'static str,
    pub label: &'static str,
    pub count: i64,
    pub url: String,
}

/// The overview's monitors panel: counts by state, drawn as bars, and the latest changes.
pub struct MonitorsPanel {
    pub total: i64,
    pub cards: Vec<Card>,
    pub bars: Vec<Bar>,
    pub chart_height: f64,
    /// "Up: 3, Down: 1, …" for screen readers and the chart's title.
    pub chart_text: String,
    pub changes: Vec<ChangeView>,
}

pub struct RowView {
    pub id: i64,
    pub name: String,
    pub kind: &'static str,
    pub target: String,
    pub state: &'static str,
    pub state_label: &'static str,
    pub last_check: String,
    pub interval: String,
    /// The newest checks, oldest first, padded on the left with empty beats to a fixed width.
    pub beats: Vec<Beat>,
    /// "Up 28, Degraded 1, Down 1" for screen readers.
    pub beats_text: String,
    /// Availability over the last 24 hours ("–" without checks), and its colour class.
    pub uptime: String,
    pub uptime_class: &'static str,
}

/// One check in the list's bar of recent checks.
pub struct Beat {
    /// `b-up`, `b-degraded`, `b-down`, `b-unknown` (the executor could not say), `b-none`.
    pub class: &'static str,
    /// Time, outcome, latency, failure and location, as a tooltip.
    pub title: String,
}

#[derive(Template)]
#[template(path = "monitors/list.html")]
pub struct List {
    pub c: Chrome,
    pub t: Tr,
    pub rows: Vec<RowView>,
    pub states: Vec<Opt>,
    pub q: String,
    pub label: String,
    pub label_error: bool,
    pub total: i64,
    pub first: i64,
    pub last: i64,
    pub prev_url: Option<String>,
    pub next_url: Option<String>,
}

pub struct MonitorView {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub kind: &'static str,
    pub target: String,
    pub state: &'static str,
    pub state_label: &'static str,
    pub paused: bool,
    pub interval: String,
    /// Kind-specific settings that are set: `(label, value)`.
    pub settings: Vec<(&'static str, String)>,
    pub labels: Vec<(String, String)>,
    pub conditions: Vec<String>,
    /// Browser steps as [`shared::probe::BrowserStep::describe`] puts them (no secret values).
    pub steps: Vec<String>,
    pub last_check: String,
    pub next_run: String,
    pub since: String,
    pub created: String,
}

pub struct WindowView {
    pub window: String,
    pub checks: i64,
    pub availability: String,
    pub class: &'static str,
    pub p50: String,
    pub p95: String,
    pub p99: String,
}

pub struct ResultView {
    pub time: String,
    pub ok: bool,
    pub latency: String,
    pub status: String,
    pub failure: String,
    pub location: String,
    pub attempt: i32,
    /// The screenshot's URL when one was kept.
    pub screenshot: Option<String>,
}

/// One column of the "by location" panel.
pub struct LocationView {
    pub name: String,
    /// The newest result from there, if any.
    pub latest: Option<ResultView>,
    /// Checks (final attempts) among the loaded results, and their availability.
    pub checks: usize,
    pub availability: String,
    pub class: &'static str,
    /// What the page did in the newest result, for browser probes.
    pub browser: Option<BrowserView>,
}

pub struct BrowserView {
    pub title: String,
    pub load_time: String,
    pub network_idle: String,
    pub js_errors: usize,
    pub console_errors: usize,
    pub failed_requests: usize,
    /// The first JS or console error, shortened, as an example.
    pub first_error: String,
    pub steps: Vec<StepView>,
}

pub struct StepView {
    pub step: String,
    pub ok: bool,
    pub duration: String,
    pub error: String,
}

/// The picture of the newest failed check that kept one.
pub struct ScreenshotView {
    pub url: String,
    pub alt: String,
    pub caption: String,
}

pub struct AvailabilityBar {
    pub id: &'static str,
    pub title: &'static str,
    pub segments: Vec<Segment>,
    pub width: f64,
    /// "18 of 24 hours with data; 99.2 % overall" as the text fallback.
    pub text: String,
}

#[derive(Template)]
#[template(path = "monitors/detail.html")]
pub struct Detail {
    pub c: Chrome,
    pub t: Tr,
    pub m: MonitorView,
    pub windows: Vec<WindowView>,
    pub chart: LatencyChart,
    pub unit_ms: &'static str,
    pub bars: Vec<AvailabilityBar>,
    pub results: Vec<ResultView>,
    pub changes: Vec<ChangeView>,
    pub locations: Vec<LocationView>,
    /// How many recent results the location panel looked at.
    pub location_window: usize,
    pub screenshot: Option<ScreenshotView>,
}

#[derive(Template)]
#[template(path = "monitors/confirm_delete.html")]
pub struct ConfirmDelete {
    pub c: Chrome,
    pub t: Tr,
    pub id: i64,
    pub name: String,
}

#[derive(Template)]
#[template(path = "monitors/form.html")]
pub struct FormPage {
    pub c: Chrome,
    pub t: Tr,
    pub f: MonitorForm,
    /// Form field → message (several messages joined).
    pub errors: BTreeMap<String, String>,
    /// Errors about no particular field.
    pub general: Vec<String>,
    pub action: String,
    pub editing: bool,
    pub cancel_url: String,
    pub kinds: Vec<Opt>,
    pub ip_preferences: Vec<Opt>,
    pub locations: Vec<LocationBox>,
}

/// A location checkbox of the form.
pub struct LocationBox {
    pub name: String,
    pub checked: bool,
    /// `false`: the monitor names it but pageinspect has no such location configured.
    pub configured: bool,
}

impl FormPage {
    pub fn has_err(&self, field: &str) -> bool {
        self.errors.contains_key(field)
    }

    pub fn err(&self, field: &str) -> &str {
        self.errors.get(field).map_or("", String::as_str)
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty() || !self.general.is_empty()
    }

    /// The typed value of a text field.
    pub fn value(&self, field: &str) -> &str {
        self.f.text(field).unwrap_or("")
    }
}
